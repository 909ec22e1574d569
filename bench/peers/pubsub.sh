#!/usr/bin/env bash
# bench/peers/pubsub.sh - the pub/sub workloads against NATS and Redis.
#
#   bench/peers/pubsub.sh [--runs N] [WORKLOAD...]
#
# Workloads (default: all): pubsub-1to1 pubsub-fanout pubsub-1k
# pubsub-latency pubsub-10k-subs.  The brokers are Debian 12's packages
# (nats-server 2.9.10, redis-server 7.0.15; installed with apt-get if
# missing), each started here on a free port with its default
# configuration (Redis: persistence off), pinned to core 0; the load
# generator is acto-bench-pubsub, the same program with the same options
# as acto's figures in bench/run.sh, pinned to core 1 (bench/pubsub.sh
# does one run; it says which settings differ from the defaults and why).  Prints the median of N runs (default 3)
# per figure as `PEER WORKLOAD METRIC VALUE`, PEER = nats or redis, like
# bench/peers/run.sh; progress on stderr.
# Environment: ACTO_BENCH_BUILD (default build/bench-release; the generator
# is built there if missing), PEERS (default "nats redis").
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${ACTO_BENCH_BUILD:-$repo/build/bench-release}
all=(pubsub-1to1 pubsub-fanout pubsub-1k pubsub-latency pubsub-10k-subs)
usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
runs=3
workloads=()
while (($#)); do
    case "$1" in
        --runs) runs=${2:-}; shift 2 || usage ;;
        -h|--help) usage ;;
        -*) usage ;;
        *) [[ " ${all[*]} " == *" $1 "* ]] || { echo "pubsub.sh: unknown workload '$1'" >&2; usage; }
           workloads+=("$1"); shift ;;
    esac
done
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "pubsub.sh: --runs needs a positive integer" >&2; exit 2; }
((${#workloads[@]})) || workloads=("${all[@]}")
read -ra peers <<<"${PEERS:-nats redis}"

pkgs=()
for p in "${peers[@]}"; do
    case $p in
        nats) command -v nats-server >/dev/null || pkgs+=(nats-server) ;;
        redis) command -v redis-server >/dev/null || pkgs+=(redis-server) ;;
        *) echo "pubsub.sh: unknown peer '$p' in PEERS" >&2; exit 2 ;;
    esac
done
if ((${#pkgs[@]})); then
    sudo=()
    ((EUID == 0)) || sudo=(sudo)
    echo "pubsub.sh: installing ${pkgs[*]}" >&2
    "${sudo[@]}" apt-get update -qq >&2
    # A host with systemd may also start the packaged service on its usual
    # port; the runs below start their own servers on free ports.
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${pkgs[@]}" >&2
fi
if [[ ! -x $build/tools/acto-bench-pubsub ]]; then
    cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
          -DACTO_BUILD_BENCH=ON -DACTO_SANITIZE= >&2
    cmake --build "$build" -j "${JOBS:-2}" --target acto-bench-pubsub >&2
fi
echo "pubsub.sh: $(nats-server --version 2>/dev/null || true); $(redis-server --version 2>/dev/null || true)" >&2

for peer in "${peers[@]}"; do
    for w in "${workloads[@]}"; do
        results=
        for ((r = 1; r <= runs; r++)); do
            echo "pubsub.sh: $peer $w run $r/$runs (load $(cut -d' ' -f1 /proc/loadavg))" >&2
            out=$("$repo/bench/pubsub.sh" "$build" "$peer" "$w") || {
                echo "pubsub.sh: $peer $w FAILED" >&2; exit 1; }
            echo "$out" | sed 's/^/pubsub.sh:   /' >&2
            results+=$out$'\n'
        done
        # median per metric (bench/median.awk), as PEER WORKLOAD METRIC VALUE
        printf '%s' "$results" | awk 'NF == 3' | awk -f "$repo/bench/median.awk" |
            sed "s/^/$peer /"
    done
done
