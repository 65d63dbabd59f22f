"""fleetsim.chunk_codecs: a chunk compressed off netCDF-C's thread is the chunk netCDF-C stores."""

from __future__ import annotations

import h5py
import netCDF4
import numpy as np
import pytest
import xarray as xr

from fleetsim import chunk_codecs

OPTIONS = {
    "blosc_lz4": {"compression": "blosc_lz4", "complevel": 5, "blosc_shuffle": 1, "shuffle": False},
    "blosc_zstd": {
        "compression": "blosc_zstd",
        "complevel": 1,
        "blosc_shuffle": 1,
        "shuffle": False,
    },
    "zlib": {"compression": "zlib", "complevel": 1, "shuffle": True},
    "zlib, no shuffle": {"compression": "zlib", "complevel": 3, "shuffle": False},
    "none": {},
    "fletcher32": {"compression": "zlib", "complevel": 1, "fletcher32": True},
}


def _file(path, options, dtype=np.float32):
    handle = netCDF4.Dataset(path, "w")
    handle.createDimension("s", 1000)
    handle.createDimension("year", 10)
    fill = dtype(np.nan) if np.dtype(dtype).kind == "f" else None
    variable = handle.createVariable("x", dtype, ("s", "year"), fill_value=fill,
                                     chunksizes=(300, 10), **options)  # fmt: skip
    variable.set_auto_maskandscale(False)
    return handle, variable


def _values(dtype):
    rng = np.random.default_rng(1)
    values = np.cumsum(rng.normal(size=(1000, 10)), axis=1)
    if np.dtype(dtype).kind == "f":
        values[::9] = np.nan
        return values.astype(dtype)
    return (values > 0).astype(dtype) + 2


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int8])
@pytest.mark.parametrize("name", ["blosc_lz4", "blosc_zstd", "zlib", "zlib, no shuffle"])
def test_a_chunk_compressed_here_is_the_chunk_netcdf_c_stores(tmp_path, name, dtype):
    """Same bytes as netCDF-C's own filters, edge chunk (padded with the fill value) included;
    a file filled with direct chunk writes reads back exactly through plain xarray."""
    values = _values(dtype)
    handle, variable = _file(tmp_path / "c.nc", OPTIONS[name], dtype)
    variable[...] = values
    handle.close()
    _file(tmp_path / "direct.nc", OPTIONS[name], dtype)[0].close()
    with h5py.File(tmp_path / "c.nc") as theirs, h5py.File(tmp_path / "direct.nc", "r+") as ours:
        codec = chunk_codecs.ChunkCodec.of(theirs["x"])
        assert codec is not None
        level = OPTIONS[name]["complevel"]
        expected = name.removeprefix("blosc_") if "blosc" in name else "deflate"
        assert (codec.compressor, codec.level, codec.typesize, codec.shape) == (
            expected,
            level,
            np.dtype(dtype).itemsize,
            (300, 10),
        )
        for start in range(0, 1000, 300):  # the last chunk is 100 rows of 300
            block = values[start : start + 300]
            assert theirs["x"].id.read_direct_chunk((start, 0)) == (0, codec.compress(block))
            ours["x"].id.write_direct_chunk((start, 0), codec.compress(block))
    with xr.open_dataset(tmp_path / "direct.nc", mask_and_scale=False) as back:
        assert back["x"].values.tobytes() == values.tobytes()


@pytest.mark.parametrize("name", ["none", "fletcher32"])
def test_other_pipelines_are_left_to_hdf5(tmp_path, name):
    _file(tmp_path / "x.nc", OPTIONS[name])[0].close()
    with h5py.File(tmp_path / "x.nc") as f:
        assert chunk_codecs.ChunkCodec.of(f["x"]) is None


def test_a_block_that_is_not_one_chunk_is_refused(tmp_path):
    _file(tmp_path / "x.nc", OPTIONS["blosc_lz4"])[0].close()
    with h5py.File(tmp_path / "x.nc") as f:
        codec = chunk_codecs.ChunkCodec.of(f["x"])
    assert codec.chunk_offset((slice(600, 900),)) == (600, 0)
    assert codec.chunk_offset((slice(900, 1000),)) == (900, 0)  # the edge chunk
    for misfit in (slice(100, 400), slice(0, 301)):
        with pytest.raises(ValueError, match="is not one chunk of shape"):
            codec.chunk_offset((misfit,))
