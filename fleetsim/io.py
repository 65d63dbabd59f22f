"""NetCDF in and out: encoding, atomic writes, streamed writes, opening one file or many shards.

:func:`write` writes an in-memory Dataset. :class:`StreamWriter` creates the same file from a
:func:`fleetsim.dataset.template` and fills it chunk by chunk (from one thread: neither netCDF4
nor h5py is thread-safe; the chunks are compressed on threads of their own). Both write to a
temporary name (``<final>.<host>.<pid>.tmp``) and rename, so a file under its final name is
always complete; :func:`existing_output` uses that, plus the ``config_sha256`` attribute, to
decide whether a re-run may skip it.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import shutil
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from fleetsim import duck_arrays
from fleetsim.config import COMPRESSIONS, MAX_SIGNIFICANT_DIGITS
from fleetsim.errors import ConfigError, InputError

if TYPE_CHECKING:
    from fleetsim.chunk_codecs import ChunkCodec

duck_arrays.defer()  # xarray imports dask and pint only once something else does


class OutputExistsError(InputError):
    """The output file exists and ``output.overwrite`` is false."""


#: HDF5 filters of each ``output.compression`` (all built into the pinned netCDF4 wheel, which
#: reads them back without any set-up). blosc's own byte shuffle replaces HDF5's shuffle filter;
#: ``zstd`` is blosc's zstd, because netCDF4's plain zstd filter silently drops ``shuffle``.
_FILTERS: dict[str, dict[str, object]] = {
    "blosc_lz4": {"compression": "blosc_lz4", "blosc_shuffle": 1, "shuffle": False},
    "zstd": {"compression": "blosc_zstd", "blosc_shuffle": 1, "shuffle": False},
    "zlib": {"compression": "zlib", "shuffle": True},
    "none": {"shuffle": False},
}
#: smallest NetCDF chunk [B] given to a blosc filter. netCDF-C's blosc filter is mandatory and
#: fails the write when blosc cannot shrink a chunk (its 16-byte header on a few incompressible
#: values); below this size a variable is written with zlib instead, which costs nothing there.
MIN_BLOSC_CHUNK_BYTES = 64 * 2**10

#: level of each compressor when ``output.compression_level`` is null (measured on fleetsim
#: chunks, see the README's performance section: LZ4 level 5 is 1.1x zlib-1's size at ~9x its
#: speed; zstd and zlib gain little size beyond level 1 for much more time)
DEFAULT_LEVEL = {"blosc_lz4": 5, "zstd": 1, "zlib": 1, "none": 0}


def encoding(
    ds: xr.Dataset,
    float32: bool = True,
    compression: str = "blosc_lz4",
    compression_level: int | None = None,
    significant_digits: int | None = None,
    chunks: dict[str, int] | None = None,
) -> dict[str, dict]:
    """Return the netCDF4 encoding of every data variable.

    Parameters
    ----------
    ds : xarray.Dataset
        Dataset to write.
    float32 : bool
        Store floating-point variables as float32 (7 significant digits).
    compression : str
        ``output.compression``: ``blosc_lz4`` (default: byte shuffle + LZ4 through blosc, fast
        enough to keep the writer off a sweep's critical path), ``zstd`` (blosc's zstd + byte
        shuffle: smaller, slower), ``zlib`` (shuffle + deflate: the most portable, the slowest)
        or ``none``.
    compression_level : int, optional
        Level 0-9 of that compressor (0 = uncompressed); default :data:`DEFAULT_LEVEL`. A
        variable whose chunks are under :data:`MIN_BLOSC_CHUNK_BYTES` gets zlib at its default
        level instead of blosc (``blosc_lz4``, ``zstd``).
    significant_digits : int, optional
        Quantise floats to this many significant digits (netCDF-C ``quantize``) before compression.
    chunks : dict, optional
        Dimension -> NetCDF chunk length (dimensions not named are whole); default: netCDF-C's.

    Returns
    -------
    dict
        Variable name -> encoding dict for :meth:`xarray.Dataset.to_netcdf`.
    """
    limit = MAX_SIGNIFICANT_DIGITS[bool(float32)]
    if significant_digits is not None and not 1 <= significant_digits <= limit:
        raise ConfigError(
            "output.significant_digits",
            significant_digits,
            f"null or a whole number in [1, {limit}] with output.float32={str(float32).lower()}",
        )
    if compression not in _FILTERS:
        raise ConfigError("output.compression", compression, f"one of {', '.join(COMPRESSIONS)}")
    if compression_level == 0:
        compression = "none"
    result: dict[str, dict] = {}
    for name, variable in ds.data_vars.items():
        enc: dict[str, object] = {}
        dtype = variable.dtype
        if np.issubdtype(variable.dtype, np.floating):
            dtype = np.dtype(np.float32 if float32 else np.float64)
            enc["dtype"] = dtype.name
            enc["_FillValue"] = dtype.type(np.nan)
            if significant_digits is not None:
                enc.update(significant_digits=significant_digits, quantize_mode="GranularBitRound")
        shape = tuple(variable.sizes.values())
        if chunks is not None:
            shape = tuple(min(chunks.get(d, n), n) for d, n in variable.sizes.items())
            enc["chunksizes"] = shape
        chosen = compression
        if (
            chosen in ("blosc_lz4", "zstd")
            and np.prod(shape) * dtype.itemsize < MIN_BLOSC_CHUNK_BYTES
        ):
            chosen = "zlib"
        enc.update(_FILTERS[chosen])
        if "compression" in enc:
            enc["complevel"] = (
                DEFAULT_LEVEL[chosen]
                if compression_level is None or chosen != compression
                else compression_level
            )
        result[name] = enc
    return result


def temporary_name(final: Path) -> Path:
    """Return the temporary file a writer of ``final`` uses (unique per host and process)."""
    return final.with_name(f"{final.name}.{socket.gethostname()}.{os.getpid()}.tmp")


def remove_stale_temporaries(final: Path) -> list[Path]:
    """Delete temporary files of ``final`` left by dead processes of this host (a killed run).

    Temporary files of live processes, and of other hosts (whose processes cannot be checked),
    are kept. Returns the files removed.
    """
    host = socket.gethostname()
    removed = []
    for path in final.parent.glob(f"{glob.escape(final.name)}.*.tmp"):
        owner, _, pid = path.name[len(final.name) + 1 : -len(".tmp")].rpartition(".")
        if owner != host or not pid.isdigit() or _alive(int(pid)):
            continue
        with contextlib.suppress(OSError):
            path.unlink()
            removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def existing_output(final: Path, config_sha256: str, overwrite: bool) -> bool:
    """Say whether ``final`` already holds this sweep's complete output.

    Parameters
    ----------
    final : Path
        The output file.
    config_sha256 : str
        :func:`fleetsim.dataset.config_sha256` of the sweep about to be written.
    overwrite : bool
        ``output.overwrite``.

    Returns
    -------
    bool
        True if the file exists (so it is complete: files appear by atomic rename) and was
        written by the same config: the run may skip it. False if there is no file, or there is
        one and ``overwrite`` allows replacing it.

    Raises
    ------
    OutputExistsError
        If a file exists with another config (or is not a fleetsim output) and ``overwrite`` is
        false, or ``final`` is a folder (``overwrite`` cannot replace one).
    """
    if final.is_dir():
        raise OutputExistsError(
            f"output.path={str(final)!r} is a folder: name a file in it "
            f"(output.path={str(final / 'fleetsim.nc')!r})"
        )
    if not final.exists():
        return False
    written = _config_sha256_of(final)
    if written == config_sha256:
        return True
    if overwrite:
        return False
    what = (
        "was written by a different config (config_sha256 differs)"
        if written
        else "is not a fleetsim output of a known config"
    )
    raise OutputExistsError(
        f"output.path={str(final)!r} exists and {what}; set output.overwrite=true to replace it"
    )


def _config_sha256_of(path: Path) -> str | None:
    import netCDF4

    try:
        with netCDF4.Dataset(path) as handle:
            value = (
                handle.getncattr("config_sha256") if "config_sha256" in handle.ncattrs() else None
            )
    except (OSError, RuntimeError):  # not a NetCDF file (or unreadable)
        return None
    return str(value) if value is not None else None


def write(
    ds: xr.Dataset, path: str | os.PathLike, overwrite: bool = False, **encoding_options
) -> Path:
    """Write ``ds`` to NetCDF atomically: to ``<path>.<pid>.tmp``, then rename.

    A reader never sees a half-written file under the final name; if writing fails (disk full,
    permission denied, interrupted) the temporary file is removed and the error names the path.

    Parameters
    ----------
    ds : xarray.Dataset
        Dataset to write.
    path : path-like
        Final file name.
    overwrite : bool
        Replace an existing file; otherwise an existing file raises :class:`OutputExistsError`.
    **encoding_options
        Passed to :func:`encoding`.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    OutputExistsError
        If ``path`` exists (or appears while writing) and ``overwrite`` is false.
    OSError
        If writing fails; the message names ``path``; no file is left under either name.
    """
    final = Path(path)
    if final.exists() and not overwrite:
        raise OutputExistsError(
            f"output.path={str(final)!r} exists; set output.overwrite=true to replace it"
        )
    enc = encoding(ds, **encoding_options)
    # unique per host and process, so concurrent writers never share a temporary file
    temporary = temporary_name(final)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        ds.to_netcdf(temporary, engine="netcdf4", format="NETCDF4", encoding=enc)
        _publish(temporary, final, overwrite)
    except BaseException as error:
        with contextlib.suppress(OSError):  # never let the clean-up hide the real error
            temporary.unlink()
        _reraise(error, final)
    return final


def _publish(temporary: Path, final: Path, overwrite: bool) -> None:
    """Move the finished ``temporary`` to ``final``; never replace ``final`` unless asked."""
    if overwrite:
        os.replace(temporary, final)
        return
    try:
        os.link(temporary, final)  # atomic, and fails if final appeared meanwhile
    except FileExistsError:
        raise OutputExistsError(
            f"output.path={str(final)!r} exists; set output.overwrite=true to replace it"
        ) from None
    except OSError:  # file system without hard links: check, then rename
        if final.exists():
            raise OutputExistsError(
                f"output.path={str(final)!r} exists; set output.overwrite=true to replace it"
            ) from None
        os.replace(temporary, final)
    else:
        temporary.unlink()


class StreamWriter:
    """Write a sweep's NetCDF file chunk by chunk: create from a template, fill, rename.

    The file is created under :func:`temporary_name` with exactly the structure
    ``write(template)`` would give (coordinates and global attributes written by xarray itself;
    data variables with the registry attributes and :func:`encoding`'s settings, NetCDF chunks
    aligned to the sweep's chunks so every write covers whole chunks and is compressed once).
    :meth:`write` fills one hyperslab of every variable; :meth:`commit` closes the file and
    renames it to its final name; :meth:`abort` removes it. Use from one thread at a time.

    netCDF-C creates the file, then h5py fills it: each compressed variable's chunk (blosc or
    zlib) is compressed on one of ``threads`` threads (:mod:`fleetsim.chunk_codecs`) and stored
    with HDF5's direct chunk write, the same bytes netCDF-C would have stored; uncompressed
    variables are plain writes. With ``significant_digits`` netCDF-C writes everything as before
    (its quantisation runs in netCDF-C, before the filters).

    Parameters
    ----------
    template : xarray.Dataset
        :func:`fleetsim.dataset.template` of the sweep (data are placeholders).
    path : path-like
        Final file name.
    chunks : dict
        Scenario dimension -> chunk length (the sweep's hyperslab shape).
    overwrite : bool
        Replace an existing file at :meth:`commit` (else :class:`OutputExistsError`).
    threads : int
        Threads compressing a hyperslab's chunks at once (the sweep passes its kernel
        threads: they run at a lower priority, so the writer takes the cores it needs).
    **encoding_options
        ``float32``, ``compression``, ``compression_level``, ``significant_digits`` (see
        :func:`encoding`).
    """

    def __init__(
        self,
        template: xr.Dataset,
        path: str | os.PathLike,
        chunks: dict[str, int],
        overwrite: bool = False,
        threads: int = 1,
        **encoding_options,
    ) -> None:
        import netCDF4

        self.final = Path(path)
        self.overwrite = overwrite
        self.temporary = temporary_name(self.final)
        self.names = list(template.data_vars)
        self._handle = None
        self._codecs: dict[str, ChunkCodec] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._blosc_threads: int | None = None
        enc = encoding(template, chunks=chunks, **encoding_options)
        try:
            self.final.parent.mkdir(parents=True, exist_ok=True)
            shell = xr.Dataset(coords=template.coords, attrs=template.attrs)
            shell.to_netcdf(self.temporary, engine="netcdf4", format="NETCDF4")
            self._handle = netCDF4.Dataset(self.temporary, "a")
            coordinates = self._handle.__dict__.get("coordinates")
            if coordinates is not None:  # xarray puts them on the data variables when it has any
                self._handle.delncattr("coordinates")
            for name in self.names:
                self._create(template[name], enc[name], coordinates)
            if encoding_options.get("significant_digits") is None:
                self._reopen_with_h5py(max(1, threads))
        except BaseException as error:
            self.abort()
            _reraise(error, self.final)

    def _reopen_with_h5py(self, threads: int) -> None:
        import h5py

        from fleetsim import chunk_codecs

        self._handle.close()
        self._handle = None
        # the temporary file is this process's alone: no HDF5 file lock (NFS and Lustre refuse it)
        self._handle = h5py.File(self.temporary, "r+", locking=False)
        for name in self.names:
            codec = chunk_codecs.ChunkCodec.of(self._handle[name])
            if codec is not None:
                self._codecs[name] = codec
        if self._codecs:
            self._blosc_threads = chunk_codecs.configure()
            self._pool = ThreadPoolExecutor(threads, thread_name_prefix="fleetsim-compress")

    def _create(self, variable: xr.DataArray, enc: dict, coordinates: str | None) -> None:
        dtype = np.dtype(enc.get("dtype", variable.dtype))
        keys = ("compression", "complevel", "shuffle", "blosc_shuffle", "chunksizes")
        options = {k: enc[k] for k in keys if k in enc}
        if "significant_digits" in enc:
            options.update(
                significant_digits=enc["significant_digits"], quantize_mode=enc["quantize_mode"]
            )
        handle = self._handle.createVariable(
            variable.name, dtype, variable.dims, fill_value=enc.get("_FillValue"), **options
        )
        attrs = dict(variable.attrs)
        if coordinates is not None:
            own = [
                c
                for c in coordinates.split()
                if set(self._handle[c].dimensions) <= set(variable.dims)
            ]
            if own:
                attrs["coordinates"] = " ".join(own)
        handle.setncatts(attrs)
        handle.set_auto_maskandscale(False)  # values go in as they are (NaN is the fill value)
        # no chunk cache: each whole chunk is compressed and written when it arrives (size=0
        # would keep netCDF-C's 64 MiB cache per variable, i.e. the whole file until close)
        handle.set_var_chunk_cache(size=1, nelems=1, preemption=1.0)

    def write(self, slices: tuple[slice, ...], arrays: dict[str, np.ndarray]) -> None:
        """Write one hyperslab: ``arrays[name]`` goes to ``variable[slices]`` (plus all years).

        Parameters
        ----------
        slices : tuple of slice
            The block of the scenario dimensions: one NetCDF chunk of every variable.
        arrays : dict
            Variable name -> C-contiguous values of the block (any shape with the right size);
            read until this returns.
        """
        counts = tuple(s.stop - s.start for s in slices)
        try:
            compressing = []
            for name, values in arrays.items():  # compression first, on the pool
                if (codec := self._codecs.get(name)) is not None:
                    block = values.reshape(*counts, *codec.shape[len(counts) :])
                    offset = codec.chunk_offset(slices)
                    compressing.append((name, offset, self._pool.submit(codec.compress, block)))
            for name, values in arrays.items():
                if name not in self._codecs:
                    variable = self._handle[name]
                    extra = variable.shape[len(counts) :]
                    index = (*slices, *(slice(None),) * len(extra))
                    variable[index] = values.reshape(*counts, *extra)
            for name, offset, future in compressing:
                self._handle[name].id.write_direct_chunk(offset, future.result())
        except Exception as error:  # netCDF-C reports a full disk as "NetCDF: HDF error"
            _reraise(error, self.final)

    def bytes_written(self) -> int:
        """Flush what was written so far and return the temporary file's size in bytes."""
        try:
            (getattr(self._handle, "sync", None) or self._handle.flush)()  # netCDF4 or h5py
        except Exception as error:
            _reraise(error, self.final)
        return self.temporary.stat().st_size

    def commit(self) -> Path:
        """Close the file and rename it to its final name; return the final name."""
        try:
            self._close()
            _publish(self.temporary, self.final, self.overwrite)
        except BaseException as error:
            self.abort()
            _reraise(error, self.final)
        return self.final

    def abort(self) -> None:
        """Close and delete the temporary file (nothing is left under either name)."""
        with contextlib.suppress(Exception):
            self._close()
        with contextlib.suppress(OSError):
            self.temporary.unlink()

    def _close(self) -> None:
        """Close the file (once), stop the compression threads, restore python-blosc."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._blosc_threads is not None:
            import blosc

            blosc.set_nthreads(self._blosc_threads)
            self._blosc_threads = None
        if self._handle is not None:
            handle, self._handle = self._handle, None
            handle.close()


#: free bytes below which a failed write is reported as a full disk
FULL_DISK_BYTES = 64 * 2**20


def free_bytes(path: Path) -> int | None:
    """Return the free bytes of the file system holding ``path`` (or its nearest parent)."""
    for folder in (path, *path.parents):
        with contextlib.suppress(OSError):
            if folder.exists():
                return shutil.disk_usage(folder).free
    return None


def check_free_space(writer: StreamWriter, scale: float) -> None:
    """Refuse to go on when the finished file would not fit on its disk.

    Called after the first chunk of a streamed sweep: the file's size so far (compressed, plus
    its metadata), times ``scale`` (all scenarios over the first chunk's), estimates the final
    size, which must fit in the free space of the temporary file's file system.

    Raises
    ------
    OSError
        ``ENOSPC``, naming the file, the estimate and the free space.
    """
    need = writer.bytes_written() * scale
    free = free_bytes(writer.temporary)
    if free is not None and need > free:
        raise OSError(
            errno.ENOSPC,
            f"could not write {writer.final}: the sweep needs about {need / 1e9:.3g} GB "
            f"(extrapolated from its first chunk), its file system has {free / 1e9:.3g} GB free; "
            "free space, write elsewhere (output.path) or store fewer output.variables",
        )


def _reraise(error: BaseException, final: Path) -> None:
    """Raise the error for a failed write of ``final``: an OSError naming the path and cause."""
    if isinstance(error, OutputExistsError) or not isinstance(error, Exception):
        raise error
    free = free_bytes(final)
    if isinstance(error, OSError) and error.errno is not None:
        cause, code = error.strerror or str(error), error.errno
    else:  # netCDF-C's RuntimeError ("NetCDF: HDF error") does not say why
        cause, code = str(error), errno.EIO
    if free is not None and free < FULL_DISK_BYTES:
        cause, code = (
            f"no space left on the device ({free / 2**20:.0f} MiB free; {cause})",
            errno.ENOSPC,
        )
    elif free is not None:
        cause = f"{cause} ({free / 1e9:.3g} GB free on its file system)"
    raise OSError(code, f"could not write {final}: {cause}") from error


@contextlib.contextmanager
def read_once(path: str | os.PathLike) -> Iterator[xr.Dataset]:
    """Open one NetCDF file for a single pass over its variables, keeping nothing read.

    :func:`open_dataset` with ``chunks=None`` keeps every variable it has read in memory
    (xarray's cache) and netCDF-C keeps up to 64 MiB of decompressed chunks per variable read;
    for a 10 M-scenario sweep the CLI's summary held 1.8 GiB that way. Here xarray caches
    nothing and netCDF-C's chunk cache is off while the file is open (a single pass reads each
    chunk once; the previous setting comes back on exit), so memory is what the caller keeps.

    Parameters
    ----------
    path : path-like
        A fleetsim output file.

    Yields
    ------
    xarray.Dataset
        The file's variables, loaded from disk on each access.
    """
    import netCDF4

    previous = netCDF4.get_chunk_cache()
    netCDF4.set_chunk_cache(1, 1, 1.0)
    try:
        with xr.open_dataset(path, engine="netcdf4", chunks=None, cache=False) as ds:
            yield ds
    finally:
        netCDF4.set_chunk_cache(*previous)


def open_dataset(path_or_glob: str | os.PathLike, chunks: dict | str | None = "auto") -> xr.Dataset:
    """Open one fleetsim NetCDF file, or all shards matching a glob, as one lazy Dataset.

    Shards written by ``sweep.shards``/``sweep.shard`` runs are put back in sweep order (their
    attributes say which shard they are); a glob that misses a shard raises
    :class:`~fleetsim.errors.InputError` instead of silently leaving a hole.

    Parameters
    ----------
    path_or_glob : str or path-like
        A file, or a glob pattern such as ``"out/*.nc"`` or ``"outputs/**/fleetsim.nc"``
        (``**`` matches any folders, e.g. Hydra's ``<date>/<time>``).
    chunks : dict or str, optional
        Dask chunks (default ``"auto"``; ``None`` loads eagerly).

    Returns
    -------
    xarray.Dataset
        Variables keep their ``units``/``long_name``; ``status`` keeps its flag attributes.
    """
    pattern = str(path_or_glob)
    files = sorted(glob.glob(pattern, recursive=True)) if glob.has_magic(pattern) else [pattern]
    files = [f for f in files if not f.endswith(".tmp")]
    if not files or not all(Path(f).is_file() for f in files):
        raise FileNotFoundError(f"no fleetsim output matches {pattern!r}")
    # a glob must match every shard of a sharded sweep; a file named on its own is just opened
    dimension = _shard_order(files, pattern) if glob.has_magic(pattern) else None
    if len(files) == 1:
        return xr.open_dataset(files[0], engine="netcdf4", chunks=chunks)
    if dimension is None:
        return xr.open_mfdataset(
            files, engine="netcdf4", combine="by_coords", chunks=chunks, data_vars="minimal",
            coords="minimal", compat="override", join="outer",
        )  # fmt: skip
    ds = xr.open_mfdataset(
        files, engine="netcdf4", combine="nested", concat_dim=dimension, chunks=chunks,
        data_vars="minimal", coords="minimal", compat="override", join="outer",
    )  # fmt: skip
    ds.attrs.pop("sweep_shard", None)
    return ds


def _shard_order(files: list[str], pattern: str) -> str | None:
    """Sort shard files of one sweep by shard index (in place); return the sharded dimension.

    Returns ``None`` if the files are not shards of one sweep (no shard attributes), in which
    case they are combined by their coordinate values.

    Raises
    ------
    InputError
        If the files are shards of one sweep but some are missing or repeated.
    """
    import netCDF4

    keys = ("sweep_shard", "sweep_shards", "sweep_shard_dimension")
    shard_of: dict[str, tuple] = {}
    for name in files:
        with netCDF4.Dataset(name) as handle:
            attrs = {k: handle.getncattr(k) for k in keys if k in handle.ncattrs()}
        if len(attrs) != len(keys):
            return None
        shard_of[name] = (int(attrs["sweep_shard"]), int(attrs["sweep_shards"]),
                          str(attrs["sweep_shard_dimension"]))  # fmt: skip
    shards = {v[1] for v in shard_of.values()}
    dimensions = {v[2] for v in shard_of.values()}
    indices = sorted(v[0] for v in shard_of.values())
    if len(shards) != 1 or len(dimensions) != 1 or indices != list(range(next(iter(shards)))):
        raise InputError(
            f"{pattern!r} matches shards {indices} of a sweep with sweep.shards={sorted(shards)}; "
            "every shard 0..shards-1 is needed exactly once (is one missing or from another run?)"
        )
    files.sort(key=lambda f: shard_of[f][0])
    return dimensions.pop()
