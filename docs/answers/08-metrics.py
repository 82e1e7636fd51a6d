"""Answer to 08-metrics: parse Prometheus's text format.

Each line that is not a comment (`# HELP`, `# TYPE`) or blank is a name,
with its labels in braces if it has any, a space, and a number.  The labels
may hold spaces inside their quoted values, so the number is what follows
the *last* space.  Why 5 messages received, in the exercise: the framework
does not know lenprefix's framing, so to it a message received is one
`data_received` call: two per well-behaved client, which waits for each
echo before its next send, and one for the bad header.

By hand: `python3 docs/answers/08-metrics.py http://127.0.0.1:9100/metrics`
against `python3 -m evloop.serve --handler lenprefix --metrics-port 9100`.
"""

import sys
import urllib.request


def parse(text):
    """{'name{labels}': value} from the text format; comments skipped."""
    figures = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        figures[name] = float(value)
    return figures


if __name__ == "__main__":
    with urllib.request.urlopen(sys.argv[1], timeout=10) as response:
        for name, value in parse(response.read().decode()).items():
            print(f"{value:>12g}  {name}")
