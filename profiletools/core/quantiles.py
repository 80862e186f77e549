"""Percentiles: the one definition every profiletools figure uses.

The ``q`` quantile of ``n`` sorted values ``v[0] <= ... <= v[n-1]`` is
interpolated linearly between the two values closest to the rank
``h = q * (n - 1)``::

    v[floor(h)] + (h - floor(h)) * (v[floor(h) + 1] - v[floor(h)])

This is numpy's default (``method="linear"``), R's type 7,
``statistics.quantiles(method="inclusive")`` and a spreadsheet's
``PERCENTILE.INC``. One value is its own quantile; the median of an even count
is the mean of the middle two. ``Summary``, ``Budget`` (``budget_p95=``, also
in the pytest plugin) and ``profiletools compare`` all use it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence


def rank(q: float, count: int) -> tuple[int, int, float]:
    """Where the ``q`` quantile of ``count`` sorted values lies: (lower index, upper index, fraction).

    The quantile is ``v[lower] + fraction * (v[upper] - v[lower])``.

    >>> rank(0.5, 4)
    (1, 2, 0.5)
    """
    if count < 1:
        raise ValueError("a quantile of no values is undefined")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"the quantile must be between 0 and 1; got {q!r}")
    position = q * (count - 1)
    lower = min(math.floor(position), count - 1)
    return lower, min(lower + 1, count - 1), position - lower


def interpolate(q: float, count: int, value_at: Callable[[int], float]) -> float:
    """The ``q`` quantile of ``count`` values, ``value_at(i)`` giving the ``i``-th smallest."""
    lower, upper, fraction = rank(q, count)
    low = value_at(lower)
    if fraction == 0.0 or upper == lower:
        return low
    return low + fraction * (value_at(upper) - low)


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0 to 1) of values sorted in increasing order.

    >>> quantile([1.0, 2.0, 3.0, 4.0], 0.5)
    2.5
    >>> quantile([0.9e-6, 1.0e-6, 1.1e-6, 1.93e-3], 0.95)  # doctest: +ELLIPSIS
    0.00164...
    """
    return interpolate(q, len(sorted_values), lambda index: float(sorted_values[index]))
