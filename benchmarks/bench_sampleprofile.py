"""Cost of ``@sampleprofile`` against cProfile and pyinstrument, the floor of any timer signal, and fidelity.

Run: ``python benchmarks/bench_sampleprofile.py``. In one run (see harness.py),
for three bodies, the candidates are: the bare body; ``cProfile.Profile().runcall``
(a fresh profiler per call); ``@profileit``; pyinstrument's ``Profiler`` started
and stopped by hand around the call; ``@sampleprofile`` at its default interval
(1 ms: the timer signal on the main thread), with ``clock="thread"``, at 10 ms,
and with ``sampler="pyinstrument"``; and two reference rows that are not
profilers: the same 1 kHz POSIX timer signal aimed at the main thread with a
C handler that does nothing (``getpid``, installed with ``sigaction``: the
kernel's and the virtual machine's cost of delivering a tick, the floor of
any signal-driven sampler on this machine) and with a Python handler that does
nothing (what CPython adds to run one). Reporters do nothing, so the cost
measured is profiling's own. Each figure is the median over three fresh
processes. The bodies:

* ``call per iteration``: the 1000-iteration loop calling a function each time
  (as in bench_profileit.py);
* ``50 ms, call-heavy``: a text pipeline of ~50 ms making ~20,000 calls (one
  per word, plus a few per line);
* ``50 ms, dense calls``: 600,000 calls of two tiny functions, the kind of body
  where a profiler that runs at every call (cProfile, pyinstrument's hook)
  adds most;
* ``50 ms, few calls``: the same kind of work done in a few long calls.

Fidelity on the call-heavy body, per process: the three hottest functions by
self time (``@sampleprofile(aggregate=True)`` over 10 calls, against cProfile's
over the same 10 calls); the samples a single call holds against its wall
time ÷ interval and against its CPU time ÷ interval, and the effective
interval the record reports.

Goals of issue 16, checked at the end: ``@sampleprofile`` adds ≤ 5 % to the
dense and the call-heavy bodies at the default interval, where cProfile and
raw pyinstrument add far more; judged against the floor row (what a tick costs before any
profiler runs); and finds cProfile's three hottest functions.
"""

from __future__ import annotations

import cProfile
import ctypes
import json
import os
import pstats
import random
import re
import signal
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from profiletools import profileit
from profiletools.tools.sampleprofile import clock as sampler_clock
from profiletools.tools.sampleprofile import sampleprofile

sys.path.insert(0, os.path.dirname(__file__))
from harness import (
    do_nothing,
    environment,
    fresh,
    quartiles,
    raw_cprofile,
    raw_pyinstrument,
    round_ratios,
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
    "50 ms, dense calls": """
def leaf(x):
    return x + 1


def node(x):
    return leaf(x) + leaf(x + 1)


def body():
    total = 0
    for i in range(200_000):
        total += node(i)
    return total
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
#: The body of issue 16's measure: three tiny calls per iteration, where a tracing profiler adds 80-150 %.
DENSE = "50 ms, dense calls"
PROCESSES = 3
RUNS_FOR_HOT_SPOTS = 10
ROUNDS = 15
FLOOR = "reference: 1 kHz timer signal, C no-op handler"
PYTHON_TICK = "reference: 1 kHz timer signal, Python no-op handler"


class _Sigaction(ctypes.Structure):
    """glibc's ``struct sigaction`` on 64-bit Linux (handler, mask, flags, restorer)."""

    _fields_ = (("handler", ctypes.c_void_p), ("mask", ctypes.c_ulong * 16), ("flags", ctypes.c_int),
                ("restorer", ctypes.c_void_p))


_SA_RESTART = 0x10000000


def timer_signal(func: Callable[[], Any], handler: str) -> Callable[[], Any]:
    """``func`` under a 1 kHz POSIX timer signal aimed at the main thread, as the sampler's (random phase).

    ``handler="c"``: a C function that does nothing (``getpid``), installed with
    ``sigaction``: no Python runs, so this is what delivering the ticks costs.
    ``handler="python"``: a Python function that does nothing.
    """
    if sampler_clock.prepare() is not None or sampler_clock._libc is None:
        raise OSError("no POSIX timers here")
    libc = sampler_clock._libc
    signum = sampler_clock.spare_signal(libc)
    if handler == "c":
        c_library = ctypes.CDLL(None, use_errno=True)
        action = _Sigaction()
        action.handler = ctypes.cast(c_library.getpid, ctypes.c_void_p).value
        action.flags = _SA_RESTART
        if c_library.sigaction(signum, ctypes.byref(action), None) != 0:
            raise OSError(ctypes.get_errno(), "sigaction failed")
    else:
        signal.signal(signum, lambda number, frame: None)
        signal.siginterrupt(signum, False)
    timer = sampler_clock.PosixTimer(libc, signum, sampler_clock.MAIN.native_id)

    def run() -> Any:
        timer.arm(random.random() * 0.001, 0.001)
        try:
            return func()
        finally:
            timer.disarm()
    return run


def short_name(function: str) -> str:
    """cProfile's and pyinstrument's names of one function, made equal (built-ins differ)."""
    method = re.fullmatch(r"<method '(\w+)' of '(\w+)' objects>", function)
    if method:
        return f"{method.group(2)}.{method.group(1)}"
    builtin = re.fullmatch(r"<built-in method (?:[\w.]+\.)?(\w+)>", function)
    return builtin.group(1) if builtin else function


def fidelity() -> dict[str, Any]:
    """Hot spots by cProfile and by ``@sampleprofile`` on the call-heavy body; samples of single calls."""
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
    singles: list[Any] = []
    single = sampleprofile(reporters=[singles.append])(fresh(source))
    calls = []
    for _ in range(RUNS_FOR_HOT_SPOTS):
        cpu = time.thread_time()
        single()
        calls.append((singles[-1].sample_count, singles[-1].wall, time.thread_time() - cpu,
                      singles[-1].effective_interval))
    return {
        "cProfile": [short_name(func[2]) for func in by_cprofile[:3]],
        "sampleprofile": [function for _file, _line, function in records[0].hottest(3)],
        "calls": calls,
    }


def measure() -> dict[str, Any]:
    """One process's figures: per body, each candidate's seconds per call and ratio to bare, per round."""
    results: dict[str, Any] = {}
    for body, source in BODIES.items():
        candidates: list[tuple[str, Callable[[], object]]] = [
            ("bare", fresh(source)),
            ("raw cProfile runcall", raw_cprofile(fresh(source))),
            ("@profileit", profileit(reporters=[do_nothing])(fresh(source))),
            ("raw pyinstrument Profiler", raw_pyinstrument(fresh(source), async_mode="disabled")),
            ("@sampleprofile", sampleprofile(reporters=[do_nothing])(fresh(source))),
            ('@sampleprofile(clock="thread")', sampleprofile(reporters=[do_nothing], clock="thread")(fresh(source))),
            ("@sampleprofile(interval=0.01)", sampleprofile(reporters=[do_nothing], interval=0.01)(fresh(source))),
            ('@sampleprofile(sampler="pyinstrument")',
             sampleprofile(reporters=[do_nothing], sampler="pyinstrument")(fresh(source))),
            (FLOOR, timer_signal(fresh(source), "c")),
            (PYTHON_TICK, timer_signal(fresh(source), "python")),
        ]
        for _label, func in candidates:  # warm up: imports, the timer, the sampling thread
            func()
        results[body] = round_ratios(candidates, bare="bare", rounds=ROUNDS, target=0.05)
    results["fidelity"] = fidelity()
    return results


def main() -> None:
    if "--once" in sys.argv:
        print(json.dumps(measure()))
        return
    runs = runs_in_fresh_processes(__file__, PROCESSES)
    print(environment() + f"; load average {os.getloadavg()[0]:.1f} at the end")
    print(f"{PROCESSES} fresh processes × {ROUNDS} rounds; in each round every candidate runs once (~50 ms), "
          "in a shuffled order; × bare is the median of the per-round ratios to the bare call of the same round")
    medians: dict[str, dict[str, float]] = {}
    for body in BODIES:
        unit, unit_name = (1e-6, "µs") if body == "call per iteration" else (1e-3, "ms")
        print(f"\n#### {body}\n")
        print(f"| candidate | {unit_name}/call | × bare | added | IQR of × bare |\n|---|---:|---:|---:|---|")
        medians[body] = {}
        for label in runs[0][body]["ratios"]:
            ratios = [ratio for run in runs for ratio in run[body]["ratios"][label]]
            seconds = statistics.median(second for run in runs for second in run[body]["seconds"][label])
            low, middle, high = quartiles(ratios)
            medians[body][label] = middle
            print(f"| {label} | {seconds / unit:,.1f} | {middle:.3f} | {middle - 1:+.1%} | {low:.3f}–{high:.3f} |")

    print("\n#### Fidelity on the 50 ms call-heavy body\n")
    print("| process | cProfile's top 3 by self time | @sampleprofile's (aggregate of 10 calls) | same three |")
    print("|---|---|---|:---:|")
    agree = 0
    for number, run in enumerate(runs, 1):
        spots = run["fidelity"]
        same = set(spots["cProfile"]) == set(spots["sampleprofile"])
        agree += same
        print(f"| {number} | {', '.join(spots['cProfile'])} | {', '.join(spots['sampleprofile'])} | "
              f"{'yes' if same else 'NO'} |")
    calls = [call for run in runs for call in run["fidelity"]["calls"]]
    by_wall = [count / (wall / 0.001) for count, wall, _cpu, _effective in calls]
    by_cpu = [count / (cpu / 0.001) for count, _wall, cpu, _effective in calls if cpu > 0]
    effective = [interval for *_rest, interval in calls if interval]
    within = sum(0.8 <= ratio <= 1.2 for ratio in by_wall)
    print(f"\n{len(calls)} single calls: samples ÷ (wall ÷ 1 ms) median {statistics.median(by_wall):.2f} "
          f"[{min(by_wall):.2f}–{max(by_wall):.2f}], {within} within 20 %; samples ÷ (CPU ÷ 1 ms) median "
          f"{statistics.median(by_cpu):.2f}; effective interval median {statistics.median(effective) * 1e3:.2f} ms")

    print("\n#### Goals\n\n| goal | measured | limit | met |\n|---|---:|---:|:---:|")
    for name in (DENSE, WORKLOAD):
        workload = medians[name]
        added = {label: ratio - 1 for label, ratio in workload.items()}
        own = workload["@sampleprofile"] / workload[FLOOR] - 1
        print(f"| {name}: time added by @sampleprofile | {added['@sampleprofile']:.1%} | 5 % | "
              f"{'yes' if added['@sampleprofile'] <= 0.05 else 'NO'} |")
        print(f"| {name}: time added by the 1 kHz timer signal alone, C no-op handler (the floor) | "
              f"{added[FLOOR]:.1%} | | |")
        print(f"| {name}: @sampleprofile ÷ the floor | {own:+.1%} | 5 % | {'yes' if own <= 0.05 else 'NO'} |")
        print(f"| {name}: raw cProfile, raw pyinstrument add | {added['raw cProfile runcall']:.0%}, "
              f"{added['raw pyinstrument Profiler']:.0%} | (80–150 % in issue 16) | |")
    print(f"| {WORKLOAD}: same top-3 as cProfile | {agree} of {len(runs)} processes | all | "
          f"{'yes' if agree == len(runs) else 'NO'} |")
    print("\n#### Where the time goes (time added, median of per-round ratios)\n")
    columns = ("raw cProfile runcall", "raw pyinstrument Profiler", FLOOR, PYTHON_TICK, "@sampleprofile",
               '@sampleprofile(clock="thread")', "@sampleprofile(interval=0.01)",
               '@sampleprofile(sampler="pyinstrument")')
    print("| body | raw cProfile | raw pyinstrument | timer signal, C no-op (floor) | timer signal, Python no-op | "
          "@sampleprofile | clock=\"thread\" | interval=0.01 | sampler=\"pyinstrument\" |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for body, figures in medians.items():
        print(f"| {body} | " + " | ".join(f"{figures[label] - 1:+.1%}" for label in columns) + " |")


if __name__ == "__main__":
    main()
