"""Budgets: the limit a call should stay within, parsed once at decoration time.

``budget=`` takes seconds (a number) or a string with a unit: ``"250us"``,
``"20ms"``, ``"1.5s"`` for time (checked against a record's wall time);
``"50MB"``, ``"512KiB"`` for memory (checked against the figure in bytes the tool
declares, see :mod:`profiletools.core.registry`). ``budget_p95=`` is a time limit for the
95th percentile of a name's calls, checked by reporters that aggregate.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from profiletools.core import registry

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


@dataclass(frozen=True)
class Budget:
    """The limits of one decorated function or block; shared by all its records."""

    kind: str | None = None
    limit: float | None = None
    p95: float | None = None
    #: The name of the figure a memory ``limit`` applies to (``None``: the record's tool's figure in bytes).
    measure: str | None = None

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
        """A description of how ``record`` exceeds the per-call limit, or ``None``."""
        if self.limit is None:
            return None
        figure = self.figure(record)
        if figure is None or figure <= self.limit:
            return None
        limited = self.limited(record.tool) or registry.WALL
        return f"{limited.name} {limited.format(figure)} > budget {limited.format(self.limit)}"


def make_budget(budget: object, budget_p95: object, tool: str) -> Budget | None:
    """Validate ``budget=`` and ``budget_p95=`` for ``tool``; ``None`` when neither is set."""
    if budget is None and budget_p95 is None:
        return None
    kind = limit = p95 = measure = None
    if budget is not None:
        kind, limit = parse_quantity(budget, f"{tool}(): budget")
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
    return Budget(kind, limit, p95, measure)
