"""Exercise 04-big-reply: a 1 MiB reply and pause_writing().

Chapter 4 (docs/04-anatomy.md, "Exercises").
Difficulty: ★☆☆ easy.  Time: about 20 minutes.

The task: write a line handler `BigReply` (an `evloop.LineHandler`) that
answers the line `big` with BIG (1 MiB) and a newline, and anything else
with `?` and a newline, and prints each call of its `pause_writing()` and
`resume_writing()`.

The grader asks for it eight times in one send, without reading (the
kernel's send buffer can swallow one MiB alone), then reads.  Done when
the framework called pause_writing() while the client did not read,
resume_writing() after it read, and all 8 MiB arrived intact.

Try it:  python3 docs/exercises/04-big-reply/starter.py   (serves on port 12000)
Grade it:  python3 -m docs.grade 04-big-reply docs/exercises/04-big-reply/starter.py
"""

import evloop

BIG = bytes(range(256)) * 4096  # 1 MiB, not all one byte, so that an order error shows


class BigReply(evloop.LineHandler):
    """`big` gets 1 MiB and a newline; the flow-control calls are printed."""

    def line_received(self, line):
        raise NotImplementedError("BigReply.line_received")

    # Your code here: pause_writing() and resume_writing(), which the framework calls.


if __name__ == "__main__":
    evloop.run(BigReply, evloop.Config(port=12000))
