#!/usr/bin/env python3
"""tests/trace_tool.py - acto-trace end to end on a real trace.

    trace_tool.py ACTO_TRACE_BINARY PINGPONG_BINARY

Records examples/pingpong with ACTO_TRACE, then checks every subcommand:
the Perfetto export parses as JSON, has the fields viewers need and one
flow start per flow end; summary --json agrees with the program; filters,
flow, graph, -o, a truncated trace (status 2, output up to the damage)
and usage errors (status 1).
"""
import json
import os
import subprocess
import sys
import tempfile

N = 500                      # pingpong bounces: N + 1 messages with the serve


def run(args, status=0, env=None):
    p = subprocess.run(args, capture_output=True, text=True, env=env, timeout=60)
    if p.returncode != status:
        sys.exit(f"FAILED: {args}: status {p.returncode}, wanted {status}\n{p.stdout}\n{p.stderr}")
    return p


def check(cond, what):
    if not cond:
        sys.exit(f"FAILED: {what}")


def check_perfetto(doc):
    check(isinstance(doc, dict) and isinstance(doc.get("traceEvents"), list), "traceEvents list")
    ev = doc["traceEvents"]
    starts, ends, slices = {}, {}, []
    threads = set()
    for e in ev:
        for k in ("ph", "pid"):
            check(k in e, f"event without {k}: {e}")
        if e["ph"] == "M":
            if e["name"] == "thread_name":
                threads.add(e["tid"])
            continue
        for k in ("tid", "ts", "name"):
            check(k in e, f"event without {k}: {e}")
        check(isinstance(e["ts"], (int, float)) and e["ts"] >= 0, f"bad ts: {e}")
        if e["ph"] == "X":
            check(isinstance(e.get("dur"), (int, float)) and e["dur"] >= 0, f"bad dur: {e}")
            if e.get("cat") == "receive":
                slices.append(e)
        elif e["ph"] == "s":
            check(e["id"] not in starts, f"flow id {e['id']} started twice")
            starts[e["id"]] = e
        elif e["ph"] == "f":
            check(e["id"] not in ends, f"flow id {e['id']} ended twice")
            check(e.get("bp") == "e", "flow end binds to the enclosing slice")
            ends[e["id"]] = e
        else:
            check(e["ph"] == "i", f"unexpected phase {e['ph']}")
    check(set(starts) == set(ends), "every flow start has its end and back")
    check(len(starts) == N + 1, f"{len(starts)} flows, wanted {N + 1}")
    check(len(slices) == N + 1, f"{len(slices)} receive slices, wanted {N + 1}")
    for i, s in starts.items():
        check(s["ts"] <= ends[i]["ts"] + 0.001, f"flow {i} ends before it starts")
    names = {s["name"] for s in slices}
    check(names == {"player/1", "player/2"}, f"slice names {names}")
    for s in slices:
        check(s["tid"] in threads, f"slice on an unnamed track {s['tid']}")
    # each flow end sits at the start of a receive slice on the same track
    begins = {(s["tid"], s["ts"]) for s in slices}
    for e in ends.values():
        check((e["tid"], e["ts"]) in begins, f"flow end outside a slice: {e}")


def main():
    tool, pingpong = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as d:
        trace = os.path.join(d, "pp.trace")
        env = dict(os.environ, ACTO_TRACE=trace)
        out = run([pingpong, str(N)], env=env).stdout
        check(f"{N} messages" in out, "pingpong ran")

        # a trace file that cannot be created: the program runs, untraced
        bad = dict(os.environ, ACTO_TRACE=os.path.join(d, "no-such-dir", "t.trace"))
        p = run([pingpong, "100"], env=bad)
        check("100 messages" in p.stdout and "tracing off" in p.stderr, f"bad ACTO_TRACE: {p.stderr}")

        # export
        pf = os.path.join(d, "pp.json")
        run([tool, "export", trace, "--format=perfetto", "-o", pf])
        with open(pf) as f:
            check_perfetto(json.load(f))
        run([tool, "export", trace, "--format=html"], status=1)

        # summary
        s = json.loads(run([tool, "summary", trace, "--json"]).stdout)
        beh = s["behaviours"]
        check(len(beh) == 1 and beh[0]["name"] == "player", f"behaviours {beh}")
        check(beh[0]["actors"] == 2 and beh[0]["messages_in"] == N + 1, f"player row {beh[0]}")
        check(beh[0]["handle_ns"]["count"] == N + 1, "handling samples")
        check(beh[0]["wait_ns"]["p50"] <= beh[0]["wait_ns"]["p99"] <= beh[0]["wait_ns"]["max"],
              "percentiles ordered")
        check(sum(w["handled"] for w in s["workers"]) == N + 1, "workers handled everything")
        text = run([tool, "summary", trace]).stdout
        check("BEHAVIOUR" in text and "player" in text and "WORKER" not in text[:0], "text summary")
        check(s["subjects"] == [] and "Pub/sub" not in text, "no pub/sub events, no subjects")

        # messages and filters
        lines = run([tool, "messages", trace]).stdout.splitlines()
        check(len(lines) == N + 2, f"{len(lines)} message lines")        # + header
        serve = run([tool, "messages", trace, "--type", "1"]).stdout.splitlines()
        check(len(serve) == 2 and "(outside)" in serve[1], f"--type 1: {serve}")
        ping = serve[1].split()[4]                                     # "<slot.gen>" of ping
        frm = run([tool, "messages", trace, "--from", ping]).stdout.splitlines()
        check(len(frm) == 1 + N // 2, f"--from {ping}: {len(frm)} lines")
        act = run([tool, "messages", trace, "--actor", ping]).stdout.splitlines()
        check(len(act) == 2 + N, f"--actor {ping}: {len(act)} lines")
        none = run([tool, "messages", trace, "--until", "0ns"]).stdout.splitlines()
        check(len(none) == 1, "empty time window")
        run([tool, "messages", trace, "--from", "nonsense"], status=1)

        # flow: the last ball goes back to the serve through every hop
        last = lines[-1].split()[1]
        fl = run([tool, "flow", trace, last, "--up", str(N + 5)]).stdout.splitlines()
        check(len(fl) == 2 + N and fl[-1].startswith("*"), f"flow of {last}: {len(fl)} lines")
        check("(outside)" in fl[1], "the chain starts at the serve")
        run([tool, "flow", trace, "12345"], status=1)

        # graph
        g = run([tool, "graph", trace]).stdout
        check(g.startswith("digraph") and g.count("->") == 3, f"graph:\n{g}")
        check(f'[label="{N // 2}"]' in g, "edge counts")

        # a damaged trace: status 2, an error, and what came before it
        with open(trace, "rb") as f:
            data = f.read()
        cut = os.path.join(d, "cut.trace")
        with open(cut, "wb") as f:
            f.write(data[: len(data) * 2 // 3])
        p = run([tool, "summary", cut, "--json"], status=2)
        check("damaged" in p.stderr, f"damage reported: {p.stderr}")
        part = json.loads(p.stdout)
        check(0 < part["trace"]["records"] and part["trace"]["damaged"], "partial summary")

        # every command but flow streams the trace (passes, little memory);
        # ACTO_TRACE_STREAM=0 holds it: the same bytes either way
        held = dict(os.environ, ACTO_TRACE_STREAM="0")
        for tr, st in ((trace, 0), (cut, 2)):
            for args in (["summary"], ["summary", "--json", "--all"], ["messages"],
                         ["messages", "--type", "2", "--limit", "7"], ["export", "--format=perfetto"],
                         ["graph"], ["graph", "--behaviour"], ["report"], ["report", "--max-slices", "50"],
                         ["dump"]):
                a = run([tool, args[0], tr] + args[1:], status=st)
                b = run([tool, args[0], tr] + args[1:], status=st, env=held)
                check(a.stdout == b.stdout and a.stderr == b.stderr,
                      f"streamed and held {args} differ on {os.path.basename(tr)}")
        # a version-1 file (records, no blocks) cannot be streamed: it is held
        v1 = os.path.join(d, "v1.trace")
        with open(v1, "wb") as f:
            f.write(b"ACTOTRC\n\x82\xa7version\x01\xa7workers\x01"
                    b"\x95\x0a\x01\x00\xa6worker\x00"                    # track 0: worker 0
                    b"\x97\x01\x02\x00\x05\x00\xa4pong\x00"                # spawn pid 5 "pong"
                    b"\x99\x03\x03\x00\x09\x00\x05\x01\x00\x00"          # send id 9 to 5, type 1
                    b"\x96\x04\x04\x00\x09\x05\x01"                      # recv_begin
                    b"\x94\x05\x07\x00\x09")                           # recv_end
        a = run([tool, "messages", v1]).stdout.splitlines()
        check(len(a) == 2 and "pong" in a[1] and "handle 3ns" in a[1], f"v1 messages: {a}")
        check(run([tool, "messages", v1], env=held).stdout.splitlines() == a, "v1: held the same")

        # usage errors
        run([tool], status=1)
        run([tool, "frobnicate", trace], status=1)
        run([tool, "summary", os.path.join(d, "missing")], status=1)
        run([tool, "summary", pf], status=1)                            # not a trace
    print("trace_tool: all checks passed")


if __name__ == "__main__":
    main()
