"""Answer to 04-big-reply: a 1 MiB reply, and the pause_writing() it causes.

The kernel takes what fits in its socket buffers (on Linux the send buffer
grows up to `tcp_wmem`'s last figure, 4 MiB here, so one MiB alone may
vanish into it); the rest waits in the connection's output buffer, and past
`--high-water` (256 KiB) the handler hears `pause_writing()`.  Once the
client reads and the buffer drains below `--low-water` (64 KiB), it hears
`resume_writing()`.

Serve it by hand: `python3 docs/answers/04-big-reply.py` (port 12000).
"""

import evloop

BIG = bytes(range(256)) * 4096  # 1 MiB, not all one byte, so that an order error shows


class BigReply(evloop.LineHandler):
    """`big` gets 1 MiB and a newline; the flow-control calls are printed."""

    def line_received(self, line):
        if line == b"big":
            return BIG + b"\n"
        return b"?\n"

    def pause_writing(self):
        print(f"{self.context.peer}: pause_writing")

    def resume_writing(self):
        print(f"{self.context.peer}: resume_writing")


if __name__ == "__main__":
    evloop.run(BigReply, evloop.Config(port=12000))
