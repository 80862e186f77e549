"""A traced line table charges nothing of profiletools' own to the measured code's lines.

The functions below allocate nothing on any line (each line binds a small
integer, which CPython keeps cached), so every row of their tables must read
zero: no increment, no peak, nothing left after the line. What these tests
caught: the table's slots sharing one ``0.0`` took four new floats at each
line's first run (96 B a line once CPython's free list of floats ran out, past
the first thirty lines or so); and a line number past 256, a new integer that
the line event passes or the trace function reads, counted as the code's.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest

from profiletools import reporters
from profiletools.tools.memprofile.api import memprofile

pytestmark = pytest.mark.skipif(
    sys.version_info < (3, 11),
    reason="3.10 copies a frame's locals into a dict for each call of a Python trace function: the dict grows "
    "as the code binds new names (any sys.settrace tool sees it)",
)

LINES = 80  # long enough to run CPython's free list of floats dry, were the table to take floats per line


def _compiled(name: str, source: str, first_line: int) -> Any:
    """``name`` from ``source`` compiled to start on ``first_line`` of its file."""
    namespace: dict[str, Any] = {}
    exec(compile("\n" * (first_line - 1) + source, f"<{name} at line {first_line}>", "exec"), namespace)
    return namespace[name]


def _nothing_allocated(first_line: int) -> Any:
    body = "".join(f"    x{index} = {index}\n" for index in range(LINES))
    return _compiled("nothing_allocated", f"def nothing_allocated():\n{body}    return x0\n", first_line)


def _nothing_yielded(first_line: int) -> Any:
    body = "".join(f"    x{index} = {index}\n" for index in range(LINES))
    return _compiled("nothing_yielded", f"def nothing_yielded():\n{body}    yield x0\n{body}    yield x1\n", first_line)


def _table(function: Any) -> dict[int, tuple[int, int, int, int]]:
    seen = reporters.Collect()
    measured = memprofile(lines=True, reporters=[seen])(function)
    for _ in range(3):  # the last call: the interpreter's own first-call bookkeeping is made by then
        result = measured()
        if not isinstance(result, int):
            assert list(result) == [0, 1]
    record = seen.records[-1]
    assert record.lines is not None and record.skipped is None, record.skipped
    return record.lines.rows


@pytest.mark.parametrize("first_line", [1, 401], ids=["near the top", "past line 256"])
def test_a_function_that_allocates_nothing_reads_zero_on_every_line(first_line):
    rows = _table(_nothing_allocated(first_line))
    assert len(rows) == LINES + 1
    assert {line: row[:3] for line, row in rows.items() if row[:3] != (0, 0, 0)} == {}


@pytest.mark.skipif(
    sys.version_info < (3, 12),
    reason="3.11: the call's peak reads 48 B higher past line 256 (784 against 832 B), a line event's integer "
    "alive when tracemalloc's peak was last reset; not taken off yet",
)
def test_the_call_peak_of_a_function_that_allocates_nothing_does_not_depend_on_where_it_is():
    """Closing a line made a new integer (its line number, past 256) after the peak's reset: +32 B far down."""
    peaks = []
    for first_line in (1, 401):
        seen = reporters.Collect()
        measured = memprofile(lines=True, reporters=[seen])(_nothing_allocated(first_line))
        for _ in range(3):
            measured()
        peaks.append(seen.records[-1].peak)
    assert peaks[0] == peaks[1]


@pytest.mark.parametrize("first_line", [1, 401], ids=["near the top", "past line 256"])
def test_a_generator_that_allocates_nothing_charges_nothing_to_its_lines(first_line):
    rows = _table(_nothing_yielded(first_line))
    assert len(rows) == 2 * LINES + 2
    # (``after`` may move while the generator is suspended: the consumer's list grows then)
    charged = {line: row[1:3] for line, row in rows.items() if row[1:3] != (0, 0)}
    first_yield = first_line + LINES + 1
    if sys.version_info >= (3, 12) and first_yield in charged:
        # Known: on 3.12 and 3.13 the first ``yield`` of a generator longer than 128 instructions reads one
        # integer's bytes (28 or 32) on its line's peak, made by the interpreter between the line's start and
        # the yield event, beside the yield's offset (which the session takes off).
        increment, peak = charged.pop(first_yield)
        assert increment == 0 and 0 < peak <= 32
    assert charged == {}


def _stdlib_copy(method: Any, first_line: int) -> Any:
    """``method``'s own source compiled to start on ``first_line``, in a copy of its module's globals."""
    import inspect
    import textwrap

    module = sys.modules[method.__module__]
    namespace = dict(vars(module))
    source = textwrap.dedent(inspect.getsource(method))
    exec(compile("\n" * (first_line - 1) + source, module.__file__ or "", "exec"), namespace)
    return namespace[method.__name__]


def _stdlib_rows(method: Any, call: Any) -> tuple[list[Any], list[Any]]:
    """The rows of ``method``'s copies near the top of a file and 1,000 lines down, called in turns (three each)."""
    seen = {first_line: reporters.Collect() for first_line in (1, 1001)}
    measured = {
        first_line: memprofile(lines=True, reporters=[collect])(_stdlib_copy(method, first_line))
        for first_line, collect in seen.items()
    }
    for _ in range(3):
        for copy in measured.values():
            _fill_free_lists()
            call(copy)
    tables = [collect.records[-1].lines for collect in seen.values()]
    assert all(table is not None for table in tables)
    near, far = ([row for _, row in sorted(table.rows.items())] for table in tables)  # type: ignore[union-attr]
    return near, far


def _fill_free_lists() -> None:
    """Give CPython's free lists of small tuples objects to hand out, as any code run before a call may.

    Whether a line's new tuple comes from the free list (no allocation) or from
    the allocator (one that stays, on the free list, after the tuple is gone)
    depends on what ran before: ``find_longest_match``'s return line read
    +136 B or +72 B on 3.11 by that alone (its ``Match`` makes a 3-tuple), both
    true figures. Filled before each call, the copies run in the same state.
    """
    spare = [(index,) * size for index in range(300) for size in (1, 2, 3, 4)]
    del spare


def test_standard_library_code_reads_the_same_wherever_its_lines_are():
    """Long functions of the standard library, their source compiled near the top of a file and 1,000 lines down:
    the same rows (the line numbers' integers, and the table's own floats, count for neither). A peak may read
    up to one integer low far down (it is reset while the line event's integer is alive: docs/memprofile.md)."""
    import difflib
    import textwrap

    wrapper = textwrap.TextWrapper(width=23)
    chunks = wrapper._split_chunks("The quick brown fox jumps over the lazy dog, " * 20)
    matcher = difflib.SequenceMatcher(None, "abcd" * 50 + "xyz" * 30, "bcda" * 40 + "xyz" * 40)
    cases = [
        (textwrap.TextWrapper._wrap_chunks, lambda measured: measured(wrapper, list(chunks))),
        (difflib.SequenceMatcher.find_longest_match, lambda measured: measured(matcher, 0, 290, 0, 280)),
        (textwrap.dedent, lambda measured: measured("    a\n      b\n\n    c\n" * 30)),
    ]
    for method, call in cases:
        near, far = _stdlib_rows(method, call)
        assert len(near) > 10
        # (each line's increments and runs; ``after`` moves by what happens between calls, e.g. a cache filled)
        assert [(row[1], row[3]) for row in near] == [(row[1], row[3]) for row in far], method.__qualname__
        assert all(0 <= near_row[2] - far_row[2] <= 32 for near_row, far_row in zip(near, far)), (near, far)
