"""Handlers: the protocols evloop serves, with no I/O in them.

`load_handler(spec)` turns a `--handler` argument into a handler class: a
built-in name (`echo`, `uppercase`, `lenprefix`, `chat`) or a user's
`package.module:ClassName`; `slow` is the blocking-handler lesson.  See `evloop.handlers.base` for the API.
"""

import importlib

from evloop.handlers.base import DEFAULT_MAX_MESSAGE
from evloop.handlers.base import Handler
from evloop.handlers.base import ProtocolError

BUILTIN = {
    "echo": "evloop.handlers.echo:EchoHandler",
    "uppercase": "evloop.handlers.uppercase:UppercaseHandler",
    "lenprefix": "evloop.handlers.lenprefix:LenPrefixHandler",
    "chat": "evloop.handlers.chat:ChatHandler",
    "slow": "evloop.handlers.slow:SlowHandler",
}

__all__ = ["BUILTIN", "DEFAULT_MAX_MESSAGE", "Handler", "HandlerNotFound",
           "ProtocolError", "load_handler", "handler_name"]


class HandlerNotFound(LookupError):
    """The --handler argument names nothing loadable."""


def load_handler(spec):
    """Return the handler class named by `spec` (a built-in name or "module:Class")."""
    target = BUILTIN.get(spec, spec)
    module_name, sep, class_name = target.partition(":")
    if not sep or not module_name or not class_name:
        choices = ", ".join(BUILTIN)
        raise HandlerNotFound(f"unknown handler {spec!r}; built-in handlers: {choices}; "
                              f"or give your own as package.module:ClassName")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise HandlerNotFound(f"cannot import {module_name!r} for handler {spec!r}: {exc}") from None
    cls = getattr(module, class_name, None)
    if not callable(cls):
        raise HandlerNotFound(f"module {module_name!r} has no class {class_name!r}")
    return cls


def handler_name(spec):
    """A short name for messages: the built-in name, or the class's name."""
    return spec if spec in BUILTIN else spec.rpartition(":")[2]


def make_factory(cls, max_message=DEFAULT_MAX_MESSAGE, **options):
    """A zero-argument callable making handlers of class `cls`.

    `options` (e.g. work_ms for the slow handler) are passed only when the
    class lists them in its `options` attribute; others are ignored.
    """
    factory = getattr(cls, "factory", None)
    if factory is None:
        return cls
    wanted = {key: value for key, value in options.items()
              if key in getattr(cls, "options", ()) and value is not None}
    return factory(max_message=max_message, **wanted)
