/* tools/trace/report/report.js - draws an `acto-trace report` page from the
 * JSON document in <script id="acto-data"> (written by cmd_report.c).
 * Embedded into the page at build time (embed.cmake); no network access.
 *
 * The page reports how drawing went on <body>: data-status is "ok" or
 * "error: ...", data-drawn the number of rectangles drawn in the timeline
 * (data-drawn-slices: of them, handling slices), data-view the time window
 * shown (what tests/trace_report.py checks in headless Chromium). */
(function () {
    "use strict";
    const body = document.body;
    let failed = false;

    function fail(msg) {
        failed = true;
        body.dataset.status = "error: " + msg;
        const p = document.createElement("p");
        p.className = "warn";
        p.textContent = "The report could not be drawn: " + msg;
        body.insertBefore(p, body.firstChild);
    }
    window.addEventListener("error", (e) => fail(String(e.message)));

    /* ---- helpers ---------------------------------------------------------------------- */

    function el(tag, attrs, kids) {
        const e = document.createElement(tag);
        for (const k in attrs || {}) {
            if (k === "text") e.textContent = attrs[k];
            else e.setAttribute(k, attrs[k]);
        }
        for (const c of kids || []) e.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
        return e;
    }

    const SVGNS = "http://www.w3.org/2000/svg";   /* a namespace name, never fetched */
    function sv(tag, attrs, text) {
        const e = document.createElementNS(SVGNS, tag);
        for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
        if (text !== undefined) e.textContent = text;
        return e;
    }

    function fmtNs(ns) {
        if (ns < 1e3) return Math.round(ns) + "ns";
        if (ns < 1e6) return (ns / 1e3).toFixed(2) + "us";
        if (ns < 1e9) return (ns / 1e6).toFixed(2) + "ms";
        return (ns / 1e9).toFixed(3) + "s";
    }
    const fmtInt = (n) => Number(n).toLocaleString("en-US");
    /* axis labels: "262us", "4.1us", "1ms" */
    function fmtShort(ns) {
        const u = ns < 1e3 ? [1, "ns"] : ns < 1e6 ? [1e3, "us"] : ns < 1e9 ? [1e6, "ms"] : [1e9, "s"];
        const v = ns / u[0];
        return (v >= 10 ? Math.round(v) : Math.round(v * 10) / 10) + u[1];
    }

    function typeName(t) {
        return t >= 0xFFFF0000 ? "sys+" + (t - 0xFFFF0000) : String(t);
    }

    /* ---- the data --------------------------------------------------------------------- */

    const D = JSON.parse(document.getElementById("acto-data").textContent);
    const M = D.meta;
    const NB = D.tracks.length ? D.tracks[0].pb.length : 1;
    const BINW = Math.floor(M.span / NB) + 1;          /* as cmd_report.c computes it */

    function behColor(b, light) {
        if (b < 0) return "hsl(0, 0%, " + (light || 62) + "%)";
        return "hsl(" + ((b * 137.508 + 200) % 360).toFixed(1) + ", 58%, " + (light || 52) + "%)";
    }
    function labelName(l) {
        const x = D.labels[l];
        return (x[0] >= 0 ? D.behaviours[x[0]] : "?") + "/" + typeName(x[1]);
    }
    const labelColor = D.labels.map((x) => behColor(x[0]));

    /* ---- header ----------------------------------------------------------------------- */

    function header(app) {
        document.title = "acto trace: " + M.program + " (pid " + M.pid + ")";
        app.appendChild(el("h1", { text: "acto trace report: " + M.program }));
        const when = M.start_unix_ms ? new Date(M.start_unix_ms).toISOString() : "?";
        app.appendChild(el("div", { class: "sub",
            text: "pid " + M.pid + ", " + M.workers + " workers, clock " + M.clock +
                  ", started " + when + ", trace format " + M.version }));
        const facts = [["span", fmtNs(M.span)], ["records", fmtInt(M.records)],
                       ["actors", fmtInt(M.actors)], ["messages sent", fmtInt(M.sent)],
                       ["messages handled", fmtInt(M.handled)]];
        app.appendChild(el("div", { class: "facts" },
            facts.map((f) => el("div", {}, [el("b", { text: f[1] }), el("span", { text: f[0] })]))));
        if (M.damaged)
            app.appendChild(el("p", { class: "warn",
                text: "Damaged trace: " + M.error + ". This report covers the records before the damage." }));
        if (M.skipped)
            app.appendChild(el("p", { class: "warn",
                text: fmtInt(M.skipped) + " records of kinds this tool does not know were skipped." }));
    }

    /* ---- timeline --------------------------------------------------------------------- */

    function lowerBound(a, v) {
        let lo = 0, hi = a.length;
        while (lo < hi) {
            const mid = (lo + hi) >> 1;
            if (a[mid] < v) lo = mid + 1; else hi = mid;
        }
        return lo;
    }

    /* a tick label: the unit of the view's end, as many decimals as the step needs */
    function fmtTick(t, step, end) {
        const u = end < 1e3 ? [1, "ns"] : end < 1e6 ? [1e3, "us"] : end < 1e9 ? [1e6, "ms"] : [1e9, "s"];
        const d = Math.max(0, Math.ceil(-Math.log10(step / u[0]) - 1e-9));
        return (t / u[0]).toFixed(d) + u[1];
    }

    function niceStep(range, target) {
        const raw = range / target, p = Math.pow(10, Math.floor(Math.log10(raw)));
        for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
        return 10 * p;
    }

    function timeline(app) {
        app.appendChild(el("h2", { text: "Timeline" }));
        const note = M.shown < M.handled
            ? "Showing the " + fmtInt(M.shown) + " longest of " + fmtInt(M.handled) +
              " message-handling slices; the shaded band under them is every worker's busy " +
              "fraction over time (all messages), coloured by the behaviour that was busiest."
            : "Each bar is one handled message (behaviour/type); the shaded band is the busy " +
              "fraction over time, coloured by the busiest behaviour.";
        app.appendChild(el("div", { class: "note", text: note + " Wheel or +/- to zoom, drag to pan, double-click to reset." }));
        const range = el("span", { class: "note mono" });
        const bIn = el("button", { type: "button", text: "+" });
        const bOut = el("button", { type: "button", text: "\u2212" });
        const bReset = el("button", { type: "button", text: "reset" });
        app.appendChild(el("div", { class: "toolbar" }, [bIn, bOut, bReset, range]));
        const canvas = el("canvas", { id: "timeline" });
        const tip = el("div", { class: "tip" });
        const wrap = el("div", { class: "tl-wrap" }, [canvas, tip]);
        app.appendChild(wrap);

        const legend = el("div", { class: "legend" });
        D.behaviours.forEach((b, i) => legend.appendChild(el("span", {}, [el("i", { style: "background:" + behColor(i) }), b])));
        app.appendChild(legend);

        const T = D.tracks;
        const LW = 120, AX = 24, ROW = 30, GAP = 6;
        const maxDur = T.map((t) => t.d.reduce((a, b) => (b > a ? b : a), 0));
        const span = Math.max(M.span, 1);
        let v0 = 0, v1 = span;
        /* the view is kept in the address, "#t=2ms-2.5ms", to share or reload it */
        const unit = { ns: 1, us: 1e3, ms: 1e6, s: 1e9 };
        const hv = /^#t=([\d.]+)(ns|us|ms|s)?-([\d.]+)(ns|us|ms|s)?$/.exec(location.hash);
        if (hv) {
            const a = Number(hv[1]) * unit[hv[2] || "ns"], b = Number(hv[3]) * unit[hv[4] || "ns"];
            if (a >= 0 && b > a) { v0 = Math.min(a, span - 1); v1 = Math.min(Math.max(b, v0 + 100), span); }
        }
        const keepView = () => {
            const h = v0 === 0 && v1 === span ? "" : "#t=" + Math.round(v0) + "-" + Math.round(v1);
            if (location.hash !== h) history.replaceState(null, "", h || location.pathname + location.search);
        };
        const H = AX + T.length * (ROW + GAP) + 4;
        let W = 0;

        const X = (t) => LW + (t - v0) / (v1 - v0) * (W - LW);
        const Tm = (x) => v0 + (x - LW) / (W - LW) * (v1 - v0);

        function drawProfile(ctx, tr, y) {
            const k0 = Math.max(0, Math.floor(v0 / BINW)), k1 = Math.min(NB - 1, Math.floor(v1 / BINW));
            let col = -1, best = 0, lab = -1, n = 0;
            const flush = () => {
                if (col >= 0 && best > 0) {
                    ctx.fillStyle = lab >= 0 ? labelColor[lab] : "#999";
                    ctx.globalAlpha = 0.3;
                    const h = Math.max(1, Math.min(1, best) * ROW);
                    ctx.fillRect(col, y + ROW - h, 1, h);
                    ctx.globalAlpha = 1;
                    n++;
                }
            };
            for (let k = k0; k <= k1; k++) {
                const f = tr.pb[k] / BINW;
                const xa = Math.max(LW, X(k * BINW)), xb = Math.min(W, X((k + 1) * BINW));
                if (xb - xa >= 1) {            /* wide bin: its own rectangle */
                    flush(); col = -1; best = 0;
                    if (f > 0) {
                        ctx.fillStyle = tr.pl[k] >= 0 ? labelColor[tr.pl[k]] : "#999";
                        ctx.globalAlpha = 0.3;
                        const h = Math.max(1, Math.min(1, f) * ROW);
                        ctx.fillRect(xa, y + ROW - h, xb - xa, h);
                        ctx.globalAlpha = 1;
                        n++;
                    }
                    continue;
                }
                const c = Math.floor(xa);    /* narrow bins: the busiest per pixel column */
                if (c !== col) { flush(); col = c; best = 0; lab = -1; }
                if (f > best) { best = f; lab = tr.pl[k]; }
            }
            flush();
            return n;
        }

        function drawSlices(ctx, tr, y, ti) {
            let n = 0, pend = null;
            const flush = () => {
                if (!pend) return;
                /* a merged run is as opaque as it was busy */
                const w = Math.max(1, pend.x1 - pend.x0);
                ctx.globalAlpha = Math.max(0.35, Math.min(1, pend.busy / w));
                ctx.fillStyle = labelColor[pend.l];
                ctx.fillRect(pend.x0, y + 2, w, ROW - 4);
                ctx.globalAlpha = 1;
                if (pend.n === 1 && pend.x1 - pend.x0 > 60) {     /* one slice: name it */
                    ctx.save();
                    ctx.beginPath();
                    ctx.rect(pend.x0, y, pend.x1 - pend.x0 - 2, ROW);
                    ctx.clip();
                    ctx.fillStyle = "#fff";
                    ctx.fillText(labelName(pend.l), pend.x0 + 3, y + ROW / 2 + 4);
                    ctx.restore();
                }
                n++;
                pend = null;
            };
            for (let k = lowerBound(tr.s, v0 - maxDur[ti]); k < tr.s.length && tr.s[k] <= v1; k++) {
                const s = tr.s[k], e = s + tr.d[k];
                if (e < v0) continue;
                const x0 = Math.max(LW, X(s)), x1 = Math.min(W, X(e));
                /* sub-pixel slices next to each other: one rectangle */
                if (pend && x1 - x0 < 1 && x0 <= pend.x1 + 1) {
                    pend.x1 = Math.max(pend.x1, x1);
                    pend.busy += Math.max(0, x1 - x0);
                    pend.n++;
                    continue;
                }
                flush();
                pend = { x0: x0, x1: x1, l: tr.l[k], busy: Math.max(1, x1 - x0), n: 1 };
            }
            flush();
            return n;
        }

        function drawAxis(ctx) {
            ctx.fillStyle = "#66707c";
            ctx.strokeStyle = "#e3e7eb";
            const step = niceStep(v1 - v0, Math.max(2, (W - LW) / 110));
            for (let t = Math.ceil(v0 / step) * step; t <= v1; t += step) {
                const x = Math.round(X(t)) + 0.5;
                ctx.beginPath();
                ctx.moveTo(x, AX - 4);
                ctx.lineTo(x, H);
                ctx.stroke();
                ctx.fillText(fmtTick(t, step, v1), x + 3, AX - 8);
            }
        }

        function draw() {
            W = Math.max(400, wrap.clientWidth || 1000);
            const dpr = window.devicePixelRatio || 1;
            canvas.width = Math.round(W * dpr);
            canvas.height = Math.round(H * dpr);
            canvas.style.height = H + "px";
            const ctx = canvas.getContext("2d");
            ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
            ctx.clearRect(0, 0, W, H);
            ctx.font = "11px ui-monospace, 'DejaVu Sans Mono', monospace";
            drawAxis(ctx);
            let drawn = 0, slices = 0;
            T.forEach((tr, i) => {
                const y = AX + i * (ROW + GAP);
                ctx.fillStyle = i % 2 ? "#fafbfc" : "#f3f5f7";
                ctx.fillRect(LW, y, W - LW, ROW);
                ctx.fillStyle = "#1d232b";
                ctx.fillText(tr.name, 6, y + ROW / 2 + 4);
                drawn += drawProfile(ctx, tr, y);
                const n = drawSlices(ctx, tr, y, i);
                slices += n;
                drawn += n;
            });
            range.textContent = fmtNs(v0) + " \u2013 " + fmtNs(v1) + "  (" + fmtNs(v1 - v0) + " shown)";
            body.dataset.drawn = drawn;
            body.dataset.drawnSlices = slices;
            body.dataset.view = Math.round(v0) + "-" + Math.round(v1);
            keepView();
        }

        function zoom(factor, at) {
            const w = Math.min(span, Math.max(100, (v1 - v0) * factor));
            let a = at - (at - v0) * (w / (v1 - v0));
            a = Math.max(0, Math.min(span - w, a));
            v0 = a; v1 = a + w;
            draw();
        }

        canvas.addEventListener("wheel", (e) => {
            e.preventDefault();
            const x = e.offsetX;
            zoom(Math.exp(e.deltaY * 0.002), x > LW ? Tm(x) : (v0 + v1) / 2);
        }, { passive: false });
        let drag = null;
        canvas.addEventListener("mousedown", (e) => { drag = { x: e.clientX, v0: v0, v1: v1 }; canvas.classList.add("drag"); });
        window.addEventListener("mouseup", () => { drag = null; canvas.classList.remove("drag"); });
        window.addEventListener("mousemove", (e) => {
            if (!drag) return;
            const dt = (e.clientX - drag.x) / (W - LW) * (drag.v1 - drag.v0);
            const a = Math.max(0, Math.min(span - (drag.v1 - drag.v0), drag.v0 - dt));
            v0 = a; v1 = a + (drag.v1 - drag.v0);
            draw();
        });
        canvas.addEventListener("dblclick", () => { v0 = 0; v1 = span; draw(); });
        bIn.addEventListener("click", () => zoom(0.5, (v0 + v1) / 2));
        bOut.addEventListener("click", () => zoom(2, (v0 + v1) / 2));
        bReset.addEventListener("click", () => { v0 = 0; v1 = span; draw(); });
        window.addEventListener("keydown", (e) => {
            if (e.key === "+" || e.key === "=") zoom(0.5, (v0 + v1) / 2);
            else if (e.key === "-") zoom(2, (v0 + v1) / 2);
        });
        window.addEventListener("resize", draw);

        /* tooltip: the slice under the pointer, else the busy profile */
        canvas.addEventListener("mousemove", (e) => {
            const x = e.offsetX, y = e.offsetY, i = Math.floor((y - AX) / (ROW + GAP));
            tip.style.display = "none";
            if (drag || x < LW || i < 0 || i >= T.length || y - AX - i * (ROW + GAP) > ROW) return;
            const tr = T[i], t = Tm(x), tol = 2 * (v1 - v0) / (W - LW);
            let hit = -1;
            for (let k = lowerBound(tr.s, t - maxDur[i] - tol), n = 0; k < tr.s.length && tr.s[k] <= t + tol && n < 20000; k++, n++)
                if (tr.s[k] + tr.d[k] >= t - tol) hit = k;
            let text;
            if (hit >= 0) {
                const a = tr.a[hit] >= 0 ? D.ta[tr.a[hit]] : null;
                text = labelName(tr.l[hit]) + "\nactor    " + (a ? a[0] : "?") +
                       "\nmessage  " + tr.m[hit] + "\nstart    " + fmtNs(tr.s[hit]) +
                       "\nhandled  " + fmtNs(tr.d[hit]) + "\n(acto-trace flow TRACE " + tr.m[hit] + ")";
            } else {
                const k = Math.min(NB - 1, Math.max(0, Math.floor(t / BINW)));
                text = tr.name + "  " + fmtNs(k * BINW) + " \u2013 " + fmtNs((k + 1) * BINW) +
                       "\nbusy " + (100 * Math.min(1, tr.pb[k] / BINW)).toFixed(1) + "%" +
                       (tr.pl[k] >= 0 ? ", mostly " + labelName(tr.pl[k]) : "");
            }
            tip.textContent = text;
            tip.style.display = "block";
            tip.style.left = Math.min(x + 14, W - 260) + "px";
            tip.style.top = (y + 14) + "px";
        });
        canvas.addEventListener("mouseleave", () => { tip.style.display = "none"; });
        draw();
    }

    /* ---- tables ----------------------------------------------------------------------- */

    function table(cols, rows) {
        const head = el("tr", {}, cols.map((c) => el("th", { class: c.num ? "num" : "", text: c.h })));
        const trs = rows.map((r) => el("tr", {}, cols.map((c) => {
            const td = el("td", { class: c.cls || (c.num ? "num" : "") });
            const v = c.f(r);
            if (v instanceof Node) td.appendChild(v); else td.textContent = v;
            return td;
        })));
        return el("table", {}, [el("thead", {}, [head]), el("tbody", {}, trs)]);
    }

    function bar(frac) {
        return el("div", { style: "width:" + (100 * Math.max(0, Math.min(1, frac))).toFixed(1) + "%" });
    }

    function workers(app) {
        app.appendChild(el("h2", { text: "Workers and other threads" }));
        app.appendChild(table([
            { h: "track", f: (t) => t.name },
            { h: "busy %", num: 1, f: (t) => (M.span ? 100 * t.busy / M.span : 0).toFixed(1) + "%" },
            { h: "", cls: "bar", f: (t) => bar(M.span ? t.busy / M.span : 0) },
            { h: "busy", num: 1, f: (t) => fmtNs(t.busy) },
            { h: "handled", num: 1, f: (t) => fmtInt(t.handled) },
            { h: "steals", num: 1, f: (t) => fmtInt(t.steals) },
            { h: "sleeps", num: 1, f: (t) => fmtInt(t.sleeps) },
        ], D.tracks));
    }

    function actors(app) {
        app.appendChild(el("h2", { text: "Top actors" }));
        app.appendChild(el("div", { class: "note",
            text: "wait = send to receive begin (time in the mailbox); handle = time in receive; " +
                  "max mailbox = most messages sent to the actor and not yet taken." }));
        const maxBusy = D.by_busy.length ? Math.max(1, D.by_busy[0].busy) : 1;
        const maxDepth = D.by_depth.length ? Math.max(1, D.by_depth[0].depth) : 1;
        const common = [
            { h: "actor", f: (a) => a.name },
            { h: "pid", cls: "pid", f: (a) => a.pid },
            { h: "in", num: 1, f: (a) => fmtInt(a.in) },
            { h: "out", num: 1, f: (a) => fmtInt(a.out) },
        ];
        const busy = table(common.concat([
            { h: "busy", num: 1, f: (a) => fmtNs(a.busy) },
            { h: "", cls: "bar", f: (a) => bar(a.busy / maxBusy) },
            { h: "handle p50", num: 1, f: (a) => fmtNs(a.h50) },
            { h: "p99", num: 1, f: (a) => fmtNs(a.h99) },
            { h: "max", num: 1, f: (a) => fmtNs(a.hmax) },
        ]), D.by_busy);
        busy.id = "top-busy";
        const depth = table(common.concat([
            { h: "max mailbox", num: 1, f: (a) => fmtInt(a.depth) },
            { h: "", cls: "bar", f: (a) => bar(a.depth / maxDepth) },
            { h: "wait p50", num: 1, f: (a) => fmtNs(a.w50) },
            { h: "p99", num: 1, f: (a) => fmtNs(a.w99) },
            { h: "max", num: 1, f: (a) => fmtNs(a.wmax) },
        ]), D.by_depth);
        depth.id = "top-depth";
        app.appendChild(el("div", { class: "cols" }, [
            el("div", {}, [el("h3", { text: "by busy time" }), busy]),
            el("div", {}, [el("h3", { text: "by max mailbox depth" }), depth])]));
    }

    /* ---- histograms (log2 buckets: k holds [2^(k-1), 2^k) ns, 0 holds 0) --------------- */

    function histogram(title, h, id) {
        let lo = h.findIndex((c) => c > 0), hi = h.length - 1;
        while (hi > 0 && !h[hi]) hi--;
        const box = el("div", {}, [el("h3", { text: title })]);
        if (lo < 0) {
            box.appendChild(el("div", { class: "note", text: "no samples" }));
            return box;
        }
        const n = hi - lo + 1, BW = Math.max(14, Math.min(40, Math.floor(560 / n)));
        const W = 60 + n * BW + 10, H = 200, PH = 150, max = Math.max(...h);
        const s = sv("svg", { id: id, width: W, height: H, viewBox: "0 0 " + W + " " + H });
        s.appendChild(sv("line", { class: "axis", x1: 58, y1: 10, x2: 58, y2: 10 + PH }));
        s.appendChild(sv("line", { class: "axis", x1: 58, y1: 10 + PH, x2: W - 5, y2: 10 + PH }));
        s.appendChild(sv("text", { x: 54, y: 16, "text-anchor": "end" }, fmtInt(max)));
        s.appendChild(sv("text", { x: 54, y: 10 + PH, "text-anchor": "end" }, "0"));
        const total = h.reduce((a, b) => a + b, 0);
        for (let k = lo; k <= hi; k++) {
            const x = 60 + (k - lo) * BW, bh = h[k] ? Math.max(1, h[k] / max * PH) : 0;
            const from = k ? Math.pow(2, k - 1) : 0, to = k ? Math.pow(2, k) : 0;
            const r = sv("rect", { class: "hbar", x: x + 1, y: 10 + PH - bh, width: BW - 2, height: bh });
            r.appendChild(sv("title", {}, (k ? fmtNs(from) + " \u2013 " + fmtNs(to) : "0ns") + ": " +
                fmtInt(h[k]) + " (" + (100 * h[k] / total).toFixed(1) + "%)"));
            s.appendChild(r);
            if ((k - lo) % Math.ceil(n * 48 / (n * BW)) === 0)
                s.appendChild(sv("text", { x: x + 2, y: 10 + PH + 14 }, k ? fmtShort(from) : "0"));
        }
        box.appendChild(s);
        return box;
    }

    function histograms(app) {
        app.appendChild(el("h2", { text: "Queue wait and handling time" }));
        app.appendChild(el("div", { class: "note",
            text: "Messages per power-of-two time bucket (hover a bar for its range and count)." }));
        app.appendChild(el("div", { class: "cols" }, [
            histogram("queue wait (send \u2192 receive begin)", D.wait, "hist-wait"),
            histogram("handling time (receive)", D.handle, "hist-handle")]));
    }

    /* ---- the actor graph: a small deterministic force layout -------------------------- */

    function layout(nodes, edges, W, H) {
        const n = nodes.length, k = Math.sqrt(W * H / Math.max(1, n)) * 0.6;
        const p = nodes.map((_, i) => ({
            x: W / 2 + Math.cos(2 * Math.PI * i / n) * W / 3,
            y: H / 2 + Math.sin(2 * Math.PI * i / n) * H / 3 }));
        let temp = W / 8;
        for (let it = 0; it < 300; it++, temp *= 0.985) {
            const d = p.map(() => ({ x: 0, y: 0 }));
            for (let i = 0; i < n; i++)
                for (let j = i + 1; j < n; j++) {
                    let dx = p[i].x - p[j].x, dy = p[i].y - p[j].y;
                    const dist = Math.max(1, Math.hypot(dx, dy)), f = k * k / dist;
                    dx /= dist; dy /= dist;
                    d[i].x += dx * f; d[i].y += dy * f; d[j].x -= dx * f; d[j].y -= dy * f;
                }
            for (const e of edges) {
                if (e[0] === e[1]) continue;
                const a = p[e[0]], b = p[e[1]];
                let dx = a.x - b.x, dy = a.y - b.y;
                const dist = Math.max(1, Math.hypot(dx, dy)), f = dist * dist / k;
                dx /= dist; dy /= dist;
                d[e[0]].x -= dx * f; d[e[0]].y -= dy * f; d[e[1]].x += dx * f; d[e[1]].y += dy * f;
            }
            for (let i = 0; i < n; i++) {
                d[i].x += (W / 2 - p[i].x) * 0.05 * k / 10;
                d[i].y += (H / 2 - p[i].y) * 0.05 * k / 10;
                const len = Math.max(1e-9, Math.hypot(d[i].x, d[i].y)), s = Math.min(len, temp) / len;
                p[i].x = Math.max(80, Math.min(W - 80, p[i].x + d[i].x * s));
                p[i].y = Math.max(30, Math.min(H - 30, p[i].y + d[i].y * s));
            }
        }
        return p;
    }

    function graph(app) {
        const G = D.graph;
        app.appendChild(el("h2", { text: "Who sends to whom" }));
        app.appendChild(el("div", { class: "note", text:
            "One node per " + G.by + (G.by === "behaviour" ? " (the trace has many actors)" : "") +
            "; edges carry message counts (user messages; monitors and links left out)" +
            (G.edges_total > G.edges.length ? "; the " + G.edges.length + " busiest of " +
             G.edges_total + " edges shown" : "") + ". acto-trace graph gives the full graph as DOT." }));
        const n = G.nodes.length;
        if (!n) {
            app.appendChild(el("div", { class: "note", text: "no messages between actors" }));
            return;
        }
        const W = Math.max(600, Math.min(1300, 220 * Math.sqrt(n) + 300));
        const H = Math.max(320, Math.min(1000, 150 * Math.sqrt(n) + 150));
        const p = layout(G.nodes, G.edges, W, H);
        const s = sv("svg", { id: "graph", width: W, height: H, viewBox: "0 0 " + W + " " + H });
        const defs = sv("defs");
        const mk = sv("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5,
                                  markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" });
        mk.appendChild(sv("path", { d: "M0,0 L10,5 L0,10 z", fill: "#7d8896" }));
        defs.appendChild(mk);
        s.appendChild(defs);
        const label = (nd) => nd.name + (nd.pid ? " " + nd.pid : "");
        const half = G.nodes.map((nd) => ({ w: label(nd).length * 3.6 + 10, h: 12 }));
        const maxc = Math.max(...G.edges.map((e) => e[2]));
        /* where the segment from the centre of node i towards (x, y) leaves its box */
        const rim = (i, x, y) => {
            const dx = x - p[i].x, dy = y - p[i].y;
            const t = Math.min(half[i].w / Math.max(1e-9, Math.abs(dx)), half[i].h / Math.max(1e-9, Math.abs(dy)), 1);
            return { x: p[i].x + dx * t, y: p[i].y + dy * t };
        };
        for (const e of G.edges) {
            const w = 1 + 3 * Math.log(e[2]) / Math.log(Math.max(2, maxc));
            const g = sv("g");
            let d, lx, ly;
            if (e[0] === e[1]) {            /* to itself: a loop above the node */
                const c = p[e[0]], hw = half[e[0]].w * 0.5, hh = half[e[0]].h;
                d = "M" + (c.x - hw) + "," + (c.y - hh) + " C" + (c.x - hw) + "," + (c.y - hh - 40) + " " +
                    (c.x + hw) + "," + (c.y - hh - 40) + " " + (c.x + hw) + "," + (c.y - hh);
                lx = c.x; ly = c.y - hh - 32;
            } else {                         /* curved, so a->b and b->a do not overlap */
                const a = p[e[0]], b = p[e[1]], mx = (a.x + b.x) / 2, my = (a.y + b.y) / 2;
                const len = Math.max(1, Math.hypot(b.x - a.x, b.y - a.y));
                const cx = mx - (b.y - a.y) / len * 24, cy = my + (b.x - a.x) / len * 24;
                const s0 = rim(e[0], cx, cy), s1 = rim(e[1], cx, cy);
                d = "M" + s0.x + "," + s0.y + " Q" + cx + "," + cy + " " + s1.x + "," + s1.y;
                lx = (s0.x + 2 * cx + s1.x) / 4; ly = (s0.y + 2 * cy + s1.y) / 4 - 3;
            }
            g.appendChild(sv("path", { class: "edge", d: d, "stroke-width": w.toFixed(2), "marker-end": "url(#arrow)" }));
            g.appendChild(sv("text", { class: "edge-label", x: lx, y: ly, "text-anchor": "middle" }, fmtInt(e[2])));
            g.appendChild(sv("title", {}, label(G.nodes[e[0]]) + " \u2192 " + label(G.nodes[e[1]]) + ": " + fmtInt(e[2]) + " messages"));
            s.appendChild(g);
        }
        G.nodes.forEach((nd, i) => {
            const g = sv("g", { class: "node" + (nd.name === "(outside actors)" && !nd.pid ? " outside" : "") });
            g.appendChild(sv("rect", { x: p[i].x - half[i].w, y: p[i].y - half[i].h, width: 2 * half[i].w,
                                       height: 2 * half[i].h, rx: 4 }));
            g.appendChild(sv("text", { x: p[i].x, y: p[i].y + 4, "text-anchor": "middle" }, label(nd)));
            s.appendChild(g);
        });
        app.appendChild(el("div", { class: "graph-box" }, [s]));
    }

    /* ---- pub/sub: subjects by traffic (only when the trace has pub/sub events) ---------- */

    function pubsub(app) {
        const S = D.subjects || [];
        if (!S.length) return;
        const sec = el("section", { id: "pubsub" });
        sec.appendChild(el("h2", { text: "Pub/sub subjects" }));
        sec.appendChild(el("div", { class: "note", text:
            "By traffic (publishes + deliveries)" + (D.subjects_total > S.length ? "; the " + S.length +
            " busiest of " + D.subjects_total + " subjects" : "") + ". publishes = routed by a channel " +
            "shard; fan-out = subscribers one publish reached; wait = delivery sent to its receive " +
            "begin. acto-trace summary lists every subject." }));
        const maxT = Math.max(1, ...S.map((s) => s.pub + s.del));
        const t = table([
            { h: "subject", f: (s) => s.name || "(several)" },
            { h: "publishes", num: 1, f: (s) => fmtInt(s.pub) },
            { h: "deliveries", num: 1, f: (s) => fmtInt(s.del) },
            { h: "", cls: "bar", f: (s) => bar((s.pub + s.del) / maxT) },
            { h: "reached", num: 1, f: (s) => fmtInt(s.reached) },
            { h: "fan-out p50", num: 1, f: (s) => fmtInt(s.f50) },
            { h: "max", num: 1, f: (s) => fmtInt(s.fmax) },
            { h: "wait p50", num: 1, f: (s) => s.waits ? fmtNs(s.w50) : "-" },
            { h: "p99", num: 1, f: (s) => s.waits ? fmtNs(s.w99) : "-" },
            { h: "max", num: 1, f: (s) => s.waits ? fmtNs(s.wmax) : "-" },
        ], S);
        t.id = "pubsub-subjects";
        sec.appendChild(t);
        app.appendChild(sec);
    }

    /* ---- the page ----------------------------------------------------------------------- */

    try {
        const app = document.getElementById("app");
        header(app);
        timeline(app);
        workers(app);
        actors(app);
        histograms(app);
        graph(app);
        pubsub(app);
        app.appendChild(el("p", { class: "note",
            text: "Generated by acto-trace report. Text tables of the same numbers: acto-trace summary TRACE." }));
        if (!failed) body.dataset.status = "ok";
    } catch (e) {
        fail(String(e && e.stack || e));
    }
})();
