#!/usr/bin/env bash
# scripts/demo.sh - build acto (Release) and show what it does.
#
#   scripts/demo.sh            every demo step
#   scripts/demo.sh STEP...    only those steps (see STEPS below)
#
# Installs missing Debian packages first (scripts/deps.sh).  The build goes
# to build/demo (ACTO_BUILD_ROOT overrides build/).  To add a demo: write a
# function demo_<name> and add <name> to STEPS.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_ROOT=${ACTO_BUILD_ROOT:-$repo/build}
BUILD=$BUILD_ROOT/demo
JOBS=${JOBS:-2}

STEPS=(hello counter pingpong echo pubsub trace)

say() { printf '\n==== %s ====\n' "$*"; }

# run DESCRIPTION COMMAND...: show the command, run it.
run() {
    local what=$1; shift
    echo "\$ ${*#"$repo/"}    # $what"
    "$@"
}

demo_hello() {
    say "hello: one actor receives a string and exits"
    run "spawn, send, run until quiescent" "$BUILD/examples/hello"
}

demo_counter() {
    say "counter: an actor that owns state (ADD 1..100, then GET)"
    run "main drives it through acto_root(rt)" "$BUILD/examples/counter"
}

demo_pingpong() {
    say "pingpong: two actors bounce one message"
    run "100000 messages (the default)" "$BUILD/examples/pingpong"
    run "1000000 messages" "$BUILD/examples/pingpong" 1000000
}

demo_echo() {
    say "echo: a TCP server where every connection is an actor (loopback)"
    run "server on port 0, a client sends 200 x 3000 B and checks the echo" \
        sh "$repo/examples/echo_smoke.sh" "$BUILD/examples/echo_server" "$BUILD/examples/echo_client" "$(backend)"
}

# The I/O backend the runtime picks here: io_uring, or epoll where it is blocked.
backend() {
    if "$BUILD/examples/hello" >/dev/null 2>&1 && ACTO_BACKEND=uring "$BUILD/examples/hello" >/dev/null 2>&1; then
        echo uring
    else
        echo epoll
    fi
}

# The broker the pubsub step started (stopped on exit, whatever happens).
BROKER_PID=
stop_broker() { [[ -n $BROKER_PID ]] && kill "$BROKER_PID" 2>/dev/null; BROKER_PID=; }
trap stop_broker EXIT

demo_pubsub() {
    say "pubsub: acto-broker, actors publishing and subscribing over TCP, a trace of them"
    local dir; dir=$(mktemp -d)
    echo "\$ tools/acto-broker --listen 127.0.0.1:0 --workers 1 &    # port 0: pick a free port"
    "$BUILD/tools/acto-broker" --listen 127.0.0.1:0 --workers 1 >"$dir/broker.out" &
    BROKER_PID=$!
    local addr= i
    for ((i = 0; i < 100; i++)); do
        addr=$(sed -n 's/^listening on //p' "$dir/broker.out")
        [[ -n $addr ]] && break
        sleep 0.1
    done
    [[ -n $addr ]] || { echo "demo: the broker did not start" >&2; return 1; }
    echo "listening on $addr"
    run "feeds publish ticks, watchers subscribe (prices.>, prices.*, prices.ACME), request/reply; traced" \
        env ACTO_TRACE="$dir/market.trace" "$BUILD/examples/market" --server "$addr" --ticks 2000
    run "what the market's actors did" "$BUILD/tools/acto-trace" summary "$dir/market.trace"
    echo "\$ tools/acto-sub --server $addr --count 3 greetings &"
    "$BUILD/tools/acto-sub" --server "$addr" --count 3 greetings &
    local sub=$!
    sleep 0.5    # let it subscribe: the broker keeps no messages for later subscribers
    printf 'hello\nbonjour\nhallo\n' | run "three lines, one message each" \
        "$BUILD/tools/acto-pub" --server "$addr" greetings
    wait "$sub"
    echo "\$ kill -TERM <broker>    # graceful: every client gets 'server shutting down'"
    kill -TERM "$BROKER_PID"
    wait "$BROKER_PID" || true
    BROKER_PID=
}

demo_trace() {
    say "trace: record what the actors did, then look at it with acto-trace"
    local dir; dir=$(mktemp -d)
    run "record pingpong (ACTO_TRACE=path)" env ACTO_TRACE="$dir/pingpong.trace" "$BUILD/examples/pingpong" 20000
    run "per behaviour, per actor, per worker" "$BUILD/tools/acto-trace" summary "$dir/pingpong.trace"
    run "the first messages, with their causes" "$BUILD/tools/acto-trace" messages "$dir/pingpong.trace" --limit 5
    run "timeline for Perfetto / chrome://tracing" "$BUILD/tools/acto-trace" export "$dir/pingpong.trace" --format=perfetto -o "$dir/pingpong.json"
    run "one self-contained HTML page: timeline, top actors, histograms, graph" "$BUILD/tools/acto-trace" report "$dir/pingpong.trace" -o "$dir/pingpong.html"
    echo "open in a browser: $dir/pingpong.html (Perfetto/chrome://tracing: $dir/pingpong.json)"
}

for s in "$@"; do
    declare -F "demo_$s" >/dev/null || { echo "demo.sh: unknown step '$s' (steps: ${STEPS[*]})" >&2; exit 2; }
done
(($#)) && STEPS=("$@")

"$repo/scripts/deps.sh"

say "build (Release) in $BUILD"
if [[ -f "$BUILD/CMakeCache.txt" ]] &&
   ! grep -qxF "CMAKE_HOME_DIRECTORY:INTERNAL=$repo" "$BUILD/CMakeCache.txt"; then
    rm -rf "$BUILD"
fi
log=$BUILD_ROOT/demo-build.log
mkdir -p "$BUILD_ROOT"
if ! { cmake -S "$repo" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release \
             -DBUILD_TESTING=OFF -DACTO_BUILD_BENCH=OFF &&
       cmake --build "$BUILD" -j"$JOBS"; } >"$log" 2>&1; then
    tail -n 100 "$log"
    echo "demo.sh: build failed (full log: $log)" >&2
    exit 1
fi
echo "built: libacto ($(cd "$BUILD" && ls libacto.so* libacto.a 2>/dev/null | tr '\n' ' '))"

for s in "${STEPS[@]}"; do
    "demo_$s"
done

say "done"
echo "demo.sh: ran ${STEPS[*]}"
