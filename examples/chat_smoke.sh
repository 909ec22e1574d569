#!/usr/bin/env bash
# examples/chat_smoke.sh CHAT [BACKEND] - start the chat server on port 0,
# connect three clients over loopback (bash /dev/tcp), check that each sees
# the others' lines and not its own, that leaving is announced, and that an
# over-long line gets an error and a closed connection.  The server runs
# with --conns 4 and must then exit 0 by itself.  Every read has a timeout.
set -u
chat=$1 backend=${2:-uring}
out=$(mktemp) || exit 1
trap 'rm -f "$out"; [ -n "${spid:-}" ] && kill $spid 2>/dev/null' EXIT
fail() { echo "chat_smoke: FAILED: $*"; exit 1; }

"$chat" --port 0 --conns 4 --workers 2 --backend "$backend" >"$out" &
spid=$!
addr=
for _ in $(seq 100); do
    addr=$(sed -n 's/^listening on //p' "$out")
    [ -n "$addr" ] && break
    kill -0 $spid 2>/dev/null || break
    sleep 0.1
done
[ -n "$addr" ] || fail "the server printed no address"
host=${addr%:*} port=${addr##*:}
echo "chat_smoke: server on $addr ($backend)"

# expect FD LINE: the next line on FD must be LINE.
expect() {
    local got
    IFS= read -r -t 10 -u "$1" got || fail "fd $1: no line (wanted '$2')"
    [ "$got" = "$2" ] || fail "fd $1: got '$got', wanted '$2'"
}
# expect2 FD A B: the next two lines on FD are A and B, in either order.
expect2() {
    local x y
    IFS= read -r -t 10 -u "$1" x || fail "fd $1: no line"
    IFS= read -r -t 10 -u "$1" y || fail "fd $1: no second line"
    { [ "$x" = "$2" ] && [ "$y" = "$3" ]; } || { [ "$x" = "$3" ] && [ "$y" = "$2" ]; } ||
        fail "fd $1: got '$x' and '$y', wanted '$2' and '$3'"
}

exec 3<>"/dev/tcp/$host/$port" || fail "connect 1"
expect 3 "* welcome user1, 1 here"
exec 4<>"/dev/tcp/$host/$port" || fail "connect 2"
expect 4 "* welcome user2, 2 here"
expect 3 "* user2 joined"
exec 5<>"/dev/tcp/$host/$port" || fail "connect 3"
expect 5 "* welcome user3, 3 here"
expect 3 "* user3 joined"
expect 4 "* user3 joined"

printf 'hello from one\n' >&3
printf 'hello from two\r\n' >&4          # CRLF clients work too
printf 'hello ' >&5; sleep 0.1; printf 'from three\n' >&5   # a line in two pieces
expect2 3 "user2: hello from two" "user3: hello from three"
expect2 4 "user1: hello from one" "user3: hello from three"
expect2 5 "user1: hello from one" "user2: hello from two"

exec 5>&-                                # user3 leaves
expect 3 "* user3 left"
expect 4 "* user3 left"

# A line over 1024 bytes: an error line, then end of stream.
exec 6<>"/dev/tcp/$host/$port" || fail "connect 4"
expect 6 "* welcome user4, 3 here"
expect 3 "* user4 joined"
expect 4 "* user4 joined"
head -c 1100 /dev/zero | tr '\0' x >&6
expect 6 "* error: line too long (max 1024 bytes)"
IFS= read -r -t 10 -u 6 extra && fail "fd 6: open after the error ('$extra')"
expect 3 "* user4 left"
expect 4 "* user4 left"

exec 3>&- 4>&- 6>&-                      # 4 connections closed: the server stops
for _ in $(seq 300); do
    kill -0 $spid 2>/dev/null || break
    sleep 0.1
done
kill -0 $spid 2>/dev/null && fail "the server did not stop"
wait $spid
src=$?
spid=
[ $src -eq 0 ] || fail "server exit status $src"
echo "chat_smoke: ok"
