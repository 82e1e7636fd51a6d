"""Chapter 5, exercise 3: a 1 MiB reply, and the pause_writing() it causes.

The exercise: write a line handler that answers the line `big` with 1 MiB
(and a newline), and records when the framework calls its
`pause_writing()` and `resume_writing()`.  Connect a client that asks for
it eight times in one send and does not read.  The kernel takes what fits in
its socket buffers (on Linux the send buffer grows up to `tcp_wmem`'s last
figure, 4 MiB here, so one MiB alone may vanish into it); the rest waits in
the connection's output buffer, and past `--high-water` (256 KiB) the
handler hears `pause_writing()`.  Once the client reads and the buffer
drains below `--low-water` (64 KiB), it hears `resume_writing()`.

Done when: pause_writing came while the client was not reading, resume_writing
after it read, in that order, and the client got the whole MiB intact.

Run it: python3 docs/answers/05-big-reply.py
"""

import hashlib
import socket
import time

import _kit
import evloop

BIG = bytes(range(256)) * 4096  # 1 MiB, not all one byte, so that an order error shows
ASKS = 8  # 8 MiB in all: more than the kernel's buffers hold


class BigReply(evloop.LineHandler):
    """The solution."""

    seen = []  # the events of every connection, in order, for the check below

    def line_received(self, line):
        if line == b"big":
            return BIG + b"\n"
        return b"?\n"

    def pause_writing(self):
        BigReply.seen.append("pause_writing")

    def resume_writing(self):
        BigReply.seen.append("resume_writing")


def wait_for(condition, seconds=5.0):
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


def main():
    with _kit.served(BigReply) as server:
        # A small receive buffer, set before connecting (it sets the TCP window), so
        # that the kernel cannot swallow the whole MiB on the client's behalf.
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        sock.settimeout(10)
        sock.connect(server.address)
        with sock:
            sock.sendall(b"big\n" * ASKS)
            paused = wait_for(lambda: "pause_writing" in BigReply.seen)
            _kit.check(paused, "pause_writing() never came while the client did not read")
            _kit.check("resume_writing" not in BigReply.seen, "resumed before the client read")
            reply = _kit.recv_exactly(sock, ASKS * (len(BIG) + 1))
            _kit.check(wait_for(lambda: "resume_writing" in BigReply.seen),
                       "resume_writing() never came after the client read")
    pairs = len(BigReply.seen) // 2
    _kit.check(BigReply.seen == ["pause_writing", "resume_writing"] * pairs and pairs,
               f"expected pauses and resumes in turn, got {BigReply.seen}")
    _kit.check(hashlib.sha256(reply).digest() == hashlib.sha256((BIG + b"\n") * ASKS).digest(),
               "the replies came back changed")
    _kit.ok("1 MiB reply: pause_writing while the client did not read, resume_writing after")


if __name__ == "__main__":
    main()
