"""Loading a handler class by name, with every mistake found at load time.

`--handler` takes a built-in name (`echo`, `lenprefix`, ...) or a user's
`package.module:ClassName`.  Loading a user's module runs the user's code,
and a server that starts with a broken handler only fails later, once per
client; so everything that can be known now is checked now, and each
problem is a `HandlerLoadError` whose message fits on one line:

* no such module ("looked in the current directory and PYTHONPATH");
* a syntax error in it, with its file and line;
* any other exception while importing it (an ImportError inside it, say),
  with the file and line where it was raised;
* no such name in the module;
* a name that is not a Handler subclass (a function, an instance, some
  other class), or a subclass that never defines `data_received` (or a
  LineHandler's `line_received`).

The command line prints the message and exits 2, with no traceback.

`reload_handler(spec)` loads it again from its source, as a --workers
reload does in each new worker: it forgets every module of the user's own
first (`user_modules`: the handler's whole package, even pip-installed in a
venv, and whatever else was loaded from outside Python's installation and
evloop), so its helper modules are new too.  Other installed libraries stay
as loaded at start, and a C extension cannot be loaded afresh in a process
that has it: `unreloadable` names those in one line.  (Python trusts a
cached .pyc whose source kept its size and its mtime in whole seconds.)

`check_handler(handler, config)` then checks the class against a server's
settings (its options, UDP, the TLS files) and returns its factory: the
server calls it, and the command line calls it first to fail in one line.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.machinery
import inspect
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

from evloop.handlers.base import Handler
from evloop.handlers.lines import LineHandler
from evloop.settings.config import Config

BUILTIN = {
    "echo": "evloop.handlers.echo:EchoHandler",
    "uppercase": "evloop.handlers.uppercase:UppercaseHandler",
    "lenprefix": "evloop.handlers.lenprefix:LenPrefixHandler",
    "chat": "evloop.handlers.chat:ChatHandler",
    "slow": "evloop.handlers.slow:SlowHandler",
    "relay": "evloop.handlers.relay:RelayHandler",
}


class HandlerLoadError(LookupError):
    """The --handler argument names nothing that can serve; the message says why."""


def load_handler(spec: str) -> type[Handler]:
    """Return the handler class named by `spec` (a built-in name or "module:Class")."""
    target = BUILTIN.get(spec, spec)
    module_name, sep, class_name = target.partition(":")
    if not sep or not module_name or not class_name:
        raise HandlerLoadError(f"unknown handler {spec!r}; built-in handlers: "
                               f"{', '.join(BUILTIN)}; or give your own as module:ClassName")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (module_name + ".").startswith(exc.name + "."):  # itself
            raise HandlerLoadError(f"cannot load handler {spec!r}: no module named {exc.name!r} "
                                   f"(looked in the current directory and PYTHONPATH)") from None
        raise HandlerLoadError(_import_failure(spec, exc)) from None
    except SyntaxError as exc:
        where = f"{_short(exc.filename)}, line {exc.lineno}" if exc.filename else "its source"
        raise HandlerLoadError(f"cannot load handler {spec!r}: syntax error in {where}: "
                               f"{exc.msg}") from None
    except Exception as exc:
        raise HandlerLoadError(_import_failure(spec, exc)) from None
    if not hasattr(module, class_name):
        raise HandlerLoadError(f"cannot load handler {spec!r}: module {module_name!r} "
                               f"has no {class_name!r}")
    cls = getattr(module, class_name)
    problem = handler_problem(cls)
    if problem:
        raise HandlerLoadError(f"cannot serve {spec!r}: it {problem}")
    return cls  # type: ignore[no-any-return]  # checked by handler_problem


def user_modules(spec: str = "") -> list[str]:
    """The imported modules that are the user's code: those of the package `spec`
    names (wherever it is installed, a venv's site-packages included), and every
    other one from outside Python's installation; never evloop's nor `__main__`."""
    installed = tuple(os.path.join(os.path.realpath(prefix), "") for prefix in
                      {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix})
    package = spec.partition(":")[0].partition(".")[0]
    found = []
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if name in ("__main__", "evloop") or name.startswith("evloop.") or not path:
            continue
        if name.partition(".")[0] == package or not os.path.realpath(path).startswith(installed):
            found.append(name)
    return found


def compiled(name: str) -> bool:
    """Is module `name` a C extension?  Imported again in the same process, it is
    the same code: the shared library stays loaded."""
    path = getattr(sys.modules.get(name), "__file__", None) or ""
    return path.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))


def reload_handler(spec: str) -> type[Handler]:
    """`load_handler(spec)` from the source as it is now (see the essay)."""
    for name in user_modules(spec):
        if not compiled(name):
            del sys.modules[name]
    importlib.invalidate_caches()
    return load_handler(spec)


def unreloadable(spec: str) -> str:
    """The one line a reload logs about the user's modules it cannot load afresh, or ""."""
    names = sorted(name for name in user_modules(spec) if compiled(name))
    if not names:
        return ""
    return (f"reload: {', '.join(names)} cannot be loaded afresh (C extension"
            f"{'s' if len(names) > 1 else ''}: the code loaded at start stays until a restart)")


def handler_problem(cls: object) -> str | None:
    """Why `cls` cannot serve as a handler class, or None if it can."""
    if not isinstance(cls, type):
        kind = "a function" if callable(cls) else f"a {type(cls).__name__} object"
        return f"is {kind}, not a Handler subclass (a class that subclasses evloop.Handler)"
    if not issubclass(cls, Handler):
        return (f"is a class, but not a Handler subclass: declare it as "
                f"class {cls.__name__}(evloop.Handler)")
    if issubclass(cls, LineHandler):
        if cls.line_received is LineHandler.line_received:
            return "does not define line_received(self, line)"
    elif cls.data_received is Handler.data_received:
        return "does not define data_received(self, data)"
    return options_problem(cls)


# The names a handler option cannot take: the server's own settings, and the command
# line's own flags (a test checks that this covers every flag of evloop.serve).
SERVER_OPTIONS = frozenset(field.name for field in dataclasses.fields(Config)) | {
    "handler", "help", "log_level", "log_format", "version"}


def options_problem(cls: type[Handler]) -> str | None:
    """Why `cls`'s declared options cannot work, found before a client connects: a name
    the server's own options take, a default its type refuses, or an option that
    `__init__` does not take (when the base class's factory hands options to it)."""
    for name, option in cls.options.items():
        if name in SERVER_OPTIONS:
            return (f"declares option {name!r}, which is one of the server's own options: "
                    f"rename it")
        if option.default is not None:
            try:
                option.check(name, option.default)
            except ValueError as exc:
                return f"declares a default its type refuses: {exc}"
    if cls.factory.__func__ is not Handler.factory.__func__:  # type: ignore[attr-defined]
        return None  # its own factory decides what __init__ gets
    parameters = inspect.signature(cls.__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return None
    missing = [name for name in cls.options if name not in parameters]
    if missing:
        return (f"declares option(s) {', '.join(missing)} that its __init__ does not take: "
                f"add {', '.join(f'{name}=...' for name in missing)} to __init__'s keywords")
    return None


def handler_label(spec: str) -> str:
    """A short name for messages: the built-in name, or the class's name."""
    return spec if spec in BUILTIN else spec.rpartition(":")[2]


def _import_failure(spec: str, exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    user = [frame for frame in frames if "importlib" not in frame.filename]
    where = f" ({_short(user[-1].filename)}, line {user[-1].lineno})" if user else ""
    return f"cannot load handler {spec!r}: importing it raised {type(exc).__name__}{where}: {exc}"


def _short(path: str) -> str:
    """A path relative to the current directory when it is inside it."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def check_handler(handler: type[Handler], config: Config) -> Callable[[], Handler]:
    """The handler class's factory for `config`; TypeError for a class that
    cannot be a handler, ValueError for options it does not take or UDP it
    cannot serve.  (TLS files are loaded once, by whoever builds the server.)"""
    problem = handler_problem(handler)
    if problem:
        raise TypeError(f"{handler!r} {problem}")
    if config.udp and not handler.supports_udp:
        raise ValueError(f"udp: the {handler.__name__} handler needs a connection and "
                         f"cannot run over UDP")
    return handler.factory(max_message=config.max_message, **handler_options(handler, config))


def handler_options(handler: type[Handler], config: Config) -> dict[str, Any]:
    """Every option `handler` declares, as a value: what `config` gives, else the
    option's default, each through the option's type, so that a handler gets the
    same value with its flag as without (an option with no default and no value is
    left out, and __init__'s own default applies); ValueError for one it does not take."""
    declared = handler.options
    for name in config.handler_options:
        if name not in declared:
            takes = f"it takes: {', '.join(declared)}" if declared else "it takes none"
            raise ValueError(f"handler_options: {handler.__name__} has no option {name!r} ({takes})")
    values = {}
    for name, option in declared.items():
        if name in config.handler_options:
            values[name] = option.check(name, config.handler_options[name])
        elif option.default is not None:
            values[name] = option.check(name, option.default)
    return values
