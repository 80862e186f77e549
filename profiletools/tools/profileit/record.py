"""``profileit``'s record: a profile as a table people read, a dict, and a ``.prof`` file."""

from __future__ import annotations

import marshal
import pstats
import re
from collections.abc import Callable
from typing import IO, Any, NamedTuple

from profiletools.core.records import Record, format_seconds
from profiletools.tools.profileit.options import SORT_KEYS
from profiletools.tools.profileit.stats import ProfileStats


class _Row(NamedTuple):
    cc: int
    nc: int
    tt: float
    ct: float
    file: str
    line: int
    name: str
    label: str


def _rows(stats: ProfileStats) -> tuple[list[_Row], int]:
    """The rows the summary shows (sorted, restricted, limited) and how many there were."""
    options = stats.summary_options
    rows = []
    for func, (cc, nc, tt, ct, _callers) in stats.stats.items():
        if options.strip_dirs:
            func = pstats.func_strip_path(func)  # type: ignore[attr-defined]
        label = pstats.func_std_string(func)  # type: ignore[attr-defined]
        rows.append(_Row(cc, nc, tt, ct, func[0], func[1], func[2], label))
    columns = [column for key in options.sort for column in SORT_KEYS[key][0]]
    rows.sort(key=lambda row: tuple(-row[i] if direction < 0 else row[i] for i, direction in columns))  # type: ignore[operator]
    total = len(rows)
    for amount in (*options.restrict, options.limit):
        if amount is None:
            continue
        if isinstance(amount, str):
            pattern = re.compile(amount)
            rows = [row for row in rows if pattern.search(row.label)]
        elif isinstance(amount, float):
            rows = rows[: int(len(rows) * amount + 0.5)]
        else:
            rows = rows[:amount]
    return rows, total


def _calls(row: _Row) -> str:
    return f"{row.nc}" if row.nc == row.cc else f"{row.nc}/{row.cc}"


class ProfileRecord(Record):
    """The record of ``profileit``: ``payload`` (also ``stats``) is a ``pstats.Stats``.

    ``stats`` is ``None`` when the call ran unprofiled; ``skipped`` says why.
    """

    __slots__ = ()

    @property
    def stats(self) -> ProfileStats | None:
        """The profile (a ``pstats.Stats``), or ``None`` when the call was not profiled."""
        return self.payload  # type: ignore[no-any-return]

    def text(self) -> str:
        """First line: the headline with call count and total time; then the top rows."""
        stats = self.payload
        if stats is None:
            return self.headline()
        options = stats.summary_options
        rows, total = _rows(stats)
        first = f"{self.headline()}: {stats.total_calls:,} function calls"
        if stats.prim_calls != stats.total_calls:
            first += f" ({stats.prim_calls:,} primitive)"
        first += f" in {format_seconds(stats.total_tt)}"
        if stats.calls != 1:
            first += f" over {stats.calls:,} profiled calls"
        order = ", ".join(SORT_KEYS[key][1] for key in options.sort)
        second = f"{len(rows)} of {total} functions by {order}"
        if options.restrict:
            second += ", restricted to " + ", ".join(
                f"'{item}'" if isinstance(item, str) else str(item) for item in options.restrict
            )
        table = [("ncalls", "tottime", "percall", "cumtime", "percall", "function")] + [
            (
                _calls(row), format_seconds(row.tt), format_seconds(row.tt / row.nc if row.nc else 0.0),
                format_seconds(row.ct), format_seconds(row.ct / row.cc if row.cc else 0.0), row.label,
            )
            for row in rows
        ]
        widths = [max(len(line[i]) for line in table) for i in range(5)]
        lines = [first, second] + [
            "  ".join(cell.rjust(widths[i]) for i, cell in enumerate(line[:5])) + "  " + line[5] for line in table
        ]
        return "\n".join(lines)

    def payload_dict(self) -> dict[str, Any] | None:
        """Totals and the summary's rows as JSON-ready data."""
        stats = self.payload
        if stats is None:
            return None
        rows, total = _rows(stats)
        return {
            "calls": stats.calls,
            "function_calls": stats.total_calls,
            "primitive_calls": stats.prim_calls,
            "total_time": stats.total_tt,
            "functions": total,
            "top": [
                {"file": row.file, "line": row.line, "function": row.name, "ncalls": row.nc,
                 "primitive_calls": row.cc, "tottime": row.tt, "cumtime": row.ct}
                for row in rows
            ],
        }

    def dump_suffix(self) -> str:
        """``.prof``: pstats' marshal format (``pstats.Stats(path)``, snakeviz, tuna, gprof2dot)."""
        return ".prof"

    def write_dump(self, stream: IO[bytes]) -> None:
        """Write the profile as ``pstats.Stats.dump_stats`` does."""
        stats = self.payload
        if stats is None:
            raise ValueError("this call was not profiled; there is no profile to write")
        stream.write(marshal.dumps(stats.stats))

    def dump_files(self) -> list[tuple[str, Callable[[IO[bytes]], None]]]:
        """One ``.prof`` file, or none when the call was not profiled."""
        if self.payload is None:
            return []
        return [(".prof", self.write_dump)]

