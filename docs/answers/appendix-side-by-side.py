"""Answer to appendix-side-by-side (a measurement): one round of the Python load generator.

`one_round(port)` runs `python3 -m bench.loadgen` (JSON out) against one
server: 10 connections, 100-byte messages, 0.8 s after 0.2 s of warm-up, one
process.  The grader interleaves rounds against evloop and against a thread
per client, both up at once, and keeps the medians, as the appendix says
figures should be taken.  A Python client saturates before either server
does, and shares the two cores with them, so expect a ratio unlike the
table's (in the run below it even went the other way), and say which load
generator ran when you report it.  A run printed:

    round 1: evloop 32,310 msg/s, threads 38,101 msg/s
    round 2: evloop 34,279 msg/s, threads 38,630 msg/s

By hand: `PYTHONPATH=. python3 docs/answers/appendix-side-by-side.py 12000`.
"""

import json
import subprocess
import sys

CONNECTIONS = 10
LOAD = ["--connections", str(CONNECTIONS), "--size", "100", "--duration", "0.8",
        "--warmup", "0.2", "--processes", "1"]


def one_round(port):
    """Messages per second from one run of the Python load generator against `port`."""
    run = subprocess.run([sys.executable, "-m", "bench.loadgen", "--port", str(port), *LOAD],
                         capture_output=True, text=True, timeout=30)
    if run.returncode != 0:
        raise RuntimeError(f"the load generator failed: {run.stderr[-300:]}")
    result = json.loads(run.stdout)
    if result["connected"] != CONNECTIONS or result["errors"]:
        raise RuntimeError(f"a bad round: {result['connected']} connected, "
                           f"{result['errors']} wrong replies")
    return result["msgs_per_s"]


if __name__ == "__main__":
    print(f"{one_round(int(sys.argv[1])):,.0f} msg/s")
