"""pyinstrument's own tests (joerick/pyinstrument ``test/``), ported to ``sampleprofile``.

pyinstrument's tests replace the sampler's clock and ``time.sleep`` with a fake
clock (``fake_time``), so that a 0.25 s sleep takes no time and is charged
exactly 0.25 s; the ports do the same (``tests.conformance.support``) and keep
the exact figures. Every port runs with both samplers: profiletools' timer
sampler (the default; on its manual clock, the documented test hook, ticking
where the fake clock moves) and ``sampler="pyinstrument"`` (pyinstrument's own,
reading the fake clock). The record's ``root`` is pyinstrument's call tree
with repeated calls merged; ``session.root_frame()`` is the raw one.

Deliberate differences, asserted below: the text shows times with units
(``1.5 s``, ``500 ms``) where pyinstrument prints ``1.500``; a nested
``sampleprofile`` makes no record (its time is in the outer tree) where a
second ``Profiler.start()`` raises; with ``sampler="pyinstrument"`` a
decorated coroutine shows ``[await]`` under it, not the awaited call (the
timer sampler shows the call, as pyinstrument does).

Not ported (pyinstrument internals or features profiletools does not claim):
``low_level/``, ``test_stack_sampler.py``, ``test_processors.py``,
``test_cmdline*.py``, ``test_ipython_magic.py``, ``test_pstats_renderer.py``,
``test_renderers.py`` (renderer options), ``test_threading.py`` (stopping a
profiler from another thread: there is no ``stop()``), the trio and greenlet
cases of ``test_profiler_async.py``, ``test_state_management`` and
``test_profiler_convenience_methods_have_all_options_available``.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import os
import re
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import profiletools
from profiletools import reporters
from tests.conformance.support import fake_time, fake_time_asyncio


@pytest.fixture(scope="module", params=["timer", "pyinstrument"])
def sampleprofile(request: pytest.FixtureRequest) -> Any:
    """``sampleprofile`` with one of its two samplers."""
    return functools.partial(profiletools.sampleprofile, sampler=request.param)


# -- the peer's utilities ------------------------------------------------------------------------


def long_function_a() -> None:
    time.sleep(0.25)


def long_function_b() -> None:
    time.sleep(0.5)


class ClassWithMethods:
    def long_method(self) -> None:
        time.sleep(0.25)

    @staticmethod
    def long_static_method() -> None:
        time.sleep(0.25)

    @classmethod
    def long_class_method(cls) -> None:
        time.sleep(0.25)


def walk_frames(frame: Any) -> Iterator[Any]:
    yield frame
    for child in frame.children:
        yield from walk_frames(child)


_TREE_LINE = re.compile(r"^\s*[\d.]+%\s+(?P<time>[\d.]+ \S+)  [\s│├└─]*(?P<label>\S+)")


def times_in_text(record: Any, label: str) -> list[str]:
    """The times shown in ``record.text()``'s tree on the lines of the frame named ``label``."""
    found = (_TREE_LINE.match(line) for line in record.text().splitlines()[1:])
    return [match["time"] for match in found if match and match["label"] == label]


def dump_kinds(folder: Path) -> list[str]:
    """The kinds of files ``Dump`` wrote in ``folder``."""
    kinds = (".html", ".pyisession", ".speedscope.json")
    return sorted(kind for name in os.listdir(folder) for kind in kinds if name.endswith(kind))


# -- test/test_profiler.py ---------------------------------------------------------------------------


def test_collapses_multiple_calls_by_default(collect: reporters.Collect, sampleprofile: Any) -> None:
    """Port of pyinstrument test/test_profiler.py::test_collapses_multiple_calls_by_default."""

    @sampleprofile(reporters=[collect])
    def collapses() -> None:
        long_function_a()
        long_function_b()
        long_function_a()
        long_function_b()

    with fake_time():
        collapses()
    record = collect.records[0]
    assert record.root.time == pytest.approx(1.5)
    children = {child.function: child.time for child in record.root.children}
    assert children == {"long_function_a": pytest.approx(0.5), "long_function_b": pytest.approx(1.0)}
    # pyinstrument prints "1.500 <root>", "0.500 long_function_a", "1.000 long_function_b", once each
    assert times_in_text(record, "collapses") == ["1.5 s"]
    assert times_in_text(record, "long_function_a") == ["500 ms"]
    assert times_in_text(record, "long_function_b") == ["1 s"]


def test_profiler_retains_multiple_calls(collect: reporters.Collect, sampleprofile: Any) -> None:
    """Port of pyinstrument test/test_profiler.py::test_profiler_retains_multiple_calls."""

    @sampleprofile(reporters=[collect])
    def retains() -> None:
        long_function_a()
        long_function_b()
        long_function_a()
        long_function_b()

    with fake_time():
        retains()
    frame = collect.records[0].session.root_frame()
    assert frame.function == "retains"
    assert len(frame.children) == 4


def test_two_functions(collect: reporters.Collect, sampleprofile: Any) -> None:
    """Port of pyinstrument test/test_profiler.py::test_two_functions."""

    @sampleprofile(reporters=[collect])
    def two_functions() -> None:
        long_function_a()
        long_function_b()

    with fake_time():
        two_functions()
    frame = collect.records[0].root
    assert frame.function == "two_functions"
    assert len(frame.children) == 2
    frame_b, frame_a = sorted(frame.children, key=lambda f: f.time, reverse=True)
    assert frame_a.function == "long_function_a"
    assert frame_b.function == "long_function_b"
    assert frame_a.time == pytest.approx(0.25, abs=0.1)
    assert frame_b.time == pytest.approx(0.5, abs=0.2)


def test_class_methods(collect: reporters.Collect, sampleprofile: Any) -> None:
    """Port of pyinstrument test/test_profiler.py::test_class_methods."""

    @sampleprofile(reporters=[collect])
    def class_methods() -> None:
        obj = ClassWithMethods()
        obj.long_method()
        obj.long_class_method()
        obj.long_static_method()
        functools.partial(obj.long_method)()

    with fake_time():
        class_methods()
    record = collect.records[0]
    assert times_in_text(record, "ClassWithMethods.long_method") == ["500 ms"]
    assert times_in_text(record, "ClassWithMethods.long_class_method") == [
        "250 ms"
    ]
    assert times_in_text(record, "long_static_method") == ["250 ms"]


def test_context_manager(collect: reporters.Collect, sampleprofile: Any) -> None:
    """Port of pyinstrument test/test_profiler.py::test_context_manager: the tree starts at the block's function."""
    with fake_time(), sampleprofile(reporters=[collect]) as profiler:
        long_function_a()
        long_function_b()
    frame = profiler.record.root
    assert frame.function == "test_context_manager"
    assert len(frame.children) == 2


def test_json_output(collect: reporters.Collect, sampleprofile: Any) -> None:
    """Port of pyinstrument test/test_profiler.py::test_json_output (the record's JSON)."""

    @sampleprofile(reporters=[collect])
    def json_output() -> None:
        long_function_a()
        long_function_b()

    with fake_time():
        json_output()
    output = json.loads(json.dumps(collect.records[0].to_dict()))
    root_frame = output["payload"]["tree"]
    assert root_frame["function"] == "json_output"
    assert len(root_frame["children"]) == 2


def test_speedscope_output(tmp_path: Path, sampleprofile: Any) -> None:
    """Port of pyinstrument test/test_profiler.py::test_speedscope_output (the file ``Dump`` writes)."""

    @sampleprofile(reporters=[reporters.Dump(tmp_path)])
    def speedscope_output() -> None:
        long_function_a()
        long_function_b()

    with fake_time():
        speedscope_output()
    (name,) = [name for name in os.listdir(tmp_path) if name.endswith(".speedscope.json")]
    output = json.loads((tmp_path / name).read_text())
    for field in ("$schema", "name", "exporter", "activeProfileIndex", "profiles", "shared"):
        assert field in output
    assert output["$schema"] == "https://www.speedscope.app/file-format-schema.json"
    assert "pyinstrument" in output["exporter"]
    assert output["activeProfileIndex"] is None
    assert "CPU profile" in output["name"]
    distinct_functions_called = {"speedscope_output": 0, "long_function_a": 1, "sleep": 2, "long_function_b": 3}
    frames = output["shared"]["frames"]
    assert [frame["name"] for frame in frames] == list(distinct_functions_called)
    for frame in frames:
        assert {"name", "file", "line"} <= set(frame)
    (profile,) = output["profiles"]
    for field in ("type", "name", "unit", "startValue", "endValue", "events"):
        assert field in profile
    assert profile["type"] == "evented"
    assert profile["unit"] == "seconds"
    assert profile["startValue"] == 0.0
    index = distinct_functions_called
    expected = [
        ("O", 0.0, index["speedscope_output"]),
        ("O", 0.0, index["long_function_a"]),
        ("O", 0.0, index["sleep"]),
        ("C", 0.25, index["sleep"]),
        ("C", 0.25, index["long_function_a"]),
        ("O", 0.25, index["long_function_b"]),
        ("O", 0.25, index["sleep"]),
        ("C", 0.75, index["sleep"]),
        ("C", 0.75, index["long_function_b"]),
        ("C", 0.75, index["speedscope_output"]),
    ]
    events = profile["events"]
    assert len(events) == len(expected)
    for event, (kind, at, frame) in zip(events, expected):
        assert set(event) >= {"type", "at", "frame"}
        assert (event["type"], event["frame"]) == (kind, frame)
        assert event["at"] == pytest.approx(at)


def test_empty_profile(tmp_path: Path, sampleprofile: Any) -> None:
    """Port of pyinstrument test/test_profiler.py::test_empty_profile (and test_renderers.py's)."""
    seen = reporters.Collect()
    with sampleprofile(reporters=[seen, reporters.Dump(tmp_path)]):
        pass
    (record,) = seen.records
    assert record.text().startswith("sampleprofile ")
    json.dumps(record.to_dict())
    assert dump_kinds(tmp_path) == [".html", ".pyisession", ".speedscope.json"]


def test_profiler_raises_on_double_subscribe(collect: reporters.Collect, sampleprofile: Any) -> None:
    """Port of pyinstrument test/test_profiler.py::test_profiler_raises_on_double_subscribe: the difference.

    A second ``Profiler.start()`` raises. A ``sampleprofile`` starting inside
    another one on the same thread runs unmeasured and makes no record: its
    time is in the outer tree.
    """
    inner = sampleprofile(reporters=[collect])(long_function_a)
    with fake_time(), sampleprofile("outer", reporters=[collect]) as outer:
        inner()
    assert [record.name for record in collect.records] == ["outer"]
    assert {child.function: child.time for child in outer.record.root.children} == {"long_function_a": 0.25}


# -- test/test_context_manager.py --------------------------------------------------------------------


def test_profile_context_decorator(capfd: pytest.CaptureFixture[str], sampleprofile: Any) -> None:
    """Port of pyinstrument test/test_context_manager.py::test_profile_context_decorator (text on stderr)."""
    with fake_time() as clock:

        @sampleprofile
        def my_function() -> None:
            clock.sleep(1.0)

        my_function()
    _out, err = capfd.readouterr()
    assert err.startswith("[profiletools] sampleprofile test_profile_context_decorator.<locals>.my_function: ")
    assert "1 s  my_function" in err


def test_profile_context_manager(capfd: pytest.CaptureFixture[str], sampleprofile: Any) -> None:
    """Port of pyinstrument test/test_context_manager.py::test_profile_context_manager ("block at FILE:LINE")."""
    with fake_time() as clock, sampleprofile():

        def my_function() -> None:
            clock.sleep(1.0)

        my_function()
    _out, err = capfd.readouterr()
    assert err.startswith("[profiletools] sampleprofile block at test_pyinstrument.py:")
    assert "1 s  └─ my_function" in err


# -- test/test_profiler_async.py ---------------------------------------------------------------------


def test_sleep(collect: reporters.Collect, sampleprofile: Any) -> None:
    """Port of pyinstrument test/test_profiler_async.py::test_sleep, as a block inside the coroutine."""

    async def main() -> None:
        with fake_time_asyncio(asyncio.get_running_loop()):
            async with sampleprofile(reporters=[collect]):
                await asyncio.sleep(0.2)

    asyncio.run(main())
    root_frame = collect.records[0].root
    assert root_frame.time == pytest.approx(0.2, rel=0.1)
    assert root_frame.await_time() == pytest.approx(0.2, rel=0.1)
    sleep_frame = next(f for f in walk_frames(root_frame) if f.function == "sleep")
    assert sleep_frame.time == pytest.approx(0.2, rel=0.1)


def test_sleep_in_a_decorated_coroutine(collect: reporters.Collect, sampleprofile: Any) -> None:
    """Port of pyinstrument test/test_profiler_async.py::test_sleep, decorated.

    The figures are the peer's. The timer sampler shows where the coroutine
    waited (``sleep``, then ``[await]``) as pyinstrument does; with
    ``sampler="pyinstrument"`` the tree shows that it awaited (``[await]``),
    not the ``sleep`` it awaited in (the deliberate difference).
    """

    @sampleprofile(reporters=[collect])
    async def sleeper() -> None:
        await asyncio.sleep(0.2)

    async def main() -> None:
        with fake_time_asyncio(asyncio.get_running_loop()):
            await sleeper()

    asyncio.run(main())
    root_frame = collect.records[0].root
    assert root_frame.time == pytest.approx(0.2, rel=0.1)
    assert root_frame.await_time() == pytest.approx(0.2, rel=0.1)
    if sampleprofile.keywords["sampler"] == "timer":
        sleep_frame = next(f for f in walk_frames(root_frame) if f.function == "sleep")
        assert sleep_frame.time == pytest.approx(0.2, rel=0.1)
        assert [child.function for child in sleep_frame.children] == ["[await]"]
    else:
        assert [child.function for child in root_frame.children] == ["[await]"]


async def async_wait(sync_time: float, async_time: float) -> None:
    # an async function that has both sync work and async work
    time.sleep(sync_time / 2)
    await asyncio.sleep(async_time)
    time.sleep(sync_time / 2)


async def async_wait_profiled(
    sync_time: float, async_time: float, collect: reporters.Collect, sampleprofile: Any
) -> None:
    # the peer's variant: the profiler starts inside the coroutine
    async with sampleprofile(reporters=[collect]):
        time.sleep(sync_time / 2)
        await asyncio.sleep(async_time)
        time.sleep(sync_time / 2)


@pytest.mark.parametrize("form", ["decorated", "block"])
def test_profiler_task_isolation(form: str, collect: reporters.Collect, sampleprofile: Any) -> None:
    """Port of pyinstrument test/test_profiler_async.py::test_profiler_task_isolation (asyncio).

    The profiled task's tree holds its own 0.1 s of work and its 0.5 s await,
    none of the two other tasks' work.
    """
    if form == "decorated":
        profiled = sampleprofile(reporters=[collect])(async_wait)(sync_time=0.1, async_time=0.5)
    else:
        profiled = async_wait_profiled(sync_time=0.1, async_time=0.5, collect=collect, sampleprofile=sampleprofile)
    loop = asyncio.new_event_loop()
    try:
        with fake_time_asyncio(loop):
            profile_task = loop.create_task(profiled)
            others = [loop.create_task(async_wait(sync_time=0.1, async_time=0.3)) for _ in range(2)]
            loop.run_until_complete(profile_task)
            loop.run_until_complete(asyncio.gather(*others))
    finally:
        loop.close()
    root_frame = collect.records[0].root
    fake_work_frame = next(f for f in walk_frames(root_frame) if f.function.startswith("async_wait"))
    assert fake_work_frame.time == pytest.approx(0.1 + 0.5, rel=0.1)
    await_frames = [f for f in walk_frames(root_frame) if f.function == "[await]"]
    assert sum(f.await_time() for f in await_frames) == pytest.approx(0.5, rel=0.1)
    assert sum(f.time for f in await_frames) == pytest.approx(0.5, rel=0.1)


# -- test/test_overflow.py ---------------------------------------------------------------------------


def recurse(depth: int) -> None:
    if depth <= 0:
        time.sleep(0.1)
        return
    recurse(depth - 1)


def current_stack_depth() -> int:
    depth = 0
    frame = inspect.currentframe()
    while frame:
        frame = frame.f_back
        depth += 1
    return depth


@pytest.fixture(scope="module")
def deep_record(tmp_path_factory: pytest.TempPathFactory, sampleprofile: Any) -> tuple[Any, Path, list[str]]:
    """A sampled call recursing as deep as the recursion limit allows, leaving pyinstrument 120 frames.

    Reported to ``Dump`` (HTML, speedscope, session) and ``JsonLines``; the
    warnings issued on the way are kept.
    """
    seen = reporters.Collect()
    folder = tmp_path_factory.mktemp("deep")

    @sampleprofile(reporters=[seen, reporters.Dump(folder), reporters.JsonLines(folder / "records.jsonl")])
    def deep() -> None:
        recurse(sys.getrecursionlimit() - current_stack_depth() - 120)

    with fake_time(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        deep()
    (record,) = seen.records
    assert record.skipped is None
    return record, folder, [str(warning.message) for warning in caught]


def test_console(deep_record: tuple[Any, Path, list[str]]) -> None:
    """Port of pyinstrument test/test_overflow.py::test_console (the text)."""
    record, _folder, _warnings = deep_record
    assert record.text().count("recurse") > 50


def test_html_and_speedscope(deep_record: tuple[Any, Path, list[str]]) -> None:
    """Port of pyinstrument test/test_overflow.py::test_html and test_speedscope (the dump files)."""
    _record, folder, _warnings = deep_record
    assert dump_kinds(folder) == [".html", ".pyisession", ".speedscope.json"]
    (speedscope,) = [name for name in os.listdir(folder) if name.endswith(".speedscope.json")]
    assert len(json.loads((folder / speedscope).read_text())["shared"]["frames"]) >= 2


def test_json(deep_record: tuple[Any, Path, list[str]]) -> None:
    """Port of pyinstrument test/test_overflow.py::test_json (the line ``JsonLines`` writes)."""
    _record, folder, caught = deep_record
    assert caught == []
    (line,) = (folder / "records.jsonl").read_text().splitlines()
    assert json.loads(line)["payload"]["tree"]["function"] == "deep"
