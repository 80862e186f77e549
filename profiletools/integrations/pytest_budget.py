"""``@pytest.mark.budget``: what one test body may cost, parsed at setup and measured around the test function.

``@pytest.mark.budget("50ms", calls={"app.db:query": 40}, total_calls=10_000, peak="20 MB")``:

- the time limit (positional, or ``limit=``) holds the test body's wall time;
- ``calls=`` and ``total_calls=`` hold its call counts: the test function runs
  under ``profileit`` (the profile's root is the test function itself, so
  pytest's own frames are not counted), with the marker's limits as
  ``budget_calls=`` and ``budget_total_calls=``;
- ``peak=`` holds its traced peak memory: the test function runs under
  ``memprofile`` with ``budget=peak``.

Counts are exact, so a count budget passes or fails the same way on every run,
however busy the machine. Any of them can be given alone or together. The
measuring wraps the test function for the one call (``pytest_pyfunc_call``),
so the call counts and the peak are of the test function and what it calls;
fixtures are not part of them. With both counts and a peak, cProfile's own
tables are part of the traced peak (about 4 KB, plus 150 bytes per function it
saw); with counts and a time limit, the time is that of the profiled
body. Only test functions pytest calls itself can be measured (not
``unittest.TestCase`` methods): anything else fails with the reason, as does a
test whose profile could not be taken (another profiler held the hook).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import pytest

from profiletools.core.budgets import parse_quantity

MARKER = "budget"
_WHERE = "@pytest.mark.budget"
_KEYWORDS = ("limit", "calls", "total_calls", "peak")


class MarkedBudget(NamedTuple):
    """A test's ``@pytest.mark.budget``, validated: seconds, call limits, the most total calls, peak bytes."""

    limit: float | None = None
    calls: Mapping[str, int] | None = None
    total_calls: int | None = None
    #: As given (``"20 MB"``), for ``memprofile(budget=...)``.
    peak: str | None = None

    @property
    def counted(self) -> bool:
        """Whether the marker limits call counts (the test body is profiled)."""
        return self.calls is not None or self.total_calls is not None


def parse_marker(marker: pytest.Mark) -> MarkedBudget:
    """Validate a ``budget`` marker; a mistake is ``ValueError`` or ``TypeError`` naming the argument."""
    unknown = sorted(marker.kwargs.keys() - set(_KEYWORDS))
    if unknown or len(marker.args) > 1 or (marker.args and "limit" in marker.kwargs) or not (
        marker.args or marker.kwargs
    ):
        problem = f"unknown argument {unknown[0]!r}; " if unknown else ""
        raise TypeError(
            f"{_WHERE} takes {problem}a time limit and/or calls=, total_calls=, peak=, e.g. budget('50ms') or "
            f"budget(calls={{'app.db:query': 40}}, total_calls=10_000, peak='20 MB'); got {marker!r}"
        )
    limit = None
    value = marker.args[0] if marker.args else marker.kwargs.get("limit")
    if value is not None:
        kind, limit = parse_quantity(value, _WHERE)
        if kind != "time":
            raise ValueError(
                f"{_WHERE} takes a time such as '50ms'; got the memory size {value!r} (peak= limits memory)"
            )
    calls, total = marker.kwargs.get("calls"), marker.kwargs.get("total_calls")
    if calls is not None or total is not None:
        from profiletools.core.budgets import call_limits

        call_limits(calls, total, f"{_WHERE} calls", f"{_WHERE} total_calls")
    peak = marker.kwargs.get("peak")
    if peak is not None and (not isinstance(peak, str) or parse_quantity(peak, f"{_WHERE} peak")[0] != "memory"):
        raise ValueError(f"{_WHERE} peak= takes a memory size such as '20 MB'; got {peak!r}")
    return MarkedBudget(limit, calls, total, peak)


class Measure:
    """The tools around one call of a test function, and what they recorded.

    ``count`` profiles the call for its call counts even without a count
    budget (for the session's baseline); ``budget`` adds the marker's limits.
    """

    def __init__(self, nodeid: str, budget: MarkedBudget | None, count: bool) -> None:
        from profiletools.reporters import Collect

        self.nodeid = nodeid
        self.budget = budget or MarkedBudget()
        self.count = count or self.budget.counted
        self.collect = Collect()
        self.ran = False
        #: The test function's file and first line, where warnings about its budget point.
        self.where = ("", 0)

    @property
    def measuring(self) -> bool:
        """Whether anything is measured around the test function."""
        return self.count or self.budget.peak is not None

    def wrap(self, function: Callable[..., Any]) -> Callable[..., Any]:
        """``function`` under the tools this test needs: memprofile inside, profileit outside."""
        from profiletools import memprofile, profileit

        self.ran = True
        code = getattr(function, "__code__", None)
        if code is not None:
            self.where = (code.co_filename, code.co_firstlineno)
        wrapped = function
        if self.budget.peak is not None:
            wrapped = memprofile(name=self.nodeid, budget=self.budget.peak, reporters=[self.collect])(wrapped)
        if self.count:
            wrapped = profileit(
                name=self.nodeid, budget_calls=self.budget.calls, budget_total_calls=self.budget.total_calls,
                reporters=[self.collect],
            )(wrapped)
        return wrapped

    def record(self, tool: str) -> Any:
        """This call's record of ``tool`` (``None`` when it made none)."""
        return next((record for record in self.collect.records if record.tool == tool), None)

    def call_counts(self) -> dict[str, int] | None:
        """The test function's calls per function (``module:qualname``), or ``None`` when not profiled."""
        from profiletools.core.counts import by_label, counts_of

        profile = self.record("profileit")
        counts = None if profile is None else counts_of(profile)
        return None if counts is None else by_label(counts)

    def peak(self) -> float | None:
        """The traced peak of the test function's call, or ``None`` when not measured."""
        from profiletools.core import registry

        memory = self.record("memprofile")
        figure = registry.figure("peak")
        return None if memory is None or figure is None else figure.value(memory)

    def problems(self) -> list[str]:
        """What is over budget, or could not be measured; warns about call patterns that matched nothing."""
        found: list[str] = []
        if not self.ran:
            if self.measuring:
                found.append(
                    "could not be measured: only test functions pytest calls itself can be (not unittest methods)"
                )
            return found
        if self.count:
            found += self._over("profileit", "call counts")
        if self.budget.peak is not None:
            found += self._over("memprofile", "peak memory")
        return found

    def _over(self, tool: str, what: str) -> list[str]:
        record = self.record(tool)
        if record is None or record.payload is None:
            from profiletools.core.settings import STATE

            reason = getattr(record, "skipped", None) or (
                "profiletools is switched off (PROFILETOOLS=0 or profiletools.disable())"
                if not (STATE.enabled and STATE.enabled_at_import) else "the tool made no record"
            )
            return [f"{what} not measured: {reason}"]
        budget = record.budget
        if budget is None:  # measured for the session's baseline only
            return []
        if tool != "profileit":
            over = budget.figure_exceeded_by(record)
            return [] if over is None else [over]
        overruns, unmatched = budget.call_check(record)
        for pattern in unmatched:
            from profiletools.reporters.budget import BudgetWarning

            warnings.warn_explicit(
                f"{self.nodeid}: {_WHERE} calls pattern {pattern!r} matched no function the test called, so "
                f"it limits nothing; functions are named 'module:qualname', 'qualname' or a glob of either",
                BudgetWarning, *self.where,
            )
        return [str(overrun) for overrun in overruns]


def failure(nodeid: str, budget: MarkedBudget, wall: float, problems: list[str]) -> str | None:
    """The one message failing the test, or ``None`` when it is within every budget."""
    from profiletools.core.records import format_seconds

    slow = budget.limit is not None and wall > budget.limit
    if slow and not problems and not budget.counted and budget.peak is None:
        return (
            f"{nodeid} took {format_seconds(wall)}, over its budget of {format_seconds(budget.limit)} "
            f"({_WHERE})"
        )
    lines = [f"wall {format_seconds(wall)} > budget {format_seconds(budget.limit)}"] if slow else []
    lines += problems
    if not lines:
        return None
    return f"{nodeid} is over its budget ({_WHERE}):\n" + "\n".join(f"  {line}" for line in lines)
