"""A clock for everyone: server-wide work on the handler API (docs/09-reaching-out.md)."""

import time

import evloop


class Clock(evloop.LineHandler):
    """Every `tick` seconds, the time, to every client; "bye" to all at the end."""

    options = {"tick": evloop.Option("seconds between ticks", type=float, default=1.0)}

    def __init__(self, max_message=65536, tick=1.0):
        super().__init__(max_message)

    @classmethod
    def server_started(cls, server):
        def ring():
            line = time.strftime("%H:%M:%S\n").encode()  # the time of day, read at the beat
            for client in server.connections:
                client.push(line)

        server.call_every(server.options["tick"], ring)

    @classmethod
    def server_stopping(cls, server):
        if server.stopping == "retire":  # a reload: the new workers serve on
            for client in server.connections:
                client.push(b"reconnect\n")
                client.close()
        else:
            for client in server.connections:
                client.push(b"bye\n")

    def connection_made(self, context):
        super().connection_made(context)
        context.set_idle_timeout(None)  # it only listens
        return b"welcome\n"

    def line_received(self, line):
        return b""  # nothing to say back
