"""What each tool costs on real code: slowdown of eight real workloads under every tool and its raw peer.

Run: ``python benchmarks/bench_workloads.py`` (needs the ``dev`` extra:
docutils, jinja2, pyparsing, memory_profiler, pyinstrument, line_profiler).
The workloads (``workloads.py``) are small entry functions calling into large
libraries: ast parse+unparse of typing.py, json dump+load, difflib, email
parsing, docutils rendering, jinja2 rendering, pyparsing, an n-body loop. Each
candidate wraps the entry function the way a user would (a decorator, or the
raw profiler switched on and off around the call).

One measurement is one fresh process: import, build the inputs, wrap, one
warm-up call (its result must equal the bare call's: a candidate that skips
or changes the work fails), then ``--calls`` measured calls, each right after
a bare call of the same workload in the same process (the two in turns of
either order); the process reports the
median of the per-pair ratios of CPU time (``time.process_time``: all threads,
so a sampler thread's work counts). Pairing makes the ratio robust to the load
of a shared machine, where wall time also counts waiting for a core. Every
round runs every (workload, candidate) once, candidates in a rotated order per
round; a cell is the median over rounds (in the spirit of Table 3 of the
Scalene paper).

Usage::

    python benchmarks/bench_workloads.py                      # all candidates, 2 rounds, prints the tables
    python benchmarks/bench_workloads.py --rounds 3 -o out.json --candidates bare,memprofile,tracemalloc
    python benchmarks/bench_workloads.py --table out.json     # the tables of saved results
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from harness import environment, raw_pyinstrument, raw_tracemalloc  # noqa: E402

Wrap = Callable[[Callable[[], Any]], Callable[[], Any]]


# -- candidates: each wraps an entry function (built inside the measuring process) -----------------


def _bare(func: Callable[[], Any]) -> Callable[[], Any]:
    return func


def _memory_profiler(func: Callable[[], Any]) -> Callable[[], Any]:
    """``memory_profiler.profile``, its table written to a StringIO emptied after each call."""
    import memory_profiler

    stream = io.StringIO()
    wrapped = memory_profiler.profile(func, stream=stream)

    def run() -> Any:
        result = wrapped()
        stream.seek(0)
        stream.truncate()
        return result

    return run


def _cprofile(func: Callable[[], Any]) -> Callable[[], Any]:
    import cProfile

    return lambda: cProfile.Profile().runcall(func)


def _line_profiler(func: Callable[[], Any]) -> Callable[[], Any]:
    from line_profiler import LineProfiler

    def run() -> Any:
        profiler = LineProfiler(func)
        profiler.enable_by_count()
        try:
            return func()
        finally:
            profiler.disable_by_count()

    return run


def _tool(name: str, **options: Any) -> Wrap:
    """A profiletools tool as a decorator, delivering to no reporter (its own cost only)."""

    def wrap(func: Callable[[], Any]) -> Callable[[], Any]:
        import profiletools

        return getattr(profiletools, name)(reporters=[], **options)(func)  # type: ignore[no-any-return]

    return wrap


#: Each tool next to its raw peer, in the order of the tables.
CANDIDATES: dict[str, Wrap] = {
    "bare": _bare,
    "timed": _tool("timed"),
    "profileit": _tool("profileit"),
    "cProfile": _cprofile,
    "lineprofile": _tool("lineprofile"),
    "LineProfiler": _line_profiler,
    "memprofile": _tool("memprofile"),
    "tracemalloc": raw_tracemalloc,
    "memprofile(traced=False)": _tool("memprofile", traced=False),
    "memprofile(lines=True)": _tool("memprofile", lines=True),
    "memprofile(lines=True, traced=False)": _tool("memprofile", lines=True, traced=False),
    "memory_profiler": _memory_profiler,
    "sampleprofile": _tool("sampleprofile"),
    "pyinstrument": raw_pyinstrument,
}

#: Ratios of one candidate's slowdown to another's, per workload, and the goals on them (issue 21).
RATIOS: list[tuple[str, str, str]] = [
    ("memprofile", "tracemalloc", "median ≤ 1.1, none > 1.25"),
    ("memprofile(lines=True)", "memory_profiler", "≤ 0.5 (the floor, raw tracemalloc, is in the next row)"),
    ("tracemalloc", "memory_profiler", "the floor of any traced line table"),
    ("memprofile(lines=True)", "tracemalloc", "close to 1: at tracemalloc's cost"),
    ("memprofile(lines=True, traced=False)", "memory_profiler", "≤ 0.5"),
    ("profileit", "cProfile", ""),
    ("lineprofile", "LineProfiler", ""),
    ("sampleprofile", "pyinstrument", ""),
]


# -- one measurement (a fresh process) ----------------------------------------------------------


def once(workload: str, candidate: str, calls: int, expected: int | None) -> dict[str, float]:
    """Measure ``candidate`` around ``workload`` in this process: the median ratio to the bare call."""
    import workloads

    workloads.setup()
    entry = workloads.WORKLOADS[workload]
    if expected is None:
        expected = entry()
    run = CANDIDATES[candidate](entry)
    got = run()  # the warm-up call, and the check that the candidate computes the same thing
    if got != expected:
        raise SystemExit(f"{candidate} on {workload}: result {got!r} != the bare call's {expected!r}")
    ratios, measured, bare = [], [], []
    clock = time.process_time
    for number in range(calls):
        first, second = (entry, run) if number % 2 == 0 else (run, entry)  # each order in turn (garbage collection)
        started = clock()
        first()
        middle = clock()
        second()
        ended = clock()
        plain, wrapped = (middle - started, ended - middle) if number % 2 == 0 else (ended - middle, middle - started)
        bare.append(plain)
        measured.append(wrapped)
        ratios.append(wrapped / max(plain, 1e-9))
    return {"ratio": statistics.median(ratios), "cpu": statistics.median(measured), "bare": statistics.median(bare)}


# -- the driver ---------------------------------------------------------------------------------


def drive(names: list[str], candidates: list[str], rounds: int, calls: int, out: str | None) -> dict[str, Any]:
    """Every (workload, candidate) once per round, each in a fresh process, candidates rotated per round."""
    import workloads

    expected = workloads.check()  # each entry's value (every measurement checks its warm-up call against it)
    results: dict[str, Any] = {"environment": environment(), "calls": calls, "rounds": []}
    for number in range(rounds):
        shift = number % len(candidates)
        order = candidates[shift:] + candidates[:shift]
        this_round: dict[str, dict[str, Any]] = {}
        for workload in names:
            this_round[workload] = {}
            for candidate in order:
                done = subprocess.run(
                    [sys.executable, os.path.abspath(__file__), "--once", workload, candidate,
                     "--calls", str(calls), "--expect", str(expected[workload])],
                    capture_output=True, text=True, check=False,
                )
                if done.returncode == 0:
                    cell = json.loads(done.stdout)
                else:
                    cell = {"error": (done.stderr.strip().splitlines() or ["?"])[-1]}
                this_round[workload][candidate] = cell
                print(f"round {number + 1}/{rounds} {workload:10} {candidate:38} {cell}", file=sys.stderr, flush=True)
        results["rounds"].append(this_round)
        if out:
            with open(out, "w", encoding="utf-8") as stream:
                json.dump(results, stream, indent=1)
    return results


def slowdowns(results: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    """``candidate -> workload -> median slowdown over the rounds`` (``None``: every round failed)."""
    rounds = results["rounds"]
    names = list(rounds[0])
    candidates = list(rounds[0][names[0]])
    table: dict[str, dict[str, float | None]] = {}
    for candidate in candidates:
        table[candidate] = {}
        for workload in names:
            values = [r[workload][candidate]["ratio"] for r in rounds if "ratio" in r[workload].get(candidate, {})]
            table[candidate][workload] = statistics.median(values) if values else None
    return table


def _summary(values: list[float]) -> str:
    return f"{min(values):.2f}–{max(values):.2f} | {statistics.median(values):.2f}" if values else "- | -"


def tables(results: dict[str, Any]) -> str:
    """Markdown: slowdown per workload and candidate (range and median), then the ratios between peers."""
    table = slowdowns(results)
    names = list(next(iter(table.values())))
    head = f"| slowdown (CPU, median of {len(results['rounds'])} rounds) | " + " | ".join(names) + " | range | median |"
    lines = [results["environment"], "", head, "|---" + "|---:" * (len(names) + 2) + "|"]
    for candidate, row in table.items():
        if candidate == "bare":
            continue
        cells = " | ".join("err" if row[w] is None else f"{row[w]:.2f}" for w in names)
        lines.append(f"| `{candidate}` | {cells} | {_summary([v for v in row.values() if v is not None])} |")
    lines += ["", "| ratio of slowdowns | " + " | ".join(names) + " | median | max | goal |",
              "|---" + "|---:" * (len(names) + 2) + "|---|"]
    for top, bottom, goal in RATIOS:
        if top not in table or bottom not in table:
            continue
        values = {w: (table[top][w] / table[bottom][w]) if table[top][w] and table[bottom][w] else None for w in names}
        present = [v for v in values.values() if v is not None]
        cells = " | ".join("-" if values[w] is None else f"{values[w]:.2f}" for w in names)
        summary = f"{statistics.median(present):.2f} | {max(present):.2f}" if present else "- | -"
        lines.append(f"| `{top}` ÷ `{bottom}` | {cells} | {summary} | {goal} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--calls", type=int, default=3, help="measured calls per process (default 3)")
    parser.add_argument("--workloads", default="ast,json,difflib,email,docutils,jinja2,pyparsing,nbody")
    parser.add_argument("--candidates", default=",".join(CANDIDATES))
    parser.add_argument("-o", "--out", help="save the results as JSON (after each round)")
    parser.add_argument("--table", metavar="RESULTS_JSON", help="print the tables of saved results")
    parser.add_argument("--once", nargs=2, metavar=("WORKLOAD", "CANDIDATE"), help=argparse.SUPPRESS)
    parser.add_argument("--expect", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.once:
        print(json.dumps(once(args.once[0], args.once[1], args.calls, args.expect)))
        return
    if args.table:
        with open(args.table, encoding="utf-8") as stream:
            print(tables(json.load(stream)))
        return
    candidates = [name.strip() for name in re.split(r",(?![^(]*\))", args.candidates) if name.strip()]
    unknown = [name for name in candidates if name not in CANDIDATES]
    if unknown:
        parser.error(f"unknown candidates {unknown}; known: {', '.join(CANDIDATES)}")
    if "bare" not in candidates:
        candidates.insert(0, "bare")
    results = drive(args.workloads.split(","), candidates, args.rounds, args.calls, args.out)
    print(tables(results))


if __name__ == "__main__":
    main()
