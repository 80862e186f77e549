"""One failing test per defect of issue 13 that no ported peer test already shows.

Items 2, 4 and 6 fail in the ports (memory_profiler's ``test_normal_incr``
and ``test_async``; line_profiler's ``test_property_decorator``,
``test_double_decoration``, ``test_cached_property_decorator`` and
``test_partialmethod_decorator``). Item 3 fails memory_profiler's
``test_tracemalloc`` on 3.11+, but its tolerance lets it pass at times on 3.10,
so it also has a test here, as does a defect found next to item 9. Each test
here asserts the correct behaviour the issue describes and is marked
``xfail(strict=True)`` until the defect is fixed. The dump converters
are checked against independent readers: pyprof2calltree for callgrind,
pstats' own totals for speedscope.
"""

from __future__ import annotations

import ast
import asyncio
import gc
import json
import linecache
import os
import pstats
import subprocess
import sys
import textwrap
import time
import tokenize
import tracemalloc
import warnings
import weakref
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import profiletools
from profiletools import TimingRecord, lineprofile, memprofile, profileit, reporters, sampleprofile, timed
from tests.callgrind import read_callgrind

MiB = 1 << 20
PACKAGE_DIR = os.path.dirname(os.path.abspath(profiletools.__file__))

# -- item 1: a decorated generator keeps the last yielded item alive ------------------------------


class Item:
    """Something a generator yields, whose lifetime a weak reference shows."""


def items() -> Iterator[Item]:
    for _ in range(3):
        yield Item()


async def async_items() -> AsyncIterator[Item]:
    for _ in range(3):
        yield Item()


TOOLS = [timed, profileit, lineprofile, memprofile, sampleprofile]


def consumer_drops(generator: Iterator[Item]) -> list[bool]:
    """For each item: is it still alive right after the consumer dropped it (the generator suspended)?"""
    alive = []
    for item in generator:
        ref = weakref.ref(item)
        del item
        alive.append(ref() is not None)
    return alive


def test_undecorated_generators_free_each_item_when_the_consumer_drops_it() -> None:
    """The baseline of item 1: plain Python."""
    assert consumer_drops(items()) == [False, False, False]

    async def consume() -> list[bool]:
        alive = []
        async for item in async_items():
            ref = weakref.ref(item)
            del item
            alive.append(ref() is not None)
        return alive

    assert asyncio.run(consume()) == [False, False, False]


@pytest.mark.parametrize("tool", TOOLS, ids=lambda tool: tool.__name__)
def test_decorated_generator_keeps_no_yielded_item_alive(tool: Callable[..., Any]) -> None:
    """Issue 13.1: the consumer's ``del item`` frees the item, as without the decorator."""
    assert consumer_drops(tool(reporters=[])(items)()) == [False, False, False]


@pytest.mark.parametrize("tool", TOOLS, ids=lambda tool: tool.__name__)
def test_decorated_async_generator_keeps_no_yielded_item_alive(tool: Callable[..., Any]) -> None:
    """Issue 13.1, async generators."""
    decorated = tool(reporters=[])(async_items)

    async def consume() -> list[bool]:
        alive = []
        async for item in decorated():
            ref = weakref.ref(item)
            del item
            alive.append(ref() is not None)
        return alive

    assert asyncio.run(consume()) == [False, False, False]


def chunks() -> Iterator[bytearray]:
    for _ in range(20):
        yield bytearray(MiB)


def test_memprofile_of_a_streaming_generator_agrees_with_tracemalloc() -> None:
    """Issue 13.1: 20 chunks of 1 MiB that the consumer drops: peak ~1 MiB and net ~0, as raw tracemalloc reads."""
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        tracemalloc.start()
        try:
            start = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            for chunk in chunks():
                del chunk
            current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        raw_peak, raw_net = peak - start, current - start
        seen = reporters.Collect()
        for chunk in memprofile(reporters=[seen])(chunks)():
            del chunk
    finally:
        if gc_was_enabled:
            gc.enable()
    (record,) = seen.records
    assert raw_peak == pytest.approx(MiB, rel=0.01)
    assert record.peak == pytest.approx(raw_peak, rel=0.01)
    assert abs(record.net - raw_net) < 64 * 1024


# -- item 2: the frees on return charged to the last line ---------------------------------------------


def keep_then_drop() -> None:
    big = bytearray(10 * MiB)  # noqa: F841 - freed when the function returns
    small = bytearray(1024)
    del small


def test_what_a_function_frees_on_return_is_not_charged_to_its_last_line() -> None:
    """Issue 13.2: ``del small`` of a 1 KiB object shows -1 KiB, not -10 MiB (the return frees ``big``)."""
    seen = reporters.Collect()
    gc.collect()
    gc.disable()  # a collection inside the call would free earlier tests' garbage on one of its lines
    try:
        memprofile(lines=True, reporters=[seen])(keep_then_drop)()
    finally:
        gc.enable()
    (record,) = seen.records
    increments = {row["contents"].strip(): row["increment"] for row in record.lines.to_dict()["rows"]}
    assert increments["del small"] == pytest.approx(-1024 - 57, abs=64)  # the object: 1 KiB and its header
    assert increments["big = bytearray(10 * MiB)  # noqa: F841 - freed when the function returns"] >= 10 * MiB
    assert abs(record.net) < 1024  # the return freed it: the call's net says so


# -- item 3: memprofile counts its own bookkeeping ---------------------------------------------------


def allocate_and_free(n: int) -> None:
    a = bytearray(n)
    del a


def test_line_table_counts_what_the_lines_allocate() -> None:
    """Issue 13.3: ``a = bytearray(100)`` adds what raw tracemalloc sees (157 B) and ``del a`` frees it.

    memory_profiler's 105 B tolerance (``test_tracemalloc``) does not always
    catch the bookkeeping on 3.10; this compares with tracemalloc read around
    the same statement, within 40 B (the raw readings' own noise is 32 B).
    """
    tracemalloc.start()
    try:
        sizes = []
        for _ in range(5):
            before = tracemalloc.get_traced_memory()[0]
            a = bytearray(100)
            sizes.append(tracemalloc.get_traced_memory()[0] - before)
            del a
    finally:
        tracemalloc.stop()
    raw = min(sizes)
    seen = reporters.Collect()
    measured = memprofile(lines=True, reporters=[seen])(allocate_and_free)
    for _ in range(3):  # the first call may warm caches up
        measured(100)
    increments = {row["contents"].strip(): row["increment"] for row in seen.records[-1].lines.to_dict()["rows"]}
    assert raw == pytest.approx(157, abs=32)
    assert increments["a = bytearray(n)"] == pytest.approx(raw, abs=40)
    assert increments["del a"] == pytest.approx(-raw, abs=40)


# -- item 5: ``with lineprofile(X)`` for one classmethod, staticmethod or property -------------------


class Shapes:
    def __init__(self) -> None:
        self.side = 3

    @classmethod
    def unit(cls) -> int:
        return 1

    @staticmethod
    def sides() -> int:
        return 4

    @property
    def area(self) -> int:
        return self.side * self.side


@pytest.mark.parametrize(
    ("attribute", "use"),
    [("unit", lambda: Shapes.unit()), ("sides", lambda: Shapes.sides()), ("area", lambda: Shapes().area)],
    ids=["classmethod", "staticmethod", "property"],
)
def test_block_over_one_descriptor(attribute: str, use: Callable[[], int], collect: reporters.Collect) -> None:
    """Issue 13.5: the docs promise a block over a class or static method or a property, alone too."""
    descriptor = vars(Shapes)[attribute]
    with lineprofile(descriptor, reporters=[collect]) as lp:
        use()
    ((_key, rows),) = lp.record.stats.timings.items()
    assert [hits for (_line, hits, _time) in rows] == [1]


# -- item 7: ``convert --to callgrind`` keeps distinct functions distinct -------------------------------


class Walker:
    def __init__(self) -> None:
        self.seen = 0

    def visit(self, node: int) -> int:
        self.seen += 1
        return node + 1


class Printer:
    def __init__(self) -> None:
        self.out: list[str] = []

    def visit(self, node: int) -> int:
        self.out.append(str(node))
        return node * 2


first_lambda = lambda value: value + 1  # noqa: E731
second_lambda = lambda value: value * 2  # noqa: E731


def same_named_functions() -> int:
    return Walker().visit(1) + Printer().visit(2) + first_lambda(3) + second_lambda(4)


def convert(path: str, to: str, out: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "profiletools", "convert", path, "--to", to, "-o", str(out)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr


def test_callgrind_keeps_same_named_functions_apart(tmp_path: Path) -> None:
    """Issue 13.7: as many functions and call edges as pstats has, like pyprof2calltree's file."""
    dump = reporters.Dump(tmp_path)
    assert profileit(reporters=[dump])(same_named_functions)() == 2 + 4 + 4 + 8
    (path,) = dump.written
    stats = pstats.Stats(path)
    raw = stats.stats  # type: ignore[attr-defined]
    pstats_edges = sum(len(callers) for (_cc, _nc, _tt, _ct, callers) in raw.values())
    reference = tmp_path / "reference.callgrind"
    done = subprocess.run(
        [sys.executable, "-m", "pyprof2calltree", "-i", path, "-o", str(reference)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    theirs = read_callgrind(reference.read_text())
    assert (len(theirs[0]), len(theirs[1])) == (len(raw), pstats_edges)  # the reader agrees with pstats
    ours_path = tmp_path / "ours.callgrind"
    convert(path, "callgrind", ours_path)
    ours = read_callgrind(ours_path.read_text())
    assert (len(ours[0]), len(ours[1])) == (len(raw), pstats_edges)


# -- item 8: ``convert --to speedscope`` and recursion -------------------------------------------------


def fib(n: int) -> int:
    return n if n < 2 else fib(n - 1) + fib(n - 2)


#: Recursive code with shared callees: ast.unparse of generated functions.
UNPARSE_SOURCE = "\n".join(
    textwrap.dedent(f'''
        def f{i}(a, b=({i}, [x * 2 for x in range({i})]), *args, **kw):
            if a and not b or (a + {i}) * (b - 1) > 2 ** {i}:
                return {{k: [v, (v, -v)] for k, v in kw.items()}}
            while a < {i}:
                a += lambda y: y if y else (y or {i}, f"{{y!r:>{i}}}")
            return sorted(args, key=lambda t: (t[0], -t[1]))[:{i}]
    ''')
    for i in range(30)
)


def speedscope_against_pstats(function: Callable[[], Any], tmp_path: Path) -> tuple[float, float, dict[Any, Any]]:
    """Profile ``function`` and convert its ``.prof``.

    Returns the weights' sum, pstats' ``total_tt`` and, per function, its
    weight as the leaf of the stacks and its self time in pstats.
    """
    dump = reporters.Dump(tmp_path)
    profileit(reporters=[dump])(function)()
    (path,) = dump.written
    out = tmp_path / "profile.speedscope.json"
    convert(path, "speedscope", out)
    document = json.loads(out.read_text())
    frames = document["shared"]["frames"]
    (profile,) = document["profiles"]
    leaf: dict[tuple[str, int, str], float] = defaultdict(float)
    for sample, weight in zip(profile["samples"], profile["weights"]):
        frame = frames[sample[-1]]
        leaf[(frame.get("file", "~"), frame.get("line", 0), frame["name"])] += weight
    stats = pstats.Stats(path)
    raw = stats.stats  # type: ignore[attr-defined]
    per_function = {key: (leaf.get(key, 0.0), entry[2]) for key, entry in raw.items()}
    return sum(profile["weights"]), stats.total_tt, per_function  # type: ignore[attr-defined]


def test_speedscope_of_simple_recursion_is_exact(tmp_path: Path) -> None:
    """The control of item 8: simple recursion's weights are pstats' self times exactly."""
    total, total_tt, per_function = speedscope_against_pstats(lambda: fib(12), tmp_path)
    assert total == pytest.approx(total_tt, rel=1e-9)
    for key, (weight, tottime) in per_function.items():
        assert weight == pytest.approx(tottime, rel=1e-9, abs=1e-12), key


def test_speedscope_of_mutual_recursion_sums_to_pstats_total(tmp_path: Path) -> None:
    """Issue 13.8: on ast.unparse (recursion through shared callees) weights still sum to total_tt, per function too."""
    tree = ast.parse(UNPARSE_SOURCE)
    total, total_tt, per_function = speedscope_against_pstats(lambda: ast.unparse(tree), tmp_path)
    assert total == pytest.approx(total_tt, rel=1e-6)
    wrong = {key[2]: (weight, tottime) for key, (weight, tottime) in per_function.items()
             if weight != pytest.approx(tottime, rel=1e-6, abs=1e-9)}
    assert wrong == {}


# -- item 9: profiletools' warnings inside the outer profile ----------------------------------------------


def _not_measured_inside_profileit() -> tuple[Callable[[], int], str]:
    """An inner tool that steps aside inside ``profileit`` on this Python: (outer function, inner tool)."""
    if sys.version_info >= (3, 12):  # lineprofile and cProfile share sys.monitoring's PROFILER_ID
        inner = lineprofile(reporters=[])(lambda: sum(range(10)))
        tool = "lineprofile"
    else:  # pyinstrument's sampler and cProfile share the profile hook
        inner = sampleprofile(reporters=[], sampler="pyinstrument")(lambda: sum(range(10)))
        tool = "sampleprofile"
    return inner, tool


_OUTER_PROFILE_SCRIPT = """
import json, sys
from profiletools import lineprofile, profileit, reporters, sampleprofile

tool = lineprofile if sys.version_info >= (3, 12) else sampleprofile
options = {} if sys.version_info >= (3, 12) else {"sampler": "pyinstrument"}
seen = reporters.Collect()

@tool(reporters=[], **options)
def inner():
    return sum(range(10))

@profileit(reporters=[seen])
def outer():
    return inner()

outer()
print(json.dumps(sorted({key[0] for key in seen.records[0].stats.stats})))
"""


def test_a_skip_warning_stays_out_of_the_outer_profile(tmp_path: Path) -> None:
    """Issue 13.9: the outer profile has no frame of warnings, linecache, tokenize or profiletools.

    In a fresh interpreter with Python's default warning display (a line on
    stderr with the source line, which is what reads linecache and tokenize).
    """
    script = tmp_path / "app.py"
    script.write_text(_OUTER_PROFILE_SCRIPT)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "RuntimeWarning" in done.stderr and "is already profiling" in done.stderr
    machinery = {module.__file__ for module in (warnings, linecache, tokenize)}
    files = set(json.loads(done.stdout)) - {"~"}  # "~": built-in functions
    assert files == {str(script)}, sorted(files & machinery) + sorted(files - machinery - {str(script)})


def test_a_skip_warning_points_at_the_users_line() -> None:
    """Issue 13.9: a warning about the user's call names the user's file, not profiletools'."""
    inner, _tool = _not_measured_inside_profileit()

    @profileit(reporters=[])
    def outer() -> int:
        return inner()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outer()
    assert caught, "no warning"
    assert [os.path.abspath(warning.filename) for warning in caught] == [os.path.abspath(__file__)] * len(caught)


def test_an_inner_sampleprofile_stays_out_of_the_outer_profile(collect: reporters.Collect) -> None:
    """Found next to item 9: ``profileit`` saw pyinstrument starting and stopping for an inner call (3.12).

    The timer sampler runs no Python code of the standard library or of
    pyinstrument while it samples (the session is made when it is read).
    """
    def work() -> int:
        end = time.perf_counter() + 0.03  # long enough for ticks of the sampler's clock
        while time.perf_counter() < end:
            pass
        return sum(range(10))

    inner = sampleprofile(reporters=[])(work)

    @profileit(reporters=[collect])
    def outer() -> int:
        return inner()

    assert outer() == 45
    pyinstrument_dir = os.path.dirname(os.path.abspath(__import__("pyinstrument").__file__))
    files = {os.path.abspath(key[0]) for key in collect.records[0].stats.stats if key[0] != "~"}
    assert not any(file.startswith((pyinstrument_dir, PACKAGE_DIR)) for file in files)
    assert not any("pyinstrument" in key[2] for key in collect.records[0].stats.stats)
    assert files == {os.path.abspath(__file__)}  # nor any of the standard library the sampler might call


# -- item 10: a nested ``profileit`` ---------------------------------------------------------------------------


def test_a_nested_profileit_says_what_happened() -> None:
    """Issue 13.10: the inner call's reporter gets a record saying why, or a warning states the rule."""
    inner_seen, outer_seen = reporters.Collect(), reporters.Collect()

    @profileit(reporters=[inner_seen])
    def inner() -> int:
        return sum(range(10))

    @profileit(reporters=[outer_seen])
    def outer() -> int:
        return inner()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert outer() == 45
    assert len(outer_seen.records) == 1
    told_by_record = [record.skipped for record in inner_seen.records if record.skipped]
    told_by_warning = [str(warning.message) for warning in caught if "inner" in str(warning.message)]
    assert told_by_record or told_by_warning


# -- item 11: Summary percentiles of a few values --------------------------------------------------------------


def timing(name: str, wall: float) -> TimingRecord:
    return TimingRecord("timed", name, name, None, 0.0, wall, None, 0, 0, None)


def test_summary_percentiles_of_four_calls() -> None:
    """Issue 13.11: three calls of ~1 µs and one of 1.93 ms put p95 and p99 near 1.93 ms.

    Nearest rank gives 1.93 ms for both; numpy's linear interpolation (the
    definition profiletools uses) 1.64 ms and 1.87 ms.
    """
    summary = reporters.Summary()
    for wall in (1.0e-6, 1.1e-6, 0.9e-6, 1.93e-3):
        summary.report(timing("handler", wall))
    figures = summary.stats()["handler"]
    assert figures["p95"] > 1.5e-3
    assert figures["p99"] > 1.85e-3
    assert figures["p50"] < 2e-6
