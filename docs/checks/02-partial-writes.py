"""02-partial-writes (a measurement): partial writes of a 4 MiB echo, two send buffers.

The student's `CountingServer` (a bench.nonblocking.Server) counts its
send() calls in `sends` and those that left bytes queued in `partial`.  The
grader runs one 4 MiB echo through a fresh server with the kernel's default
send buffer and one with SO_SNDBUF at 4096 on the listening socket (accepted
sockets inherit it).  Judged: both echoes intact, the counts consistent
(partial <= sends), and the shape: the small buffer cut many writes short
(about one per 64 KiB read), more than the default buffer did.
"""

import socket
import threading
import time

from docs.checks import _kit

TITLE = "Count the partial writes"
CHAPTER = "02-non-blocking.md"
LEVEL = 2
MINUTES = 30
MEASUREMENT = True

SIZE = 4 * 2**20


def echo_once(counting: type, sndbuf: int | None) -> tuple[bool, int, int, int, float]:
    """One 4 MiB echo through a fresh server: (intact?, partial writes, sends, buffer, seconds)."""
    from bench import common
    options = common.parse_args("nonblocking", ["--port", "0", "--trace"])
    listener = socket.socket()
    if sndbuf:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    size = listener.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
    server = counting(options)
    threading.Thread(target=server.run, args=(listener,), daemon=True).start()
    data = bytes(range(256)) * (SIZE // 256)
    started = time.perf_counter()
    with _kit.connect(listener.getsockname()[1], timeout=20) as sock:
        sock.sendall(data)  # the server reads it all and queues the echo
        sock.shutdown(socket.SHUT_WR)
        echo = _kit.recv_until_eof(sock)
    return echo == data, server.partial, server.sends, size, time.perf_counter() - started


def grade(student: _kit.Student) -> str:
    counting = student.need("CountingServer")
    runs = {}
    for name, sndbuf in (("default SO_SNDBUF", None), ("SO_SNDBUF 4096", 4096)):
        intact, partial, sends, size, seconds = runs[name] = echo_once(counting, sndbuf)
        _kit.check(intact, f"the echo with {name} came back wrong")
        _kit.check(isinstance(partial, int) and isinstance(sends, int) and 0 <= partial <= sends,
                   f"with {name}: {partial!r} partial writes of {sends!r} send() calls "
                   f"cannot be")
        print(f"{name} ({size} B): {partial} partial writes in {sends} send() calls, {seconds:.2f} s")
    small, default = runs["SO_SNDBUF 4096"][1], runs["default SO_SNDBUF"][1]
    _kit.check(runs["SO_SNDBUF 4096"][2] >= SIZE // 2**16,
               f"only {runs['SO_SNDBUF 4096'][2]} send() calls counted for 4 MiB read "
               f"64 KiB at a time: is every send counted?")
    _kit.expect(small >= 16, f"with SO_SNDBUF 4096 only {small} writes were cut short: "
                             f"expected about one per 64 KiB read (tens)")
    _kit.expect(small > default, f"the small buffer cut {small} writes short, the default one "
                                 f"{default}: the smaller buffer should cut more")
    return f"{small} partial writes with SO_SNDBUF 4096, {default} by default"
