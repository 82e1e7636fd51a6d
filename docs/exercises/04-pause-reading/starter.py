"""Exercise 04-pause-reading: stop reading, then start again.

Chapter 4 (docs/04-anatomy.md, "Exercises").
Difficulty: ★★☆ medium.  Time: about 30 minutes.

The task: write a handler `Gate` that, as soon as a client connects, stops
reading it (`context.pause_reading()`), starts again one second later
(`context.resume_reading()`, from a timer: `context.call_later`), counts
the bytes it is sent, and at the client's EOF answers the count and a
newline.

Done when: no byte reached the handler in its first second; the client's
non-blocking send() hit "would block" meanwhile (the bytes wait in the
kernel's buffers, and once they are full the client's send() cannot go on:
backpressure); after the pause every byte arrived and the count is right.

Try it:  python3 docs/exercises/04-pause-reading/starter.py   (serves on port 12000)
Grade it:  python3 -m docs.grade 04-pause-reading docs/exercises/04-pause-reading/starter.py
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
        # Your code here: stop reading now, and start again in PAUSE seconds.

    def data_received(self, data):
        raise NotImplementedError("Gate.data_received: count, and answer nothing yet")

    def eof_received(self):
        raise NotImplementedError("Gate.eof_received: answer the count")


if __name__ == "__main__":
    evloop.run(Gate, evloop.Config(port=12000))
