"""Overhead of ``@timed`` and ``with timed()`` against the tools people use instead.

Run: ``python benchmarks/bench_timed.py``. Every candidate is measured in the
same run (see harness.py); the goals of the foundation issue are checked as
ratios at the end.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

import codetiming
import profilehooks
import wrapt

import profiletools
from profiletools import timed

sys.path.insert(0, os.path.dirname(__file__))
from harness import Candidate, compare, do_nothing, environment, overhead_table


def bare(x: int = 1) -> int:
    return x


def functools_closure(func: Any) -> Any:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    return wrapper


@wrapt.decorator
def wrapt_passthrough(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    return wrapped(*args, **kwargs)


def hand_written_timer(func: Any, report: Any = do_nothing) -> Any:
    """What ``@timed(cpu=False)`` does, written by hand: two clock reads, a tuple, one call."""
    perf = time.perf_counter

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = perf()
        result = func(*args, **kwargs)
        t1 = perf()
        report(("timed", "bare", t0, t1 - t0))
        return result

    return wrapper


def hand_written_cpu_timer(func: Any, report: Any = do_nothing) -> Any:
    """The floor of ``@timed`` with CPU: both clocks read twice, a tuple, one call."""
    perf, cpu = time.perf_counter, time.thread_time

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = perf()
        c0 = cpu()
        result = func(*args, **kwargs)
        c1 = cpu()
        t1 = perf()
        report(("timed", "bare", t0, t1 - t0, c1 - c0))
        return result

    return wrapper


def block_bare() -> None:
    pass


def block_timed() -> None:
    with timed("b", cpu=False):
        pass


def block_timed_cpu() -> None:
    with timed("b"):
        pass


def block_codetiming() -> None:
    with codetiming.Timer(logger=None):
        pass


def perf_counter_pair() -> None:
    time.perf_counter_ns()
    time.perf_counter_ns()


def main() -> None:
    profiletools.configure(reporters=[do_nothing])
    runtime_disabled = timed(bare)
    candidates: list[Candidate] = [
        ("bare call", bare),
        ("functools closure", functools_closure(bare)),
        ("wrapt pass-through", wrapt_passthrough(bare)),
        ("@timed(cpu=False)", timed(cpu=False)(bare)),
        ("@timed", timed(bare)),
        ("@timed, runtime-disabled", runtime_disabled, switched_off),
        ("codetiming @Timer", codetiming.Timer(logger=None)(bare)),
        ("profilehooks timecall", profilehooks.timecall(immediate=False)(bare)),
        ("hand-written timer", hand_written_timer(bare)),
        ("hand-written cpu+wall timer", hand_written_cpu_timer(bare)),
        ("block: bare", block_bare),
        ("block: with timed(cpu=False)", block_timed),
        ("block: with timed()", block_timed_cpu),
        ("block: with codetiming.Timer()", block_codetiming),
        ("perf_counter_ns() pair", perf_counter_pair),
    ]
    results = compare(candidates)
    print(environment())
    calls = {k: v for k, v in results.items() if not k.startswith("block:") and k != "perf_counter_ns() pair"}
    blocks = {k: v for k, v in results.items() if k.startswith("block:")}
    print("\n### Decorators (ns per call of a function returning its argument)\n")
    print(overhead_table(calls, bare="bare call", reference="codetiming @Timer"))
    print("\n### Blocks (ns per `with` around `pass`)\n")
    print(overhead_table(blocks, bare="block: bare", reference="block: with codetiming.Timer()"))
    print(f"\nperf_counter_ns() pair: {results['perf_counter_ns() pair'] * 1e9:.1f} ns")

    def overhead(label: str, base: str = "bare call") -> float:
        return results[label] - results[base]

    goals = [
        ("@timed(cpu=False) overhead ÷ codetiming decorator overhead", overhead("@timed(cpu=False)")
         / overhead("codetiming @Timer"), 0.75),
        ("with timed(cpu=False) overhead ÷ with codetiming.Timer() overhead",
         overhead("block: with timed(cpu=False)", "block: bare")
         / overhead("block: with codetiming.Timer()", "block: bare"), 0.75),
        ("@timed (cpu) overhead ÷ hand-written cpu+wall timer overhead", overhead("@timed")
         / overhead("hand-written cpu+wall timer"), 1.3),
        ("runtime-disabled @timed overhead ÷ functools closure overhead", overhead("@timed, runtime-disabled")
         / overhead("functools closure"), 2.5),
    ]
    print("\n### Goals\n\n| goal | measured | limit | met |\n|---|---:|---:|:---:|")
    for label, ratio, limit in goals:
        print(f"| {label} | {ratio:.2f} | {limit} | {'yes' if ratio <= limit else 'NO'} |")
    sys.stderr = open(os.devnull, "w")


@contextlib.contextmanager
def switched_off() -> Iterator[None]:
    """``profiletools.disable()`` while one candidate is timed."""
    profiletools.disable()
    try:
        yield
    finally:
        profiletools.enable()


if __name__ == "__main__":
    main()
