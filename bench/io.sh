#!/usr/bin/env bash
# bench/io.sh - run one I/O workload once against one echo server.
#
#   bench/io.sh BIN_DIR SERVER WORKLOAD WORKERS
#
# BIN_DIR: a build directory (with bench/ and examples/ in it).
# SERVER: acto (examples/echo_server, io_uring backend), acto-epoll (the
#   same, epoll backend), raw-epoll, raw-uring (bench/peers/raw, one thread),
#   go (bench/peers/go/echo.go built as BIN_DIR/bench/go-echo, GOMAXPROCS=1).
# WORKLOAD: echo-50 | echo-1k | echo-short | idle-50k | timers-1m
#   (timers-1m runs bench_timers; SERVER must be acto).
# WORKERS: 1 = server pinned to core 0, load generator to core 1;
#   2 = the server has both cores (2 workers) and the generator is pinned
#   to core 1, so the two share that core.  Raw servers have one thread.
#
# Prints `NAME METRIC VALUE` lines, NAME = WORKLOAD-wWORKERS for acto,
# WORKLOAD-epoll-wWORKERS for acto-epoll, WORKLOAD for the raw servers.
# Figures: see bench/loadgen.c and bench/timers.c; idle-50k holds as many
# connections as RLIMIT_NOFILE's hard limit allows (up to 50,000) and says
# how many (`conns`).  Exits non-zero if anything failed.
# Environment: IO_DURATION, seconds measured per echo run (default 10,
# after 1 s of warm-up).
set -euo pipefail
(($# == 4)) || { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
bin=$1 server=$2 workload=$3 workers=$4
DURATION=${IO_DURATION:-10}
lg=$bin/bench/bench_loadgen
case $workers in
    1) srv_cpus=0 ;;
    2) srv_cpus=0,1 ;;
    *) echo "io.sh: WORKERS must be 1 or 2" >&2; exit 2 ;;
esac
case $server in
    acto)       name=$workload-w$workers
                cmd=("$bin/examples/echo_server" --port 0 --workers "$workers" --backend uring) ;;
    acto-epoll) name=$workload-epoll-w$workers
                cmd=("$bin/examples/echo_server" --port 0 --workers "$workers" --backend epoll) ;;
    raw-epoll)  name=$workload; cmd=("$bin/bench/bench_raw_epoll_echo" --port 0) ;;
    raw-uring)  name=$workload; cmd=("$bin/bench/bench_raw_uring_echo" --port 0) ;;
    go)         name=$workload; cmd=(env GOMAXPROCS=1 "$bin/bench/go-echo" --port 0) ;;
    *) echo "io.sh: unknown server '$server'" >&2; exit 2 ;;
esac

if [[ $workload == timers-1m ]]; then
    [[ $server == acto* ]] || { echo "io.sh: timers-1m is acto only" >&2; exit 2; }
    exec taskset -c "$srv_cpus" "$bin/bench/bench_timers" 1000000 "$workers" "$name"
fi

# Servers and generator may hold many sockets: soft RLIMIT_NOFILE = hard.
ulimit -n "$(ulimit -Hn)"
out=$(mktemp)
spid=
cleanup() {
    local rc=$?
    if [[ -n $spid ]]; then
        kill "$spid" 2>/dev/null || true
        wait "$spid" 2>/dev/null || true
    fi
    rm -f "$out"
    exit "$rc"
}
trap cleanup EXIT
taskset -c "$srv_cpus" "${cmd[@]}" >"$out" &
spid=$!
addr=
for _ in $(seq 100); do
    addr=$(sed -n 's/^listening on //p' "$out")
    [[ -n $addr ]] && break
    kill -0 "$spid" 2>/dev/null || break
    sleep 0.1
done
[[ -n $addr ]] || { echo "io.sh: $server printed no address" >&2; exit 1; }

gen=(taskset -c 1 "$lg" --addr "$addr" --name "$name" --server-pid "$spid"
     --duration "$DURATION")
case $workload in
    echo-50)    "${gen[@]}" --conns 50 --size 64 ;;
    echo-1k)    "${gen[@]}" --conns 1000 --size 64 ;;
    echo-short) "${gen[@]}" --short --conns 50 --size 1024 --srcs 8 ;;
    idle-50k)
        hard=$(ulimit -Hn)
        [[ $hard == unlimited ]] && hard=60000
        idle=$((hard - 200 < 50000 ? hard - 200 : 50000))
        "${gen[@]}" --idle "$idle" --conns $((idle / 100)) --size 64 --srcs 4 ;;
    *) echo "io.sh: unknown workload '$workload'" >&2; exit 2 ;;
esac
kill -0 "$spid" 2>/dev/null || { echo "io.sh: $server died" >&2; exit 1; }
