"""NetCDF in and out: encoding, atomic writes, opening one file or many shards."""

from __future__ import annotations

import glob
import os
from pathlib import Path

import numpy as np
import xarray as xr

from fleetsim.errors import InputError


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
    """Write ``ds`` to NetCDF atomically: to ``<path>.tmp``, then rename.

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
    """
    final = Path(path)
    if final.exists() and not overwrite:
        raise OutputExistsError(
            f"output.path={str(final)!r} exists; set output.overwrite=true to replace it"
        )
    final.parent.mkdir(parents=True, exist_ok=True)
    temporary = final.with_name(final.name + ".tmp")
    try:
        ds.to_netcdf(
            temporary, engine="netcdf4", format="NETCDF4", encoding=encoding(ds, **encoding_options)
        )
        os.replace(temporary, final)
    except BaseException as error:
        temporary.unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise OSError(
                error.errno, f"could not write {final}: {error.strerror or error}"
            ) from error
        raise
    return final


def open_dataset(path_or_glob: str | os.PathLike, chunks: dict | str | None = "auto") -> xr.Dataset:
    """Open one fleetsim NetCDF file, or all shards matching a glob, as one lazy Dataset.

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
    if len(files) == 1:
        return xr.open_dataset(files[0], engine="netcdf4", chunks=chunks)
    return xr.open_mfdataset(
        files, engine="netcdf4", combine="by_coords", chunks=chunks, data_vars="minimal",
        coords="minimal", compat="override", join="outer",
    )  # fmt: skip
