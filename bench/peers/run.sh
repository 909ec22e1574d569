#!/usr/bin/env bash
# bench/peers/run.sh [--runs N] [WORKLOAD...]
#
# Runs the benchmark workloads on the peer runtimes (Go, Erlang/OTP, CAF),
# N times each (default 3), and prints one line per figure on stdout:
#   PEER WORKLOAD METRIC VALUE        (the median of the N runs)
# Progress goes to stderr. Installs missing toolchains with apt-get and builds
# into build/peers-bin (override with PEERS_BUILD_DIR). PEERS="go caf" limits
# the peers. Workloads: skynet pingpong1 pingpong64 fanin spawn ring.

# build_* are called as "build_$p":
# shellcheck disable=SC2317
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${PEERS_BUILD_DIR:-$root/build/peers-bin}
all_workloads=(skynet pingpong1 pingpong64 fanin spawn ring)
read -ra peers <<<"${PEERS:-go erlang caf}"
run_timeout=600 # seconds; a run that takes longer has hung

log() { echo "peers: $*" >&2; }
die() { log "$*"; exit 1; }

usage() {
  echo "usage: $0 [--runs N] [WORKLOAD...]  (workloads: ${all_workloads[*]})" >&2
  exit 2
}

runs=3
workloads=()
while (($#)); do
  case $1 in
    --runs) [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || usage; runs=$2; shift 2 ;;
    --runs=*) [[ ${1#--runs=} =~ ^[1-9][0-9]*$ ]] || usage; runs=${1#--runs=}; shift ;;
    -h|--help) usage ;;
    -*) usage ;;
    *) [[ " ${all_workloads[*]} " == *" $1 "* ]] || { log "unknown workload '$1'"; usage; }
       workloads+=("$1"); shift ;;
  esac
done
((${#workloads[@]})) || workloads=("${all_workloads[@]}")
for p in "${peers[@]}"; do
  [[ $p == go || $p == erlang || $p == caf ]] || die "unknown peer '$p' in PEERS"
done

# --- toolchains --------------------------------------------------------------

install_missing() {
  local pkgs=()
  for p in "${peers[@]}"; do
    case $p in
      go) command -v go >/dev/null || pkgs+=(golang-go) ;;
      erlang) command -v erl >/dev/null && command -v erlc >/dev/null || pkgs+=(erlang-base) ;;
      caf) [[ -f /usr/include/caf/all.hpp ]] || pkgs+=(libcaf-dev)
           command -v g++ >/dev/null || pkgs+=(g++) ;;
    esac
  done
  ((${#pkgs[@]})) || return 0
  local sudo=()
  ((EUID == 0)) || sudo=(sudo)
  log "installing ${pkgs[*]}"
  "${sudo[@]}" apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${pkgs[@]}" >&2
}

# --- builds (each only when its sources are newer than its output) -----------

stale() { # stale OUTPUT SOURCE...
  local o=$1 s; shift
  [[ -e $o ]] || return 0
  for s; do [[ $s -nt $o ]] && return 0; done
  return 1
}

build_go() {
  local w
  for w in skynet pingpong fanin spawn ring; do
    stale "$out/go-$w" "$here/go/$w.go" || continue
    log "building go-$w"
    # Standard library only: GOPATH mode, no module look-ups.
    (cd "$here/go" && GO111MODULE=off GOFLAGS="" GOCACHE="$out/go-cache" \
      go build -o "$out/go-$w" "$w.go")
  done
}

build_erlang() {
  local w
  mkdir -p "$out/erlang"
  for w in skynet pingpong fanin spawn_idle ring; do
    stale "$out/erlang/$w.beam" "$here/erlang/$w.erl" || continue
    log "building erlang/$w.beam"
    erlc -Werror -o "$out/erlang" "$here/erlang/$w.erl"
  done
}

build_caf() {
  local w
  for w in skynet pingpong fanin spawn ring; do
    stale "$out/caf-$w" "$here/caf/$w.cpp" "$here/caf/common.hpp" || continue
    log "building caf-$w"
    g++ -std=c++17 -O2 -DNDEBUG -Wall -Wextra -Werror -o "$out/caf-$w" \
      "$here/caf/$w.cpp" -lcaf_core -pthread
  done
}

# --- runs --------------------------------------------------------------------

# Sets cmd to the command line of one run of workload $2 on peer $1.
set_command() {
  local peer=$1 workload=$2 prog args=()
  case $workload in
    pingpong1) prog=pingpong; args=(1 1000000) ;;   # 1 pair x 1,000,000 messages
    pingpong64) prog=pingpong; args=(64 50000) ;;   # 64 pairs x 50,000 messages
    *) prog=$workload ;;
  esac
  case $peer in
    go) cmd=(env GOMAXPROCS=2 "$out/go-$prog" "${args[@]}") ;;
    # +P: room for 1,111,111 processes (the default limit is 262,144).
    erlang) [[ $prog == spawn ]] && prog=spawn_idle
            cmd=(env ERL_CRASH_DUMP="$out/erl_crash.dump" erl +P 2000000 -noshell -pa "$out/erlang" -run "$prog" main "${args[@]}") ;;
    caf) cmd=("$out/caf-$prog" "${args[@]}") ;;
  esac
}

# Reads numbers on stdin, prints their median.
median() {
  sort -g | awk '{ v[NR] = $1 }
    END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.10g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

failed=0

# Runs workload $2 on peer $1 $runs times; prints the median of each metric.
bench() {
  local peer=$1 workload=$2 i result metric value
  local -A values=()
  local -a order=() cmd=()
  set_command "$peer" "$workload"
  # CPU times and load beside each run show how much the machine's other
  # users took from it.
  local -a timer=()
  [[ -x /usr/bin/time ]] && timer=(/usr/bin/time -f "%U s user, %S s sys" -o "$out/last-run.time")
  for ((i = 1; i <= runs; i++)); do
    local load
    load=$(cut -d' ' -f1 /proc/loadavg)
    if ! result=$(timeout "$run_timeout" "${timer[@]}" "${cmd[@]}") || [[ -z $result ]]; then
      log "$peer $workload run $i/$runs FAILED: ${cmd[*]}"
      failed=1
      return
    fi
    log "$peer $workload run $i/$runs: ${result//$'\n'/, } (load $load${timer[*]:+, $(cat "$out/last-run.time")})"
    while read -r metric value; do
      [[ -n ${values[$metric]+set} ]] || order+=("$metric")
      values[$metric]+="$value "
    done <<<"$result"
  done
  for metric in "${order[@]}"; do
    echo "$peer $workload $metric $(tr ' ' '\n' <<<"${values[$metric]}" | grep . | median)"
  done
}

install_missing
mkdir -p "$out"
for p in "${peers[@]}"; do "build_$p"; done
log "$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
if awk -v n="$(nproc)" '{ exit !($1 > n) }' /proc/loadavg; then
  log "warning: the load exceeds the core count; wall-clock figures will be low and noisy"
fi
for p in "${peers[@]}"; do
  for w in "${workloads[@]}"; do bench "$p" "$w"; done
done
log "done; load average $(cut -d' ' -f1-3 /proc/loadavg)"
exit "$failed"
