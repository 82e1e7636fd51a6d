"""One suite (or one shard of it) in one process, its results as JSON lines.

    python3 -m tests.conformance.worker --suite test_locks --out results.jsonl \\
        --loop asyncio:new_event_loop --policy asyncio:DefaultEventLoopPolicy

The runner (`runner.py`) starts this module; a person needs it only to debug one suite.

Order of work, and why:

1. Wrap `asyncio.events._set_running_loop` before the loop's module is imported, so
   that a loop module that binds the name at import time gets the wrapper too.  Every
   loop that starts running passes through it; that is how the harness sees which
   loop the tests really ran.
2. Load the factory and the policy; install the policy, and let it stand in for
   `asyncio.DefaultEventLoopPolicy` (events.py builds a fresh one from that name
   after `set_event_loop_policy(None)`, which every module's `tearDownModule` calls).
3. Import the CPython module and build its classes (`suites.py`).  Write the list of
   test ids, then run them in that order, skipping the first `--start` of them (the
   runner restarts a worker after a test that hung or crashed).
4. Around each test: one line as it starts, one as it ends, and a
   `faulthandler.dump_traceback_later(exit=True)` alarm in between, so a hung test
   ends this process with the stack of the hang on stderr.

The one adaptation of CPython's plumbing: `test_utils.TestCase.close_loop` reads the
private `loop._default_executor`.  For a loop without that attribute the harness
shuts the executor down through the public `shutdown_default_executor()` instead;
a loop that has it (every `BaseEventLoop`) goes through CPython's code unchanged.

Records (one JSON object a line), in order: "begin" (the loop's expected class),
"list" (test ids), then per test "start" and "result", "fixture" for a setUpClass or
setUpModule that failed or skipped, "missing" for a case the module lacks, and "end"
with the loops made and run.
"""

import argparse
import asyncio
import faulthandler
import importlib
import json
import os
import sys
import time
import traceback
import unittest

from . import suites

__all__ = ["main"]

REASON_LIMIT = 300
# Tests that mock asyncio.base_events.socket, so that on BaseEventLoop's create_server
# the addresses they name are never bound; on any other loop the bind is real.  The
# harness gives loops only loopback addresses, so on those loops these are not run.
NOT_RUN_OFF_BASE_EVENT_LOOP = {
    "test_events.EventLoopTests.test_create_server_multiple_hosts_ipv4":
        "not run: it would bind 1.2.3.4 for real (its mock patches BaseEventLoop's socket)",
    "test_events.EventLoopTests.test_create_server_multiple_hosts_ipv6":
        "not run: it would bind ::2 for real (its mock patches BaseEventLoop's socket)",
}


def load_object(spec):
    """`module:attribute` (the attribute may be dotted) to the object it names."""
    module_name, _, attribute = spec.partition(":")
    if not attribute:
        raise SystemExit(f"worker: {spec!r} is not MODULE:NAME")
    value = importlib.import_module(module_name)
    for part in attribute.split("."):
        value = getattr(value, part)
    return value


def class_name(cls):
    return f"{cls.__module__}.{cls.__qualname__}"


class Probe:
    """Counts the loops the factory and the policy make, and the loops that run.

    A loop counts as expected when it is an instance of `expected`; the others are
    counted by class name, so that the report can say which loop a suite really ran.
    """

    def __init__(self):
        self.expected = None
        self.made = {"expected": 0, "other": {}}
        self.ran = {"expected": 0, "other": {}}
        self.ran_in_test = {}

    def count(self, table, loop):
        if isinstance(loop, self.expected):
            table["expected"] += 1
        else:
            name = class_name(type(loop))
            table["other"][name] = table["other"].get(name, 0) + 1

    def saw_made(self, loop):
        self.count(self.made, loop)

    def saw_running(self, loop):
        self.count(self.ran, loop)
        name = class_name(type(loop))
        self.ran_in_test[name] = self.ran_in_test.get(name, 0) + 1


def wrap_running_loop(probe):
    original = asyncio.events._set_running_loop

    def _set_running_loop(loop):
        if loop is not None:
            probe.saw_running(loop)
        original(loop)

    asyncio.events._set_running_loop = _set_running_loop
    asyncio._set_running_loop = _set_running_loop


def counting_factory(factory, probe):
    """`factory`, counted, and refused when it calls back into itself.

    test_runners installs a policy whose new_event_loop() is the test's loop hook; a
    factory that asks the current policy for its loop (asyncio.new_event_loop) would
    recurse until the stack ran out, so the factory must build its loop itself.
    """
    depth = []

    def new_event_loop():
        if depth:
            raise RuntimeError("the loop factory called itself: it must build its loop, "
                               "not ask the current policy (asyncio.new_event_loop)")
        depth.append(1)
        try:
            loop = factory()
        finally:
            depth.pop()
        probe.saw_made(loop)
        return loop
    return new_event_loop


def counting_policy(policy_class, probe):
    """A subclass of `policy_class` whose new loops are counted."""
    def new_event_loop(self):
        loop = super(policy, self).new_event_loop()
        probe.saw_made(loop)
        return loop
    policy = type(policy_class.__name__, (policy_class,),
                  {"new_event_loop": new_event_loop, "__module__": policy_class.__module__})
    return policy


def install_policy(policy):
    for name in ("DefaultEventLoopPolicy", "_DefaultEventLoopPolicy"):
        if hasattr(asyncio, name):
            setattr(asyncio, name, policy)
    asyncio.set_event_loop_policy(policy())


class _WithoutExecutor:
    """A loop seen through CPython's close_loop, with no `_default_executor`."""

    _default_executor = None

    def __init__(self, loop):
        self._loop = loop

    def __getattr__(self, name):
        return getattr(self._loop, name)


def tolerant_close_loop(original):
    def close_loop(loop):
        if not hasattr(loop, "_default_executor"):
            if not loop.is_closed():
                loop.run_until_complete(loop.shutdown_default_executor())
            loop = _WithoutExecutor(loop)
        return original(loop)
    return staticmethod(close_loop)


def make_hooks(factory):
    def loop_hook(self):
        return factory()

    def runner_loop(self):
        loop = factory()
        loop.shutdown_ag_run = False
        shutdown = loop.shutdown_asyncgens

        async def shutdown_asyncgens():
            loop.shutdown_ag_run = True
            await shutdown()

        loop.shutdown_asyncgens = shutdown_asyncgens
        return loop

    return {"create_event_loop": ("create_event_loop", loop_hook),
            "new_loop": ("new_loop", loop_hook),
            "runner_loop": ("new_loop", runner_loop)}


def build_case(case, module, hooks):
    """The class for `case`, or the reason it cannot be built."""
    bases = []
    for alternatives in case.bases:
        base = suites.resolve_base(module, alternatives)
        if base is None:
            version = ".".join(map(str, sys.version_info[:2]))
            return None, f"{module.__name__} has no {' or '.join(alternatives)} in Python {version}"
        bases.append(base)
    namespace = {"__module__": module.__name__, "__qualname__": case.name}
    if case.hook is not None:
        method, function = hooks[case.hook]
        namespace[method] = function
    close_loop = getattr(bases[0], "close_loop", None)
    if close_loop is not None:
        namespace["close_loop"] = tolerant_close_loop(close_loop)
    return type(case.name, tuple(bases), namespace), None


def build_classes(suite, module, hooks):
    classes, missing = [], []
    for case in suite.cases:
        cls, reason = build_case(case, module, hooks)
        if cls is None:
            missing.append((case.name, reason))
        else:
            classes.append(cls)
    if suite.all_classes:
        hook_base = getattr(module, suite.hook_base, None) if suite.hook_base else None
        for cls in suites.module_classes(module):
            if hook_base is not None and issubclass(cls, hook_base):
                method, function = hooks[suite.hook]
                cls = type(cls.__name__, (cls,), {"__module__": module.__name__,
                                                  "__qualname__": cls.__qualname__,
                                                  method: function})
            classes.append(cls)
    return classes, missing


def test_id(suite, test):
    test = getattr(test, "test_case", test)
    return f"{suite.name}.{type(test).__qualname__}.{test._testMethodName}"


def describe(err):
    """An exception as one short line: its type and message, and where in the test."""
    kind, value, tb = err
    text = traceback.format_exception_only(kind, value)[-1].strip()
    where = None
    for frame, line in traceback.walk_tb(tb):
        if "test_asyncio" in frame.f_code.co_filename:
            where = f"{os.path.basename(frame.f_code.co_filename)}:{line}"
    if where:
        text = f"{text} ({where})"
    return text[:REASON_LIMIT]


OUTCOME_ORDER = ("error", "fail", "unexpected-success", "pass", "expected-failure", "skip")


class RecordingResult(unittest.TestResult):
    """Writes each test's start and outcome as they happen."""

    def __init__(self, suite, write, probe, test_timeout):
        super().__init__()
        self.suite = suite
        self.write = write
        self.probe = probe
        self.test_timeout = test_timeout
        self.fixtures = []
        self.reported = set()

    def startTest(self, test):
        super().startTest(test)
        self.outcomes = {}
        self.started = time.monotonic()
        self.probe.ran_in_test = {}
        self.write({"event": "start", "id": test_id(self.suite, test)})
        faulthandler.dump_traceback_later(self.test_timeout, exit=True)

    def stopTest(self, test):
        # The alarm stays armed between tests: a tearDownClass or tearDownModule
        # that hangs must end this process too.
        faulthandler.dump_traceback_later(self.test_timeout, exit=True)
        super().stopTest(test)
        outcome = next((o for o in OUTCOME_ORDER if o in self.outcomes), "fail")
        reason = self.outcomes.get(outcome, "no outcome was reported")
        ident = test_id(self.suite, test)
        self.reported.add(ident)
        self.write({"event": "result", "id": ident, "outcome": outcome, "reason": reason,
                    "seconds": round(time.monotonic() - self.started, 3),
                    "ran": self.probe.ran_in_test})

    def note(self, test, outcome, reason):
        if isinstance(test, unittest.suite._ErrorHolder):
            self.fixtures.append((test.description, outcome, reason))
            self.write({"event": "fixture", "description": test.description,
                        "outcome": outcome, "reason": reason})
        else:
            self.outcomes.setdefault(outcome, reason)

    def addSuccess(self, test):
        super().addSuccess(test)
        self.note(test, "pass", "")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self.note(test, "fail", describe(err))

    def addError(self, test, err):
        super().addError(test, err)
        self.note(test, "error", describe(err))

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        if isinstance(test, unittest.case._SubTest):
            return
        self.note(test, "skip", str(reason)[:REASON_LIMIT])

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self.note(test, "expected-failure", describe(err))

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self.note(test, "unexpected-success", "passed, but is marked expectedFailure")

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            failed = issubclass(err[0], test.failureException)
            self.note(test, "fail" if failed else "error", f"{subtest}: {describe(err)}")

    def fixture_outcome(self, cls):
        """What a setUpModule or setUpClass error or skip did to `cls`'s tests."""
        for description, outcome, reason in self.fixtures:
            if description.startswith("setUpModule") or (
                    description.startswith("setUpClass") and
                    description.endswith(f".{cls.__qualname__})")):
                return outcome, f"{description}: {reason}"
        return "not-run", "the suite ended before this test ran"


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python3 -m tests.conformance.worker")
    parser.add_argument("--suite", required=True, choices=sorted(suites.SUITES))
    parser.add_argument("--loop", required=True, help="MODULE:FACTORY")
    parser.add_argument("--policy", required=True, help="MODULE:POLICYCLASS")
    parser.add_argument("--expect", help="MODULE:CLASS the loops must be (default: "
                                         "the class of the factory's loop)")
    parser.add_argument("--out", required=True, help="the JSON-lines file to write")
    parser.add_argument("--start", type=int, default=0, help="skip this many tests")
    parser.add_argument("--shard", default="0/1", help="I/N: run every Nth test from I")
    parser.add_argument("--test-timeout", type=float, default=60.0)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    faulthandler.enable()
    with open(args.out, "a", encoding="utf-8") as out:
        def write(record):
            out.write(json.dumps(record) + "\n")
            out.flush()
        return run(args, write)


def run(args, write):
    suite = suites.SUITES[args.suite]
    probe = Probe()
    wrap_running_loop(probe)
    factory = load_object(args.loop)
    policy = load_object(args.policy)
    if args.expect:
        probe.expected = load_object(args.expect)
    else:
        sample = factory()
        probe.expected = type(sample)
        sample.close()
    write({"event": "begin", "expect": class_name(probe.expected),
           "python": sys.version.split()[0]})
    install_policy(counting_policy(policy, probe))
    try:
        module = importlib.import_module(suite.module)
    except ImportError as error:
        write({"event": "missing", "case": suite.name, "reason": f"cannot import "
               f"{suite.module}: {error}"})
        write({"event": "end", "made": probe.made, "ran": probe.ran})
        return 0
    classes, missing = build_classes(suite, module, make_hooks(counting_factory(factory, probe)))
    for name, reason in missing:
        write({"event": "missing", "case": name, "reason": reason})
    loader = unittest.TestLoader()
    tests = [test for cls in classes for test in loader.loadTestsFromTestCase(cls)]
    index, count = (int(part) for part in args.shard.split("/"))
    tests = tests[index::count]
    write({"event": "list", "ids": [test_id(suite, test) for test in tests]})
    if not issubclass(probe.expected, asyncio.BaseEventLoop):
        for test in tests:
            reason = NOT_RUN_OFF_BASE_EVENT_LOOP.get(test_id(suite, test))
            if reason is not None:  # unittest skips a method marked so, without calling it
                setattr(test, test._testMethodName, unittest.skip(reason)(lambda: None))
    result = RecordingResult(suite, write, probe, args.test_timeout)
    unittest.TestSuite(tests[args.start:]).run(result)
    for test in tests[args.start:]:
        ident = test_id(suite, test)
        if ident not in result.reported:
            outcome, reason = result.fixture_outcome(type(test))
            write({"event": "result", "id": ident, "outcome": outcome,
                   "reason": reason[:REASON_LIMIT], "seconds": 0, "ran": {}})
    write({"event": "end", "made": probe.made, "ran": probe.ran})
    # Threads a test left behind must not keep the interpreter from exiting.
    faulthandler.dump_traceback_later(args.test_timeout, exit=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
