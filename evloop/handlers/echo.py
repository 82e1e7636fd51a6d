"""echo: every byte received is sent back, in order, as soon as it arrives.

There are no messages to wait for: each chunk `recv()` returns is answered
at once, so the reply to a lab client's `sendall(b"Hello, world")` is on its
way before the client calls `recv(1024)`.  Returning the very bytes object
received costs no copy.
"""

from evloop.handlers.base import Handler


class EchoHandler(Handler):
    """Send every byte back."""

    def data_received(self, data):
        return data
