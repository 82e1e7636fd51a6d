"""Chapter 5, exercise 2: a handler that stops reading its client, and starts again.

The exercise: write a handler that, as soon as a client connects, stops
reading it (`context.pause_reading()`) for a second, then reads again
(`context.resume_reading()`, from a `context.call_later` timer), counts the
bytes it is sent, and at the client's EOF answers with the count.  Watch
what pausing does on the wire: the server does not read, so the bytes wait
in the kernel's buffers, and once they are full the *client's* send() blocks.
That is backpressure, the same mechanism `--high-water` uses (chapter 5).

Done when: no byte reached the handler before it resumed; the client's
non-blocking send() hit "would block" while the handler was paused (and the
bytes the kernel held then are printed); after the pause every byte arrived
and the count came back right.

Run it: python3 docs/answers/05-pause-reading.py
"""

import socket
import time

import _kit
import evloop

PAUSE = 1.0  # seconds
LIMIT = 64 << 20  # never send more than this: the kernel's buffers are far smaller


class Gate(evloop.Handler):
    """The solution: paused for PAUSE seconds, then counting."""

    opened = []  # every Gate made, for the check below (the test runs in-process)

    def __init__(self, max_message=65536):
        super().__init__(max_message)
        self.events = []
        self.received = 0
        Gate.opened.append(self)

    def connection_made(self, context):
        super().connection_made(context)
        context.pause_reading()
        self.events.append("paused")
        context.call_later(PAUSE, self.open_gate)

    def open_gate(self):
        self.events.append("resumed")
        self.context.resume_reading()

    def data_received(self, data):
        if not self.received:
            self.events.append("first data")
        self.received += len(data)
        return b""  # read, nothing to answer yet

    def eof_received(self):
        return f"{self.received}\n".encode()


def main():
    with _kit.served(Gate) as server:
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
            _kit.check(blocked, f"send() never blocked: {sent} bytes went while paused")
            sock.settimeout(10)
            sock.sendall(chunk)  # blocks until the gate opens and the server reads
            sent += len(chunk)
            sock.shutdown(socket.SHUT_WR)
            answer = _kit.recv_until_eof(sock)
    gate = Gate.opened[0]
    _kit.check(gate.events[:2] == ["paused", "resumed"],
               f"data reached the handler while it was paused: {gate.events}")
    _kit.check(answer == f"{sent}\n".encode(), f"sent {sent} bytes, the handler counted {answer!r}")
    print(f"while paused, the kernel's buffers held {held / 1024:.0f} KiB before send() blocked")
    _kit.ok("no byte was read while paused, the client's send() blocked, every byte came after")


if __name__ == "__main__":
    main()
