"""Percentiles: one definition (linear interpolation between the closest ranks) for Summary, Budget and compare.

The reference here is computed directly from the sorted values; ``Summary``
and ``Budget`` keep 1 %-wide buckets, so they must agree with it within 1 %
for any count, from one value up.
"""

from __future__ import annotations

import math
import random
import re
import statistics

import pytest

from profiletools.analysis import compare
from profiletools.core.budgets import Budget as Limits
from profiletools.core.quantiles import quantile
from profiletools.core.records import TimingRecord
from profiletools.reporters import Summary
from profiletools.reporters.budget import Budget

QUANTILES = (("p50", 0.50), ("p95", 0.95), ("p99", 0.99))


def reference(values: list[float], q: float) -> float:
    """numpy's default percentile, written out: rank ``q * (n - 1)``, linear between its two neighbours."""
    ordered = sorted(values)
    rank = q * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (rank - low) * (ordered[high] - ordered[low])


def record(name: str, wall: float, limits: Limits | None = None) -> TimingRecord:
    return TimingRecord("timed", name, name, "m", 1.0, wall, None, 1, 2, None, None, None, limits)


def test_the_reference_is_statistics_inclusive_quantiles() -> None:
    rng = random.Random(5)
    for count in (2, 3, 4, 7, 20, 101):
        values = [rng.lognormvariate(0, 2) for _ in range(count)]
        cuts = statistics.quantiles(values, n=100, method="inclusive")
        for percent in range(1, 100):
            assert reference(values, percent / 100) == pytest.approx(cuts[percent - 1], rel=1e-12)


def test_quantile_of_sorted_values_is_the_reference() -> None:
    rng = random.Random(6)
    for count in (1, 2, 4, 5, 20, 100):
        values = sorted(rng.lognormvariate(0, 2) for _ in range(count))
        for q in (0.0, 0.01, 0.25, 0.5, 0.95, 0.99, 1.0):
            assert quantile(values, q) == pytest.approx(reference(values, q), rel=1e-12), (count, q)
    assert quantile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert quantile([7.0], 0.95) == 7.0
    with pytest.raises(ValueError, match="no values"):
        quantile([], 0.5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        quantile([1.0], 1.5)


def test_summary_percentiles_of_four_calls_as_in_the_issue() -> None:
    """Three calls of ~1 µs and one of 1.93 ms: p95 1.64 ms and p99 1.87 ms (the old buckets said 1.1 µs)."""
    summary = Summary()
    values = [1.0e-6, 1.1e-6, 0.9e-6, 1.93e-3]
    for wall in values:
        summary.report(record("handler", wall))
    figures = summary.stats()["handler"]
    assert figures["p95"] == pytest.approx(1.6406e-3, rel=1e-3)
    assert figures["p99"] == pytest.approx(1.8721e-3, rel=1e-3)
    assert figures["p50"] == pytest.approx(1.0e-6 + 0.5 * 0.1e-6, rel=0.01)


def summary_off_reference(values: list[float]) -> dict[str, tuple[float, float]]:
    """The percentiles ``Summary`` gives for ``values`` that are more than 1 % off the reference (with it)."""
    summary = Summary()
    for wall in values:
        summary.report(record("f", wall))
    figures = summary.stats()["f"]
    expected = {label: reference(values, q) for label, q in QUANTILES}
    return {label: (figures[label], value) for label, value in expected.items()
            if abs(figures[label] - value) > 0.01 * value}


@pytest.mark.parametrize("count", [1, 2, 4, 20, 100])
def test_summary_percentiles_of_small_counts_within_the_bucket_resolution(count: int) -> None:
    rng = random.Random(count)
    for trial in range(20):
        values = [rng.lognormvariate(-7, 1.5) for _ in range(count)]
        if trial % 2:
            values[rng.randrange(count)] *= 1000  # one outlier
        assert summary_off_reference(values) == {}, (count, trial)


def test_summary_percentiles_with_zeros_and_ties() -> None:
    values = [0.0, 0.0, 0.0, 1000.0, 1000.0, 5000.0]
    assert reference(values, 0.5) == 500.0  # halfway between a zero and 1000
    assert summary_off_reference(values) == {}


def test_budget_p95_uses_the_same_definition() -> None:
    """19 calls of 1 ms and one of 100 ms: the p95 is 5.95 ms (rank 18.05), over a 5 ms budget, within 6 ms."""
    for limit, over in ((0.005, True), (0.006, False)):
        budget = Budget(strict=True)
        for index in range(20):
            budget.report(record("handler", 0.100 if index == 7 else 0.001, Limits(None, None, limit)))
        violations = budget.violations()
        assert bool(violations) is over
        if over:
            shown = re.match(r"p95 ([\d.]+) ms > budget_p95 5 ms$", violations[0].detail)
            assert shown is not None and float(shown.group(1)) == pytest.approx(5.95, rel=0.01)


def test_compare_summary_and_budget_agree() -> None:
    rng = random.Random(8)
    values = [rng.lognormvariate(-5, 1) for _ in range(13)]
    assert compare.percentile(values, 0.95) == pytest.approx(reference(values, 0.95), rel=1e-12)
    assert statistics.median(values) == pytest.approx(reference(values, 0.5), rel=1e-12)
    summary = Summary()
    for wall in values:
        summary.report(record("f", wall))
    assert summary.stats()["f"]["p95"] == pytest.approx(compare.percentile(values, 0.95), rel=0.01)
