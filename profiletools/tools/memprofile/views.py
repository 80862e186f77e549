"""A memory record read back from its ``.json`` dump, for ``profiletools show``: the live text again."""

from __future__ import annotations

import contextlib
import inspect
import linecache
from collections.abc import Mapping
from typing import Any

from profiletools.tools.memprofile.api import AllocationSite, MemoryRecord, MemoryStats
from profiletools.tools.memprofile.lines import LineTable


def from_dict(data: Mapping[str, Any]) -> MemoryRecord:
    """The record of ``record.to_dict()`` output, payload included (the timeline is left out: no text shows it)."""
    payload = data.get("payload")
    try:
        stats = _stats(payload) if isinstance(payload, Mapping) else None
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not a memprofile payload ({type(exc).__name__}: {exc})") from None
    return MemoryRecord.from_dict(data, stats)  # type: ignore[no-any-return]


def _stats(payload: Mapping[str, Any]) -> MemoryStats:
    top = payload.get("top")
    lines = payload.get("lines")
    interval = payload.get("interval")
    stats = MemoryStats(
        payload.get("peak"), payload.get("net"), payload.get("rss_before"), payload.get("rss_after"),
        tracing=str(payload.get("tracemalloc") or ""), overlapped=int(payload.get("overlapped") or 0),
        traced=payload.get("traced") is not False, rss_peak=payload.get("rss_peak"),
        rss_peak_source=payload.get("rss_peak_source"), interval=None if interval is None else float(interval),
        top=None if top is None else [
            AllocationSite(str(site["file"]), int(site["line"]), int(site["size"]), int(site["blocks"]),
                           str(site.get("contents", "")))
            for site in top
        ],
        lines=None if lines is None else _table(lines),
    )
    stats.rss_source = str(payload.get("rss_source") or stats.rss_source)
    return stats


def _table(data: Mapping[str, Any]) -> LineTable:
    rows = {
        int(row["line"]): (int(row["after"]), int(row["increment"]), int(row["peak"]), int(row["occurrences"]))
        for row in data["rows"]
    }
    first = int(data["first_line"])
    filename = str(data["file"])
    basis = str(data.get("basis") or "traced")
    return LineTable(filename, str(data["function"]), first, _source(filename, first, data["rows"]), rows,
                     basis, int(data.get("base") or 0), str(data.get("peaks") or basis))


def _source(filename: str, first: int, rows: list[Mapping[str, Any]]) -> list[str]:
    """The lines the live table showed: the whole function, or a block's lines; from the row texts without a file."""
    last = max((int(row["line"]) for row in rows), default=first)
    lines = linecache.getlines(filename)
    if first < 1 or len(lines) < last:
        contents = {int(row["line"]): str(row.get("contents", "")) for row in rows}
        return [contents.get(line, "") + "\n" for line in range(first, last + 1)]
    head = lines[first - 1].lstrip()
    if head.startswith(("@", "def ", "async def ")):  # a function: every line of it, as inspect reads it
        with contextlib.suppress(Exception):  # odd source (tokenize errors): the lines that ran
            return inspect.getblock(lines[first - 1:])
    return lines[first - 1:last]
