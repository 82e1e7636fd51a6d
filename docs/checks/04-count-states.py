"""04-count-states: each connection's states, read from the --trace narration.

The grader runs `evloop.serve --handler lenprefix --trace --idle-timeout
0.5`, ends three connections three ways (the client's EOF, a bad header,
silence), and gives the student's `state_paths(lines)` the server's
stderr.  Judged: each connection, found by its client's port, went through
the states the state diagram shows.
"""

from docs.checks import _kit

TITLE = "Count the state changes"
CHAPTER = "04-anatomy.md"
LEVEL = 1
MINUTES = 20

EXPECTED = {"the client's EOF": ["OPEN", "INPUT_CLOSED", "CLOSED"],
            "a bad header": ["OPEN", "CLOSING", "LINGERING", "CLOSED"],
            "silence": ["OPEN", "CLOSING", "LINGERING", "CLOSED"]}


def grade(student: _kit.Student) -> str:
    state_paths = student.need("state_paths")
    peers = {}
    with _kit.process("--handler", "lenprefix", "--trace", "--idle-timeout", "0.5") as (server, port):
        with _kit.connect(port) as sock:
            peers["the client's EOF"] = "127.0.0.1:%d" % sock.getsockname()[1]
            sock.sendall(b"005hello")
            _kit.check(_kit.recv_exactly(sock, 8) == b"005hello", "no echo from lenprefix")
            sock.shutdown(1)
            _kit.recv_until_eof(sock)
        with _kit.connect(port) as sock:
            peers["a bad header"] = "127.0.0.1:%d" % sock.getsockname()[1]
            sock.sendall(b"xyz")
            _kit.recv_until_eof(sock)
        with _kit.connect(port) as sock:
            peers["silence"] = "127.0.0.1:%d" % sock.getsockname()[1]
            _kit.recv_until_eof(sock)
    _, trace = server.communicate(timeout=15)
    paths = state_paths(trace.splitlines())
    _kit.check(isinstance(paths, dict), f"state_paths returned {type(paths).__name__}, not a dict")
    for why, peer in peers.items():
        got = paths.get(peer)
        _kit.expect(got == EXPECTED[why], f"ended by {why}, {peer} went through {got}, "
                                          f"not {EXPECTED[why]}")
    return "three connections, three endings, each path as the state diagram says"
