"""The line a trace function reads from an instruction's offset (``line_events.line_table``) is ``frame.f_lineno``.

Line memory on 3.11 (and wherever ``sys.monitoring`` is not available to
profiletools) reads each line event's line as ``line_table(code)[frame.f_lasti]``:
``frame.f_lineno`` would make a new integer past line 256, and ``tracemalloc``
would trace it. These tests hold the two to each other on every line event
of real code: the standard library's, with loops, ``try``, ``with``,
generators and comprehensions.
"""

from __future__ import annotations

import difflib
import functools
import json
import sys
import textwrap
import types
from typing import Any

from profiletools.tools.memprofile.line_events import line_table


def _lines_both_ways(run: Any) -> tuple[list[int], list[Any]]:
    """Every line event of ``run()`` and the functions it calls: ``f_lineno``, and the table's line."""
    by_lineno: list[int] = []
    by_table: list[Any] = []

    def trace(frame: types.FrameType, event: str, arg: Any) -> Any:
        if event == "line":
            by_lineno.append(frame.f_lineno)
            by_table.append(line_table(frame.f_code)[frame.f_lasti])
        return trace

    sys.settrace(trace)
    try:
        run()
    finally:
        sys.settrace(None)
    return by_lineno, by_table


def test_the_table_gives_f_lineno_at_every_line_event_of_standard_library_code():
    document = {"names": [f"n{i}" for i in range(30)], "nested": {"a": [1, 2.5, None, True], "b": "text"}}
    before = [f"line {i}\n" for i in range(60)]
    after = [line.replace("1", "one") for line in before]

    def work() -> None:
        json.loads(json.dumps(document, indent=2, sort_keys=True))
        list(difflib.unified_diff(before, after))  # a generator
        difflib.SequenceMatcher(None, "".join(before), "".join(after)).ratio()
        textwrap.fill("word " * 200, width=37)
        textwrap.dedent("    a\n      b\n    c\n")

    by_lineno, by_table = _lines_both_ways(work)
    assert len(by_lineno) > 2_000  # real code ran, traced
    assert max(by_lineno) > 256  # lines past CPython's cached integers
    assert by_table == by_lineno


def test_the_table_gives_f_lineno_for_a_function_far_down_its_file():
    source = "\n" * 400 + textwrap.dedent("""
        def far(n):
            out = []
            for i in range(n):
                try:
                    out.append([i] * 4)
                except MemoryError:
                    raise
            squares = [x * x for x in range(n)]
            with open(__file__) as handle:
                handle.read(1)
            return len(out) + len(squares)
    """)
    namespace: dict[str, Any] = {"__file__": __file__}
    exec(compile(source, __file__, "exec"), namespace)
    by_lineno, by_table = _lines_both_ways(functools.partial(namespace["far"], 20))  # (no line of ours)
    assert sum(line > 400 for line in by_lineno) > 80  # far's own lines (and those of the functions it calls)
    assert by_table == by_lineno
    table = line_table(namespace["far"].__code__)
    assert line_table(namespace["far"].__code__) is table  # made once per code object
