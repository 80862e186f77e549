"""Cost of ``@profileit`` against cProfile used by hand and against profilehooks.

Run: ``python benchmarks/bench_profileit.py``. In one run (see harness.py), for
three bodies — a 1000-iteration arithmetic loop, a 1000-iteration loop calling
a function each time, and a tiny body (fixed cost per call) — the candidates
are: the bare body; ``cProfile.Profile().runcall(body)`` (a fresh profiler per
call, as any per-call profile needs); ``@profileit`` with a reporter that does
nothing (with its defaults, and with ``cpu=False``, which leaves out the two
reads of the thread's CPU clock the machinery makes per call);
``profilehooks.profile(immediate=True, stdout=False)``; and the **floor**, a
hand-written wrapper making the same record the least way there is (both
clocks, a fresh profiler switched on and off around the body, the record with
its statistics left unread, one reporter call: no switches, no profiler slot,
no nesting rules, no failure isolation). Every
candidate gets its own copy of the body (same source, own code objects). Each
figure is the median over three fresh processes. The goals of the issue are
checked at the end:

* ``@profileit`` ÷ raw cProfile ≤ 1.05 on both loop bodies;
* ``@profileit``'s fixed cost (tiny body, minus bare) ≤ 0.25 × profilehooks' on
  3.11, ≤ 0.5 × on 3.12 and later (where raw cProfile alone costs about 0.4-0.5 ×:
  switching it on and off instruments the code on the stack).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from cProfile import Profile
from typing import Any

import profilehooks

from profiletools import profileit
from profiletools.core.records import EPOCH_ANCHOR, make_record
from profiletools.tools.profileit.options import SummaryOptions
from profiletools.tools.profileit.record import ProfileRecord
from profiletools.tools.profileit.stats import deferred

sys.path.insert(0, os.path.dirname(__file__))
from harness import (
    Candidate,
    compare,
    do_nothing,
    environment,
    fresh,
    overhead_table,
    raw_cprofile,
    runs_in_fresh_processes,
)

BODIES = {
    "arithmetic": """
def body():
    total = 0
    for i in range(1000):
        total += i * i
    return total
""",
    "call per iteration": """
def square(i):
    return i * i

def body():
    total = 0
    for i in range(1000):
        total += square(i)
    return total
""",
    "tiny": """
def body():
    return 1
""",
}
PROCESSES = 3


def hand_written_record(func: Callable[[], Any], report: Callable[[Any], object]) -> Callable[[], Any]:
    """The floor: what any per-call profile record with wall and CPU time costs at least."""
    perf, thread_time, options, name = time.perf_counter, time.thread_time, SummaryOptions(), func.__qualname__

    def wrapper() -> Any:
        t0 = perf()
        c0 = thread_time()
        profiler = Profile()
        profiler.enable()
        try:
            result = func()
        finally:
            profiler.disable()
        cpu = thread_time() - c0
        wall = perf() - t0
        report(make_record(
            ProfileRecord, "profileit", name, name, None, EPOCH_ANCHOR + t0, wall, cpu, None,
            deferred((profiler,), False, options),
        ))
        return result

    return wrapper


def measure() -> dict[str, dict[str, float]]:
    """One process's figures: seconds per call of each candidate, per body."""
    results = {}
    for body, source in BODIES.items():
        candidates: list[Candidate] = [
            ("bare", fresh(source)),
            ("raw cProfile runcall", raw_cprofile(fresh(source))),
            ("@profileit", profileit(reporters=[do_nothing])(fresh(source))),
            ("@profileit(cpu=False)", profileit(reporters=[do_nothing], cpu=False)(fresh(source))),
            ("profilehooks", profilehooks.profile(immediate=True, stdout=False)(fresh(source))),
            ("floor: hand-written record", hand_written_record(fresh(source), do_nothing)),
        ]
        results[body] = compare(candidates, rounds=9, target=0.05)
    return results


def main() -> None:
    if "--once" in sys.argv:
        print(json.dumps(measure()))
        return
    runs = runs_in_fresh_processes(__file__, PROCESSES)
    print(environment())
    print(f"median of {PROCESSES} processes")
    medians: dict[str, dict[str, float]] = {}
    for body in BODIES:
        medians[body] = {label: statistics.median(run[body][label] for run in runs) for label in runs[0][body]}
        print(f"\n### {body} body (µs per call)\n")
        print(overhead_table(medians[body], bare="bare", reference="raw cProfile runcall", unit=1e-6, unit_name="µs"))

    def fixed(label: str) -> float:
        return medians["tiny"][label] - medians["tiny"]["bare"]

    fixed_limit = 0.25 if sys.version_info < (3, 12) else 0.5
    print("\n### Goals\n\n| goal | measured | limit | met |\n|---|---:|---:|:---:|")
    for label in ("@profileit", "@profileit(cpu=False)"):
        for body in ("arithmetic", "call per iteration"):
            ratio = medians[body][label] / medians[body]["raw cProfile runcall"]
            print(f"| {body}: {label} ÷ raw cProfile | {ratio:.3f} | 1.05 | {'yes' if ratio <= 1.05 else 'NO'} |")
        share = fixed(label) / fixed("profilehooks")
        print(
            f"| tiny body: fixed cost {label} ÷ profilehooks ({fixed(label) * 1e6:.2f} µs ÷ "
            f"{fixed('profilehooks') * 1e6:.2f} µs) | {share:.3f} | {fixed_limit} | "
            f"{'yes' if share <= fixed_limit else 'NO'} |"
        )
    for label in ("raw cProfile runcall", "floor: hand-written record"):
        share = fixed(label) / fixed("profilehooks")
        what = f"(for reference) {label}: fixed cost ÷ profilehooks' ({fixed(label) * 1e6:.2f} µs)"
        print(f"| {what} | {share:.3f} | - | - |")


if __name__ == "__main__":
    main()
