"""The one error path: what happens to an exception nobody caught.

A server's callbacks run code it does not control: a handler author's, a
timer set by anyone, work finished in a pool.  None of it may stop the
loop, and none of it may fail silently.  So, as in asyncio, every exception
that escapes a callback goes to one place, the loop's exception handler,
with a context dict: "message" (one line, naming the peer when there is
one), "exception", and what is known besides ("callback", "peer",
"handler").  The default handler, `log_exception`, logs the message at
ERROR with the traceback, once.  A program may set its own with
`Loop.set_exception_handler` (to count errors, or send them elsewhere); if
that one raises too, both are logged by the default and the loop goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("evloop")

#: A loop's exception handler: called with the loop and a context dict
#: holding at least "message", and "exception" when there is one.
ExceptionHandler = Callable[[Any, dict[str, Any]], None]


def log_exception(context: dict[str, Any]) -> None:
    """Log `context["message"]` at ERROR, with the exception's traceback."""
    exc = context.get("exception")
    message = context.get("message") or "a loop callback raised"
    log.error("%s", message, exc_info=(type(exc), exc, exc.__traceback__)
              if isinstance(exc, BaseException) else None)


def callback_name(callback: Callable[..., object]) -> str:
    """A callback's name for a message: its qualified name, or its repr."""
    return getattr(callback, "__qualname__", None) or repr(callback)
