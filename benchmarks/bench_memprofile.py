"""memprofile against memory_profiler.profile on the same function, side by side in one run.

Two functions, each a 1000-iteration loop allocating small objects: one
allocation-heavy (a tuple and a str per turn), one line-heavy (a one-item list
per turn, three lines per turn). Candidates: the bare function; ``memory_profiler.profile``
(its table written to a StringIO); ``@memprofile``; ``@memprofile(top=10)``;
``@memprofile(lines=True)``. Goals (issue 5): ``@memprofile`` at least 100×
faster per call than ``memory_profiler.profile``, ``lines=True`` at least 20×.

Run: ``python benchmarks/bench_memprofile.py``
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import memory_profiler
from harness import compare, environment, overhead_table

from profiletools.tools.memprofile import memprofile

GOALS = {"@memprofile": 100.0, "@memprofile(lines=True)": 20.0}
REFERENCE = "memory_profiler.profile"


def small_tuples() -> int:
    """Allocation-heavy: a tuple and a str per turn, two lines per turn."""
    out = []
    for i in range(1000):
        out.append((i, str(i)))
    return len(out)


def small_lists() -> int:
    """Line-heavy: one small list per turn, three lines per turn."""
    total = 0
    for i in range(1000):
        item = [i]
        total += len(item)
    return total


BODIES = {"small_tuples": small_tuples, "small_lists": small_lists}


def candidates(body: Callable[[], int]) -> list[tuple[str, Callable[[], object]]]:
    """The five candidates around ``body``, checked to compute the same result."""
    stream = io.StringIO()
    by_memory_profiler = memory_profiler.profile(body, stream=stream)
    measured = memprofile(reporters=[])(body)
    with_top = memprofile(top=10, reporters=[])(body)
    by_line = memprofile(lines=True, reporters=[])(body)

    def memory_profiler_call() -> object:
        result = by_memory_profiler()
        stream.seek(0)
        stream.truncate()  # memory_profiler writes its table per call
        return result

    runs: list[tuple[str, Callable[[], object]]] = [
        ("bare", body),
        (REFERENCE, memory_profiler_call),
        ("@memprofile", measured),
        ("@memprofile(top=10)", with_top),
        ("@memprofile(lines=True)", by_line),
    ]
    results = {label: run() for label, run in runs}
    assert len(set(results.values())) == 1, results  # every candidate computes the same thing
    return runs


def goals_table(results: dict[str, float]) -> str:
    """Each candidate's speed-up over memory_profiler.profile (time per call), against the goal."""
    reference = results[REFERENCE]
    lines = [
        f"| candidate | ms/call | × faster than {REFERENCE} | goal | met |",
        "|---|---:|---:|---:|:---:|",
    ]
    for label, seconds in results.items():
        if label in ("bare", REFERENCE):
            continue
        goal = GOALS.get(label)
        speedup = reference / seconds
        met = "-" if goal is None else ("yes" if speedup >= goal else "NO")
        lines.append(
            f"| {label} | {seconds * 1e3:,.3f} | {speedup:,.0f} | {'-' if goal is None else f'≥ {goal:g}'} | {met} |"
        )
    return "\n".join(lines)


def main() -> None:
    print(environment())
    for label, body in BODIES.items():
        results = compare(candidates(body), rounds=5, target=0.2)
        print()
        print(f"### body: {label} ({(body.__doc__ or '').strip()})")
        print()
        print(overhead_table(results, bare="bare", reference=REFERENCE, unit=1e-6, unit_name="µs"))
        print()
        print(goals_table(results))


if __name__ == "__main__":
    main()
