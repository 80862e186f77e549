"""``Summary``: per-name aggregates in bounded memory, printed as a table."""

from __future__ import annotations

import math
import sys
import threading
from typing import IO, Any

from profiletools.core import registry
from profiletools.core.delivery import fork_safe, on_flush
from profiletools.core.quantiles import interpolate

#: Values are kept in logarithmic buckets (each 2 % wide, so the value a bucket
#: stands for is within 1 % of every value in it): memory depends on the range
#: of the values, not on how many there are.
_GAMMA = 1.02
_LOG_GAMMA = math.log(_GAMMA)
_QUANTILES = (("p50", 0.50), ("p95", 0.95), ("p99", 0.99))


class _Series:
    """Aggregate of one name: exact count/total/min/max, bucketed percentiles."""

    __slots__ = ("buckets", "count", "errors", "maximum", "minimum", "total", "zeros")

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.minimum = math.inf
        self.maximum = -math.inf
        self.buckets: dict[int, int] = {}
        self.zeros = 0
        self.errors = 0

    def add(self, value: float, failed: bool) -> None:
        self.count += 1
        self.total += value
        if value < self.minimum:
            self.minimum = value
        if value > self.maximum:
            self.maximum = value
        if value > 0:
            index = math.ceil(math.log(value) / _LOG_GAMMA)
            self.buckets[index] = self.buckets.get(index, 0) + 1
        else:
            self.zeros += 1
        if failed:
            self.errors += 1

    def value_at(self, index: int) -> float:
        """The ``index``-th smallest value (0-based): exact for the smallest and largest, else within 1 %."""
        if index <= 0:
            return self.minimum
        if index >= self.count - 1:
            return self.maximum
        seen = self.zeros
        if index < seen:
            return max(0.0, self.minimum)
        for bucket in sorted(self.buckets):
            seen += self.buckets[bucket]
            if index < seen:
                estimate = 2 * _GAMMA**bucket / (_GAMMA + 1)
                return min(max(estimate, self.minimum), self.maximum)
        return self.maximum

    def quantile(self, q: float) -> float:
        """The ``q`` quantile, as :func:`profiletools.core.quantiles.quantile` defines it, within 1 %."""
        return interpolate(q, self.count, self.value_at)

    def figures(self) -> dict[str, float | int]:
        figures: dict[str, float | int] = {
            "count": self.count, "errors": self.errors, "total": self.total,
            "mean": self.total / self.count, "min": self.minimum, "max": self.maximum,
        }
        for label, q in _QUANTILES:
            figures[label] = self.quantile(q)
        return figures


class Summary:
    """Aggregate records per name: count, total, mean, min, max, p50, p95, p99.

    Percentiles interpolate linearly between the two closest ranks (numpy's
    default, :func:`profiletools.core.quantiles.quantile`): of four calls, three
    of ~1 µs and one of 1.93 ms, the p95 is 1.64 ms. Memory stays bounded
    however many calls are reported: values are kept in logarithmic buckets, so
    a percentile is within 1 % of that definition (count, total, mean, min and
    max are exact). ``field`` picks the figure aggregated:
    ``"wall"`` (default) or ``"cpu"`` seconds, or ``"peak"`` bytes of memory
    records (records without the figure are left out). ``at_exit=True``
    prints the table at interpreter exit and on ``profiletools.flush()``.

    ```python
    >>> from profiletools import timed
    >>> summary = Summary()
    >>> for _ in range(3):
    ...     with timed("step", reporters=[summary]):
    ...         pass
    >>> summary.stats()["step"]["count"]
    3

    ```
    """

    def __init__(self, *, field: str = "wall", at_exit: bool = False, stream: IO[str] | None = None) -> None:
        figures = registry.figures()
        if field not in figures:
            names = [repr(name) for name in figures]
            raise ValueError(f"Summary(field=) must be {', '.join(names[:-1])} or {names[-1]}; got {field!r}")
        self._figure = figures[field]
        if at_exit is not True and at_exit is not False:
            raise TypeError(f"Summary(at_exit=) must be True or False; got {at_exit!r}")
        self.field = field
        self.stream = stream
        self._series: dict[str, _Series] = {}
        self._lock = threading.Lock()
        fork_safe(self)
        self._printed_at = -1
        if at_exit:
            on_flush(self._print_if_new, last=True)

    def report(self, record: Any) -> None:
        """Add one record's figure to its name's aggregate."""
        value = self._figure.value(record)
        if value is None:
            return
        with self._lock:
            series = self._series.get(record.name)
            if series is None:
                series = self._series[record.name] = _Series()
            series.add(value, record.error is not None)

    def stats(self) -> dict[str, dict[str, float | int]]:
        """The aggregates per name, as plain numbers (seconds)."""
        with self._lock:
            return {name: series.figures() for name, series in self._series.items()}

    def table(self) -> str:
        """The aggregates as a text table, largest total first."""
        unit = self._figure.format
        rows = sorted(self.stats().items(), key=lambda item: -item[1]["total"])
        header = ("name", "count", "errors", "total", "mean", "min", "p50", "p95", "p99", "max")
        lines = [header] + [
            (name, str(f["count"]), str(f["errors"]), *tuple(unit(f[key]) for key in header[3:]))
            for name, f in rows
        ]
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        return "\n".join(
            "  ".join(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(line))
            for line in lines
        )

    def print(self, stream: IO[str] | None = None) -> None:
        """Print the table to ``stream`` (default: the reporter's stream, else stderr)."""
        target = stream or self.stream or sys.stderr
        what = self._figure.label
        target.write(f"profiletools summary ({what})\n{self.table()}\n")
        target.flush()

    def reset(self) -> None:
        """Forget all aggregates."""
        with self._lock:
            self._series.clear()

    def _print_if_new(self) -> None:
        total = sum(series.count for series in self._series.values())
        if total and total != self._printed_at:
            self._printed_at = total
            self.print()
