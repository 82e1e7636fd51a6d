"""Chapter 5, exercise 1: count the state changes of three connections from --trace.

The exercise: run `python3 -m evloop.serve --handler lenprefix --trace
--idle-timeout 0.5`, connect three clients that end three different ways,
and write `state_paths(trace_lines)`, which reads the narration on stderr
and returns, for each connection, the states it went through in order.
Compare them with the state diagram of chapter 5:

* a client that sends `005hello`, reads the echo and half-closes: the peer's
  EOF (OPEN -> INPUT_CLOSED -> CLOSED);
* a client that sends a bad header (`xyz`): a protocol error, so the server
  closes (OPEN -> CLOSING), flushes, lingers for the client's EOF
  (-> LINGERING -> CLOSED);
* a client that sends nothing: closed by the idle timeout, the same path.

Done when: `state_paths` gives exactly those three paths, each found by the
client's own port, and a tally of the transitions is printed.

Run it: python3 docs/answers/05-count-states.py
"""

import collections
import re

import _kit

# "trace:   508.381 ms  fd 7 127.0.0.1:53550: OPEN -> INPUT_CLOSED (peer_eof)"
STATE_CHANGE = re.compile(r"fd \d+ (\S+): ([A-Z_]+) -> ([A-Z_]+) \((\w+)\)$")


def state_paths(trace_lines):
    """The solution: {peer: [state, state, ...]} from the --trace narration."""
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


def main():
    with _kit.process("--handler", "lenprefix", "--trace", "--idle-timeout", "0.5") as (server, port):
        peers = {}
        with _kit.connect(port) as sock:
            peers["eof"] = "127.0.0.1:%d" % sock.getsockname()[1]
            sock.sendall(b"005hello")
            _kit.check(_kit.recv_exactly(sock, 8) == b"005hello", "no echo")
            sock.shutdown(1)
            _kit.check(_kit.recv_until_eof(sock) == b"", "more than the echo came back")
        with _kit.connect(port) as sock:
            peers["bad header"] = "127.0.0.1:%d" % sock.getsockname()[1]
            sock.sendall(b"xyz")
            _kit.check(_kit.recv_until_eof(sock) == b"", "a bad header was answered")
        with _kit.connect(port) as sock:
            peers["idle"] = "127.0.0.1:%d" % sock.getsockname()[1]
            _kit.check(_kit.recv_until_eof(sock) == b"", "the idle client got bytes")
    _, trace = server.communicate(timeout=15)
    lines = trace.splitlines()
    paths = state_paths(lines)
    expected = {"eof": ["OPEN", "INPUT_CLOSED", "CLOSED"],
                "bad header": ["OPEN", "CLOSING", "LINGERING", "CLOSED"],
                "idle": ["OPEN", "CLOSING", "LINGERING", "CLOSED"]}
    for why, peer in peers.items():
        got = paths.get(peer)
        _kit.check(got == expected[why], f"{why} ({peer}): path {got}, not {expected[why]}")
        print(f"{why:<11} {' -> '.join(got)}")
    for transition, count in sorted(tally(lines).items()):
        print(f"{count} x {transition}")
    _kit.ok("the three ways to end a connection, read from --trace, follow the state diagram")


if __name__ == "__main__":
    main()
