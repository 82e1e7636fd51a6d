"""Answer to 04-pause-reading: a handler that stops reading its client, and starts again.

As soon as a client connects, the handler stops reading it
(`context.pause_reading()`) for a second, then reads again
(`context.resume_reading()`, from a `context.call_later` timer), counts the
bytes it is sent, and at the client's EOF answers with the count.  While it
is paused the bytes wait in the kernel's buffers, and once they are full
the *client's* send() blocks: backpressure, the mechanism `--high-water`
uses.

Serve it by hand: `python3 docs/answers/04-pause-reading.py` (port 12000).
"""

import evloop

PAUSE = 1.0  # seconds


class Gate(evloop.Handler):
    """Paused for PAUSE seconds, then counting."""

    def __init__(self, max_message=65536):
        super().__init__(max_message)
        self.received = 0

    def connection_made(self, context):
        super().connection_made(context)
        context.pause_reading()
        context.call_later(PAUSE, context.resume_reading)

    def data_received(self, data):
        self.received += len(data)
        return b""  # read, nothing to answer yet

    def eof_received(self):
        return f"{self.received}\n".encode()


if __name__ == "__main__":
    evloop.run(Gate, evloop.Config(port=12000))
