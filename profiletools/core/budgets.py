"""Budgets: the limit a call should stay within, parsed once at decoration time.

``budget=`` takes seconds (a number) or a string with a unit: ``"250us"``,
``"20ms"``, ``"1.5s"`` for time (checked against a record's wall time);
``"50MB"``, ``"512KiB"`` for memory (checked against the figure in bytes the tool
declares, see :mod:`profiletools.core.registry`). ``budget_p95=`` is a time limit for the
95th percentile of a name's calls, checked by reporters that aggregate.

``budget_calls=`` and ``budget_total_calls=`` (for tools that count calls,
see :mod:`profiletools.core.counts`) limit how many times named functions are
called in one profiled call, and how many calls it makes in all: counts are
exact, so these budgets hold or fail the same way on every run.
``budget_calls`` maps a pattern (``"module:qualname"``, a bare ``"qualname"``,
or a glob of either: :class:`profiletools.core.functions.NamePattern`) to the
most calls allowed; a pattern matching several functions limits the sum of
their calls.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple

from profiletools.core import registry

if TYPE_CHECKING:
    from profiletools.core.functions import FunctionName, NamePattern

_TIME_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0}
_MEMORY_UNITS = {
    "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3,
}
_QUANTITY = re.compile(r"^\s*([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-zA-Zµ]+)\s*$")


def parse_quantity(value: object, argument: str) -> tuple[str, float]:
    """Parse a budget: ``("time", seconds)`` or ``("memory", bytes)``.

    >>> parse_quantity("20ms", "budget")
    ('time', 0.02)
    >>> parse_quantity("50MB", "budget")
    ('memory', 50000000.0)
    >>> parse_quantity(0.5, "budget")
    ('time', 0.5)
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(f"{argument}= takes seconds (a number) or a string such as '20ms' or '50MB'; got {value!r}")
    if not isinstance(value, str):
        amount, kind = float(value), "time"
    else:
        match = _QUANTITY.match(value)
        unit = match.group(2) if match else ""
        if match is not None and unit in _TIME_UNITS:
            amount, kind = float(match.group(1)) * _TIME_UNITS[unit], "time"
        elif match is not None and unit.lower() in _MEMORY_UNITS:
            amount, kind = float(match.group(1)) * _MEMORY_UNITS[unit.lower()], "memory"
        else:
            allowed = ", ".join([*_TIME_UNITS, "B", "KB", "MB", "GB", "KiB", "MiB", "GiB"])
            raise ValueError(f"{argument}={value!r} is not a number with a unit; units: {allowed}")
    if not math.isfinite(amount) or amount <= 0:
        raise ValueError(f"{argument}= must be positive and finite; got {value!r}")
    return kind, amount


class CallLimit(NamedTuple):
    """One entry of ``budget_calls=``: the functions ``pattern`` names may be called ``limit`` times in all."""

    pattern: NamePattern
    limit: int


class CallOverrun(NamedTuple):
    """Functions called more often than their budget allows in one record.

    ``subject`` is the pattern as given (``"total"`` for ``budget_total_calls``),
    ``functions`` the functions it matched with their calls, most called first.
    """

    subject: str
    calls: int
    limit: int
    functions: tuple[tuple[str, int], ...] = ()

    def __str__(self) -> str:
        line = f"{self.subject} {self.calls} calls > budget {self.limit}"
        if self.functions and [name for name, _ in self.functions] != [self.subject]:
            shown = ", ".join(f"{name} {count}" for name, count in self.functions[:3])
            more = len(self.functions) - 3
            line += f" ({shown}{f' and {more} more' if more > 0 else ''})"
        return line

    @property
    def ratio(self) -> float:
        """How far over: calls per allowed call (infinite for a budget of 0)."""
        return self.calls / self.limit if self.limit else math.inf


@dataclass(frozen=True)
class Budget:
    """The limits of one decorated function or block; shared by all its records."""

    kind: str | None = None
    limit: float | None = None
    p95: float | None = None
    #: The name of the figure a memory ``limit`` applies to (``None``: the record's tool's figure in bytes).
    measure: str | None = None
    #: ``budget_calls=``: the most calls of the functions each pattern names.
    calls: tuple[CallLimit, ...] = ()
    #: ``budget_total_calls=``: the most function calls in all.
    total_calls: int | None = None
    #: A memory budget given in decimal units (``"20 MB"``): its message uses them too.
    decimal: bool = False

    @property
    def counted(self) -> bool:
        """Whether this budget limits call counts."""
        return bool(self.calls) or self.total_calls is not None

    def call_check(self, record: Any) -> tuple[list[CallOverrun], list[str]]:
        """The call budgets ``record`` exceeds, and the positive-budget patterns that matched no function.

        Both are empty for a record without counts (not profiled, or a budget without call limits).
        """
        from profiletools.core.counts import counts_of

        counts = counts_of(record) if self.counted else None
        if counts is None:
            return [], []
        over: list[CallOverrun] = []
        unmatched: list[str] = []
        for entry in self.calls:
            matched: dict[str, int] = {}
            for count in counts:
                name = count.function
                if _matches(entry.pattern, name):
                    matched[str(name)] = matched.get(str(name), 0) + count.times
            calls = sum(matched.values())
            if not matched and entry.limit > 0:
                unmatched.append(entry.pattern.text)
            if calls > entry.limit:
                functions = tuple(sorted(matched.items(), key=lambda item: (-item[1], item[0])))
                over.append(CallOverrun(entry.pattern.text, calls, entry.limit, functions))
        if self.total_calls is not None:
            calls = sum(count.times for count in counts)
            if calls > self.total_calls:
                over.append(CallOverrun("total", calls, self.total_calls))
        return over, unmatched

    def limited(self, tool: str) -> registry.Figure | None:
        """The declared figure this budget's per-call limit applies to, for a record of ``tool``."""
        if self.kind != "memory":
            return registry.WALL
        if self.measure is not None:
            return registry.figure(self.measure)
        return registry.figure_in(tool, "By")

    def figure(self, record: Any) -> float | None:
        """The figure of ``record`` this budget limits (wall seconds, or the tool's figure in bytes)."""
        if self.kind != "memory":
            return record.wall  # type: ignore[no-any-return]
        limited = self.limited(record.tool)
        return None if limited is None else limited.value(record)

    def exceeded_by(self, record: Any) -> str | None:
        """A description of how ``record`` exceeds its per-call limits (time or memory, calls), or ``None``."""
        parts = [self.figure_exceeded_by(record)]
        if self.counted:
            parts += [str(overrun) for overrun in self.call_check(record)[0]]
        found = [part for part in parts if part is not None]
        return "; ".join(found) if found else None

    def figure_exceeded_by(self, record: Any) -> str | None:
        """A description of how ``record`` exceeds the per-call time or memory limit, or ``None``."""
        if self.limit is None:
            return None
        figure = self.figure(record)
        if figure is None or figure <= self.limit:
            return None
        limited = self.limited(record.tool) or registry.WALL
        show = _format_decimal_bytes if self.decimal and limited.unit == "By" else limited.format
        return f"{limited.name} {show(figure)} > budget {show(self.limit)}"


def _format_decimal_bytes(count: float | None) -> str:
    """Bytes in the decimal units a budget was given in, three significant digits.

    >>> _format_decimal_bytes(20_000_000), _format_decimal_bytes(106_496)
    ('20 MB', '106 KB')
    """
    if count is None:
        return "-"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if abs(count) >= scale:
            return f"{count / scale:.3g} {unit}"
    return f"{count:.0f} B"


@lru_cache(maxsize=1 << 16)
def _matches(pattern: NamePattern, name: FunctionName) -> bool:
    return pattern.matches(name)


def make_budget(
    budget: object, budget_p95: object, tool: str, *, calls: object = None, total_calls: object = None,
) -> Budget | None:
    """Validate ``budget=``, ``budget_p95=``, ``budget_calls=`` and ``budget_total_calls=`` for ``tool``.

    ``None`` when none is set.
    """
    if budget is None and budget_p95 is None and calls is None and total_calls is None:
        return None
    call_limits, total = _call_limits(calls, total_calls, tool)
    kind = limit = p95 = measure = None
    decimal = False
    if budget is not None:
        kind, limit = parse_quantity(budget, f"{tool}(): budget")
        decimal = kind == "memory" and str(budget).strip()[-2:].lower() in ("kb", "mb", "gb")
        if kind == "memory":
            limited = registry.figure_in(tool, "By")
            if limited is None:
                takers = " and ".join(registry.tools_with("By"))
                raise ValueError(f"{tool}(): budget={budget!r} is a memory size; only {takers} takes memory budgets")
            measure = limited.name
    if budget_p95 is not None:
        p95_kind, p95 = parse_quantity(budget_p95, f"{tool}(): budget_p95")
        if p95_kind != "time":
            raise ValueError(f"{tool}(): budget_p95= takes a time such as '20ms'; got {budget_p95!r}")
    return Budget(kind, limit, p95, measure, call_limits, total, decimal)


def _call_limits(calls: object, total_calls: object, tool: str) -> tuple[tuple[CallLimit, ...], int | None]:
    """Validate ``budget_calls=`` and ``budget_total_calls=`` (the tool must count calls)."""
    if calls is None and total_calls is None:
        return (), None
    declared = registry.counts_of(tool)
    if declared is None or declared.unit != "calls":
        argument = "budget_calls" if calls is not None else "budget_total_calls"
        takers = " and ".join(registry.counting("calls")) or "no tool"
        raise ValueError(f"{tool}(): {argument}= limits call counts; only {takers} counts calls")
    return call_limits(calls, total_calls, f"{tool}(): budget_calls", f"{tool}(): budget_total_calls")


def call_limits(
    calls: object, total_calls: object, calls_argument: str, total_argument: str,
) -> tuple[tuple[CallLimit, ...], int | None]:
    """Validate a dict of function pattern -> most calls, and a most total calls; errors name the arguments.

    >>> limits, total = call_limits({"app.db:query": 40}, None, "budget_calls", "budget_total_calls")
    >>> limits[0].limit, total
    (40, None)
    >>> call_limits({"query": -1}, None, "budget_calls", "budget_total_calls")
    Traceback (most recent call last):
    ...
    ValueError: budget_calls['query'] takes a whole number of calls (>= 0); got -1
    """
    limits: list[CallLimit] = []
    if calls is not None:
        if not isinstance(calls, Mapping):
            raise TypeError(
                f"{calls_argument}= takes a dict of function pattern -> most calls, such as "
                f"{{'app.db:query': 40}}; got {type(calls).__name__} {calls!r:.60}"
            )
        from profiletools.core.functions import NamePattern

        for pattern, limit in calls.items():
            parsed = NamePattern.parse(pattern, calls_argument)
            limits.append(CallLimit(parsed, _call_count(limit, f"{calls_argument}[{pattern!r}]")))
    total = None if total_calls is None else _call_count(total_calls, f"{total_argument}=")
    return tuple(limits), total


def _call_count(value: object, argument: str) -> int:
    """A number of calls: a whole number >= 0."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{argument} takes a whole number of calls (>= 0); got {type(value).__name__} {value!r:.60}")
    if value < 0:
        raise ValueError(f"{argument} takes a whole number of calls (>= 0); got {value}")
    return value
