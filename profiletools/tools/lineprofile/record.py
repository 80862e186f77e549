"""The record of ``lineprofile`` and its formats: the line table, ``.lprof`` dumps, JSON.

The payload is line_profiler's ``LineStats`` (``timings`` maps ``(file, first
line, function name)`` to ``(line, hits, time)`` rows in ticks of ``unit``
seconds). The text is the table ``python -m line_profiler`` prints (same
columns, same number formats), built here without line_profiler's printer,
which clears the whole ``linecache`` and looks for configuration files on
every call. The dump is the pickled ``LineStats`` that ``kernprof`` writes,
so ``python -m line_profiler file.lprof`` opens it.
"""

from __future__ import annotations

import inspect
import linecache
import pickle
from collections.abc import Sequence
from typing import IO, Any, ClassVar

from profiletools.core.records import TIME_UNITS, Record

#: Output units accepted by ``lineprofile(unit=...)`` and ``LineRecord.text(unit=...)``.
UNITS: dict[str, float] = TIME_UNITS
_UNIT_BY_SECONDS = {seconds: name for name, seconds in UNITS.items() if name != "µs"}
#: Column widths of line_profiler's table (its shipped defaults; they grow to fit).
_WIDTHS = {"line": 6, "hits": 9, "time": 12, "perhit": 8, "percent": 8}
_HEADER = ("Line #", "Hits", "Time", "Per Hit", "% Time", "Line Contents")


def parse_unit(unit: object, argument: str = "unit") -> float:
    """Seconds per displayed time unit, from a unit name or its length in seconds.

    >>> parse_unit("ms"), parse_unit(1e-6)
    (0.001, 1e-06)
    """
    if isinstance(unit, str) and unit in UNITS:
        return UNITS[unit]
    if isinstance(unit, (int, float)) and not isinstance(unit, bool) and float(unit) in _UNIT_BY_SECONDS:
        return float(unit)
    raise ValueError(
        f"lineprofile(): {argument}= must be one of 's', 'ms', 'us' (or 'µs'), 'ns' "
        f"or the same in seconds (1, 1e-3, 1e-6, 1e-9); got {unit!r:.60}"
    )


def _source_block(filename: str, first_line: int) -> list[str]:
    """The source lines of the function starting at ``first_line`` (empty if unavailable)."""
    lines = linecache.getlines(filename)
    if not lines or first_line < 1 or first_line > len(lines):
        return []
    try:
        return inspect.getblock(lines[first_line - 1:])
    except Exception:  # noqa: BLE001 - odd source (tokenize errors): fall back to the timed lines
        return []


def _fit(value: float, width: int) -> str:
    """A time in line_profiler's format: one decimal, or 3 significant digits if too wide."""
    text = f"{value:5.1f}"
    return text if len(text) <= width else f"{value:5.3g}"


def format_function(
    key: tuple[str, int, str], rows: Sequence[tuple[int, int, int]], unit: float, output_unit: float
) -> str:
    """The table of one function: total, file, name, then a row per source line."""
    filename, first_line, name = key
    scale = unit / output_unit
    total_time = sum(row[2] for row in rows)
    widths = dict(_WIDTHS)
    cells: dict[int, tuple[str, str, str, str]] = {}
    for lineno, hits, ticks in rows:
        percent = f"{100 * ticks / total_time:5.1f}" if total_time else ""
        hits_text = f"{hits:d}"
        if len(hits_text) > _WIDTHS["hits"]:
            hits_text = f"{hits:g}"
        per_hit = _fit(ticks * scale / hits, _WIDTHS["perhit"]) if hits else ""
        cells[lineno] = (hits_text, _fit(ticks * scale, _WIDTHS["time"]), per_hit, percent)
    for column, index in (("hits", 0), ("time", 1), ("perhit", 2)):
        widths[column] = max([widths[column], *(len(cell[index]) for cell in cells.values())])
    left = " ".join(f"%{widths[column]}s" for column in ("line", "hits", "time", "perhit", "percent"))
    template = left + "  %s"

    source = _source_block(filename, first_line)
    out = [f"Total time: {total_time * unit:g} s", f"File: {filename}", f"Function: {name} at line {first_line}"]
    if not source:
        out.append("(source not available)")
        last = max([first_line, *cells])
        source = [""] * (last - first_line + 1)
    header = template % _HEADER
    out += ["", header, "=" * len(header)]
    empty = ("", "", "", "")
    for offset, text in enumerate(source):
        lineno = first_line + offset
        out.append((template % (lineno, *cells.get(lineno, empty), text.rstrip("\r\n"))).rstrip())
    return "\n".join(out)


def format_stats(stats: Any, output_unit: float = 1e-6) -> str:
    """line_profiler's text report of a ``LineStats``: the timer unit, then one table per function."""
    parts = [f"Timer unit: {output_unit:g} s"]
    for key, rows in stats.timings.items():
        parts.append(format_function(key, rows, stats.unit, output_unit))
    return "\n\n".join(parts)


class LineRecord(Record):
    """The record of ``lineprofile``: ``stats`` is line_profiler's ``LineStats``.

    ``text()`` is the familiar per-line table; ``Dump`` writes ``.lprof``
    files that ``python -m line_profiler`` opens. When the measurement was
    skipped (``skipped`` says why) there is no table and the dump is JSON.
    """

    __slots__ = ()

    #: Seconds per displayed time unit in ``text()`` (set by ``lineprofile(unit=...)``).
    output_unit: ClassVar[float] = 1e-6

    @property
    def stats(self) -> Any:
        """line_profiler's ``LineStats`` of this call, block or aggregate (``None`` if skipped)."""
        return self.payload

    def lines(self, function: Any) -> dict[int, tuple[int, float]]:
        """``{line number: (hits, seconds)}`` of one timed function, named or given as the function.

        ``function`` is a qualified name (``"Model.predict"``) or the function
        itself (decorator wrappers are looked through). Lines that did not run
        are absent; a function not in this record gives ``{}``.
        """
        stats = self.payload
        if stats is None:
            return {}
        if isinstance(function, str):
            wanted, first_line = function, None
        else:
            target = inspect.unwrap(function)
            if isinstance(target, property) and target.fget is not None:
                target = inspect.unwrap(target.fget)
            code = target.__code__
            wanted, first_line = getattr(code, "co_qualname", code.co_name), code.co_firstlineno
        found: dict[int, tuple[int, float]] = {}
        for (_file, start, name), rows in stats.timings.items():
            if name == wanted and (first_line is None or start == first_line):
                for lineno, hits, ticks in rows:
                    old_hits, old_time = found.get(lineno, (0, 0.0))
                    found[lineno] = (old_hits + hits, old_time + ticks * stats.unit)
        return found

    def text(self, unit: str | float | None = None) -> str:
        """The headline, then line_profiler's table per function (in ``unit``, default as configured)."""
        if self.payload is None:
            return self.headline()
        output_unit = self.output_unit if unit is None else parse_unit(unit)
        return self.headline() + "\n" + format_stats(self.payload, output_unit)

    def payload_dict(self) -> dict[str, Any] | None:
        """Per function: file, first line, name, total seconds and ``[line, hits, seconds]`` rows."""
        stats = self.payload
        if stats is None:
            return None
        functions = []
        for (filename, first_line, name), rows in stats.timings.items():
            functions.append({
                "file": filename,
                "line": first_line,
                "name": name,
                "total": sum(row[2] for row in rows) * stats.unit,
                "lines": [[lineno, hits, ticks * stats.unit] for lineno, hits, ticks in rows],
            })
        return {"functions": functions}

    def dump_suffix(self) -> str:
        """``.lprof`` (line_profiler's format); ``.json`` when the measurement was skipped."""
        return ".lprof" if self.payload is not None else ".json"

    def write_dump(self, stream: IO[bytes]) -> None:
        """Pickle the ``LineStats`` as ``kernprof``/``LineStats.to_file`` do (JSON when skipped)."""
        if self.payload is None:
            super().write_dump(stream)
            return
        pickle.dump(self.payload, stream, pickle.HIGHEST_PROTOCOL)


class _SecondsLineRecord(LineRecord):
    __slots__ = ()
    output_unit = 1.0


class _MillisecondsLineRecord(LineRecord):
    __slots__ = ()
    output_unit = 1e-3


class _NanosecondsLineRecord(LineRecord):
    __slots__ = ()
    output_unit = 1e-9


_RECORD_TYPES: dict[float, type[LineRecord]] = {
    1.0: _SecondsLineRecord, 1e-3: _MillisecondsLineRecord, 1e-6: LineRecord, 1e-9: _NanosecondsLineRecord,
}


def record_type_for(output_unit: float) -> type[LineRecord]:
    """The record class whose ``text()`` shows times in ``output_unit`` seconds."""
    return _RECORD_TYPES[output_unit]
