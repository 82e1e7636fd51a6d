"""A broken echo server's handler: after 5,000 bytes it changes one byte of a reply.

The load generators' tests serve it to prove they check every reply's content.
"""

from evloop.handlers import Handler


class CorruptEcho(Handler):
    def connection_made(self, context):
        self.seen = 0
        return super().connection_made(context)

    def data_received(self, data):
        before, self.seen = self.seen, self.seen + len(data)
        if before < 5000 <= self.seen:
            return b"!" + bytes(data[1:])
        return data
