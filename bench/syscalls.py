"""System calls per message: how many times a server enters the kernel for each
echoed message, counted by the kernel itself.

A readiness loop pays a system call to wait and one per operation (a recv and
a send per message, at best); a completion loop pays one per turn, however many
operations the turn holds.  Messages per second alone cannot show that
difference, because loopback TCP costs the same kernel work either way; the
count of entries into the kernel can.

For each model and connection count, in interleaved rounds: start the server,
load it with the C load generator (bench.runner's load), and, one second into
the measured window, count the server's entries into the kernel for one second
with `perf stat -e raw_syscalls:sys_enter -p PID` (every thread of it).  The
count over that second, divided by the messages the load generator saw per
second, is the figure; the medians of the rounds are printed.  It needs perf
and the kernel's tracepoints (root, usually): without them it says so in one
line and exits 1.

With `--churn` a message is a connection (connect, one echo, close), so the
figures are per connection; with `--relay` the models are relays (bench.models'
`*-relay`) in front of one C echo server, and a message is a round trip through
the relay, counted in the relay's process alone.

    python3 -m bench.syscalls --models bare-epoll,uring-python,c-epoll,c-uring \\
        --connections 1,100 --rounds 3
    python3 -m bench.syscalls --models evloop-epoll,bare-epoll,uvloop-protocol --churn \\
        --connections 50
    python3 -m bench.syscalls --models evloop-relay,bare-relay,uvloop-relay --relay \\
        --connections 1,10,100
"""

import argparse
import shutil
import statistics
import subprocess
import sys
import threading
import time

from bench import runner
from bench.models import BY_NAME

COUNTED = 1.0  # seconds of counting, inside the measured window
EVENT = "raw_syscalls:sys_enter"
FAULTS = "page-faults"  # a software event: every fault, minor ones (fresh heap pages) above all


def count_events(pid, seconds):
    """{event: count} of `pid`'s threads over `seconds`, for EVENT and FAULTS; an
    event perf cannot count is missing."""
    run = subprocess.run(["perf", "stat", "-x,", "-e", f"{EVENT},{FAULTS}", "-p", str(pid),
                          "--", "sleep", str(seconds)], capture_output=True, text=True,
                         timeout=30)
    counts = {}
    for line in run.stderr.splitlines():
        fields = line.split(",")
        if len(fields) > 2 and fields[2] in (EVENT, FAULTS):
            # "<not counted>": the process never ran in the window, so it made none.
            counts[fields[2]] = int(fields[0]) if fields[0].isdigit() else 0
    return counts


def count_syscalls(pid, seconds):
    """Entries into the kernel by `pid`'s threads over `seconds`; None if perf cannot say."""
    return count_events(pid, seconds).get(EVENT)


def perf_counts():
    """Can perf count this event here?  Tried on `true`, which makes a few dozen."""
    run = subprocess.run(["perf", "stat", "-x,", "-e", EVENT, "--", "true"],
                         capture_output=True, text=True, timeout=30)
    return any(line.split(",")[0].isdigit() for line in run.stderr.splitlines())


def one_round(model, connections, depth, duration=3.0, warmup=0.5, size=100, churn=False,
              upstream=""):
    """(system calls per message, page faults per message, messages per second) of one run;
    `upstream` ("host:port"): the model is a relay to it."""
    server = runner.Server(model, "echo", upstream=upstream)
    try:
        point = runner.Point("syscalls", connections=connections, depth=depth, size=size,
                             churn=churn, relay=bool(upstream))
        counted = []
        timer = threading.Timer(warmup + 1.0, lambda: counted.append(
            count_events(server.proc.pid, COUNTED)))
        timer.start()
        result = runner.run_load(server, point, duration, warmup)
        timer.join(duration + 30)
    finally:
        server.stop()
    rate = result.get("msgs_per_s")
    calls = counted[0].get(EVENT) if counted else None
    if result.get("status") not in ("ok", "starved") or not rate or not calls:
        return None, None, rate
    faults = counted[0].get(FAULTS)
    return (calls / (rate * COUNTED), None if faults is None else faults / (rate * COUNTED),
            rate)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 -m bench.syscalls", description=__doc__.split(
        "\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="bare-epoll,uring-python,c-epoll,c-uring")
    parser.add_argument("--connections", default="1,100")
    parser.add_argument("--depth", type=int, default=1, help="messages in flight per connection")
    parser.add_argument("--size", type=int, default=100, help="payload bytes per message")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--churn", action="store_true",
                        help="a connection per message: the figures are per connection")
    parser.add_argument("--relay", action="store_true",
                        help="the models are relays, in front of the C echo server")
    options = parser.parse_args(argv)
    if options.churn and (options.relay or options.depth != 1):
        parser.error("--churn is one message per connection, straight to the server")
    names = options.models.split(",")
    unknown = [name for name in names if name not in BY_NAME]
    if unknown:
        parser.error(f"no such model: {', '.join(unknown)} (bench.models names them)")
    if any(BY_NAME[name].relay != options.relay for name in names):
        parser.error("--relay counts relays (the *-relay models), and only with --relay")
    if not shutil.which("perf"):
        print("bench.syscalls: perf is not installed (apt-get install linux-perf)", file=sys.stderr)
        return 1
    if not perf_counts():
        print(f"bench.syscalls: perf cannot count {EVENT} here (it needs root, or "
              f"kernel.perf_event_paranoid -1, and tracefs)", file=sys.stderr)
        return 1
    models = [BY_NAME[name] for name in names]
    for model in models:
        if model.unavailable():
            print(f"{model.name}: skipped: {model.unavailable()}")
    models = [model for model in models if not model.unavailable()]
    unit = "connection" if options.churn else "message"
    what = ("echo through a relay" if options.relay else
            "a connection per echo (churn)" if options.churn else "echo")
    print(f"system calls per {unit}, {what}, {options.size} B, depth {options.depth}, medians "
          f"of {options.rounds} interleaved rounds "
          f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})")
    short = "conn" if options.churn else "msg"
    print(f"{'model':16} {'connections':>11} {'syscalls/' + short:>13} "
          f"{'faults/' + short:>11} {short + '/s':>10}")
    backend = runner.Server(BY_NAME["c-epoll"], "echo") if options.relay else None
    try:
        report(models, options, f"127.0.0.1:{backend.port}" if backend else "")
    finally:
        if backend is not None:
            backend.stop()
    return 0


def report(models, options, upstream):
    """The table's rows: each connection count, its rounds interleaved."""
    for connections in (int(n) for n in options.connections.split(",")):
        figures = {model.name: ([], [], []) for model in models}
        for _ in range(options.rounds):
            for model in models:  # interleaved: each round runs every model once
                per_message, faults, rate = one_round(model, connections, options.depth,
                                                      size=options.size, churn=options.churn,
                                                      upstream=upstream)
                if per_message is not None:
                    figures[model.name][0].append(per_message)
                    figures[model.name][2].append(rate)
                    if faults is not None:
                        figures[model.name][1].append(faults)
        for name, (calls, faults, rates) in figures.items():
            if calls:
                shown = f"{statistics.median(faults):>11.3f}" if faults else f"{'-':>11}"
                print(f"{name:16} {connections:>11,} {statistics.median(calls):>13.3f} {shown} "
                      f"{statistics.median(rates):>10,.0f}")
            else:
                print(f"{name:16} {connections:>11,} {'failed':>13}")


if __name__ == "__main__":
    sys.exit(main())
