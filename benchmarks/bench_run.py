"""What ``profiletools run -t profileit`` costs against ``python -m cProfile`` on the same scripts.

Run: ``python benchmarks/bench_run.py [--rounds N]``. Each round runs every
candidate once as a fresh process (interleaved, so drift of the shared machine
hits all alike) and the figure kept is the median wall time of the whole
process over the rounds. Two programs: ``docs/examples/primes.py`` (a
call-heavy second or so: what profiling adds) and ``-c pass`` (start-up only:
what the command itself adds). Both profilers write their profile to a file;
``profiletools run`` also prints its table to stderr (both outputs go to
``/dev/null``). Byte-code caching is on (``PYTHONDONTWRITEBYTECODE`` is
removed from the environment) and a first round, not counted, writes the
caches: as an installed package runs.

The figures: the wall time of each candidate, its time above the plain
``python`` run (the overhead), and that overhead as a ratio to
``python -m cProfile``'s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import environment

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRIMES = os.path.join(ROOT, "docs", "examples", "primes.py")


def candidates(program: list[str], out: str) -> dict[str, list[str]]:
    """Label -> command line, for one program (``[script, args...]`` or ``["-c", code]``)."""
    return {
        "python": [sys.executable, *program],
        "python -m cProfile -o": [sys.executable, "-m", "cProfile", "-o", os.path.join(out, "raw.prof"), *program],
        "profiletools run -t profileit": [sys.executable, "-m", "profiletools", "run", "-t", "profileit", "-o", out,
                                          *program],
    }


#: The environment of every run: byte-code caching on, as for an installed package.
ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def time_once(command: list[str]) -> float:
    """Wall seconds of one run of ``command``, output discarded."""
    started = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV, check=True)
    return time.perf_counter() - started


def measure(commands: dict[str, list[str]], rounds: int) -> dict[str, float]:
    """Median wall seconds per candidate over ``rounds`` interleaved rounds (after one warm-up round)."""
    times: dict[str, list[float]] = {label: [] for label in commands}
    for command in commands.values():
        time_once(command)
    for _ in range(rounds):
        for label, command in commands.items():
            times[label].append(time_once(command))
    return {label: statistics.median(values) for label, values in times.items()}


def table(results: dict[str, float]) -> str:
    """A markdown table: median ms, overhead over plain python, overhead ÷ cProfile's."""
    bare = results["python"]
    reference = results["python -m cProfile -o"] - bare
    lines = ["| candidate | median ms | overhead ms | overhead ÷ cProfile's |", "|---|---:|---:|---:|"]
    for label, seconds in results.items():
        overhead = seconds - bare
        ratio = f"{overhead / reference:.2f}" if label != "python" and reference > 0 else "-"
        lines.append(f"| {label} | {seconds * 1e3:,.0f} | {overhead * 1e3:+,.0f} | {ratio} |")
    return "\n".join(lines)


def main() -> int:
    """Print one table per program."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=11)
    options = parser.parse_args()
    print(environment())
    print(f"fresh processes, {options.rounds} interleaved rounds, median wall time of the whole process\n")
    with tempfile.TemporaryDirectory() as out:
        empty = os.path.join(out, "empty.py")
        with open(empty, "w") as stream:
            stream.write("pass\n")
        for title, program in (("docs/examples/primes.py 20000 (call-heavy)", [PRIMES, "20000"]),
                               ("an empty script (start-up only)", [empty])):
            print(f"#### {title}\n")
            print(table(measure(candidates(program, out), options.rounds)))
            print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
