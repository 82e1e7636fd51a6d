"""CPython's own asyncio test suites, run against evloop.aio beside asyncio's loop.

The harness is tests/conformance/ (its package docstring explains it).  The first test
here is the measurement: every suite runs against asyncio's SelectorEventLoop and
against evloop.aio's loop at the same time, and at least 95% of the tests that pass
on asyncio's must pass on evloop's, every other difference excused by a line of
tests/conformance/exclusions.txt.  The others prove the harness itself on asyncio's
loop and on loops broken on purpose (tests/conformance/broken.py), each with one
small suite: that it finds no difference between a loop and itself, that it reports
a failing loop's tests as unexplained, that a hung test is timed out and the suite
goes on, that a suite out of time is killed, and that a run which did not really use
the loop under test is refused.
"""

import importlib
import importlib.util
import os
import platform
import sys

import pytest

from tests import conformance
from tests.conformance import report
from tests.conformance import runner
from tests.conformance import suites
from tests.conformance import worker

PACKAGE = conformance.__name__
EXCLUSIONS = os.path.join(os.path.dirname(conformance.__file__), "exclusions.txt")
FIGURES = os.path.join(os.path.dirname(conformance.__file__), "figures.txt")
EVLOOP = runner.Target("evloop", "evloop.aio:new_event_loop", "evloop.aio:EventLoopPolicy",
                       "evloop.aio:EventLoop")
MIN_RATIO = 0.95


def cpython_tests_present():
    try:
        return importlib.util.find_spec("test.test_asyncio") is not None
    except ImportError:
        return False


needs_cpython_tests = pytest.mark.skipif(
    not cpython_tests_present(),
    reason="CPython's test package (test.test_asyncio) is not installed with this Python")


def broken(name):
    return f"{PACKAGE}.broken:{name}"


def run_one(target, names, **options):
    """The baseline and `target` on the suites `names`: (results, comparison)."""
    results = runner.run_targets([runner.BASELINE, target], names, **options)
    return results, report.compare(results["asyncio"], results[target.label])


@needs_cpython_tests
@pytest.mark.timeout(900)
def test_evloop_aio_passes_cpythons_asyncio_suites(capsys):
    if importlib.util.find_spec("evloop.aio") is None:
        pytest.skip("evloop.aio is not importable yet")
    aio = importlib.import_module("evloop.aio")
    for name in ("new_event_loop", "EventLoop", "EventLoopPolicy"):
        assert hasattr(aio, name), f"evloop.aio has no {name}"
    results = runner.run_targets([runner.BASELINE, EVLOOP], jobs=os.cpu_count() or 1)
    comparison = report.compare(results["asyncio"], results["evloop"],
                                report.load_exclusions(EXCLUSIONS))
    held, line = report.check_figure(comparison, report.load_figures(FIGURES),
                                     platform.python_version())
    with capsys.disabled():
        print("\n" + report.format_comparison(comparison, "asyncio", "evloop"))
        print(f"conformance: {line}")
    for name, suite in results["asyncio"]["suites"].items():
        assert suite["status"] in ("ok", "missing"), f"baseline {name}: {suite['reason']}"
    assert comparison["ratio"] >= MIN_RATIO
    assert comparison["unexplained"] == []
    assert held, f"below the recorded figure: {line}"


def comparison_of(both, base, rescued=0):
    return {"both": both, "baseline_pass": base, "ratio": both / base, "rescued": rescued}


def test_a_run_is_held_to_the_figure_of_its_python(tmp_path):
    figures_file = tmp_path / "figures.txt"
    figures_file.write_text("# version both of baseline\n3.11.7  432 of 437\n"
                            "3.12.1  440 of 443   # a comment\n")
    figures = report.load_figures(figures_file)
    assert figures == {"3.11.7": (432, 437), "3.12.1": (440, 443)}
    held, line = report.check_figure(comparison_of(432, 437), figures, "3.11.7")
    assert held and "recorded 432 of 437" in line
    assert not report.check_figure(comparison_of(431, 437), figures, "3.11.7")[0]
    # The baseline failed a test the candidate passed (a timing-sensitive CPython test
    # on a loaded machine): that test still counts for the candidate.
    assert report.check_figure(comparison_of(431, 436, rescued=1), figures, "3.11.7")[0]
    assert not report.check_figure(comparison_of(430, 436, rescued=1), figures, "3.11.7")[0]
    # Both failed it, or everything: nothing is excused.
    assert not report.check_figure(comparison_of(431, 436), figures, "3.11.7")[0]
    assert not report.check_figure(comparison_of(10, 10), figures, "3.11.7")[0]
    # A test the baseline always fails and the candidate passes excuses no regression.
    assert not report.check_figure(comparison_of(431, 437, rescued=1), figures, "3.11.7")[0]
    # Another 3.12 release has other suites: held to the ratio.
    assert report.check_figure(comparison_of(446, 449), figures, "3.12.8")[0]
    held, line = report.check_figure(comparison_of(440, 449), figures, "3.12.8")
    assert not held and "compared as a ratio" in line
    held, line = report.check_figure(comparison_of(1, 2), figures, "3.14.0")
    assert held and "no figure recorded for Python 3.14" in line
    figures_file.write_text("3.11.7 432 437\n")
    with pytest.raises(ValueError, match="expected 'VERSION BOTH of BASELINE'"):
        report.load_figures(figures_file)


def test_every_python_s_figure_is_recorded():
    figures = report.load_figures(FIGURES)
    assert sorted(version.rsplit(".", 1)[0] for version in figures) == \
        ["3.10", "3.11", "3.12", "3.13"]


def test_an_exclusion_for_a_test_this_python_lacks_is_absent_not_stale():
    def suite(*outcomes):
        return {"status": "ok", "tests": {ident: {"outcome": outcome}
                                          for ident, outcome in outcomes}}
    baseline = {"suites": {"s": suite(("s.T.a", "pass"), ("s.T.b", "pass"))}}
    loop = {"suites": {"s": suite(("s.T.a", "fail"), ("s.T.b", "pass"))}}
    comparison = report.compare(baseline, loop, [("s.T.a", "reads insides"),
                                                 ("s.T.b", "no longer differs"),
                                                 ("s.T.gone", "only in other Pythons")])
    assert comparison["unexplained"] == []
    assert comparison["stale"] == ["s.T.b"]
    assert comparison["absent"] == ["s.T.gone"]
    assert "tests this Python's suites do not have:\n  s.T.gone" in \
        report.format_comparison(comparison)


@needs_cpython_tests
@pytest.mark.timeout(120)
def test_asyncio_conforms_to_itself_and_really_runs_its_loop():
    names = ["test_server", "test_buffered_proto", "test_runners", "test_threads"]
    target = runner.Target("self", "asyncio:SelectorEventLoop",
                           "asyncio:DefaultEventLoopPolicy", "asyncio:SelectorEventLoop")
    results, comparison = run_one(target, names, jobs=2)
    assert comparison["differences"] == []
    assert comparison["ratio"] == 1.0
    for suite in results["self"]["suites"].values():
        assert suite["status"] == "ok", suite["reason"]
        assert suite["ran"]["expected"] > 0 and suite["ran"]["other"] == {}
        assert suite["made"]["other"] == {}
    # Two suites make their loops through the factory, two through the policy.
    runners_loops = 20 if sys.version_info >= (3, 11) else 8  # 3.10's test_runners is small
    assert results["self"]["suites"]["test_runners"]["made"]["expected"] >= runners_loops
    assert results["self"]["suites"]["test_threads"]["made"]["expected"] >= 6


@needs_cpython_tests
@pytest.mark.timeout(120)
def test_a_loop_that_cannot_serve_is_reported(tmp_path):
    exclusions = tmp_path / "exclusions.txt"
    exclusions.write_text("# only test_server is excused\n"
                          "test_server.StartServerTests.test_start_*   excused for this test\n")
    target = runner.Target("broken", broken("NoServerLoop"), broken("NoServerPolicy"),
                           broken("NoServerLoop"))
    results = runner.run_targets([runner.BASELINE, target],
                                 ["test_server", "test_buffered_proto"], jobs=2)
    comparison = report.compare(results["asyncio"], results["broken"],
                                report.load_exclusions(exclusions))
    by_id = {d["id"]: d for d in comparison["differences"]}
    assert sorted(by_id) == [
        "test_buffered_proto.BufferedProtocolTests.test_buffered_proto_create_connection",
        "test_server.StartServerTests.test_start_server_1",
    ]
    assert by_id["test_server.StartServerTests.test_start_server_1"]["excluded"] == \
        "excused for this test"
    [unexplained] = comparison["unexplained"]
    assert unexplained["id"].startswith("test_buffered_proto.")
    assert "NotImplementedError: NoServerLoop cannot serve" in unexplained["detail"]
    assert comparison["ratio"] == pytest.approx(1 / 3)
    assert comparison["stale"] == []
    table = report.format_comparison(comparison)
    assert "UNEXPLAINED" in table and "33.3%" in table


@needs_cpython_tests
@pytest.mark.timeout(120)
def test_a_hung_test_is_timed_out_and_the_next_one_still_runs():
    target = runner.Target("hang", broken("HangingLoop"), broken("HangingPolicy"))
    results = runner.run_targets([target], ["test_server"], jobs=1, test_timeout=2)
    suite = results["hang"]["suites"]["test_server"]
    hung = suite["tests"]["test_server.StartServerTests.test_start_server_1"]
    assert hung["outcome"] == "timeout"
    assert "no result after 2 s" in hung["reason"]
    assert "broken.py" in hung["reason"] and "test_server.py" in hung["reason"]
    # The unix-socket test does not call create_server: a new worker ran it.
    assert suite["tests"]["test_server.StartServerTests.test_start_unix_server_1"][
        "outcome"] == "pass"
    assert suite["workers"] == 2


@needs_cpython_tests
@pytest.mark.timeout(120)
def test_a_suite_out_of_time_is_killed():
    target = runner.Target("hang", broken("HangingLoop"), broken("HangingPolicy"))
    results = runner.run_targets([target], ["test_server"], jobs=1, test_timeout=60,
                                 suite_timeout=3)
    suite = results["hang"]["suites"]["test_server"]
    assert suite["status"] == "timeout"
    outcomes = {ident: test["outcome"] for ident, test in suite["tests"].items()}
    assert outcomes == {"test_server.StartServerTests.test_start_server_1": "timeout",
                        "test_server.StartServerTests.test_start_unix_server_1": "not-run"}


@needs_cpython_tests
@pytest.mark.timeout(120)
def test_a_run_that_did_not_use_the_loop_under_test_is_refused():
    # The policy makes plain SelectorEventLoops while NoServerLoop is expected.
    target = runner.Target("foreign", broken("NoServerLoop"), broken("ForeignPolicy"),
                           broken("NoServerLoop"))
    results, _ = run_one(target, ["test_threads"], jobs=2)
    suite = results["foreign"]["suites"]["test_threads"]
    assert suite["status"] == "wrong-loop"
    assert "asyncio.unix_events._UnixSelectorEventLoop" in suite["reason"]
    # No exclusion can excuse it: the whole suite is unexplained.
    comparison = report.compare(results["asyncio"], results["foreign"],
                                [("*", "excuse everything")])
    assert len(comparison["unexplained"]) == 6
    assert {d["outcome"] for d in comparison["unexplained"]} == {"wrong-loop"}


@needs_cpython_tests
def test_a_class_this_python_lacks_is_skipped_with_a_reason():
    module = importlib.import_module("test.test_asyncio.test_server")
    case = suites.Case("Renamed", (("NoSuchStartServerMixin", "NorThisOne"),
                                   (suites.UNITTEST_TESTCASE,)), "new_loop")
    cls, reason = worker.build_case(case, module, worker.make_hooks(object))
    assert cls is None
    assert "test.test_asyncio.test_server has no NoSuchStartServerMixin or NorThisOne" in reason


@needs_cpython_tests
def test_every_suite_names_classes_this_python_has():
    for suite in suites.SUITES.values():
        module = importlib.import_module(suite.module)
        for case in suite.cases:
            cls, reason = worker.build_case(case, module, worker.make_hooks(object))
            assert cls is not None, reason


def test_every_exclusion_has_a_reason_and_names_a_suite(tmp_path):
    exclusions = report.load_exclusions(EXCLUSIONS)
    assert exclusions
    for pattern, reason in exclusions:
        assert pattern.split(".")[0] in suites.SUITES, pattern
        assert len(reason) > 10, pattern
    bad = tmp_path / "bad.txt"
    bad.write_text("test_events.EventLoopTests.test_close\n")
    with pytest.raises(ValueError, match="has no reason"):
        report.load_exclusions(bad)
