"""Chapter 2, exercise 1: the lab's fixed 16-byte message, served as a handler.

The lab's server read exactly 16 bytes with a `recv_all(sock, 16)` loop that
raised EOFError when the peer closed early.  The exercise: write that server
as a sans-IO handler, before the length prefix lifts the fixed size.  A
handler cannot loop on recv(); it is fed whatever arrived, so it keeps the
bytes of an unfinished message until the rest come.

Done when: each 16-byte message is echoed whole, whether it arrives a byte
at a time or two and a half messages to one recv(); a client that closes in
the middle of a message is a protocol error (logged, that client closed),
and the server goes on serving the others.

Run it: python3 docs/answers/02-fixed-sixteen.py
"""

import time

import _kit
import evloop

SIZE = 16


class FixedSixteen(evloop.Handler):
    """The solution: echo every whole 16-byte message."""

    def __init__(self, max_message=65536):
        super().__init__(max_message)
        self.pending = bytearray()  # the start of a message whose end has not come

    def data_received(self, data):
        self.pending += data
        whole = len(self.pending) - len(self.pending) % SIZE
        if not whole:
            return None  # no message complete yet: nothing to send, and not "active"
        reply = bytes(self.pending[:whole])
        del self.pending[:whole]
        return reply

    def eof_received(self):
        # recv_all's EOFError, the event-loop way: say why, and the framework logs it
        # with the peer's address and closes this connection only.
        if self.pending:
            raise evloop.ProtocolError(f"closed after {len(self.pending)} of {SIZE} bytes")
        return None


def main():
    one, two, three = b"Hello!! Server!!", b"0123456789abcdef", b"sixteen bytes!!!"
    with _kit.served(FixedSixteen) as server:
        port = server.address[1]
        with _kit.connect(port) as sock:  # a byte at a time
            for byte in one:
                sock.send(bytes([byte]))
                time.sleep(0.001)
            _kit.check(_kit.recv_exactly(sock, SIZE) == one, "a message sent a byte at a time")
        with _kit.connect(port) as sock:  # two and a half messages, then the last half
            sock.sendall(one + two + three[:8])
            _kit.check(_kit.recv_exactly(sock, 2 * SIZE) == one + two, "two messages in one send")
            sock.sendall(three[8:])
            _kit.check(_kit.recv_exactly(sock, SIZE) == three, "the message finished later")
            sock.shutdown(1)
            _kit.check(_kit.recv_until_eof(sock) == b"", "a clean EOF gets nothing more")
        with _kit.connect(port) as sock:  # the peer closes early: recv_all's EOFError
            sock.sendall(two + b"short")
            sock.shutdown(1)
            _kit.check(_kit.recv_until_eof(sock) == two, "the whole message before the short one")
        with _kit.connect(port) as sock:  # and the server still serves
            sock.sendall(three)
            _kit.check(_kit.recv_exactly(sock, SIZE) == three, "the server stopped serving")
        stats = server.stats()
    _kit.check(stats.protocol_errors == 1,
               f"one protocol error (the short message) expected, stats say {stats.protocol_errors}")
    _kit.ok("16-byte messages echoed whole however they arrive; a short one closes only its client")


if __name__ == "__main__":
    main()
