#!/usr/bin/env python3
"""tests/trace_report.py - `acto-trace report` opened in headless Chromium.

    trace_report.py ACTO_TRACE_BINARY PINGPONG_BINARY

Records examples/pingpong, writes the HTML report and checks
 - that it is self-contained (nothing fetched: no src=, <link>, @import,
   url() other than in-page fragments, no http address but SVG's namespace);
 - the numbers in its embedded JSON against the program (N + 1 messages,
   the graph's three edges, histograms and busy profile adding up);
 - that Chromium runs its JavaScript with no error and draws a non-empty
   timeline, tables, histograms and the graph (read back with --dump-dom,
   console errors from --enable-logging=stderr);
 - on a trace of 120k+ records, that --max-slices keeps exactly the longest
   slices and the page still draws;
 - that a page whose script fails is caught by these checks (so they can fail);
 - usage errors, a damaged trace and a trace without records.
Chromium is the Debian package `chromium` (scripts/test.sh installs it); if
it is missing the test fails and says so.  ACTO_CHROMIUM overrides the path.
"""
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

N = 500            # pingpong bounces: N + 1 messages with the serve
BIG = 40000        # 3 records per message: > 120k records


def fail(what):
    sys.exit(f"FAILED: {what}")


def check(cond, what):
    if not cond:
        fail(what)


def run(args, status=0, env=None):
    p = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
    if p.returncode != status:
        fail(f"{args}: status {p.returncode}, wanted {status}\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return p


def embedded(page):
    m = re.search(r'<script id="acto-data" type="application/json">(.*?)</script>', page, re.S)
    check(m, "the page embeds its data")
    return json.loads(m.group(1))


def self_contained(page):
    low = page.lower()
    for bad in ("<link", "src=", "@import", "<iframe", "fetch(", "xmlhttprequest"):
        check(bad not in low, f"the page refers to something outside it: {bad!r}")
    urls = re.findall(r"url\(\s*([^)]*)\)", page)
    check(all(u.strip("'\" ").startswith("#") for u in urls), f"url() outside the page: {urls}")
    addrs = set(re.findall(r"https?://[^\s\"')]+", page))
    check(addrs <= {"http://www.w3.org/2000/svg"}, f"addresses in the page: {addrs}")


class Browser:
    def __init__(self, tmp):
        self.exe = os.environ.get("ACTO_CHROMIUM") or shutil.which("chromium") \
            or shutil.which("chromium-browser")
        if not self.exe or not os.access(self.exe, os.X_OK):
            fail(f"chromium not found ({self.exe or 'not on PATH'}): install the Debian "
                 "package 'chromium' (scripts/test.sh does) or set ACTO_CHROMIUM")
        self.tmp = tmp
        self.runs = 0

    def load(self, path, hash=""):
        """The DOM after the page's scripts ran, and its console errors."""
        self.runs += 1
        profile = os.path.join(self.tmp, f"profile{self.runs}")   # fresh every time
        args = [self.exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-extensions", f"--user-data-dir={profile}",
                "--window-size=1280,2000", "--enable-logging=stderr", "--v=0",
                "--dump-dom", "file://" + path + hash]
        p = subprocess.run(args, capture_output=True, text=True, timeout=120)
        check(p.returncode == 0, f"chromium exit {p.returncode}:\n{p.stderr[-3000:]}")
        console = [l for l in p.stderr.splitlines() if ":CONSOLE" in l]
        errors = [l for l in console if re.search(r"Uncaught|Error", l)]
        return p.stdout, errors

    def body(self, path, hash=""):
        dom, errors = self.load(path, hash)
        m = re.search(r"<body([^>]*)>", dom)
        check(m, f"no <body> in the DOM of {path}")
        attrs = {k: html.unescape(v) for k, v in re.findall(r'([\w-]+)="([^"]*)"', m.group(1))}
        return dom, attrs, errors


def page_ok(browser, path, hash=""):
    dom, attrs, errors = browser.body(path, hash)
    check(not errors, f"JavaScript errors in {path}:\n" + "\n".join(errors))
    check(attrs.get("data-status") == "ok", f"page status {attrs.get('data-status')!r}")
    check(int(attrs.get("data-drawn-slices", "0")) > 0, f"timeline without slices: {attrs}")
    check(int(attrs.get("data-drawn", "0")) >= int(attrs["data-drawn-slices"]), "drawn count")
    return dom, attrs


def check_small(tool, browser, d, trace):
    out = os.path.join(d, "pp.html")
    run([tool, "report", trace, "-o", out])
    page = open(out, encoding="utf-8").read()
    self_contained(page)
    data = embedded(page)
    m = data["meta"]
    check(m["handled"] == N + 1 and m["shown"] == N + 1 and m["sent"] == N + 1, f"meta {m}")
    check(not m["damaged"], "not damaged")
    tracks = data["tracks"]
    check(len(tracks) == m["workers"] + 1, f"{len(tracks)} tracks, {m['workers']} workers")
    check(sum(len(t["s"]) for t in tracks) == N + 1, "every slice on the timeline")
    names = {f"{data['behaviours'][b]}/{t}" for b, t in data["labels"]}
    check(names == {"player/1", "player/2"}, f"labels {names}")
    for t in tracks:
        cols = [len(t[c]) for c in "sdlam"]
        check(len(set(cols)) == 1, f"ragged slice columns {cols}")
        check(t["s"] == sorted(t["s"]), "slices in time order")
        # the busy profile holds exactly the handling time of the track
        check(sum(t["pb"]) == sum(t["d"]) == t["busy"], f"{t['name']}: profile {sum(t['pb'])}, "
              f"slices {sum(t['d'])}, busy {t['busy']}")
        check(all(t["s"][i] + t["d"][i] <= m["span"] for i in range(len(t["s"]))), "inside the span")
    check(sum(data["wait"]) == N + 1 and sum(data["handle"]) == N + 1, "histograms count every message")
    g = data["graph"]
    check(g["by"] == "actor" and len(g["nodes"]) == 3, f"graph nodes {g['nodes']}")
    check(sorted(e[2] for e in g["edges"]) == [1, N // 2, N // 2], f"graph edges {g['edges']}")
    check({a["name"] for a in data["by_busy"]} == {"player"} and len(data["by_depth"]) == 2, "top actors")
    check(sum(a["in"] for a in data["by_busy"]) == N + 1, "messages in")

    dom, _ = page_ok(browser, out)
    busy = re.search(r'<table id="top-busy">.*?</table>', dom, re.S)
    check(busy and busy.group(0).count("<tr>") == 3 and "player" in busy.group(0), "top-busy table drawn")
    graph = re.search(r'<svg id="graph".*?</svg>', dom, re.S)
    check(graph and graph.group(0).count('class="edge"') == 3, "graph with three edges drawn")
    check(graph.group(0).count('class="node') == 3, "graph with three nodes drawn")
    check(data["subjects"] == [] and 'id="pubsub"' not in dom, "no pub/sub events, no pub/sub panel")
    hist = re.search(r'<svg id="hist-wait".*?</svg>', dom, re.S)
    check(hist and 'class="hbar"' in hist.group(0), "queue-wait histogram drawn")

    # the checks catch a page whose script fails
    bad = os.path.join(d, "bad.html")
    with open(bad, "w", encoding="utf-8") as f:
        f.write(page.replace('"tracks":[', '"tracks":null,"x":[', 1))
    _, attrs, errors = browser.body(bad)
    check(attrs.get("data-status", "").startswith("error"), f"broken page not reported: {attrs}")
    check(errors, "broken page: no console error captured")
    return data


def check_big(tool, pingpong, browser, d):
    trace = os.path.join(d, "big.trace")
    run([pingpong, str(BIG)], env=dict(os.environ, ACTO_TRACE=trace))
    full, cut = os.path.join(d, "full.html"), os.path.join(d, "cut.html")
    run([tool, "report", trace, "-o", full])
    run([tool, "report", trace, "--max-slices", "2000", "-o", cut])
    fd = embedded(open(full, encoding="utf-8").read())
    cd = embedded(open(cut, encoding="utf-8").read())
    check(fd["meta"]["records"] > 120000, f"big trace: {fd['meta']['records']} records")
    check(fd["meta"]["shown"] == BIG + 1 == cd["meta"]["handled"], "big trace: all slices by default")
    check(cd["meta"]["shown"] == 2000 == sum(len(t["s"]) for t in cd["tracks"]), "--max-slices 2000")
    longest = sorted((x for t in fd["tracks"] for x in t["d"]), reverse=True)[:2000]
    kept = sorted((x for t in cd["tracks"] for x in t["d"]), reverse=True)
    check(kept == longest, "--max-slices keeps the longest slices")
    for a, b in zip(fd["tracks"], cd["tracks"]):
        check(a["pb"] == b["pb"], "the busy profile covers every slice, kept or not")
    check(os.path.getsize(cut) < os.path.getsize(full), "fewer slices, smaller page")
    page_ok(browser, cut)
    # zoomed in (the view in the address) on the longest slice: it is drawn
    t, k = max(((t, k) for t in cd["tracks"] for k in range(len(t["d"]))), key=lambda x: x[0]["d"][x[1]])
    a, b = t["s"][k], t["s"][k] + max(t["d"][k], 1000)
    _, attrs = page_ok(browser, cut, f"#t={a}-{b}")
    check(attrs.get("data-view") == f"{a}-{min(b, cd['meta']['span'])}", f"zoomed view {attrs}")
    return trace


def main():
    tool, pingpong = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as d:
        browser = Browser(d)
        trace = os.path.join(d, "pp.trace")
        out = run([pingpong, str(N)], env=dict(os.environ, ACTO_TRACE=trace)).stdout
        check(f"{N} messages" in out, "pingpong ran")
        check_small(tool, browser, d, trace)
        big = check_big(tool, pingpong, browser, d)

        # a damaged trace: status 2 and a page that says so
        with open(big, "rb") as f:
            data = f.read()
        cut = os.path.join(d, "cut.trace")
        with open(cut, "wb") as f:
            f.write(data[: len(data) // 2])
        dmg = os.path.join(d, "damaged.html")
        p = run([tool, "report", cut, "-o", dmg], status=2)
        check("damaged" in p.stderr, f"damage reported: {p.stderr}")
        meta = embedded(open(dmg, encoding="utf-8").read())["meta"]
        check(meta["damaged"] and 0 < meta["handled"] < BIG + 1, f"damaged meta {meta}")
        dom, _ = page_ok(browser, dmg)
        check("Damaged trace" in dom, "the page shows the damage")

        # a trace with no records (header only): an empty page, still no error
        empty = os.path.join(d, "empty.trace")
        with open(empty, "wb") as f:   # magic + {"version": 1, "workers": 2}
            f.write(b"ACTOTRC\n\x82\xa7version\x01\xa7workers\x02")
        eh = os.path.join(d, "empty.html")
        run([tool, "report", empty, "-o", eh])
        check(embedded(open(eh, encoding="utf-8").read())["meta"]["records"] == 0, "empty meta")
        _, attrs, errors = browser.body(eh)
        check(not errors and attrs.get("data-status") == "ok", f"empty trace page: {attrs} {errors}")
        check(attrs.get("data-drawn-slices") in (None, "0"), f"empty trace drew slices: {attrs}")

        # usage errors
        for bad in (["--max-slices", "0"], ["--max-slices", "x"], ["--frobnicate"]):
            run([tool, "report", trace] + bad, status=1)
    print(f"trace_report: all checks passed ({browser.runs} pages in {browser.exe})")


if __name__ == "__main__":
    main()
