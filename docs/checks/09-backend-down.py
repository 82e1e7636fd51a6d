"""09-backend-down: a refused and a silent loopback backend, each told to the client in one line.

The student's `Gateway` (a line handler taking the option `backend_port`)
connects to its backend with a 0.5 s timeout.  The grader tries it on two
loopback backends that fail, and nothing else: a port where nothing
listens (the kernel answers the SYN with RST), and a socket that listens
with a backlog of 0, its one queue slot taken, so the kernel drops the SYN
and the connect waits until the timeout.  Then on a working echo backend.
Judged: the client gets `* backend refused` or `* backend timed out`, then
EOF, and through a working backend its line comes back.
"""

import socket
import time

from docs.checks import _kit

TITLE = "When the backend is not there"
CHAPTER = "09-reaching-out.md"
LEVEL = 2
MINUTES = 40


def through(gateway: type, backend_port: int, timeout: float = 5) -> tuple[str, float]:
    with _kit.served(gateway, handler_options={"backend_port": backend_port}) as server:
        with _kit.connect(server.address[1], timeout=timeout) as sock:
            started = time.perf_counter()
            sock.sendall(b"anyone there?\n")
            try:
                return _kit.recv_until_eof_or_line(sock), time.perf_counter() - started
            except socket.timeout:
                return "(nothing, and no EOF, within 5 s)", time.perf_counter() - started


def grade(student: _kit.Student) -> str:
    import evloop
    gateway = student.need("Gateway")
    with socket.socket() as closed:  # a free port, then nobody on it
        closed.bind(("127.0.0.1", 0))
        refused_port = closed.getsockname()[1]
    answer, _ = through(gateway, refused_port)
    _kit.expect(answer == "* backend refused", f"with nothing listening on the backend's port, "
                                               f"the client got {answer!r}")
    with socket.socket() as full, socket.socket() as queued:
        full.bind(("127.0.0.1", 0))
        full.listen(0)  # never accepted: the queue has one slot...
        queued.connect(full.getsockname())  # ...and this takes it
        answer, waited = through(gateway, full.getsockname()[1])
    _kit.expect(answer == "* backend timed out", f"with a backend that never answers the SYN, "
                                                 f"the client got {answer!r} after {waited:.1f} s")
    with _kit.served(evloop.load_handler("echo")) as backend:
        answer, _ = through(gateway, backend.address[1])
    _kit.expect(answer == "anyone there?", f"through a working echo backend the client got {answer!r}")
    return f"refused and timed-out backends told in one line; the timeout took {waited:.2f} s"
