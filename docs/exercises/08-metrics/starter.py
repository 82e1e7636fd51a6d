"""Exercise 08-metrics: make /metrics move.

Chapter 8 (docs/08-serving-for-real.md, "Exercises").
Difficulty: ★★☆ medium.  Time: about 30 minutes.

The task: write `parse(text)`, which turns the Prometheus text format that
`GET /metrics` answers into a dict from `name{labels}` (exactly as the line
writes them) to a float.  Skip comments (`# HELP`, `# TYPE`) and blank
lines.  Careful: a label's quoted value may hold a space.

The grader serves lenprefix with a metrics port, connects two clients that
each send two messages (waiting for each echo) and one that sends a bad
header, fetches /metrics and parses it with your function.  Done when your
figures say 3 accepted, 1 protocol error, 5 messages received (one per
`data_received` call), 2 closed by the peer's EOF and 1 by the protocol
error, each as `server.stats()` does.

Try it:  python3 -m evloop.serve --handler lenprefix --metrics-port 9100, then
         python3 docs/exercises/08-metrics/starter.py http://127.0.0.1:9100/metrics
Grade it:  python3 -m docs.grade 08-metrics docs/exercises/08-metrics/starter.py
"""

import sys
import urllib.request


def parse(text):
    """{'name{labels}': value} from the text format; comments skipped."""
    figures = {}
    for line in text.splitlines():
        pass  # Your code here
    return figures


if __name__ == "__main__":
    with urllib.request.urlopen(sys.argv[1], timeout=10) as response:
        for name, value in parse(response.read().decode()).items():
            print(f"{value:>12g}  {name}")
