#!/usr/bin/env bash
# bench/peers/raw/run.sh - the I/O workloads against the raw echo servers
# (epoll_echo.c, uring_echo.c: single-threaded C, no acto), with the same
# load generator and pinning as bench/run.sh's acto figures (server on core
# 0, generator on core 1; bench/io.sh does the work).
#
#   bench/peers/raw/run.sh [--runs N] [WORKLOAD...]
#
# Workloads (default: all): echo-50 echo-1k echo-short idle-50k.  Prints the
# median of N runs (default 3) per figure as `PEER WORKLOAD METRIC VALUE`,
# PEER = raw-epoll, raw-uring or go, like bench/peers/run.sh; progress on
# stderr.  go is bench/peers/go/echo.go (plain net, a goroutine per
# connection, GOMAXPROCS=1 on the server's one core), built here with the
# Debian golang-go toolchain (installed if missing).
# Environment: ACTO_BENCH_BUILD (default build/bench-release; built here if
# its binaries are missing), PEERS (default "raw-epoll raw-uring go").
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
build=${ACTO_BENCH_BUILD:-$repo/build/bench-release}
runs=3
workloads=()
while (($#)); do
    case "$1" in
        --runs) runs=${2:-}; shift 2 || exit 2 ;;
        -*) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
        *) workloads+=("$1"); shift ;;
    esac
done
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: --runs needs a positive integer" >&2; exit 2; }
((${#workloads[@]})) || workloads=(echo-50 echo-1k echo-short idle-50k)
if [[ ! -x $build/bench/bench_loadgen || ! -x $build/bench/bench_raw_uring_echo ]]; then
    cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
          -DACTO_BUILD_BENCH=ON -DACTO_SANITIZE= >&2
    cmake --build "$build" -j "${JOBS:-2}" --target bench_loadgen bench_raw_epoll_echo \
          bench_raw_uring_echo >&2
fi

peers=${PEERS:-raw-epoll raw-uring go}
if [[ " $peers " == *" go "* ]]; then
    command -v go >/dev/null || apt-get install -y golang-go >&2
    src=$repo/bench/peers/go/echo.go
    if [[ ! -x $build/bench/go-echo || $src -nt $build/bench/go-echo ]]; then
        (cd "$repo/bench/peers/go" && GO111MODULE=off GOFLAGS="" \
            GOCACHE="$build/go-cache" go build -o "$build/bench/go-echo" echo.go) >&2
    fi
fi

for peer in $peers; do
    for w in "${workloads[@]}"; do
        results=
        for ((r = 1; r <= runs; r++)); do
            echo "run.sh: $peer $w run $r/$runs (load $(cut -d' ' -f1 /proc/loadavg))" >&2
            out=$("$repo/bench/io.sh" "$build" "$peer" "$w" 1) || {
                echo "run.sh: $peer $w FAILED" >&2; exit 1; }
            echo "$out" | sed 's/^/run.sh:   /' >&2
            results+=$out$'\n'
        done
        # median per metric (bench/median.awk), as PEER WORKLOAD METRIC VALUE
        printf '%s' "$results" | awk 'NF == 3' | awk -f "$repo/bench/median.awk" |
            sed "s/^/$peer /"
    done
done
