"""What ``import profiletools`` costs, against ``import codetiming``, in fresh interpreters.

Run: ``python benchmarks/bench_import.py [--rounds N]``. Each round starts one
fresh interpreter per candidate (interleaved, so drift of the shared machine
hits all alike); the interpreter times its own import statement with
``perf_counter`` (interpreter start-up is not counted), and the figure kept is
the median over the rounds. Goals (issue 14): ``import profiletools`` ≤ 1.0 ×
``import codetiming``; with ``PROFILETOOLS=0`` ≤ 0.3 ×.

``from profiletools import timed`` (and decorating a function with it) is shown
too: it is what a program that uses the package pays, and has no goal of its own.
``--importtime`` prints which modules ``import profiletools`` loads (``python -X importtime``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from harness import environment

#: label, statement, extra environment
CANDIDATES: list[tuple[str, str, dict[str, str]]] = [
    ("import codetiming", "import codetiming", {}),
    ("import profiletools", "import profiletools", {}),
    ("import profiletools (PROFILETOOLS=0)", "import profiletools", {"PROFILETOOLS": "0"}),
    ("from profiletools import timed", "from profiletools import timed", {}),
    ("from profiletools import timed (PROFILETOOLS=0)", "from profiletools import timed", {"PROFILETOOLS": "0"}),
    ("@timed on a function", "from profiletools import timed\n@timed\ndef f(): pass", {}),
]

_PROGRAM = "import time\nt0 = time.perf_counter()\n{statement}\nprint(time.perf_counter() - t0)\n"


def time_once(statement: str, extra_env: dict[str, str]) -> float:
    """Seconds the statement takes in a fresh interpreter."""
    env = {**os.environ, **extra_env}
    if "PROFILETOOLS" not in extra_env:
        env.pop("PROFILETOOLS", None)
    done = subprocess.run(
        [sys.executable, "-c", _PROGRAM.format(statement=statement)],
        capture_output=True, text=True, env=env, check=True,
    )
    return float(done.stdout)


def measure(rounds: int) -> dict[str, float]:
    """Median seconds per candidate over ``rounds`` interleaved rounds."""
    times: dict[str, list[float]] = {label: [] for label, _, _ in CANDIDATES}
    for _ in range(rounds):
        for label, statement, extra in CANDIDATES:
            times[label].append(time_once(statement, extra))
    return {label: statistics.median(values) for label, values in times.items()}


def table(results: dict[str, float]) -> str:
    """A markdown table: median ms and the ratio to ``import codetiming``."""
    reference = results["import codetiming"]
    lines = ["| statement | median ms | × import codetiming |", "|---|---:|---:|"]
    for label, seconds in results.items():
        lines.append(f"| {label} | {seconds * 1e3:.2f} | {seconds / reference:.2f} |")
    return "\n".join(lines)


def goals(results: dict[str, float]) -> list[tuple[str, float, float]]:
    """(goal, ratio, limit) for the two goals of issue 14."""
    reference = results["import codetiming"]
    return [
        ("import profiletools ≤ 1.0 × codetiming", results["import profiletools"] / reference, 1.0),
        ("with PROFILETOOLS=0 ≤ 0.3 × codetiming", results["import profiletools (PROFILETOOLS=0)"] / reference, 0.3),
    ]


def imported_modules() -> str:
    """The modules ``import profiletools`` loads beyond start-up, from ``-X importtime``."""
    def importtime(statement: str) -> list[str]:
        command = [sys.executable, "-X", "importtime", "-c", statement]
        return subprocess.run(command, capture_output=True, text=True, check=True).stderr.splitlines()

    baseline, done = importtime("pass"), importtime("import profiletools")
    started = {line.rsplit("|", 1)[-1].strip() for line in baseline}
    rows = [line for line in done if line.rsplit("|", 1)[-1].strip() not in started]
    return "\n".join(rows)


def main() -> int:
    """Print the table and the goals; exit status 1 when a goal is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=41)
    parser.add_argument("--importtime", action="store_true", help="print what import profiletools loads")
    options = parser.parse_args()
    if options.importtime:
        print(imported_modules())
        return 0
    print(environment())
    print(f"fresh interpreters, {options.rounds} interleaved rounds, median\n")
    results = measure(options.rounds)
    print(table(results))
    print()
    missed = 0
    for goal, ratio, limit in goals(results):
        met = ratio <= limit
        missed += not met
        print(f"{'met ' if met else 'MISSED'} {goal}: {ratio:.2f}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
