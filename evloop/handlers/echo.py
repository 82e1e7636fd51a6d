"""echo: every byte received is sent back, in order, as soon as it arrives.

There are no messages to wait for: each chunk `recv()` returns is answered
at once, so the reply to a lab client's `sendall(b"Hello, world")` is on its
way before the client calls `recv(1024)`.  Returning the very bytes object
received costs no copy.
"""

from __future__ import annotations

from evloop.handlers.base import Handler
from evloop.handlers.context import Context


class EchoHandler(Handler):
    """Send every byte back."""

    shared_over_udp = True  # datagram_received keeps nothing

    def data_received(self, data: bytes) -> bytes:
        return data

    def datagram_received(self, data: bytes, context: Context) -> bytes:
        return data  # no state, no greeting: the conversation is the datagram
