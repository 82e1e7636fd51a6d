"""A/B: two evloop source trees side by side, interleaved rounds, medians.

    python -m bench.ab BEFORE_TREE AFTER_TREE [--handler echo] [--connections 100]
                       [--size 100] [--rounds 9] [--udp | --churn | --relay]
                       [--before-args "..."] [--after-args "--metrics-port 0"]

A tree is a directory holding an `evloop` package (e.g. a `git worktree` of
an older commit).  This is how each hot-path change in evloop was judged:
the same load on both servers, alternated, so noise hits both alike.
The same tree twice, with other server flags for one side, judges an
option's cost (`--after-args "--metrics-port 0"`: metrics on and off).
"""

import argparse
import shlex
import statistics
import sys

from bench import processes
from bench import runner
from bench.models import evloop_tree


def main(argv=None):
    try:
        with processes.stopping_on_signals():
            return compare(argv)
    except KeyboardInterrupt:
        print("bench.ab: stopped; its servers and load generators are stopped too", file=sys.stderr)
        return 130


def compare(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--handler", default="echo")
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--duration", type=float, default=2.0)
    parser.add_argument("--before-args", default="", help="more server flags for BEFORE")
    parser.add_argument("--after-args", default="", help="more server flags for AFTER")
    parser.add_argument("--udp", action="store_true",
                        help="datagram ping-pong (both servers run with --udp; C load generator)")
    parser.add_argument("--churn", action="store_true",
                        help="a connection per message: connect, one echo, close (C load generator)")
    parser.add_argument("--relay", action="store_true",
                        help="both trees serve the relay handler, in front of the C echo server")
    options = parser.parse_args(argv)
    point = runner.Point("ab", handler=options.handler, connections=options.connections,
                         size=options.size, udp=options.udp, churn=options.churn,
                         relay=options.relay)
    udp = ["--udp"] if options.udp else []
    backend = upstream = None
    if options.relay:  # the same backend behind both relays, as the relay sweep has it
        backend = runner.Server(runner.BY_NAME["c-epoll"], "echo")
        upstream = f"127.0.0.1:{backend.port}"
    servers = {}
    for name, tree, args in (("before", options.before, options.before_args),
                             ("after", options.after, options.after_args)):
        servers[name] = runner.Server(evloop_tree(name, tree, relay=options.relay),
                                      options.handler, udp + shlex.split(args),
                                      upstream=upstream or "")
    results = {name: [] for name in servers}
    try:
        for server in servers.values():
            runner.run_load(server, point, 1.0, 0)  # warm-up
        for _ in range(options.rounds):
            for name, server in servers.items():
                runner.settle(servers.values())
                results[name].append(runner.run_load(server, point, options.duration, 0))
    finally:
        for server in [*servers.values(), *([backend] if backend else [])]:
            server.stop()
    print(f"{point.label()}, {options.rounds} interleaved rounds of {options.duration:g} s")
    for name, rounds in results.items():
        rate = statistics.median(r["msgs_per_s"] for r in rounds)
        cpu = statistics.median(r["cpu_us_per_msg"] for r in rounds)
        print(f"{name:7} {rate:10,.0f} msg/s  {cpu:5.2f} us CPU/msg  rounds: "
              + " ".join(f"{r['msgs_per_s'] / 1000:.0f}k" for r in rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
