"""How evloop.aio reports an error no callback handled: asyncio's one path, in asyncio's words.

Everything a loop cannot hand back to its caller (a callback that raised, a
protocol that failed, an unclosed transport's error) goes to the loop's
`call_exception_handler(context)`, a dict with at least a "message" and
often an "exception", a "transport", a "protocol", a "handle".  The
program may set its own handler; without one, the default logs the
message, every other key of the context and the exception's traceback on
the "asyncio" logger.  Programs and CPython's tests read those lines, so
they are asyncio's own, word for word.

The rules, asyncio's: a handler that raises is itself reported through
the default handler, with the context it was given; a default handler
that raises is logged; SystemExit and KeyboardInterrupt pass through all
of it, so Ctrl-C still ends the program.  From Python 3.12 a program's
handler runs in the contextvars context of the task, future or handle the
error came from (`HANDLER_IN_CONTEXT`), so that a logger reading context
variables sees the request's; before 3.12, in the loop's.  In debug mode
the default handler also shows where the handle running was made.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable
from typing import Any

__all__ = ["ExceptionHandler", "call_exception_handler", "log_context"]

log = logging.getLogger("asyncio")
HANDLER_IN_CONTEXT = sys.version_info >= (3, 12)
ExceptionHandler = Callable[[Any, dict[str, Any]], object]


def log_context(context: dict[str, Any], current_handle: Any = None) -> None:
    """The default handler: the message and the context, with the exception's traceback
    (and, in debug mode, where `current_handle`, the one running, was made)."""
    if "source_traceback" not in context and current_handle is not None and \
            current_handle._source_traceback:
        context["handle_traceback"] = current_handle._source_traceback
    message = context.get("message") or "Unhandled exception in event loop"
    exception = context.get("exception")
    exc_info: Any = (type(exception), exception, exception.__traceback__) \
        if exception is not None else False
    lines = [message]
    for key in sorted(context):
        if key in ("message", "exception"):
            continue
        value = context[key]
        if key in ("source_traceback", "handle_traceback"):
            what = "Object" if key == "source_traceback" else "Handle"
            value = f"{what} created at (most recent call last):\n" + "".join(
                traceback.format_list(value)).rstrip()
        else:
            value = repr(value)
        lines.append(f"{key}: {value}")
    log.error("\n".join(lines), exc_info=exc_info)


def call_exception_handler(loop: Any, handler: ExceptionHandler | None,
                           context: dict[str, Any]) -> None:
    """Report `context` to `handler(loop, context)`, or to the loop's default handler."""
    if handler is None:
        try:
            loop.default_exception_handler(context)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException:
            log.error("Exception in default exception handler", exc_info=True)
        return
    try:
        run_in = context_of(context) if HANDLER_IN_CONTEXT else None
        if run_in is not None:
            run_in.run(handler, loop, context)
        else:
            handler(loop, context)
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException as exc:
        try:
            loop.default_exception_handler({
                "message": "Unhandled error in exception handler",
                "exception": exc, "context": context})
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException:
            log.error("Exception in default exception handler while handling an "
                      "unexpected error in custom exception handler", exc_info=True)


def context_of(context: dict[str, Any]) -> Any:
    """The contextvars context asyncio 3.12+ runs a program's handler in: that of
    the context's task, else its future (a task, sometimes), else its handle."""
    for key in ("task", "future", "handle"):
        thing = context.get(key)
        if thing is not None:
            get_context = getattr(thing, "get_context", None)
            found = get_context() if get_context is not None else None
            return found if hasattr(found, "run") else None
    return None
