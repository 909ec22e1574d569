#!/bin/sh
# examples/echo_smoke.sh SERVER CLIENT [BACKEND] - start echo_server on
# port 0, read the port it prints, run echo_client against it, and check
# that both exit 0 (the server stops after the client's connection closes).
# Bounded: the server gets 10 s to print its address and 30 s to finish.
set -u
server=$1 client=$2 backend=${3:-uring}
out=$(mktemp) || exit 1
trap 'rm -f "$out"' EXIT

"$server" --port 0 --conns 1 --workers 2 --backend "$backend" >"$out" &
spid=$!
addr=
i=0
while [ $i -lt 100 ]; do
    addr=$(sed -n 's/^listening on //p' "$out")
    [ -n "$addr" ] && break
    kill -0 $spid 2>/dev/null || break
    sleep 0.1
    i=$((i + 1))
done
if [ -z "$addr" ]; then
    echo "echo_smoke: FAILED: the server printed no address"
    kill $spid 2>/dev/null
    exit 1
fi
echo "echo_smoke: server on $addr ($backend)"

"$client" "$addr" -n 200 -s 3000 --backend "$backend"
crc=$?

i=0
while kill -0 $spid 2>/dev/null && [ $i -lt 300 ]; do
    sleep 0.1
    i=$((i + 1))
done
if kill -0 $spid 2>/dev/null; then
    echo "echo_smoke: FAILED: the server did not stop"
    kill $spid
    exit 1
fi
wait $spid
src=$?
[ $crc -eq 0 ] && [ $src -eq 0 ] || { echo "echo_smoke: FAILED (client $crc, server $src)"; exit 1; }
echo "echo_smoke: ok"
