"""Cost of ``@sampleprofile`` (pyinstrument) against cProfile, and whether it finds the same hot spots.

Run: ``python benchmarks/bench_sampleprofile.py``. In one run (see harness.py),
for three bodies, the candidates are: the bare body; ``cProfile.Profile().runcall``
(a fresh profiler per call); ``@profileit``; pyinstrument's ``Profiler`` started
and stopped by hand around the call (what ``@sampleprofile`` is built on);
``@sampleprofile`` at its default interval (1 ms) and at 10 ms. Reporters do
nothing, so the cost measured is profiling's own. Each figure is the median over
three fresh processes. The bodies:

* ``call per iteration``: the 1000-iteration loop calling a function each time
  (as in bench_profileit.py);
* ``50 ms, call-heavy``: a text pipeline of ~50 ms making ~20,000 calls (one
  per word, plus a few per line);
* ``50 ms, few calls``: the same kind of work done in a few long calls.

Goals of the issue, checked at the end: ``@sampleprofile`` adds ≤ 10 % to the
50 ms workload at the default interval, and finds the same three hottest
functions (by self time) as cProfile on it.
"""

from __future__ import annotations

import cProfile
import json
import os
import pstats
import re
import statistics
import sys
from collections.abc import Callable
from typing import Any

from pyinstrument import Profiler

from profiletools import profileit
from profiletools.tools.sampleprofile import sampleprofile

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

PIPELINE = """
SUFFIXES = tuple((suffix, len(suffix)) for suffix in ("ingly", "edly", "ness", "ment", "ing", "ed", "ly", "s"))
TEXT = ("The quick brown fox jumps over the lazy dog, repeatedly and quietly; "
        "kindness matters, judgment fails, running jumped happily. ") * 4


def tokenize(line):
    return line.lower().replace(",", " ").replace(";", " ").replace(".", " ").split()


def stem(word):
    for suffix, size in SUFFIXES:
        if word[-size:] == suffix and word[:-size]:
            return word[:-size]
    return word


def count(words, table):
    previous = ""
    for word in words:
        pair = (previous, word)
        if pair in table:
            table[pair] += 1
        else:
            table[pair] = 1
        if word in table:
            table[word] += 1
        else:
            table[word] = 1
        triple = (previous, word, 2)
        if triple in table:
            table[triple] += 1
        else:
            table[triple] = 1
        previous = word


def checksum(words):
    total = 0
    for word in words:
        for char in word:
            total = (total * 31 + 7) % 1000003
    return total
"""

BODIES = {
    "call per iteration": """
def square(i):
    return i * i

def body():
    total = 0
    for i in range(1000):
        total += square(i)
    return total
""",
    "50 ms, call-heavy": PIPELINE + """
LINES = [TEXT] * 400


def body():
    table = {}
    digest = 0
    for line in LINES:
        words = [stem(word) for word in tokenize(line)]
        count(words, table)
        digest ^= checksum(words)
    return len(table), digest
""",
    "50 ms, few calls": PIPELINE + """
WORDS = tokenize(TEXT * 400)


def body():
    table = {}
    count(WORDS, table)
    return len(table), checksum(WORDS), checksum(WORDS), checksum(WORDS)
""",
}
WORKLOAD = "50 ms, call-heavy"
PROCESSES = 3
RUNS_FOR_HOT_SPOTS = 10








def raw_pyinstrument(func: Callable[[], Any]) -> Callable[[], Any]:
    def run() -> Any:
        profiler = Profiler(interval=0.001, async_mode="disabled")
        profiler.start()
        try:
            return func()
        finally:
            profiler.stop()
    return run


def short_name(function: str) -> str:
    """cProfile's and pyinstrument's names of one function, made equal (built-ins differ)."""
    method = re.fullmatch(r"<method '(\w+)' of '(\w+)' objects>", function)
    if method:
        return f"{method.group(2)}.{method.group(1)}"
    builtin = re.fullmatch(r"<built-in method (?:[\w.]+\.)?(\w+)>", function)
    return builtin.group(1) if builtin else function


def hot_spots() -> dict[str, list[str]]:
    """The three functions with the most self time in the workload, by cProfile and by ``@sampleprofile``."""
    source = BODIES[WORKLOAD]
    profiler = cProfile.Profile()
    body = fresh(source)
    for _ in range(RUNS_FOR_HOT_SPOTS):
        profiler.runcall(body)
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    by_cprofile = sorted(stats, key=lambda func: stats[func][2], reverse=True)
    records: list[Any] = []
    sampled = sampleprofile(reporters=[records.append], aggregate=True)(fresh(source))
    for _ in range(RUNS_FOR_HOT_SPOTS):
        sampled()
    sampled.flush()  # type: ignore[attr-defined]
    return {
        "cProfile": [short_name(func[2]) for func in by_cprofile[:3]],
        "sampleprofile": [function for _file, _line, function in records[0].hottest(3)],
    }


def measure() -> dict[str, Any]:
    """One process's figures: seconds per call of each candidate, per body; and the hot spots."""
    results: dict[str, Any] = {}
    for body, source in BODIES.items():
        candidates: list[Candidate] = [
            ("bare", fresh(source)),
            ("raw cProfile runcall", raw_cprofile(fresh(source))),
            ("@profileit", profileit(reporters=[do_nothing])(fresh(source))),
            ("raw pyinstrument Profiler", raw_pyinstrument(fresh(source))),
            ("@sampleprofile", sampleprofile(reporters=[do_nothing])(fresh(source))),
            ("@sampleprofile(interval=0.01)", sampleprofile(reporters=[do_nothing], interval=0.01)(fresh(source))),
        ]
        small = body == "call per iteration"
        results[body] = compare(candidates, rounds=9 if small else 7, target=0.05 if small else 0.15)
    results["hot spots"] = hot_spots()
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
        unit, unit_name = (1e-6, "µs") if body == "call per iteration" else (1e-3, "ms")
        print(f"\n### {body} ({unit_name} per call)\n")
        print(overhead_table(medians[body], bare="bare", reference="raw cProfile runcall", unit=unit,
                             unit_name=unit_name))

    print("\n### Hot spots of the 50 ms call-heavy workload (top 3 by self time)\n")
    print("| process | cProfile | @sampleprofile | same three |\n|---|---|---|:---:|")
    agree = 0
    for number, run in enumerate(runs, 1):
        spots = run["hot spots"]
        same = set(spots["cProfile"]) == set(spots["sampleprofile"])
        agree += same
        print(f"| {number} | {', '.join(spots['cProfile'])} | {', '.join(spots['sampleprofile'])} | "
              f"{'yes' if same else 'NO'} |")

    workload = medians[WORKLOAD]
    added = workload["@sampleprofile"] / workload["bare"] - 1
    print("\n### Goals\n\n| goal | measured | limit | met |\n|---|---:|---:|:---:|")
    print(f"| {WORKLOAD}: time added by @sampleprofile | {added:.1%} | 10 % | {'yes' if added <= 0.10 else 'NO'} |")
    print(f"| {WORKLOAD}: same top-3 as cProfile | {agree} of {len(runs)} processes | all | "
          f"{'yes' if agree == len(runs) else 'NO'} |")
    print("\n### Where the time goes\n")
    print("| body | raw cProfile adds | raw pyinstrument adds | @sampleprofile adds | at interval=0.01 | "
          "@sampleprofile ÷ raw pyinstrument |")
    print("|---|---:|---:|---:|---:|---:|")
    for body, figures in medians.items():
        bare = figures["bare"]
        print(
            f"| {body} | {figures['raw cProfile runcall'] / bare - 1:.0%} | "
            f"{figures['raw pyinstrument Profiler'] / bare - 1:.0%} | {figures['@sampleprofile'] / bare - 1:.0%} | "
            f"{figures['@sampleprofile(interval=0.01)'] / bare - 1:.0%} | "
            f"{figures['@sampleprofile'] / figures['raw pyinstrument Profiler']:.3f} |"
        )


if __name__ == "__main__":
    main()
