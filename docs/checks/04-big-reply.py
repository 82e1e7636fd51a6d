"""04-big-reply: 1 MiB replies to a client that does not read, and pause_writing().

The student's `BigReply` line handler answers `big` with 1 MiB and a
newline.  It is served with a probe that records the framework's
`pause_writing()` and `resume_writing()` calls (and passes them on).  A
client asks eight times in one send and does not read.  Judged: the pause
came while the client did not read, the resume after it read, in turn, and
the 8 MiB arrived intact.
"""

import hashlib
import socket

from docs.checks import _kit

TITLE = "A 1 MiB reply and pause_writing()"
CHAPTER = "04-anatomy.md"
LEVEL = 1
MINUTES = 20

BIG = bytes(range(256)) * 4096  # 1 MiB, not all one byte, so that an order error shows
ASKS = 8


def grade(student: _kit.Student) -> str:
    big_reply = student.need("BigReply")
    seen: list[str] = []

    class Probe(big_reply):  # type: ignore[misc, valid-type]
        def pause_writing(self):  # type: ignore[no-untyped-def]
            seen.append("pause_writing")
            return super().pause_writing()

        def resume_writing(self):  # type: ignore[no-untyped-def]
            seen.append("resume_writing")
            return super().resume_writing()

    with _kit.served(Probe) as server:
        # A small receive buffer, set before connecting (it sets the TCP window), so
        # that the kernel cannot swallow the replies on the client's behalf.
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        sock.settimeout(10)
        sock.connect(server.address)
        with sock:
            sock.sendall(b"big\n" * ASKS)
            _kit.check(_kit.wait_for(lambda: "pause_writing" in seen),
                       "pause_writing() never came while the client did not read: "
                       "are the replies 1 MiB?")
            _kit.expect("resume_writing" not in seen, "resumed before the client read")
            reply = _kit.recv_exactly(sock, ASKS * (len(BIG) + 1))
            _kit.expect(_kit.wait_for(lambda: "resume_writing" in seen),
                        "resume_writing() never came after the client read")
    _kit.expect(hashlib.sha256(reply).digest() == hashlib.sha256((BIG + b"\n") * ASKS).digest(),
                "the replies came back changed: each is BIG (in the starter) and a newline")
    return f"{ASKS} MiB intact; the framework called {', '.join(seen)}"
