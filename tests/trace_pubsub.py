#!/usr/bin/env python3
"""tests/trace_pubsub.py - pub/sub events in every acto-trace subcommand.

    trace_pubsub.py [--browser] ACTO_TRACE_BINARY TRACE_PUBSUB_PROG

Records tests/trace_pubsub_prog (three subscribers: market.eu.x,
market.*.x, market.>; K publishes on market.eu.x and on market.us.x, one
on news.y) and checks what each subcommand says about the subjects:
summary (JSON parsed, and text), messages, flow, graph (subject nodes
between publisher and subscribers), the Perfetto export (publish/deliver
instants, subject args on slices, flows still paired) and the report's
embedded data.  With --browser the report is also opened in headless
Chromium (as tests/trace_report.py does) and its pub/sub panel must be
drawn without JavaScript errors.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

K = 20
EU, US, NEWS = "market.eu.x", "market.us.x", "news.y"
# subject -> (publishes, deliveries, fan-out of each publish)
WANT = {EU: (K, 3 * K, 3), US: (K, 2 * K, 2), NEWS: (1, 0, 0)}


def fail(what):
    sys.exit(f"FAILED: {what}")


def check(cond, what):
    if not cond:
        fail(what)


def run(args, status=0, env=None):
    p = subprocess.run(args, capture_output=True, text=True, env=env, timeout=60)
    if p.returncode != status:
        fail(f"{args}: status {p.returncode}, wanted {status}\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return p


def check_summary(tool, trace):
    s = json.loads(run([tool, "summary", trace, "--json"]).stdout)
    subs = {x["subject"]: x for x in s["subjects"]}
    check(set(subs) == set(WANT), f"subjects {sorted(subs)}")
    for name, (pub, dlv, fan) in WANT.items():
        x = subs[name]
        check(x["publishes"] == pub and x["deliveries"] == dlv and x["reached"] == pub * fan,
              f"{name}: {x}")
        check(x["fanout"]["count"] == pub and x["fanout"]["p50"] == fan == x["fanout"]["max"],
              f"{name} fan-out {x['fanout']}")
        w = x["wait_ns"]
        check(w["count"] == dlv and w["p50"] <= w["p99"] <= w["max"], f"{name} wait {w}")
    order = [x["subject"] for x in s["subjects"]]
    check(order == [EU, US, NEWS], f"subjects by traffic: {order}")
    text = run([tool, "summary", trace]).stdout
    check("Pub/sub subjects" in text, "text summary has the subjects table")
    rows = {l.split()[0]: l.split() for l in text.split("Pub/sub subjects", 1)[1].splitlines()[2:] if l}
    for name, (pub, dlv, fan) in WANT.items():
        r = rows.get(name)
        check(r and r[1:6] == [str(pub), str(dlv), str(pub * fan), str(fan), str(fan)],
              f"text row of {name}: {r}")
    check(rows[NEWS][6:] == ["-", "-", "-"], f"no deliveries, no wait: {rows[NEWS]}")


def check_messages_flow(tool, trace):
    lines = run([tool, "messages", trace]).stdout.splitlines()
    pubs = {n: sum(f"publishes {n} to {WANT[n][2]}" in l for l in lines) for n in WANT}
    dlvs = {n: sum(l.endswith(f"delivers {n}") for l in lines) for n in WANT}
    check(pubs == {n: WANT[n][0] for n in WANT}, f"publish lines {pubs}")
    check(dlvs == {n: WANT[n][1] for n in WANT}, f"deliver lines {dlvs}")
    # a delivery of market.us.x: its cause is the publish, caused by a READY
    last = [l for l in lines if l.endswith(f"delivers {US}")][-1]
    fl = run([tool, "flow", trace, last.split()[1]]).stdout.splitlines()
    marked = [i for i, l in enumerate(fl) if l.startswith("*")]
    check(len(marked) == 1 and fl[marked[0]].endswith(f"delivers {US}"), f"flow:\n" + "\n".join(fl))
    check(f"publishes {US} to 2" in fl[marked[0] - 1], f"flow: the publish above:\n" + "\n".join(fl))
    # the publish's own flow lists its two deliveries below it
    pub = fl[marked[0] - 1].split()[1]
    fl = run([tool, "flow", trace, pub]).stdout.splitlines()
    below = fl[[i for i, l in enumerate(fl) if l.startswith("*")][0] + 1:]
    check(len(below) == 2 and all(l.endswith(f"delivers {US}") for l in below),
          "flow of a publish:\n" + "\n".join(fl))


def dot_graph(text):
    """nodes {id: (label, attrs)}, edges {(from label, to label): count}"""
    nodes = {m.group(1): (json.loads(m.group(2)), m.group(3))
             for m in re.finditer(r'^\s+(\w+) \[label=("(?:[^"\\]|\\.)*")(.*)\];$', text, re.M)}
    edges = {}
    for m in re.finditer(r'^\s+(\w+) -> (\w+) \[label="(\d+)"\];$', text, re.M):
        key = (nodes[m.group(1)][0], nodes[m.group(2)][0])
        check(key not in edges or m.group(1)[0] == "n", f"edge {key} twice")
        edges.setdefault(key, []).append(int(m.group(3)))
    return nodes, edges


def check_graph(tool, trace):
    text = run([tool, "graph", trace]).stdout
    check(text.startswith("digraph"), "graph is DOT")
    nodes, edges = dot_graph(text)
    subj = {lab: a for i, (lab, a) in nodes.items() if i.startswith("s")}
    check(set(subj) == set(WANT) and all("shape=ellipse" in a for a in subj.values()),
          f"subject nodes {subj}")
    pubn = [lab for lab in (l for l, _ in nodes.values()) if lab.startswith("publisher ")]
    check(len(pubn) == 1, f"one publisher node: {nodes}")
    for name, (pub, dlv, fan) in WANT.items():
        check(edges.get((pubn[0], name)) == [pub], f"publisher -> {name}: {edges.get((pubn[0], name))}")
        out = [c for (a, b), cs in edges.items() if a == name for c in cs]
        check(sorted(out) == [K] * fan, f"{name} -> subscribers: {out}")
    check(not any(a == pubn[0] and b.startswith("subscriber") for a, b in edges),
          "no edge from the publisher straight to a subscriber")
    nb, eb = dot_graph(run([tool, "graph", trace, "--behaviour"]).stdout)
    check(eb.get((EU, "subscriber")) == [3 * K] and eb.get((US, "subscriber")) == [2 * K],
          f"--behaviour: {eb}")


def check_perfetto(tool, trace, d):
    out = os.path.join(d, "ps.json")
    run([tool, "export", trace, "--format=perfetto", "-o", out])
    with open(out) as f:
        ev = json.load(f)["traceEvents"]
    inst = [e for e in ev if e.get("cat") == "pubsub"]
    check(all(e["ph"] == "i" and "tid" in e and e["ts"] >= 0 for e in inst), "pubsub instants")
    pubs = [e for e in inst if e["name"].startswith("publish ")]
    dlvs = [e for e in inst if e["name"].startswith("deliver ")]
    for name, (pub, dlv, fan) in WANT.items():
        p = [e for e in pubs if e["args"]["subject"] == name]
        check(len(p) == pub and all(e["name"] == "publish " + name and e["args"]["subscribers"] == fan
                                    for e in p), f"publish instants of {name}")
        check(sum(e["args"]["subject"] == name for e in dlvs) == dlv, f"deliver instants of {name}")
    slices = {e["args"]["msg"]: e for e in ev if e["ph"] == "X" and e.get("cat") == "receive"}
    for e in dlvs:                       # the subscriber's slice names the subject too
        s = slices.get(e["args"]["msg"])
        check(s and s["args"].get("subject") == e["args"]["subject"], f"slice of delivery {e}")
    for e in pubs:
        s = slices.get(e["args"]["msg"])
        check(s and s["args"].get("publishes") == e["args"]["subject"] and s["tid"] == e["tid"]
              and s["ts"] == e["ts"], f"slice of publish {e}")
    starts = [e["id"] for e in ev if e["ph"] == "s"]
    ends = [e["id"] for e in ev if e["ph"] == "f"]
    check(sorted(starts) == sorted(ends) and len(set(starts)) == len(starts), "flows paired")


def check_report(tool, trace, d, browser):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import trace_report
    out = os.path.join(d, "ps.html")
    run([tool, "report", trace, "-o", out])
    page = open(out, encoding="utf-8").read()
    trace_report.self_contained(page)
    data = trace_report.embedded(page)
    check(data["subjects_total"] == 3, f"subjects_total {data.get('subjects_total')}")
    got = {s["name"]: (s["pub"], s["del"], s["fmax"]) for s in data["subjects"]}
    check(got == WANT, f"report subjects {got}")
    check([s["name"] for s in data["subjects"]] == [EU, US, NEWS], "report: by traffic")
    if not browser:
        return
    b = trace_report.Browser(d)
    dom, _ = trace_report.page_ok(b, out)
    panel = re.search(r'<section id="pubsub">.*?</section>', dom, re.S)
    check(panel, "the page draws a pub/sub panel")
    rows = re.findall(r"<tr>(.*?)</tr>", panel.group(0), re.S)
    check(len(rows) == 4, f"panel rows: {len(rows)}")        # header + 3 subjects
    for name in WANT:
        check(re.search(f"<td[^>]*>{re.escape(name)}</td>", panel.group(0)), f"panel row for {name}")


def main():
    args = sys.argv[1:]
    browser = args[:1] == ["--browser"]
    tool, prog = args[1:] if browser else args
    with tempfile.TemporaryDirectory() as d:
        trace = os.path.join(d, "ps.trace")
        out = run([prog, str(K)], env=dict(os.environ, ACTO_TRACE=trace)).stdout
        check(f"deliveries eu={K} star={2 * K} all={2 * K}" in out, f"program ran: {out}")
        if browser:
            check_report(tool, trace, d, True)
        else:
            check_summary(tool, trace)
            check_messages_flow(tool, trace)
            check_graph(tool, trace)
            check_perfetto(tool, trace, d)
            check_report(tool, trace, d, False)
            held = dict(os.environ, ACTO_TRACE_STREAM="0")    # streamed == held
            for a in (["summary"], ["summary", "--json"], ["messages"], ["export", "--format=perfetto"],
                      ["graph"], ["graph", "--behaviour"], ["report"], ["report", "--max-slices", "5"],
                      ["dump"]):
                x, y = run([tool, a[0], trace] + a[1:]), run([tool, a[0], trace] + a[1:], env=held)
                check(x.stdout == y.stdout and x.stderr == y.stderr, f"streamed and held {a} differ")
    print("trace_pubsub: all checks passed" + (" (browser)" if browser else ""))


if __name__ == "__main__":
    main()
