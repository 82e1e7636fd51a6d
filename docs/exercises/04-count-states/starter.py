"""Exercise 04-count-states: count the state changes.

Chapter 4 (docs/04-anatomy.md, "Exercises").
Difficulty: ★☆☆ easy.  Time: about 20 minutes.

The task: write `state_paths(lines)`.  It reads the narration that
`python3 -m evloop.serve --trace` writes on stderr, one line at a time, and
returns a dict from each connection's peer (`127.0.0.1:53550`) to the list
of states it went through, in order, the first included.  A state change
reads:

    trace:   508.381 ms  fd 7 127.0.0.1:53550: OPEN -> INPUT_CLOSED (peer_eof)

The grader runs a lenprefix server with `--trace --idle-timeout 0.5` and
ends three connections three ways: the client's EOF, a bad header, and
silence.  Done when the three paths are OPEN -> INPUT_CLOSED -> CLOSED and,
twice, OPEN -> CLOSING -> LINGERING -> CLOSED, as the state diagram says.

Try it:  python3 -m evloop.serve --handler lenprefix --trace --idle-timeout 0.5 2> trace.txt
         (connect a few clients, stop it with Ctrl-C), then
         python3 docs/exercises/04-count-states/starter.py trace.txt
Grade it:  python3 -m docs.grade 04-count-states docs/exercises/04-count-states/starter.py
"""

import sys


def state_paths(trace_lines):
    """{peer: [state, state, ...]} from the --trace narration."""
    paths = {}
    for line in trace_lines:
        pass  # Your code here: is this line a state change? Whose, from what, to what?
    return paths


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        for peer, path in state_paths(f.read().splitlines()).items():
            print(f"{peer:<22} {' -> '.join(path)}")
