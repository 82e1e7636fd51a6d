"""Answer to labs-fixed-sixteen: the lab's fixed 16-byte message, served as a handler.

The lab's server read exactly 16 bytes with a `recv_all(sock, 16)` loop that
raised EOFError when the peer closed early.  A handler cannot loop on
recv(); it is fed whatever arrived, so it keeps the bytes of an unfinished
message until the rest come, and a client that closes in the middle of one
is a protocol error: logged, and that client closed.

Serve it by hand: `python3 docs/answers/labs-fixed-sixteen.py` (port 12000).
"""

import evloop

SIZE = 16


class FixedSixteen(evloop.Handler):
    """Echo every whole 16-byte message."""

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


if __name__ == "__main__":
    evloop.run(FixedSixteen, evloop.Config(port=12000))
