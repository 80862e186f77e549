"""memprofile: fidelity of peak/net/RSS, no re-runs, tracemalloc etiquette, line tables, sampler, threads."""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import os
import sys
import threading
import tracemalloc

import psutil
import pytest

from profiletools import reporters
from profiletools.tools.memprofile.api import MemoryRecord, memprofile
from profiletools.tools.memprofile.rss import current_rss, rss_source

MIB = 1 << 20


@pytest.fixture(autouse=True)
def _no_tracing_left():
    assert not tracemalloc.is_tracing()
    yield
    assert not tracemalloc.is_tracing(), "memprofile left tracemalloc running"


def collect():
    return reporters.Collect()


# -- fidelity ------------------------------------------------------------------------------


def test_kept_allocation_reads_peak_and_net_of_50_mib():
    seen = collect()

    @memprofile(reporters=[seen])
    def keep():
        return bytearray(50 * MIB)

    data = keep()
    assert len(data) == 50 * MIB
    (record,) = seen.records
    assert isinstance(record, MemoryRecord)
    assert 50 * MIB <= record.peak <= 52 * MIB
    assert abs(record.net - 50 * MIB) < MIB
    # bytearray zero-fills its buffer, so the pages are resident
    assert record.rss_delta > 45 * MIB
    assert record.rss_after - record.rss_before == record.rss_delta


def test_freed_allocation_reads_peak_50_mib_and_net_zero():
    seen = collect()

    @memprofile(reporters=[seen])
    def churn():
        data = bytearray(50 * MIB)
        del data
        return "done"

    assert churn() == "done"
    (record,) = seen.records
    assert 50 * MIB <= record.peak <= 52 * MIB
    assert abs(record.net) < 64 * 1024


def test_block_form_exposes_the_figures_on_the_handle():
    with memprofile("parse", reporters=[]) as m:
        kept = [bytearray(1024) for _ in range(10_000)]
    assert len(kept) == 10_000
    assert m.record.name == "parse"
    assert 10_000 * 1024 <= m.record.net < 12 * MIB
    assert m.record.peak >= m.record.net


# -- never re-run, never change the program -------------------------------------------------


@pytest.mark.parametrize("options", [
    {}, {"lines": True}, {"top": 3}, {"interval": 0.005},
    {"traced": False}, {"traced": False, "lines": True}, {"traced": False, "interval": 0.005},
])
def test_the_function_runs_exactly_once_per_call(options):
    calls = []

    @memprofile(reporters=[], **options)
    def short(x):
        calls.append(x)
        return x * 2

    assert short(21) == 42
    assert calls == [21]


def test_same_exception_object_and_a_record_saying_so():
    seen = collect()
    boom = ValueError("boom")

    @memprofile(reporters=[seen])
    def fail():
        raise boom

    with pytest.raises(ValueError) as caught:
        fail()
    assert caught.value is boom
    assert seen.records[0].error == "ValueError"
    assert seen.records[0].net is not None


def test_coroutines_and_generators_keep_their_nature():
    import inspect

    seen = collect()

    @memprofile(reporters=[seen])
    async def fetch():
        await asyncio.sleep(0)
        return bytearray(2 * MIB)

    @memprofile(reporters=[seen])
    def numbers():
        yield from range(3)

    assert inspect.iscoroutinefunction(fetch)
    assert inspect.isgeneratorfunction(numbers)
    assert len(asyncio.run(fetch())) == 2 * MIB
    assert list(numbers()) == [0, 1, 2]
    assert [r.qualname.rsplit(".", 1)[-1] for r in seen.records] == ["fetch", "numbers"]
    assert seen.records[0].net >= 2 * MIB


def test_generator_figures_cover_its_span_as_tracemalloc_around_the_loop_does():
    """Issue 13.1: what the consumer does while the generator is suspended counts, as raw tracemalloc reads it.

    (Before, the caller's 40 MiB were left out and its frees too, so a consumer
    dropping what it got made a peak the process never reached.)
    """
    seen = collect()

    @memprofile(reporters=[seen])
    def produce():
        for _ in range(2):
            yield bytearray(MIB)

    def consume(generator):
        held = []
        for item in generator:
            held.append(item)
            held.append(bytearray(20 * MIB))  # the caller's, between steps
        return held

    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        held = consume(produce.__wrapped__())
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del held
    raw_net, raw_peak = current - start, peak - start
    held = consume(produce())
    record = seen.records[0]
    assert 42 * MIB <= raw_net < 43 * MIB
    assert abs(record.net - raw_net) < 64 * 1024
    assert abs(record.peak - raw_peak) < 64 * 1024
    del held


# -- tracemalloc etiquette --------------------------------------------------------------------


def test_existing_tracing_is_reused_and_left_running():
    tracemalloc.start(5)
    try:
        before = bytearray(3 * MIB)
        seen = collect()

        @memprofile(reporters=[seen])
        def work():
            return bytearray(MIB)

        work()
        assert tracemalloc.is_tracing()
        assert tracemalloc.get_traceback_limit() == 5
        # the user's traces survive: stopping would have dropped them
        assert tracemalloc.get_object_traceback(before) is not None
        record = seen.records[0]
        assert record.payload.tracing == "already tracing"
        assert MIB <= record.net < 2 * MIB  # the 3 MiB from before the call are not the call's
    finally:
        tracemalloc.stop()


def test_tracing_started_for_the_call_is_stopped_after_it():
    seen = collect()

    @memprofile(reporters=[seen])
    def work():
        assert tracemalloc.is_tracing()
        return 1

    work()
    assert not tracemalloc.is_tracing()
    assert seen.records[0].payload.tracing == "started"


def test_tracing_stopped_inside_the_call_gives_a_skipped_record_not_a_crash():
    seen = collect()

    @memprofile(reporters=[seen])
    def rude():
        tracemalloc.stop()
        return "ok"

    assert rude() == "ok"
    record = seen.records[0]
    assert record.peak is None and record.net is None
    assert "stopped" in record.skipped
    assert record.rss_before is not None


def test_nested_call_does_not_spoil_the_outer_peak():
    seen = collect()

    @memprofile(name="inner", reporters=[seen])
    def inner():
        temp = bytearray(10 * MIB)
        del temp

    @memprofile(name="outer", reporters=[seen])
    def outer():
        held = bytearray(30 * MIB)
        inner()
        return held

    outer()
    inner_record, outer_record = seen.records
    assert inner_record.name == "inner"
    assert 10 * MIB <= inner_record.peak < 11 * MIB
    # A naive reset_peak in the inner call would leave the outer peak at 30 MiB.
    assert 40 * MIB <= outer_record.peak < 41 * MIB
    assert 30 * MIB <= outer_record.net < 31 * MIB
    assert inner_record.payload.overlapped == 1  # the outer call was running
    assert outer_record.payload.overlapped == 1


def test_concurrent_threads_never_crash_or_mix_records():
    seen = collect()
    barrier = threading.Barrier(4)

    @memprofile(reporters=[seen])
    def work(size):
        barrier.wait()
        data = bytearray(size * MIB)
        barrier.wait()
        return data

    results = {}

    def run(size):
        results[size] = (threading.get_ident(), len(work(size)))

    threads = [threading.Thread(target=run, args=(size,)) for size in (1, 2, 3, 4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen.records) == 4
    assert {record.thread for record in seen.records} == {ident for ident, _ in results.values()}
    for record in seen.records:
        # process scope: all four allocations happen while every call is open
        assert 10 * MIB <= record.peak < 11 * MIB
        assert record.payload.overlapped == 3
        assert record.to_dict()["payload"]["scope"] == "process"


# -- top=N -------------------------------------------------------------------------------------


def test_top_names_the_allocating_line_first():
    seen = collect()

    @memprofile(top=2, reporters=[seen])
    def build():
        small = [str(i) for i in range(100)]
        big = bytearray(8 * MIB)  # the big one
        return small, big

    build()
    record = seen.records[0]
    assert 1 <= len(record.top) <= 2
    first = record.top[0]
    assert first.file == __file__
    assert "the big one" in first.contents
    assert 8 * MIB <= first.size < 9 * MIB
    assert "the big one" in record.text()


def test_top_while_the_user_traces_diffs_against_the_start():
    tracemalloc.start()
    try:
        older = bytearray(5 * MIB)
        seen = collect()

        @memprofile(top=3, reporters=[seen])
        def build():
            return bytearray(2 * MIB)  # during the call

        build()
        sites = seen.records[0].top
        assert sites[0].size >= 2 * MIB and "during the call" in sites[0].contents
        assert all(site.size < 5 * MIB for site in sites)
        assert 2 * MIB <= seen.records[0].net < 2 * MIB + 64 * 1024  # the snapshot is not the call's
        del older
    finally:
        tracemalloc.stop()


# -- lines=True --------------------------------------------------------------------------------


def _line_of(func, text):
    import inspect

    lines, first = inspect.getsourcelines(func)
    return first + next(i for i, line in enumerate(lines) if text in line)


def test_line_table_attributes_50_mib_to_the_right_line():
    seen = collect()

    @memprofile(lines=True, reporters=[seen])
    def build():
        names = [f"item {i}" for i in range(2000)]
        block = bytearray(50 * MIB)
        total = len(names)
        del block
        return total

    assert build() == 2000
    record = seen.records[0]
    rows = record.lines.rows
    big = _line_of(build, "bytearray(50")
    _, increment, peak, occurrences = rows[big]
    assert 50 * MIB <= increment < 50 * MIB + 4096
    assert 50 * MIB <= peak < 50 * MIB + 4096
    assert occurrences == 1
    names_line = _line_of(build, "names = ")
    assert 0 < rows[names_line][1] < MIB  # small allocations, still positive: no RSS noise
    assert rows[_line_of(build, "total = ")][1] < 4096  # allocates next to nothing
    freed = rows[_line_of(build, "del block")][1]
    assert abs(freed + 50 * MIB) < 4096
    for line, (_, increment, _, _) in rows.items():
        if line not in (_line_of(build, "del block"), _line_of(build, "return total")):
            assert increment >= 0, f"line {line} shows {increment}"
    assert 50 * MIB <= record.peak < 51 * MIB
    text = record.text()
    assert "bytearray(50 * MIB)" in text and "+50 MiB" in text and "Line #" in text


def test_a_line_that_only_grows_peaks_at_its_increment_and_one_that_spikes_peaks_above_it():
    """A line's peak is its highest reading above the memory before it: about the increment when memory only
    grew, more when the line held memory it gave back (a spike)."""
    seen = collect()

    @memprofile(lines=True, reporters=[seen])
    def grow_and_spike():
        kept = bytearray(3 * MIB)
        size = len(bytearray(8 * MIB))
        return len(kept) + size

    assert grow_and_spike() == 11 * MIB
    rows = seen.records[0].lines.rows
    _, kept_increment, kept_peak, _ = rows[_line_of(grow_and_spike, "kept = bytearray")]
    assert 3 * MIB <= kept_increment < 3 * MIB + 4096
    assert kept_increment <= kept_peak < kept_increment + 256  # (3.12: a few bytes come and go on the line)
    _, spike_increment, spike_peak, _ = rows[_line_of(grow_and_spike, "size = len(bytearray")]
    assert abs(spike_increment) < 4096
    assert 8 * MIB <= spike_peak < 8 * MIB + 4096


def test_line_table_counts_occurrences_in_a_loop_and_charges_callees_to_the_caller_line():
    seen = collect()

    def helper():
        return bytearray(MIB)

    @memprofile(lines=True, reporters=[seen])
    def loop():
        kept = []
        for _ in range(5):
            kept.append(helper())
        return kept

    loop()
    rows = seen.records[0].lines.rows
    append = _line_of(loop, "kept.append")
    assert rows[append][3] == 5
    assert 5 * MIB <= rows[append][1] < 5 * MIB + 64 * 1024
    assert rows[_line_of(loop, "for _ in")][3] == 6  # five turns and the exit test
    # the helper's own lines are not in the table
    assert all(line in range(_line_of(loop, "def loop"), append + 2) for line in rows)


def test_line_table_in_a_block():
    with memprofile("block", lines=True, reporters=[]) as m:
        grown = bytearray(12 * MIB)
        label = "x"
    table = m.record.lines
    here = sys._getframe().f_code
    assert table.filename == here.co_filename
    row = next(values for line, values in table.rows.items() if "bytearray(12" in table.contents(line))
    assert 12 * MIB <= row[1] < 12 * MIB + 4096
    assert len(grown) == 12 * MIB and label == "x"


def test_recursion_in_line_mode_makes_one_record():
    seen = collect()

    @memprofile(lines=True, reporters=[seen])
    def depth(n):
        if n == 0:
            return 0
        return 1 + depth(n - 1)

    assert depth(5) == 5
    assert len(seen.records) == 1
    assert seen.records[0].lines.rows[_line_of(depth, "if n == 0")][3] == 6


def test_line_mode_threads_keep_separate_tables():
    seen = collect()
    barrier = threading.Barrier(2)

    @memprofile(lines=True, reporters=[seen])
    def work(n):
        barrier.wait()
        total = 0
        for i in range(n):
            total += i
        barrier.wait()
        return total

    threads = [threading.Thread(target=work, args=(n,)) for n in (3, 7)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    loop_line = _line_of(work, "total += i")
    assert sorted(record.lines.rows[loop_line][3] for record in seen.records) == [3, 7]


def test_line_mode_leaves_a_foreign_tracer_alone():
    seen = collect()
    events = []

    def foreign(frame, event, arg):
        events.append(event)
        return None

    @memprofile(lines=True, reporters=[seen])
    def work():
        return bytearray(MIB)

    sys.settrace(foreign)
    try:
        work()
        still = sys.gettrace()
    finally:
        sys.settrace(None)
    assert still is foreign
    record = seen.records[0]
    if hasattr(sys, "monitoring"):
        assert record.lines is not None and record.skipped is None
    else:
        assert record.lines is None and "sys.settrace" in record.skipped
    assert MIB <= record.net < 2 * MIB


def test_line_mode_follows_a_code_object_replaced_after_decoration():
    # line_profiler gives a function a new __code__ when it profiles it (stacked @lineprofile)
    seen = collect()

    def build():
        return bytearray(3 * MIB)

    measured = memprofile(lines=True, reporters=[seen])(build)
    build.__code__ = build.__code__.replace(co_consts=(*build.__code__.co_consts, "marker"))
    assert len(measured()) == 3 * MIB
    rows = seen.records[0].lines.rows
    assert 3 * MIB <= rows[_line_of(build, "bytearray(3")][1] < 3 * MIB + 4096


def test_lines_needs_a_python_function():
    with pytest.raises(TypeError, match="lines=True"):
        memprofile(lines=True)(len)


# -- interval= ---------------------------------------------------------------------------------


def test_sampler_records_a_timeline_and_stops_with_the_call():
    seen = collect()
    threads_before = threading.active_count()

    @memprofile(interval=0.005, reporters=[seen])
    def grow():
        import time

        held = []
        for _ in range(6):
            held.append(bytearray(4 * MIB))
            time.sleep(0.01)
        return held

    grow()
    assert threading.active_count() == threads_before
    samples = seen.records[0].samples
    assert len(samples) >= 4
    assert [s.t for s in samples] == sorted(s.t for s in samples)
    assert samples[0].cpu is None and all(s.cpu is not None and s.cpu >= 0 for s in samples[1:])
    assert all(s.rss > 0 for s in samples)
    assert samples[0].traced is None  # sampling starts before tracing does
    assert samples[-1].traced >= 24 * MIB
    # (under load the sampler may take more than one sample before tracing starts: only a prefix is untraced)
    traced = [s.traced for s in samples if s.traced is not None]
    assert all(s.traced is None for s in samples[: len(samples) - len(traced)])
    assert all(later > earlier - 4096 for earlier, later in itertools.pairwise(traced))  # the list only grows
    data = seen.records[0].to_dict()["payload"]["samples"]
    assert len(data["t"]) == len(samples) and data["interval"] == 0.005


def test_sampler_stops_when_the_call_raises():
    seen = collect()
    threads_before = threading.active_count()

    @memprofile(interval=0.002, reporters=[seen])
    def fail():
        import time

        time.sleep(0.01)
        raise KeyError("x")

    with pytest.raises(KeyError):
        fail()
    assert threading.active_count() == threads_before
    assert not any(t.name == "profiletools-sampler" for t in threading.enumerate())
    assert seen.records[0].error == "KeyError"
    assert len(seen.records[0].samples) >= 2


# -- reporters ---------------------------------------------------------------------------------


def test_stream_shows_one_line_with_peak_net_rss_and_time():
    out = io.StringIO()

    @memprofile(reporters=[reporters.Stream(out)])
    def keep():
        return bytearray(3 * MIB)

    keep()
    text = out.getvalue()
    assert text.count("\n") == 1
    assert "peak 3 MiB" in text and "net +3 MiB" in text and "RSS " in text and "cpu" in text


def test_dump_writes_json_and_the_line_table(tmp_path):
    dump = reporters.Dump(tmp_path)

    @memprofile(lines=True, reporters=[dump])
    def keep():
        return bytearray(2 * MIB)

    keep()
    written = sorted(dump.written)
    assert len(written) == 2
    assert written[0].endswith(".json") and written[1].endswith(".lines.txt")
    data = json.loads(open(written[0]).read())
    assert data["tool"] == "memprofile"
    payload = data["payload"]
    assert payload["scope"] == "process"
    assert 2 * MIB <= payload["net"] < 3 * MIB
    assert payload["rss_delta"] == payload["rss_after"] - payload["rss_before"]
    assert any("bytearray(2 * MIB)" in row["contents"] for row in payload["lines"]["rows"])
    assert "bytearray(2 * MIB)" in open(written[1]).read()


# -- arguments ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error", "word"),
    [
        ({"lines": 1}, TypeError, "lines="),
        ({"top": -1}, ValueError, "top="),
        ({"top": 2.0}, TypeError, "top="),
        ({"interval": 0}, ValueError, "interval="),
        ({"interval": "fast"}, TypeError, "interval="),
        ({"interval": float("nan")}, ValueError, "interval="),
        ({"every": 0}, ValueError, "every="),
        ({"traced": None}, TypeError, "traced="),
        ({"traced": False, "top": 3}, ValueError, "top="),
    ],
)
def test_bad_arguments_fail_at_decoration_naming_the_argument(options, error, word):
    with pytest.raises(error, match=word):
        memprofile(**options)


# -- RSS readers -------------------------------------------------------------------------------


def test_rss_reader_agrees_with_psutil():
    ours = current_rss()
    theirs = psutil.Process().memory_info().rss
    assert abs(ours - theirs) < 4 * MIB
    if sys.platform.startswith("linux"):
        assert rss_source() == "statm"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.filterwarnings("ignore:This process:DeprecationWarning")
def test_rss_reader_follows_a_forked_child():
    current_rss()  # the descriptor is open in the parent
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            before = current_rss()
            block = bytearray(40 * MIB)
            grew = current_rss() - before
            exact = abs(current_rss() - psutil.Process().memory_info().rss) < 4 * MIB
            os.write(write, f"{grew} {exact} {len(block)}".encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    grew, exact, _ = os.read(read, 100).decode().split()
    os.close(read)
    assert int(grew) > 35 * MIB
    assert exact == "True"
