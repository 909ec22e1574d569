#!/usr/bin/env python3
"""acto-trace top against a live examples/pingpong started with ACTO_INSPECT.

    inspect_top.py ACTO_TRACE PINGPONG

Checks: plain snapshots (--iterations 2) with the workers and the players;
--sort; the terminal mode in a pseudo-terminal ('q' quits and restores the
terminal); the endpoint going away mid-session and a refused connection
(clear error, exit 1); usage errors.  Prints "FAILED: ..." and exits 1 on
the first failure; sanitizer reports of pingpong are echoed (ctest's
FAIL_REGULAR_EXPRESSION sees them).
"""
import os
import pty
import re
import select
import signal
import socket
import subprocess
import sys
import termios
import time

TOOL, PINGPONG = sys.argv[1], sys.argv[2]
LIMIT = 120  # seconds for any one step (sanitizer builds are slow)


def fail(msg):
    print("FAILED: " + msg)
    sys.exit(1)


def top(*args, timeout=LIMIT):
    p = subprocess.run([TOOL, "top", *args], capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def start_pingpong():
    env = dict(os.environ, ACTO_INSPECT="0")
    p = subprocess.Popen([PINGPONG, "1000000000000"], env=env, stderr=subprocess.PIPE,
                         stdout=subprocess.DEVNULL)
    line, deadline = b"", time.monotonic() + LIMIT
    while b"\n" not in line:
        r, _, _ = select.select([p.stderr], [], [], max(0.0, deadline - time.monotonic()))
        if not r:
            p.kill()
            fail("pingpong did not print the endpoint address")
        c = os.read(p.stderr.fileno(), 1)
        if not c:
            fail("pingpong exited early: " + line.decode(errors="replace"))
        line += c
    m = re.search(rb"acto: inspect: listening on (\S+)", line)
    if not m:
        fail("unexpected first stderr line: %r" % line)
    return p, m.group(1).decode()


def stop(p):
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=LIMIT)
    rest = p.stderr.read().decode(errors="replace")
    if rest:
        sys.stdout.write(rest)   # sanitizer reports, if any


def snapshots(out):
    """Split plain output into snapshots: (header lines, worker rows, actor rows)."""
    snaps, part = [], None
    for line in out.splitlines():
        if line.startswith("acto top "):
            snaps.append(([line], [], []))
            part = 0
        elif not snaps:
            fail("output does not start with a snapshot header: %r" % out[:200])
        elif line.startswith("WORKER "):
            part = 1
        elif line.startswith("PID "):
            part = 2
        elif line.strip():
            snaps[-1][part].append(line)
    return snaps


def check_plain(out, os_pid, nworkers):
    snaps = snapshots(out)
    if len(snaps) != 2:
        fail("expected 2 snapshots, got %d:\n%s" % (len(snaps), out))
    for head, workers, actors in snaps:
        if not re.match(r"acto top  127\.0\.0\.1:\d+  pid %d  (uring|epoll)  interval [0-9.]+s  sort mbox$"
                        % os_pid, head[0]):
            fail("bad header: " + head[0])
        if len(workers) != nworkers:
            fail("expected %d worker rows: %r" % (nworkers, workers))
        for w in workers:
            f = w.split()
            if len(f) != 7 or not f[1].endswith("%") or not 0 <= float(f[1][:-1]) <= 100:
                fail("bad worker row: " + w)
        names = [a.split()[1] for a in actors]
        if names.count("player") != 2 or "acto.inspect" not in names:
            fail("actor rows lack the players or the endpoint: %r" % actors)
        mbox = [int(a.split()[2]) for a in actors]
        if mbox != sorted(mbox, reverse=True):
            fail("rows not sorted by mailbox depth: %r" % actors)
    # The players bounce all the time: the second snapshot shows their rate.
    for a in snaps[1][2]:
        f = a.split()
        if f[1] == "player" and float(f[3]) <= 0:
            fail("a player shows no messages/s: " + a)


def check_tty(addr):
    """Terminal mode in a pty: draws, 'q' quits, the terminal is restored."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(TOOL, [TOOL, "top", "--connect", addr, "--interval", "0.2"])
    before = termios.tcgetattr(fd)
    out, deadline = b"", time.monotonic() + LIMIT
    # Read until the rows AND the key help are in: a frame may arrive in
    # several reads, and the help line can come after the rows.
    while b"player" not in out or b"q quit" not in out:
        r, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not r:
            os.kill(pid, signal.SIGKILL)
            fail("top on a terminal drew nothing: %r" % out[-300:])
        try:
            out += os.read(fd, 65536)
        except OSError:
            break
    if b"\x1b[?1049h" not in out or b"q quit" not in out:
        fail("no alternate screen or key help on a terminal: %r" % out[:200])
    os.write(fd, b"q")
    _, status = os.waitpid(pid, 0)
    try:
        while True:
            r, _, _ = select.select([fd], [], [], 1)
            if not r:
                break
            out += os.read(fd, 65536)
    except OSError:
        pass
    if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
        fail("top did not exit 0 on 'q' (status %d)" % status)
    if not out.rstrip().endswith(b"\x1b[?25h\x1b[?1049l"):
        fail("terminal not restored at exit: %r" % out[-100:])
    os.close(fd)
    del before


def main():
    # Usage errors and a refused connection: a message and status 1.
    rc, _, err = top("--once")
    if rc != 1 or "--connect" not in err:
        fail("top without --connect: rc %d, %r" % (rc, err))
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    rc, _, err = top("--connect", "127.0.0.1:%d" % port, "--once")
    if rc != 1 or "cannot connect" not in err:
        fail("refused connection: rc %d, %r" % (rc, err))

    p, addr = start_pingpong()
    try:
        nworkers = os.sysconf("SC_NPROCESSORS_ONLN")
        rc, out, err = top("--connect", addr, "--iterations", "2", "--interval", "0.2",
                           "--top", "10")
        if rc != 0:
            fail("top --iterations 2: rc %d: %s" % (rc, err))
        sys.stdout.write(out)
        check_plain(out, p.pid, nworkers)
        rc, out, err = top("--connect", addr, "--once", "--interval", "0.2", "--sort", "msgs",
                           "--top", "2")
        rows = snapshots(out)[0][2] if rc == 0 else []
        if rc != 0 or len(rows) != 2 or [r.split()[1] for r in rows] != ["player", "player"]:
            fail("--sort msgs --top 2: rc %d, %r %s" % (rc, out, err))
        check_tty(addr)
        # The endpoint goes away while top watches: clear error, status 1.
        watcher = subprocess.Popen([TOOL, "top", "--connect", addr, "--interval", "0.05"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        seen, deadline = b"", time.monotonic() + LIMIT
        while b"acto top" not in seen:      # connected and answered once
            r, _, _ = select.select([watcher.stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not r:
                fail("top --interval 0.05 showed nothing")
            seen += os.read(watcher.stdout.fileno(), 65536)
    finally:
        stop(p)
    try:
        err = watcher.communicate(timeout=LIMIT)[1].decode(errors="replace")
    except subprocess.TimeoutExpired:
        watcher.kill()
        fail("top kept running after the program ended")
    if watcher.returncode != 1 or not ("closed the connection" in err or "went away" in err):
        fail("endpoint gone: rc %d, %r" % (watcher.returncode, err))
    rc, _, err = top("--connect", addr, "--once")
    if rc != 1 or "cannot connect" not in err:
        fail("after the program ended: rc %d, %r" % (rc, err))
    print("inspect_top: ok")


main()
