#!/usr/bin/env bash
# bench/pubsub.sh - run one pub/sub workload once against one broker.
#
#   bench/pubsub.sh BIN_DIR SERVER WORKLOAD
#
# BIN_DIR: a build directory (tools/acto-bench-pubsub and, for acto,
#   tools/acto-broker in it).
# SERVER: acto (acto-broker, one worker), nats (nats-server), redis
#   (redis-server, persistence off); the peers must be installed
#   (bench/peers/pubsub.sh installs them).
# WORKLOAD: pubsub-1to1 | pubsub-fanout | pubsub-1k | pubsub-latency |
#   pubsub-10k-subs (bench/RESULTS.md "Pub/sub" says what each does).
#
# The broker is pinned to core 0 and the load generator (acto-bench-pubsub,
# the same program for every broker) to core 1.  Prints `WORKLOAD METRIC
# VALUE` lines: the workload's figures, `lost`, and `cpu_ns_per_msg` (the
# broker's user + system CPU over the run / deliveries).  Exits non-zero if
# anything failed.  Environment: ACTO_BROKER_WORKERS (default 1);
# PUBSUB_NICE (e.g. -10: run broker and generator at that nice level, so
# that other jobs on a shared host disturb them less; default: not set).
set -euo pipefail
(($# == 3)) || { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
bin=$1 server=$2 workload=$3
gen=$bin/tools/acto-bench-pubsub
pin() { # pin CPU COMMAND...: exec it on that core (in a subshell or background job)
    local cpu=$1; shift
    if [[ -n ${PUBSUB_NICE:-} ]]; then
        exec taskset -c "$cpu" nice -n "$PUBSUB_NICE" "$@"
    else
        exec taskset -c "$cpu" "$@"
    fi
}
[[ -x $gen ]] || { echo "pubsub.sh: $gen is missing (build it)" >&2; exit 1; }

# Broker and generator each hold up to ~10,000 sockets (pubsub-10k-subs).
ulimit -n "$(ulimit -Hn)"

# A port nothing listens on, below the ephemeral range (the peers cannot
# report a port 0 they were given, and the generator's own connections
# take ephemeral ports), for the peers.
free_port() {
    local lo base span p
    lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range)
    if ((lo > 11000)); then base=10000 span=$((lo - 10500)); else base=61000 span=4000; fi
    for ((p = base + RANDOM % span; ; p++)); do
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
}

log=$(mktemp)
spid=
cleanup() {
    local rc=$?
    if [[ -n $spid ]]; then
        kill "$spid" 2>/dev/null || true
        wait "$spid" 2>/dev/null || true
    fi
    rm -f "$log"
    exit "$rc"
}
trap cleanup EXIT

# start: launch the broker in the background (spid) and wait until it
# listens (addr); 1 if it did not (a peer's port may have been taken
# between free_port and its bind: the caller retries).
start() {
    local port=
    case $server in
        acto)
            [[ -x $bin/tools/acto-broker ]] || { echo "pubsub.sh: $bin/tools/acto-broker is missing" >&2; exit 1; }
            pin 0 "$bin/tools/acto-broker" --listen 127.0.0.1:0 \
                --workers "${ACTO_BROKER_WORKERS:-1}" >"$log" 2>&1 &
            spid=$! ;;
        nats)
            port=$(free_port)
            pin 0 nats-server -a 127.0.0.1 -p "$port" >"$log" 2>&1 &
            spid=$! ;;
        redis)
            # maxclients: the default 10,000 is one short of pubsub-10k-subs;
            # protected mode off: it refuses the 127.0.0.2-4 sources used there
            # (the server still listens on 127.0.0.1 only).
            port=$(free_port)
            pin 0 redis-server --port "$port" --bind 127.0.0.1 --protected-mode no \
                --save '' --appendonly no --maxclients 10100 --daemonize no >"$log" 2>&1 &
            spid=$! ;;
        *) echo "pubsub.sh: unknown server '$server' (acto, nats, redis)" >&2; exit 2 ;;
    esac
    addr=
    for _ in $(seq 100); do
        if [[ $server == acto ]]; then
            addr=$(sed -n 's/^listening on //p' "$log")
        elif (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            addr=127.0.0.1:$port
        fi
        [[ -n $addr ]] && return 0
        kill -0 "$spid" 2>/dev/null || break
        sleep 0.1
    done
    kill "$spid" 2>/dev/null || true
    wait "$spid" 2>/dev/null || true
    spid=
    return 1
}
for try in 1 2 3 4 5; do
    start && break
    echo "pubsub.sh: $server did not start (try $try):" >&2
    cat "$log" >&2
    ((try < 5)) || exit 1
done

run=(pin 1 "$gen" --proto "$server" --server "$addr" --server-pid "$spid")
case $workload in
    pubsub-1to1)     keys="msgs_per_s lost"
                     out=$("${run[@]}" --pubs 1 --subs 1 --size 16 --count 2000000) ;;
    pubsub-fanout)   keys="deliveries_per_s lost"
                     out=$("${run[@]}" --pubs 1 --subs 10 --size 16 --count 500000) ;;
    pubsub-1k)       keys="mb_per_s lost"
                     out=$("${run[@]}" --pubs 1 --subs 1 --size 1024 --count 500000) ;;
    pubsub-latency)  keys="p50_us p99_us p999_us lost"
                     out=$("${run[@]}" --pubs 1 --subs 1 --size 16 --rate 10000 --duration 5) ;;
    pubsub-10k-subs) keys="deliveries_per_s broker_bytes_per_conn lost"
                     out=$("${run[@]}" --pubs 1 --subjects 10000 --size 16 --count 200000 --srcs 4) ;;
    *) echo "pubsub.sh: unknown workload '$workload'" >&2; exit 2 ;;
esac
kill -0 "$spid" 2>/dev/null || { echo "pubsub.sh: $server died:" >&2; cat "$log" >&2; exit 1; }
echo "$out" | sed 's/^/pubsub.sh:   /' >&2
for k in $keys cpu_ns_per_msg; do
    v=$(echo "$out" | awk -v k="$k" '$1 == k { print $2 }')
    [[ -n $v ]] || { echo "pubsub.sh: no $k in the generator's output" >&2; exit 1; }
    echo "$workload $k $v"
done
