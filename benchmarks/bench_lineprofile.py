"""Cost of ``@lineprofile`` against line_profiler used by hand.

Run: ``python benchmarks/bench_lineprofile.py``. In one run (see harness.py):
a 1000-iteration loop body bare; the same body wrapped by a raw
``line_profiler.LineProfiler`` (what ``@profile`` under kernprof does); and
under ``@lineprofile`` with a reporter that does nothing, per call (each call
gets its own line table) and with ``aggregate=True``. Each candidate runs its
own copy of the body (same source, own code object), so no two profilers
share a function. Each figure is the median over five fresh processes (the
speed of traced lines varies by a few percent from one process to the next).
The goal of the issue is checked as a ratio at the end, and a fresh
interpreter with ``PROFILETOOLS=0`` checks that the decorator then returns the
function itself (zero cost by construction).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys

from line_profiler import LineProfiler

from profiletools.tools.lineprofile import BACKEND, lineprofile

sys.path.insert(0, os.path.dirname(__file__))
from harness import Candidate, compare, do_nothing, environment, fresh, overhead_table, runs_in_fresh_processes

BODY = """
def body():
    total = 0
    for i in range(1000):
        total += i * i
    return total
"""

PROCESSES = 5

DISABLED_CHECK = """
from profiletools import lineprofile
def body():
    return 1
assert lineprofile(body) is body and lineprofile(also=[body])(body) is body
print("ok")
"""






def measure() -> dict[str, float]:
    """One process's figures: seconds per call of each candidate (harness.compare)."""
    raw_profiler = LineProfiler()
    candidates: list[Candidate] = [
        ("bare body", fresh(BODY)),
        ("raw LineProfiler", raw_profiler(fresh(BODY))),
        ("@lineprofile", lineprofile(reporters=[do_nothing])(fresh(BODY))),
        ("@lineprofile(aggregate=True)", lineprofile(aggregate=True, reporters=[do_nothing])(fresh(BODY))),
    ]
    return compare(candidates, rounds=15, target=0.1)


def main() -> None:
    if "--once" in sys.argv:
        print(json.dumps(measure()))
        return
    # Line-tracing speed differs by a few percent between processes for the same code (memory
    # layout, hash seeds): every figure is the median over several fresh processes.
    runs = runs_in_fresh_processes(__file__, PROCESSES)
    results = {label: statistics.median(run[label] for run in runs) for label in runs[0]}
    ratios = sorted(run["@lineprofile"] / run["raw LineProfiler"] for run in runs)
    disabled = subprocess.run(
        [sys.executable, "-c", DISABLED_CHECK], capture_output=True, text=True, check=False,
        env={**os.environ, "PROFILETOOLS": "0"},
    )

    print(environment())
    print(f"line_profiler backend: {BACKEND}; median of {PROCESSES} processes")
    print("\n### 1000-iteration loop body (µs per call)\n")
    print(overhead_table(results, bare="bare body", reference="raw LineProfiler", unit=1e-6, unit_name="µs"))
    ratio = statistics.median(ratios)
    print(f"\n@lineprofile ÷ raw LineProfiler per process: {', '.join(f'{r:.3f}' for r in ratios)}")
    print("\n### Goals\n\n| goal | measured | limit | met |\n|---|---:|---:|:---:|")
    print(f"| @lineprofile ÷ raw LineProfiler (median) | {ratio:.3f} | 1.05 | {'yes' if ratio <= 1.05 else 'NO'} |")
    same = disabled.returncode == 0 and disabled.stdout.strip() == "ok"
    print(f"| PROFILETOOLS=0: decorator returns the function itself | {'identical' if same else 'NOT identical'} "
          f"| identical | {'yes' if same else 'NO'} |")


if __name__ == "__main__":
    main()
