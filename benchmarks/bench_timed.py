"""Overhead of ``@timed`` and ``with timed()`` against the tools people use instead.

Run: ``python benchmarks/bench_timed.py [--processes N]``. Every candidate is
measured in the same run (see harness.py: interleaved rounds, best of each);
the run is repeated in N fresh processes (default 5), each goal's ratio is
computed within each process, and the median ratio is the figure (the spread
is printed beside it: on a shared machine one run alone says little). Time
is the calling thread's CPU time, which other processes on the machine do not
add to.

Floors: the cheapest hand-written Python doing what ``timed`` does (two reads
of the clock, the same ``TimingRecord``, one call of the reporter) shows how
much of a goal CPython leaves to the library. For blocks, a second floor adds
what calling ``timed("b", cpu=False)`` itself costs: a function with
``timed``'s signature and the checks of its block path, returning the floor's
block.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import codetiming
import profilehooks
import wrapt

import profiletools
from profiletools import timed
from profiletools.core.records import EPOCH_ANCHOR, TimingRecord

sys.path.insert(0, os.path.dirname(__file__))
from harness import Candidate, compare, do_nothing, environment, overhead_table, runs_in_fresh_processes

PROCESSES = 5
_new_record = tuple.__new__
_get_ident = threading.get_ident


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


def hand_written_cpu_timer(func: Any, report: Any = do_nothing, *, same_record: bool = False) -> Any:
    """The reference of ``@timed`` with CPU: both clocks read twice, a 5-tuple, one call.

    With ``same_record``, the floor instead: the same ``TimingRecord`` ``timed`` makes, and a call without
    keyword arguments made as ``func(*args)`` (as :func:`floor_timer`).
    """
    perf, cpu = time.perf_counter, time.thread_time

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = perf()
        c0 = cpu()
        result = func(*args) if same_record and not kwargs else func(*args, **kwargs)
        c1 = cpu()
        t1 = perf()
        if same_record:
            report(_new_record(TimingRecord, (
                "timed", "bare", "bare", __name__, EPOCH_ANCHOR + t0, t1 - t0, c1 - c0, 1, _get_ident(), None, None,
                None, None,
            )))
        else:
            report(("timed", "bare", t0, t1 - t0, c1 - c0))
        return result

    return wrapper


def floor_timer(func: Any, report: Any = do_nothing) -> Any:
    """The floor of ``@timed(cpu=False)``: two clock reads, the same record ``timed`` makes, one call.

    A call without keyword arguments is made as ``func(*args)``, which builds no dict for the callee.
    """
    perf = time.perf_counter

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = perf()
        result = func(*args, **kwargs) if kwargs else func(*args)
        t1 = perf()
        report(_new_record(TimingRecord, (
            "timed", "bare", "bare", __name__, EPOCH_ANCHOR + t0, t1 - t0, None, 1, _get_ident(), None, None, None,
            None,
        )))
        return result

    return wrapper


class FloorBlock:
    """The floor of ``with timed("b", cpu=False)``: a new object, two clock reads, the same record, one call."""

    __slots__ = ("name", "t0")

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> FloorBlock:
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        t1 = time.perf_counter()
        do_nothing(_new_record(TimingRecord, (
            "timed", self.name, self.name, None, EPOCH_ANCHOR + self.t0, t1 - self.t0, None, 1, _get_ident(), None,
            None, None, None,
        )))


class FloorReportingBlock(FloorBlock):
    """:class:`FloorBlock` delivering to the report function a check of ``reporters=[r]`` found."""

    __slots__ = ("report",)

    def __init__(self, name: str, report: Any) -> None:
        self.name = name
        self.report = report

    def __exit__(self, *exc: object) -> None:
        t1 = time.perf_counter()
        self.report(_new_record(TimingRecord, (
            "timed", self.name, self.name, None, EPOCH_ANCHOR + self.t0, t1 - self.t0, None, 1, _get_ident(), None,
            None, None, None,
        )))


_ONLY_ONE = object()


def floor_timed(
    target: Any = None, _only_one: Any = _ONLY_ONE, name: Any = None, reporters: Any = None, enabled: Any = True,
    every: int = 1, cpu: bool = True, budget: Any = None, budget_p95: Any = None,
) -> FloorBlock:
    """The floor of ``timed("b", cpu=False)`` as called: ``timed``'s signature, the checks of its block path, a
    :class:`FloorBlock` (what any block API with these options pays before it times anything). The options are
    positional-or-keyword, as in ``timed``'s ``def`` (keyword-only ones cost a dictionary look-up each)."""
    if not (
        type(target) is str and _only_one is _ONLY_ONE and name is None and enabled is True and budget is None
        and budget_p95 is None and every == 1 and (cpu is True or cpu is False)
    ):
        raise TypeError("the floor takes the block path's arguments only")
    if reporters is None:
        return FloorBlock(target)
    # The cheapest check of a new one-item list that still refuses what ``reporters=`` refuses (an object
    # neither callable nor with ``report``) and tells a scoped reporter (one with ``open``) apart.
    if type(reporters) is not list or len(reporters) != 1:
        raise TypeError("the floor takes a one-item list of reporters only")
    reporter = reporters[0]
    report = getattr(reporter, "report", reporter)
    if not callable(report) or getattr(reporter, "open", None) is not None:
        raise TypeError("the floor takes one plain reporter only")
    return FloorReportingBlock(target, report)


def block_floor_signature_reporters() -> None:
    with floor_timed("b", cpu=False, reporters=[do_nothing]):
        pass


class ReportsNothing:
    """A reporter object: what ``reporters=`` most often holds (``Collect``, ``Summary``...), here doing nothing."""

    def report(self, record: Any) -> None:
        """Take the record and drop it."""


REPORTER_OBJECT = ReportsNothing()


def block_floor_signature_reporter_object() -> None:
    with floor_timed("b", cpu=False, reporters=[REPORTER_OBJECT]):
        pass


def block_timed_reporter_object() -> None:
    with timed("b", cpu=False, reporters=[REPORTER_OBJECT]):
        pass


def block_bare() -> None:
    pass


def block_timed() -> None:
    with timed("b", cpu=False):
        pass


def block_timed_reporters() -> None:
    with timed("b", cpu=False, reporters=[do_nothing]):
        pass


def block_timed_cpu() -> None:
    with timed("b"):
        pass


def block_codetiming() -> None:
    with codetiming.Timer(logger=None):
        pass


def block_floor() -> None:
    with FloorBlock("b"):
        pass


def block_floor_signature() -> None:
    with floor_timed("b", cpu=False):
        pass


@contextlib.contextmanager
def switched_off() -> Iterator[None]:
    """``profiletools.disable()`` while one candidate is timed."""
    profiletools.disable()
    try:
        yield
    finally:
        profiletools.enable()


def measure() -> dict[str, float]:
    """One process's figures: seconds per call of each candidate."""
    profiletools.configure(reporters=[do_nothing])
    candidates: list[Candidate] = [
        ("bare call", bare),
        ("functools closure", functools_closure(bare)),
        ("wrapt pass-through", wrapt_passthrough(bare)),
        ("@timed(cpu=False)", timed(cpu=False)(bare)),
        ("@timed(cpu=False, reporters=[r])", timed(cpu=False, reporters=[do_nothing])(bare)),
        ("@timed", timed(bare)),
        ("@timed, runtime-disabled", timed(bare), switched_off),
        ("codetiming @Timer", codetiming.Timer(logger=None)(bare)),
        ("profilehooks timecall", profilehooks.timecall(immediate=False)(bare)),
        ("floor: hand-written timer, same record", floor_timer(bare)),
        ("hand-written cpu+wall timer", hand_written_cpu_timer(bare)),
        ("floor: hand-written cpu+wall timer, same record", hand_written_cpu_timer(bare, same_record=True)),
        ("block: bare", block_bare),
        ("block: with timed(cpu=False)", block_timed),
        ("block: with timed(cpu=False, reporters=[r])", block_timed_reporters),
        ("block: with timed(cpu=False, reporters=[reporter object])", block_timed_reporter_object),
        ("block: with timed()", block_timed_cpu),
        ("block: with codetiming.Timer()", block_codetiming),
        ("block: floor, hand-written, same record", block_floor),
        ("block: floor with timed()'s signature", block_floor_signature),
        ("block: floor with timed()'s signature and reporters=[r]", block_floor_signature_reporters),
        ("block: floor with timed()'s signature and reporters=[reporter object]",
         block_floor_signature_reporter_object),
    ]
    return compare(candidates, timer=time.thread_time)  # (CPU of this thread: steady while other work shares the cores)


#: (goal, candidate, its bare, reference, reference's bare, limit)
GOALS = [
    ("`with timed(\"x\", cpu=False)` overhead ÷ `with codetiming.Timer(logger=None)`, reporters set once "
     "with `configure()`", "block: with timed(cpu=False)", "block: bare", "block: with codetiming.Timer()",
     "block: bare", 1.0),
    ("same, with per-use `reporters=[r]` on each block (the list is new each time)",
     "block: with timed(cpu=False, reporters=[r])", "block: bare", "block: with codetiming.Timer()", "block: bare",
     1.3),
    ("same, the reporter an object with a `report` method", "block: with timed(cpu=False, reporters=[reporter object])",
     "block: bare", "block: with codetiming.Timer()", "block: bare", 1.3),
    ("`@timed(cpu=False)` overhead ÷ codetiming decorator overhead", "@timed(cpu=False)", "bare call",
     "codetiming @Timer", "bare call", 1.0),
    ("same, with `reporters=[r]` on the decorator", "@timed(cpu=False, reporters=[r])", "bare call",
     "codetiming @Timer", "bare call", 1.0),
    ("`@timed` (CPU) overhead ÷ hand-written closure reading both clocks", "@timed", "bare call",
     "hand-written cpu+wall timer", "bare call", 1.3),
    ("runtime-disabled `@timed` overhead ÷ functools closure overhead", "@timed, runtime-disabled", "bare call",
     "functools closure", "bare call", 2.5),
]
#: (floor, candidate, reference) of the goals whose limit is near what CPython allows.
FLOORS = [
    ("floor of row 1: hand-written block, same record ÷ codetiming block", "block: floor, hand-written, same record",
     "block: bare", "block: with codetiming.Timer()"),
    ("floor of row 1 with `timed()`'s signature and checks (the same block made by a function taking timed's "
     "options) ÷ codetiming block", "block: floor with timed()'s signature", "block: bare",
     "block: with codetiming.Timer()"),
    ("floor of row 2: the same with `reporters=[r]`, the cheapest check of a new one-item list ÷ codetiming block",
     "block: floor with timed()'s signature and reporters=[r]", "block: bare", "block: with codetiming.Timer()"),
    ("floor of row 2 with a reporter object", "block: floor with timed()'s signature and reporters=[reporter object]",
     "block: bare", "block: with codetiming.Timer()"),
    ("floor of rows 3 and 4: hand-written closure, same record ÷ codetiming decorator",
     "floor: hand-written timer, same record", "bare call", "codetiming @Timer"),
    ("floor of row 5: hand-written closure reading both clocks, same record ÷ the same with a 5-tuple",
     "floor: hand-written cpu+wall timer, same record", "bare call", "hand-written cpu+wall timer"),
]

DISABLED_CHECK = (
    "from profiletools import timed\n"
    "def f(): pass\n"
    "assert timed(f) is f and timed(cpu=False)(f) is f and timed('x')(f) is f\n"
    "print('ok')\n"
)


def ratio(run: dict[str, float], label: str, base: str, reference: str, reference_base: str) -> float:
    """``label``'s overhead over ``base`` ÷ ``reference``'s over ``reference_base``, in one run."""
    return (run[label] - run[base]) / (run[reference] - run[reference_base])


def main() -> None:
    if "--once" in sys.argv:
        print(json.dumps(measure()), flush=True)
        sys.stdout = sys.stderr  # profilehooks prints its summary at exit: keep stdout the JSON alone
        return
    processes = int(sys.argv[sys.argv.index("--processes") + 1]) if "--processes" in sys.argv else PROCESSES
    runs = runs_in_fresh_processes(__file__, processes)
    results = {label: statistics.median(run[label] for run in runs) for label in runs[0]}
    print(environment())
    print(f"median of {processes} processes")
    calls = {k: v for k, v in results.items() if not k.startswith("block:")}
    blocks = {k: v for k, v in results.items() if k.startswith("block:")}
    print("\n### Decorators (ns per call of a function returning its argument)\n")
    print(overhead_table(calls, bare="bare call", reference="codetiming @Timer"))
    print("\n### Blocks (ns per `with` around `pass`)\n")
    print(overhead_table(blocks, bare="block: bare", reference="block: with codetiming.Timer()"))

    disabled = subprocess.run(
        [sys.executable, "-c", DISABLED_CHECK], capture_output=True, text=True, check=False,
        env={**os.environ, "PROFILETOOLS": "0"},
    )
    print("\n### Goals (median of the per-process ratios; range in brackets)\n")
    print("| goal | measured | limit | met |\n|---|---:|---:|:---:|")
    for goal, label, base, reference, reference_base, limit in GOALS:
        ratios = sorted(ratio(run, label, base, reference, reference_base) for run in runs)
        median = statistics.median(ratios)
        print(f"| {goal} | {median:.2f} [{ratios[0]:.2f}–{ratios[-1]:.2f}] | ≤ {limit} | "
              f"{'yes' if median <= limit else 'NO'} |")
    same = disabled.returncode == 0 and disabled.stdout.strip() == "ok"
    print(f"| `PROFILETOOLS=0`: the decorator returns the function itself | {'identical' if same else 'NOT identical'} "
          f"| identical | {'yes' if same else 'NO'} |")
    print("\n| floor | measured |\n|---|---:|")
    for floor, label, base, reference in FLOORS:
        ratios = sorted(ratio(run, label, base, reference, base) for run in runs)
        print(f"| {floor} | {statistics.median(ratios):.2f} [{ratios[0]:.2f}–{ratios[-1]:.2f}] |")


if __name__ == "__main__":
    main()
