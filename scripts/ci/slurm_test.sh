#!/usr/bin/env bash
# The cluster path on a real SLURM: a one-node cluster with accounting on this machine, a sharded
# sweep through `hydra/launcher=slurm`, then a shard cancelled midway and the sweep resumed.
#
#   bash scripts/ci/slurm_test.sh            # from the repository, after the README's install
#
# Outside CI, a machine where the packages cannot be installed skips the test (exit 0, with a
# message); with CI=true that is a failure. Every daemon started is stopped on exit, and all
# state (cluster, sweeps, Numba cache) lives in one temporary folder, removed at the end
# (kept when SLURM_CI_KEEP=1). Prints the cold, warm and resume timings it measured.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
source scripts/ci/slurm_cluster.sh
fleetsim=$repo/.venv/bin/fleetsim
python=$repo/.venv/bin/python

if ! slurm_install; then
    if [ "${CI:-}" = true ]; then
        echo "slurm_test: FAILED: SLURM could not be installed (required in CI)" >&2
        exit 1
    fi
    echo "slurm_test: skipped: SLURM is not installed and cannot be installed here"
    exit 0
fi

work=$(mktemp -d /tmp/fleetsim-slurm.XXXXXX)
chmod 755 "$work" # munge and mysql reach their folders inside
cleanup() {
    local status=$?
    if [ -n "${SLURM_CONF:-}" ]; then
        scancel --quiet --user=root 2>/dev/null || true
    fi
    slurm_stop
    if [ "$status" != 0 ]; then
        echo "slurm_test: FAILED (status $status); daemon logs:" >&2
        tail -n 20 "$work"/log/*.log "$work"/log/*.out 2>/dev/null >&2 || true
    fi
    [ "${SLURM_CI_KEEP:-0}" = 1 ] && echo "slurm_test: kept $work" || rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
    echo "slurm_test: FAILED: $*" >&2
    exit 1
}

started=$SECONDS
slurm_start "$work/cluster"
cluster_s=$((SECONDS - started))

# Jobs run in the submission folder (multirun/ and the outputs are there, as on a shared
# filesystem) and load the kernel from the Numba cache the parent fills before submitting.
mkdir -p "$work/run"
cd "$work/run"
export NUMBA_CACHE_DIR=$work/numba
launcher=(-m hydra/launcher=slurm hydra.launcher.cpus_per_task=1 hydra.launcher.mem_gb=1
    hydra.launcher.timeout_min=10)

elapsed() { # elapsed START: seconds since START (a $EPOCHREALTIME), one decimal
    "$python" -c "import sys, time; print(f'{time.time() - float(sys.argv[1]):.1f}')" "$1"
}

# 1. A sharded sweep (cold: the parent compiles first), its shards merged; then warm and resume.
small=("hardware=[h100-sxm,h200]" "finance.electricity_usd_per_kwh=\${linspace:0.04,0.20,9}"
    "finance.years=3" "output.float32=false" sweep.shards=2 "sweep.shard=range(0,2)")
t0=$EPOCHREALTIME
"$fleetsim" "${launcher[@]}" "${small[@]}" output.path="$work/s1" >"$work/s1.log" 2>&1 \
    || { cat "$work/s1.log" >&2; fail "the first sharded sweep"; }
cold=$(elapsed "$t0")
"$python" - "$work/s1" "${small[@]:0:4}" <<'EOF' || fail "the shards do not merge into the unsharded run"
import sys

import xarray as xr

import fleetsim

folder, overrides = sys.argv[1], sys.argv[2:]
merged = fleetsim.open_dataset(f"{folder}/*.nc").load()
full = fleetsim.run(overrides)
xr.testing.assert_identical(merged.drop_attrs(deep=False), full.drop_attrs(deep=False))
print(f"slurm_test: 2 shards merge into the unsharded run ({merged.sizes.get('hardware')} hardware)")
EOF
t0=$EPOCHREALTIME
"$fleetsim" "${launcher[@]}" "${small[@]}" output.path="$work/s1w" >"$work/s1w.log" 2>&1 \
    || { cat "$work/s1w.log" >&2; fail "the warm sharded sweep"; }
warm=$(elapsed "$t0")
t0=$EPOCHREALTIME
"$fleetsim" "${launcher[@]}" "${small[@]}" output.path="$work/s1w" >"$work/s1r.log" 2>&1 \
    || { cat "$work/s1r.log" >&2; fail "the skip-only re-run"; }
skip=$(elapsed "$t0")
[ "$(grep -rh '^skipped: ' multirun/*/*/.submitit/*/*.out 2>/dev/null | wc -l)" -ge 2 ] \
    || fail "the re-run of a complete sweep did not skip both shards"

# 2. Shards one at a time; cancel the second while it writes, then resume.
big=("hardware=[h100-sxm,h200]" "workload.requests_per_day=\${linspace:1e5,1e8,1000}"
    "finance.electricity_usd_per_kwh=\${linspace:0.04,0.2,1000}" "finance.years=2"
    "output.variables=[tco_usd]" "sweep.chunk_size=20000" sweep.shards=2 "sweep.shard=range(0,2)")
out=$work/s2
part0=$out/part-00000-of-00002.nc
part1=$out/part-00001-of-00002.nc
"$fleetsim" "${launcher[@]}" hydra.launcher.array_parallelism=1 "${big[@]}" output.path="$out" \
    >"$work/s2.log" 2>&1 &
sweep_pid=$!
deadline=$((SECONDS + 120))
until compgen -G "$part1.*.tmp" >/dev/null; do
    kill -0 "$sweep_pid" 2>/dev/null || { cat "$work/s2.log" >&2; fail "the second sweep ended before shard 1 started writing"; }
    [ "$SECONDS" -lt "$deadline" ] || fail "shard 1 did not start writing within 120 s"
    sleep 0.1
done
[ -f "$part0" ] || fail "shard 1 started before shard 0 finished (array_parallelism=1)"
job=$(squeue -h -t RUNNING -o %i | grep '_1$') || fail "no running array task _1 in squeue"
scancel "$job"
echo "slurm_test: cancelled $job while it wrote $(basename "$part1")"
if wait "$sweep_pid"; then
    cat "$work/s2.log" >&2
    fail "the launcher succeeded although a shard was cancelled"
fi
grep -q CANCELLED "$work/s2.log" || { cat "$work/s2.log" >&2; fail "the launcher did not report the cancelled shard"; }
[ ! -f "$part1" ] || fail "the cancelled shard finished anyway (KillWait)"
mtime0=$(stat -c %Y.%i "$part0")
t0=$EPOCHREALTIME
"$fleetsim" "${launcher[@]}" "${big[@]}" output.path="$out" >"$work/s3.log" 2>&1 \
    || { cat "$work/s3.log" >&2; fail "the resumed sweep"; }
resume=$(elapsed "$t0")
[ "$(stat -c %Y.%i "$part0")" = "$mtime0" ] || fail "the resume rewrote the finished shard"
[ -f "$part1" ] || fail "the resume did not write the cancelled shard"
! compgen -G "$out/*.tmp" >/dev/null || fail "the cancelled shard's temporary file is still there"
"$python" -c "import fleetsim, sys; ds = fleetsim.open_dataset(sys.argv[1]); assert ds.sizes['requests_per_day'] == 1000, ds.sizes" \
    "$out/*.nc" || fail "the resumed sweep does not merge"

echo "slurm_test: cluster up in ${cluster_s}s; 2-shard sweep cold ${cold}s, warm ${warm}s," \
    "skip-only re-run ${skip}s; resume after a cancelled shard ${resume}s; total $((SECONDS - started))s" \
    "(load: $(cut -d' ' -f1-3 /proc/loadavg))"
echo "slurm_test: passed"
