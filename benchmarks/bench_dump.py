"""What ``reporters.Dump`` costs the thread that made the record, and where that time goes.

Run: ``python benchmarks/bench_dump.py [directory]`` (the dumps go to a fresh
folder inside ``directory``, the system's temporary folder by default: measure
on the disk your service writes to). Two parts, in one run:

1. ``@profileit`` on a ~0.2 ms body, side by side (see harness.py): with a
   reporter that does nothing, with ``Dump``, with a bounded ``Dump``
   (``max_files=1000``) and with ``Background(Dump)`` (the caller pays a
   queue put; the worker is drained between rounds); in wall time, and in
   the calling thread's CPU time.
2. Where the time of ``Dump.report`` goes, over fresh ``@profileit`` and
   ``@timed`` records: each call that touches the file system or serializes
   is timed on its own (wrapped for the measurement, a fraction of a µs
   each), the record's ``write_dump`` gives the time to read its data
   (cProfile's statistics, the record's dict), and the rest is the Python code
   around them; in µs per record, with the total of the same number of
   records dumped with nothing timed next to it. Wall time is what the
   caller waits; CPU time (the thread's, user and system) leaves out waiting
   for the disk and for a CPU, so it stays comparable on a busy machine.

The script runs unchanged against older versions of profiletools (a candidate
whose option does not exist there is left out), which is how the figures
before and after a change are compared.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

from profiletools import profileit, reporters, timed

sys.path.insert(0, os.path.dirname(__file__))
from harness import Candidate, compare, do_nothing, environment, fresh, loop_body, overhead_table

BODY = loop_body(3000)

#: The calls timed one by one inside ``Dump.report``: (module, attribute, part).
TIMED_CALLS = [
    ("os", "open", "create the temporary file (os.open)"),
    ("tempfile", "mkstemp", "choose a temporary name (tempfile.mkstemp)"),
    ("os", "fchmod", "set the mode (os.fchmod)"),
    ("os", "makedirs", "make sure of the directory (os.makedirs)"),
    ("os", "replace", "rename into place (os.replace)"),
    ("os", "unlink", "delete the oldest (bound)"),
    ("os", "scandir", "delete the oldest (bound)"),
    ("marshal", "dumps", "serialize (marshal / json)"),
    ("json", "dumps", "serialize (marshal / json)"),
]
REST = "name, write, close, bookkeeping"


class PartTimer:
    """Wraps calls so each adds its own time (less the wrapped calls inside it) to its part."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.parts: dict[str, float] = {}
        self._inner = [0.0]  # time spent in wrapped calls, per nesting level

    def wrap(self, func: Callable[..., Any], part: str) -> Callable[..., Any]:
        """``func``, timed into ``part``."""
        clock, inner, parts = self.clock, self._inner, self.parts

        def timed_call(*args: Any, **kwargs: Any) -> Any:
            inner.append(0.0)
            started = clock()
            try:
                return func(*args, **kwargs)
            finally:
                elapsed = clock() - started
                nested = inner.pop()
                parts[part] = parts.get(part, 0.0) + elapsed - nested
                inner[-1] += elapsed

        return timed_call

    @contextlib.contextmanager
    def installed(self, record_type: type) -> Iterator[None]:
        """The wrappers in place (and the record type's ``write_dump``, whose own time is reading the data)."""
        import importlib

        saved: list[tuple[Any, str, Any]] = []
        for module_name, attribute, part in TIMED_CALLS:
            module = importlib.import_module(module_name)
            saved.append((module, attribute, getattr(module, attribute)))
            setattr(module, attribute, self.wrap(getattr(module, attribute), part))
        owner: Any = next(klass for klass in record_type.__mro__ if "write_dump" in klass.__dict__)
        saved.append((owner, "write_dump", owner.__dict__["write_dump"]))
        owner.write_dump = self.wrap(owner.__dict__["write_dump"], "read the data (pstats / to_dict)")
        try:
            yield
        finally:
            for target, attribute, original in reversed(saved):
                setattr(target, attribute, original)


def fresh_records(tool: Callable[..., Any], count: int) -> list[Any]:
    """``count`` records of distinct calls, their profiles not yet read (as a reporter receives them)."""
    collected: list[Any] = []
    measured = tool("work", reporters=[collected.append])(fresh(BODY))
    for _ in range(count):
        measured()
    return collected


def breakdown(records: list[Any], directory: str, clock: Callable[[], float]) -> tuple[dict[str, float], float, float]:
    """µs per record by part (calls timed one by one), their total, and the total with nothing timed."""
    half = len(records) // 2
    plain = reporters.Dump(os.path.join(directory, "plain"))
    start = clock()
    for record in records[:half]:
        plain.report(record)
    untimed = (clock() - start) / half
    timer = PartTimer(clock)
    dump = reporters.Dump(os.path.join(directory, "timed"))
    with timer.installed(type(records[0])):
        start = clock()
        for record in records[half:]:
            dump.report(record)
        total = clock() - start
    count = len(records) - half
    parts = {part: seconds / count for part, seconds in timer.parts.items()}
    parts[REST] = total / count - sum(parts.values())
    return {part: seconds * 1e6 for part, seconds in parts.items()}, total / count * 1e6, untimed * 1e6


@contextlib.contextmanager
def drained(background: Any) -> Iterator[None]:
    """Around a timing of the Background candidate: start with an empty queue, leave one."""
    background.flush(None)
    yield
    background.flush(None)


def side_by_side(directory: str, timer: Callable[[], float]) -> tuple[dict[str, float], str]:
    """Seconds per ``@profileit`` call with each way of dumping (by ``timer``), and a note on dropped records."""
    candidates: list[Candidate] = [
        ("bare", fresh(BODY)),
        ("@profileit, reporter does nothing", profileit(reporters=[do_nothing])(fresh(BODY))),
        ("@profileit + Dump", profileit(reporters=[reporters.Dump(os.path.join(directory, "a"))])(fresh(BODY))),
    ]
    with contextlib.suppress(TypeError):  # max_files= is new
        bounded = reporters.Dump(os.path.join(directory, "b"), max_files=1000)  # type: ignore[call-arg]
        candidates.append(("@profileit + Dump(max_files=1000)", profileit(reporters=[bounded])(fresh(BODY))))
    background = reporters.Background(reporters.Dump(os.path.join(directory, "c")), maxsize=100_000)
    candidates.append(
        ("@profileit + Background(Dump)", profileit(reporters=[background])(fresh(BODY)), lambda: drained(background))
    )
    results = compare(candidates, timer=timer)
    background.flush(None)
    return results, f"Background dropped {background.dropped} records"


def main() -> None:
    base = sys.argv[1] if len(sys.argv) > 1 else None
    directory = tempfile.mkdtemp(prefix="bench-dump-", dir=base)
    try:
        print(environment())
        print(f"dumps written to {directory}\n")
        for clock, timer in (("wall time", time.perf_counter), ("the calling thread's CPU time", time.thread_time)):
            results, note = side_by_side(directory, timer)
            print(f"#### µs per call of a ~0.2 ms body, {clock}\n")
            print(overhead_table(results, bare="bare", reference="@profileit + Dump", unit=1e-6, unit_name="µs"))
            print(f"\n{note}\n")
        for label, tool in (("@profileit (.prof)", profileit), ("@timed (.json)", timed)):
            wall = breakdown(fresh_records(tool, 4000), os.path.join(directory, label[1:4] + "w"), time.perf_counter)
            cpu = breakdown(fresh_records(tool, 4000), os.path.join(directory, label[1:4] + "c"), time.thread_time)
            print(f"#### Dump.report of {label} records: µs per record\n")
            print("| part | wall µs | CPU µs |\n|---|---:|---:|")
            for part in wall[0]:
                print(f"| {part} | {wall[0][part]:.1f} | {cpu[0].get(part, 0.0):.1f} |")
            print(f"| **total** | {wall[1]:.1f} | {cpu[1]:.1f} |")
            print(f"| total, nothing timed | {wall[2]:.1f} | {cpu[2]:.1f} |\n")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
