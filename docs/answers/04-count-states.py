"""Answer to 04-count-states: each connection's states, from --trace.

`state_paths` reads the narration that `python3 -m evloop.serve --trace`
writes on stderr and returns {peer: [state, state, ...]}.  Try it:

    python3 -m evloop.serve --handler lenprefix --trace --idle-timeout 0.5 2> trace.txt
    python3 docs/answers/04-count-states.py trace.txt
"""

import collections
import re
import sys

# "trace:   508.381 ms  fd 7 127.0.0.1:53550: OPEN -> INPUT_CLOSED (peer_eof)"
STATE_CHANGE = re.compile(r"fd \d+ (\S+): ([A-Z_]+) -> ([A-Z_]+) \((\w+)\)$")


def state_paths(trace_lines):
    """{peer: [state, state, ...]} from the --trace narration."""
    paths = {}
    for line in trace_lines:
        match = STATE_CHANGE.search(line.rstrip())
        if match:
            peer, before, after, _event = match.groups()
            path = paths.setdefault(peer, [before])
            path.append(after)
    return paths


def tally(trace_lines):
    """How many times each transition (with its event) happened."""
    matches = (STATE_CHANGE.search(line.rstrip()) for line in trace_lines)
    return collections.Counter("{1} -> {2} ({3})".format(*m.groups()) for m in matches if m)


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        lines = f.read().splitlines()
    for peer, path in state_paths(lines).items():
        print(f"{peer:<22} {' -> '.join(path)}")
    for transition, count in sorted(tally(lines).items()):
        print(f"{count} x {transition}")
