"""memory_profiler's own tests (pythonprofilers/memory_profiler ``test/``), ported to ``memprofile``.

memory_profiler's ``@profile`` prints a line table per call (memory usage,
increment, occurrences); ``memprofile(lines=True)`` makes the same table from
``tracemalloc`` (``record.lines``: ``to_dict()["rows"]`` with ``after``,
``increment``, ``peak``, ``occurrences`` in bytes). Most of the peer's files
are scripts run under ``python -m memory_profiler`` without assertions; their
expected values are what the lines allocate (a list of n pointers:
``sys.getsizeof``), held to the peer's tolerances: 1 MiB for the big
allocations (``test_increment_display.py``), 105 B (0.0001 MiB) for the
tracemalloc backend (``test_tracemalloc.py``).

One deliberate difference: memory_profiler's "Mem usage" is the process's
memory; ``memprofile``'s ``after`` is the traced memory relative to the start
of the call (so a table says what *this call* holds, and is comparable between
runs). Not ported: ``test_mprof.py`` and ``test_exit_code.py`` (the ``mprof``
command), ``test_memory_usage.py``'s ``max_iterations``/PID-watching cases,
``test_global.py`` (empty).
"""

from __future__ import annotations

import asyncio
import io
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from profiletools import memprofile, reporters

MiB = 1 << 20
#: memory_profiler test_increment_display.py's tolerance (``delta=1`` in MiB).
DELTA = MiB
#: memory_profiler test_tracemalloc.py's tolerance (``EPSILON = 0.0001`` MiB).
EPSILON = 0.0001 * MiB

SMALL_LIST = sys.getsizeof([1] * (10**6))  # 8,000,056 B on 64-bit CPython
BIG_LIST = sys.getsizeof([2] * (2 * 10**7))  # 160,000,056 B


def rows(record: Any) -> dict[str, dict[str, Any]]:
    """The line table of a record, keyed by the line's stripped source (lines that ran)."""
    assert record.skipped is None, record.skipped
    return {row["contents"].strip(): row for row in record.lines.to_dict()["rows"]}


def row(record: Any, start: str) -> dict[str, Any]:
    """The row of the one line whose source starts with ``start``."""
    (found,) = [found for contents, found in rows(record).items() if contents.startswith(start)]
    return found


def measured(function: Callable[..., Any]) -> tuple[Callable[..., Any], reporters.Collect]:
    """``function`` under ``memprofile(lines=True)`` and the reporter that keeps its records."""
    seen = reporters.Collect()
    return memprofile(lines=True, reporters=[seen])(function), seen


# -- test/test_increment_display.py ---------------------------------------------------------------


def test_loop_count() -> None:
    """Port of memory_profiler test/test_increment_display.py::TestIncrementDisplay::test_loop_count."""

    def some_loop() -> None:
        for i in range(12):  # line -2
            a = 1  # noqa: F841

    wrapped, seen = measured(some_loop)
    wrapped()
    assert row(seen.records[0], "for i in range(12)")["occurrences"] == 13
    assert row(seen.records[0], "a = 1")["occurrences"] == 12


def test_normal_incr() -> None:
    """Port of memory_profiler test/test_increment_display.py::TestIncrementDisplay::test_normal_incr.

    The line allocating an 8 MB list shows it as its increment (memory_profiler
    prints 7.6 MiB), and since it is the only line, the memory after it (relative
    to the call's start, the deliberate difference) is that increment.
    """

    def normal_incr() -> None:
        use_some_memory = [1] * (10**6)  # noqa: F841

    wrapped, seen = measured(normal_incr)
    wrapped()
    results = row(seen.records[0], "use_some_memory")
    assert results["increment"] > 0
    assert results["occurrences"] == 1
    assert results["increment"] == pytest.approx(SMALL_LIST, abs=DELTA)
    assert results["after"] == pytest.approx(results["increment"], abs=DELTA)


def test_loop_incr() -> None:
    """Port of memory_profiler test/test_increment_display.py::TestIncrementDisplay::test_loop_incr."""

    def loop_incr() -> None:
        a = []
        b = [2] * (2 * 10**7)  # noqa: F841
        for i in range(3):
            c = [2] * (2 * 10**7)  # line -2
            a.append(c)

    wrapped, seen = measured(loop_incr)
    wrapped()
    b_line = row(seen.records[0], "b = [2]")
    c_line = row(seen.records[0], "c = [2]")
    assert b_line["occurrences"] * 3 == pytest.approx(c_line["occurrences"], abs=1)
    assert c_line["occurrences"] == 3
    assert b_line["increment"] == pytest.approx(BIG_LIST, abs=DELTA)
    assert c_line["increment"] == pytest.approx(3 * BIG_LIST, abs=DELTA)


def test_decr() -> None:
    """Port of memory_profiler test/test_increment_display.py::TestIncrementDisplay::test_decr.

    The peer's ``del_line[1] > 0`` reads the process's memory; relative to the
    call's start (the deliberate difference) the memory after ``del b`` is back
    to about nothing.
    """

    def del_stuff() -> None:
        b = [2] * (2 * 10**7)
        del b

    wrapped, seen = measured(del_stuff)
    wrapped()
    b_line = row(seen.records[0], "b = [2]")
    del_line = row(seen.records[0], "del b")
    assert 0 > del_line["increment"]
    assert -del_line["increment"] == pytest.approx(b_line["increment"], abs=DELTA)
    assert abs(del_line["after"]) < DELTA


# -- test/test_tracemalloc.py -------------------------------------------------------------------------


def mem_prof(n: int) -> None:
    a = bytearray(n)
    del a
    time.sleep(0)  # the peer sleeps 1 s here


@pytest.mark.parametrize(
    ("test_input", "expected"),
    [
        (100, 0.00012302398681640625),
        (1000, 0.0009813308715820312),
        (10000, 0.009564399719238281),
        (100000, 0.09539508819580078),
        (1000000, 0.9537019729614258),
        (10000000, 9.536770820617676),
        (100000000, 95.36745929718018),
    ],
)
def test_memory_profiler(test_input: int, expected: float) -> None:
    """Port of memory_profiler test/test_tracemalloc.py::test_memory_profiler (the tracemalloc backend).

    The increment of ``a = bytearray(n)`` is within 0.0001 MiB of the peer's figure.
    """
    wrapped, seen = measured(mem_prof)
    wrapped(test_input)
    inc = row(seen.records[0], "a = bytearray(n)")["increment"] / MiB
    assert abs(inc - expected) <= EPSILON / MiB, f"inc = {inc}, size = {expected}, err = {abs(inc - expected)}"


# -- test/test_func.py, test/test_loop.py, test/test_loop_decorated.py, test/test_import.py -----------


def test_func_called_twice() -> None:
    """Port of memory_profiler test/test_func.py: one function, called twice, one table per call."""

    def test_1(i: int) -> None:
        # .. will be called twice ..
        c = {}
        for i in range(i):
            c[i] = 2

    wrapped, seen = measured(test_1)
    wrapped(10)
    wrapped(10000)
    small, large = seen.records
    assert [row(small, text)["occurrences"] for text in ("c = {}", "for i in", "c[i] = 2")] == [1, 11, 10]
    assert [row(large, text)["occurrences"] for text in ("c = {}", "for i in", "c[i] = 2")] == [1, 10001, 10000]
    assert row(large, "c[i] = 2")["increment"] > 0  # the dict grew


def loop_2() -> list[int]:
    a = [1] * (10**6)
    b = [2] * (2 * 10**7)
    del b

    for i in range(2):
        a = [1] * (10**6)
        b = [2] * (2 * 10**7)
        del b
    return a


def test_loop() -> None:
    """Port of memory_profiler test/test_loop.py::test_2 (and test/test_loop_decorated.py::test_1: the same
    statements and a ``time.sleep``).

    The same statements outside and inside a loop: each line's occurrences,
    and increments summed over its runs (a loop line allocating 160 MB twice
    shows +320 MB, the ``del`` after it -320 MB).
    """
    wrapped, seen = measured(loop_2)
    assert len(wrapped()) == 10**6
    table = seen.records[0].lines.to_dict()["rows"]
    by_text: dict[str, list[dict[str, Any]]] = {}
    for found in table:
        by_text.setdefault(found["contents"].strip(), []).append(found)
    (first_a, loop_a) = by_text["a = [1] * (10**6)"]
    (first_b, loop_b) = by_text["b = [2] * (2 * 10**7)"]
    (first_del, loop_del) = by_text["del b"]
    assert [first_a["occurrences"], first_b["occurrences"], first_del["occurrences"]] == [1, 1, 1]
    assert by_text["for i in range(2):"][0]["occurrences"] == 3
    assert [loop_a["occurrences"], loop_b["occurrences"], loop_del["occurrences"]] == [2, 2, 2]
    assert first_a["increment"] == pytest.approx(SMALL_LIST, abs=DELTA)
    assert first_b["increment"] == pytest.approx(BIG_LIST, abs=DELTA)
    assert first_del["increment"] == pytest.approx(-BIG_LIST, abs=DELTA)
    assert loop_a["increment"] == pytest.approx(0, abs=DELTA)  # a new list replaces the old one
    assert loop_b["increment"] == pytest.approx(2 * BIG_LIST, abs=DELTA)
    assert loop_del["increment"] == pytest.approx(-2 * BIG_LIST, abs=DELTA)


def test_loop_decorated_dict() -> None:
    """Port of memory_profiler test/test_loop_decorated.py::test_2."""

    def test_2() -> None:
        a = {}
        time.sleep(0)  # the peer sleeps 0.5 s
        for i in range(10000):
            a[i] = i + 1
        time.sleep(0)  # the peer sleeps 0.6 s
        return

    wrapped, seen = measured(test_2)
    wrapped()
    assert row(seen.records[0], "for i in range(10000)")["occurrences"] == 10001
    assert row(seen.records[0], "a[i] = i + 1")["occurrences"] == 10000
    assert row(seen.records[0], "a[i] = i + 1")["increment"] > 0


def test_import() -> None:
    """Port of memory_profiler test/test_import.py::my_func (``from memory_profiler import profile``)."""

    def my_func() -> list[int]:
        a = [1] * (10**6)
        b = [2] * (2 * 10**7)
        del b
        return a

    wrapped, seen = measured(my_func)
    kept = wrapped()
    record = seen.records[0]
    assert row(record, "a = [1]")["increment"] == pytest.approx(SMALL_LIST, abs=DELTA)
    assert row(record, "b = [2]")["increment"] == pytest.approx(BIG_LIST, abs=DELTA)
    assert row(record, "del b")["increment"] == pytest.approx(-BIG_LIST, abs=DELTA)
    assert record.net == pytest.approx(SMALL_LIST, abs=DELTA)  # a is returned and still alive
    assert record.peak == pytest.approx(SMALL_LIST + BIG_LIST, abs=DELTA)
    del kept


# -- test/test_gen.py ------------------------------------------------------------------------------------


def test_generator_in_a_block() -> None:
    """Port of memory_profiler test/test_gen.py's ``with profile: next(my_func())`` (memory_profiler issue #42)."""
    seen = reporters.Collect()

    @memprofile(lines=True, reporters=[seen])
    def my_func() -> Any:
        a = [1] * (10**6)
        b = [2] * (2 * 10**7)
        del b
        yield a

    with memprofile("block", reporters=[seen]) as block:
        next(my_func())
    generator = next(record for record in seen.records if record.name.endswith("my_func"))
    assert row(generator, "a = [1]")["increment"] == pytest.approx(SMALL_LIST, abs=DELTA)
    assert row(generator, "b = [2]")["increment"] == pytest.approx(BIG_LIST, abs=DELTA)
    assert row(generator, "del b")["increment"] == pytest.approx(-BIG_LIST, abs=DELTA)
    assert row(generator, "yield a")["occurrences"] == 1
    assert block.record.peak == pytest.approx(SMALL_LIST + BIG_LIST, abs=DELTA)


def test_generator() -> None:
    """Port of memory_profiler test/test_gen.py::test_generator."""

    def test_generator() -> Any:
        a_gen = ([42] * (1 << 20) for __ in "123")
        huge_lst = list(a_gen)

        b_gen = ([24] * (1 << 20) for __ in "123")
        del b_gen
        del huge_lst

        return a_gen

    wrapped, seen = measured(test_generator)
    wrapped()
    three_lists = 3 * sys.getsizeof([42] * (1 << 20))
    record = seen.records[0]
    assert row(record, "huge_lst = list(a_gen)")["increment"] == pytest.approx(three_lists, abs=DELTA)
    assert row(record, "b_gen = ")["increment"] == pytest.approx(0, abs=DELTA)  # never iterated
    assert row(record, "del b_gen")["increment"] == pytest.approx(0, abs=DELTA)
    assert row(record, "del huge_lst")["increment"] == pytest.approx(-three_lists, abs=DELTA)


def test_comprehension() -> None:
    """Port of memory_profiler test/test_gen.py::test_comprehension.

    Comprehensions and generator expressions (their own code objects before
    3.12) count for the line of the function that runs them; a nested
    function's lines are not rows of the table.
    """

    def test_comprehension() -> Any:
        # Dict comprehension
        d_comp = dict((str(k * k), [v] * (1 << 17)) for (v, k) in enumerate(range(99, 111)))

        # List comprehension
        l_comp = [[i] * (i << 9) for i in range(99)]
        del l_comp
        del d_comp

        def hh(x: int = 1) -> Any:
            # Set comprehension
            s_comp = set(("Z",) * (k << 13) for k in range(x, 19 + 2 * x))
            return s_comp

        val = [range(1, 4), max(1, 4), 42 + len(hh())]
        val = hh() | hh(4)
        val.add(40)
        l1_comp = [[(1, i)] * (i << 9) for i in range(99)]  # noqa: F841
        l2_comp = [[(3, i)] * (i << 9) for i in range(99)]  # noqa: F841

        return val

    wrapped, seen = measured(test_comprehension)
    assert len(wrapped()) == 27  # 'Z'-tuples of 26 lengths, and 40
    record = seen.records[0]
    lists = 12 * sys.getsizeof([0] * (1 << 17))
    assert row(record, "d_comp = dict(")["increment"] == pytest.approx(lists, abs=DELTA)
    made = row(record, "l_comp = [")["increment"]
    assert made == pytest.approx(sum(sys.getsizeof([i] * (i << 9)) for i in range(99)), abs=DELTA)
    assert row(record, "del l_comp")["increment"] == pytest.approx(-made, abs=DELTA)
    assert row(record, "del d_comp")["increment"] == pytest.approx(-lists, abs=DELTA)
    assert not any("s_comp" in contents for contents in rows(record))  # hh's own lines


# -- test/test_nested.py, test/test_as.py, test/test_attributes.py, test/test_mprofile.py ---------------


def test_nested() -> None:
    """Port of memory_profiler test/test_nested.py: a measured function returning a nested one."""

    def test_1() -> Callable[[], list[int]]:
        a = [1] * (10**6)  # noqa: F841
        b = [2] * (2 * 10**7)
        del b

        def test_2() -> list[int]:
            a = [1] * (10**6)
            b = [2] * (2 * 10**7)
            del b

            return a

        return test_2

    wrapped, seen = measured(test_1)
    test_2 = wrapped()
    (record,) = seen.records
    assert row(record, "b = [2]")["occurrences"] == 1  # test_1's line; test_2's did not run
    assert row(record, "b = [2]")["increment"] == pytest.approx(BIG_LIST, abs=DELTA)
    assert len(test_2()) == 10**6
    assert len(seen.records) == 1  # the nested function is not measured


def test_as() -> None:
    """Port of memory_profiler test/test_as.py (``import math`` then a profiled function using it)."""

    def f() -> float:
        o = math.sqrt(2013)
        return o

    wrapped, seen = measured(f)
    assert wrapped() == math.sqrt(2013)
    assert [found["occurrences"] for found in rows(seen.records[0]).values()] == [1, 1]


def test_attributes() -> None:
    """Port of memory_profiler test/test_attributes.py."""

    @memprofile
    def test_with_profile(arg1: Any) -> None:
        """dummy doc"""
        return None

    assert test_with_profile.__doc__ == "dummy doc"
    assert test_with_profile.__name__ == "test_with_profile"


def test_mprofile_keeps_names_and_docstrings() -> None:
    """Port of memory_profiler test/test_mprofile.py: bare and called decorator keep name and docstring."""
    seen = reporters.Collect()

    @memprofile(lines=True, reporters=[seen])
    def test1(n: int) -> list[int]:
        """test1 docstring"""
        a = [1] * n
        return a

    def test3(n: int) -> int:
        """test3 docstring"""
        return n

    assert len(test1(100000)) == 100000
    assert row(seen.records[0], "a = [1] * n")["increment"] == pytest.approx(sys.getsizeof([1] * 100000), abs=DELTA)
    assert test1.__name__ == "test1" and test1.__doc__ == "test1 docstring"
    profile_maker = memprofile()
    profiled_test3 = profile_maker(test3)
    assert profiled_test3.__name__ == "test3" and profiled_test3.__doc__ == "test3 docstring"


# -- test/test_exception.py, test/test_memory_usage.py -------------------------------------------------


def test_exception() -> None:
    """Port of memory_profiler test/test_exception.py: a raising function does not hang the profiler."""
    seen = reporters.Collect()
    failure = NotImplementedError("Error")

    @memprofile(reporters=[seen])
    def foo() -> None:
        raise failure

    with pytest.raises(NotImplementedError) as caught:
        foo()
    assert caught.value is failure
    (record,) = seen.records
    assert record.error == "NotImplementedError" and record.peak is not None


def test_memory_usage() -> None:
    """Port of memory_profiler test/test_memory_usage.py::test_memory_usage: star args and the return value."""

    def some_func(*args: Any, **kwargs: Any) -> Any:
        return args, kwargs

    ret = memprofile(reporters=[])(some_func)(1, 2, a=1)
    assert ret[0] == (1, 2)
    assert ret[1] == dict(a=1)


# -- test/test_unicode.py, test/test_stream_unicode.py, test/test_precision_*.py -------------------------


def test_stream_unicode(tmp_path: Path) -> None:
    """Port of memory_profiler test/test_stream_unicode.py and test/test_unicode.py: non-ASCII source lines."""
    path = tmp_path / "table.txt"
    with path.open("w", encoding="utf-8") as stream:

        @memprofile(lines=True, reporters=[reporters.Stream(stream)])
        def test_unicode(txt: str) -> str:
            # test when unicode is present
            txt = txt.replace("ی", "ي")  # Arabic Yah = ي
            return txt

        assert test_unicode("ایست") == "ايست"
    assert 'txt = txt.replace("ی", "ي")  # Arabic Yah = ي' in path.read_text(encoding="utf-8")


def test_precision() -> None:
    """Port of memory_profiler test/test_precision_import.py and test_precision_command_line.py: the difference.

    memory_profiler rounds its MiB figures to ``precision`` decimals.
    ``memprofile`` has no ``precision``: the rows hold exact byte counts and
    the text shows three significant digits in binary units.
    """
    seen = reporters.Collect()

    @memprofile(lines=True, reporters=[seen])
    def test_2() -> None:
        a = {}
        for i in range(10000):
            a[i] = i + 1
        return

    with pytest.raises(TypeError):
        memprofile(precision=4)  # type: ignore[call-overload]
    test_2()
    record = seen.records[0]
    assert all(isinstance(found["increment"], int) for found in rows(record).values())
    table = record.lines.text()
    assert any(unit in table for unit in ("KiB", "MiB"))


# -- test/test_async.py ------------------------------------------------------------------------------------


def test_async() -> None:
    """Port of memory_profiler test/test_async.py: a measured coroutine run as a task."""
    seen = reporters.Collect()

    @memprofile(lines=True, reporters=[seen])
    async def my_func() -> None:
        a = [1] * (10**6)  # noqa: F841
        b = [2] * (2 * 10**7)
        await asyncio.sleep(1e-2)
        del b

    async def main() -> None:
        task = asyncio.create_task(my_func())
        await asyncio.gather(task)

    asyncio.run(main())
    record = seen.records[0]
    assert row(record, "a = [1]")["increment"] == pytest.approx(SMALL_LIST, abs=DELTA)
    assert row(record, "b = [2]")["increment"] == pytest.approx(BIG_LIST, abs=DELTA)
    assert row(record, "await asyncio.sleep")["occurrences"] == 1
    assert row(record, "del b")["increment"] == pytest.approx(-BIG_LIST, abs=DELTA)


def test_text_is_one_table_per_call() -> None:
    """Port of memory_profiler test/test_tracemalloc.py's ``@profile(stream=output)``: a table per call."""
    out = io.StringIO()

    @memprofile(lines=True, reporters=[reporters.Stream(out, prefix="")])
    def work(n: int) -> int:
        values = list(range(n))
        return len(values)

    assert work(10) == 10 and work(20) == 20
    text = out.getvalue()
    assert text.count("Line #") == 2 and text.count("values = list(range(n))") == 2
