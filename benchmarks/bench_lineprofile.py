"""Cost of ``@lineprofile`` against line_profiler used by hand: the goals of issue 15 as ratios.

Run: ``python benchmarks/bench_lineprofile.py``. Each figure is the median
over fresh processes (line-tracing speed differs by a few percent from one
process to the next); in each process every candidate is timed interleaved
with the others (harness.compare), on the calling thread's CPU clock (steady
on a busy machine; nothing here waits). Each candidate runs its own copy of
its body (same source, own code object), so no two profilers share a function;
the two groups below run in processes of their own.

* **Fixed cost per call** on a tiny function (``return 1``): the time per
  call minus the bare function's, for the raw ``line_profiler.LineProfiler``
  wrapper (what ``@profile`` under kernprof does, one shared profiler, no
  record), for ``@lineprofile`` with a reporter that does nothing (a record
  per call), and for the **floor**: the least any per-call record of exact
  line hits costs, hand-written around the raw profiler (its
  ``enable``/``disable``, the two clocks ``lineprofile`` reads, one reading of
  the counters, a record tuple handed to a reporter). Goal: ``@lineprofile``
  ≤ 1.5 × raw.
* **1,000-iteration loop body**: ``@lineprofile`` (and ``aggregate=True``)
  ÷ raw LineProfiler, whole call. Goal: ≤ 1.05 × raw.

A fresh interpreter with ``PROFILETOOLS=0`` checks that the decorator then
returns the function itself (zero cost by construction).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from line_profiler import LineProfiler

from profiletools.tools.lineprofile import BACKEND, lineprofile

sys.path.insert(0, os.path.dirname(__file__))
from harness import Candidate, compare, do_nothing, environment, fresh, loop_body, runs_in_fresh_processes

TINY = """
def body():
    return 1
"""
LOOP = loop_body(1000)
PROCESSES = 5

DISABLED_CHECK = """
from profiletools import lineprofile
def body():
    return 1
assert lineprofile(body) is body and lineprofile(also=[body])(body) is body
print("ok")
"""


def floor(func: Callable[[], Any], report: Callable[[Any], None]) -> Callable[[], Any]:
    """The least a per-call record of exact line hits costs: raw line_profiler, two clocks, one reading."""
    profiler = LineProfiler()
    profiler.add_function(func)
    hashes = profiler.code_hash_map[func.__code__]
    enable, disable = profiler.enable_by_count, profiler.disable_by_count
    perf, cpu = time.perf_counter, time.thread_time

    def wrapper() -> Any:
        t0 = perf()
        c0 = cpu()
        enable()
        try:
            result = func()
        finally:
            disable()
        c1 = cpu()
        t1 = perf()
        counters = profiler.c_code_map
        report((t0, t1 - t0, c1 - c0, [counters.get(line_hash) for line_hash in hashes]))
        return result

    return wrapper


def measure(group: str) -> dict[str, float]:
    """One process's figures for one group (``tiny`` or ``loop``): CPU seconds per call of each candidate.

    The groups run in processes of their own, so that the counters ``lineprofile``
    reads after each call hold only the functions of that group (a reading costs
    about 0.1 µs per profiled line in the process).
    """
    raw_profiler = LineProfiler()
    candidates: list[Candidate]
    if group == "tiny":
        candidates = [
            ("tiny: bare", fresh(TINY)),
            ("tiny: raw LineProfiler", raw_profiler(fresh(TINY))),
            ("tiny: floor (hand-written record)", floor(fresh(TINY), do_nothing)),
            ("tiny: @lineprofile", lineprofile(reporters=[do_nothing])(fresh(TINY))),
        ]
    else:
        candidates = [
            ("loop: bare", fresh(LOOP)),
            ("loop: raw LineProfiler", raw_profiler(fresh(LOOP))),
            ("loop: @lineprofile", lineprofile(reporters=[do_nothing])(fresh(LOOP))),
            ("loop: @lineprofile(aggregate=True)", lineprofile(aggregate=True, reporters=[do_nothing])(fresh(LOOP))),
        ]
    return compare(candidates, rounds=9, target=0.05, timer=time.thread_time)


def ratios(run: dict[str, float]) -> dict[str, float]:
    """The goals of one process: fixed costs over the raw wrapper's, loop times over raw's."""
    bare = run["tiny: bare"]
    raw = run["tiny: raw LineProfiler"] - bare
    return {
        "fixed: @lineprofile ÷ raw": (run["tiny: @lineprofile"] - bare) / raw,
        "fixed: floor ÷ raw": (run["tiny: floor (hand-written record)"] - bare) / raw,
        "fixed: @lineprofile ÷ floor": (run["tiny: @lineprofile"] - bare)
        / (run["tiny: floor (hand-written record)"] - bare),
        "loop: @lineprofile ÷ raw": run["loop: @lineprofile"] / run["loop: raw LineProfiler"],
        "loop: aggregate ÷ raw": run["loop: @lineprofile(aggregate=True)"] / run["loop: raw LineProfiler"],
    }


def _fresh_runs(group: str) -> list[dict[str, float]]:
    os.environ["BENCH_GROUP"] = group
    try:
        return runs_in_fresh_processes(__file__, PROCESSES)  # type: ignore[no-any-return]
    finally:
        del os.environ["BENCH_GROUP"]


def main() -> None:
    if "--once" in sys.argv:
        print(json.dumps(measure(os.environ.get("BENCH_GROUP", "tiny"))))
        return
    runs = [{**tiny, **loop} for tiny, loop in zip(_fresh_runs("tiny"), _fresh_runs("loop"), strict=True)]
    medians = {label: statistics.median(run[label] for run in runs) for label in runs[0]}
    per_run = [ratios(run) for run in runs]
    goal = {name: statistics.median(r[name] for r in per_run) for name in per_run[0]}
    disabled = subprocess.run(
        [sys.executable, "-c", DISABLED_CHECK], capture_output=True, text=True, check=False,
        env={**os.environ, "PROFILETOOLS": "0"},
    )

    print(environment())
    print(f"line_profiler backend: {BACKEND}; median of {PROCESSES} fresh processes, thread CPU time")
    print("\n### Per call (µs of CPU; fixed cost = minus the bare function)\n")
    print("| candidate | µs/call | fixed cost µs |\n|---|---:|---:|")
    for label, seconds in medians.items():
        bare = medians["tiny: bare" if label.startswith("tiny") else "loop: bare"]
        print(f"| {label} | {seconds * 1e6:,.2f} | {(seconds - bare) * 1e6:+,.2f} |")
    print("\n### Goals (median of the per-process ratios)\n")
    print("| goal | measured | limit | met |\n|---|---:|---:|:---:|")
    rows = [
        ("@lineprofile fixed cost ÷ raw LineProfiler wrapper's (tiny body)", goal["fixed: @lineprofile ÷ raw"], 1.5),
        ("(floor) hand-written per-call record ÷ raw wrapper's", goal["fixed: floor ÷ raw"], None),
        ("(distance to the floor) @lineprofile ÷ floor", goal["fixed: @lineprofile ÷ floor"], None),
        ("@lineprofile ÷ raw LineProfiler, 1,000-iteration body", goal["loop: @lineprofile ÷ raw"], 1.05),
        ("@lineprofile(aggregate=True) ÷ raw, 1,000-iteration body", goal["loop: aggregate ÷ raw"], 1.05),
    ]
    for text, value, limit in rows:
        if limit is None:
            print(f"| {text} | {value:.2f} | - | - |")
        else:
            print(f"| {text} | {value:.2f} | {limit} | {'yes' if value <= limit else 'NO'} |")
    same = disabled.returncode == 0 and disabled.stdout.strip() == "ok"
    print(f"| PROFILETOOLS=0: decorator returns the function itself | {'identical' if same else 'NOT identical'} "
          f"| identical | {'yes' if same else 'NO'} |")


if __name__ == "__main__":
    main()
