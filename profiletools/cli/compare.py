"""``profiletools compare BASE NEW``: the command line of :mod:`profiletools.analysis.compare`.

Arguments, exit status and output; the statistics (reading the measurement
sets, the bootstrap interval, the verdicts, the table) are in the analysis layer.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from typing import Any

from profiletools.analysis import calls
from profiletools.analysis.compare import CompareError, compare_paths, figure_names
from profiletools.formats.dumps import DumpError


def parse_percent(text: str) -> float:
    """A threshold such as ``"10%"`` or ``"10"`` (percent) as a fraction.

    >>> parse_percent("10%"), parse_percent("2.5")
    (0.1, 0.025)
    """
    cleaned = text.strip().removesuffix("%").strip()
    try:
        value = float(cleaned)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a percentage such as 10% or 2.5; got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a percentage >= 0 such as 10%; got {text!r}")
    return value / 100


def _confidence(text: str) -> float:
    try:
        value = float(text.strip().removesuffix("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a confidence level such as 0.95 or 95%; got {text!r}") from None
    if text.strip().endswith("%") or value >= 1:
        value /= 100
    if not 0.5 <= value < 1:
        raise argparse.ArgumentTypeError(f"confidence must be between 50% and 100%; got {text!r}")
    return value


def _at_least(minimum: int) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number; got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}; got {value}")
        return value
    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``compare`` to ``parser`` (a sub-command parser of ``profiletools``)."""
    parser.description = parser.description or "Compare two sets of measurements per name, with a confidence test."
    parser.add_argument(
        "base", metavar="BASE", help="the baseline: a .jsonl/.json record file, a .prof file, or a folder of them",
    )
    parser.add_argument("new", metavar="NEW", help="the measurements to judge, of the same kind as BASE")
    parser.add_argument(
        "--fail-over", metavar="PERCENT", type=parse_percent, default=None,
        help="exit with status 1 when a name is slower than BASE by more than PERCENT (e.g. 10%%) with confidence",
    )
    parser.add_argument(
        "--fail-calls", metavar="PERCENT", type=parse_percent, default=None,
        help="exit with status 1 when a function's (or the total) call count grew by more than PERCENT: .prof and "
             ".lprof profiles, or the tests' call counts in pytest records (exact counts, no statistics)",
    )
    parser.add_argument("--json", action="store_true", help="print the comparison as JSON instead of a table")
    parser.add_argument(
        "--field", choices=figure_names(), default="wall",
        help="the record figure compared: wall or cpu seconds, or a figure a tool declares, e.g. peak (default: wall)",
    )
    parser.add_argument(
        "--kind", choices=("auto", "records", "prof"), default="auto",
        help="what BASE and NEW hold (default: from the file suffixes; folders with records count as records)",
    )
    parser.add_argument(
        "--confidence", type=_confidence, default=0.95, metavar="LEVEL",
        help="confidence level of the interval (default: 0.95)",
    )
    parser.add_argument(
        "--min-count", type=_at_least(2), default=5, metavar="N",
        help="values needed on each side for a verdict (default: 5)",
    )
    parser.add_argument(
        "--resamples", type=_at_least(100), default=2000, metavar="N",
        help="bootstrap resamples (default: 2000)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the resampling (default: 0; results repeat)")
    parser.add_argument(
        "--top", type=_at_least(1), default=None, metavar="N",
        help="show only the N names with the largest medians (default: all; 25 for profiles)",
    )


def add_parser(commands: Any) -> None:
    """Add ``compare`` to the sub-commands of ``profiletools``."""
    parser = commands.add_parser(
        "compare", help="compare two record or profile sets with a confidence test (exit 1 on regression)"
    )
    add_arguments(parser)
    parser.set_defaults(handler=lambda args, out: run(args))


def run(args: argparse.Namespace) -> int:
    """Run ``compare`` with parsed ``args``: 0 ok; 1 slower beyond ``--fail-over``, or a file that cannot be used.

    A file that cannot be used is one line on stderr, ``profiletools: error: ...``, as for every command.
    """
    if args.kind in ("auto", "prof") and calls.is_counted(args.base) and calls.is_counted(args.new):
        return _compare_counts(args)  # profiles: the differential of counts and times
    try:
        comparison = compare_paths(
            args.base, args.new, kind=args.kind, figure=args.field, confidence=args.confidence,
            resamples=args.resamples, seed=args.seed, min_count=args.min_count,
        )
        tests = calls.compare_tests(args.base, args.new, args.fail_calls is not None)
    except (CompareError, DumpError, calls.CountsError) as exc:
        print(f"profiletools: error: {exc}", file=sys.stderr)
        return 1
    threshold = args.fail_over
    if args.json:
        data = comparison.to_dict(threshold)
        if tests is not None:
            data["counts"] = tests.to_dict(args.fail_calls)
        print(json.dumps(data, indent=2))
    else:
        top = args.top if args.top is not None else (25 if comparison.kind == "prof" else None)
        print(comparison.table(threshold, top))
        if tests is not None:
            print("\n".join(["call counts per test:", *tests.lines(args.fail_calls)]))
    grown = tests is not None and args.fail_calls is not None and bool(tests.grown(args.fail_calls))
    return 1 if (threshold is not None and comparison.regressions(threshold)) or grown else 0


def _compare_counts(args: argparse.Namespace) -> int:
    """``profiletools compare`` of two profiles or folders of them: the differential table; the exit status."""
    fail_calls = args.fail_calls
    try:
        found = calls.diff(calls.read_side(args.base), calls.read_side(args.new))
        if args.fail_over is not None and found.unit != "calls":
            print(
                "profiletools: error: --fail-over judges times with confidence, which needs records or .prof "
                "profiles; judge line hits with --fail-calls", file=sys.stderr,
            )
            return 2
        comparison = None
        if found.unit == "calls" and (args.json or args.fail_over is not None):
            comparison = compare_paths(
                args.base, args.new, kind="prof", confidence=args.confidence, resamples=args.resamples,
                seed=args.seed, min_count=args.min_count,
            )
    except (calls.CountsError, CompareError, DumpError) as exc:
        print(f"profiletools: error: {exc}", file=sys.stderr)
        return 1
    slower = comparison is not None and args.fail_over is not None and bool(comparison.regressions(args.fail_over))
    if args.json:
        data: dict[str, Any] = comparison.to_dict(args.fail_over) if comparison is not None else {"kind": "lprof"}
        data["counts"] = found.to_dict(fail_calls)
        print(json.dumps(data, indent=2))
    else:
        print(found.table(args.top if args.top is not None else 25, fail_calls))
        if comparison is not None and args.fail_over is not None:
            print(comparison.summary(args.fail_over).split("\n", 1)[-1])
    grown = fail_calls is not None and bool(found.grown(fail_calls))
    return 1 if slower or grown else 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m profiletools.analysis.compare BASE NEW [options]``."""
    from profiletools.analysis import compare

    parser = argparse.ArgumentParser(prog="profiletools compare", description=(compare.__doc__ or "").split("\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
