"""NetCDF in and out: encoding, atomic writes, opening one file or many shards."""

from __future__ import annotations

import contextlib
import errno
import glob
import os
from pathlib import Path

import numpy as np
import xarray as xr

from fleetsim.config import MAX_SIGNIFICANT_DIGITS
from fleetsim.errors import ConfigError, InputError


class OutputExistsError(InputError):
    """The output file exists and ``output.overwrite`` is false."""


def encoding(
    ds: xr.Dataset,
    float32: bool = True,
    compression_level: int = 1,
    significant_digits: int | None = None,
) -> dict[str, dict]:
    """Return the netCDF4 encoding of every data variable.

    Parameters
    ----------
    ds : xarray.Dataset
        Dataset to write.
    float32 : bool
        Store floating-point variables as float32 (7 significant digits).
    compression_level : int
        zlib level 0-9 (0 = uncompressed).
    significant_digits : int, optional
        Quantise floats to this many significant digits (netCDF-C ``quantize``) before compression.

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
    result: dict[str, dict] = {}
    for name, variable in ds.data_vars.items():
        enc: dict[str, object] = {}
        if compression_level > 0:
            enc.update(zlib=True, complevel=compression_level, shuffle=True)
        if np.issubdtype(variable.dtype, np.floating):
            enc["dtype"] = "float32" if float32 else "float64"
            enc["_FillValue"] = np.float32(np.nan) if float32 else np.nan
            if significant_digits is not None:
                enc.update(significant_digits=significant_digits, quantize_mode="GranularBitRound")
        result[name] = enc
    return result


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
    # unique per process, so concurrent writers never share a temporary file
    temporary = final.with_name(f"{final.name}.{os.getpid()}.tmp")
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        ds.to_netcdf(temporary, engine="netcdf4", format="NETCDF4", encoding=enc)
        _publish(temporary, final, overwrite)
    except BaseException as error:
        with contextlib.suppress(OSError):  # never let the clean-up hide the real error
            temporary.unlink()
        if isinstance(error, OutputExistsError):
            raise
        if isinstance(error, OSError):
            raise OSError(
                error.errno, f"could not write {final}: {error.strerror or error}"
            ) from error
        if isinstance(error, Exception):  # netCDF-C reports disk and HDF5 errors as RuntimeError
            raise OSError(errno.EIO, f"could not write {final}: {error}") from error
        raise
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


def open_dataset(path_or_glob: str | os.PathLike, chunks: dict | str | None = "auto") -> xr.Dataset:
    """Open one fleetsim NetCDF file, or all shards matching a glob, as one lazy Dataset.

    Shards written by ``sweep.shards``/``sweep.shard`` runs are put back in sweep order (their
    attributes say which shard they are); a glob that misses a shard raises
    :class:`~fleetsim.errors.InputError` instead of silently leaving a hole.

    Parameters
    ----------
    path_or_glob : str or path-like
        A file, or a glob pattern such as ``"out/*.nc"`` (shards combine by coordinates).
    chunks : dict or str, optional
        Dask chunks (default ``"auto"``; ``None`` loads eagerly).

    Returns
    -------
    xarray.Dataset
        Variables keep their ``units``/``long_name``; ``status`` keeps its flag attributes.
    """
    pattern = str(path_or_glob)
    files = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
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
