"""What the machinery owns for every tool: the backend contract, aggregation, skip warnings, the step driver.

A backend defined here (``Counting``) checks the contract itself; the issues'
cases run through the real tools: generators that must not keep items alive
(issue 13 item 1), warnings that must not land in the profile they report on
(item 9), a nested ``profileit`` that must not vanish silently (item 10), and
inline aggregate blocks (issue 20 item 4).
"""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import threading
import tracemalloc
import warnings
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import profiletools
from profiletools import lineprofile, memprofile, profileit, timed
from profiletools.core import aggregation, delivery, frames, settings
from profiletools.core.backend import SUPPRESS, Backend, Nested, Skip
from profiletools.core.machinery import Probe, make_probe, split_target
from profiletools.reporters import Collect

MONITORING = sys.version_info >= (3, 12)

try:
    import pyinstrument  # noqa: F401

    from profiletools import sampleprofile

    SAMPLING = True
except ImportError:  # the optional extra
    SAMPLING = False

#: Every tool, as a decorator factory with its default options.
TOOLS: dict[str, Callable[..., Any]] = {
    "timed": timed, "profileit": profileit, "lineprofile": lineprofile, "memprofile": memprofile,
}
if SAMPLING:
    TOOLS["sampleprofile"] = sampleprofile


# -- a backend written against the contract --------------------------------------------------


class Counting(Backend):
    """Counts the items ``note`` was given during a call; skips when told to, nests like a profiler."""

    tool = "counting"
    not_measured = "not counted"
    aggregate_skipped = "{skipped} of {calls} calls uncounted: {reason}"
    running = threading.local()

    def begin(self) -> Any:
        outer = getattr(self.running, "probe", None)
        if outer is self.probe:
            return SUPPRESS
        if outer is not None:
            return Nested(f"inside {outer.name}")
        if getattr(self.running, "refuse", None):
            return Skip(self.running.refuse)
        self.running.probe = self.probe
        self.running.items = 0
        return self.probe

    def end(self, token: Any, error: BaseException | None) -> Any:
        self.running.probe = None
        items = self.running.items
        return Skip("odd count", {"items": items}) if items % 2 else {"items": items}

    def merge(self, aggregate: Any, payload: Any) -> Any:
        return {"items": (aggregate or {"items": 0})["items"] + payload["items"]}

    def finish(self, aggregate: Any) -> Any:
        return {**aggregate, "finished": True}


def note(count: int) -> None:
    if getattr(Counting.running, "probe", None) is not None:
        Counting.running.items += count


def counting(target: Any = None, /, *, name: str | None = None, **options: Any) -> Any:
    func, name = split_target("counting", target, name)
    probe: Probe = make_probe("counting", Counting, name=name, **options)
    return probe(func) if func is not None else probe


def test_the_payload_becomes_the_record_and_a_skip_says_why_once(collect: Collect) -> None:
    @counting(reporters=[collect])
    def work(count: int) -> int:
        note(count)
        return count

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert [work(2), work(3), work(5)] == [2, 3, 5]
    assert [(r.payload, r.skipped) for r in collect.records] == [
        ({"items": 2}, None), ({"items": 3}, "odd count"), ({"items": 5}, "odd count"),
    ]
    (warning,) = caught  # once per reason
    assert str(warning.message) == (
        f"profiletools: counting {work.__qualname__}: not counted: odd count "
        "(the code runs as usual; the record says why)"
    )
    assert warning.filename == __file__  # the user's line, not one of profiletools


def test_a_skip_from_begin_gives_a_record_without_payload(collect: Collect) -> None:
    Counting.running.refuse = "the counter is busy"
    try:
        with pytest.warns(RuntimeWarning, match="not counted: the counter is busy"):
            with counting("block", reporters=[collect]):
                note(4)
    finally:
        Counting.running.refuse = None
    (record,) = collect.records
    assert (record.payload, record.skipped) == (None, "the counter is busy")


def test_suppressed_and_nested_calls_make_no_record_and_nesting_is_said_once(collect: Collect) -> None:
    @counting(reporters=[collect])
    def inner(depth: int) -> None:
        note(2)
        if depth:
            inner(depth - 1)  # a recursion: silent

    @counting(reporters=[collect])
    def outer() -> None:
        inner(1)
        inner(0)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        inner(2)
        outer()
    assert [(r.name.rsplit(".", 1)[-1], r.payload) for r in collect.records] == [
        ("inner", {"items": 6}), ("outer", {"items": 6}),  # inner's notes count in outer's measurement
    ]
    (warning,) = caught
    assert "counting" in str(warning.message) and f"no record of its own: inside {outer.__qualname__}" in str(
        warning.message
    )


def test_aggregate_merges_payloads_counts_skips_and_finishes_once_per_flush(collect: Collect) -> None:
    @counting(reporters=[collect], aggregate=True)
    def work(count: int) -> None:
        note(count)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for count in (2, 3, 4, 5):
            work(count)
    assert collect.records == []
    work.flush()  # type: ignore[attr-defined]
    (record,) = collect.records
    assert record.payload == {"items": 14, "finished": True}
    assert record.skipped == "2 of 4 calls uncounted: odd count"
    assert record.wall > 0 and record.cpu is not None
    work.flush()  # type: ignore[attr-defined]
    profiletools.flush()
    assert len(collect.records) == 1  # nothing since the last flush


def test_a_discarded_aggregating_function_leaks_no_hook_and_loses_no_call(collect: Collect) -> None:
    hooks = len(delivery._flush_hooks)

    def make() -> Callable[[int], None]:
        @counting(reporters=[collect], aggregate=True)
        def work(count: int) -> None:
            note(count)

        return work

    refs = []
    for _ in range(200):
        work = make()
        work(2)
        refs.append(weakref.ref(work))
        del work
    gc.collect()
    assert len(delivery._flush_hooks) == hooks  # no hook per probe
    profiletools.flush()  # the calls of the discarded functions are still reported
    assert len(collect.records) == 200 and {r.payload["items"] for r in collect.records} == {2}
    gc.collect()
    assert all(ref() is None for ref in refs) and aggregation.pending_count() == 0


# -- issue 20 item 4: an aggregate block written inline ------------------------------------


def test_inline_aggregate_blocks_share_one_aggregate_with_bounded_memory() -> None:
    seen = Collect()
    hooks = len(delivery._flush_hooks)

    def work() -> int:
        return sum(range(20))

    tracemalloc.start()
    try:
        for use in range(20_000):
            with profileit("inline block", aggregate=True, reporters=[seen]):
                work()
            if use == 999:
                gc.collect()
                after_first_thousand = tracemalloc.get_traced_memory()[0]
        gc.collect()
        growth = tracemalloc.get_traced_memory()[0] - after_first_thousand
    finally:
        tracemalloc.stop()
    assert len(delivery._flush_hooks) == hooks
    assert growth < 64 * 1024  # 19,000 more uses: a hook or a probe kept per use would be megabytes
    assert seen.records == []
    profiletools.flush()
    (record,) = seen.records
    assert record.name == "inline block" and record.stats.calls == 20_000
    calls = {key[2]: stat[1] for key, stat in record.stats.stats.items()}
    assert calls["work"] == 20_000


def test_inline_aggregate_blocks_with_an_unhashable_reporter_share_one_aggregate() -> None:
    class Unhashable:  # a callable reporter that is not hashable, as a dataclass with eq=True
        __hash__ = None  # type: ignore[assignment]

        def __init__(self) -> None:
            self.records: list[Any] = []

        def __call__(self, record: Any) -> None:
            self.records.append(record)

    seen = Unhashable()
    for _ in range(3):
        with counting("unhashable", aggregate=True, reporters=[seen]):
            note(2)
    profiletools.flush()
    assert [record.payload for record in seen.records] == [{"items": 6, "finished": True}]


@pytest.mark.parametrize("tool", ["lineprofile", "sampleprofile"])
def test_inline_aggregate_blocks_of_other_tools_share_one_aggregate(tool: str) -> None:
    if tool == "sampleprofile" and not SAMPLING:
        pytest.skip("pyinstrument is not installed")
    seen = Collect()

    def work() -> int:
        total = 0
        for i in range(20):
            total += i
        return total

    for _ in range(300):
        block = lineprofile("inline", work, aggregate=True, reporters=[seen]) if tool == "lineprofile" else (
            TOOLS[tool]("inline", aggregate=True, reporters=[seen])
        )
        with block:
            work()
    profiletools.flush()
    (record,) = seen.records
    if tool == "lineprofile":
        hits = {line: count for line, (count, _seconds) in record.lines(work).items()}
        assert max(hits.values()) == 300 * 21  # the loop line, over all 300 blocks


# -- issue 13 item 1: the step driver keeps nothing alive ----------------------------------


class Item:
    """Logs when it is made and when it is freed."""

    def __init__(self, index: int, log: list[str]) -> None:
        self.index, self.log = index, log
        log.append(f"make {index}")

    def __del__(self) -> None:
        self.log.append(f"free {self.index}")


def items(log: list[str], count: int) -> Iterator[Item]:
    for index in range(count):
        yield Item(index, log)


async def async_items(log: list[str], count: int) -> AsyncIterator[Item]:
    for index in range(count):
        await asyncio.sleep(0)
        yield Item(index, log)


def drain(gen: Iterator[Item]) -> None:
    """Take each item and drop it at once, as a streaming consumer does."""
    for _ in range(3):
        item = next(gen)
        del item
    gen.close()


async def adrain(agen: AsyncIterator[Item]) -> None:
    for _ in range(3):
        item = await agen.__anext__()
        del item
    await agen.aclose()  # type: ignore[attr-defined]


def quiet(tool: str) -> Callable[..., Any]:
    return TOOLS[tool](reporters=[Collect()])  # type: ignore[no-any-return]


@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_a_generator_frees_each_item_when_the_consumer_drops_it(tool: str) -> None:
    plain: list[str] = []
    drain(items(plain, 3))
    measured: list[str] = []
    drain(quiet(tool)(items)(measured, 3))
    assert plain == ["make 0", "free 0", "make 1", "free 1", "make 2", "free 2"]
    assert measured == plain


@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_an_async_generator_frees_each_item_when_the_consumer_drops_it(tool: str) -> None:
    plain: list[str] = []
    asyncio.run(adrain(async_items(plain, 3)))
    measured: list[str] = []
    asyncio.run(adrain(quiet(tool)(async_items)(measured, 3)))
    assert plain == ["make 0", "free 0", "make 1", "free 1", "make 2", "free 2"]
    assert measured == plain


class Token:
    """Something sent or thrown in; the generator lets go of it at once."""


class Thrown(Exception):
    pass


def receiver() -> Iterator[Any]:
    """Yields a weak reference to each value sent in, after dropping the value itself."""
    received = yield None
    while True:
        try:
            ref = weakref.ref(received)
            del received
            received = yield ref
        except Thrown as exc:
            ref = weakref.ref(exc)
            del exc
            received = yield ref


async def async_receiver() -> AsyncIterator[Any]:
    received = yield None
    while True:
        try:
            ref = weakref.ref(received)
            del received
            received = yield ref
        except Thrown as exc:
            ref = weakref.ref(exc)
            del exc
            received = yield ref


def sent_and_thrown(gen: Iterator[Any]) -> tuple[bool, bool]:
    """Whether a value sent in and an exception thrown in are still alive once the generator dropped them."""
    next(gen)
    sent = gen.send(Token())
    thrown = gen.throw(Thrown("in"))
    gen.close()
    return sent() is not None, thrown() is not None


async def async_sent_and_thrown(agen: AsyncIterator[Any]) -> tuple[bool, bool]:
    await agen.asend(None)  # type: ignore[attr-defined]
    sent = await agen.asend(Token())  # type: ignore[attr-defined]
    thrown = await agen.athrow(Thrown("in"))  # type: ignore[attr-defined]
    await agen.aclose()  # type: ignore[attr-defined]
    return sent() is not None, thrown() is not None


@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_values_sent_and_exceptions_thrown_pass_through_and_live_as_long_as_without_the_tool(tool: str) -> None:
    plain = sent_and_thrown(receiver())
    assert plain[0] is False  # the value sent is freed as soon as the generator lets go of it
    assert sent_and_thrown(quiet(tool)(receiver)()) == plain


@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_async_values_sent_and_exceptions_thrown_live_as_long_as_without_the_tool(tool: str) -> None:
    plain = asyncio.run(async_sent_and_thrown(async_receiver()))
    assert plain[0] is False
    assert asyncio.run(async_sent_and_thrown(quiet(tool)(async_receiver)())) == plain


# -- issue 13 item 9: warnings stay out of the profile ------------------------------------------

POLLUTION = """
import sys, warnings
from profiletools import lineprofile, profileit, reporters

seen = reporters.Collect()

def broken(record):
    raise RuntimeError("reporter down")

@lineprofile(reporters=[broken])
def helper(n):
    total = 0
    for i in range(n):
        total += i
    return total

@profileit(reporters=[seen])
def outer():
    return helper(100)

outer()
files = sorted({key[0] for key in seen.records[0].stats.stats})
print("\\n".join(files))
"""


def test_warnings_are_issued_after_the_profile_and_point_at_the_users_line(tmp_path: Path) -> None:
    """On 3.12 the inner lineprofile call is skipped (cProfile holds sys.monitoring), and on every version its
    reporter raises: both warnings come after the outer profile ended, with Python's default display (which
    reads the source line: linecache, tokenize), and the outer profile holds the script's code alone."""
    script = tmp_path / "app.py"
    script.write_text(POLLUTION)
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) - {"~"} == {str(script)}  # "~": built-ins the script called
    lines = [line for line in result.stderr.splitlines() if "RuntimeWarning" in line]
    assert any("reporter broken raised RuntimeError" in line for line in lines)
    assert len(lines) == (2 if MONITORING else 1)
    assert all(line.startswith(f"{script}:19: RuntimeWarning") for line in lines)  # `return helper(100)`


def test_a_warning_held_during_a_measurement_is_issued_when_it_ends(collect: Collect) -> None:
    def broken(record: Any) -> None:
        raise RuntimeError("down")

    inner = timed(reporters=[broken])(lambda: None)

    @profileit(reporters=[collect])
    def outer() -> None:
        inner()
        assert not caught  # held back while the profile runs

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outer()
    (warning,) = caught
    assert f"reporter {broken.__qualname__} raised RuntimeError" in str(warning.message)
    assert warning.filename == __file__
    files = {key[0] for key in collect.records[0].stats.stats}
    assert not {name for name in files if name.endswith(("warnings.py", "linecache.py"))}


def _broken(record: Any) -> None:
    raise RuntimeError("down")


def _profiled_files(record: Any) -> set[str]:
    return {key[0].rsplit("/", 1)[-1] for key in record.stats.stats}


def test_a_warning_held_in_a_profiled_call_outlives_a_measurement_nested_in_it(collect: Collect) -> None:
    """The inner measurement (a ``memprofile`` call) ends while the outer profile still runs: the warning
    raised inside both waits for the outer one, and its formatting is not in the outer profile."""
    inner_timed = timed(reporters=[_broken])(lambda: None)
    seen: list[int] = []

    @memprofile(reporters=[collect])
    def inner() -> None:
        inner_timed()
        seen.append(len(caught))

    @profileit(reporters=[collect])
    def outer() -> None:
        inner()
        seen.append(len(caught))  # the inner measurement has ended: still held

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outer()
    assert seen == [0, 0]
    (warning,) = caught
    assert "reporter _broken raised RuntimeError" in str(warning.message) and warning.filename == __file__
    profile = next(record for record in collect.records if record.tool == "profileit")
    assert not _profiled_files(profile) & {"warnings.py", "linecache.py", "tokenize.py"}


def test_a_warning_held_in_a_nested_profiled_call_waits_for_the_outer_profile(collect: Collect) -> None:
    """A ``profileit`` call inside another one makes no record (its calls are in the outer profile) and holds
    no slot; a warning raised in it waits for the outer profile to end."""
    inner_timed = timed(reporters=[_broken])(lambda: None)
    seen: list[int] = []

    @profileit(reporters=[collect])
    def inner() -> None:
        inner_timed()

    @profileit(reporters=[collect])
    def outer() -> None:
        inner()
        seen.append(len([w for w in caught if "_broken" in str(w.message)]))

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outer()
    assert seen == [0]
    assert len([w for w in caught if "_broken" in str(w.message)]) == 1
    (record,) = collect.records
    assert not _profiled_files(record) & {"warnings.py", "linecache.py", "tokenize.py"}


def test_a_warning_held_in_a_profiled_call_that_raises_is_issued_as_the_error_leaves(collect: Collect) -> None:
    inner_timed = timed(reporters=[_broken])(lambda: None)

    @profileit(reporters=[collect])
    def fails() -> None:
        inner_timed()
        assert not caught
        raise KeyError("user")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(KeyError):
            fails()
        assert len(caught) == 1
    assert collect.records[0].error == "KeyError"
    assert not _profiled_files(collect.records[0]) & {"warnings.py", "linecache.py", "tokenize.py"}


@pytest.mark.skipif(not SAMPLING, reason="needs the sample extra (pyinstrument)")
def test_a_warning_in_a_generator_sampled_by_pyinstrument_is_issued_by_the_time_it_finishes() -> None:
    """The pyinstrument sampler holds its profiler slot for the whole call, suspended or not: that slot does
    not hold warnings back (only a slot that marks a measurement does), so the step's warning is issued when
    the step ends, as before, and a consumer's warning between steps at once."""
    broken_timed = timed(reporters=[_broken])(lambda: None)

    @sampleprofile(sampler="pyinstrument", reporters=[])
    def numbers() -> Iterator[int]:
        broken_timed()
        yield 1
        yield 2

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        steps = numbers()
        assert next(steps) == 1
        assert len(caught) == 1  # the step ended
        profiletools.timed(reporters=[_broken_too])(lambda: None)()  # the consumer's, while it is suspended
        assert len(caught) == 2
        assert list(steps) == [2]
    first, second = (str(warning.message) for warning in caught)
    assert "reporter _broken raised" in first and "reporter _broken_too raised" in second
    assert settings.MEASURING.now.held is None and not settings.HOLDING


def _broken_too(record: Any) -> None:
    raise RuntimeError("down too")

def test_a_profiled_calls_own_broken_reporter_warns_when_the_call_returns(collect: Collect) -> None:
    """Its profile has ended when its reporters run: nothing holds the warning."""
    profiled = profileit(reporters=[_broken, collect])(lambda: 1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert profiled() == 1
        assert len(caught) == 1  # before anything else runs
    assert "reporter _broken raised RuntimeError" in str(caught[0].message)
    assert len(collect.records) == 1


def test_a_warning_on_another_thread_is_not_held_by_a_profile_running_here(collect: Collect) -> None:
    """Holding is per thread: a thread with nothing measured warns at once while another thread's call is
    profiled."""
    issued: list[int] = []
    started, done = threading.Event(), threading.Event()
    other_timed = timed(reporters=[_broken])(lambda: None)

    def other() -> None:
        started.wait(5)
        with warnings.catch_warnings(record=True) as theirs:
            warnings.simplefilter("always")
            other_timed()
            issued.append(len(theirs))
        done.set()

    @profileit(reporters=[collect])
    def here() -> None:
        started.set()
        assert done.wait(5)

    worker = threading.Thread(target=other)
    worker.start()
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        here()
    worker.join(5)
    assert issued == [1]


# -- issue 13 item 10: a nested profileit says where its calls went --------------------------------


def test_a_nested_profileit_says_once_that_the_outer_profile_holds_its_calls(collect: Collect) -> None:
    @profileit(reporters=[collect])
    def inner(n: int) -> int:
        return sum(range(n))

    @profileit(reporters=[collect])
    def outer() -> int:
        return inner(10) + inner(20)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert outer() == 235
        assert outer() == 235
    assert [record.name for record in collect.records] == [outer.__qualname__] * 2
    calls = {key[2]: stat[1] for key, stat in collect.records[0].stats.stats.items()}
    assert calls["inner"] == 2  # in the outer profile
    (warning,) = caught
    assert str(warning.message) == (
        f"profiletools: profileit {inner.__qualname__}: no record of its own: it ran inside profileit "
        f"{outer.__qualname__!r}, whose profile holds its calls"
    )
    assert warning.filename == __file__


def test_a_recursive_profileit_says_nothing(collect: Collect) -> None:
    @profileit(reporters=[collect])
    def down(n: int) -> int:
        return n if n == 0 else down(n - 1)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert down(5) == 0
    assert caught == [] and len(collect.records) == 1


# -- no frame-depth contracts -----------------------------------------------------------------


def test_user_frame_skips_profiletools_frames_whatever_their_depth() -> None:
    found: list[Any] = []

    def report(record: Any) -> None:  # called by the machinery's delivery, frames of profiletools between
        caller = sys._getframe(1)
        assert frames.is_own_file(caller.f_code.co_filename)
        found.append(frames.user_frame(caller))

    for tool in ("timed", "profileit"):
        with TOOLS[tool]("block", reporters=[report]):
            pass
    assert [frame.f_code.co_name for frame in found] == [sys._getframe().f_code.co_name] * 2
    assert frames.is_own_file(frames.__file__) and not frames.is_own_file(frames.DEMO_FILE)


def test_an_unnamed_async_block_is_named_after_the_users_line(collect: Collect) -> None:
    async def main() -> int:
        async with timed(reporters=[collect]):
            pass
        return sys._getframe().f_lineno - 2

    line = asyncio.run(main())
    assert [record.name for record in collect.records] == [f"block at test_machinery.py:{line}"]


class Calling(Backend):
    """A backend that makes the calls itself (``Backend.call``): it says who called it and what."""

    tool = "calling"
    seen: list[tuple[str, Any]] = []  # noqa: RUF012 - one list for the test

    def begin(self) -> Any:
        return "token"

    def call(self, token: Any, func: Callable[..., Any], args: Any, kwargs: Any) -> Any:
        self.seen.append((token, getattr(func, "__name__", type(func).__name__)))
        return func(*args, **kwargs)

    def end(self, token: Any, error: BaseException | None) -> Any:
        return {"error": None if error is None else type(error).__name__}


def test_a_backend_with_call_makes_each_call_of_a_function_and_nothing_else(collect: Collect) -> None:
    probe = make_probe("calling", Calling, reporters=[collect])

    def add(a: int, b: int = 0) -> int:
        return a + b

    def fail() -> None:
        raise KeyError("x")

    def steps() -> Iterator[int]:
        yield 1

    class Callable_:
        def __call__(self, value: int) -> int:
            return value * 2

    Calling.seen = []
    assert probe(add)(1, b=2) == 3
    with pytest.raises(KeyError):
        probe(fail)()
    assert probe(Callable_())(4) == 8  # a callable object (wrapt proxy) too
    assert list(probe(steps)()) == [1]  # steps of a generator: not through call
    with probe:  # a block: not through call
        add(1)
    assert Calling.seen == [("token", "add"), ("token", "fail"), ("token", "Callable_")]
    assert [record.payload for record in collect.records] == [
        {"error": None}, {"error": "KeyError"}, {"error": None}, {"error": None}, {"error": None},
    ]
