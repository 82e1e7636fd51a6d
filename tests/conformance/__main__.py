"""Command line: run CPython's asyncio suites against a loop, optionally beside asyncio's.

    python3 -m tests.conformance --jobs 2                  # asyncio's own loop, counts
    python3 -m tests.conformance --loop evloop.aio:new_event_loop \\
        --policy evloop.aio:EventLoopPolicy --expect evloop.aio:EventLoop --baseline

With `--baseline` the same suites also run against asyncio's SelectorEventLoop, in the
same pool of workers, and the command prints the comparison and exits 1 when
conformance is under `--min-ratio`, a difference is not in the exclusions file, or
(with `--hold-figure`) fewer tests pass than the figures file records for this Python.
"""

import argparse
import json
import os
import platform
import sys

from . import report
from . import runner
from . import suites

HERE = os.path.dirname(os.path.abspath(__file__))
EXCLUSIONS = os.path.join(HERE, "exclusions.txt")
FIGURES = os.path.join(HERE, "figures.txt")


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python3 -m tests.conformance",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--loop", default=runner.BASELINE.loop, help="MODULE:FACTORY "
                        "(default %(default)s)")
    parser.add_argument("--policy", default=runner.BASELINE.policy,
                        help="MODULE:POLICYCLASS (default %(default)s)")
    parser.add_argument("--expect", help="MODULE:CLASS every loop must be an instance of "
                        "(default: the class of the factory's first loop)")
    parser.add_argument("--suite", action="append", choices=sorted(suites.SUITES),
                        help="run only this suite (repeatable; default: all)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--baseline", action="store_true",
                        help="also run asyncio's SelectorEventLoop and compare")
    parser.add_argument("--exclusions", default=EXCLUSIONS)
    parser.add_argument("--min-ratio", type=float, default=0.95)
    parser.add_argument("--figures", default=FIGURES,
                        help="the recorded figure of each Python (default %(default)s)")
    parser.add_argument("--hold-figure", action="store_true",
                        help="fail when this Python's run falls below its recorded figure")
    parser.add_argument("--test-timeout", type=float, default=30.0)
    parser.add_argument("--suite-timeout", type=float, default=300.0)
    parser.add_argument("--json", help="write every test's result to this file")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    target = runner.Target("loop", args.loop, args.policy, args.expect)
    targets = [runner.BASELINE, target] if args.baseline else [target]
    results = runner.run_targets(targets, args.suite, jobs=args.jobs,
                                 test_timeout=args.test_timeout,
                                 suite_timeout=args.suite_timeout,
                                 progress=lambda line: print(line, file=sys.stderr))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(results, out, indent=1, sort_keys=True)
    for label, result in results.items():
        print(f"{label}: {result['target']['loop']} with {result['target']['policy']}")
        print(report.format_counts(result))
        print()
    if not args.baseline:
        return 0
    comparison = report.compare(results["asyncio"], results["loop"],
                                report.load_exclusions(args.exclusions))
    print(report.format_comparison(comparison))
    held, line = report.check_figure(comparison, report.load_figures(args.figures),
                                     platform.python_version())
    print(f"\nconformance: {line}{'' if held else ': BELOW THE RECORDED FIGURE'}")
    failed = comparison["unexplained"] or comparison["ratio"] is None or \
        comparison["ratio"] < args.min_ratio or (args.hold_figure and not held)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
