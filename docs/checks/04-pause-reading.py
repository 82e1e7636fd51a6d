"""04-pause-reading: a handler that stops reading its client for a second, then counts.

The student's `Gate` handler is served with a probe around it that notes
when the connection was made and when data first reached the handler.
Judged: no byte reached it in its first second; the client's non-blocking
send() hit "would block" meanwhile (the kernel's buffers filled: that is
backpressure); after the pause every byte arrived and the count at EOF was
right.
"""

import socket
import time

from docs.checks import _kit

TITLE = "Stop reading, then start again"
CHAPTER = "04-anatomy.md"
LEVEL = 2
MINUTES = 30

PAUSE = 1.0
LIMIT = 64 << 20  # never send more than this: the kernel's buffers are far smaller


def grade(student: _kit.Student) -> str:
    gate = student.need("Gate")
    moments: dict[str, float] = {}

    class Probe(gate):  # type: ignore[misc, valid-type]
        def connection_made(self, context):  # type: ignore[no-untyped-def]
            moments.setdefault("made", time.monotonic())
            return super().connection_made(context)

        def data_received(self, data):  # type: ignore[no-untyped-def]
            moments.setdefault("first data", time.monotonic())
            return super().data_received(data)

    with _kit.served(Probe) as server:
        with _kit.connect(server.address[1]) as sock:
            sock.setblocking(False)
            chunk = b"x" * 65536
            sent, blocked = 0, False
            deadline = time.monotonic() + PAUSE / 2  # judge while the gate is surely shut
            while sent < LIMIT and time.monotonic() < deadline:
                try:
                    sent += sock.send(chunk)
                except BlockingIOError:
                    blocked = True
                    break
            held = sent
            sock.settimeout(10)
            sock.sendall(chunk)  # blocks until the gate opens and the server reads
            sent += len(chunk)
            sock.shutdown(socket.SHUT_WR)
            answer = _kit.recv_until_eof(sock)
    _kit.expect(blocked, f"the client's send() never blocked: {sent} bytes went while the "
                         f"handler should have been paused")
    waited = moments.get("first data", 0) - moments.get("made", 0)
    _kit.expect(waited >= 0.8 * PAUSE, f"data reached the handler {waited:.2f} s after the "
                                       f"connection was made, before its second was up")
    _kit.expect(answer == f"{sent}\n".encode(), f"sent {sent} bytes, the handler answered {answer!r}")
    return f"paused for {waited:.1f} s while the kernel held {held // 1024} KiB; every byte counted"
