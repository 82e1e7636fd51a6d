"""Grade a student's file for one of the course's exercises.

    python3 -m docs.grade --list                 # the exercises, their difficulty and time
    python3 -m docs.grade NAME path/to/file.py   # grade the file for exercise NAME

Run it from the clone's folder.  The file is imported (its `if __name__ ==
"__main__":` block does not run) and judged by the same checks the model
answer in docs/answers/ passes (docs/checks/NAME.py): the grader serves
the student's handler on 127.0.0.1 and a free port, plays the clients, and
stops everything at the end.  It prints one line per failed check, or one
`ok:` line, and exits 0 when the file passes, 1 when it fails, 2 for a usage
error (an unknown exercise, a missing file), and 77 when this machine
cannot run the exercise (the line says why).
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import sys
import traceback
from types import FrameType

from docs import checks
from docs.checks import _kit

PASSED, FAILED, USAGE, SKIPPED = 0, 1, 2, 77
TIME_LIMIT = 120  # seconds for one grading: a file that hangs fails instead


def listing() -> str:
    lines = [f"{'exercise':<24} {'difficulty':<12} {'time':>7}  title"]
    for exercise in checks.exercises():
        kind = " (a measurement)" if exercise.measurement else ""
        lines.append(f"{exercise.name:<24} {exercise.difficulty:<12} {exercise.minutes:>4} min  "
                     f"{exercise.title}{kind}")
    return "\n".join(lines)


def where_in(path: str, exc: BaseException) -> str:
    """' (starter.py, line 12)' for the student's own frame nearest the error, if any."""
    frames = [frame for frame in traceback.extract_tb(exc.__traceback__)
              if os.path.abspath(frame.filename) == path]
    return f" ({os.path.basename(path)}, line {frames[-1].lineno})" if frames else ""


def out_of_time(signum: int, frame: FrameType | None) -> None:
    raise _kit.Failed(f"the grading took more than {TIME_LIMIT} s: does something block or wait forever?")


def grade(exercise: checks.Exercise, path: str) -> int:
    signal.signal(signal.SIGALRM, out_of_time)
    signal.alarm(TIME_LIMIT)
    try:
        student = _kit.Student(path)
        summary = exercise.checks.grade(student)
    except _kit.Skipped as exc:
        print(f"SKIP: {exercise.name}: {exc}")
        return SKIPPED
    except _kit.Failed as exc:
        _kit.VERDICT.failures.append(str(exc))
    except Exception as exc:  # the student's code raised, or something it returned was wrong
        reason = str(exc).splitlines()[0] if str(exc) else ""
        _kit.VERDICT.failures.append(f"{type(exc).__name__}{': ' + reason if reason else ''}"
                                     f"{where_in(os.path.abspath(path), exc)}")
    finally:
        signal.alarm(0)
    if _kit.VERDICT.failures:
        for reason in _kit.VERDICT.failures:
            print(f"FAIL: {reason}")
        return FAILED
    print(f"ok: {exercise.name}: {summary}")
    return PASSED


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m docs.grade", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--list", action="store_true", help="list the exercises and exit")
    parser.add_argument("exercise", nargs="?", help="the exercise's name, as --list shows it")
    parser.add_argument("file", nargs="?", help="the Python file to grade")
    options = parser.parse_args(argv)
    if options.list:
        print(listing())
        return PASSED
    if not options.exercise or not options.file:
        parser.print_usage(sys.stderr)
        print("python3 -m docs.grade: give an exercise and a file, or --list", file=sys.stderr)
        return USAGE
    try:
        exercise = checks.load(options.exercise)
    except KeyError:
        print(f"python3 -m docs.grade: no exercise {options.exercise!r}; "
              f"python3 -m docs.grade --list shows them", file=sys.stderr)
        return USAGE
    if not os.path.isfile(options.file):
        print(f"python3 -m docs.grade: {options.file}: no such file", file=sys.stderr)
        return USAGE
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)  # lines in order with the servers' logs
    return grade(exercise, options.file)


if __name__ == "__main__":
    sys.exit(main())
