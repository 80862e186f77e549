"""``lineprofile``: real line_profiler under the decorator, the block and every call kind.

Hit counts are exact numbers (a loop body runs exactly n times); the records of
different calls and functions never mix; the hook conflicts are staged with
the real things (cProfile, a ``sys.settrace`` tracer, a ``sys.monitoring``
tool) on the running interpreter, whose behaviour differs between 3.11 and 3.12.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import functools
import inspect
import io
import json
import os
import pickle
import pstats
import subprocess
import sys
import threading
import types
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from line_profiler import LineStats

import profiletools
from profiletools import reporters
from profiletools.core import profiler_slot
from profiletools.tools.lineprofile.api import BACKEND, ENGINE, LineRecord, lineprofile
from tests.conftest import run_python

MONITORING = sys.version_info >= (3, 12)


def hits(record: Any, function: Callable[..., Any]) -> dict[str, int]:
    """``{source line (stripped): hits}`` of ``function`` in ``record`` (lines that ran)."""
    real = inspect.unwrap(function)
    lines, first = inspect.getsourcelines(real)
    by_number = record.lines(real)
    return {lines[n - first].strip(): count for n, (count, _seconds) in by_number.items()}


@contextlib.contextmanager
def skip_warning(expected: bool = True) -> Iterator[None]:
    """A skipped call warns once (``settings.warn_once``); a measured one does not."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    ours = [w for w in caught if "not line-profiled" in str(w.message)]
    assert bool(ours) is expected, [str(w.message) for w in caught]
    assert all(issubclass(w.category, RuntimeWarning) for w in ours)


def labels(record: Any) -> set[str]:
    return {name for (_file, _line, name) in record.stats.timings}


def label(function: Callable[..., Any]) -> str:
    """How line_profiler labels ``function``: its qualified name, or its bare name before Python 3.11."""
    code = inspect.unwrap(function).__code__
    return getattr(code, "co_qualname", code.co_name)


def idle() -> bool:
    """Nothing of ours holds an interpreter hook, and line_profiler's thread managers are all off."""
    from line_profiler import LineProfiler

    if profiler_slot.holder("lineprofile") is not None or not ENGINE.idle():
        return False
    if any(manager.active_instances for manager in LineProfiler._managers.values()):
        return False
    if MONITORING:
        return sys.monitoring.get_tool(sys.monitoring.PROFILER_ID) is None
    return sys.gettrace() is None


# -- functions under test (module level: pickling, source lines) ------------------------------

SEEN = reporters.Collect()


@lineprofile(reporters=[SEEN])
def squares(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


def summed_a(values: Any) -> int:
    total = 0
    for value in values:
        total += value
    return total


def summed_b(values: Any) -> int:
    total = 0
    for value in values:
        total += value
    return total


def tokenize(text: str) -> list[str]:
    words = text.split()
    return [word.lower() for word in words]


class Model:
    def __init__(self) -> None:
        self.weight = 2

    def predict(self, words: list[str]) -> int:
        score = 0
        for word in words:
            score += len(word) * self.weight
        return score


# -- the backend ---------------------------------------------------------------------------------


def test_backend_is_the_documented_hook_of_this_python() -> None:
    from line_profiler import _line_profiler as core

    squares(1)
    assert ENGINE.mode == ("trace" if core.USE_LEGACY_TRACE else "monitoring")
    assert ENGINE.mode == ("monitoring" if MONITORING else "trace")
    assert BACKEND.startswith("sys.monitoring" if MONITORING else "trace function")


def test_loop_body_hits_equal_the_iterations_and_each_call_is_its_own() -> None:
    SEEN.clear()
    assert squares(10) == 285
    assert squares(3) == 5
    first, second = SEEN.records
    assert hits(first, squares) == {"total = 0": 1, "for i in range(n):": 11, "total += i * i": 10, "return total": 1}
    assert hits(second, squares) == {"total = 0": 1, "for i in range(n):": 4, "total += i * i": 3, "return total": 1}
    assert first.skipped is None and first.tool == "lineprofile" and first.name == "squares"
    assert isinstance(first.stats, LineStats)
    assert type(pickle.loads(pickle.dumps(first.stats))) is LineStats  # what .lprof files hold
    assert pickle.loads(pickle.dumps(first.stats)) == first.stats
    assert labels(first) == {"squares"}
    assert idle()


def countdown_steps(n: int) -> Iterator[int]:
    while n:
        yield n
        n -= 1


@pytest.mark.parametrize("keep_whole", [0, 10**9], ids=["entries picked out", "readings kept whole"])
def test_a_call_keeps_its_readings_whole_or_its_entries_with_the_same_table(
    monkeypatch: pytest.MonkeyPatch, collect: reporters.Collect, keep_whole: int
) -> None:
    # A call whose readings hold little but its own lines keeps them whole and picks its
    # entries out when the table is read; either way the table is the call's own.
    from profiletools.tools.lineprofile import engine

    monkeypatch.setattr(engine, "KEEP_WHOLE", keep_whole)
    summed = lineprofile(reporters=[collect])(summed_b)
    steps = lineprofile(reporters=[collect])(countdown_steps)
    assert summed(range(4)) == 6
    assert summed(range(2)) == 1
    assert list(steps(3)) == [3, 2, 1]
    first, second, stepped = collect.records
    kept = [part for record in collect.records for part in record.stats.__dict__["_steps"][1]]
    assert len(kept) == 2 + 4 and all(isinstance(part, tuple) is bool(keep_whole) for part in kept)
    assert hits(first, summed_b) == {"total = 0": 1, "for value in values:": 5, "total += value": 4, "return total": 1}
    assert hits(second, summed_b) == {"total = 0": 1, "for value in values:": 3, "total += value": 2, "return total": 1}
    assert hits(stepped, countdown_steps) == {"while n:": 4, "yield n": 3, "n -= 1": 3}
    assert labels(first) == {"summed_b"} and labels(stepped) == {"countdown_steps"}


def test_functions_with_identical_bytecode_keep_separate_tables(collect: reporters.Collect) -> None:
    # line_profiler tells such functions apart by padding their bytecode; with one
    # shared profiler both paddings live in one place and no data is lost.
    a = lineprofile(reporters=[collect])(summed_a)
    b = lineprofile(reporters=[collect])(summed_b)
    a(range(3))
    b(range(5))
    a(range(7))
    ra1, rb, ra2 = collect.records
    assert labels(ra1) == labels(ra2) == {"summed_a"} and labels(rb) == {"summed_b"}
    assert hits(ra1, summed_a)["total += value"] == 3
    assert hits(rb, summed_b)["total += value"] == 5
    assert hits(ra2, summed_a)["total += value"] == 7


def test_nested_decorated_functions_count_each_line_once(collect: reporters.Collect) -> None:
    @lineprofile(reporters=[collect])
    def inner(n: int) -> int:
        acc = 0
        for i in range(n):
            acc += i
        return acc

    @lineprofile(reporters=[collect])
    def outer(n: int) -> int:
        result = 0
        for _ in range(2):
            result += inner(n)
        return result

    assert outer(4) == 12
    first_inner, second_inner, whole = collect.records
    assert [r.name for r in collect.records] == [inner.__qualname__, inner.__qualname__, outer.__qualname__]
    assert hits(first_inner, inner)["acc += i"] == 4 and hits(second_inner, inner)["acc += i"] == 4
    assert labels(whole) == {label(outer)}
    assert hits(whole, outer)["result += inner(n)"] == 2


def test_recursion_makes_one_record_counting_each_execution_once(collect: reporters.Collect) -> None:
    @lineprofile(reporters=[collect])
    def factorial(n: int) -> int:
        if n <= 1:
            return 1
        return n * factorial(n - 1)

    assert factorial(6) == 720
    (record,) = collect.records
    assert hits(record, factorial) == {"if n <= 1:": 6, "return 1": 1, "return n * factorial(n - 1)": 5}


def test_also_times_the_called_functions(collect: reporters.Collect) -> None:
    model = Model()

    @lineprofile(also=[tokenize, Model.predict], reporters=[collect])
    def pipeline(doc: str) -> int:
        return model.predict(tokenize(doc))

    assert pipeline("a bb Ccc") == 12
    (record,) = collect.records
    assert labels(record) == {label(pipeline), "tokenize", label(Model.predict)}
    assert hits(record, Model.predict)["score += len(word) * self.weight"] == 3
    assert hits(record, tokenize)["words = text.split()"] == 1


def test_block_form_names_the_functions_to_time(collect: reporters.Collect) -> None:
    model = Model()
    with lineprofile(tokenize, Model.predict, reporters=[collect]) as lp:
        for doc in ("a b", "c d e"):
            model.predict(tokenize(doc))
    assert lp.record is collect.records[0] and lp.stats is lp.record.stats
    assert lp.record.name.startswith("block at test_lineprofile.py:")
    assert hits(lp.record, Model.predict)["score += len(word) * self.weight"] == 5
    assert hits(lp.record, tokenize)["words = text.split()"] == 2


def test_one_function_is_both_a_decorator_and_a_block(collect: reporters.Collect) -> None:
    # Block: lineprofile(f) around code calling the plain f.
    with lineprofile(summed_a, reporters=[collect]) as lp:
        summed_a(range(4))
        summed_a(range(2))
    assert hits(lp.record, summed_a)["total += value"] == 6
    # Decorator: the same expression as @lineprofile; the decorated object is a block too.
    decorated = lineprofile(summed_b, reporters=[collect])
    assert decorated(range(3)) == 3
    assert hits(collect.records[-1], summed_b)["total += value"] == 3
    with decorated as block:
        summed_b(range(5))
    assert hits(block.record, summed_b)["total += value"] == 5
    assert [r.name for r in collect.records][1] == "summed_b"


def test_disabled_at_import_returns_the_function_and_blocks_still_work() -> None:
    code = """
import sys
from profiletools import lineprofile

def f(n):
    return sum(range(n))

def g():
    return 1

original = f.__code__
assert lineprofile(f) is f
assert lineprofile(also=[g])(f) is f
with lineprofile(f) as lp:
    f(3)
assert lp.record is None
assert f.__code__ is original              # line_profiler never touched the function
assert "line_profiler" not in sys.modules  # nor was it imported
print("ok")
"""
    result = run_python(code, env={"PROFILETOOLS": "0"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_run_time_switches_and_every(collect: reporters.Collect) -> None:
    counted = lineprofile(every=2, reporters=[collect])(summed_a)
    for n in (1, 2, 3, 4, 5):
        counted(range(n))
    assert [hits(r, summed_a)["total += value"] for r in collect.records] == [1, 3, 5]
    collect.clear()
    profiletools.disable()
    squares_off = lineprofile(reporters=[collect])(summed_b)
    squares_off(range(3))
    assert collect.records == []
    profiletools.enable()
    squares_off(range(3))
    assert hits(collect.records[0], summed_b)["total += value"] == 3


# -- stacking ------------------------------------------------------------------------------------


def logged(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def logging_wrapper(*args: Any, **kwargs: Any) -> Any:
        note = "calling"
        del note
        return func(*args, **kwargs)

    return logging_wrapper


def opaque(func: Callable[..., Any]) -> Callable[..., Any]:
    def opaque_wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    return opaque_wrapper


def test_outside_another_decorator_the_real_function_is_timed(collect: reporters.Collect) -> None:
    @lineprofile(reporters=[collect])
    @logged
    def work(n: int) -> int:
        acc = 0
        for i in range(n):
            acc += i
        return acc

    assert work(5) == 10
    (record,) = collect.records
    assert labels(record) == {label(work.__wrapped__.__wrapped__)}  # the user's function, not the wrapper
    assert hits(record, work)["acc += i"] == 5
    assert "logging_wrapper" not in record.text()


def test_outside_a_decorator_without_wraps_the_wrapper_is_timed(collect: reporters.Collect) -> None:
    def work(n: int) -> int:
        return n + 1

    wrapped = lineprofile(reporters=[collect])(opaque(work))
    assert wrapped(1) == 2
    (record,) = collect.records
    # Nothing leads from the wrapper to ``work``: the wrapper's own lines are what is timed.
    assert labels(record) == {label(wrapped)}
    assert hits(record, opaque(work)) == {"return func(*args, **kwargs)": 1}


def test_inside_another_decorator(collect: reporters.Collect) -> None:
    @logged
    @lineprofile(reporters=[collect])
    def work(n: int) -> int:
        return n * 2

    assert work(4) == 8
    assert labels(collect.records[0]) == {label(work.__wrapped__.__wrapped__)}


# -- kinds of callables --------------------------------------------------------------------------


def test_coroutines_count_only_their_own_steps(collect: reporters.Collect) -> None:
    @lineprofile(reporters=[collect])
    async def fetch(n: int) -> int:
        got = 0
        for _ in range(n):
            await asyncio.sleep(0)
            got += 1
        return got

    async def main() -> list[int]:
        return list(await asyncio.gather(fetch(3), fetch(5)))  # interleaved on one thread

    assert inspect.iscoroutinefunction(fetch)
    assert asyncio.run(main()) == [3, 5]
    counts = sorted(hits(r, fetch)["got += 1"] for r in collect.records)
    assert counts == [3, 5]  # the interleaved calls did not leak into each other
    assert all(r.skipped is None for r in collect.records)


def test_generators_and_async_generators(collect: reporters.Collect) -> None:
    @lineprofile(reporters=[collect])
    def countdown(n: int) -> Any:
        while n:
            yield n
            n -= 1

    @lineprofile(reporters=[collect])
    async def ticks(n: int) -> Any:
        for i in range(n):
            yield i

    assert inspect.isgeneratorfunction(countdown) and inspect.isasyncgenfunction(ticks)
    first, second = countdown(2), countdown(3)
    assert [next(first), next(second), next(first), next(second)] == [2, 3, 1, 2]  # interleaved
    assert list(first) == [] and list(second) == [1]
    g2, g3 = collect.records
    assert hits(g2, countdown)["n -= 1"] == 2 and hits(g3, countdown)["n -= 1"] == 3

    async def consume() -> list[int]:
        return [i async for i in ticks(4)]

    assert asyncio.run(consume()) == [0, 1, 2, 3]
    assert hits(collect.records[-1], ticks)["yield i"] == 4


def test_methods_classmethods_staticmethods_and_properties(collect: reporters.Collect) -> None:
    class Shape:
        def __init__(self, side: int) -> None:
            self.side = side

        @lineprofile(reporters=[collect])
        def area(self) -> int:
            return self.side * self.side

        @classmethod
        @lineprofile(reporters=[collect])
        def unit(cls) -> Shape:
            return cls(1)

        @lineprofile(reporters=[collect])
        @classmethod
        def double(cls, side: int) -> Shape:
            return cls(side * 2)

        @staticmethod
        @lineprofile(reporters=[collect])
        def sides() -> int:
            return 4

        @lineprofile(reporters=[collect])
        @staticmethod
        def corners() -> int:
            return 4

        @property
        @lineprofile(reporters=[collect])
        def perimeter(self) -> int:
            return self.side * 4

        @lineprofile(reporters=[collect])
        @property
        def diagonal_squared(self) -> int:
            return 2 * self.side * self.side

    shape = Shape(3)
    results = [shape.area(), Shape.unit().side, Shape.double(2).side, Shape.sides(), shape.corners(),
               shape.perimeter, shape.diagonal_squared]
    assert results == [9, 1, 4, 4, 4, 12, 18]
    names = [r.name for r in collect.records]
    assert [name.rsplit(".", 1)[-1] for name in names] == [
        "area", "unit", "double", "sides", "corners", "perimeter", "diagonal_squared",
    ]
    for record in collect.records:
        assert record.skipped is None
        ((_key, rows),) = record.stats.timings.items()
        assert [row[1] for row in rows] == [1]  # the one body line ran once
    assert list(inspect.signature(Shape.double).parameters) == ["side"]  # bound to the class


def test_behaviour_is_unchanged(collect: reporters.Collect) -> None:
    failure = ValueError("boom")

    @lineprofile(reporters=[collect])
    def explode(flag: bool) -> int:
        before = 1
        if flag:
            raise failure
        return before

    with pytest.raises(ValueError) as caught:
        explode(True)
    assert caught.value is failure
    record = collect.records[0]
    assert record.error == "ValueError" and hits(record, explode)["raise failure"] == 1
    assert explode(False) == 1
    assert inspect.signature(explode) == inspect.signature(explode.__wrapped__)
    assert pickle.loads(pickle.dumps(squares)) is squares
    assert idle()


# -- aggregation ---------------------------------------------------------------------------------


def test_aggregate_reports_on_flush(collect: reporters.Collect) -> None:
    total = lineprofile(aggregate=True, reporters=[collect])(summed_a)
    for n in (2, 3, 4):
        total(range(n))
    assert collect.records == []
    total.flush()
    (record,) = collect.records
    assert hits(record, summed_a)["total += value"] == 9 and hits(record, summed_a)["total = 0"] == 3
    total.flush()  # nothing new: no record
    assert len(collect.records) == 1
    total(range(5))
    profiletools.flush()  # the process-wide flush reaches it too
    assert hits(collect.records[-1], summed_a)["total += value"] == 5
    assert record.wall > 0


def summed_c(values: Any) -> int:
    total = 0
    for value in values:
        total += value
    return total


def test_aggregate_leaves_out_other_probes_calls_between_its_calls(collect: reporters.Collect) -> None:
    # An aggregate's consecutive calls usually start from the reading the call before them ended with, and
    # their counts are added up in one difference; a call of another probe in between must break that run.
    tally = lineprofile(aggregate=True, reporters=[collect])(summed_c)
    other_tally = lineprofile(aggregate=True, reporters=[collect])(summed_c)
    each_call = lineprofile(reporters=[collect])(summed_c)
    tally(range(2))
    each_call(range(10))
    tally(range(3))
    other_tally(range(7))
    summed_c(range(100))  # not measured: line_profiler's counters do not move
    tally(range(4))
    tally(range(5))
    tally.flush()
    other_tally.flush()
    single, aggregate, other = collect.records
    assert hits(single, summed_c)["total += value"] == 10
    assert hits(aggregate, summed_c)["total += value"] == 2 + 3 + 4 + 5
    assert hits(aggregate, summed_c)["total = 0"] == 4
    assert hits(other, summed_c)["total += value"] == 7
    assert all(seconds >= 0 for _hits, seconds in aggregate.lines(summed_c).values())
    assert idle()


def _difflib_copy(tag: str) -> Any:
    """``SequenceMatcher.find_longest_match`` compiled from its own source, as a function of its own."""
    import difflib
    import textwrap

    namespace = dict(vars(difflib))
    source = textwrap.dedent(inspect.getsource(difflib.SequenceMatcher.find_longest_match))
    exec(compile(source, f"<difflib copy {tag}>", "exec"), namespace)
    return namespace["find_longest_match"]


def test_aggregate_rows_are_the_sum_of_the_per_call_rows_on_real_code(collect: reporters.Collect) -> None:
    import difflib

    each_call = reporters.Collect()
    per_call = lineprofile(reporters=[each_call])(_difflib_copy("per call"))
    aggregate = lineprofile(aggregate=True, reporters=[collect])(_difflib_copy("aggregate"))
    words = "the quick brown fox jumps over the lazy dog while the cat sleeps".split()
    pairs = [(" ".join(words[i:]), " ".join(words[: i + 3])) for i in range(len(words))]
    for a, b in pairs:
        matcher = difflib.SequenceMatcher(None, a, b)
        assert per_call(matcher, 0, len(a), 0, len(b)) == aggregate(matcher, 0, len(a), 0, len(b))
    aggregate.flush()
    (record,) = collect.records
    summed: dict[int, int] = {}
    for call in each_call.records:
        for number, (count, _seconds) in call.lines(inspect.unwrap(per_call)).items():
            summed[number] = summed.get(number, 0) + count
    together = {number: count for number, (count, _seconds) in record.lines(inspect.unwrap(aggregate)).items()}
    assert len(each_call.records) == len(pairs) and len(together) > 10
    assert together == summed


def test_aggregate_counts_concurrent_threads_together(collect: reporters.Collect) -> None:
    shared = lineprofile(aggregate=True, reporters=[collect])(summed_b)
    barrier = threading.Barrier(4, timeout=10)

    def worker() -> None:
        barrier.wait()
        for _ in range(3):
            shared(range(50))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    shared.flush()
    (record,) = collect.records
    assert record.skipped is None
    assert hits(record, summed_b)["total += value"] == 4 * 3 * 50
    assert idle()


# -- threads ---------------------------------------------------------------------------------------


def test_overlapping_calls_on_two_threads_never_mix(collect: reporters.Collect) -> None:
    both_inside = threading.Barrier(2, timeout=10)

    @lineprofile(reporters=[collect])
    def work(n: int) -> int:
        acc = 0
        both_inside.wait()
        for i in range(n):
            acc += i
        return acc

    threads = [threading.Thread(target=work, args=(100,)) for _ in range(2)]
    with skip_warning():
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    measured = [r for r in collect.records if r.skipped is None]
    skipped = [r for r in collect.records if r.skipped is not None]
    assert len(collect.records) == 2
    assert all("line_profiler's counters are shared by all threads" in r.skipped for r in skipped)
    # 3.11 (per-thread hook): the first call is exact, the second is not measured.
    # 3.12 (process-wide events): the second call's lines land in the first one's too: both skipped.
    assert len(measured) == (0 if MONITORING else 1)
    for record in measured:
        assert hits(record, work)["acc += i"] == 100
    assert idle()


def test_line_profiling_started_on_one_thread_may_stop_on_another(collect: reporters.Collect) -> None:
    # line_profiler 5.1 on 3.12 raises "tool 2 is not in use" into the caller when the
    # thread that enabled it is not the one disabling last; the engine must not.
    a_entered, b_started, a_left = threading.Event(), threading.Event(), threading.Event()
    errors: list[BaseException] = []

    @lineprofile(reporters=[collect])
    def long_call(n: int) -> int:
        acc = 0
        b_started.set()
        a_left.wait(10)
        for i in range(n):
            acc += i
        return acc

    def thread_a() -> None:
        with lineprofile(tokenize, reporters=[collect]):
            a_entered.set()
            b_started.wait(10)
            tokenize("x y")
        a_left.set()

    def thread_b() -> None:
        a_entered.wait(10)
        try:
            long_call(30)
        except BaseException as exc:  # pragma: no cover - the failure this test looks for
            errors.append(exc)

    threads = [threading.Thread(target=thread_a), threading.Thread(target=thread_b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    block, call = sorted(collect.records, key=lambda r: r.name.startswith("block"), reverse=True)
    assert hits(block, tokenize)["words = text.split()"] == 1
    assert call.skipped is None and hits(call, long_call)["acc += i"] == 30  # counted after the block ended
    assert idle()


# -- coexistence with other users of the interpreter hooks ----------------------------------------


def test_cprofile_running_around_the_call(collect: reporters.Collect) -> None:
    measured = squares_local(collect)
    profile = cProfile.Profile()
    with skip_warning(MONITORING):
        profile.enable()
        try:
            result = measured(20)
        finally:
            profile.disable()
    assert result == sum(i * i for i in range(20))
    (record,) = collect.records
    calls = {func[2]: stat[0] for func, stat in pstats.Stats(profile).stats.items()}  # type: ignore[attr-defined]
    assert calls["squares_body"] == 1  # cProfile's own figures stay right either way
    if MONITORING:
        assert record.stats is None and "PROFILER_ID is held by 'cProfile'" in str(record.skipped)
        assert record.text() == record.headline() and "[not measured: " in record.text()
    else:  # 3.11: different hooks, both measure
        assert record.skipped is None and hits(record, squares_body)["total += i * i"] == 20


def squares_body(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


def squares_local(collect: reporters.Collect) -> Callable[[int], int]:
    return lineprofile(reporters=[collect])(squares_body)  # type: ignore[no-any-return]


def test_profileit_and_lineprofile_overlap_without_raising(collect: reporters.Collect) -> None:
    cpu = pytest.importorskip("profiletools.tools.profileit.api")

    inner = lineprofile(reporters=[collect])(summed_a)

    @cpu.profileit(reporters=[collect])
    def outer() -> int:
        return inner(range(10))

    with skip_warning(MONITORING):
        assert outer() == 45
    line_record = next(r for r in collect.records if r.tool == "lineprofile")
    if MONITORING:
        assert line_record.skipped is not None and "profileit" in line_record.skipped
    else:
        assert line_record.skipped is None and hits(line_record, summed_a)["total += value"] == 10
    collect.clear()

    profiled = cpu.profileit(reporters=[collect])(summed_b)

    @lineprofile(reporters=[collect])
    def outer_lines() -> int:
        return profiled(range(10))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # profileit's own note that it stepped aside (3.12)
        assert outer_lines() == 45
    line_record = next(r for r in collect.records if r.tool == "lineprofile")
    assert line_record.skipped is None and labels(line_record) == {label(outer_lines)}
    assert idle()


def test_a_tracer_installed_before_the_call(collect: reporters.Collect) -> None:
    events: list[str] = []

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        if frame.f_code.co_name == "squares_body":
            events.append(event)
            return tracer
        return None

    measured = squares_local(collect)
    with skip_warning(not MONITORING):
        sys.settrace(tracer)
        try:
            assert measured(5) == 30
        finally:
            sys.settrace(None)
    (record,) = collect.records
    assert "line" in events  # the debugger/coverage stand-in still saw the lines
    if MONITORING:  # sys.settrace and line_profiler's sys.monitoring tool do not compete
        assert record.skipped is None and hits(record, squares_body)["total += i * i"] == 5
    else:
        assert record.stats is None and "sys.settrace" in str(record.skipped) and "tracer" in str(record.skipped)
    assert idle()


def test_a_tracer_installed_during_the_call_stays_installed(collect: reporters.Collect) -> None:
    def tracer(frame: Any, event: str, arg: Any) -> Any:
        return None

    @lineprofile(reporters=[collect])
    def debug_me() -> int:
        value = 1
        sys.settrace(tracer)  # as pdb.set_trace() would
        value += 1
        return value

    with skip_warning(not MONITORING):
        try:
            assert debug_me() == 2
            assert sys.gettrace() is tracer
        finally:
            sys.settrace(None)
    (record,) = collect.records
    if MONITORING:
        assert record.skipped is None and hits(record, debug_me)["value += 1"] == 1
    else:
        assert record.stats is None and "taken over by" in str(record.skipped)
    assert idle()


@pytest.mark.skipif(not MONITORING, reason="sys.monitoring tool ids exist on 3.12+")
def test_another_tool_holding_the_profiler_id(collect: reporters.Collect) -> None:
    monitoring = sys.monitoring
    monitoring.use_tool_id(monitoring.PROFILER_ID, "some debugger")
    try:
        with skip_warning():
            assert squares_local(collect)(4) == 14
        assert monitoring.get_tool(monitoring.PROFILER_ID) == "some debugger"  # untouched
    finally:
        monitoring.free_tool_id(monitoring.PROFILER_ID)
    (record,) = collect.records
    assert record.stats is None and "'some debugger'" in str(record.skipped)
    assert profiler_slot.holder("lineprofile") is None


# -- text, dumps, JSON ------------------------------------------------------------------------------


def test_text_is_line_profilers_table_with_a_unit(collect: reporters.Collect) -> None:
    lineprofile(unit="ms", reporters=[collect])(squares_body)(3)
    record = collect.records[0]
    text = record.text()
    lines = text.splitlines()
    assert lines[0] == record.headline()
    assert lines[1] == "Timer unit: 0.001 s"
    assert "Line #      Hits         Time  Per Hit   % Time  Line Contents" in lines
    assert f"Function: squares_body at line {squares_body.__code__.co_firstlineno}" in lines
    row = next(line for line in lines if line.endswith("total += i * i"))
    number, count, *_ = row.split()
    assert (int(number), int(count)) == (squares_body.__code__.co_firstlineno + 3, 3)
    assert "Timer unit: 1e-09 s" in record.text(unit="ns")
    assert isinstance(record, LineRecord) and record.output_unit == 1e-3


def test_dump_opens_with_python_m_line_profiler(tmp_path: Path) -> None:
    dump = reporters.Dump(tmp_path)
    lineprofile(reporters=[dump])(squares_body)(7)
    (path,) = dump.written
    assert path.endswith(".lprof")
    loaded = LineStats.from_files(path)
    assert any(row[1] == 7 for rows in loaded.timings.values() for row in rows)
    shown = subprocess.run(
        [sys.executable, "-m", "line_profiler", path], capture_output=True, text=True, timeout=60, cwd=tmp_path,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert "Function: squares_body" in shown.stdout
    row = next(line for line in shown.stdout.splitlines() if line.endswith("total += i * i"))
    assert row.split()[1] == "7"


def test_json_payload_lists_lines_in_seconds(tmp_path: Path) -> None:
    sink = reporters.JsonLines(tmp_path / "lines.jsonl")
    lineprofile(reporters=[sink])(squares_body)(4)
    sink.close()
    (data,) = [json.loads(line) for line in (tmp_path / "lines.jsonl").read_text().splitlines()]
    (function,) = data["payload"]["functions"]
    assert function["name"] == "squares_body"
    body = {row[0]: row for row in function["lines"]}[squares_body.__code__.co_firstlineno + 3]
    assert body[1] == 4 and 0 < body[2] < function["total"] <= data["wall"]


def test_stream_prints_the_table() -> None:
    out = io.StringIO()
    lineprofile(reporters=[reporters.Stream(out)])(squares_body)(2)
    assert "total += i * i" in out.getvalue() and out.getvalue().startswith("[profiletools] lineprofile ")


# -- arguments -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda: lineprofile(also=tokenize), TypeError, "also= takes a list"),
        (lambda: lineprofile(also=[len]), TypeError, "also= items must be Python functions"),
        (lambda: lineprofile(len), TypeError, "C functions and builtins"),
        (lambda: lineprofile(Model), TypeError, "a class cannot be decorated"),
        (lambda: lineprofile(unit="minutes"), ValueError, "unit= must be one of"),
        (lambda: lineprofile(aggregate="yes"), TypeError, "aggregate= must be True or False"),
        (lambda: lineprofile(every=0), ValueError, "every="),
        (lambda: lineprofile(tokenize, 3), TypeError, "positional arguments are the functions"),
        (lambda: lineprofile("a", name="b"), TypeError, "name is given twice"),
    ],
)
def test_bad_arguments_fail_at_decoration(call: Callable[[], Any], error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=words):
        call()


def test_a_block_without_functions_says_so(collect: reporters.Collect) -> None:
    with skip_warning(), lineprofile(reporters=[collect]) as lp:
        squares_body(2)
    assert lp.record.stats is None and "no functions to time" in lp.record.skipped


def test_async_with_on_the_decorated_function(collect: reporters.Collect) -> None:
    timed_sum = lineprofile(summed_a, reporters=[collect])

    async def main() -> Any:
        async with timed_sum as block:
            await asyncio.sleep(0)
            summed_a(range(6))
        return block

    block = asyncio.run(main())
    assert hits(block.record, summed_a)["total += value"] == 6


@pytest.mark.skipif(not MONITORING, reason="the choice of core exists on 3.12+")
def test_line_profilers_legacy_core_on_312_is_followed() -> None:
    code = """
import sys
from profiletools import lineprofile, reporters
from profiletools.tools.lineprofile.api import ENGINE
seen = reporters.Collect()

@lineprofile(reporters=[seen])
def f(n):
    t = 0
    for i in range(n):
        t += i
    return t

f(7)
from profiletools.tools.lineprofile.api import BACKEND
assert BACKEND.startswith("trace function"), BACKEND
print(ENGINE.mode, seen.records[0].skipped, sorted(h for h, _ in seen.records[0].lines(f).values()))
sys.settrace(lambda *a: None)
f(2)
sys.settrace(None)
print("sys.settrace" in str(seen.records[1].skipped))
"""
    result = run_python(code, env={"LINE_PROFILER_CORE": "legacy"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["trace None [1, 1, 7, 8]", "True"]


def test_a_forked_child_finishes_its_call() -> None:
    code = """
import os
from profiletools import lineprofile, reporters
seen = reporters.Collect()

@lineprofile(reporters=[seen])
def work(n):
    pid = os.fork()
    total = 0
    for i in range(n):
        total += i
    return pid

pid = work(5)
record = seen.records[-1]
line = [h for h, _ in record.lines(work).values()]
if pid == 0:
    os._exit(0 if record.skipped is None and 5 in line else 3)
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status), record.skipped, 5 in line)
"""
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0 None True"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_call_running_on_another_thread_at_fork_does_not_silence_the_childs_threads() -> None:
    # The thread inside the call is gone in the child; a thread started there usually gets its
    # ident back (the C library reuses its stack), and must not be taken for a nested call of it.
    code = """
import os, threading
from profiletools import lineprofile, reporters
seen = reporters.Collect()
inside, release = threading.Event(), threading.Event()

@lineprofile(reporters=[seen])
def work(wait):
    if wait:
        inside.set()
        release.wait()
    return 1

def in_thread(wait, idents):
    idents.append(threading.get_ident())
    work(wait)

parent = []
waiting = threading.Thread(target=in_thread, args=(True, parent))
waiting.start()
inside.wait()
pid = os.fork()
if pid == 0:
    child = []
    for _ in range(3):
        before = len(seen.records)
        thread = threading.Thread(target=in_thread, args=(False, child))
        thread.start()
        thread.join()
        if len(seen.records) != before + 1 or seen.records[-1].skipped is not None:
            os._exit(3)
    os._exit(0 if parent[0] in child else 4)  # (4: the ident was not reused, nothing was shown)
release.set()
waiting.join()
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status))
"""
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() in {"0", "4"}


# -- lineprofile(f): the decorated f, and a block ------------------------------------------------

STANDS_IN = reporters.Collect()


def stands_in(n: int) -> int:
    """A docstring."""
    total = 0
    for i in range(n):
        total += i
    return total


stands_in = lineprofile(stands_in, reporters=[STANDS_IN])


def test_the_decorated_function_answers_as_the_function() -> None:
    STANDS_IN.clear()
    assert inspect.isfunction(stands_in) and isinstance(stands_in, types.FunctionType)
    assert stands_in.__name__ == "stands_in" and stands_in.__doc__ == "A docstring."
    assert stands_in.__module__ == __name__ and stands_in.__qualname__ == "stands_in"
    assert inspect.signature(stands_in) == inspect.signature(stands_in.__wrapped__)
    assert pickle.loads(pickle.dumps(stands_in)) is stands_in
    stands_in.note = "kept"  # type: ignore[attr-defined]
    assert stands_in.note == "kept"  # type: ignore[attr-defined]
    outer = functools.wraps(stands_in)(lambda *args: stands_in(*args))
    assert outer.__name__ == "stands_in" and outer.note == "kept"
    assert outer(4) == 6 and len(STANDS_IN.records) == 1
    with stands_in as block:
        stands_in.__wrapped__(3)
    assert hits(block.record, stands_in)["total += i"] == 3


def test_kinds_keep_their_inspect_flags_under_lineprofile_of_one_function(collect: reporters.Collect) -> None:
    async def fetch() -> int:
        return 1

    def countdown() -> Iterator[int]:
        yield 1

    async def ticks() -> Any:
        yield 1

    class Shape:
        def area(self) -> int:
            return 4

    assert inspect.iscoroutinefunction(lineprofile(fetch, reporters=[collect]))
    assert inspect.isgeneratorfunction(lineprofile(countdown, reporters=[collect]))
    assert inspect.isasyncgenfunction(lineprofile(ticks, reporters=[collect]))
    Shape.area = lineprofile(Shape.area, reporters=[collect])  # type: ignore[method-assign]
    assert Shape().area() == 4 and inspect.ismethod(Shape().area)
    assert hits(collect.records[-1], Shape.area) == {"return 4": 1}


def test_a_plain_function_never_loads_wrapt() -> None:
    code = """
import sys
from profiletools import lineprofile, reporters
seen = reporters.Collect()

@lineprofile
def f(n):
    return n + 1

f(1)
with f:
    f(2)
with lineprofile(f, reporters=[seen]):
    f(3)
lineprofile(reporters=[seen])(f)(4)
print("wrapt" in sys.modules, len(seen.records))
"""
    result = run_python(code, env={"PROFILETOOLS_REPORTERS": "none"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "2"]


def _grow(self: Any, by: int) -> int:
    return int(self.size) + by


def _area(self: Any) -> int:
    return int(self.size) * 2


def _unit(cls: type) -> int:
    return 1


def _four() -> int:
    return 4


DESCRIPTORS: dict[str, Callable[[], Any]] = {
    "cached_property": lambda: functools.cached_property(_area),
    "property": lambda: property(_area),
    "classmethod": lambda: classmethod(_unit),
    "staticmethod": lambda: staticmethod(_four),
    "partialmethod": lambda: functools.partialmethod(_grow, 1),
}


@pytest.mark.parametrize("kind", list(DESCRIPTORS))
def test_lineprofile_of_one_descriptor_is_that_descriptor_and_a_block(kind: str, collect: reporters.Collect) -> None:
    def use(cls: type) -> Any:
        box = cls()
        first = box.thing if kind in ("cached_property", "property") else box.thing()
        second = box.thing if kind in ("cached_property", "property") else box.thing()
        return first, second

    plain = type("Plain", (), {"size": 3, "thing": DESCRIPTORS[kind]()})
    decorated = lineprofile(vars(plain)["thing"], reporters=[collect])
    assert isinstance(decorated, type(vars(plain)["thing"]))
    with decorated as block:  # a block timing the function of the undecorated descriptor
        expected = use(plain)
    ((_key, rows),) = block.record.stats.timings.items()
    assert [hits for (_line, hits, _time) in rows] == [1 if kind == "cached_property" else 2]
    collect.clear()
    profiled = type("Profiled", (), {"size": 3, "thing": lineprofile(DESCRIPTORS[kind](), reporters=[collect])})
    assert use(profiled) == expected
    assert len(collect.records) == (1 if kind == "cached_property" else 2)  # cached: the getter ran once
    assert all(sum(hits for hits, _seconds in r.lines(r.name).values()) == 1 for r in collect.records)


def test_a_property_copied_by_setter_is_not_a_block_and_says_so(collect: reporters.Collect) -> None:
    class Box:
        size = lineprofile(property(_area), reporters=[collect])

        @size.setter
        def size(self, value: int) -> None:
            pass

    assert isinstance(vars(Box)["size"], property)
    with pytest.raises(TypeError, match="not made by lineprofile"), vars(Box)["size"]:
        pass


def test_applying_the_same_settings_twice_changes_nothing(collect: reporters.Collect) -> None:
    once = lineprofile(reporters=[collect])(summed_a)
    assert lineprofile(reporters=[collect])(once) is once  # another probe, equal settings
    assert lineprofile(once, reporters=[collect]) is not once  # lineprofile(f) adds a block, not a measurement
    assert lineprofile(once, reporters=[collect])(range(3)) == 3
    (record,) = collect.records
    assert hits(record, summed_a)["total += value"] == 3
    single = lineprofile(summed_b, reporters=[collect])
    assert lineprofile(single, reporters=[collect]) is single
    collect.clear()
    other = reporters.Collect()
    twice = lineprofile(reporters=[other])(once)  # other reporters: another profiler, both count
    assert lineprofile(reporters=[collect], name="renamed")(once) is not once
    twice(range(2))
    assert [hits(r, summed_a)["total += value"] for r in (*collect.records, *other.records)] == [2, 2]


@pytest.mark.skipif(MONITORING, reason="sys.monitoring counts only the listed code objects, ours included if listed")
def test_profiletools_own_code_never_runs_under_the_trace_function() -> None:
    # The trace function (3.11) sees every line that runs while it is installed: timing the
    # machinery's own functions shows which of their lines ran under it. None do.
    code = """
from profiletools import lineprofile, reporters
from profiletools.core import machinery
from profiletools.tools.lineprofile import backend
seen = reporters.Collect()

def work(n):
    return n + 1

ours = [machinery.Run.start, machinery.Run.finish, backend.LineBackend.end]
lineprofile(reporters=[seen], also=ours)(work)(1)
timings = seen.records[0].stats.timings.items()
hits = {name.rpartition(".")[2]: sum(row[1] for row in rows) for (_f, _l, name), rows in timings}
print(sorted(hits.items()))
"""
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[('end', 0), ('finish', 0), ('start', 0), ('work', 1)]"
