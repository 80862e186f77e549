"""``Budget``: hold records to the ``budget=`` and ``budget_p95=`` their tools were given.

Why strict mode raises from :meth:`Budget.check` and not from ``report``: a
reporter runs inside the measured program, after the measured call returned,
and the machinery turns anything a reporter raises into one warning (a
reporter must never change what the profiled code does: an exception there
would replace the call's return value). So ``report`` only counts; the
exception comes from an explicit checkpoint the test owns: ``check()``, the
end of a ``with budget:`` block, or the pytest plugin after the test body
(``profiletools`` fixture). There the failure lands where a test expects it,
with every name over budget listed at once.
"""

from __future__ import annotations

import os
import sys
import threading
import warnings
from typing import Any, NamedTuple

from profiletools.core.records import format_seconds
from profiletools.reporters.summary import _Series

#: The p95 is judged as records arrive once a name has this many, then at each doubling.
_FIRST_P95_CHECK = 20
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


class BudgetWarning(UserWarning):
    """Issued (once per name and kind of budget) by a non-strict :class:`Budget` reporter."""


class Violation(NamedTuple):
    """One name over one of its budgets.

    ``kind`` is ``"call"`` (``budget=``: ``over`` of ``calls`` calls exceeded it,
    ``detail`` describes the worst), ``"calls"`` (``budget_calls=`` or
    ``budget_total_calls=``: ``over`` of ``calls`` calls made more function
    calls than allowed; ``detail`` names, for the worst, each function, its
    count and its budget) or ``"p95"`` (``budget_p95=``: ``detail``
    compares the 95th percentile of ``calls`` calls with the limit; ``over``
    is ``calls`` then).
    """

    name: str
    kind: str
    detail: str
    over: int
    calls: int

    def __str__(self) -> str:
        if self.kind == "p95":
            return f"{self.name}: {self.detail} ({self.calls} calls)"
        plural = "call" if self.calls == 1 else "calls"
        return f"{self.name}: {self.over} of {self.calls} {plural} over budget (worst: {self.detail})"


class BudgetExceeded(AssertionError):
    """Raised by a strict :class:`Budget` at ``check()``: the names over budget.

    An ``AssertionError``, so test runners report it as a failed check.
    ``violations`` holds the :class:`Violation` of each name.
    """

    def __init__(self, violations: list[Violation]) -> None:
        self.violations = tuple(violations)
        lines = "\n".join(f"  {violation}" for violation in self.violations)
        super().__init__(f"{len(self.violations)} over budget:\n{lines}")


class _Name:
    """What a Budget keeps per name: counters, the worst call, and (for ``budget_p95``) a series."""

    __slots__ = (
        "budget", "calls_detail", "calls_over", "calls_worst", "count", "next_p95_check", "over", "series", "worst",
        "worst_detail",
    )

    def __init__(self) -> None:
        self.budget: Any = None
        self.count = 0
        self.over = 0
        self.worst = 0.0
        self.worst_detail = ""
        self.calls_over = 0
        self.calls_worst = 0.0
        self.calls_detail = ""
        self.series: _Series | None = None
        self.next_p95_check = _FIRST_P95_CHECK


class Budget:
    """Check each record against its ``budget=`` and each name's p95 against its ``budget_p95=``.

    By default a name over budget gives one :class:`BudgetWarning` (one for
    its per-call budget, one for its p95) and the program goes on. With
    ``strict=True`` (for tests) nothing is warned while records arrive;
    :meth:`check` raises :class:`BudgetExceeded` listing every name over
    budget. Used as ``with budget: ...``, the reporter starts afresh on entry
    and checks on a clean exit. Records without a budget are ignored.

    Memory stays bounded: per name a few counters, and for names with a
    ``budget_p95`` the logarithmic buckets of ``Summary``, whose p95 (linear
    interpolation between the closest ranks, within 1 %) is the one judged.

    >>> from profiletools import timed
    >>> budget = Budget(strict=True)
    >>> with budget:
    ...     with timed("step", budget="1s", reporters=[budget]):
    ...         pass
    >>> budget.violations()
    []
    """

    def __init__(self, *, strict: bool = False) -> None:
        if strict is not True and strict is not False:
            raise TypeError(f"Budget(strict=) must be True or False; got {strict!r}")
        self.strict = strict
        self._names: dict[str, _Name] = {}
        self._warned: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def report(self, record: Any) -> None:
        """Count ``record`` against its name's budgets (warning once per name unless strict)."""
        budget = record.budget
        if budget is None:
            return
        limit = budget.limit
        over = None
        if limit is not None:  # the common case, within budget, without a call into Budget
            figure = record.wall if budget.kind == "time" else budget.figure(record)
            if figure is not None and figure > limit:
                over = budget.figure_exceeded_by(record)
        overruns: list[Any] = []
        if budget.counted:
            overruns, unmatched = budget.call_check(record)
            for pattern in unmatched:
                self._warn_unmatched(record.name, pattern)
        warn: list[Violation] = []
        with self._lock:
            entry = self._names.get(record.name)
            if entry is None:
                entry = self._names[record.name] = _Name()
            entry.budget = budget
            entry.count += 1
            if over is not None:
                entry.over += 1
                figure = budget.figure(record)
                if entry.over == 1 or figure > entry.worst:
                    entry.worst, entry.worst_detail = figure, over
                if not self.strict:
                    warn.append(Violation(record.name, "call", over, entry.over, entry.count))
            if overruns:
                entry.calls_over += 1
                ratio = max(overrun.ratio for overrun in overruns)
                if entry.calls_over == 1 or ratio > entry.calls_worst:
                    entry.calls_worst, entry.calls_detail = ratio, "; ".join(map(str, overruns))
                if not self.strict:
                    warn.append(Violation(record.name, "calls", entry.calls_detail, entry.calls_over, entry.count))
            if budget.p95 is not None:
                if entry.series is None:
                    entry.series = _Series()
                entry.series.add(record.wall, record.error is not None)
                if not self.strict and entry.series.count >= entry.next_p95_check:
                    entry.next_p95_check *= 2
                    violation = _p95_violation(record.name, entry)
                    if violation is not None:
                        warn.append(violation)
        for violation in warn:
            self._warn(violation)

    def violations(self) -> list[Violation]:
        """Every name over budget now, per-call budgets first, each list sorted by name."""
        calls, p95s = [], []
        with self._lock:
            for name in sorted(self._names):
                entry = self._names[name]
                if entry.over:
                    calls.append(Violation(name, "call", entry.worst_detail, entry.over, entry.count))
                if entry.calls_over:
                    calls.append(Violation(name, "calls", entry.calls_detail, entry.calls_over, entry.count))
                p95 = _p95_violation(name, entry)
                if p95 is not None:
                    p95s.append(p95)
        return calls + p95s

    def check(self) -> list[Violation]:
        """Judge now: strict raises :class:`BudgetExceeded`; otherwise warn (once each) and return the violations."""
        violations = self.violations()
        if violations and self.strict:
            raise BudgetExceeded(violations)
        for violation in violations:
            self._warn(violation)
        return violations

    def reset(self) -> None:
        """Forget every count (and which names were warned about)."""
        with self._lock:
            self._names.clear()
            self._warned.clear()

    def __enter__(self) -> Budget:
        self.reset()
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None:
            self.check()

    def _warn_unmatched(self, name: str, pattern: str) -> None:
        """Once per name and pattern: a ``budget_calls`` pattern matched no function of a profile (a typo?)."""
        if not self._first((name, f"unmatched {pattern}")):
            return
        warnings.warn(
            f"profiletools: {name}: budget_calls pattern {pattern!r} matched no function in its profile, so it "
            "limits nothing; functions are named 'module:qualname' (e.g. 'app.index:Index.query'), 'qualname', "
            "or a glob of either",
            BudgetWarning, stacklevel=_stacklevel_outside_package(),
        )

    def _first(self, key: tuple[str, str]) -> bool:
        """Whether ``key`` is warned about for the first time (and remember it)."""
        with self._lock:
            if key in self._warned:
                return False
            self._warned.add(key)
            return True

    def _warn(self, violation: Violation) -> None:
        if not self._first((violation.name, violation.kind)):
            return
        if violation.kind in ("call", "calls"):
            message = (
                f"profiletools: {violation.name} is over its budget ({violation.detail}); "
                f"later calls over budget are counted, not warned about again"
            )
        else:
            message = (
                f"profiletools: {violation.name} is over its budget_p95: {violation.detail} "
                f"after {violation.calls} calls"
            )
        warnings.warn(message, BudgetWarning, stacklevel=_stacklevel_outside_package())


def _p95_violation(name: str, entry: _Name) -> Violation | None:
    """The p95 violation of ``entry``, or ``None`` (no ``budget_p95``, no records, within it)."""
    series, limit = entry.series, entry.budget.p95 if entry.budget is not None else None
    if series is None or limit is None or series.count == 0:
        return None
    p95 = series.quantile(0.95)
    if p95 <= limit:
        return None
    detail = f"p95 {format_seconds(p95)} > budget_p95 {format_seconds(limit)}"
    return Violation(name, "p95", detail, series.count, series.count)


def _stacklevel_outside_package() -> int:
    """The ``stacklevel`` pointing a warning at the first frame outside profiletools."""
    frame = sys._getframe(1)
    level = 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level
