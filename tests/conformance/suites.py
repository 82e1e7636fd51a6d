"""Which of CPython's asyncio tests run, and how each of their tests gets its loop.

A `Suite` is one module of `test.test_asyncio` and the test classes to run from it.
A class is either built here from CPython's mixins (`Case`) exactly as CPython builds
its `SelectorEventLoop` variants, with the loop hook (`create_event_loop` or
`new_loop`) returning the loop under test, or taken from the module as it is, for
tests that make their loops through the event loop policy.

CPython renames and moves these classes between versions.  Each base of a `Case` is a
tuple of alternative names, the first one the module has wins; a case none of whose
alternatives exists is skipped with a reason that says which name is missing, never
an import error.  A suite is not run at all on a Python older than its `since`: one
that lacks the module, or whose module tests no real loop there.

Hooks:

- "create_event_loop", "new_loop": the method returns a loop from the factory.
- "runner_loop": test_runners' `BaseTest.new_loop` makes a mocked `BaseEventLoop`
  whose `shutdown_asyncgens` sets a flag that `tearDown` checks.  The harness makes
  the loop under test instead, and wraps its `shutdown_asyncgens` to set the same
  flag; otherwise that module would test a mock and not the loop.
- None: the class is used as it is; the installed policy makes its loops.
"""

import dataclasses
import sys
import unittest

__all__ = ["Case", "Suite", "SUITES", "POLICY_SUITES", "MIXIN_SUITES"]

# Stand-ins for the two TestCase bases the cases combine with CPython's mixins.
ASYNCIO_TESTCASE = "<test.test_asyncio.utils.TestCase>"
UNITTEST_TESTCASE = "<unittest.TestCase>"


@dataclasses.dataclass(frozen=True)
class Case:
    """One concrete test class: its name in test ids, its bases, its loop hook."""

    name: str
    bases: tuple[tuple[str, ...], ...]
    hook: str | None


@dataclasses.dataclass(frozen=True)
class Suite:
    """One module of test.test_asyncio.

    `cases` lists the classes to build.  With `all_classes`, every TestCase class the
    module defines is run as well (through the policy), with `hook` applied to those
    that derive from `hook_base`.
    """

    name: str
    cases: tuple[Case, ...] = ()
    all_classes: bool = False
    hook: str | None = None
    hook_base: str | None = None
    # How many worker processes share the suite (by test index) when it is run.
    shards: int = 1
    # The first Python that has the module and whose tests in it run on a real loop.
    since: tuple[int, int] = (3, 10)

    @property
    def module(self) -> str:
        return f"test.test_asyncio.{self.name}"


MIXIN_SUITES = (
    Suite("test_events", (
        Case("EventLoopTests",
             (("UnixEventLoopTestsMixin", "EventLoopTestsMixin"),
              ("SubprocessTestsMixin",), (ASYNCIO_TESTCASE,)),
             "create_event_loop"),
    ), shards=2),
    Suite("test_sock_lowlevel", (
        Case("SockTests", (("BaseSockTestsMixin",), (ASYNCIO_TESTCASE,)),
             "create_event_loop"),
    )),
    Suite("test_server", (
        Case("StartServerTests",
             (("SelectorStartServerTests", "BaseStartServer"), (UNITTEST_TESTCASE,)),
             "new_loop"),
    )),
    Suite("test_buffered_proto", (
        Case("BufferedProtocolTests",
             (("BufferedProtocolSelectorTests", "BaseTestBufferedProtocol"),
              (UNITTEST_TESTCASE,)),
             "new_loop"),
    )),
    Suite("test_sendfile", (
        Case("SendfileTests", (("SendfileTestsBase",), (ASYNCIO_TESTCASE,)),
             "create_event_loop"),
    )),
    Suite("test_sslproto", (
        Case("StartTLSTests",
             (("SelectorStartTLSTests", "BaseStartTLS"), (UNITTEST_TESTCASE,)),
             "new_loop"),
    )),
    Suite("test_ssl", (
        Case("TestSSL", (("TestSSL",),), "new_loop"),
    ), since=(3, 11)),
    Suite("test_streams", (
        Case("StreamTests", (("StreamTests",),), None),
    )),
)

POLICY_SUITES = (
    Suite("test_taskgroups", all_classes=True, since=(3, 11)),
    Suite("test_timeouts", all_classes=True, since=(3, 11)),
    Suite("test_waitfor", all_classes=True),
    Suite("test_locks", all_classes=True),
    # Python 3.10's test_queues runs on test_utils.TestLoop, a fake clock, not on a loop.
    Suite("test_queues", all_classes=True, since=(3, 11)),
    Suite("test_threads", all_classes=True),
    Suite("test_runners", all_classes=True, hook="runner_loop", hook_base="BaseTest"),
)

SUITES = {suite.name: suite for suite in MIXIN_SUITES + POLICY_SUITES
          if sys.version_info >= suite.since}


def resolve_base(module: object, alternatives: tuple[str, ...]) -> type | None:
    """The first of `alternatives` that `module` defines (or a TestCase stand-in)."""
    for name in alternatives:
        if name == ASYNCIO_TESTCASE:
            from test.test_asyncio import utils
            return utils.TestCase
        if name == UNITTEST_TESTCASE:
            return unittest.TestCase
        found = getattr(module, name, None)
        if isinstance(found, type):
            return found
    return None


def module_classes(module: object) -> list[type]:
    """The TestCase classes `module` itself defines, by name."""
    found = []
    for name in sorted(vars(module)):
        value = getattr(module, name)
        if (isinstance(value, type) and issubclass(value, unittest.TestCase)
                and value.__module__ == getattr(module, "__name__", None)):
            found.append(value)
    return found
