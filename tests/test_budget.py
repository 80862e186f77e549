"""The ``Budget`` reporter: warn once per name, strict checks that really fail, p95 in bounded memory."""

from __future__ import annotations

import threading
import time
import warnings

import pytest

from profiletools import timed
from profiletools.core.budgets import Budget as Limits
from profiletools.core.records import TimingRecord
from profiletools.reporters import Collect
from profiletools.reporters.budget import Budget, BudgetExceeded, BudgetWarning, Violation


def record(name: str, wall: float, limits: Limits | None, error: str | None = None) -> TimingRecord:
    return TimingRecord("timed", name, name, "m", 1.0, wall, None, 1, 2, error, None, None, limits)


def caught(action: object) -> list[warnings.WarningMessage]:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        action()  # type: ignore[operator]
    return [w for w in seen if issubclass(w.category, BudgetWarning)]


# -- default mode: one warning per name -----------------------------------------------------------


def test_warns_once_per_name_and_counts_every_call_over_budget() -> None:
    budget = Budget()

    @timed("slow", budget="1ms", reporters=[budget])
    def slow(value: int) -> int:
        time.sleep(0.004)
        return value * 2

    @timed("other", budget="1ms", reporters=[budget])
    def other() -> None:
        time.sleep(0.004)

    def run() -> None:
        assert [slow(i) for i in range(3)] == [0, 2, 4]
        other()

    seen = caught(run)
    assert [str(w.message).split(" is over")[0] for w in seen] == ["profiletools: slow", "profiletools: other"]
    assert "> budget 1 ms" in str(seen[0].message)
    assert seen[0].filename == __file__  # points at the call in the user's code, not at profiletools
    violations = budget.violations()
    assert [(v.name, v.kind, v.over, v.calls) for v in violations] == [("other", "call", 1, 1), ("slow", "call", 3, 3)]
    assert violations[1].detail.startswith("wall ") and violations[1].detail.endswith("> budget 1 ms")
    assert "3 of 3 calls over budget" in str(violations[1])


def test_within_budget_and_unbudgeted_records_are_ignored() -> None:
    budget = Budget()

    @timed(budget="10s", reporters=[budget])
    def quick() -> int:
        return 1

    seen = caught(lambda: [quick() for _ in range(5)] and budget.report(record("free", 99.0, None)))
    assert seen == [] and budget.violations() == [] and budget.check() == []


def test_the_worst_call_is_the_one_described() -> None:
    budget = Budget(strict=True)
    limits = Limits("time", 0.010, None)
    for wall in (0.020, 0.050, 0.005, 0.030):
        budget.report(record("q", wall, limits))
    (violation,) = budget.violations()
    assert violation == Violation("q", "call", "wall 50 ms > budget 10 ms", 3, 4)


# -- strict mode: collected while running, raised at the checkpoint ------------------------------


def test_strict_never_raises_into_the_program_and_raises_on_check() -> None:
    budget = Budget(strict=True)
    failure = ValueError("boom")

    @timed("search", budget="1ms", reporters=[budget])
    def search() -> str:
        time.sleep(0.003)
        return "hits"

    @timed("fails", budget="1ms", reporters=[budget])
    def fails() -> None:
        time.sleep(0.003)
        raise failure

    def run() -> None:
        assert search() == "hits"
        with pytest.raises(ValueError) as raised:
            fails()
        assert raised.value is failure

    assert caught(run) == []  # strict mode is silent until the checkpoint
    with pytest.raises(BudgetExceeded) as exceeded:
        budget.check()
    assert isinstance(exceeded.value, AssertionError)
    assert [v.name for v in exceeded.value.violations] == ["fails", "search"]
    assert str(exceeded.value).startswith("2 over budget:\n  fails: 1 of 1 call over budget (worst: wall ")
    with pytest.raises(BudgetExceeded):  # still over budget until reset
        budget.check()
    budget.reset()
    assert budget.check() == []


def test_with_block_starts_afresh_checks_at_the_end_and_never_masks_an_error() -> None:
    budget = Budget(strict=True)
    limits = Limits("time", 0.001, None)
    budget.report(record("before", 1.0, limits))
    with budget:  # entering forgets what came before
        budget.report(record("fine", 0.0005, limits))
    with pytest.raises(BudgetExceeded, match="inside: 1 of 1 call"):
        with budget:
            budget.report(record("inside", 0.5, limits))
    with pytest.raises(KeyError):
        with budget:
            budget.report(record("inside", 0.5, limits))
            raise KeyError("the block's own error wins")


def test_strict_must_be_a_bool() -> None:
    with pytest.raises(TypeError, match="strict="):
        Budget(strict="yes")  # type: ignore[arg-type]


# -- p95 ---------------------------------------------------------------------------------------------


def test_p95_is_the_95th_percentile_not_the_max_or_the_mean() -> None:
    limits = Limits(None, None, 0.010)
    spiky = Budget(strict=True)  # 1 % slow calls: p95 is fast, though the max and the mean are over 10 ms
    for index in range(100):
        spiky.report(record("spiky", 2.0 if index == 50 else 0.005, limits))
    assert spiky.violations() == []
    slow_tail = Budget(strict=True)  # 10 % slow calls: the p95 is slow
    for index in range(100):
        slow_tail.report(record("tail", 0.050 if index % 10 == 0 else 0.005, limits))
    (violation,) = slow_tail.violations()
    assert violation.kind == "p95" and violation.calls == 100
    assert violation.detail.startswith("p95 ") and violation.detail.endswith("> budget_p95 10 ms")
    assert 49 <= float(violation.detail.split()[1]) <= 51  # within the 1 % buckets of Summary's series


def test_p95_warns_as_records_arrive_from_the_20th_call() -> None:
    budget = Budget()
    limits = Limits(None, None, 0.010)
    seen = caught(lambda: [budget.report(record("p", 0.020, limits)) for _ in range(19)])
    assert seen == []
    seen = caught(lambda: [budget.report(record("p", 0.020, limits)) for _ in range(200)])
    assert len(seen) == 1 and "budget_p95: p95 20" in str(seen[0].message) and "after 20 calls" in str(seen[0].message)


def test_p95_memory_is_bounded_by_the_range_of_values_not_the_count() -> None:
    budget = Budget(strict=True)
    limits = Limits(None, None, 1.0)
    for index in range(50_000):
        budget.report(record("many", 0.001 * (1 + index % 100), limits))
    series = budget._names["many"].series
    assert series is not None and series.count == 50_000
    assert len(series.buckets) < 250  # 1 ms .. 100 ms in 2 % steps, not 50 000 values


def test_a_timed_budget_p95_reaches_the_reporter() -> None:
    budget = Budget(strict=True)

    @timed(budget_p95="1ms", reporters=[budget])
    def napping() -> None:
        time.sleep(0.002)

    for _ in range(5):
        napping()
    with pytest.raises(BudgetExceeded, match=r"napping: p95 .* > budget_p95 1 ms \(5 calls\)"):
        budget.check()


# -- memory budgets and threads --------------------------------------------------------------------


def test_memory_budget_is_checked_against_the_peak() -> None:
    from profiletools.tools.memprofile.api import memprofile

    collect = Collect()
    with memprofile("alloc", reporters=[collect]):
        block = bytearray(2 * 1024 * 1024)
    del block
    measured = collect.records[0]._replace(budget=Limits("memory", 1024 * 1024, None))
    budget = Budget(strict=True)
    budget.report(measured)
    (violation,) = budget.violations()
    assert violation.detail.startswith("peak ") and violation.detail.endswith("> budget 1 MiB")


def test_counts_are_exact_across_threads() -> None:
    budget = Budget(strict=True)
    limits = Limits("time", 0.001, None)

    def feed() -> None:
        for _ in range(500):
            budget.report(record("shared", 0.002, limits))

    threads = [threading.Thread(target=feed) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    (violation,) = budget.violations()
    assert (violation.over, violation.calls) == (2000, 2000)
