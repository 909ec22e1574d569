#!/usr/bin/env bash
# bench/trace_overhead.sh - what tracing costs on pingpong (1 pair, 1M messages).
#
#   bench/trace_overhead.sh [--runs N] [--pairs P --msgs M] [PINGPONG_BINARY...]
#
# --pairs/--msgs: the pingpong workload (default 1 pair, 1000000 messages
# per pair; bench/run.sh's other one is --pairs 64 --msgs 50000).
# Runs each binary (default: bench_pingpong of build/bench-release, built
# by bench/run.sh) N times (default 11) with tracing off and on, alternating
# binaries and modes so that load from other processes hits all alike.  The
# trace file is removed before every traced run: truncating the previous
# run's file costs the kernel more than the run itself.  Prints, per binary
# and mode, the wall time per message (min and median over the runs; the
# min is the run that kept its ball on one worker) and the CPU time per
# message of all threads together (perf stat task-clock: the writer thread
# included), which moves less with the machine's load.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=11
pairs=1
msgs=1000000
bins=()
while (($#)); do
    case "$1" in
        --runs) runs=${2:-}; shift 2 ;;
        --pairs) pairs=${2:-}; shift 2 ;;
        --msgs) msgs=${2:-}; shift 2 ;;
        -h|--help) sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
        *) bins+=("$1"); shift ;;
    esac
done
for v in "$runs" "$pairs" "$msgs"; do
    [[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "trace_overhead.sh: --runs, --pairs and --msgs need positive integers" >&2; exit 2; }
done
((${#bins[@]})) || bins=("${ACTO_BENCH_BUILD:-$repo/build/bench-release}/bench/bench_pingpong")
command -v perf >/dev/null || { echo "trace_overhead.sh: needs perf (linux-perf)" >&2; exit 2; }
for b in "${bins[@]}"; do [[ -x "$b" ]] || { echo "trace_overhead.sh: $b: not executable" >&2; exit 2; }; done

trace=$(mktemp /tmp/acto-trace-overhead-XXXXXX)
trap 'rm -f "$trace"' EXIT
declare -A wall cpu
for ((i = 0; i < runs; i++)); do
    for b in "${bins[@]}"; do
        for mode in off on; do
            rm -f "$trace"
            if [[ $mode == on ]]; then
                out=$(ACTO_TRACE=$trace perf stat -x, -e task-clock "$b" "$pairs" "$msgs" 2>&1)
            else
                out=$(env -u ACTO_TRACE perf stat -x, -e task-clock "$b" "$pairs" "$msgs" 2>&1)
            fi
            w=$(awk '/msgs_per_s/ { printf "%.1f", 1e9 / $3 }' <<<"$out")
            c=$(awk -F, -v n=$((pairs * msgs)) '/task-clock/ { printf "%.1f", $1 * 1e6 / n }' <<<"$out")   # ms -> ns per message
            [[ -n "$w" && -n "$c" ]] || { echo "trace_overhead.sh: $b ($mode) failed: $out" >&2; exit 1; }
            wall[$b.$mode]+="$w "
            cpu[$b.$mode]+="$c "
        done
    done
done
stats() { tr ' ' '\n' | grep . | sort -n | awk '{ a[NR] = $1 } END { printf "min %6.1f med %6.1f", a[1], a[int((NR + 1) / 2)] }'; }
for b in "${bins[@]}"; do
    for mode in off on; do
        echo "$b tracing $mode: wall ns/msg $(stats <<<"${wall[$b.$mode]}")  cpu ns/msg $(stats <<<"${cpu[$b.$mode]}")"
    done
done
