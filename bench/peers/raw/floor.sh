#!/usr/bin/env bash
# bench/peers/raw/floor.sh - the kernel's floor for pubsub-10k-subs
# (fanout_floor.c): 10,000 loopback connections, 200,000 messages of 32 B
# round-robin, sender pinned to core 0 and receiver to core 1, like the
# broker and acto-bench-pubsub.
#
#   bench/peers/raw/floor.sh [--runs N] [BATCH]
#
# BATCH: sends per io_uring_enter (default 64).  Prints the median of N runs
# (default 3) as `raw-floor pubsub-10k-subs METRIC VALUE` lines; each run's
# figures on stderr.  Environment: ACTO_BENCH_BUILD (default
# build/bench-release; bench_raw_fanout_floor is built there if missing).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
build=${ACTO_BENCH_BUILD:-$repo/build/bench-release}
runs=3
batch=64
while (($#)); do
    case "$1" in
        --runs) runs=${2:-}; shift 2 || exit 2 ;;
        -*) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
        *) batch=$1; shift ;;
    esac
done
[[ "$runs" =~ ^[1-9][0-9]*$ && "$batch" =~ ^[1-9][0-9]*$ ]] || { echo "floor.sh: bad --runs or BATCH" >&2; exit 2; }
bin=$build/bench/bench_raw_fanout_floor
if [[ ! -x $bin ]]; then
    cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
          -DACTO_BUILD_BENCH=ON -DACTO_SANITIZE= >&2
    cmake --build "$build" -j "${JOBS:-2}" --target bench_raw_fanout_floor >&2
fi
ulimit -n "$(ulimit -Hn)"
port=7491
results=
for ((r = 1; r <= runs; r++)); do
    out=$(mktemp)
    taskset -c 0 "$bin" send "$port" 10000 200000 "$batch" >"$out" &
    spid=$!
    sleep 0.3
    taskset -c 1 "$bin" recv "$port" 10000 200000 >/dev/null || { kill "$spid"; exit 1; }
    wait "$spid"
    read -r _ _ rate _ cpu <"$out"
    rm -f "$out"
    echo "floor.sh: run $r (load $(cut -d' ' -f1 /proc/loadavg)): $rate msgs/s, $cpu ns/msg" >&2
    results+="deliveries_per_s $rate"$'\n'"cpu_ns_per_msg $cpu"$'\n'
done
printf '%s' "$results" | awk -f "$repo/bench/median.awk" | sed 's/^/raw-floor pubsub-10k-subs /'
