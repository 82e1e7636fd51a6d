"""uppercase: Kurose and Ross's first server, as a stream.

The lab client sends one sentence with a single `send()` and no newline,
then waits in `recv(1024)`.  So nothing here waits for a line end: each chunk
is answered as soon as it arrives, with ASCII letters uppercased by
`bytes.upper()` (bytes outside ASCII are left as they are, which keeps UTF-8
text intact).
"""

from __future__ import annotations

from evloop.handlers.base import Handler
from evloop.handlers.context import Context


class UppercaseHandler(Handler):
    """Send every byte back, ASCII letters uppercased."""

    shared_over_udp = True  # datagram_received keeps nothing

    def data_received(self, data: bytes) -> bytes:
        return data.upper()

    def datagram_received(self, data: bytes, context: Context) -> bytes:
        return data.upper()
