"""The fast path of ``timed`` (two closures and the own-slot block) agrees with the general path, field for field."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

from profiletools import reporters
from profiletools.core import fastpath, machinery
from profiletools.core.machinery import make_probe

#: Fields that are measurements (they differ between two calls); every other field must be equal.
_MEASURED = {"started", "wall", "cpu"}


class _Scoped:
    """A scoped reporter: records what its scopes are closed with."""

    def __init__(self) -> None:
        self.opened: list[Any] = []
        self.closed: list[Any] = []

    def report(self, record: Any) -> None:
        raise AssertionError("a measured call's record goes to the scope, not to report()")

    def open(self, probe: Any) -> Any:
        self.opened.append(probe.name)
        return self.closed.append


def _records(cpu: bool, fail: bool, budget: str | None) -> tuple[list[Any], list[Any], list[Any]]:
    """Run one call through the fast path and one through the general path; return both records."""
    seen, scoped = reporters.Collect(), _Scoped()

    def work(x: int) -> int:
        if fail:
            raise KeyError(x)
        return x + 1

    probe = make_probe("timed", None, name="work", reporters=[seen, scoped], cpu=cpu, budget=budget)
    bound = probe._bind(work)
    fast = (fastpath.timed_function_cpu if cpu else fastpath.timed_function)(work, bound)
    general = lambda x: machinery._call_measured(bound, work, (x,), {})  # noqa: E731 - the general path
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
    fast, general = (record._asdict() for record in records)
    assert type(records[0]) is type(records[1])
    assert {k: v for k, v in fast.items() if k not in _MEASURED} == {
        k: v for k, v in general.items() if k not in _MEASURED
    }
    assert (fast["cpu"] is None) == (general["cpu"] is None) == (not cpu)
    assert fast["error"] == ("KeyError" if fail else None)
    assert fast["wall"] >= 0 and general["wall"] >= 0


def test_a_decorated_plain_function_takes_the_fast_path() -> None:
    from profiletools import timed

    @timed(reporters=[reporters.Collect()])
    def work() -> None:
        pass

    assert work.__code__.co_filename == fastpath.__file__


@pytest.mark.parametrize("cpu", [True, False])
@pytest.mark.parametrize("fail", [False, True])
def test_a_timed_block_on_its_own_slot_makes_the_general_paths_record(cpu: bool, fail: bool) -> None:
    """The block fast path (a TimingProbe's own slot) against the general Run of the same probe (its busy slot)."""
    seen, scoped = reporters.Collect(), _Scoped()
    probe = make_probe("timed", None, name="step", reporters=[seen, scoped], cpu=cpu, budget="1s")
    assert type(probe) is fastpath.TimingProbe
    with pytest.raises(KeyError) if fail else contextlib.nullcontext():
        with probe as outer:  # the own slot: the fast path
            with probe as inner:  # the slot is busy: the general path (a Run)
                assert outer is probe and type(inner) is machinery.Run
                if fail:
                    raise KeyError("x")
    general, fast = seen.records  # the inner block ends first
    assert inner.record is general and probe.record is fast and scoped.closed == [general, fast]
    assert type(fast) is type(general)
    assert {k: v for k, v in fast._asdict().items() if k not in _MEASURED} == {
        k: v for k, v in general._asdict().items() if k not in _MEASURED
    }
    assert (fast.cpu is None) == (general.cpu is None) == (not cpu)
    assert fast.error == general.error == ("KeyError" if fail else None)
    assert fast.wall >= general.wall >= 0
