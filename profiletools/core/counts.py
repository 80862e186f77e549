"""Exact counts in a profile: how many times each function was called, or each line ran.

Times vary from run to run; these counts do not (for the same code and the
same input). A tool that counts declares it (``Tool.counts`` in
:mod:`profiletools.core.registry`: the unit, ``"calls"`` or ``"hits"``, and the
function that reads the counts of its payload or of its loaded dump file),
and call budgets, the pytest plugin's baselines and ``profiletools compare``
read them through :func:`counts_of` without naming a tool. Functions are
named ``module:qualname`` (:mod:`profiletools.core.functions`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from profiletools.core import registry
from profiletools.core.functions import FuncKey, FunctionName, function_name


class Count(NamedTuple):
    """One counted thing: a function (``line`` is ``None``, ``times`` its calls) or one of its lines (its hits).

    ``seconds`` is the function's cumulative time (or the line's time) and
    ``own`` its time without the functions it called (the line's time again).
    """

    key: FuncKey
    line: int | None
    times: int
    seconds: float
    own: float

    @property
    def function(self) -> FunctionName:
        """The counted function's ``module:qualname``."""
        return function_name(self.key)

    def label(self) -> str:
        """``module:qualname``, and ``:line`` for a line."""
        name = str(self.function)
        return name if self.line is None else f"{name}:{self.line}"


def counts_of(record: Any) -> list[Count] | None:
    """The counts ``record``'s tool declares (``None``: it counts nothing, or this call was not measured)."""
    declared = registry.counts_of(record.tool)
    if declared is None or record.payload is None:
        return None
    counted: list[Count] = declared.read(record.payload)
    return counted


def by_label(counts: Iterable[Count]) -> dict[str, int]:
    """Counts per ``label()`` (things sharing a label, such as one function in two checkouts, added up).

    >>> by_label([Count(("~", 0, "<built-in method builtins.len>"), None, 3, 0.0, 0.0)] * 2)
    {'builtins:len': 6}
    """
    found: dict[str, int] = {}
    for count in counts:
        label = count.label()
        found[label] = found.get(label, 0) + count.times
    return found


def total(counts: Iterable[Count]) -> int:
    """The sum of the counts (for calls: pstats' ``total_calls``)."""
    return sum(count.times for count in counts)
