"""The fast path of ``timed`` (two closures and the own-slot block) agrees with the general path, field for field."""

from __future__ import annotations

import contextlib
import cProfile
import functools
import pstats
from typing import Any

import pytest

import profiletools
from profiletools import reporters, timed
from profiletools.core import fastpath, machinery
from profiletools.core.machinery import make_probe
from profiletools.core.settings import STATE
from tests.conftest import Scoped

#: Fields that are measurements (they differ between two calls); every other field must be equal.
_MEASURED = {"started", "wall", "cpu"}


def _fast_and_general(cpu: bool, fail: bool, budget: str | None, given: list[Any] | None) -> tuple[Any, Any]:
    """The fast path's wrapper of a function ``work`` (raising ``KeyError`` when ``fail``), and a call of it
    through the general path, for one probe with ``reporters=given``."""

    def work(x: int) -> int:
        if fail:
            raise KeyError(x)
        return x + 1

    probe = make_probe("timed", None, name="work", reporters=given, cpu=cpu, budget=budget)
    bound = probe._bind(work)
    fast = (fastpath.timed_function_cpu if cpu else fastpath.timed_function)(work, bound)
    return fast, lambda x: machinery._call_measured(bound, work, (x,), {})


def _unmeasured(record: Any) -> dict[str, Any]:
    """A record's fields that are not measurements: equal for two calls made alike."""
    return {k: v for k, v in record._asdict().items() if k not in _MEASURED}


def _records(cpu: bool, fail: bool, budget: str | None) -> tuple[list[Any], list[Any], list[Any]]:
    """Run one call through the fast path and one through the general path; return both records."""
    seen, scoped = reporters.Collect(), Scoped()
    fast, general = _fast_and_general(cpu, fail, budget, [seen, scoped])
    results = []
    for call in (fast, general):
        try:
            results.append(call(41))
        except KeyError as exc:
            results.append(exc.args)
    assert results[0] == results[1]
    assert scoped.opened == ["work", "work"]
    return seen.records, scoped.closed, results


@pytest.mark.parametrize("cpu", [True, False])
@pytest.mark.parametrize("fail", [False, True])
@pytest.mark.parametrize("budget", [None, "1s"])
def test_fast_and_general_paths_make_the_same_record(cpu: bool, fail: bool, budget: str | None) -> None:
    records, closed, _ = _records(cpu, fail, budget)
    assert len(records) == 2 and closed == records
    assert type(records[0]) is type(records[1]) and _unmeasured(records[0]) == _unmeasured(records[1])
    fast, general = (record._asdict() for record in records)
    assert (fast["cpu"] is None) == (general["cpu"] is None) == (not cpu)
    assert fast["error"] == ("KeyError" if fail else None)
    assert fast["wall"] >= 0 and general["wall"] >= 0


@pytest.mark.parametrize("cpu", [True, False])
@pytest.mark.parametrize("fail", [False, True])
@pytest.mark.parametrize("budget", [None, "1s"])
def test_a_function_timed_for_one_configured_reporter_makes_the_general_paths_record(
    cpu: bool, fail: bool, budget: str | None,
) -> None:
    """With ``configure(reporters=[r])`` a decorated function hands its record to ``r`` after one read of
    ``STATE.lone``: the record must be the general path's, field for field."""
    seen = reporters.Collect()
    profiletools.configure(reporters=[seen])
    fast, general = _fast_and_general(cpu, fail, budget, None)
    for call in (fast, fast, general):  # the first call resolves the defaults; the second takes the lone path
        with contextlib.suppress(KeyError):
            assert call(41) == 42
    assert STATE.lone is seen.report
    first, lone, slow = seen.records
    assert _unmeasured(lone) == _unmeasured(slow) == _unmeasured(first)
    assert (lone.cpu is None) == (not cpu)
    assert lone.error == ("KeyError" if fail else None)


@pytest.mark.parametrize("cpu", [True, False])
def test_each_lone_wrapper_records_its_own_function_and_passes_arguments_as_made(cpu: bool) -> None:
    """Each of several functions decorated one after the other records its own names, and a call with and
    without keyword arguments reaches the function as made."""
    seen = reporters.Collect()
    profiletools.configure(reporters=[seen])

    def first(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
        return args, kwargs

    def second(a: int, b: int = 2) -> int:
        return a * b

    wrapped = [timed(cpu=cpu)(func) for func in (first, second)]
    wrapped[0]()  # resolves the defaults: the calls below take the lone path
    seen.clear()
    assert wrapped[0](1, 2) == ((1, 2), {})
    assert wrapped[0](1, key=3) == ((1,), {"key": 3})
    assert wrapped[1](3) == 6 and wrapped[1](3, b=5) == 15
    assert STATE.lone is seen.report
    assert [(r.tool, r.name, r.qualname, r.module) for r in seen.records] == [
        ("timed", first.__qualname__, first.__qualname__, __name__)] * 2 + [
        ("timed", second.__qualname__, second.__qualname__, __name__)] * 2
    assert all((r.cpu is not None) == cpu for r in seen.records)


def test_raw_cprofile_counts_every_call_of_every_lone_wrapper() -> None:
    """pstats keys a function by file, line and name: every wrapper of the fast path shares one code object,
    so a raw cProfile profile of a program calling several timed functions counts all their wrapper calls
    under that one label, each caller with its own count. (With a code object per wrapper, each wrapper's
    entry overwrote the last under the same label: 3 calls of 8 were left, all from one caller.)"""
    seen = reporters.Collect()
    profiletools.configure(reporters=[seen])
    first, second = timed(cpu=False)(lambda: 1), timed(cpu=False)(lambda: 2)
    first()  # resolves the defaults: the calls below take the lone path

    def calls_first() -> None:
        for _ in range(3):
            first()

    def calls_second() -> None:
        for _ in range(5):
            second()

    profile = cProfile.Profile()
    profile.runcall(calls_first)
    profile.runcall(calls_second)
    assert STATE.lone is seen.report
    code = first.__code__
    assert second.__code__ is code
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    _, calls, _, _, callers = stats[cProfile.label(code)]
    assert calls == 8
    assert sorted((caller[2], count[0]) for caller, count in callers.items()) == [
        ("calls_first", 3), ("calls_second", 5)]


@pytest.mark.parametrize("cpu", [True, False])
@pytest.mark.parametrize("fail", [False, True])
@pytest.mark.parametrize("budget", [None, "1s"])
def test_a_function_given_one_reporter_of_its_own_makes_the_general_paths_record(
    cpu: bool, fail: bool, budget: str | None,
) -> None:
    """``@timed(reporters=[r])`` reads its :class:`OwnReport` where a function reporting to the defaults reads
    ``STATE``: the record reaching ``r`` must be the general path's, field for field, and nothing reaches the
    defaults."""
    seen, defaults = reporters.Collect(), reporters.Collect()
    profiletools.configure(reporters=[defaults])
    fast, general = _fast_and_general(cpu, fail, budget, [seen])
    assert fast.__code__ is timed(cpu=cpu)(lambda: 1).__code__  # the lone wrapper's code, not the general one's
    for call in (fast, general):
        with contextlib.suppress(KeyError):
            assert call(41) == 42
    own, slow = seen.records
    assert _unmeasured(own) == _unmeasured(slow)
    assert (own.cpu is None) == (not cpu) and own.wall >= 0
    assert own.error == ("KeyError" if fail else None) and (own.budget is None) == (budget is None)
    assert defaults.records == []


@pytest.mark.parametrize("cpu", [True, False])
def test_a_function_with_its_own_reporter_follows_the_switch_and_survives_its_reporter(cpu: bool) -> None:
    """The own reporter's function stops while measuring is off and resumes after, as the defaults' does; a
    reporter that raises is warned about once and the call returns its value."""
    seen = reporters.Collect()

    @timed(cpu=cpu, reporters=[seen])
    def step(x: int = 1) -> int:
        return x

    assert step() == 1
    profiletools.disable()
    try:
        assert step(x=2) == 2
    finally:
        profiletools.enable()
    assert step(3) == 3
    assert [record.name for record in seen.records] == [step.__qualname__] * 2

    def broken(record: Any) -> None:
        raise OSError("disk full")

    failing = timed(cpu=cpu, reporters=[broken])(lambda: 5)
    with pytest.warns(RuntimeWarning, match="disk full"):
        assert failing() == 5
    assert failing() == 5  # warned once


def test_a_function_given_an_empty_reporter_list_runs_as_made_and_reports_nowhere() -> None:
    """``reporters=[]``: the lone wrapper hands each record to ``discard``; the call, its arguments, its value
    and its exception are the function's own, and the defaults get nothing."""
    defaults = reporters.Collect()
    profiletools.configure(reporters=[defaults])

    @timed(reporters=[])
    def echo(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
        if args == ("fail",):
            raise KeyError("fail")
        return args, kwargs

    assert echo(1, key=2) == ((1,), {"key": 2}) and echo() == ((), {})
    with pytest.raises(KeyError):
        echo("fail")
    assert echo.__name__ == "echo" and echo.__wrapped__.__name__ == "echo"  # type: ignore[attr-defined]
    assert echo.__code__ is timed(lambda: None).__code__  # the lone wrapper's code, not the general one's
    assert defaults.records == []


@pytest.mark.parametrize("cpu", [True, False])
def test_with_no_default_reporters_a_function_takes_the_lone_path_to_nowhere(cpu: bool) -> None:
    """``configure(reporters=[])``: ``STATE.lone`` is ``discard`` (not ``None``, which sent every call through
    the general wrapper as well); once a reporter is configured again, the same function reports to it."""
    from profiletools.core.delivery import discard

    profiletools.configure(reporters=[])

    @timed(cpu=cpu)
    def step(x: int) -> int:
        return x * 2

    assert step(2) == 4 and STATE.lone is discard
    seen = reporters.Collect()
    profiletools.configure(reporters=[seen])
    assert step(3) == 6 and STATE.lone is seen.report
    assert [record.name for record in seen.records] == [step.__qualname__]


def test_the_lone_reporter_follows_every_change_of_the_defaults_and_of_the_switch() -> None:
    """``STATE.lone`` is the one report function only while measuring is on and the defaults come down to it."""
    first, second, scoped = reporters.Collect(), reporters.Collect(), Scoped()

    @timed
    def step() -> int:
        return 1

    profiletools.configure(reporters=[first])
    step()
    assert STATE.lone is first.report
    profiletools.disable()
    assert STATE.lone is None
    step()  # unmeasured
    profiletools.enable()
    step()
    assert len(first.records) == 2
    profiletools.configure(reporters=[first, second])  # two: the general path, both get it
    step()
    assert STATE.lone is None and len(first.records) == 3 and len(second.records) == 1
    profiletools.configure(reporters=[scoped])  # a scoped reporter: the record goes to its scope
    step()
    assert STATE.lone is None and len(scoped.opened) == len(scoped.closed) == 1
    profiletools.configure(reporters=[second])
    step()
    assert STATE.lone is second.report and len(second.records) == 2 and len(first.records) == 3


def test_a_decorated_plain_function_takes_the_fast_path() -> None:
    from profiletools import timed

    @timed(reporters=[reporters.Collect()])
    def work() -> None:
        pass

    assert work.__code__.co_filename == fastpath.__file__


def _timed_probe(cpu: bool, given: list[Any]) -> Any:
    return make_probe("timed", None, name="step", reporters=given, cpu=cpu, budget="1s")


def _timed_block(cpu: bool, given: list[Any]) -> Any:
    from profiletools import timed

    return timed("step", cpu=cpu, reporters=given)


@pytest.mark.parametrize("cpu", [True, False])
@pytest.mark.parametrize("fail", [False, True])
@pytest.mark.parametrize("alone", [False, True])
@pytest.mark.parametrize(("make", "kinds"), [
    (_timed_probe, (fastpath.TimingProbe, fastpath.TimingProbe)),
    (_timed_block, (fastpath.TimedBlock, fastpath.TimedCpuBlock)),
])
def test_a_timed_block_on_its_own_slot_makes_the_general_paths_record(
    cpu: bool, fail: bool, alone: bool, make: Any, kinds: tuple[type, type],
) -> None:
    """The block fast path (the own slot) against the general Run of the same probe (its busy slot), with a
    reporter alone (called directly) and with a scoped one beside it (called through ``deliver``)."""
    seen, scoped = reporters.Collect(), Scoped()
    probe = make(cpu, [seen] if alone else [seen, scoped])
    assert type(probe) is kinds[cpu]
    with pytest.raises(KeyError) if fail else contextlib.nullcontext():
        with probe as outer:  # the own slot: the fast path
            with probe as inner:  # the slot is busy: the general path (a Run)
                assert outer is probe and type(inner) is machinery.Run
                if fail:
                    raise KeyError("x")
    general, fast = seen.records  # the inner block ends first
    assert inner.record is general and probe.record is fast and scoped.closed == ([] if alone else [general, fast])
    assert type(fast) is type(general)
    assert {k: v for k, v in fast._asdict().items() if k not in _MEASURED} == {
        k: v for k, v in general._asdict().items() if k not in _MEASURED
    }
    assert (fast.cpu is None) == (general.cpu is None) == (not cpu)
    assert fast.error == general.error == ("KeyError" if fail else None)
    assert fast.wall >= general.wall >= 0
    with probe:  # the own slot is free again
        pass
    assert seen.records[-1] is probe.record and len(seen.records) == 3


def _settings(probe: Any) -> dict[str, Any]:
    """What a probe's blocks and decorations read, with its reporters as the functions called."""
    names = ("tool", "name", "qualname", "module", "cpu", "enabled", "every", "gate", "budget", "factory",
             "backend", "aggregating", "aggregate", "record")
    targets = probe.current_reporters()
    return {name: getattr(probe, name) for name in names} | {"reporters": tuple(targets)}


@pytest.mark.parametrize("cpu", [True, False])
@pytest.mark.parametrize("per_use", [None, "one", "two", "none"])
@pytest.mark.parametrize("by_keyword", [False, True])
def test_a_block_made_without_argument_parsing_has_the_parsed_probes_settings(
    cpu: bool, per_use: str | None, by_keyword: bool,
) -> None:
    """``timed("step")`` and ``timed(name="step")``, with the defaults' reporters, one or two of its own or
    ``reporters=[]`` (which still keeps the block's record on its handle)."""
    from profiletools import timed

    seen, scoped = reporters.Collect(), Scoped()
    given = {None: None, "one": [seen], "two": [seen, scoped], "none": []}[per_use]
    quick = timed(name="step", cpu=cpu, reporters=given) if by_keyword else timed("step", cpu=cpu, reporters=given)
    parsed = make_probe("timed", None, name="step", reporters=given, cpu=cpu)
    assert type(quick) is (fastpath.TimedCpuBlock if cpu else fastpath.TimedBlock)
    assert type(parsed) is fastpath.TimingProbe
    # what the block offers reads as the parsed probe's; what it hands on (decorating, a busy slot) is one
    general = quick.probe()
    assert type(general) is fastpath.TimingProbe and quick.probe() is general
    assert _settings(general) == _settings(parsed)
    assert {name: getattr(quick, name) for name in ("tool", "name", "qualname", "module", "cpu", "budget")} == {
        name: getattr(parsed, name) for name in ("tool", "name", "qualname", "module", "cpu", "budget")
    }
    assert tuple(quick.current_reporters()) == tuple(parsed.current_reporters())
    assert quick.measuring() is parsed.measuring() is True
    with quick:
        pass
    assert quick.record is not None and quick.record.name == "step"
    if per_use == "two":
        assert seen.records == [quick.record] == scoped.closed and scoped.opened == ["step"]
    if per_use == "one":
        assert seen.records == [quick.record]


class _CallsCount:
    """A reporter that is called itself, and counts its calls."""

    def __init__(self) -> None:
        self.records: list[Any] = []

    def __call__(self, record: Any) -> None:
        self.records.append(record)


@pytest.mark.parametrize("cpu", [True, False])
@pytest.mark.parametrize("kind", ["function", "report method", "built-in method", "callable", "tuple of one"])
def test_a_block_given_one_plain_reporter_hands_it_each_record_with_no_targets_made(cpu: bool, kind: str) -> None:
    """``timed("x", reporters=[r])`` keeps ``r``'s report function on the handle (:data:`fastpath.OWN_REPORT`):
    ``r`` gets the block's record, on the own slot and on a busy one, and the handle's reporters read as
    the parsed probe's."""
    from profiletools import timed

    got: list[Any] = []
    collect, counted = reporters.Collect(), _CallsCount()
    reporter, seen = {  # (``seen`` reads what the reporter got)
        "function": (lambda record: got.append(record), lambda: got),
        "report method": (collect, lambda: collect.records),
        "built-in method": (got.append, lambda: got),
        "callable": (counted, lambda: counted.records),
        "tuple of one": (collect, lambda: collect.records),
    }[kind]
    given = (reporter,) if kind == "tuple of one" else [reporter]
    block = timed("step", cpu=cpu, reporters=given)
    assert block._reporters is fastpath.OWN_REPORT
    assert tuple(block.reporters) == tuple(make_probe("timed", None, reporters=given).reporters)  # (as a probe's)
    assert tuple(block.current_reporters()) == tuple(make_probe("timed", None, reporters=given).current_reporters())
    with block as outer:
        with block as inner:  # the slot is busy: the general path, through the probe made from the handle
            pass
    assert outer is block and seen() == [inner.record, block.record] and block.record.name == "step"
    assert (block.record.cpu is None) is (not cpu)


@pytest.mark.parametrize("cpu", [True, False])
def test_a_block_whose_one_reporter_fails_warns_once_and_keeps_its_record(cpu: bool) -> None:
    from profiletools import timed

    def broken(record: Any) -> None:
        raise OSError("disk full")

    with pytest.warns(RuntimeWarning, match="disk full"):
        with timed("step", cpu=cpu, reporters=[broken]) as block:
            pass
    assert block.record is not None and block.record.name == "step"


def test_a_scoped_reporter_alone_on_a_block_is_opened_and_closed() -> None:
    """One reporter with ``open`` is not a plain one: the block gets its :class:`Targets` and opens its scope."""
    from profiletools import timed

    scoped = Scoped()
    with timed("step", reporters=[scoped]) as block:
        assert scoped.opened == ["step"]
    assert block._reporters is not fastpath.OWN_REPORT and scoped.closed == [block.record]


def test_a_name_given_twice_is_refused_on_the_block_path_too() -> None:
    from profiletools import timed

    with pytest.raises(TypeError, match="name"):
        timed("step", name="other")


def test_a_named_block_handle_decorates_as_the_parsed_probe_does() -> None:
    from profiletools import timed

    seen = reporters.Collect()

    @timed("step", reporters=[seen])
    def work(x: int) -> int:
        return x + 1

    @timed(name="step", reporters=[seen])
    def other(x: int) -> int:
        return x + 2

    assert work(1) == 2 and work.__name__ == "work" and other(1) == 3 and other.__name__ == "other"
    assert [(r.tool, r.name, r.qualname, r.module) for r in seen.records] == [
        ("timed", "step", work.__qualname__, __name__), ("timed", "step", other.__qualname__, __name__),
    ]


@pytest.mark.parametrize("bad", [reporters.Collect(), "stderr", 3, [3], [object()]])
def test_a_block_with_bad_reporters_fails_as_the_parsed_path_does(bad: Any) -> None:
    from profiletools import timed

    with pytest.raises(TypeError) as quick:
        timed("step", reporters=bad)
    with pytest.raises(TypeError) as parsed:
        make_probe("timed", None, name="step", reporters=bad)
    assert str(quick.value) == str(parsed.value)


def test_reporters_given_per_block_live_no_longer_than_the_block() -> None:
    import gc
    import weakref

    from profiletools import timed

    class Reporter:
        def report(self, record: Any) -> None:
            pass

    reporter = Reporter()
    gone = weakref.ref(reporter)
    for _ in range(3):
        with timed("step", reporters=[reporter]):
            pass
    del reporter
    gc.collect()
    assert gone() is None


class _CallableWithData:
    """Called itself: its ``report`` and ``open`` are data, not methods."""

    report = "not a method"
    open = 3

    def __call__(self, record: Any) -> None:
        pass


def _plain(record: Any) -> None:
    """A reporter that is a plain function."""


def _function_with(**attributes: Any) -> Any:
    """A function reporter carrying ``attributes`` (its ``report`` or ``open``, when given, are what count)."""

    def report(record: Any) -> None:
        pass

    report.__dict__.update(attributes)
    return report


@pytest.mark.parametrize("reporter", [
    reporters.Collect(), print, Scoped(), _CallableWithData(), functools.partial(print, end=""), _plain,
    _function_with(report=print), _function_with(open=Scoped().open), _function_with(note="data"),
    _function_with(report="not callable"),
], ids=[
    "report method", "built-in function", "scoped", "callable with data attributes", "partial", "function",
    "function with a report attribute", "function with an open attribute", "function with other attributes",
    "function with a report attribute not callable",
])
def test_a_one_reporter_list_is_checked_as_the_loop_checks_it(reporter: Any) -> None:
    """``reporters=[r]`` and ``(r,)`` take a shortcut past the loop (checked on every block): the loop's sorting."""
    from profiletools.core.delivery import check_reporters

    looped = check_reporters(iter([reporter]))  # (an iterator is neither a list nor a tuple: it takes the loop)
    assert looped is not None
    for quick in check_reporters([reporter]), check_reporters((reporter,)):
        assert quick is not None
        assert (quick.reports, quick.openers, quick.scoped_reports, quick.single) == (
            looped.reports, looped.openers, looped.scoped_reports, looped.single,
        )
        assert (quick.single is None) == bool(quick.openers)
