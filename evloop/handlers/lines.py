"""LineHandler: the base class for protocols of lines ending in a newline.

Chat, the slow handler and most lab protocols are line protocols, and
this class is their one framing:

* a line ends at b"\\n"; one b"\\r" just before it is dropped, so telnet
  and netcat both work; `line_received(line)` gets the line without either;
* a line longer than `max_message` bytes (not counting the ending) is a
  `ProtocolError`, raised as soon as the buffer proves it, so a client that
  never sends a newline cannot grow the buffer past `max_message` + 1;
* the answers of the lines in one `data_received` are joined into one
  reply, and None means no line was complete;
* once the context is closing (a `/quit`), the lines after it are ignored;
* a partial line at end of input is a `ProtocolError`.

As h11's receive buffer does, the buffer remembers how far it has already
been searched for b"\\n", so a long line arriving a byte at a time is not
rescanned from its start on every byte.
"""

from __future__ import annotations

from evloop.handlers.base import BYTES_TYPES
from evloop.handlers.base import DEFAULT_MAX_MESSAGE
from evloop.handlers.base import Handler
from evloop.handlers.base import ProtocolError
from evloop.handlers.base import WrongReturn
from evloop.handlers.context import Reply


class LineHandler(Handler):
    """Base class for newline-framed protocols.  Override `line_received`.

    Methods that may be overridden: `line_received` (required), and those of
    `Handler` except `data_received`.
    """

    def __init__(self, max_message: int = DEFAULT_MAX_MESSAGE) -> None:
        super().__init__(max_message=max_message)
        self.buffer = bytearray()
        self.searched = 0  # the bytes of `buffer` known to hold no b"\n"

    def line_received(self, line: bytes) -> Reply:
        """One line, without its b"\\n" or b"\\r\\n".  Return the reply or None."""
        raise NotImplementedError(f"{type(self).__name__} must define line_received")

    def data_received(self, data: bytes) -> Reply:
        buffer = self.buffer
        buffer += data
        context = getattr(self, "context", None)
        replies: list[Reply] = []
        start = 0
        end = buffer.find(b"\n", self.searched)
        while end >= 0:
            line = bytes(buffer[start:end - 1 if end > start and buffer[end - 1] == 13 else end])
            if len(line) > self.max_message:
                raise ProtocolError(self._too_long(), reply=b"".join(r for r in replies if r))
            try:
                reply = self.line_received(line)
            except ProtocolError as err:  # the lines before it were answered: those go first
                err.reply = b"".join([*(r for r in replies if r), err.reply or b""])
                raise
            if reply is not None and not isinstance(reply, BYTES_TYPES):
                raise WrongReturn("line_received", reply)  # a str, usually: named as such
            replies.append(reply)
            start = end + 1
            if context is not None and context.is_closing():
                break  # /quit: what follows is not read
            end = buffer.find(b"\n", start)
        del buffer[:start]
        self.searched = len(buffer)
        excess = len(buffer) - self.max_message
        if excess > 0 and not (excess == 1 and buffer[-1] == 13):  # a b"\r" awaiting its b"\n"
            raise ProtocolError(self._too_long(), reply=b"".join(r for r in replies if r))
        if not start:
            return None
        return b"".join(r for r in replies if r)

    def _too_long(self) -> str:
        return f"line longer than --max-message {self.max_message} bytes"

    def eof_received(self) -> Reply:
        if self.buffer:
            raise ProtocolError(f"connection closed in the middle of a line "
                                f"({len(self.buffer)} bytes of it received)")
        return None
