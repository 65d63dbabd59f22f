"""NetCDF output: round trips, atomic writes that never lose or half-write a file, shards that
recombine into the full sweep, and results that reproduce from their own attributes."""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml
from omegaconf import OmegaConf

import fleetsim
from fleetsim import api, io, status
from fleetsim.errors import ConfigError

BASE = ["finance.years=2", "model=test-dense", "hardware=test-gpu"]
SWEEP = [
    "finance.years=2",
    "model=[test-dense,test-mla]",
    "hardware=[test-gpu,test-small]",
    "workload.output_tokens=[128,256]",
    "workload.ttft_slo_s=[0.5,null]",
]


@pytest.fixture
def ds(tiny_catalog_env):
    return fleetsim.run(SWEEP)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --------------------------------------------------------------------------- round trip
def test_round_trip_float64_is_identical(tiny_catalog_env, tmp_path):
    ds = fleetsim.run([*SWEEP, "output.float32=false"])
    path = io.write(ds, tmp_path / "out.nc", float32=False)
    back = fleetsim.open_dataset(path, chunks=None)
    xr.testing.assert_identical(ds, back)
    assert back["status"].attrs["flag_meanings"] == ds["status"].attrs["flag_meanings"]
    np.testing.assert_array_equal(
        back["status"].attrs["flag_values"], np.arange(len(status.MEANINGS))
    )
    assert back["ttft_slo_s"].values[-1] == np.inf
    assert _leftovers(tmp_path) == ["out.nc"]


@pytest.mark.parametrize("significant_digits", [None, 3])
def test_round_trip_float32_within_tolerance(ds, tmp_path, significant_digits):
    path = io.write(ds, tmp_path / "out.nc", float32=True, significant_digits=significant_digits)
    back = fleetsim.open_dataset(path, chunks=None)
    rtol = 2e-7 if significant_digits is None else 10.0 ** (1 - significant_digits)
    for name, variable in ds.data_vars.items():
        attrs = {k: v for k, v in back[name].attrs.items() if not k.startswith("_Quantize")}
        _assert_same_attrs(attrs, variable.attrs)
        if np.issubdtype(variable.dtype, np.floating):
            assert back[name].dtype == np.float32
            np.testing.assert_allclose(back[name].values, variable.values, rtol=rtol, atol=0)
            np.testing.assert_array_equal(np.isnan(back[name].values), np.isnan(variable.values))
        else:
            np.testing.assert_array_equal(back[name].values, variable.values)
    assert back.attrs == ds.attrs


#: what ``Variable.filters()`` of the pinned netCDF4 shows for each ``output.compression``
FILTERS = {
    "blosc_lz4": {"blosc": {"compressor": "blosc_lz4", "shuffle": 1}, "shuffle": False},
    "zstd": {"blosc": {"compressor": "blosc_zstd", "shuffle": 1}, "shuffle": False},
    "zlib": {"zlib": True, "shuffle": True},
    "none": {"zlib": False, "shuffle": False, "blosc": False, "zstd": False},
}

#: a plain reader: xarray.open_dataset with the pinned netCDF4, no fleetsim, no plugin set-up
PLAIN_READER = """
import sys, numpy as np, xarray as xr
with xr.open_dataset(sys.argv[1]) as ds:
    np.savez(sys.argv[2], **{name: ds[name].values for name in ds.data_vars})
"""


@pytest.mark.parametrize("compression", ["blosc_lz4", "zstd", "zlib", "none"])
@pytest.mark.parametrize("streamed", [False, True], ids=["in-memory", "streamed"])
def test_every_compression_round_trips_bit_for_bit(tiny_catalog_env, tmp_path, compression,
                                                   streamed):  # fmt: skip
    import subprocess
    import sys

    import netCDF4

    # 9,600 scenarios: each per-year variable is one 75 KiB chunk (blosc), each per-scenario
    # one is 38 KiB (under io.MIN_BLOSC_CHUNK_BYTES: zlib)
    sweep = [*SWEEP, "workload.requests_per_day=${linspace:1e5,1e8,600}"]
    ds = fleetsim.run(sweep)  # float32, as stored
    path = tmp_path / "out.nc"
    if streamed:
        api.write([*sweep, f"output.compression={compression}", "sweep.chunk_size=100000"], path)
    else:
        io.write(ds, path, compression=compression)
    small = "zlib" if compression in ("blosc_lz4", "zstd") else compression
    with netCDF4.Dataset(path) as handle:
        assert handle["tco_usd"].dtype == np.float32
        for name, expected in (("tco_usd", compression), ("tpot_s", small)):
            filters = handle[name].filters()
            assert handle[name].chunking() != "contiguous" or expected == "none"
            for key, value in FILTERS[expected].items():
                if isinstance(value, dict):
                    assert {k: filters[key][k] for k in value} == value, (name, filters)
                else:
                    assert filters[key] == value, (name, filters)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HDF5_PLUGIN", "FLEETSIM"))}
    subprocess.run([sys.executable, "-c", PLAIN_READER, str(path), str(tmp_path / "back.npz")],
                   check=True, env=env)  # fmt: skip
    back = np.load(tmp_path / "back.npz")
    assert set(back.files) == set(ds.data_vars)
    for name, variable in ds.data_vars.items():
        assert back[name].dtype == variable.dtype, name
        assert back[name].tobytes() == variable.values.tobytes(), name  # NaNs included


def test_unknown_compression_is_an_input_error(tiny_catalog_env):
    with pytest.raises(fleetsim.InputError, match="output.compression='lz4'.*blosc_lz4"):
        fleetsim.run([*SWEEP, "output.compression=lz4"])


def _assert_same_attrs(left: dict, right: dict) -> None:
    assert left.keys() == right.keys()
    for key, value in right.items():
        np.testing.assert_array_equal(left[key], value, err_msg=key)


def test_significant_digits_beyond_float32_is_an_input_error(ds, tmp_path):
    with pytest.raises(ConfigError, match=r"output.significant_digits=8.*\[1, 7\]"):
        io.write(ds, tmp_path / "out.nc", float32=True, significant_digits=8)
    assert _leftovers(tmp_path) == []


# --------------------------------------------------------------------------- atomic writes
def _partial_writer(error: BaseException):
    def to_netcdf(self, path, *args, **kwargs):
        Path(path).write_bytes(b"\x89HDF\r\n\x1a\n half a file")
        raise error

    return to_netcdf


@pytest.mark.parametrize(
    "error",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        PermissionError(errno.EACCES, "Permission denied"),
        RuntimeError("NetCDF: HDF error"),
    ],
    ids=["disk-full", "permission", "netcdf-error"],
)
def test_failed_write_leaves_nothing(ds, tmp_path, monkeypatch, error):
    monkeypatch.setattr(xr.Dataset, "to_netcdf", _partial_writer(error))
    final = tmp_path / "out.nc"
    with pytest.raises(OSError, match=f"could not write {final}") as info:
        io.write(ds, final)
    if isinstance(error, OSError):
        assert info.value.errno == error.errno
        assert error.strerror in str(info.value)
    assert _leftovers(tmp_path) == []


def test_interrupted_write_leaves_nothing(ds, tmp_path, monkeypatch):
    monkeypatch.setattr(xr.Dataset, "to_netcdf", _partial_writer(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        io.write(ds, tmp_path / "out.nc")
    assert _leftovers(tmp_path) == []


def test_failed_overwrite_keeps_the_old_file(ds, tmp_path, monkeypatch):
    final = io.write(ds, tmp_path / "out.nc")
    before = final.read_bytes()
    monkeypatch.setattr(xr.Dataset, "to_netcdf", _partial_writer(OSError(errno.EIO, "I/O error")))
    with pytest.raises(OSError, match="could not write"):
        io.write(ds, final, overwrite=True)
    assert final.read_bytes() == before
    assert _leftovers(tmp_path) == ["out.nc"]


def test_read_only_directory(ds, tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running as root: chmod does not stop writes")
        with pytest.raises(OSError, match=f"could not write {folder / 'out.nc'}"):
            io.write(ds, folder / "out.nc")
        assert _leftovers(folder) == []
    finally:
        folder.chmod(0o755)


def test_unwritable_path_names_the_path(ds, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where a folder should be")
    final = blocker / "sub" / "out.nc"
    with pytest.raises(OSError, match=f"could not write {final}"):
        io.write(ds, final)
    assert _leftovers(tmp_path) == ["not-a-folder"]


def test_existing_output_is_not_overwritten(ds, tmp_path):
    final = tmp_path / "out.nc"
    final.write_bytes(b"precious")
    with pytest.raises(io.OutputExistsError, match="output.overwrite=true") as info:
        io.write(ds, final)
    assert isinstance(info.value, fleetsim.InputError)
    assert final.read_bytes() == b"precious"
    io.write(ds, final, overwrite=True)
    assert fleetsim.open_dataset(final, chunks=None).sizes == ds.sizes
    assert _leftovers(tmp_path) == ["out.nc"]


def test_a_folder_as_output_path_is_refused_without_suggesting_overwrite(tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    for overwrite in (False, True):  # overwrite=true could not replace a folder either
        with pytest.raises(io.OutputExistsError, match="is a folder: name a file in it") as info:
            io.existing_output(folder, "0" * 64, overwrite)
        assert "overwrite" not in str(info.value)
        assert str(folder / "fleetsim.nc") in str(info.value)
    assert folder.is_dir()


def test_output_appearing_during_the_write_is_kept(ds, tmp_path, monkeypatch):
    final = tmp_path / "out.nc"
    real = xr.Dataset.to_netcdf

    def racing(self, path, *args, **kwargs):
        final.write_bytes(b"another job got here first")
        return real(self, path, *args, **kwargs)

    monkeypatch.setattr(xr.Dataset, "to_netcdf", racing)
    with pytest.raises(io.OutputExistsError):
        io.write(ds, final)
    assert final.read_bytes() == b"another job got here first"
    assert _leftovers(tmp_path) == ["out.nc"]


def test_open_dataset_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="no fleetsim output matches"):
        fleetsim.open_dataset(tmp_path / "*.nc")


def test_read_once_keeps_nothing_it_read(tiny_catalog_env, tmp_path):
    import netCDF4

    ds = fleetsim.run([*SWEEP, "output.float32=false"])
    path = io.write(ds, tmp_path / "out.nc", float32=False)
    before = netCDF4.get_chunk_cache()
    with io.read_once(path) as back:
        assert netCDF4.get_chunk_cache()[0] == 1  # no decompressed chunks kept while open
        for name in ds.data_vars:
            np.testing.assert_array_equal(back[name].values, ds[name].values)
            assert not back[name].variable._in_memory, name  # xarray kept no copy
        xr.testing.assert_identical(back.load(), ds)
    assert netCDF4.get_chunk_cache() == before


# --------------------------------------------------------------------------- shards
@pytest.mark.parametrize(
    ("overrides", "shards"),
    [
        (["hardware=[test-gpu,test-small]", "workload.output_tokens=[128,256]"], 2),
        (["deployment.tp=[8,1,2,4]", "workload.output_tokens=[256,128]"], 3),
    ],
    ids=["sorted", "unsorted"],
)
def test_shards_recombine_into_the_full_sweep(tiny_catalog_env, tmp_path, overrides, shards):
    full = fleetsim.run(BASE + overrides)
    for index in range(shards):
        part = fleetsim.run(BASE + overrides + [f"sweep.shards={shards}", f"sweep.shard={index}"])
        assert part.attrs["sweep_shard"] == index
        io.write(part, tmp_path / f"shard-{index}.nc", float32=False)
    merged = fleetsim.open_dataset(tmp_path / "shard-*.nc").load()
    xr.testing.assert_identical(merged.drop_attrs(deep=False), full.drop_attrs(deep=False))
    assert "sweep_shard" not in merged.attrs
    (tmp_path / "shard-1.nc").unlink()
    with pytest.raises(fleetsim.InputError, match="every shard"):
        fleetsim.open_dataset(tmp_path / "shard-*.nc")


# --------------------------------------------------------------------------- reproducibility
def test_runs_are_bit_identical_and_carry_provenance(tiny_catalog_env):
    first, second = fleetsim.run(SWEEP), fleetsim.run(SWEEP)
    for name in first.variables:
        assert first[name].dtype == second[name].dtype
        assert first[name].values.tobytes() == second[name].values.tobytes(), name
    for key in ("config_yaml", "catalog_sha256", "fleetsim_version", "created", "history",
                "Conventions"):  # fmt: skip
        assert first.attrs[key], key
    assert first.attrs["fleetsim_version"] == fleetsim.__version__
    assert first.attrs["catalog_sha256"] == fleetsim.load_catalog().sha256
    assert first.attrs["Conventions"].startswith("CF-")


def _as_overrides(tree: dict, prefix: str = "") -> list[str]:
    """Flatten a config mapping into key=value overrides."""

    def render(value) -> str:
        if value is None:
            return "null"
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, list):
            return "[" + ",".join(render(v) for v in value) + "]"
        return repr(value) if isinstance(value, float) else str(value)

    result = []
    for key, value in tree.items():
        if isinstance(value, dict):
            result += _as_overrides(value, f"{prefix}{key}.")
        else:
            result.append(f"{prefix}{key}={render(value)}")
    return result


def test_config_yaml_reproduces_the_run(ds):
    saved = yaml.safe_load(ds.attrs["config_yaml"])
    again = api.run_config(OmegaConf.create(saved))
    xr.testing.assert_identical(again.drop_attrs(deep=False), ds.drop_attrs(deep=False))
    again = fleetsim.run(_as_overrides(saved))
    xr.testing.assert_identical(again.drop_attrs(deep=False), ds.drop_attrs(deep=False))
    assert again.attrs["config_yaml"] == ds.attrs["config_yaml"]


def test_config_yaml_of_a_written_file_reproduces_it(ds, tmp_path):
    path = io.write(ds, tmp_path / "out.nc", float32=False)
    back = fleetsim.open_dataset(path, chunks=None)
    again = api.run_config(OmegaConf.create(yaml.safe_load(back.attrs["config_yaml"])))
    xr.testing.assert_equal(again, back)


def test_a_full_disk_names_the_path_and_the_cause(tiny_catalog_env, tmp_path, monkeypatch):
    """netCDF-C says only "NetCDF: HDF error" when the disk fills up: the error names the file
    and the full disk, and no partial file is left."""

    class FullVariable:
        def __init__(self, variable):
            self.shape = variable.shape
            self.id = self  # h5py's low-level dataset: the direct chunk writes fail too

        def __setitem__(self, key, value):
            raise RuntimeError("NetCDF: HDF error")

        def write_direct_chunk(self, offset, data):
            raise RuntimeError("NetCDF: HDF error")

    class FullDisk:
        def __init__(self, handle):
            self.handle = handle

        def __getitem__(self, name):
            return FullVariable(self.handle[name])

        def close(self):
            self.handle.close()

    real = io.StreamWriter.__init__

    def on_a_full_disk(self, *args, **kwargs):
        real(self, *args, **kwargs)
        self._handle = FullDisk(self._handle)

    monkeypatch.setattr(io.StreamWriter, "__init__", on_a_full_disk)
    usage = io.shutil.disk_usage(tmp_path)
    monkeypatch.setattr(io.shutil, "disk_usage", lambda path: usage._replace(free=4096))
    out = tmp_path / "full.nc"
    expected = f"could not write {out}: no space left on the device (0 MiB free; NetCDF: HDF error)"
    with pytest.raises(OSError, match=re.escape(expected)):
        api.write(["model=test-dense", "hardware=test-gpu", "finance.years=2"], out)
    assert list(tmp_path.iterdir()) == []


def test_a_sweep_that_would_not_fit_on_the_disk_stops_after_its_first_chunk(
    tiny_catalog_env, tmp_path, monkeypatch
):
    written = []
    real = io.StreamWriter.write

    def counting(self, slices, arrays):
        written.append(slices)
        real(self, slices, arrays)

    monkeypatch.setattr(io.StreamWriter, "write", counting)
    monkeypatch.setattr(io, "free_bytes", lambda path: 10_000)
    out = tmp_path / "big.nc"
    overrides = ["model=test-dense", "hardware=[test-gpu,test-small]", "finance.years=2",
                 "workload.requests_per_day=${linspace:1e5,1e8,50}", "sweep.chunk_size=10"]  # fmt: skip
    with pytest.raises(OSError, match=rf"could not write {re.escape(str(out))}: the sweep needs "
                       r"about \S+ GB \(extrapolated from its first chunk\), its file system has "
                       r"1e-05 GB free"):  # fmt: skip
        api.write(overrides, out)
    assert len(written) == 1
    assert list(tmp_path.iterdir()) == []
    api.write(overrides[:-1], out)  # one chunk: nothing to extrapolate, written as before
