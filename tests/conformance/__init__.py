"""CPython's own asyncio tests, run against any event loop.

CPython tests its `SelectorEventLoop` by mixing test classes into small concrete
classes: `SelectEventLoopTests(UnixEventLoopTestsMixin, SubprocessTestsMixin,
test_utils.TestCase)` with a `create_event_loop()` that returns the loop, and
`SelectorStartServerTests(BaseStartServer, unittest.TestCase)` with a `new_loop()`.
uvloop tests itself the same way: one test class, two concrete subclasses (its
`Test_UV_TCP` and `Test_AIO_TCP`), one per loop.  This package builds those concrete
classes at run time for whichever loop it is given, so that the very same tests run
against asyncio's loop (the baseline) and against the loop under test, and a
difference between the two runs is a difference between the loops.

Rules:

- A suite (`suites.py`) names a module of `test.test_asyncio` and how its tests get a
  loop: through a hook method the harness overrides (`create_event_loop`, `new_loop`),
  or through the event loop policy, for modules whose tests call `asyncio.run`,
  `asyncio.Runner`, `asyncio.new_event_loop` or `IsolatedAsyncioTestCase`.
- The policy under test is installed for every suite, and it also replaces
  `asyncio.DefaultEventLoopPolicy`, so that the modules' own `tearDownModule`
  (`set_event_loop_policy(None)`) resets to it and not to asyncio's.
- The harness checks that the tests really ran the loop under test: it counts every
  loop the factory and the policy make, and every loop that starts running (it wraps
  `asyncio.events._set_running_loop`).  A suite in which a loop of another class was
  made, or in which no loop of the expected class ran, is reported as a wrong-loop
  suite whatever its tests said.
- Each suite runs in its own subprocess (`worker.py`), several at a time
  (`runner.py`).  The worker writes one JSON line as each test starts and one as it
  ends, so that a test that hangs or crashes the interpreter costs only itself:
  `faulthandler` ends the worker after the per-test timeout, the runner records
  that test as timed out and starts a new worker at the next test.  A whole suite
  that overruns its own timeout is killed; its tests not yet run are "not run".
- `report.py` compares two runs: conformance is the number of tests that pass on
  both loops over the number that pass on the baseline.  Every test that passes on
  the baseline but not on the loop under test must match a line of
  `exclusions.txt` (a test id or a glob, and the reason); any other is unexplained.

Run it as `python3 -m tests.conformance --help` from the repository's root.
"""
