"""Cluster sweeps end to end: shards launched by Hydra multirun (joblib) write deterministic part
files that merge into the unsharded run; re-runs skip complete parts and redo missing ones; a
killed run resumes to exactly the data of an uninterrupted one; configs never mix silently."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numba
import pytest
import xarray as xr
from omegaconf import OmegaConf

import fleetsim
from fleetsim import api, cli, io
from fleetsim.errors import ConfigError

TINY = Path(__file__).parent / "data" / "catalog"
SWEEP = [
    "model=[test-dense,test-moe,test-mla]",
    "hardware=[test-gpu,test-small]",
    "deployment.tp=[1,2,4,8]",
    "workload.output_tokens=[64,128,256,512]",
    "finance.years=2",
    "output.float32=false",
]
PARTS = [f"part-0000{i}-of-00004.nc" for i in range(4)]


def _env() -> dict:
    env = dict(os.environ, FLEETSIM_DATA_DIR=str(TINY))
    env.pop("HYDRA_FULL_ERROR", None)
    return env


def fleetsim_cli(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fleetsim", *args],
        cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def _sharded(out: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    return fleetsim_cli(
        "-m", "hydra/launcher=parallel", *SWEEP, "sweep.shards=4", "sweep.shard=range(0,4)",
        f"output.path={out}", f"hydra.sweep.dir={tmp_path}/hydra", cwd=tmp_path,
    )  # fmt: skip


def test_sharded_multirun_merges_and_resumes(tiny_catalog_env, tmp_path):
    out = tmp_path / "sweep"
    first = _sharded(out, tmp_path)
    assert first.returncode == 0, first.stderr
    assert sorted(p.name for p in out.iterdir()) == PARTS
    assert first.stdout.count("written: ") == 4
    full = fleetsim.run(SWEEP).drop_attrs(deep=False)
    with fleetsim.open_dataset(out / "*.nc") as merged:
        assert merged.attrs["sweep_shard_dimension"] == "tp"
        xr.testing.assert_identical(merged.load().drop_attrs(deep=False), full)
    # a recursive glob finds the parts under any folders (Hydra's are two deep)
    with fleetsim.open_dataset(tmp_path / "**" / "part-*.nc") as deep:
        xr.testing.assert_identical(deep.load().drop_attrs(deep=False), full)
    # plain xarray: nested along sweep_shard_dimension works for any split (the README's
    # recipe); by coordinates too when the split dimension is in order, as tp=[1,2,4,8] is
    files = sorted(out.glob("part-*.nc"))
    with xr.open_mfdataset(files, combine="nested", concat_dim="tp") as nested:
        xr.testing.assert_allclose(nested.load().drop_attrs(deep=False), full)
    with xr.open_mfdataset(str(out / "*.nc")) as plain:
        xr.testing.assert_allclose(plain.load().drop_attrs(deep=False), full)

    mtimes = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    (out / PARTS[2]).unlink()
    second = _sharded(out, tmp_path)
    assert second.returncode == 0, second.stderr
    assert second.stdout.count("skipped: ") == 3
    assert second.stdout.count("written: ") == 1
    assert f"written: {out / PARTS[2]}" in second.stdout
    assert sorted(p.name for p in out.iterdir()) == PARTS
    for name in (PARTS[0], PARTS[1], PARTS[3]):
        assert (out / name).stat().st_mtime_ns == mtimes[name], name  # not recomputed
    with fleetsim.open_dataset(out / "*.nc") as again:
        xr.testing.assert_identical(again.load().drop_attrs(deep=False), full)


KILL_SWEEP = [
    "model=[test-dense,test-moe,test-mla]",
    "hardware=[test-gpu,test-small]",
    "deployment.tp=[1,2,4,8]",
    "workload.requests_per_day=${linspace:1e5,1e8,60}",
    "finance.electricity_usd_per_kwh=${linspace:0.04,0.2,60}",
    "finance.years=5",
    "sweep.chunk_size=2000",
]


def test_killed_run_resumes_to_the_uninterrupted_data(tiny_catalog_env, tmp_path):
    final = tmp_path / "out" / "fleetsim.nc"
    command = [sys.executable, "-m", "fleetsim", *KILL_SWEEP, f"output.path={final}",
               f"hydra.run.dir={tmp_path}/run"]  # fmt: skip
    process = subprocess.Popen(command, cwd=tmp_path, env=_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 60
    try:
        while process.poll() is None and time.monotonic() < deadline:
            partial = list(final.parent.glob("*.tmp")) if final.parent.exists() else []
            if partial and partial[0].stat().st_size > 200_000:  # some chunks are in
                process.send_signal(signal.SIGKILL)
                break
            time.sleep(0.002)
    finally:
        process.wait(timeout=30)
    if final.exists():  # pragma: no cover - the machine was faster than the poll
        pytest.skip("the run finished before it could be killed")
    leftovers = list(final.parent.glob("*.tmp"))
    assert leftovers, "the killed run should leave its temporary file"
    with pytest.raises(FileNotFoundError):
        fleetsim.open_dataset(final)

    resumed = fleetsim_cli(*KILL_SWEEP, f"output.path={final}", f"hydra.run.dir={tmp_path}/r2",
                           cwd=tmp_path)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert sorted(p.name for p in final.parent.iterdir()) == ["fleetsim.nc"]  # stale .tmp gone
    reference = tmp_path / "reference.nc"
    api.write_config(api.compose([*KILL_SWEEP, f"output.path={reference}"]))
    a, b = xr.open_dataset(final), xr.open_dataset(reference)
    xr.testing.assert_identical(a.drop_attrs(deep=False), b.drop_attrs(deep=False))
    for name in a.data_vars:  # deterministic: bit for bit
        assert a[name].values.tobytes() == b[name].values.tobytes(), name


def test_a_part_written_by_another_config_is_kept_unless_overwrite(tiny_catalog_env, tmp_path):
    shard = ["sweep.shards=2", "sweep.shard=0", f"output.path={tmp_path}"]
    api.write_config(api.compose([*SWEEP, *shard]))
    part = tmp_path / "part-00000-of-00002.nc"
    before = part.read_bytes()
    other = [*SWEEP, *shard, "finance.years=3"]
    with pytest.raises(io.OutputExistsError, match="different config.*output.overwrite=true"):
        api.write_config(api.compose(other))
    assert part.read_bytes() == before
    assert api.write_config(api.compose([*SWEEP, *shard])).skipped
    result = api.write_config(api.compose([*other, "output.overwrite=true"]))
    assert not result.skipped
    assert fleetsim.open_dataset(part, chunks=None).sizes["year"] == 3


def test_part_names_and_directories(tiny_catalog_env, tmp_path):
    run = {"output.path": None, "sweep.shards": 16, "sweep.shard": 3}
    assert api.output_file(run, tmp_path) == tmp_path / "part-00003-of-00016.nc"
    run["output.path"] = str(tmp_path / "s")
    assert api.output_file(run, "elsewhere") == tmp_path / "s" / "part-00003-of-00016.nc"
    assert api.output_file({**run, "sweep.shards": 1}, "x") == tmp_path / "s"
    assert api.output_file({**run, "sweep.shards": 1, "output.path": None}, "x") == Path(
        "x/fleetsim.nc"
    )
    with pytest.raises(ConfigError, match="output.path=.*a directory when sweep.shards > 1"):
        api.output_file({**run, "output.path": "out.nc"}, ".")


@pytest.mark.parametrize(
    ("launcher", "expected"),
    [
        ({"cpus_per_task": 4}, 4),
        ({"cpus_per_task": None, "n_jobs": 2}, max(1, api.available_cpus() // 2)),
        ({"n_jobs": -1}, 1),
        ({}, 0),
        (None, 0),
    ],
)
def test_launcher_threads(launcher, expected):
    cfg = None if launcher is None else OmegaConf.create(launcher)
    assert cli.launcher_threads(cfg) == expected


def test_sweep_threads_sets_the_kernel_threads(tiny_catalog_env):
    before = numba.get_num_threads()
    try:
        fleetsim.run([*SWEEP, "sweep.threads=1"])
        assert numba.get_num_threads() == 1
        assert api.set_threads(0) == min(api.available_cpus(), numba.config.NUMBA_NUM_THREADS)
    finally:
        numba.set_num_threads(before)


def test_warm_compiles_every_signature(tiny_catalog_env):
    api.warm()  # the CLI calls this before a multirun launches its jobs
