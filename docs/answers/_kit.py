"""What the answers share: serve a handler on a free port, start a server process, judge.

Every answer in this folder is a program that checks itself.  It runs the
exercise's solution (a handler written in the answer, or a measurement),
then exits 0 with a line that starts "ok:" when the solution does what the
exercise asks, 1 with a line that starts "FAIL:" when it does not, and 77
with a line that starts "SKIP:" when this machine lacks what it needs (a
file-descriptor limit it may not raise, say).  tests/docs/test_answers.py runs
them all.

The helpers here are the plumbing, so that each answer shows only its lesson:

* `served(Handler, **config)`: an evloop.Server for the handler on
  127.0.0.1, port 0 (a free port), run by its loop in a thread; yields the
  server (its `address` says the port) and drains it at the end;
* `process(*argv)`: `python3 -m evloop.serve ...` (or a bench model) as a
  child process on a free port; yields (process, port) and stops it with
  SIGINT at the end;
* `connect`, `recv_exactly`, `recv_until_eof`: a blocking client's steps;
* `ok`, `fail`, `skip`: the verdict.
"""

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
if ROOT not in sys.path:  # run from anywhere: evloop and bench are found in the clone
    sys.path.insert(0, ROOT)

import evloop  # noqa: E402  (after the path is set)

SKIP = 77  # the exit code that says "cannot run here", as automake's test drivers use
STARTUP = re.compile(r"serving \S+ on (\S+):(\d+) ")


def ok(message):
    print(f"ok: {message}")
    sys.exit(0)


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def skip(message):
    print(f"SKIP: {message}", file=sys.stderr)
    sys.exit(SKIP)


def check(condition, message):
    """Fail with `message` unless `condition` holds."""
    if not condition:
        fail(message)


@contextlib.contextmanager
def served(handler, **settings):
    """`handler` served by evloop.Server on 127.0.0.1 and a free port, in a thread."""
    config = evloop.Config(port=0, **settings)
    server = evloop.Server(handler, config)
    server.start()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        # The loop is not thread-safe: ask it, from its own thread, to drain and stop.
        server.loop.call_soon_threadsafe(server.shutdown)
        thread.join(timeout=10)


def child_env(*paths):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*paths, ROOT, HERE, env.get("PYTHONPATH", "")])
    return env


@contextlib.contextmanager
def process(*argv, module="evloop.serve", paths=(), timeout=15.0):
    """`python3 -m MODULE --port 0 ARGV...`, until its startup line; yields (process, port)."""
    proc = subprocess.Popen([sys.executable, "-m", module, "--port", "0", *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL, cwd=ROOT, env=child_env(*paths))
    try:
        timer = threading.Timer(timeout, proc.kill)  # a server that never says it serves
        timer.start()
        line = proc.stdout.readline()
        timer.cancel()
        match = STARTUP.search(line)
        if not match:
            proc.kill()
            fail(f"{module} {' '.join(argv)} did not start: {line!r} {proc.stderr.read()[-800:]}")
        yield proc, int(match.group(2))
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def connect(port, timeout=10.0):
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def recv_exactly(sock, size):
    chunks = []
    while size:
        chunk = sock.recv(min(size, 1 << 20))
        if not chunk:
            raise EOFError(f"EOF with {size} bytes still expected")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def recv_until_eof(sock):
    chunks = []
    while True:
        chunk = sock.recv(1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def rss_kib(pid):
    """A process's resident set size, in KiB, from /proc."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise KeyError("VmRSS")
