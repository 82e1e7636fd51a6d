"""Run suites in worker processes, several at a time, and gather their results.

A `Target` is one loop to test: a factory, a policy and, optionally, the class its
loops must be.  `run_targets()` runs every requested suite for every target, all
workers sharing one pool of `jobs` slots, so the baseline and the loop under test can
run side by side.  A suite with `shards > 1` is split by test index into that many
workers, so that the largest suite does not set the wall time on its own.

A worker is a subprocess in its own session, in a scratch directory (CPython's tests
write files named after `os_helper.TESTFN` into the current directory).  Its results
arrive through a JSON-lines file.  When it ends without its "end" record, the test
it had started is recorded as a timeout (faulthandler's alarm says "Timeout") or a
crash, and a new worker starts at the next test, at most `restarts` times.  When the
suite's own time is up, the runner kills the worker's whole process group, records
the test in progress as a timeout and the rest as not run.

The result of `run_targets()` is plain data (dicts and lists) that `json.dump` writes
as it is and `report.py` reads:

    {"target": {...}, "python": "3.11.7",
     "suites": {"test_locks": {"status": "ok" | "missing" | "wrong-loop" | "timeout",
                               "reason": str, "seconds": float, "workers": int,
                               "made": {...}, "ran": {...},
                               "tests": {test_id: {"outcome", "reason", "seconds"}}}}}
"""

import concurrent.futures
import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

from . import suites as suite_table

__all__ = ["Target", "BASELINE", "run_targets", "package_root"]

STDERR_TAIL = 65536


@dataclasses.dataclass(frozen=True)
class Target:
    """One loop to run the suites against."""

    label: str
    loop: str
    policy: str
    expect: str | None = None


# The factory is the class itself and not asyncio.new_event_loop, which asks the
# current policy: test_runners installs a policy that calls the factory.
BASELINE = Target("asyncio", "asyncio:SelectorEventLoop", "asyncio:DefaultEventLoopPolicy",
                  "asyncio:SelectorEventLoop")


def package_root():
    """The directory to put on PYTHONPATH so that this package imports by its name."""
    here = os.path.dirname(os.path.abspath(__file__))
    for _ in __package__.split("."):
        here = os.path.dirname(here)
    return here


def worker_command(target, suite_name, out, start, shard, test_timeout):
    command = [sys.executable, "-m", f"{__package__}.worker", "--suite", suite_name,
               "--loop", target.loop, "--policy", target.policy, "--out", out,
               "--start", str(start), "--shard", shard, "--test-timeout", str(test_timeout)]
    if target.expect:
        command += ["--expect", target.expect]
    return command


def worker_env():
    env = dict(os.environ)
    paths = [package_root(), os.getcwd(), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(path for path in paths if path)
    env.pop("PYTHONASYNCIODEBUG", None)
    # Under scripts/test every Python process records coverage into the current
    # directory; a worker runs in a scratch directory that is removed afterwards,
    # so point its data at the directory the run started from.
    if "COVERAGE_PROCESS_START" in env and "COVERAGE_FILE" not in env:
        env["COVERAGE_FILE"] = os.path.abspath(".coverage")
    return env


def read_records(path):
    records = []
    try:
        with open(path, encoding="utf-8") as lines:
            for line in lines:
                if line.endswith("\n"):
                    records.append(json.loads(line))
    except FileNotFoundError:
        pass
    return records


def tail(path):
    try:
        with open(path, "rb") as stream:
            stream.seek(0, os.SEEK_END)
            size = stream.tell()
            stream.seek(max(0, size - STDERR_TAIL))
            return stream.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


FRAME = re.compile(r'File "([^"]+)", line (\d+) in (\S+)')


def hang_site(stderr):
    """Where faulthandler's last dump saw the test thread: its innermost frame and the
    innermost frame in CPython's test files, as `file:line in function`."""
    dump = stderr[stderr.rfind("Timeout ("):] if "Timeout (" in stderr else stderr
    for block in dump.split("(most recent call first):")[1:]:
        frames = FRAME.findall(block)
        if not any(name == "_callTestMethod" for _, _, name in frames):
            continue
        sites = [f"{os.path.basename(path)}:{line} in {name}" for path, line, name in frames]
        inner = sites[0]
        tests = [site for (path, _, _), site in zip(frames, sites) if "test_asyncio" in path]
        return inner if not tests or tests[0] == inner else f"{inner}, called from {tests[0]}"
    return ""


class ShardRun:
    """One shard of one suite for one target: workers, one after another."""

    def __init__(self, target, suite, shard, options, scratch):
        self.target = target
        self.suite = suite
        self.shard = shard
        self.options = options
        self.scratch = scratch
        self.ids = None
        self.tests = {}
        self.missing = []
        self.made = {"expected": 0, "other": {}}
        self.ran = {"expected": 0, "other": {}}
        self.expect = None
        self.status = "ok"
        self.reason = ""
        self.workers = 0
        self.seconds = 0.0

    def run(self):
        started = time.monotonic()
        deadline = started + self.options["suite_timeout"]
        start = 0
        while True:
            start = self.run_worker(start, deadline)
            if start is None or start >= len(self.ids or ()):
                break
            if self.workers > self.options["restarts"]:
                self.status = "gave-up"
                self.reason = f"gave up after {self.workers} workers hung or crashed"
                break
        self.finish()
        self.seconds = round(time.monotonic() - started, 2)
        return self

    def run_worker(self, start, deadline):
        """Run one worker from test `start`; the index to restart at, or None."""
        self.workers += 1
        # The target's label too: the baseline's and the loop's workers share the scratch
        # directory, and two workers appending to one file would mix their records.
        name = (f"{self.target.label}-{self.suite.name}-{self.shard.replace('/', 'of')}"
                f"-{self.workers}")
        out = os.path.join(self.scratch, f"{name}.jsonl")
        err = os.path.join(self.scratch, f"{name}.stderr")
        cwd = tempfile.mkdtemp(prefix=name + "-", dir=self.scratch)
        command = worker_command(self.target, self.suite.name, out, start, self.shard,
                                 self.options["test_timeout"])
        with open(err, "wb") as stderr:
            process = subprocess.Popen(command, cwd=cwd, env=worker_env(),
                                       stdin=subprocess.DEVNULL, stdout=stderr,
                                       stderr=stderr, start_new_session=True)
            try:
                code = process.wait(timeout=max(1.0, deadline - time.monotonic()))
                overran = False
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                code = process.wait()
                overran = True
        return self.absorb(read_records(out), code, overran, tail(err))

    def absorb(self, records, code, overran, stderr):
        running = None
        ended = False
        for record in records:
            event = record["event"]
            if event == "begin":
                self.expect = record["expect"]
            elif event == "list" and self.ids is None:
                self.ids = record["ids"]
            elif event == "start":
                running = record["id"]
            elif event == "result":
                self.tests[record["id"]] = {key: record[key]
                                            for key in ("outcome", "reason", "seconds")}
                running = None
            elif event == "missing":
                self.missing.append(record["reason"])
            elif event == "end":
                add_counts(self.made, record["made"])
                add_counts(self.ran, record["ran"])
                ended = True
        if ended:
            return None
        if self.ids is None:
            last = (stderr.strip().splitlines() or [""])[-1]
            self.status = "error"
            self.reason = f"the worker exited with {code} before listing its tests: {last}"
            return None
        if running is None:
            # It died between tests (in a fixture, say): go on after the last result.
            done = [index for index, ident in enumerate(self.ids) if ident in self.tests]
            running_index = (max(done) if done else -1)
            if overran:
                self.status, self.reason = "timeout", "the suite ran out of time"
                return None
            return running_index + 1
        if overran:
            outcome, reason = "timeout", f"the suite's {self.options['suite_timeout']:g} s ran out"
        elif "Timeout (" in stderr:
            outcome = "timeout"
            reason = f"no result after {self.options['test_timeout']:g} s"
        else:
            outcome, reason = "crash", f"the worker died with exit status {code}"
        site = hang_site(stderr)
        self.tests[running] = {"outcome": outcome,
                               "reason": f"{reason}, at {site}" if site else reason,
                               "seconds": 0}
        if overran:
            self.status, self.reason = "timeout", "the suite ran out of time"
            return None
        return self.ids.index(running) + 1

    def finish(self):
        for ident in self.ids or ():
            self.tests.setdefault(ident, {"outcome": "not-run", "seconds": 0,
                                          "reason": self.reason or "never started"})


def add_counts(total, part):
    total["expected"] += part["expected"]
    for name, count in part["other"].items():
        total["other"][name] = total["other"].get(name, 0) + count


def merge_shards(target, suite, shards):
    """One suite's record from its shards, and the verdict on which loop it ran."""
    merged = {"status": "ok", "reason": "", "seconds": 0.0, "workers": 0,
              "made": {"expected": 0, "other": {}}, "ran": {"expected": 0, "other": {}},
              "expect": None, "missing": [], "tests": {}}
    for shard in shards:
        merged["tests"].update(shard.tests)
        merged["seconds"] = max(merged["seconds"], shard.seconds)
        merged["workers"] += shard.workers
        merged["expect"] = merged["expect"] or shard.expect
        add_counts(merged["made"], shard.made)
        add_counts(merged["ran"], shard.ran)
        for reason in shard.missing:
            if reason not in merged["missing"]:
                merged["missing"].append(reason)
        if shard.status != "ok" and merged["status"] == "ok":
            merged["status"], merged["reason"] = shard.status, shard.reason
    if merged["status"] != "ok":
        return merged
    if merged["missing"] and not merged["tests"]:
        merged["status"], merged["reason"] = "missing", "; ".join(merged["missing"])
    elif merged["made"]["other"]:
        merged["status"] = "wrong-loop"
        merged["reason"] = (f"the factory or policy made loops that are not "
                            f"{merged['expect']}: {merged['made']['other']}")
    elif merged["tests"] and not merged["ran"]["expected"] and any(
            test["outcome"] == "pass" for test in merged["tests"].values()):
        merged["status"] = "wrong-loop"
        merged["reason"] = (f"tests passed but no {merged['expect']} ever ran "
                            f"(loops that ran: {merged['ran']['other']})")
    return merged


def run_targets(targets, suite_names=None, jobs=None, test_timeout=30.0,
                suite_timeout=300.0, restarts=5, scratch=None, progress=None):
    """Run the suites for every target; {label: result} (see the module docstring)."""
    names = list(suite_names or suite_table.SUITES)
    unknown = [name for name in names if name not in suite_table.SUITES]
    if unknown:
        raise ValueError(f"unknown suites: {', '.join(unknown)}")
    options = {"test_timeout": test_timeout, "suite_timeout": suite_timeout,
               "restarts": restarts}
    jobs = jobs or os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="conformance-", dir=scratch) as directory:
        runs = []
        # Largest suites first, so that the pool is not left waiting on one of them.
        order = sorted(names, key=lambda name: -suite_table.SUITES[name].shards)
        for name in order:
            suite = suite_table.SUITES[name]
            for target in targets:
                for index in range(suite.shards):
                    runs.append(ShardRun(target, suite, f"{index}/{suite.shards}",
                                         options, directory))
        with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(run.run) for run in runs]
            for future in concurrent.futures.as_completed(futures):
                done = future.result()
                if progress:
                    progress(f"{done.target.label}: {done.suite.name} [{done.shard}] "
                             f"{len(done.tests)} tests in {done.seconds:.1f} s")
    results = {}
    for target in targets:
        suites = {}
        for name in names:
            shards = [run for run in runs if run.target is target and run.suite.name == name]
            suites[name] = merge_shards(target, suite_table.SUITES[name], shards)
        results[target.label] = {"target": dataclasses.asdict(target),
                                 "python": sys.version.split()[0], "suites": suites}
    return results
