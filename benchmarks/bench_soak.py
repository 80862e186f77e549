"""Soak: each tool with each file reporter, left running as a service leaves it.

Run before a release: ``python benchmarks/bench_soak.py`` (10 s per pair,
about five minutes in all), or ``--quick`` for a smoke test in seconds (0.3 s
per pair, all in one process, so its figures are not isolated from one pair
to the next); ``--seconds N`` sets the length of each run. Every pair of a
tool (``timed``, ``profileit``, ``lineprofile``, ``memprofile``,
``sampleprofile``) and a file reporter (``JsonLines``, renamed every two
seconds and shipped and deleted a second later, as logrotate with
``delaycompress`` does; ``Dump(max_files=1000)``; ``Summary``;
``Background(Dump(max_files=1000))``) runs in a fresh process, calling one
small function as fast as it can. The table gives, at the start (after a
short warm-up) and at the end of the run: resident memory, open file
descriptors, threads, and the cost of one call (the mean over the first and
the last tenth of the run). A leak shows as a figure that grows from start to
end; the last column checks that every record is accounted for (lines
shipped, files kept within the bound, calls counted, records delivered,
counted as dropped or still queued).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from typing import Any

import psutil

sys.path.insert(0, os.path.dirname(__file__))
from harness import environment, fresh, loop_body

TOOLS = ["timed", "profileit", "lineprofile", "memprofile", "sampleprofile"]
REPORTERS = ["JsonLines", "Dump", "Summary", "Background(Dump)"]
KEEP = 1000

BODY = loop_body(200)


def resources(process: Any) -> dict[str, float]:
    """RSS in MB, open descriptors and OS threads of this process now."""
    return {"rss": process.memory_info().rss / 1e6, "fds": process.num_fds(), "threads": process.num_threads()}


class Rotator(threading.Thread):
    """logrotate, every ``period`` seconds: rename the file, count its lines (ship it), delete it."""

    def __init__(self, path: str, period: float) -> None:
        super().__init__(daemon=True)
        self.path, self.period = path, period
        self.shipped = self.rotations = 0
        self.stop = threading.Event()

    def ship(self, path: str) -> None:
        with open(path, "rb") as rotated:
            self.shipped += sum(1 for _ in rotated)
        os.unlink(path)

    def run(self) -> None:
        while not self.stop.wait(self.period):
            try:
                os.rename(self.path, self.path + ".1")
            except FileNotFoundError:
                continue
            self.rotations += 1
            self.stop.wait(1.1)  # the writer notices within a second; then the old file is complete
            self.ship(self.path + ".1")


def make_reporter(kind: str, directory: str) -> Any:
    """The reporter under test, writing into ``directory``."""
    from profiletools import reporters

    if kind == "JsonLines":
        return reporters.JsonLines(os.path.join(directory, "soak.jsonl"))
    if kind == "Dump":
        return reporters.Dump(directory, max_files=KEEP)
    if kind == "Summary":
        return reporters.Summary()
    return reporters.Background(reporters.Dump(directory, max_files=KEEP))


def accounted(kind: str, reporter: Any, rotator: Rotator | None, calls: int, directory: str, seconds: float) -> str:
    """Whether every record of the run is where it should be, in words."""
    if kind == "JsonLines":
        assert rotator is not None
        rotator.stop.set()
        rotator.join()
        reporter.close()
        for leftover in (os.path.join(directory, "soak.jsonl.1"), os.path.join(directory, "soak.jsonl")):
            if os.path.exists(leftover):
                rotator.ship(leftover)
        return f"{rotator.shipped:,} of {calls:,} lines shipped, {rotator.rotations} rotations"
    if kind == "Summary":
        counted = sum(entry["count"] for entry in reporter.stats().values())
        return f"{counted:,} of {calls:,} calls counted"
    delivered = ""
    if kind == "Background(Dump)":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the count is in the table
            queued = reporter.flush(timeout=min(30.0, 3 * seconds))
        delivered = (
            f"{reporter.delivered:,} delivered + {reporter.dropped:,} dropped + {queued:,} queued of {calls:,}; "
        )
    files = len([name for name in os.listdir(directory) if not name.startswith(".")])
    return f"{delivered}{files} files kept (bound {KEEP})"


def run_one(tool_name: str, kind: str, seconds: float) -> dict[str, Any]:
    """Run one pair for ``seconds`` in this process; its figures at the start and at the end."""
    import profiletools

    process = psutil.Process()
    directory = tempfile.mkdtemp(prefix="soak-")
    try:
        reporter = make_reporter(kind, directory)
        rotator = None
        if kind == "JsonLines":
            rotator = Rotator(os.path.join(directory, "soak.jsonl"), period=1.0)
        func = getattr(profiletools, tool_name)(reporters=[reporter])(fresh(BODY))
        warm_until = time.perf_counter() + min(1.0, seconds / 10)
        calls = 0
        while time.perf_counter() < warm_until:
            func()
            calls += 1
        if rotator is not None:
            rotator.start()
        start = resources(process)
        window = seconds / 10
        costs: list[tuple[float, float]] = []  # (time since start, seconds per call) per batch
        began = time.perf_counter()
        batch = 1
        while (now := time.perf_counter()) - began < seconds:
            for _ in range(batch):
                func()
            elapsed = time.perf_counter() - now
            calls += batch
            costs.append((now - began, elapsed / batch))
            batch = max(1, min(batch * 2, int(batch * 0.01 / max(elapsed, 1e-9)))) if elapsed < 0.005 else batch
        end = resources(process)
        first = [cost for at, cost in costs if at < window] or [costs[0][1]]
        last = [cost for at, cost in costs if at >= seconds - window] or [costs[-1][1]]
        return {
            "tool": tool_name, "reporter": kind, "calls": calls, "start": start, "end": end,
            "cost_start": sum(first) / len(first), "cost_end": sum(last) / len(last),
            "accounted": accounted(kind, reporter, rotator, calls, directory, seconds),
        }
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def run_in_fresh_process(tool_name: str, kind: str, seconds: float) -> dict[str, Any]:
    """:func:`run_one` in a new interpreter, so no pair inherits another's memory, files or threads."""
    done = subprocess.run(
        [sys.executable, __file__, "--one", tool_name, kind, str(seconds)],
        capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{tool_name} + {kind} failed:\n{done.stderr}")
    return json.loads(done.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def _change(start: float, end: float, form: str) -> str:
    return f"{start:{form}} → {end:{form}}"


def table(rows: list[dict[str, Any]]) -> str:
    """The soak results as a markdown table."""
    lines = [
        "| tool | reporter | calls | RSS MB | open files | threads | µs/call | every record |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        start, end = row["start"], row["end"]
        lines.append(
            f"| {row['tool']} | {row['reporter']} | {row['calls']:,} | {_change(start['rss'], end['rss'], '.1f')} "
            f"| {_change(start['fds'], end['fds'], 'd')} | {_change(start['threads'], end['threads'], 'd')} "
            f"| {_change(row['cost_start'] * 1e6, row['cost_end'] * 1e6, ',.1f')} | {row['accounted']} |"
        )
    return "\n".join(lines)


def main() -> None:
    if sys.argv[1:2] == ["--one"]:
        tool_name, kind, seconds = sys.argv[2], sys.argv[3], float(sys.argv[4])
        print(json.dumps(run_one(tool_name, kind, seconds)))
        return
    quick = "--quick" in sys.argv
    seconds = 0.3 if quick else 10.0
    if "--seconds" in sys.argv:
        seconds = float(sys.argv[sys.argv.index("--seconds") + 1])
    print(environment())
    bare = fresh(BODY)
    started, calls = time.perf_counter(), 0
    while time.perf_counter() - started < 0.2:
        bare()
        calls += 1
    where = "all in this process (a smoke test)" if quick else "each in a fresh process"
    bare_cost = (time.perf_counter() - started) / calls * 1e6
    print(f"{seconds:g} s per pair, {where}; the bare body takes {bare_cost:.1f} µs\n")
    rows = []
    for tool_name in TOOLS:
        for kind in REPORTERS:
            rows.append(run_one(tool_name, kind, seconds) if quick else run_in_fresh_process(tool_name, kind, seconds))
            print(f"  {tool_name} + {kind}: {rows[-1]['calls']:,} calls", file=sys.stderr)
    print(table(rows))


if __name__ == "__main__":
    main()
