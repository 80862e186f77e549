"""``profiletools show`` of a ``.lprof``: line_profiler's table as the live record prints it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from profiletools.core.counts import Count
from profiletools.tools.lineprofile.record import LineRecord, record_type_for


def from_line_stats(stats: Any, name: str, options: Mapping[str, Any]) -> LineRecord:
    """A record of line_profiler's ``LineStats``, its table in ``show``'s ``unit`` (default µs, as line_profiler)."""
    unit = options.get("unit") or LineRecord.output_unit
    wall = sum(ticks for rows in stats.timings.values() for _, _, ticks in rows) * stats.unit
    return record_type_for(unit)("lineprofile", name, name, None, 0.0, wall, None, 0, 0, None, stats)


def line_hits(stats: Any) -> list[Count]:
    """Every timed line's hits in line_profiler's ``LineStats`` (a record's payload or a loaded ``.lprof``)."""
    unit = stats.unit
    return [
        Count(key, line, hits, ticks * unit, ticks * unit)
        for key, rows in stats.timings.items()
        for line, hits, ticks in rows
    ]
