#!/usr/bin/env bash
# The cluster path on a real SLURM: a one-node cluster with accounting on this machine; through
# `hydra/launcher=slurm`: an impossible request (one line), a sharded sweep and its terminal
# report, a shard cancelled midway and the sweep resumed, Ctrl-C cancelling the jobs.
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
        tail -n 20 "$work"/cluster/log/*.log "$work"/cluster/log/*.out 2>/dev/null >&2 || true
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
# sweep.threads=1 sizes the preset (cpus_per_task=1): both shards fit the 2-CPU node at once.
launcher=(-m hydra/launcher=slurm sweep.threads=1 hydra.launcher.mem_gb=1 hydra.launcher.timeout_min=10)

elapsed() { # elapsed START: seconds since START (a $EPOCHREALTIME), one decimal
    "$python" -c "import sys, time; print(f'{time.time() - float(sys.argv[1]):.1f}')" "$1"
}
expect() { # expect LOG PATTERN WHAT: the launcher's terminal output LOG has a line matching PATTERN
    grep -Eq -- "$2" "$1" || { cat "$1" >&2; fail "$3 (no line matching: $2)"; }
}
sweep() { # sweep LOG OVERRIDES...: run the launcher, its terminal output into LOG
    local log=$1
    shift
    "$fleetsim" "${launcher[@]}" "$@" >"$log" 2>&1
}

# 1. A request no node can satisfy is one line, before anything is submitted.
if sweep "$work/big.log" sweep.threads=64 "hardware=[h100-sxm,h200]" sweep.shards=2 "sweep.shard=range(0,2)"; then
    fail "a 64-CPU request on a 2-CPU node was submitted"
fi
expect "$work/big.log" "^fleetsim: error: hydra.launcher.cpus_per_task=64 is not allowed: at most 2 " \
    "an impossible request is not a one-line error"
[ -z "$(squeue -h)" ] || fail "an impossible request left jobs in the queue"

# 2. A sharded sweep (cold: the parent compiles first), its shards merged; then warm and resume.
small=("hardware=[h100-sxm,h200]" "finance.electricity_usd_per_kwh=\${linspace:0.04,0.20,9}"
    "finance.years=3" "output.float32=false" sweep.shards=2 "sweep.shard=range(0,2)")
t0=$EPOCHREALTIME
sweep "$work/s1.log" "${small[@]}" output.path="$work/s1" || { cat "$work/s1.log" >&2; fail "the first sharded sweep"; }
cold=$(elapsed "$t0")
expect "$work/s1.log" "^fleetsim: compiling the kernel before the jobs start" "no message for the parent's compile"
for i in 0 1; do
    expect "$work/s1.log" "^fleetsim: shard $i of 2: written: $work/s1/part-0000$i-of-00002.nc \(log: .*_log.out\)$" \
        "shard $i's outcome is not on the terminal"
done
expect "$work/s1.log" "^fleetsim: 2 jobs done \(2 written\); merged result: fleetsim.open_dataset\(\"$work/s1/\*.nc\"\)$" \
    "no final line with the merged result"
"$python" "$repo/scripts/ci/slurm_merge_check.py" "$work/s1" "${small[@]:0:4}" \
    || fail "the shards do not merge into the unsharded run"
t0=$EPOCHREALTIME
sweep "$work/s1w.log" "${small[@]}" output.path="$work/s1w" || { cat "$work/s1w.log" >&2; fail "the warm sharded sweep"; }
warm=$(elapsed "$t0")
t0=$EPOCHREALTIME
sweep "$work/s1r.log" "${small[@]}" output.path="$work/s1w" || { cat "$work/s1r.log" >&2; fail "the skip-only re-run"; }
skip=$(elapsed "$t0")
expect "$work/s1r.log" "^fleetsim: 2 jobs done \(2 skipped\)" "the re-run of a complete sweep did not skip both shards"

# 3. Shards one at a time; cancel the second while it writes (scancel), then resume.
big=("hardware=[h100-sxm,h200]" "workload.requests_per_day=\${linspace:1e5,1e8,1000}"
    "finance.electricity_usd_per_kwh=\${linspace:0.04,0.2,1000}" "finance.years=2"
    "output.variables=[tco_usd]" "sweep.chunk_size=20000" sweep.shards=2 "sweep.shard=range(0,2)")
out=$work/s2
part0=$out/part-00000-of-00002.nc
part1=$out/part-00001-of-00002.nc
sweep "$work/s2.log" hydra.launcher.array_parallelism=1 "${big[@]}" output.path="$out" &
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
expect "$work/s2.log" "^fleetsim: shard 1 of 2: failed: CANCELLED.*\(log: .*_log.err\)$" \
    "the cancelled shard is not reported with its log"
expect "$work/s2.log" "^fleetsim: 1 of 2 jobs failed .*Resume with: fleetsim -m hydra/launcher=slurm " \
    "no resume command"
[ ! -f "$part1" ] || fail "the cancelled shard finished anyway (KillWait)"
mtime0=$(stat -c %Y.%i "$part0")
t0=$EPOCHREALTIME
sweep "$work/s3.log" "${big[@]}" output.path="$out" || { cat "$work/s3.log" >&2; fail "the resumed sweep"; }
resume=$(elapsed "$t0")
expect "$work/s3.log" "^fleetsim: shard 0 of 2: skipped: $part0 " "the resume did not skip the finished shard"
expect "$work/s3.log" "^fleetsim: shard 1 of 2: written: $part1 " "the resume did not redo the cancelled shard"
[ "$(stat -c %Y.%i "$part0")" = "$mtime0" ] || fail "the resume rewrote the finished shard"
! compgen -G "$out/*.tmp" >/dev/null || fail "the cancelled shard's temporary file is still there"
"$python" -c "import fleetsim, sys; ds = fleetsim.open_dataset(sys.argv[1]); assert ds.sizes['requests_per_day'] == 1000, ds.sizes" \
    "$out/*.nc" || fail "the resumed sweep does not merge"

# 4. Ctrl-C on the launcher cancels its jobs. (A script's background job ignores SIGINT: give it
# back its default action before fleetsim starts.)
"$python" -c 'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])' \
    "$fleetsim" "${launcher[@]}" "${big[@]}" output.path="$work/s4" >"$work/s4.log" 2>&1 &
sweep_pid=$!
deadline=$((SECONDS + 120))
until squeue -h -t RUNNING | grep -q .; do
    kill -0 "$sweep_pid" 2>/dev/null || { cat "$work/s4.log" >&2; fail "the Ctrl-C sweep ended before its jobs ran"; }
    [ "$SECONDS" -lt "$deadline" ] || fail "the Ctrl-C sweep's jobs did not start within 120 s"
    sleep 0.2
done
kill -INT "$sweep_pid"
status=0
wait "$sweep_pid" || status=$?
[ "$status" = 130 ] || { cat "$work/s4.log" >&2; fail "Ctrl-C: the launcher exited with $status, not 130"; }
expect "$work/s4.log" "^fleetsim: interrupted: cancelled SLURM job [0-9]+ " "Ctrl-C did not say it cancelled the jobs"
deadline=$((SECONDS + 60))
until [ -z "$(squeue -h)" ]; do
    [ "$SECONDS" -lt "$deadline" ] || fail "Ctrl-C left jobs in the queue: $(squeue -h)"
    sleep 0.2
done

echo "slurm_test: cluster up in ${cluster_s}s; 2-shard sweep cold ${cold}s, warm ${warm}s," \
    "skip-only re-run ${skip}s; resume after a cancelled shard ${resume}s; total $((SECONDS - started))s" \
    "(load: $(cut -d' ' -f1-3 /proc/loadavg))"
echo "slurm_test: passed"
