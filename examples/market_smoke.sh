#!/bin/sh
# examples/market_smoke.sh BROKER MARKET [BACKEND] - start acto-broker on
# port 0, run examples/market against it, stop the broker with SIGTERM and
# check that every program exits 0.  Bounded: 10 s for the broker to print
# its address, market's own 30 s deadline, 10 s for the broker to stop.
set -u
broker=$1 market=$2 backend=${3:-uring}
out=$(mktemp) || exit 1
trap 'rm -f "$out"' EXIT

ACTO_BACKEND=$backend "$broker" --listen 127.0.0.1:0 --workers 1 >"$out" &
bpid=$!
addr=
i=0
while [ $i -lt 100 ]; do
    addr=$(sed -n 's/^listening on //p' "$out")
    [ -n "$addr" ] && break
    kill -0 $bpid 2>/dev/null || break
    sleep 0.1
    i=$((i + 1))
done
if [ -z "$addr" ]; then
    echo "market_smoke: FAILED: the broker printed no address"
    kill $bpid 2>/dev/null
    exit 1
fi
echo "market_smoke: broker on $addr ($backend)"

ACTO_BACKEND=$backend "$market" --server "$addr" --ticks 500
mrc=$?

kill -TERM $bpid
i=0
while kill -0 $bpid 2>/dev/null && [ $i -lt 100 ]; do
    sleep 0.1
    i=$((i + 1))
done
if kill -0 $bpid 2>/dev/null; then
    echo "market_smoke: FAILED: the broker did not stop on SIGTERM"
    kill -9 $bpid
    exit 1
fi
wait $bpid
brc=$?
if [ $mrc -ne 0 ] || [ $brc -ne 0 ]; then
    echo "market_smoke: FAILED: market exit $mrc, broker exit $brc"
    exit 1
fi
echo "market_smoke: ok"
