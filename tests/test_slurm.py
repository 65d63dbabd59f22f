"""The cluster path's pieces that need no cluster: SIGTERM stops a shard cleanly. (The real
one-node SLURM run is scripts/ci/slurm_test.sh, called by .ci/run.)"""

from __future__ import annotations

import os
import signal
import threading

import pytest

from fleetsim import api, cli

SWEEP = ["model=[test-dense,test-moe]", "hardware=[test-gpu,test-small]", "finance.years=2"]


def test_a_set_stop_event_deletes_the_temporary_file(tiny_catalog_env, tmp_path):
    final = tmp_path / "out.nc"
    stop = threading.Event()
    stop.set()
    with pytest.raises(api.Stopped, match="stopped before .*out.nc was complete"):
        api.write_config(api.compose([*SWEEP, f"output.path={final}"]), stop=stop)
    assert list(tmp_path.iterdir()) == []
    assert not api.write_config(api.compose([*SWEEP, f"output.path={final}"])).skipped


def test_sigterm_sets_the_event_where_submitit_ignores_it():
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)  # as submitit's job does
    try:
        with cli._terminable() as stop:
            assert not stop.is_set()
            os.kill(os.getpid(), signal.SIGTERM)
            assert stop.wait(5)
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN  # restored
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_sigterm_keeps_its_default_action_elsewhere():
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    with cli._terminable() as stop:
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        assert not stop.is_set()
