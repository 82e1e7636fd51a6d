"""Handlers: the protocols evloop serves, with no I/O in them.

The API is `Handler` (evloop.handlers.base), `LineHandler` for newline
protocols (evloop.handlers.lines) and the `Context` a handler is given
(evloop.handlers.context).  The built-in protocols are `echo`, `uppercase`,
`lenprefix` and `chat`; `slow` is the blocking-handler lesson, and `relay`
a TCP proxy written on the handler API alone.  Nothing in this package
imports a socket, a selector or a thread: the same classes run under
evloop's loop and every concurrency model in bench/.
"""

from __future__ import annotations

from evloop.handlers.base import Handler
from evloop.handlers.base import Option
from evloop.handlers.base import ProtocolError
from evloop.handlers.context import Context
from evloop.handlers.lines import LineHandler

__all__ = ["Context", "Handler", "LineHandler", "Option", "ProtocolError"]
