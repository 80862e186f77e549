"""memprofile's RSS figures: ``traced=False`` (the kernel's peak), RSS line tables, ``mprof`` timelines.

RSS is about the whole process and the allocator keeps freed memory resident,
so every figure about "what this call made resident" is checked in a fresh
interpreter (``run_python``), where no earlier test's free memory can be
reused. ``bytearray(n)`` and ``ctypes.memset`` touch their pages; ``bytes(n)``
would not (calloc'ed pages are not resident until written).
"""

from __future__ import annotations

import json
import mmap
import os
import re
import shutil
import subprocess
import sys
import threading
import tracemalloc
from pathlib import Path

import pytest

from profiletools import reporters
from profiletools.core import profiler_slot
from profiletools.tools.memprofile.api import memprofile
from profiletools.tools.memprofile.peak import RSS_PEAKS
from tests.conftest import run_python

MIB = 1 << 20
LINUX = sys.platform.startswith("linux")
KERNEL = LINUX and RSS_PEAKS.kernel()
needs_kernel = pytest.mark.skipif(not KERNEL, reason=f"the kernel's resettable peak RSS: {RSS_PEAKS.reason}")


def run_json(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; it prints one JSON object last."""
    done = run_python(code, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_json_via_shell(code: str) -> dict:
    """``run_json``, the interpreter forked by a small shell (its ``ru_maxrss`` starts from the shell's)."""
    done = subprocess.run(["/bin/sh", "-c", '"$0" -c "$1" & wait $!', sys.executable, code], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- traced=False: peak RSS from the kernel -----------------------------------------------------


@needs_kernel
def test_a_call_that_allocates_and_frees_200_mb_reads_its_peak():
    data = run_json("""
import json
from profiletools import memprofile, reporters
seen = reporters.Collect()

@memprofile(traced=False, reporters=[seen])
def spike():
    block = bytearray(200 * 2**20)
    del block
    return 1

spike()
record = seen.records[0]
print(json.dumps({"rss_peak": record.rss_peak, "source": record.rss_peak_source, "peak": record.peak,
                  "net": record.net, "delta": record.rss_delta, "text": record.text(),
                  "payload": record.to_dict()["payload"]}))
""")
    assert data["rss_peak"] >= 190e6
    assert data["rss_peak"] < 220 * MIB
    assert data["source"] == "kernel"
    assert data["peak"] is None and data["net"] is None  # nothing was traced
    assert abs(data["delta"]) < 20 * MIB  # freed: back to about where it started
    assert "peak RSS +200 MiB" in data["text"]
    payload = data["payload"]
    assert payload["traced"] is False and payload["tracemalloc"] == "not used"


@needs_kernel
def test_memory_c_code_takes_with_malloc_shows_in_the_peak_and_not_in_traced_figures():
    data = run_json("""
import ctypes, json
from profiletools import memprofile, reporters
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
seen = reporters.Collect()

def native():
    pointer = libc.malloc(100 * 2**20)
    ctypes.memset(pointer, 1, 100 * 2**20)
    libc.free(pointer)

memprofile(traced=False, reporters=[seen])(native)()
memprofile(reporters=[seen])(native)()
rss, traced = seen.records
print(json.dumps({"rss_peak": rss.rss_peak, "traced_peak": traced.peak}))
""")
    assert data["rss_peak"] >= 95e6
    assert data["traced_peak"] < MIB  # tracemalloc never sees malloc


@needs_kernel
def test_nested_and_overlapping_calls_each_read_their_own_peak():
    data = run_json("""
import json, threading
from profiletools import memprofile, reporters
seen = reporters.Collect()
inner_done, outer_spiked = threading.Event(), threading.Event()

@memprofile("outer", traced=False, reporters=[seen])
def outer():
    block = bytearray(120 * 2**20)
    del block
    outer_spiked.set()
    inner_done.wait(30)   # the other thread's call starts (and resets the mark) while this one runs

@memprofile("inner", traced=False, reporters=[seen])
def inner():
    block = bytearray(30 * 2**20)
    del block

def later():
    outer_spiked.wait(30)   # the inner call starts after the outer one's spike (which is not the inner's)
    inner()
    inner_done.set()

thread = threading.Thread(target=later)
thread.start()
outer()
thread.join()

@memprofile("nested-outer", traced=False, reporters=[seen])
def nested_outer():
    nested_inner()
    block = bytearray(80 * 2**20)
    del block

@memprofile("nested-inner", traced=False, reporters=[seen])
def nested_inner():
    block = bytearray(50 * 2**20)
    del block

nested_outer()
print(json.dumps({r.name: [r.rss_peak, r.rss_peak_source, r.payload.overlapped] for r in seen.records}))
""")
    mib = {name: (peak / MIB, source) for name, (peak, source, _) in data.items()}
    assert 118 <= mib["outer"][0] < 135, mib  # the other call's reset did not erase it
    assert 29 <= mib["inner"][0] < 45, mib
    assert 79 <= mib["nested-outer"][0] < 95, mib
    assert 49 <= mib["nested-inner"][0] < 62, mib
    assert {source for _, source in mib.values()} == {"kernel"}
    assert data["outer"][2] == 1 and data["inner"][2] == 1  # each says another measured call overlapped it


@needs_kernel
def test_a_forked_child_never_resets_the_parents_mark():
    data = run_json("""
import json, os
from profiletools import memprofile, reporters
seen = reporters.Collect()

@memprofile(traced=False, reporters=[])
def child_call():
    return 1

@memprofile(traced=False, reporters=[seen])
def parent_call():
    block = bytearray(80 * 2**20)
    del block
    pid = os.fork()
    if pid == 0:
        child_call()   # its own mark, through descriptors it opened itself
        os._exit(0)
    os.waitpid(pid, 0)

parent_call()
print(json.dumps({"rss_peak": seen.records[0].rss_peak}))
""")
    assert data["rss_peak"] >= 78 * MIB


@pytest.mark.skipif(not LINUX or os.geteuid() != 0, reason="needs root to become an unprivileged user")
def test_without_the_kernel_mark_the_record_says_how_the_peak_was_obtained():
    """A process that is not dumpable and not root cannot reset its mark (daemons that setuid are such).

    Started by a small shell's background job: ``ru_maxrss`` never reads
    below the peak of the process image it was exec'd from, which a child of
    this (large) test process inherits, and a job the shell forks does not.
    """
    data = run_json_via_shell("""
import ctypes, json, os
libc = ctypes.CDLL(None)
from profiletools import memprofile, reporters
libc.prctl(4, 0, 0, 0, 0)     # PR_SET_DUMPABLE 0
os.setgid(65534)
os.setuid(65534)
seen = reporters.Collect()

@memprofile(traced=False, reporters=[seen])
def first_high():
    block = bytearray(150 * 2**20)
    del block

@memprofile(traced=False, reporters=[seen])
def lower():
    block = bytearray(20 * 2**20)
    del block

@memprofile(traced=False, interval=0.002, reporters=[seen])
def held():
    import time
    block = bytearray(30 * 2**20)
    time.sleep(0.05)
    del block

first_high()
lower()
held()
print(json.dumps([[r.name, r.rss_peak, r.rss_peak_source, r.text()] for r in seen.records]))
""")
    (_, high, high_source, _), (_, _low, low_source, low_text), (_, held, held_source, held_text) = data
    assert high_source == "ru_maxrss" and high >= 140 * MIB  # a new lifetime high: exact
    assert low_source == "bound" and "a lower bound" in low_text
    assert held_source == "sampled" and held >= 25 * MIB and "every 0.002 s" in held_text


def test_rss_peak_is_a_declared_figure_for_budgets_summary_and_opentelemetry():
    from profiletools.core import registry

    figure = registry.figure("rss_peak")
    assert figure is not None and figure.unit == "By" and figure.metric == "profiletools.memory.rss_peak"
    assert figure in registry.figures_of("memprofile")

    budget = reporters.Budget()
    summary = reporters.Summary(field="rss_peak")

    @memprofile(traced=False, budget="1KB", reporters=[budget, summary])
    def grow():
        # Pages of its own: a bytearray may reuse memory earlier tests freed and left resident (no RSS rise).
        block = mmap.mmap(-1, 8 * MIB)
        for offset in range(0, 8 * MIB, mmap.PAGESIZE):
            block[offset] = 1
        return block

    # 8 MiB and a few pages, in the budget's units: 8.39 MB, or 8.4 once the pages round up
    with pytest.warns(UserWarning, match=r"rss_peak (8\.[3-9]\d?|9(\.\d\d?)?) MB > budget 1 KB"):
        grow().close()
    assert summary.stats()[grow.__qualname__]["count"] == 1
    (violation,) = budget.violations()
    assert "rss_peak" in violation.detail


def test_a_traced_call_with_a_timeline_also_reads_its_peak_rss():
    seen = reporters.Collect()

    @memprofile(interval=0.005, reporters=[seen])
    def grow():
        return bytearray(16 * MIB)

    grow()
    record = seen.records[0]
    assert record.peak >= 16 * MIB  # traced, as ever
    assert record.rss_peak is not None and record.rss_peak_source in ("kernel", "sampled", "bound", "ru_maxrss")


# -- RSS line tables ----------------------------------------------------------------------------


NATIVE_LINES = """
import ctypes, json
from profiletools import memprofile, reporters
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
seen = reporters.Collect()

def native():
    label = "start"
    pointer = libc.malloc(100 * 2**20); ctypes.memset(pointer, 1, 100 * 2**20)
    python = bytearray(10 * 2**20)
    return pointer, python

memprofile(lines=True, traced=False, reporters=[seen])(native)()
memprofile(lines=True, reporters=[seen])(native)()
rss, traced = seen.records
print(json.dumps({"rss": rss.lines.to_dict(), "traced": traced.lines.to_dict(), "text": rss.text(),
                  "skipped": [rss.skipped, traced.skipped]}))
"""


def _by_text(table: dict) -> dict[str, dict]:
    """Rows by the name a line assigns (``pointer = ...`` -> ``pointer``)."""
    return {row["contents"].strip().split(" =")[0]: row for row in table["rows"]}


def test_a_native_allocation_shows_on_its_line_in_the_rss_table_and_python_bytes_in_the_traced_one(tmp_path: Path):
    script = tmp_path / "native.py"  # a file: the table shows its lines' source
    script.write_text(NATIVE_LINES, encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout.strip().splitlines()[-1])
    assert data["skipped"] == [None, None]
    rss, traced = _by_text(data["rss"]), _by_text(data["traced"])
    assert data["rss"]["basis"] == "rss" and data["traced"]["basis"] == "traced"
    assert rss["pointer"]["increment"] >= 95e6  # malloc + memset: resident, on that line
    assert rss["python"]["increment"] >= 9 * MIB
    assert traced["pointer"]["increment"] < 4096  # tracemalloc does not see malloc
    assert 10 * MIB <= traced["python"]["increment"] < 10 * MIB + 1024  # exact Python bytes
    assert data["rss"]["base"] > 5 * MIB  # the process's RSS at the start, as memory_profiler shows it
    assert "RSS after" in data["text"] and "ctypes.memset" in data["text"]


def test_rss_line_table_keeps_the_records_shape_and_reads_back_from_its_dump(tmp_path: Path):
    from profiletools.core import registry

    dump = reporters.Dump(tmp_path)
    seen = reporters.Collect()

    @memprofile(lines=True, traced=False, reporters=[dump, seen])
    def build():
        block = bytearray(4 * MIB)
        return len(block)

    assert build() == 4 * MIB
    record = seen.records[0]
    assert record.lines.basis == "rss" and record.lines.peaks in ("kernel", "readings")
    rows = record.lines.rows
    assert all(len(row) == 4 for row in rows.values())
    json_file = next(path for path in dump.written if path.endswith(".json"))
    again = registry.record_from_dict(json.loads(Path(json_file).read_text()))
    assert again.lines.rows == rows and again.lines.basis == "rss"
    assert again.text() == record.text()


def test_rss_lines_follow_generators_coroutines_threads_and_nesting():
    import asyncio

    seen = reporters.Collect()

    @memprofile(lines=True, traced=False, reporters=[seen])
    def numbers():
        for number in range(3):  # noqa: UP028 - a loop of lines, followed line by line
            yield number

    @memprofile(lines=True, traced=False, reporters=[seen])
    async def wait():
        await asyncio.sleep(0)
        return 5

    @memprofile(lines=True, traced=False, reporters=[seen])
    def outer():
        total = inner()
        return total + 1

    @memprofile(lines=True, traced=False, reporters=[seen])
    def inner():
        return 1

    assert list(numbers()) == [0, 1, 2]
    assert asyncio.run(wait()) == 5
    assert outer() == 2
    threads = [threading.Thread(target=inner) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    by_name = {}
    for record in seen.records:
        by_name.setdefault(record.name.rsplit(".", 1)[-1], []).append(record)
    loop = next(line for line, row in by_name["numbers"][0].lines.rows.items() if row[3] == 4)  # for: 3 turns + exit
    assert "for number" in by_name["numbers"][0].lines.contents(loop)
    assert len(by_name["inner"]) == 4 and all(r.lines is not None and r.skipped is None for r in by_name["inner"])
    assert [row[3] for row in by_name["outer"][0].lines.rows.values()] == [1, 1]
    assert all(record.lines.basis == "rss" for record in seen.records)


# -- mprof timelines ----------------------------------------------------------------------------


def _mprof() -> str:
    found = shutil.which("mprof", path=os.path.dirname(sys.executable)) or shutil.which("mprof")
    if found is None:
        pytest.skip("memory_profiler's mprof is not installed (the test extra)")
    return found


@needs_kernel
def test_mprof_reads_the_timeline_dump_of_a_call_that_peaks_at_200_mb(tmp_path: Path):
    mprof = _mprof()
    run_json(f"""
import json, time
from profiletools import memprofile, reporters
dump = reporters.Dump({str(tmp_path)!r})

@memprofile(traced=False, interval=0.02, reporters=[dump])
def spike():
    block = bytearray(200 * 2**20)
    del block       # rises and falls between two samples: the kernel's interval peak keeps it
    time.sleep(0.05)

spike()
print(json.dumps(list(dump.written)))
""")
    (dat,) = [path for path in tmp_path.iterdir() if path.suffix == ".dat"]
    peak = subprocess.run([mprof, "peak", str(dat)], capture_output=True, text=True, timeout=60, check=True)
    mib = float(re.search(r"([\d.]+) MiB", peak.stdout).group(1))
    assert mib * MIB >= 190e6, peak.stdout
    text = dat.read_text()
    assert text.startswith("CMDLINE profiletools memprofile ") and "\nFUNC " in text
    png = tmp_path / "plot.png"
    plot = subprocess.run([mprof, "plot", str(dat), "-o", str(png)], capture_output=True, text=True, timeout=120,
                          check=False, env={**os.environ, "MPLBACKEND": "Agg"})
    assert plot.returncode == 0, plot.stderr
    assert png.stat().st_size > 1000


def test_dump_writes_a_dat_file_only_for_records_with_a_timeline(tmp_path: Path):
    dump = reporters.Dump(tmp_path)

    @memprofile(interval=0.005, reporters=[dump])
    def with_timeline():
        return bytearray(MIB)

    @memprofile(reporters=[dump])
    def without():
        return 1

    with_timeline()
    without()
    suffixes = sorted(Path(path).name.split("-")[0] + Path(path).suffix for path in dump.written)
    assert suffixes.count(f"{with_timeline.__qualname__}.dat") == 1 or any(s.endswith(".dat") for s in suffixes)
    assert sum(path.endswith(".dat") for path in dump.written) == 1


# -- profiletools' own allocations and hooks ----------------------------------------------------


@pytest.mark.parametrize("already_tracing", [False, True], ids=["tracing started for the call", "already tracing"])
def test_the_samplers_own_allocations_are_never_allocation_sites(already_tracing):
    """The sampler thread's start and end (``threading.py``) were listed among a quiet call's sites."""
    seen = reporters.Collect()

    @memprofile(top=10, interval=0.001, reporters=[seen])
    def quiet():
        import time

        time.sleep(0.02)
        return 1

    import gc

    enabled = gc.isenabled()
    gc.disable()  # a collection in the call runs other libraries' gc callbacks (hypothesis keeps a float from one)
    if already_tracing:
        tracemalloc.start()
    try:
        for _ in range(5):
            quiet()
    finally:
        if already_tracing:
            tracemalloc.stop()
        if enabled:
            gc.enable()
    assert [record.top for record in seen.records] == [[]] * 5


def test_a_function_that_allocates_nothing_reads_net_and_peak_zero():
    """Issue 13.3: memprofile's own bookkeeping is not in the figures (raw tracemalloc reads 0 here)."""
    import gc

    def nothing():
        return None

    seen = reporters.Collect()
    measured = memprofile(reporters=[seen])(nothing)
    lines = memprofile(lines=True, reporters=[seen])(nothing)
    enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(3):
            measured()
            lines()
    finally:
        if enabled:
            gc.enable()
    last_plain, last_lines = seen.records[-2], seen.records[-1]
    assert (last_plain.net, last_plain.peak) == (0, 0)
    assert abs(last_lines.net) < 64 and last_lines.peak < 256  # lines: the interpreter's event plumbing at most


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="before 3.12 line memory follows lines with sys.settrace")
def test_lineprofile_steps_aside_naming_memprofile_while_it_follows_lines():
    from profiletools import lineprofile
    from profiletools.tools.memprofile import line_events

    seen = reporters.Collect()

    @lineprofile(reporters=[seen])
    def inner():
        return 1

    @memprofile(lines=True, reporters=[seen])
    def outer():
        return inner()

    with pytest.warns(RuntimeWarning, match="memprofile"):
        assert outer() == 1
    line_record = next(record for record in seen.records if record.tool == "lineprofile")
    assert "memprofile" in line_record.skipped
    assert sys.gettrace() is None
    assert "memprofile" in profiler_slot.foreign_trace_reason(line_events.C_TRACE)


def test_nothing_of_memprofile_runs_on_the_lines_of_called_functions():
    """While a function's lines are followed, its callees' lines and calls reach no Python code of ours."""
    seen_events: list[str] = []
    seen = reporters.Collect()

    def callee(n):
        total = 0
        for i in range(n):
            total += i
        return total

    @memprofile(lines=True, reporters=[seen])
    def caller():
        return callee(100)

    import profiletools.tools.memprofile.lines as lines_module

    original = lines_module.TracedLines.on_line

    def spy(self, line):
        seen_events.append(line)
        return original(self, line)

    lines_module.TracedLines.on_line = spy
    try:
        caller()
    finally:
        lines_module.TracedLines.on_line = original
        tracemalloc.stop() if tracemalloc.is_tracing() else None
    code = caller.__wrapped__.__code__
    first, last = code.co_firstlineno, code.co_firstlineno + 2
    assert seen_events and all(first <= line <= last for line in seen_events)


def test_a_generator_closed_early_hands_its_line_events_back():
    seen = reporters.Collect()

    @memprofile(lines=True, reporters=[seen])
    def numbers():
        for number in range(10):  # noqa: UP028 - a loop of lines, followed line by line
            yield number

    generator = numbers()
    assert next(generator) == 0
    generator.close()
    (record,) = seen.records
    assert record.lines is not None
    if sys.version_info >= (3, 12):
        assert sys.monitoring.get_tool(4) is None and sys.monitoring.get_tool(3) is None
    assert sys.gettrace() is None
