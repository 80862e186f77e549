"""``profileit``'s options: how a profile's text summary is made, checked at decoration."""

from __future__ import annotations

import pstats
import re
from typing import NamedTuple

#: Every sort key pstats accepts (with its unique abbreviations) -> (columns, description).
SORT_KEYS: dict[str, tuple[tuple[tuple[int, int], ...], str]] = pstats.Stats().get_sort_arg_defs()


class SummaryOptions(NamedTuple):
    """How a profile's text summary is made (``profileit``'s ``sort``, ``limit``, ... arguments)."""

    sort: tuple[str, ...] = ("cumulative",)
    limit: int | float | None = 20
    strip_dirs: bool = False
    restrict: tuple[str | int | float, ...] = ()


def _check_sort(sort: object) -> tuple[str, ...]:
    words = [sort] if isinstance(sort, (str, pstats.SortKey)) else sort
    if not isinstance(words, (list, tuple)) or not words:
        raise TypeError(
            f"profileit(): sort= takes a pstats sort key or a list of them; got {type(sort).__name__} {sort!r:.60}"
        )
    keys = []
    for word in words:
        key = word.value if isinstance(word, pstats.SortKey) else word
        if not isinstance(key, str) or key not in SORT_KEYS:
            allowed = ", ".join(sorted(pstats.Stats.sort_arg_dict_default))
            raise ValueError(
                f"profileit(): sort= must be a pstats sort key ({allowed}, or an unambiguous abbreviation); "
                f"got {word!r:.60}"
            )
        keys.append(key)
    return tuple(keys)


def _check_amount(argument: str, value: object) -> int | float | str:
    """One ``print_stats``-style restriction: a count, a fraction, or a regular expression."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(
            f"profileit(): {argument} takes a whole number of rows, a fraction between 0 and 1, or a "
            f"regular expression (str); got {type(value).__name__} {value!r:.60}"
        )
    if isinstance(value, str):
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"profileit(): {argument} has an invalid regular expression {value!r}: {exc}") from None
    elif isinstance(value, int):
        if value < 0:
            raise ValueError(f"profileit(): {argument} counts rows and must be >= 0; got {value}")
    elif not 0.0 <= value <= 1.0:
        raise ValueError(f"profileit(): {argument} as a fraction must be between 0 and 1; got {value}")
    return value


#: The options of ``profileit()``'s defaults, made once (``with profileit("x"):`` asks on every block).
DEFAULTS = SummaryOptions()
_SORT, _LIMIT = DEFAULTS.sort[0], DEFAULTS.limit


def summary_options(sort: object, limit: object, strip_dirs: object, restrict: object) -> SummaryOptions:
    """Validate the summary arguments; errors name the argument and what is allowed."""
    if sort is _SORT and limit is _LIMIT and strip_dirs is False and restrict is None:
        # the defaults (the same objects: an interned str, the int CPython keeps; an equal float is no count)
        return DEFAULTS
    keys = _check_sort(sort)
    if limit is not None:
        if isinstance(limit, str):
            raise TypeError("profileit(): limit= takes a number of rows or a fraction; use restrict= for a regex")
        _check_amount("limit=", limit)
    if strip_dirs is not True and strip_dirs is not False:
        raise TypeError(f"profileit(): strip_dirs= must be True or False; got {strip_dirs!r:.60}")
    if restrict is None:
        restrictions: tuple[str | int | float, ...] = ()
    elif isinstance(restrict, (str, int, float)):
        restrictions = (_check_amount("restrict=", restrict),)
    elif isinstance(restrict, (list, tuple)):
        restrictions = tuple(_check_amount("restrict=", item) for item in restrict)
    else:
        raise TypeError(
            "profileit(): restrict= takes a regular expression, a count, a fraction, or a list of them "
            f"(applied in order, as pstats' print_stats does); got {type(restrict).__name__}"
        )
    return SummaryOptions(keys, limit, strip_dirs, restrictions)  # type: ignore[arg-type]

