"""Compare the loop under test with the baseline, and explain every difference.

Conformance is (tests that pass on both loops) / (tests that pass on the baseline).
A test that passes on the baseline and not on the loop under test is a *difference*.
Each difference is looked up in the exclusions file, whose lines read

    test_events.EventLoopTests.test_remove_fds_after_closing   reads loop._selector

a test id or an `fnmatch` glob, white space, then the reason (required); a line that
starts with `#` is a comment.  A difference no line matches is *unexplained*.  A suite in which the loop
under test did not really run (status "wrong-loop"), timed out or gave up is
unexplained as a whole, whatever the file says: no glob may excuse the harness.
Lines that match no difference are *stale*; they are listed so they can be removed.
A line that matches no test the baseline ran is not stale but *absent*: the test is
not in this Python's suites (test_create_server_multiple_hosts_ipv4 is in 3.10, 3.11
and 3.13 but not in 3.12.1), so one file serves every Python.

The figures file records, for each Python the suites were measured on, how many tests
passed on both loops out of those that passed on the baseline:

    3.11.7   432 of 437

`check_figure` holds a run to the figure of its Python: on the same release, no fewer
tests passing on both; on another release of the same 3.X (whose suites differ), no
lower ratio.  A Python with no figure is reported and not held.
"""

import fnmatch

__all__ = ["load_exclusions", "load_figures", "compare", "check_figure", "format_comparison",
           "format_counts"]

PASS = "pass"


def load_exclusions(path):
    """[(pattern, reason)] from the exclusions file at `path`."""
    exclusions = []
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            pattern, _, reason = text.replace("\t", " ").partition(" ")
            reason = reason.strip()
            if not reason:
                raise ValueError(f"{path}:{number}: {pattern} has no reason")
            exclusions.append((pattern, reason))
    return exclusions


def load_figures(path):
    """{"3.11.7": (both, baseline_pass)} from the figures file at `path`."""
    figures = {}
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            text = line.split("#", 1)[0].split()
            if not text:
                continue
            if len(text) != 4 or text[2] != "of":
                raise ValueError(f"{path}:{number}: expected 'VERSION BOTH of BASELINE'")
            figures[text[0]] = (int(text[1]), int(text[3]))
    return figures


def check_figure(comparison, figures, version):
    """(held, line): whether this run holds the recorded figure for `version`
    ("3.11.7"), and a line that says what was compared.

    On the recorded version, held means at least the recorded count passing
    on both.  A test that the baseline itself failed in this run (a CPython
    test that is timing-sensitive, on a loaded machine) and the candidate
    passed still counts, but only as many as the baseline fell short of its
    recorded passes: a test the baseline always fails excuses nothing."""
    both, base = comparison["both"], comparison["baseline_pass"]
    ratio = comparison["ratio"] or 0.0
    here = f"{both} of {base} ({percent(comparison['ratio'])}) on Python {version}"
    if version in figures:
        want, of = figures[version]
        excused = min(comparison.get("rescued", 0), max(of - base, 0))
        return both + excused >= want, f"{here}; recorded {want} of {of}"
    minor = version.rsplit(".", 1)[0]
    same = sorted((v, f) for v, f in figures.items() if v.rsplit(".", 1)[0] == minor)
    if not same:
        return True, f"{here}; no figure recorded for Python {minor}"
    recorded, (want, of) = same[-1]
    return ratio >= want / of, (f"{here}; recorded {want} of {of} "
                                f"({percent(want / of)}) on {recorded}, compared as a ratio")


def explain(test_id, exclusions):
    for pattern, reason in exclusions:
        if fnmatch.fnmatchcase(test_id, pattern):
            return pattern, reason
    return None


def count(suite, outcome):
    return sum(1 for test in suite["tests"].values() if test["outcome"] == outcome)


def compare(baseline, candidate, exclusions=()):
    """The per-suite table, the differences and the verdict, as plain data."""
    rows, differences, used = [], [], set()
    for name, base in baseline["suites"].items():
        loop = candidate["suites"].get(name, {"status": "absent", "reason": "not run",
                                              "tests": {}})
        passed = {ident for ident, test in base["tests"].items() if test["outcome"] == PASS}
        trusted = loop["status"] == "ok"
        loop_passed = {ident for ident, test in loop["tests"].items()
                       if test["outcome"] == PASS} if trusted else set()
        both = passed & loop_passed
        # Passed on the candidate, run but not passed on the baseline this time.
        rescued = {ident for ident in loop_passed - passed if ident in base["tests"]}
        rows.append({"suite": name, "run": len(base["tests"]), "baseline_pass": len(passed),
                     "rescued": len(rescued),
                     "baseline_skip": count(base, "skip"), "loop_pass": len(loop_passed),
                     "both": len(both), "ratio": len(both) / len(passed) if passed else None,
                     "baseline_status": base["status"], "loop_status": loop["status"],
                     "baseline_seconds": base.get("seconds"), "loop_seconds": loop.get("seconds"),
                     "note": base.get("reason") if base["status"] != "ok" else
                     (loop.get("reason") if loop["status"] != "ok" else "")})
        for ident in sorted(passed - loop_passed):
            test = loop["tests"].get(ident, {"outcome": "absent", "reason": "not in this run"})
            match = explain(ident, exclusions) if trusted else None
            if match:
                used.add(match[0])
            differences.append({
                "id": ident, "outcome": test["outcome"] if trusted else loop["status"],
                "detail": test.get("reason", "") if trusted else loop.get("reason", ""),
                "excluded": match[1] if match else None})
    ran = [ident for suite in baseline["suites"].values() for ident in suite["tests"]]
    present = {pattern for pattern, _ in exclusions
               if any(fnmatch.fnmatchcase(ident, pattern) for ident in ran)}
    base_total = sum(row["baseline_pass"] for row in rows)
    both_total = sum(row["both"] for row in rows)
    return {"rows": rows, "differences": differences,
            "unexplained": [d for d in differences if d["excluded"] is None],
            "stale": [pattern for pattern, _ in exclusions
                      if pattern not in used and pattern in present],
            "absent": [pattern for pattern, _ in exclusions if pattern not in present],
            "baseline_pass": base_total, "both": both_total,
            "rescued": sum(row["rescued"] for row in rows),
            "ratio": both_total / base_total if base_total else None}


def percent(ratio):
    return "n/a" if ratio is None else f"{100 * ratio:.1f}%"


def format_comparison(comparison, baseline_label="asyncio", loop_label="loop"):
    lines = [f"{'suite':<22}{'run':>6}{'skip':>6}{baseline_label + ' pass':>16}"
             f"{loop_label + ' pass':>16}{'both':>7}{'ratio':>8}  seconds (base/loop)  note"]
    for row in comparison["rows"]:
        seconds = f"{row['baseline_seconds'] or 0:.1f}/{row['loop_seconds'] or 0:.1f}"
        lines.append(f"{row['suite']:<22}{row['run']:>6}{row['baseline_skip']:>6}"
                     f"{row['baseline_pass']:>16}{row['loop_pass']:>16}{row['both']:>7}"
                     f"{percent(row['ratio']):>8}  {seconds:<19}  {row['note']}")
    lines.append(f"{'total':<22}{'':>6}{'':>6}{comparison['baseline_pass']:>16}"
                 f"{'':>16}{comparison['both']:>7}{percent(comparison['ratio']):>8}")
    if comparison["differences"]:
        lines.append("")
        lines.append(f"passing on {baseline_label}, not on {loop_label}:")
        for difference in comparison["differences"]:
            why = difference["excluded"] or "UNEXPLAINED"
            lines.append(f"  {difference['id']}: {difference['outcome']}: "
                         f"{difference['detail']}\n      -> {why}")
    if comparison["stale"]:
        lines.append("")
        lines.append("exclusions that match no difference (stale):")
        lines.extend(f"  {pattern}" for pattern in comparison["stale"])
    if comparison.get("absent"):
        lines.append("")
        lines.append("exclusions for tests this Python's suites do not have:")
        lines.extend(f"  {pattern}" for pattern in comparison["absent"])
    return "\n".join(lines)


def format_counts(result):
    """One run's outcomes per suite."""
    outcomes = ("pass", "fail", "error", "skip", "expected-failure", "timeout", "crash",
                "not-run")
    header = f"{'suite':<22}{'run':>6}" + "".join(f"{o[:8]:>9}" for o in outcomes)
    lines = [header + "  seconds  status"]
    for name, suite in result["suites"].items():
        counts = "".join(f"{count(suite, o):>9}" for o in outcomes)
        status = suite["status"] + (f": {suite['reason']}" if suite["reason"] else "")
        lines.append(f"{name:<22}{len(suite['tests']):>6}{counts}  {suite['seconds']:>7.1f}"
                     f"  {status}")
    return "\n".join(lines)
