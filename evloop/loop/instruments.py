"""Instruments: objects the loop calls at named points of a turn, to watch it work.

Tracing, metrics and teaching views all want to see the same few moments:
the loop about to wait and waking up, a queued callback about to run and
how long it took, the end of a turn, the kernel told to watch a descriptor
for something else.  As trio's Instruments do, evloop names those moments
once, as the methods of `Instrument`, and whoever wants to watch them
subclasses it, overrides the hooks it needs, and installs an instance with
`loop.add_instrument()` (`remove_instrument()` takes it off).  Nothing
outside the loop replaces the loop's methods or reads its queues.

The rules:

* A hook is called only if the instrument's class overrides it: the base
  class's hooks do nothing and are never called.  With no instrument, the
  loop's turn is what it is without this module: the poll is the backend's
  own method, and the queue's runner tests one local per callback.
* Hooks run in the loop's thread and must not raise; one that does is
  reported through the loop's one error path, and the loop goes on.
* The layers above declare hooks of their own beside these, with
  `default_hook` (a connection's: evloop.connection.instruments);
  `Instruments` keeps each by its name, and `call(name, ...)` calls those
  installed for it.  An instrument's other methods are never hooks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from typing import Optional
from typing import TypeVar


Poll = Callable[[Optional[float]], list[tuple[int, int]]]


class Instrument:
    """Hooks the loop calls; override the ones you need (see the module docstring)."""

    __slots__ = ()

    def before_poll(self, timeout: float | None) -> None:
        """The loop is about to wait for events, at most `timeout` seconds (None: no limit)."""

    def after_poll(self, events: list[tuple[int, int]]) -> None:
        """The wait returned these (descriptor, event bits) pairs: the backend's answer."""

    def before_callback(self, handle: Any) -> None:
        """A call_soon callback or a due timer is about to run (`handle._callback`)."""

    def after_callback(self, handle: Any, seconds: float) -> None:
        """...and ran for `seconds` (its error report included, if it raised)."""

    def before_io(self, fd: int, callback: Callable[[], Any]) -> None:
        """A descriptor's reader or writer is about to run, for an event on `fd`."""

    def after_io(self, fd: int, callback: Callable[[], Any], seconds: float) -> None:
        """...and ran for `seconds` (its error report included, if it raised)."""

    def after_turn(self, seconds: float) -> None:
        """A turn ended, `seconds` after the wake-up that began it."""

    def watch_changed(self, fd: int, events: int) -> None:
        """The backend now watches `fd` for `events` (EVENT_READ | EVENT_WRITE; 0: no longer)."""


def _overridden_hooks(instrument: object) -> list[str]:
    """The hooks `instrument` overrides: declared by a base class (`default_hook`),
    and not left as that do-nothing.  Its other methods are its own business."""
    names = []
    for name in HOOK_NAMES:
        method = getattr(type(instrument), name, None)
        if method is not None and method not in _DO_NOTHING:
            names.append(name)
    return names


_DO_NOTHING: set[Callable[..., Any]] = set()
#: Every hook's name, as the base classes declare them (the loop's, a connection's).
HOOK_NAMES: set[str] = set()
F = TypeVar("F", bound=Callable[..., Any])


def default_hook(function: F) -> F:
    """Declare a hook, with its do-nothing body (which is never called)."""
    _DO_NOTHING.add(function)
    HOOK_NAMES.add(function.__name__)
    return function


for _name, _value in list(vars(Instrument).items()):
    if not _name.startswith("_") and callable(_value):
        default_hook(_value)


class Instruments:
    """The instruments installed on one loop, and their hooks by name.

    `report(exc, hook)` is the loop's error path for a hook that raises."""

    __slots__ = ("installed", "hooks", "report")

    def __init__(self, report: Callable[[Exception, Callable[..., Any]], object]) -> None:
        self.installed: list[Instrument] = []
        self.hooks: dict[str, tuple[Callable[..., Any], ...]] = {}
        self.report = report

    def add(self, instrument: Instrument) -> None:
        if instrument in self.installed:
            return
        self.installed.append(instrument)
        self._index()

    def remove(self, instrument: Instrument) -> None:
        """Take `instrument` off; KeyError if it was not installed."""
        try:
            self.installed.remove(instrument)
        except ValueError:
            raise KeyError(f"{instrument!r} is not installed") from None
        self._index()

    def get(self, name: str) -> tuple[Callable[..., Any], ...]:
        return self.hooks.get(name, ())

    def call(self, name: str, *args: Any) -> None:
        """Call every hook installed for `name` with `args`."""
        hooks = self.hooks.get(name)
        if hooks:
            self.notify(hooks, *args)

    def notify(self, hooks: tuple[Callable[..., Any], ...], *args: Any) -> None:
        """Call each of `hooks`; one that raises is reported, and the others still run."""
        for hook_ in hooks:
            try:
                hook_(*args)
            except Exception as exc:
                self.report(exc, hook_)

    def observe_poll(self, poll: Poll) -> Poll:
        """`poll` itself with no poll hooks installed; else `poll` between them."""
        befores, afters = self.get("before_poll"), self.get("after_poll")
        if not befores and not afters:
            return poll
        notify = self.notify

        def observed(timeout: float | None) -> list[tuple[int, int]]:
            notify(befores, timeout)
            events = poll(timeout)
            notify(afters, events)
            return events
        return observed

    def _index(self) -> None:
        hooks: dict[str, list[Callable[..., Any]]] = {}
        for instrument in self.installed:
            for name in _overridden_hooks(instrument):
                hooks.setdefault(name, []).append(getattr(instrument, name))
        self.hooks = {name: tuple(found) for name, found in hooks.items()}
