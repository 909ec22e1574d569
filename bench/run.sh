#!/usr/bin/env bash
# bench/run.sh - build the benchmarks in Release and run them.
#
#   bench/run.sh [--runs N] [WORKLOAD...]
#
# Workloads (default: all): skynet pingpong fanin spawn ring pubsub-local, and the I/O
# ones echo-50 echo-1k echo-short idle-50k timers-1m (bench/io.sh: each as
# -w1, -w2 and -epoll-w1, see bench/RESULTS.md "I/O"), and the pub/sub
# ones pubsub-1to1 pubsub-fanout pubsub-1k pubsub-latency pubsub-10k-subs
# (bench/pubsub.sh: acto-broker with one worker, see bench/RESULTS.md
# "Pub/sub"; bench/peers/pubsub.sh runs them on NATS and Redis).  Each runs N
# times (default 5); for every figure the MEDIAN of the runs is printed as
#
#   acto WORKLOAD METRIC VALUE
#
# and nothing else goes to stdout (progress and errors go to stderr).  Exits
# non-zero if a build fails or a program reports a wrong result.
#
# Environment: ACTO_BENCH_BUILD (build directory, default build/bench-release),
# JOBS (parallel build jobs, default 2).
#
# Adding a workload: give it a line in workload_cmds below (one command per
# line; each command prints `WORKLOAD METRIC VALUE` lines) and add its name
# to ALL_WORKLOADS.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${ACTO_BENCH_BUILD:-$repo/build/bench-release}
JOBS=${JOBS:-2}
ALL_WORKLOADS=(skynet pingpong fanin spawn ring pubsub-local echo-50 echo-1k echo-short idle-50k timers-1m
               pubsub-1to1 pubsub-fanout pubsub-1k pubsub-latency pubsub-10k-subs)

# workload_cmds NAME: the commands of a workload, one per line, each run by
# `bash -c` (so environment settings and pipes work) with $B set to the
# directory of the bench executables.
workload_cmds() {
    case "$1" in
        skynet)   echo '$B/bench_skynet 1000000' ;;
        pingpong) echo '$B/bench_pingpong 1 1000000'
                  echo '$B/bench_pingpong 64 50000' ;;
        fanin)    echo '$B/bench_fanin 2 5000000 1024' ;;
        spawn)    echo '$B/bench_spawn 1000000' ;;
        ring)     echo '$B/bench_ring 503 10000000' ;;
        # in-process pub/sub: 1 publisher, 10 subscribers, 16 B payloads
        pubsub-local) echo '$B/bench_pubsub_local 10 1000000' ;;
        # I/O: echo_server (io_uring) on 1 and 2 workers, epoll on 1 worker.
        echo-50|echo-1k|echo-short|idle-50k)
                  echo "$repo/bench/io.sh \$B/.. acto $1 1"
                  echo "$repo/bench/io.sh \$B/.. acto $1 2"
                  echo "$repo/bench/io.sh \$B/.. acto-epoll $1 1" ;;
        timers-1m) echo "$repo/bench/io.sh \$B/.. acto $1 1"
                  echo "$repo/bench/io.sh \$B/.. acto $1 2" ;;
        # pub/sub: acto-broker (one worker, core 0), acto-bench-pubsub (core 1).
        pubsub-1to1|pubsub-fanout|pubsub-1k|pubsub-latency|pubsub-10k-subs)
                  echo "$repo/bench/pubsub.sh \$B/.. acto $1" ;;
        *) return 1 ;;
    esac
}

usage() { sed -n '2,24p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; }

runs=5
workloads=()
while (($#)); do
    case "$1" in
        --runs) runs=${2:-}; shift 2 || { usage; exit 2; } ;;
        --runs=*) runs=${1#--runs=}; shift ;;
        -h|--help) usage; exit 0 ;;
        -*) echo "run.sh: unknown option '$1'" >&2; usage; exit 2 ;;
        *) workloads+=("$1"); shift ;;
    esac
done
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: --runs needs a positive integer" >&2; exit 2; }
((${#workloads[@]})) || workloads=("${ALL_WORKLOADS[@]}")
for w in "${workloads[@]}"; do
    workload_cmds "$w" >/dev/null || { echo "run.sh: unknown workload '$w' (known: ${ALL_WORKLOADS[*]})" >&2; exit 2; }
done

# ---- build (Release, benchmarks only) ---------------------------------------------
"$repo/scripts/deps.sh" >&2
echo "run.sh: building in $build" >&2
cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
      -DACTO_BUILD_BENCH=ON -DACTO_SANITIZE= >&2
cmake --build "$build" -j "$JOBS" >&2
B=$build/bench

# ---- run ----------------------------------------------------------------------------
# median: "WORKLOAD METRIC VALUE" lines in, "WORKLOAD METRIC MEDIAN" out.
median() {
    awk -f "$repo/bench/median.awk"
}

for w in "${workloads[@]}"; do
    results=""
    while IFS= read -r cmd; do
        for ((r = 1; r <= runs; r++)); do
            echo "run.sh: $w run $r/$runs (load $(cut -d' ' -f1 /proc/loadavg)): ${cmd//\$B/$B}" >&2
            if ! out=$(B=$B bash -c "$cmd"); then
                echo "run.sh: $w FAILED: $cmd" >&2
                exit 1
            fi
            echo "$out" | sed 's/^/run.sh:   /' >&2
            results+=$(echo "$out" | awk 'NF == 3')$'\n'   # WORKLOAD METRIC VALUE
        done
    done < <(workload_cmds "$w")
    printf '%s' "$results" | median | sed 's/^/acto /'
done
