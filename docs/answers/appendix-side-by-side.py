"""The performance appendix, exercise (a measurement): one figure, reproduced small.

The exercise: reproduce the shape of one row of chapter 6's first table
(echo, 100-byte messages, 10 connections: evloop served 132,440 messages/s
and a thread per client 73,077, 1.81x) at a size that takes seconds, the way
the appendix says figures should be taken: both servers up at once, rounds
interleaved (evloop, threads, evloop, threads), the median kept, and only
the ratio compared.

It uses the Python load generator (`python3 -m bench.loadgen`, JSON out),
not the C one the table used, with one process: a Python client saturates
before either server does, and shares the two cores with them, so expect a
ratio unlike the table's (in the run below it even went the other way), and
say which load generator ran when you report it.

Done when: every round connected all 10 clients with no wrong reply, and
each model's median messages/s and the ratio are printed.  The ratio is
reported, not judged: it moves with the machine and what else runs on it.

A run here printed:

    round 1: evloop 32,310 msg/s, threads 38,101 msg/s
    round 2: evloop 34,279 msg/s, threads 38,630 msg/s
    median: evloop 33,294 msg/s, threads 38,366 msg/s; evloop / threads 0.87x

Run it: python3 docs/answers/appendix-side-by-side.py
"""

import json
import statistics
import subprocess
import sys

import _kit

ROUNDS = 2
CONNECTIONS = 10
LOAD = ["--connections", str(CONNECTIONS), "--size", "100", "--duration", "0.8",
        "--warmup", "0.2", "--processes", "1"]


def one_round(port):
    run = subprocess.run([sys.executable, "-m", "bench.loadgen", "--port", str(port), *LOAD],
                         capture_output=True, text=True, timeout=30, cwd=_kit.ROOT,
                         env=_kit.child_env())
    _kit.check(run.returncode == 0, f"the load generator failed: {run.stderr[-500:]}")
    result = json.loads(run.stdout)
    _kit.check(result["connected"] == CONNECTIONS and result["errors"] == 0,
               f"a bad round: {result['connected']} connected, {result['errors']} wrong replies")
    _kit.check(result["msgs_per_s"] > 0, "no message was answered")
    return result["msgs_per_s"]


def main():
    rates = {"evloop": [], "threads": []}
    with _kit.process("--handler", "echo") as (_, evloop_port), \
            _kit.process("--handler", "echo", module="bench.threads") as (_, threads_port):
        for n in range(ROUNDS):
            rates["evloop"].append(one_round(evloop_port))
            rates["threads"].append(one_round(threads_port))
            print(f"round {n + 1}: evloop {rates['evloop'][-1]:,.0f} msg/s, "
                  f"threads {rates['threads'][-1]:,.0f} msg/s")
    medians = {model: statistics.median(values) for model, values in rates.items()}
    print(f"median: evloop {medians['evloop']:,.0f} msg/s, threads {medians['threads']:,.0f} "
          f"msg/s; evloop / threads {medians['evloop'] / medians['threads']:.2f}x")
    _kit.ok(f"{ROUNDS} interleaved rounds per model, {CONNECTIONS} connections, every reply right")


if __name__ == "__main__":
    main()
