"""Side-by-side timing for the benchmarks: every candidate in one run, interleaved.

Each round times every candidate once (``timeit`` with a number of loops
calibrated per candidate to ~``target`` seconds); the figure kept per candidate
is its best round, the usual estimate of cost without interference. Rounds are
interleaved so slow drift of the machine (other load, frequency) hits all
candidates alike, which is what makes the ratios meaningful.
"""

from __future__ import annotations

import contextlib
import cProfile
import gc
import json
import platform
import random
import subprocess
import sys
import time
import timeit
from collections.abc import Callable, Sequence
from typing import Any

#: A candidate: a label, the call to time, and optionally a context-manager factory
#: entered around each timing of it (for example a switch that must be off).
Candidate = tuple[str, Callable[[], object]] | tuple[str, Callable[[], object], Callable[[], Any]]


def calibrate(func: Callable[[], object], target: float, timer: Callable[[], float] = time.perf_counter) -> int:
    """How many calls of ``func`` take about ``target`` seconds (of ``timer``)."""
    number = 1
    while True:
        elapsed = timeit.timeit(func, number=number, timer=timer)
        if elapsed >= target / 10 or number >= 10_000_000:
            return max(1, int(number * target / max(elapsed, 1e-9)))
        number *= 10


def compare(
    candidates: Sequence[Candidate], *, rounds: int = 7, target: float = 0.05,
    timer: Callable[[], float] = time.perf_counter,
) -> dict[str, float]:
    """Seconds per call of each candidate: the best of ``rounds`` interleaved rounds.

    ``timer`` is the clock: wall time by default; ``time.thread_time`` counts
    only the calling thread's CPU (what a caller pays when work moves to
    another thread, and steadier on a busy machine).
    """
    numbers: dict[str, int] = {}
    for label, func, *around in candidates:
        with around[0]() if around else contextlib.nullcontext():
            numbers[label] = calibrate(func, target, timer)
    best = {candidate[0]: float("inf") for candidate in candidates}
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(rounds):
            for label, func, *around in candidates:
                with around[0]() if around else contextlib.nullcontext():
                    seconds = timeit.timeit(func, number=numbers[label], timer=timer) / numbers[label]
                best[label] = min(best[label], seconds)
    finally:
        if gc_was_enabled:
            gc.enable()
    return best


def round_ratios(
    candidates: Sequence[tuple[str, Callable[[], object]]], *, bare: str, rounds: int = 15, target: float = 0.05,
) -> dict[str, dict[str, list[float]]]:
    """Per candidate, its seconds per call in each round and its ratio to ``bare``'s in the same round.

    Every round times each candidate once (``number`` calls calibrated to ~``target``
    seconds), in a new random order, so load that comes and goes hits each round's
    candidates alike; the median of the per-round ratios is then robust to a loaded
    machine where the best of a few rounds (:func:`compare`) is not.
    """
    numbers = {label: calibrate(func, target) for label, func in candidates}
    seconds: dict[str, list[float]] = {label: [] for label, _ in candidates}
    ratios: dict[str, list[float]] = {label: [] for label, _ in candidates}
    order = list(candidates)
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(rounds):
            random.shuffle(order)
            this = {label: timeit.timeit(func, number=numbers[label]) / numbers[label] for label, func in order}
            for label, _func in candidates:
                seconds[label].append(this[label])
                ratios[label].append(this[label] / this[bare])
    finally:
        if gc_was_enabled:
            gc.enable()
    return {"seconds": seconds, "ratios": ratios}


def quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    """The 25th, 50th and 75th percentiles of ``values`` (profiletools' one percentile definition)."""
    from profiletools.core.quantiles import quantile

    ordered = sorted(values)
    return quantile(ordered, 0.25), quantile(ordered, 0.5), quantile(ordered, 0.75)


def overhead_table(
    results: dict[str, float], *, bare: str, reference: str | None = None, unit: float = 1e-9, unit_name: str = "ns"
) -> str:
    """A markdown table: time per call, overhead over ``bare``, and overhead as a ratio to ``reference``'s."""
    base = results[bare]
    ref_overhead = results[reference] - base if reference else None
    head = f"| candidate | {unit_name}/call | overhead {unit_name} | × bare |"
    rule = "|---|---:|---:|---:|"
    if reference:
        head += f" overhead ÷ {reference} |"
        rule += "---:|"
    lines = [head, rule]
    for label, seconds in results.items():
        overhead = seconds - base
        line = f"| {label} | {seconds / unit:,.1f} | {overhead / unit:+,.1f} | {seconds / base:.2f} |"
        if ref_overhead:
            line += f" {overhead / ref_overhead:.2f} |"
        lines.append(line)
    return "\n".join(lines)


def environment() -> str:
    """One line naming the interpreter and machine, printed above every table."""
    implementation = sys.implementation.name
    return f"Python {platform.python_version()} ({implementation}) on {platform.machine()}, {platform.system()}"


def runs_in_fresh_processes(script: str, count: int) -> list[Any]:
    """Run ``python SCRIPT --once`` ``count`` times; each prints its results as JSON.

    Tracing profilers' speed differs by a few percent between processes for the
    same code (memory layout, hash seeds), so such benchmarks take the median
    over several fresh processes.
    """
    return [
        json.loads(
            subprocess.run([sys.executable, script, "--once"], capture_output=True, text=True, check=True).stdout
        )
        for _ in range(count)
    ]


def raw_tracemalloc(func: Callable[[], Any]) -> Callable[[], Any]:
    """Raw tracemalloc around ``func``: start, call, read current and peak, stop (the peer of traced memprofile)."""
    import tracemalloc

    def run() -> Any:
        tracemalloc.start()
        try:
            return func()
        finally:
            tracemalloc.get_traced_memory()
            tracemalloc.stop()

    return run


def do_nothing(record: Any) -> None:
    """A reporter that does nothing: what a benchmark measures is the tool's own cost."""


def fresh(source: str) -> Callable[..., Any]:
    """A new ``body`` function compiled from ``source``, with code objects of its own.

    Profilers instrument code objects; a fresh copy per candidate keeps one
    candidate's instrumentation from slowing (or speeding) another's.
    """
    namespace: dict[str, Any] = {}
    exec(compile(source, "<bench body>", "exec"), namespace)
    return namespace["body"]  # type: ignore[no-any-return]


def loop_body(iterations: int) -> str:
    """Source of a ``body()`` that sums ``i * i`` over ``iterations`` turns, for :func:`fresh`."""
    return f"""
def body():
    total = 0
    for i in range({iterations}):
        total += i * i
    return total
"""


def raw_cprofile(func: Callable[[], Any]) -> Callable[[], Any]:
    """``func`` under a new ``cProfile.Profile().runcall`` per call: the anchor of the profiler benchmarks."""
    return lambda: cProfile.Profile().runcall(func)


def raw_pyinstrument(func: Callable[[], Any], async_mode: str = "enabled") -> Callable[[], Any]:
    """``func`` under a new pyinstrument ``Profiler`` (1 ms) started and stopped by hand around each call."""
    from pyinstrument import Profiler  # (only the sampling benchmarks need it)

    def run() -> Any:
        profiler = Profiler(interval=0.001, async_mode=async_mode)
        profiler.start()
        try:
            return func()
        finally:
            profiler.stop()

    return run
