"""A handler that logs under its own logger's name, as a user's would."""

import logging

import evloop

log = logging.getLogger("greeter")


class Greeter(evloop.LineHandler):
    def connection_made(self, context):
        super().connection_made(context)
        log.warning("greeting %s", context.peer)
        return b"hello\n"

    def line_received(self, line):
        return line
