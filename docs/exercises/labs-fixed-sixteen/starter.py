"""Exercise labs-fixed-sixteen: the fixed 16-byte message, as a handler.

Appendix A (docs/appendix-labs.md, "Exercises").
Difficulty: ★☆☆ easy.  Time: about 25 minutes.

The task: the lab's first server reads exactly 16 bytes per message with a
`recv_all(sock, 16)` loop, which raises EOFError when the client closes
early.  Serve it as a sans-IO handler, `FixedSixteen`: it cannot loop on
recv(), it is fed whatever arrived, so it keeps the start of a message
until the rest arrives, and echoes each whole message.  A client that
closes in the middle of a message is a protocol error: raise
`evloop.ProtocolError` from `eof_received`, and the framework logs it and
closes that client only.

Done when a message sent a byte at a time and two and a half messages in
one send are all echoed whole, a short last message closes only its client,
and `server.stats()` counts one protocol error.

Try it:  python3 docs/exercises/labs-fixed-sixteen/starter.py   (serves on port 12000)
Grade it:  python3 -m docs.grade labs-fixed-sixteen docs/exercises/labs-fixed-sixteen/starter.py
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
        # Your code here: which bytes make whole messages? Send those, keep the rest.
        raise NotImplementedError("FixedSixteen.data_received")

    def eof_received(self):
        # Your code here: the client closed. In the middle of a message?
        return None


if __name__ == "__main__":
    evloop.run(FixedSixteen, evloop.Config(port=12000))
