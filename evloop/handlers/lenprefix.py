"""lenprefix: the labs' length-prefixed framing.

Wire format (from the labs' `recv_all` exercise): three ASCII decimal
digits, zero-padded as `str(n).zfill(3)`, give the payload length n
(0 to 999); then come exactly n payload bytes.  `b"016Hello!! Server!!"` is
one message with a 16-byte payload.

Each complete message gets exactly one reply in the same framing, echoing
the payload.  Since a valid header is always exactly those three digits, the
reply to a message is byte for byte the message itself: the handler only has
to find where whole messages end, and it can hand back the received bytes
without copying them.

Theory of operation: `split_frames(data)` walks the headers and returns the
offset just past the last complete message.  Whatever follows (at most a
header and 999 bytes) waits in `self.partial` for the next `recv()`.  A header
that is not three digits, or announces more than `max_message` bytes, is a
`ProtocolError`; the replies due before it are still delivered.

There are only a thousand valid headers, so they are listed once, both
ways round.  `LENGTHS` maps a header to its length: one dict lookup both
checks and converts it, and refuses what `int()` would accept (b" 12",
b"+12", b"1_2").  `HEADERS` maps a length to its header, for the fast path:
a recv() holding exactly one message of n payload bytes must begin with
`HEADERS[n]`, so one comparison checks the whole frame.  Both cost less
than `isdigit()` and `int()` on the header, or `startswith()`, whose
arguments are parsed the slow way (bench/results/README.md, "Where
the time goes").
"""

from __future__ import annotations

from collections.abc import Iterator

from evloop.handlers.base import DEFAULT_MAX_MESSAGE
from evloop.handlers.base import Handler
from evloop.handlers.base import ProtocolError
from evloop.handlers.context import Reply

HEADER_SIZE = 3
MAX_PAYLOAD = 999
HEADERS = [str(n).zfill(HEADER_SIZE).encode("ascii") for n in range(MAX_PAYLOAD + 1)]
LENGTHS = {header: n for n, header in enumerate(HEADERS)}


def encode(payload: bytes) -> bytes:
    """Frame `payload` (at most 999 bytes) as the labs' clients do."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"a lenprefix payload is at most {MAX_PAYLOAD} bytes, not {len(payload)}")
    return str(len(payload)).zfill(HEADER_SIZE).encode("ascii") + payload


def split_frames(data: bytes, max_payload: int = MAX_PAYLOAD) -> int:
    """Return the end offset of the last complete frame at the start of `data`.

    Raises ProtocolError at the first malformed header, with `reply` set to
    the complete frames before it.
    """
    pos = 0
    size = len(data)
    while size - pos >= HEADER_SIZE:
        header = bytes(data[pos:pos + HEADER_SIZE])
        length = LENGTHS.get(header)
        if length is None or length > max_payload:
            raise ProtocolError(_header_problem(header, max_payload), reply=data[:pos])
        end = pos + HEADER_SIZE + length
        if end > size:
            break
        pos = end
    return pos


def _header_problem(header: bytes, max_payload: int) -> str:
    # bytes.isdigit() accepts only b"0"-b"9": no sign, space or Unicode digit.
    if not header.isdigit():
        return f"bad length header {header!r}: expected 3 ASCII digits"
    return f"message of {int(header)} bytes is over --max-message {max_payload}"


def payloads(frames: bytes) -> Iterator[bytes]:
    """Yield the payloads of a run of complete frames."""
    pos = 0
    while pos < len(frames):
        length = int(frames[pos:pos + HEADER_SIZE])
        yield frames[pos + HEADER_SIZE:pos + HEADER_SIZE + length]
        pos += HEADER_SIZE + length


class LenPrefixHandler(Handler):
    """Answer each 3-digit length-prefixed message with itself."""

    def __init__(self, max_message: int = DEFAULT_MAX_MESSAGE) -> None:
        super().__init__(max_message=min(max_message, MAX_PAYLOAD))
        self.partial = b""

    def data_received(self, data: bytes) -> Reply:
        if self.partial:
            data = self.partial + data
        else:
            # Fast path: one recv() holding exactly one whole message, which is
            # what a ping-pong client sends, so one comparison replaces
            # split_frames' loop.
            length = len(data) - HEADER_SIZE  # negative: too short, and cannot match
            if length <= self.max_message and data[:HEADER_SIZE] == HEADERS[length]:
                return data
        end = split_frames(data, self.max_message)
        if end == len(data):
            self.partial = b""
            return data
        self.partial = data[end:]
        return data[:end] if end else None

    def eof_received(self) -> Reply:
        if self.partial:
            raise ProtocolError(f"connection closed in the middle of a message "
                                f"({len(self.partial)} bytes of it received)")
        return None
