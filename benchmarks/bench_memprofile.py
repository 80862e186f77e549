"""memprofile against memory_profiler.profile on the same function, side by side in one run.

Three functions, each a 1000-iteration loop allocating small objects:
allocation-heavy (a tuple and a str per turn; a list of four per turn) and
line-heavy (a one-item list per turn, three lines per turn); and the list of
four again, compiled 400 lines down a file (line numbers past 256 are new
integers in CPython, which ``tracemalloc`` sees on each line event). Candidates: the
bare function; ``memory_profiler.profile`` (its table written to a
StringIO); raw ``tracemalloc`` started and stopped around the call;
``@memprofile``; ``@memprofile(top=10)``; ``@memprofile(traced=False)``;
``@memprofile(lines=True)`` and ``lines=True, traced=False``; and the floor
of a traced line table: tracemalloc on, profiletools' own line events, and at
each one only what any traced table must do (read ``tracemalloc``'s current
and peak, reset the peak). Goals (issues 5, 15): ``@memprofile`` at least
100× faster per call than ``memory_profiler.profile``, ``lines=True`` at
least 20×; ``@memprofile`` at most 1.1 × raw ``tracemalloc``.

Times are the calling thread's CPU time (``time.thread_time``: steadier than
wall time on a shared machine; no candidate here works in another thread).

Run: ``python benchmarks/bench_memprofile.py``
"""

from __future__ import annotations

import atexit
import inspect
import io
import os
import shutil
import sys
import tempfile
import textwrap
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import memory_profiler
from harness import compare, environment, overhead_table, raw_tracemalloc

from profiletools.tools.memprofile import line_events, memprofile
from profiletools.tools.memprofile.api import _TRACKER
from profiletools.tools.memprofile.lines import TracedLines

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


def four_lists() -> int:
    """Allocation-heavy: a list of four per turn, appended (issue 15's body)."""
    out = []
    for i in range(1000):
        out.append([i, i, i, i])
    return len(out)


def far_down(body: Callable[[], int], lines: int = 400) -> Callable[[], int]:
    """``body`` compiled ``lines`` lines down a file of its own, as most functions of a real module are.

    Past line 256 each line number is a new integer in CPython (the small ones
    are cached), which a line event passes (``sys.monitoring``) or reads
    (``frame.f_lineno``), and ``tracemalloc`` traces it.
    """
    source = "\n" * lines + textwrap.dedent(inspect.getsource(body))
    folder = tempfile.mkdtemp(prefix="bench_memprofile_")
    atexit.register(shutil.rmtree, folder, True)
    filename = os.path.join(folder, f"{body.__name__}_far_down.py")
    with open(filename, "w") as file:  # a real file: memory_profiler reads it to print its table
        file.write(source)
    namespace: dict[str, Any] = {}
    exec(compile(source, filename, "exec"), namespace)
    function: Callable[[], int] = namespace[body.__name__]
    function.__doc__ = f"{(body.__doc__ or '').strip()} Defined on line {lines + 1} of its file."
    return function


BODIES = {
    "small_tuples": small_tuples, "four_lists": four_lists, "small_lists": small_lists,
    "four_lists, past line 256": far_down(four_lists),
}


_get_traced_memory, _reset_peak = tracemalloc.get_traced_memory, tracemalloc.reset_peak


class _ReadOnly(TracedLines):
    """A line session that does only what every traced line table must: read and reset tracemalloc."""

    __slots__ = ()

    def on_line(self, line: int) -> None:
        _get_traced_memory()  # (first: tracemalloc's walk to the line of the reading's objects is shortest)
        _reset_peak()


def line_floor(body: Callable[[], int]) -> Callable[[], object]:
    """``body`` with tracemalloc on and profiletools' line events delivering to :class:`_ReadOnly`."""
    code = body.__code__

    def run() -> object:
        tracemalloc.start()
        session = _ReadOnly(code, _TRACKER, None)
        line_events.attach(session)
        session.tracer.arm(session)
        try:
            return body()
        finally:
            session.tracer.detach(session)
            tracemalloc.stop()

    return run


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
        ("raw tracemalloc", raw_tracemalloc(body)),
        ("@memprofile", measured),
        ("@memprofile(top=10)", with_top),
        ("@memprofile(traced=False)", memprofile(traced=False, reporters=[])(body)),
        ("@memprofile(lines=True)", by_line),
        ("@memprofile(lines=True, traced=False)", memprofile(lines=True, traced=False, reporters=[])(body)),
        ("floor of a traced line table", line_floor(body)),
    ]
    results = {label: run() for label, run in runs}
    assert len(set(results.values())) == 1, results  # every candidate computes the same thing
    return runs


def goals_table(results: dict[str, float]) -> str:
    """Each candidate's speed-up over memory_profiler.profile (time per call), against the goal; and the ratio
    of ``@memprofile`` to raw tracemalloc (goal ≤ 1.1)."""
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
    ratio = results["@memprofile"] / results["raw tracemalloc"]
    lines.append(f"\n`@memprofile` ÷ raw tracemalloc: {ratio:.3f} (goal ≤ 1.1: {'yes' if ratio <= 1.1 else 'NO'})")
    return "\n".join(lines)


def main() -> None:
    print(environment())
    for label, body in BODIES.items():
        results = compare(candidates(body), rounds=5, target=0.2, timer=time.thread_time)
        print()
        print(f"### body: {label} ({(body.__doc__ or '').strip()})")
        print()
        print(overhead_table(results, bare="bare", reference=REFERENCE, unit=1e-6, unit_name="µs"))
        print()
        print(goals_table(results))


if __name__ == "__main__":
    main()
