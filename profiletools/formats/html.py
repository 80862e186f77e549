"""Records as HTML: what Jupyter shows for a record (``Record._repr_html_``) and what the magics display.

One function, :func:`record_html`, renders any record: a head with the tool,
the name and every figure the tool declares (read from
:mod:`profiletools.core.registry`), then what the record carries, recognised
by its shape rather than by its tool:

* a ``pstats.Stats`` (``record.stats``): the table of the text report, same
  rows, sort and limit;
* line timings (``stats.timings``, as line_profiler's ``LineStats``): one
  table per function, every source line, the hot lines marked (``pt-hot``)
  and shaded by their share of the function's time;
* memory (``record.top``, ``record.lines``, ``record.samples``): the
  allocation sites, the line-by-line table with the lines of the largest
  peaks marked, and the timeline drawn as a PNG when matplotlib is installed;
* a record that writes an HTML page of its own (``record.write_html``,
  pyinstrument's interactive call tree): that page inline, in an ``iframe``
  whose ``srcdoc`` holds it, with the text report folded underneath for
  viewers that drop iframes.

>>> from profiletools import timed
>>> with timed("load", reporters=[]) as t:
...     pass
>>> page = record_html(t.record)
>>> '<div class="profiletools">' in page and "wall time" in page
True
"""

from __future__ import annotations

import base64
import html
import inspect
import io
import linecache
import pstats
from collections.abc import Iterable, Sequence
from typing import Any

from profiletools.core import registry
from profiletools.core.records import format_bytes, format_seconds

#: A line is marked hot (class ``pt-hot``) from this share of its table's largest figure.
HOT_SHARE = 0.1
_SORT_WORDS: dict[str, tuple[Any, str]] = pstats.Stats().get_sort_arg_defs()  # type: ignore[attr-defined]
_CELL = "padding:1px 8px;text-align:right;white-space:nowrap"
_CODE = "padding:1px 8px;text-align:left;white-space:pre;font-family:monospace"
_SHADE = "rgba(230,90,30,{alpha:.2f})"


def record_html(record: Any) -> str:
    """The whole HTML view of ``record`` (self-contained: inline styles, images as data URLs)."""
    parts = ['<div class="profiletools">', _head(record)]
    stats = getattr(record, "stats", None)
    if isinstance(stats, pstats.Stats):
        parts.append(_profile(record, stats))
    elif stats is not None and hasattr(stats, "timings"):
        parts.append(_line_timings(record, stats))
    parts.append(_memory(record))
    if callable(getattr(record, "write_html", None)) and getattr(record, "payload", None) is not None:
        parts.append(_own_page(record))
    parts.append("</div>")
    return "".join(parts)


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _table(head: Sequence[str], rows: Iterable[Sequence[str]], row_attributes: Sequence[str] = (),
           code: tuple[int, ...] = ()) -> str:
    """A table of already-escaped cells; the ``code`` columns are left-aligned and monospaced."""
    out = ['<table class="pt-table" style="border-collapse:collapse;font-size:90%">', "<thead><tr>"]
    for index, title in enumerate(head):
        out.append(f'<th style="{_CODE if index in code else _CELL};border-bottom:1px solid #999">{title}</th>')
    out.append("</tr></thead><tbody>")
    for index, row in enumerate(rows):
        extra = row_attributes[index] if index < len(row_attributes) else ""
        cells = "".join(
            f'<td style="{_CODE if column in code else _CELL}">{cell}</td>' for column, cell in enumerate(row)
        )
        out.append(f"<tr{extra}>{cells}</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _shade(share: float) -> str:
    """Row attributes marking a line by its share of the table's largest figure."""
    if share <= 0:
        return ""
    hot = ' class="pt-hot"' if share >= HOT_SHARE else ""
    return f'{hot} style="background:{_SHADE.format(alpha=min(1.0, share) * 0.6)}"'


# -- the head: what every record carries -------------------------------------------------------


def _head(record: Any) -> str:
    title = f'<div class="pt-title"><b>{_esc(record.tool)}</b> {_esc(record.name)}</div>'
    figures = [registry.WALL, registry.CPU, *registry.figures_of(record.tool)]
    cells = [(figure.label, figure.format(figure.value(record))) for figure in figures
             if figure.value(record) is not None]
    if record.error is not None:
        cells.append(("raised", record.error))
    if record.skipped is not None:
        cells.append(("not measured", record.skipped))
    over = record.over_budget
    if over is not None:
        cells.append(("over budget", over))
    row = "".join(f'<td style="{_CELL}"><span style="color:#666">{_esc(label)}</span> {_esc(value)}</td>'
                  for label, value in cells)
    return title + f'<table class="pt-figures" style="border-collapse:collapse"><tr>{row}</tr></table>'


# -- cProfile ---------------------------------------------------------------------------------


def _profile(record: Any, stats: pstats.Stats) -> str:
    data = record.payload_dict() or {}
    top = data.get("top", [])
    summary = f"{data.get('function_calls', 0):,} function calls"
    if data.get("primitive_calls") != data.get("function_calls"):
        summary += f" ({data.get('primitive_calls', 0):,} primitive)"
    summary += f" in {format_seconds(data.get('total_time'))}; {len(top)} of {data.get('functions', 0)} functions"
    options = getattr(stats, "summary_options", None)
    if options is not None:
        summary += " by " + ", ".join(_SORT_WORDS[key][1] for key in options.sort if key in _SORT_WORDS)
    rows = []
    for row in top:
        calls, primitive = row["ncalls"], row["primitive_calls"]
        label = pstats.func_std_string((row["file"], row["line"], row["function"]))  # type: ignore[attr-defined]
        rows.append([
            _esc(calls if calls == primitive else f"{calls}/{primitive}"),
            _esc(format_seconds(row["tottime"])),
            _esc(format_seconds(row["tottime"] / calls if calls else 0.0)),
            _esc(format_seconds(row["cumtime"])),
            _esc(format_seconds(row["cumtime"] / primitive if primitive else 0.0)),
            _esc(label),
        ])
    head = ["ncalls", "tottime", "percall", "cumtime", "percall", "function"]
    return f'<div class="pt-summary">{_esc(summary)}</div>' + _table(head, rows, code=(5,))


# -- line_profiler ----------------------------------------------------------------------------


def _source(filename: str, first_line: int) -> list[str]:
    """The source lines of the block starting at ``first_line`` (empty when unknown)."""
    lines = linecache.getlines(filename)
    if not lines or not 1 <= first_line <= len(lines):
        return []
    try:
        return inspect.getblock(lines[first_line - 1:])
    except Exception:  # noqa: BLE001 - odd source: show the timed lines only
        return []


def _line_timings(record: Any, stats: Any) -> str:
    unit = float(getattr(record, "output_unit", 1e-6))
    names = {1.0: "s", 1e-3: "ms", 1e-6: "µs", 1e-9: "ns"}
    unit_name = names.get(unit, f"{unit:g} s")
    parts = []
    for (filename, first_line, function), rows in stats.timings.items():
        timings = {lineno: (hits, ticks * stats.unit) for lineno, hits, ticks in rows}
        total = sum(seconds for _hits, seconds in timings.values())
        source = _source(filename, first_line) or [""] * (max([first_line, *timings]) - first_line + 1)
        table_rows, attributes = [], []
        for offset, text in enumerate(source):
            lineno = first_line + offset
            hits, seconds = timings.get(lineno, (0, 0.0))
            share = seconds / total if total else 0.0
            cells = [str(lineno), "", "", "", ""]
            if lineno in timings:
                cells[1:] = [f"{hits:,}", f"{seconds / unit:,.1f}", f"{seconds / unit / hits:,.1f}" if hits else "",
                             f"{100 * share:.1f}"]
            table_rows.append([*(_esc(cell) for cell in cells), _esc(text.rstrip("\r\n"))])
            attributes.append(_shade(share))
        caption = (f"{_esc(function)} — {_esc(filename)}:{first_line} — total {_esc(format_seconds(total))}")
        head = ["Line #", "Hits", f"Time ({unit_name})", f"Per hit ({unit_name})", "% Time", "Line contents"]
        parts.append(f'<div class="pt-function">{caption}</div>' + _table(head, table_rows, attributes, (5,)))
    return "".join(parts)


# -- memory -----------------------------------------------------------------------------------


def _signed(count: int | None) -> str:
    return "-" if count is None else ("+" if count > 0 else "") + format_bytes(count)


def _memory(record: Any) -> str:
    parts = []
    rss_before, rss_after = getattr(record, "rss_before", None), getattr(record, "rss_after", None)
    if rss_before is not None or rss_after is not None:
        rss_peak = getattr(record, "rss_peak", None)
        peak = "" if rss_peak is None else f", peak {_esc(_signed(rss_peak))}"
        parts.append(f'<div class="pt-rss">net {_esc(_signed(getattr(record, "net", None)))}; '
                     f"RSS {_esc(format_bytes(rss_before))} → {_esc(format_bytes(rss_after))}"
                     f" ({_esc(_signed(getattr(record, 'rss_delta', None)))}{peak})</div>")
    top = getattr(record, "top", None)
    if top:
        rows = [[_esc(_signed(site.size)), _esc(f"{site.blocks:,}"), _esc(f"{site.file}:{site.line}"),
                 _esc(site.contents)] for site in top]
        parts.append('<div class="pt-summary">allocated and still alive at the end</div>'
                     + _table(["size", "blocks", "where", "line"], rows, code=(2, 3)))
    table = getattr(record, "lines", None)
    if table is not None and hasattr(table, "rows"):
        parts.append(_memory_lines(table))
    samples = getattr(record, "samples", None)
    if samples:
        parts.append(_timeline(record, len(samples)))
    return "".join(parts)


def _memory_lines(table: Any) -> str:
    numbers = (range(table.first_line, table.first_line + len(table.source)) if table.source
               else sorted(table.rows))
    largest = max((row[2] for row in table.rows.values()), default=0)
    rows, attributes = [], []
    for line in numbers:
        row = table.rows.get(line)
        if row is None:
            rows.append([_esc(line), "", "", "", "", _esc(table.contents(line))])
            attributes.append("")
            continue
        after, increment, peak, occurrences = row
        shown = table.shown_after(after) if hasattr(table, "shown_after") else after
        rows.append([_esc(line), _esc(format_bytes(shown)), _esc(_signed(increment)), _esc(format_bytes(peak)),
                     _esc(f"{occurrences:,}"), _esc(table.contents(line))])
        attributes.append(_shade(peak / largest if largest > 0 else 0.0))
    head = ["Line #", getattr(table, "memory_label", "Mem after"), "Increment", "Peak", "Occurrences", "Line contents"]
    return (f'<div class="pt-function">{_esc(table.function)} — {_esc(table.filename)}</div>'
            + _table(head, rows, attributes, (5,)))


def _timeline(record: Any, count: int) -> str:
    """The timeline as a PNG (matplotlib), or a line saying why there is no picture."""
    try:
        from profiletools.reporters.plot import Plot

        plot = Plot()
    except ImportError:
        return (f'<div class="pt-note">timeline of {count} samples: drawing it needs matplotlib '
                "(the plot extra)</div>")
    stream = io.BytesIO()
    plot.draw(record, stream)
    data = base64.b64encode(stream.getvalue()).decode("ascii")
    return f'<img class="pt-timeline" alt="memory and CPU timeline" src="data:image/png;base64,{data}"/>'


# -- a record with an HTML page of its own -------------------------------------------------------


def _own_page(record: Any) -> str:
    stream = io.BytesIO()
    record.write_html(stream)
    page = stream.getvalue().decode("utf-8")
    return (f'<iframe class="pt-page" srcdoc="{_esc(page)}" style="width:100%;height:420px;border:1px solid #ccc">'
            "</iframe>"
            f"<details><summary>text</summary><pre>{_esc(record.text())}</pre></details>")
