"""Run every concurrency model against the same load, interleaved, and compare.

    python -m bench.runner [--quick] [--sweep NAME ...] [--models A,B] [--rounds N]

The machine is shared and noisy, so no figure here is a single measurement.
For each point of a sweep (say: echo, 100 connections, 100-byte messages)
the runner

1. starts a fresh server for every model that takes part;
2. at the sweep's main point, measures each one cold: the first load a
   fresh process meets (asyncio's 256 KiB recv() is slow until glibc's
   malloc thresholds adapt, and that is what a short-lived server sees);
3. warms each server up: a few connections opened and closed, then a short
   run of the point's own load;
4. measures the models interleaved, A B C A B C ..., for --rounds rounds,
   so that a burst of noise hits every model instead of one;
5. stops the servers, and reports medians, each also as a ratio to evloop
   with epoll from the same run.

Server CPU is read from /proc between the load generator's "measuring" and
"done" marks, so CPU per message excludes connecting and warming up.  A
model that cannot take a point (a crash, lost or corrupt replies, a hang
past the time limit) is recorded as failed with the reason, skipped at the
larger points of that sweep, and the run goes on.

The `aio` sweep runs the same asyncio programs on asyncio's loop, on
evloop.aio and on uvloop (a Protocol echo and a streams echo, beside
evloop's own handler API on the same echo; then uvicorn and aiohttp
serving hello world), and the report sets evloop.aio's figures beside the
other two loops'.  Its HTTP point is loaded by wrk instead of the load
generator (bench.wrk): a message there is a request and its response, and
each server's body is checked once before its rounds, since wrk reads none.
"""

import argparse
import functools
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from dataclasses import dataclass

from bench import processes
from bench import procstat
from bench import report
from bench import wrk
from bench.histogram import Histogram
from bench.models import BY_NAME
from bench.models import HTTP_MODELS
from bench.models import MODELS
from bench.models import REFERENCE
from bench.models import evloop_tree
from bench.models import loadgen_command

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "results")
RUNS = os.path.join(RESULTS, "runs")  # in .gitignore


@dataclass
class Point:
    sweep: str
    handler: str = "echo"
    connections: int = 100
    size: int = 100
    depth: int = 1
    idle: int = 0
    cold: bool = False  # also measure a fresh server once, before its warm-up
    work: str = None    # slow handler: "cpu" or "sleep", work_ms per line
    work_ms: float = 2.0
    tls: bool = False   # over TLS: the TLS models and load generator
    unix: bool = False  # over a Unix stream socket: the Unix models
    udp: bool = False   # datagrams: the UDP models, the load generator's --udp
    churn: bool = False  # a connection per message: connect, one echo, close
    sources: int = 0    # the load generator's source addresses (127.0.0.2, ...): 0, one
    relay: bool = False  # through a relay model to the C echo server
    http: bool = False  # HTTP hello world under wrk: the HTTP models (bench.wrk)

    @property
    def framing(self):
        return {"lenprefix": "lenprefix", "slow": "line"}.get(self.handler, "raw")

    def server_args(self):
        return ["--work", self.work, "--work-ms", f"{self.work_ms:g}"] if self.work else []

    def label(self):
        if self.http:  # a message is a request and its response
            return f"HTTP hello world, {self.connections} conn, wrk -t{wrk.THREADS}"
        parts = [self.handler, f"{self.connections} conn", f"{self.size} B"]
        if self.work:
            parts.append(f"{self.work_ms:g} ms {self.work}")
        if self.depth > 1:
            parts.append(f"depth {self.depth}")
        if self.idle:
            parts.append(f"+{self.idle} idle")
        if self.tls:
            parts.append("TLS")
        if self.unix:
            parts.append("Unix socket")
        if self.udp:
            parts[1] = f"{self.connections} clients"
            parts.append("UDP")
        if self.churn:
            parts[1] = f"{self.connections} at once"
            parts.append("a connection each")
        if self.sources:
            parts.append(f"from {self.sources} addresses")
        if self.relay:
            parts[0] = "echo through a relay"
        return ", ".join(parts)


# The same asyncio programs on asyncio's loop, evloop.aio and uvloop (only the loop
# changes), and evloop's own handler API on the same echo: what the asyncio layer costs.
AIO = ["evloop-epoll", "asyncio-protocol", "aio-protocol", "uvloop-protocol", "aio-floor",
       "asyncio-streams", "aio-streams", "uvloop-streams"] + [m.name for m in HTTP_MODELS]
AIO_ONLY = {"aio-protocol", "aio-floor", "aio-streams", "uvloop-streams"}
# Every model of evloop's handlers but those the aio sweep adds: in every sweep, they
# would lengthen each of them and --quick, and the aio sweep has them at its point.
ALL = [m.name for m in MODELS if not m.tls and not m.unix and not m.udp and not m.relay
       and m.name not in AIO_ONLY]
SELECTORS = ["evloop-epoll", "evloop-poll", "evloop-select"]
# The headline points and rivals (echo and lenprefix at 100 connections, 64 KiB
# messages, 10,000 connections, depth 16) in one short sweep; bare-epoll is
# the featureless floor, so the gap to it is what evloop's features cost.
PERF = ["evloop-epoll", "bare-epoll", "uring-python", "evloop-2workers", "uvloop-protocol",
        "asyncio-protocol", "threads", "ss-threading", "c-epoll", "c-uring"]
SLOW = ["evloop-epoll", "evloop-offload-thread", "evloop-offload-process", "threads", "gevent"]
TLS = ["evloop-tls", "uvloop-tls", "asyncio-tls"]
UNIX = ["evloop-unix", "uvloop-unix", "asyncio-unix"]
MASSIVE = ["evloop-epoll", "uvloop-protocol", "threads"]
UDP = ["evloop-udp", "udp-blocking", "uvloop-udp", "asyncio-udp", "ss-udp", "c-udp"]
RELAY = ["evloop-relay", "bare-relay", "uvloop-relay", "asyncio-relay", "haproxy-relay"]


MASSIVE_CONNECTIONS = 100_000
MASSIVE_BUSY = 10_000
FD_HEADROOM = 1000  # descriptors besides the connections, in the server and in the load generator


@functools.cache  # once a run: it asks the kernel for descriptors
def massive_point():
    """100,000 connections, 10,000 busy, from 4 source addresses (past the ephemeral
    ports of one); or, where one process may not open that many descriptors, as many
    as it may, to the thousand, with the reason.  -> (point, note or None)"""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = MASSIVE_CONNECTIONS + FD_HEADROOM
    if hard != resource.RLIM_INFINITY and hard < wanted:
        try:  # with CAP_SYS_RESOURCE (root, usually), up to fs.nr_open
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))
        except (ValueError, OSError) as error:
            total = (hard - FD_HEADROOM) // 1000 * 1000
            busy = min(MASSIVE_BUSY, total * 2 // 3)
            note = (f"massive: {total:,} connections, not {MASSIVE_CONNECTIONS:,}: one process may "
                    f"open {hard:,} descriptors here, and raising that was refused ({error}; it "
                    f"takes CAP_SYS_RESOURCE)")
            return Point("massive", connections=busy, idle=total - busy, sources=4), note
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, wanted))  # the runner itself needs few
    return Point("massive", connections=MASSIVE_BUSY, idle=MASSIVE_CONNECTIONS - MASSIVE_BUSY,
                 sources=4), None



def sweeps(quick):
    """name -> (models, points).  --quick keeps every sweep, with one point each."""
    conns = [100] if quick else [1, 10, 100, 1000, 10000]
    sizes = [102400] if quick else [1024, 10240, 102400]  # uvloop's published sizes
    idles = [1000] if quick else [0, 100, 1000, 3000, 10000]
    works = ["cpu"] if quick else ["sleep", "cpu"]
    sweeps = {
        "connections": (ALL, [Point("connections", connections=n, cold=(n == 100 and not quick))
                              for n in conns]),
        "sizes": (ALL, [Point("sizes", connections=10, size=s) for s in sizes]),
        "pipelined": (ALL, [Point("pipelined", connections=100, depth=16)]),
        "lenprefix": (ALL, [Point("lenprefix", handler="lenprefix")]),
        "perf": (PERF, [Point("perf", cold=True), Point("perf", handler="lenprefix"),
                        Point("perf", connections=10000), Point("perf", connections=10, size=65536),
                        Point("perf", depth=16)]),
        "slow": (SLOW, [Point("slow", handler="slow", connections=10, work=work)
                        for work in works]),
        "tls": (TLS, [Point("tls", tls=True, cold=not quick)]
                + ([] if quick else [Point("tls", tls=True, connections=10, size=65536)])),
        "unix": (UNIX, [Point("unix", unix=True)]),
        "churn": (ALL, [Point("churn", churn=True, connections=50)]),
        "udp": (UDP, [Point("udp", udp=True, connections=n) for n in ([50] if quick else [1, 10, 50])]),
        "relay": (RELAY, [Point("relay", relay=True, connections=n)
                          for n in ([100] if quick else [1, 10, 100])]
                  # and a large stream, where a relay may splice instead of copying
                  + ([] if quick else [Point("relay", relay=True, connections=10,
                                             size=102400)])),
        # Echo at 100 x 100 B, then HTTP under wrk at 100 connections (one whole second
        # a round at the least, which wrk's -d takes).
        "aio": (AIO, [Point("aio"), Point("aio", handler="hello", http=True)]),
        "idle": (SELECTORS + ["threads", "gevent", "uvloop-protocol"],
                 [Point("idle", connections=10, idle=n) for n in idles]),
        # Only on request: see massive_point.  The thread-per-client server is best run
        # alone here (run() says why).
        "massive": (MASSIVE, [massive_point()[0]]),
    }
    return sweeps


class Server:
    """One model's server process, started with --port 0; its port read from the
    startup line.  A Unix model is given a socket path in a fresh directory instead."""

    def __init__(self, model, handler, extra=(), wait=True, upstream=""):
        self.model = model
        self.log = tempfile.TemporaryFile("w+")
        self.unix = None
        if model.unix:
            self.unix_dir = tempfile.TemporaryDirectory(prefix="evloop-bench-")
            self.unix = os.path.join(self.unix_dir.name, "server.sock")
            extra = [*extra, "--unix", self.unix]
        self.proc = processes.start(model.command(handler, extra, upstream), stdout=subprocess.PIPE,
                                    stderr=self.log, stdin=subprocess.DEVNULL, text=True, cwd=ROOT)
        self.base_rss = None
        if wait:
            self.ready()
            time.sleep(0.2)
            self.measure_base()

    def ready(self, timeout=15):
        """Wait for the startup line (RuntimeError if none comes), then sample."""
        self.port = self._read_port(timeout)
        self.sampler = procstat.Sampler(self.proc.pid)
        self.sampler.start()

    def measure_base(self):
        """The server's RSS at rest, before any load."""
        self.base_rss, _ = procstat.memory(self.proc.pid)

    def _read_port(self, timeout):
        line = []
        reader = threading.Thread(target=lambda: line.append(self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        text = line[0] if line else ""
        if " on " not in text or ":" not in text:
            self.stop()
            raise RuntimeError(f"did not start: {self.tail() or text.strip() or 'no startup line'}")
        if self.unix:
            return None
        return int(text.split(" on ", 1)[1].split()[0].rsplit(":", 1)[1])

    def tail(self):
        self.log.seek(0)
        lines = self.log.read().strip().splitlines()
        return lines[-1] if lines else ""

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        peaks = self.sampler.stop() if hasattr(self, "sampler") else (None, None)
        processes.kill_group(self.proc, signal.SIGTERM)
        try:
            processes.reap(self.proc, 10)
        except subprocess.TimeoutExpired:
            processes.kill_group(self.proc)
            processes.reap(self.proc)
        if self.unix:
            self.unix_dir.cleanup()
        return peaks


def run_load(server, point, duration, warmup, connections=None, limit=None):
    """One load-generator run against `server`: its JSON result plus server CPU and status."""
    if point.http:
        return wrk.run(server, point.connections if connections is None else connections,
                       duration)
    argv, loadgen = loadgen_command(point.tls)
    if (point.udp or point.churn) and loadgen == "python":
        return {"status": "failed", "reason": "this load needs the C load generator "
                                              "(scripts/bench builds it with a C compiler)"}
    connections = point.connections if connections is None else connections
    where = ["--unix", server.unix] if server.unix else ["--port", str(server.port)]
    if point.udp:
        where += ["--udp", "1"]
    if point.churn:
        where += ["--churn", "1"]
    if point.sources:
        where += ["--sources", str(point.sources)]
    argv = argv + where + ["--connections", str(connections),
                   "--size", str(point.size), "--depth", str(point.depth),
                   "--duration", str(duration), "--warmup", str(warmup),
                   "--framing", point.framing, "--idle", str(point.idle)]
    limit = limit or (duration + warmup + 40)
    proc = processes.start(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           stdin=subprocess.DEVNULL)
    cpu, errors, out = {}, [], []

    def watch_stderr():
        for line in proc.stderr:
            mark = line.strip().removeprefix("loadgen: ")
            if mark in ("measuring", "done"):
                cpu[mark] = procstat.cpu_times(server.proc.pid)
            else:
                errors.append(line.strip())

    watchers = [threading.Thread(target=watch_stderr, daemon=True),
                threading.Thread(target=lambda: out.append(proc.stdout.read()), daemon=True)]
    for watcher in watchers:
        watcher.start()
    try:
        processes.reap(proc, limit)
    except subprocess.TimeoutExpired:
        processes.kill_group(proc)
        processes.reap(proc)
        return {"status": "failed", "reason": f"time limit of {limit:.0f} s exceeded"}
    for watcher in watchers:
        watcher.join(5)
    if proc.returncode != 0 or not out or not out[0].strip():
        return {"status": "failed", "reason": f"load generator exited {proc.returncode}: "
                                              f"{errors[-1] if errors else ''}".strip()}
    result = json.loads(out[0])
    result["loadgen"] = loadgen
    result.update(judge(result, connections, point, server))
    if result["messages"] and cpu.get("measuring") is not None and cpu.get("done") is not None:
        (user0, system0), (user1, system1) = cpu["measuring"], cpu["done"]
        per_message = 1e6 / result["messages"]
        result["cpu_us_per_msg"] = (user1 - user0 + system1 - system0) * per_message
        result["user_us_per_msg"] = (user1 - user0) * per_message
    result.update(Histogram(result.pop("histogram")).summary())
    return result


# A thread-per-client server needed 14-63 s here to wind down after a round with
# 10,000 clients.  With 30 s the runner gave up 2 times in 5, and the next model's
# round ran beside it: the C server fell from 100,000 to 5,600 msg/s in one of them.
SETTLE_TIMEOUT = 120.0


def settle(servers, quiet=0.01, window=0.25, timeout=SETTLE_TIMEOUT):
    """Wait until no server burns CPU: a thread-per-client server still tearing down
    10,000 threads would otherwise steal the core from the next model's run.
    False if one was still busy after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    pids = [server.proc.pid for server in servers if server.alive()]
    before = [procstat.cpu_seconds(pid) or 0 for pid in pids]
    while time.monotonic() < deadline:
        time.sleep(window)
        after = [procstat.cpu_seconds(pid) or 0 for pid in pids]
        if all(b - a <= quiet for a, b in zip(before, after)):
            return True
        before = after
    return False


def judge(result, connections, point, server):
    """ok, starved (some clients got nothing: a model's property, not a fault) or failed."""
    wanted = connections + point.idle
    if not server.alive():
        return {"status": "failed", "reason": f"server died, {result['connected']:,} of {wanted:,} "
                                              f"connections established: {server.tail()}"}
    if result["errors"]:
        return {"status": "failed", "reason": f"{result['errors']} replies did not match what was sent"}
    if result["connected"] < wanted or result["failed_connections"]:
        return {"status": "failed", "reason": f"only {result['connected']} of {wanted} connections established"}
    if result["lost_connections"]:
        return {"status": "failed", "reason": f"{result['lost_connections']} connections lost"}
    if not result["messages"]:
        return {"status": "failed", "reason": "no replies"}
    if result["active_connections"] < connections:
        return {"status": "starved",
                "reason": f"{connections - result['active_connections']} of {connections} clients got no reply"}
    return {"status": "ok"}


FIGURES = ["msgs_per_s", "mb_per_s", "p50_us", "p90_us", "p99_us", "p999_us", "cpu_us_per_msg",
           "user_us_per_msg", "lost_datagrams"]


def summarize(rounds):
    """Medians over the rounds that completed; failed if any round failed."""
    failed = [r for r in rounds if r["status"] == "failed"]
    if failed:
        return {"status": "failed", "reason": failed[0]["reason"], "rounds": len(rounds)}
    summary = {"status": rounds[-1]["status"], "rounds": len(rounds)}
    if rounds[-1].get("reason"):
        summary["reason"] = rounds[-1]["reason"]
    for key in FIGURES:
        values = [r[key] for r in rounds if r.get(key) is not None]
        summary[key] = statistics.median(values) if values else None
    unsettled = sum(1 for r in rounds if r.get("unsettled"))
    if unsettled:
        summary["unsettled_rounds"] = unsettled
    return summary


class Progress:
    """The progress line: runs done of the total, time spent, time left.

    Each step comes with what it was expected to cost (`expect`, from the
    durations asked for and the measured overheads below), so the time left
    is right from the first step: the expected cost of what is left, scaled
    by how far the steps so far ran over or under theirs.  A model that
    fails or sits out still completes its steps, so the line reaches the end.
    """

    def __init__(self, total_runs, expected_seconds, quiet=False):
        self.total, self.done, self.start, self.quiet = total_runs, 0, time.monotonic(), quiet
        self.expected_total, self.expected_done = expected_seconds, 0.0
        if not quiet:
            print(f"scripts/bench: {total_runs} runs, about {expected_seconds / 60:.1f} min",
                  file=sys.stderr, flush=True)

    def step(self, what, expect, count=1):
        self.done += count
        self.expected_done += expect * count
        if self.quiet:
            return
        elapsed = time.monotonic() - self.start
        # How far the steps ran over or under plan, trusted as they add up: the
        # first one also waited for every server to start, and alone it misleads.
        pace = (elapsed + PACE_PRIOR) / (self.expected_done + PACE_PRIOR)
        left = max(self.expected_total - self.expected_done, 0) * pace
        print(f"\r[{self.done}/{self.total}] {what[:60]:<60} {elapsed / 60:4.1f} min, ~{left / 60:4.1f} min left",
              end="", file=sys.stderr, flush=True)


PACE_PRIOR = 20.0  # seconds of the plan taken as exact before any step is timed


# What a run costs beyond its measured seconds (this machine): starting a load
# generator and connecting, settling between rounds; and per model and point,
# starting its server, the short first load and stopping it.
# Measured: a --quick run of 138 runs took 75 s where these said 90 s.
ROUND_OVERHEAD = {False: 0.45, True: 0.25}  # by options.quick
WARMUP_OVERHEAD = {False: 1.2, True: 0.35}  # quick: no short first load, servers started at once


HELLO_CHECKS = {False: 20, True: 200}  # GET / before an HTTP server's first round; quick: its warm-up
HELLO_CHECK_COST = 0.3  # seconds, for 200 of them


def round_cost(options, point=None):
    seconds = wrk.seconds(options.duration) if point and point.http else options.duration
    return seconds + ROUND_OVERHEAD[options.quick]


def warmup_cost(options, point):
    if point.http:  # quick: the check alone; else also wrk for --warmup, whole seconds
        warm = HELLO_CHECK_COST if options.quick else wrk.seconds(options.warmup)
    else:
        warm = options.warmup
    return warm + WARMUP_OVERHEAD[options.quick] + (round_cost(options) if point.cold else 0)


def warm_up(server, point, options, settle_window):
    """The warm-up before a model's rounds; a failed result if it already shows the
    model cannot take the point (an HTTP server answering something else than hello)."""
    if point.http:
        wrong = wrk.check_hello(server.port, HELLO_CHECKS[options.quick])
        if wrong:
            return {"status": "failed", "reason": wrong}
        if not options.quick:  # wrk's shortest run is a second: quick makes do with the check
            run_load(server, point, options.warmup, 0)
        return None
    if not options.quick:
        run_load(server, point, 0.2, 0, connections=min(point.connections, 4))
        settle([server], window=settle_window)
    run_load(server, point, options.warmup, 0)
    return None


def run_point(point, models, options, progress, failed_before):
    """Every model at one point; returns {model: summary}."""
    entries, servers = {}, {}
    backend = upstream = None
    if point.relay and any(not model.refuses(point) for model in models):
        backend = Server(BY_NAME["c-epoll"], "echo")  # behind every relay of the point
        upstream = f"127.0.0.1:{backend.port}"
    warm, each_round = warmup_cost(options, point), round_cost(options, point)
    for model in models:
        if model.http != point.http:
            continue  # the aio sweep's other point is theirs: not a row of this one
        if model.refuses(point):  # not counted in the plan either
            entries[model.name] = {"status": "skipped", "reason": model.refuses(point)}
            continue
        failed_at, reason = failed_before.get(model.name, (None, None))
        if failed_at is not None and point.connections + point.idle >= failed_at:
            entries[model.name] = {"status": "skipped",
                                   "reason": f"failed at {failed_at} connections: {reason}"}
            progress.step(f"{model.name}: skipped", 0, 1 + options.rounds)
            continue
        # Started all at once (each takes a while to import), then waited for.
        servers[model.name] = Server(model, point.handler, point.server_args(), wait=False,
                                     upstream=upstream or "")
    for name, server in list(servers.items()):
        try:
            server.ready()
        except RuntimeError as error:
            entries[name] = {"status": "failed", "reason": str(error)}
            del servers[name]
            progress.step(f"{name}: did not start", 0, 1 + options.rounds)
    time.sleep(0.2)
    for server in servers.values():
        server.measure_base()
    rounds = {name: [] for name in servers}
    settle_window = 0.1 if options.quick else 0.25
    try:
        for name, server in servers.items():
            if point.cold:
                settle(servers.values(), window=settle_window)
                cold = run_load(server, point, options.duration, 0)
                entries.setdefault("_cold", {})[name] = cold
            failed = warm_up(server, point, options, settle_window)
            if failed:
                rounds[name].append(failed)  # its rounds are skipped, and it is reported failed
            progress.step(f"{name}: warm-up, {point.label()}", warm)
        for n in range(options.rounds):
            for name, server in servers.items():
                if rounds[name] and rounds[name][-1]["status"] == "failed":
                    progress.step(f"{name}: failed, {point.label()}", 0)
                    continue
                quiet = settle(servers.values(), window=settle_window)
                result = run_load(server, point, options.duration, 0)
                if not quiet:
                    result["unsettled"] = True  # said in the report: this round is suspect
                rounds[name].append(result)
                progress.step(f"{name}: round {n + 1}, {point.label()}", each_round)
    finally:
        if backend is not None:
            backend.stop()
        for name, server in servers.items():
            peak_rss, peak_threads = server.stop()
            summary = summarize(rounds[name]) if rounds[name] else {"status": "failed", "reason": "not run"}
            summary.update(peak_rss=peak_rss, threads=peak_threads, base_rss=server.base_rss,
                           raw=rounds[name])
            entries[name] = summary
    cold = entries.pop("_cold", {})
    for name, result in cold.items():
        entries[name]["cold"] = result
    return entries


def machine_facts():
    _, loadgen = loadgen_command()
    return {"cores": os.cpu_count(), "python": platform.python_version(),
            "implementation": platform.python_implementation(), "kernel": platform.release(),
            "machine": platform.machine(), "loadgen": loadgen,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Compare concurrency models on the same handlers.")
    parser.add_argument("--quick", action="store_true", help="one point per sweep (two for aio: echo and HTTP), one short "
                                                              "round each (under 2 minutes)")
    parser.add_argument("--sweep", action="append", choices=list(sweeps(False)),
                        help="run only this sweep (repeatable; default: all but perf and massive)")
    parser.add_argument("--models", help="comma-separated models (default: all available)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds per point (default: 3, quick: 1)")
    parser.add_argument("--duration", type=float, help="seconds per measured run (default: 2, quick: 0.3)")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up load (default: 1, quick: 0.1)")
    parser.add_argument("--output", help="JSON file to write, with its .md and plots beside it "
                                         "(default: bench/results/runs/<date>.json, git-ignored)")
    parser.add_argument("--quiet", action="store_true", help="no progress line")
    parser.add_argument("--tree", action="append", default=[], metavar="NAME=DIR",
                        help="also run evloop from the source tree DIR as model NAME, in every "
                             "sweep beside evloop-epoll (e.g. a git worktree of an older commit)")
    options = parser.parse_args(argv)
    if options.rounds is None:
        options.rounds = 1 if options.quick else 3
    if options.rounds < 1:
        parser.error("--rounds must be at least 1")
    options.trees = []
    for spec in options.tree:
        name, sep, tree = spec.partition("=")
        if not sep or not os.path.isdir(os.path.join(tree, "evloop")):
            parser.error(f"--tree {spec}: give NAME=DIR, DIR holding an evloop package")
        BY_NAME[name] = evloop_tree(name, os.path.abspath(tree))
        options.trees.append(name)
    # --quick: every model at one point of each of 12 sweeps (the aio sweep: two), 228 runs
    # where every model is available, in about 110 s: the other sweeps took 81 and 88 s,
    # the aio sweep alone 23 s (its 26 runs; an HTTP round lasts wrk's shortest, a second).
    options.duration = options.duration or (0.3 if options.quick else 2.0)
    options.warmup = options.warmup or (0.1 if options.quick else 1.0)
    wanted = (options.models.split(",") if options.models else list(BY_NAME)) + options.trees
    unknown = [name for name in wanted if name not in BY_NAME]
    if unknown:
        parser.error(f"unknown model {', '.join(unknown)}; choose from {', '.join(BY_NAME)}")
    options.wanted = wanted
    return options


def main(argv=None):
    options = parse_args(argv)
    try:
        with processes.stopping_on_signals():
            return run(options)
    except KeyboardInterrupt as stop:
        print(f"\nscripts/bench: stopped by {stop or 'SIGINT'}; every server and load "
              f"generator it started is stopped too", file=sys.stderr)
        return 130


def run(options):
    # "perf" repeats points of the other sweeps (the headline figures), and "massive" holds
    # 100,000 connections: only on request.
    plan = {name: spec for name, spec in sweeps(options.quick).items()
            if (name in options.sweep if options.sweep else name not in ("perf", "massive"))}
    notes, available = [], {}
    if "massive" in plan and massive_point()[1]:
        notes.append(massive_point()[1])
    if "massive" in plan and "threads" in options.wanted and len(options.wanted) > 1:
        # Run X: 2 of 3 rounds of evloop and uvloop ran beside it, and were thrown away.
        notes.append("massive: the thread-per-client server keeps both cores busy long after "
                     "its own rounds at this size; for clean figures run it alone "
                     "(--sweep massive --models threads)")
    for model in BY_NAME.values():
        why = model.unavailable()
        if model.name in options.wanted:
            if why:
                notes.append(f"{model.name} skipped: {why}")
            else:
                available[model.name] = model
    facts = machine_facts()
    if facts["loadgen"] == "python":
        notes.append("load generator: the pure-Python fallback (no C compiler found); "
                     "it is often slower than the servers it measures")
    runs = expected = 0
    for names, points in plan.values():
        for point in points:
            taking = [m for m in [*names, *options.trees]
                      if m in available and not available[m].refuses(point)]
            runs += len(taking) * (1 + options.rounds)
            expected += len(taking) * (warmup_cost(options, point)
                                       + options.rounds * round_cost(options, point))
    progress = Progress(runs, expected, options.quiet)
    results = {"machine": facts, "notes": notes, "rounds": options.rounds, "quick": options.quick,
               "duration": options.duration, "reference": REFERENCE, "sweeps": {}}
    for sweep, (names, points) in plan.items():
        names = names[:1] + options.trees + names[1:]  # older trees right beside evloop
        models = [available[name] for name in names if name in available]
        failed_before, rows = {}, []
        for point in points:
            entries = run_point(point, models, options, progress, failed_before)
            for name, entry in entries.items():
                if entry["status"] == "failed":  # skip it at larger points of this sweep
                    total = point.connections + point.idle
                    if name not in failed_before or total < failed_before[name][0]:
                        failed_before[name] = (total, entry["reason"])
            rows.append({"point": asdict(point), "label": point.label(), "models": entries})
        results["sweeps"][sweep] = rows
    if not options.quiet:
        print(file=sys.stderr)
    report.add_ratios(results)
    # Without --output a run goes to RUNS, which git ignores: only the runs chosen to
    # be kept (with --output) become files of bench/results/.
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    output = options.output or os.path.join(RUNS, f"{stamp}{'-quick' if options.quick else ''}.json")
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with open(output, "w") as f:
        json.dump(results, f, indent=1)
    with open(output.removesuffix(".json") + ".md", "w") as f:
        f.write(report.markdown(results))  # the wide table, every column
    print(report.narrow(results))
    plots = report.plots(results, output.removesuffix(".json"))
    where = f"results: {os.path.relpath(output)} (and .md)"
    if plots is None:
        where += "; no plots: matplotlib is not installed (pip install '.[bench]')"
    elif plots:
        where += f"; plots: {', '.join(map(os.path.relpath, plots))}"
    print(where)
    return 0


if __name__ == "__main__":
    sys.exit(main())
