"""``profiletools show``: print dump files as the live records printed them.

A file a tool wrote is shown through the view that tool declares (see
:mod:`profiletools.core.registry`): a ``.prof`` as ``profileit``'s table, a
``.lprof`` as line_profiler's table, a ``.pyisession`` as the sampled call
tree, a ``.json`` record as its record's text. Files of many records get a
table per figure a tool declares. A folder shows the files inside.
"""

from __future__ import annotations

import argparse
import os
import pstats
import sys
from collections.abc import Callable, Mapping
from types import SimpleNamespace
from typing import IO, Any

from profiletools.core import registry
from profiletools.core.records import TIME_UNITS, format_seconds
from profiletools.formats import dumps
from profiletools.formats.dumps import DumpError
from profiletools.reporters.summary import Summary

_SORT_KEYS = sorted(pstats.Stats.sort_arg_dict_default)  # type: ignore[attr-defined]

#: How each kind of dump file is loaded before a tool's view makes a record of it.
_LOADERS: dict[str, Callable[[str], Any]] = {
    ".prof": dumps.load_pstats, ".pstats": dumps.load_pstats, ".lprof": dumps.load_line_stats,
    ".pyisession": dumps.load_session,
}
#: Files for other programs: what opens them.
_OPENED_ELSEWHERE = {
    ".html": "an HTML page (pyinstrument's interactive call tree): open it in a web browser",
    ".png": "an image (a memory and CPU timeline): open it in an image viewer",
}
_RECORD_SUFFIXES = (".json", ".jsonl")
_SPEEDSCOPE = ".speedscope.json"
_TEXT = ".lines.txt"


def _known_suffixes() -> list[str]:
    return sorted({*_RECORD_SUFFIXES, *registry.view_suffixes(), _SPEEDSCOPE, _TEXT, *_OPENED_ELSEWHERE})


def show(args: argparse.Namespace, out: IO[str]) -> int:
    """Print each file (each file of a folder); a file that cannot be used is one line on stderr, exit status 1."""
    options = {"sort": args.sort, "limit": args.limit, "strip_dirs": args.strip_dirs, "unit": args.unit}
    paths: list[str] = []
    status = 0
    for given in args.files:
        try:
            paths += _files_in(given, out) if os.path.isdir(given) else [given]
        except DumpError as exc:
            sys.stderr.write(f"profiletools: error: {exc}\n")
            status = 1
    for index, path in enumerate(paths):
        if len(paths) > 1:
            out.write(("\n" if index else "") + f"==> {path} <==\n")
        try:
            text = render(path, options, callers=args.callers, callees=args.callees)
        except DumpError as exc:
            out.flush()
            sys.stderr.write(f"profiletools: error: {exc}\n")
            status = 1
            continue
        out.write(text.rstrip("\n") + "\n")
    return status


def _files_in(folder: str, out: IO[str]) -> list[str]:
    """The files of ``folder`` that ``show`` reads, sorted; says which others it passes over."""
    names = sorted(name for name in os.listdir(folder) if not name.startswith("."))
    names = [name for name in names if os.path.isfile(os.path.join(folder, name))]
    known = tuple(_known_suffixes())
    shown = [name for name in names if dumps.suffix_of(name) in known]
    if not shown:
        raise DumpError(f"{folder}: no profiletools files in this folder (files ending in {', '.join(known)})")
    others = [name for name in names if name not in shown]
    if others:
        out.write(f"{folder}: {len(others)} other files passed over: {', '.join(others)}\n\n")
    return [os.path.join(folder, name) for name in shown]


def render(path: str, options: Mapping[str, Any], *, callers: bool = False, callees: bool = False) -> str:
    """The text ``show`` prints for one file."""
    suffix = dumps.suffix_of(path)
    if callers or callees:
        if _LOADERS.get(suffix) is not dumps.load_pstats:
            raise DumpError(f"{path}: --callers and --callees read pstats profiles (.prof) only")
        return _pstats_calls(dumps.load_pstats(path), options, callers)
    if suffix in _RECORD_SUFFIXES:
        return _records(path, dumps.load_records(path))
    view = registry.view_for(suffix)
    if view is not None and suffix in _LOADERS:
        name = os.path.basename(path)[: -len(suffix)]
        record = view(_LOADERS[suffix](path), name, options)
        text: str = record.text()
        headline: str = record.headline()
        return path + text[len(headline):] if text.startswith(headline) else text
    if suffix == _SPEEDSCOPE:
        return _speedscope(path, dumps.load_speedscope(path), int(options.get("limit") or 20))
    if suffix == _TEXT:
        return dumps.load_text(path)
    if suffix in _OPENED_ELSEWHERE:
        if not os.path.isfile(path):
            raise DumpError(f"{path}: no such file")
        return f"{path}: {_OPENED_ELSEWHERE[suffix]}"
    raise DumpError(
        f"{path}: unknown file type {suffix or '(no suffix)'!r}; expected one of {', '.join(_known_suffixes())}"
    )


def _pstats_calls(stats: pstats.Stats, options: Mapping[str, Any], callers: bool) -> str:
    """pstats' own callers or callees listing."""
    import io

    buffer = io.StringIO()
    stats.stream = buffer  # type: ignore[attr-defined]
    if options.get("strip_dirs"):
        stats.strip_dirs()
    stats.sort_stats(options.get("sort") or "cumulative")
    limit = options.get("limit")
    restrictions = () if limit is None else (limit,)
    if callers:
        stats.print_callers(*restrictions)
    else:
        stats.print_callees(*restrictions)
    return buffer.getvalue()


def _records(path: str, records: list[dict[str, Any]]) -> str:
    """One record: its text, as it was printed live. Many: a table per name for each declared figure."""
    if len(records) == 1:
        try:
            return str(registry.record_from_dict(records[0]).text())
        except ValueError as exc:
            raise DumpError(f"{path}: {exc}") from None
    tables = {name: Summary(field=name) for name in registry.figures()}
    for data in records:
        record = SimpleNamespace(**{**data, "name": data["name"], "error": data.get("error")})
        for summary in tables.values():
            summary.report(record)
    parts = [f"{len(records)} records"]
    for name, summary in tables.items():
        if summary.stats() and name != "cpu":
            parts.append(f"{registry.figures()[name].label}\n{summary.table()}")
    return "\n\n".join(parts)


_SPEEDSCOPE_SECONDS = {"seconds": 1.0, "milliseconds": 1e-3, "microseconds": 1e-6, "nanoseconds": 1e-9}


def _speedscope(path: str, document: dict[str, Any], limit: int) -> str:
    """Each profile of a speedscope file as a flat table: total and self time per function, largest first."""
    frames = document["shared"]["frames"]
    parts = []
    for profile in document["profiles"]:
        total, own = _frame_weights(profile)
        scale = _SPEEDSCOPE_SECONDS.get(str(profile.get("unit")))

        def amount(value: float, scale: float | None = scale, unit: str = str(profile.get("unit"))) -> str:
            return format_seconds(value * scale) if scale is not None else f"{value:g} {unit}"

        span = float(profile.get("endValue", 0)) - float(profile.get("startValue", 0))
        lines = [
            f"{path}: {profile.get('type')} profile {profile.get('name', '')!r}, {amount(span)}; "
            "open it at https://www.speedscope.app (drag the file in) for the flame graph",
            f"{min(limit, len(total))} of {len(total)} functions by total time",
        ]
        rows = [("total", "self", "function")]
        for index in sorted(total, key=lambda frame: (-total[frame], frame))[:limit]:
            frame = frames[index] if 0 <= index < len(frames) else {"name": f"frame {index}"}
            where = f"  {frame['file']}:{frame.get('line')}" if frame.get("file") else ""
            rows.append((amount(total[index]), amount(own.get(index, 0.0)), f"{frame.get('name')}{where}"))
        widths = [max(len(row[column]) for row in rows) for column in range(2)]
        lines += [f"{row[0]:>{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]}" for row in rows]
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def _frame_weights(profile: Mapping[str, Any]) -> tuple[dict[int, float], dict[int, float]]:
    """Total (each frame once per stack) and self weight per frame index, of a sampled or evented profile."""
    total: dict[int, float] = {}
    own: dict[int, float] = {}
    if profile.get("type") == "sampled":
        weights = profile.get("weights") or []
        for stack, weight in zip(profile.get("samples") or [], weights, strict=False):
            for frame in set(stack):
                total[frame] = total.get(frame, 0.0) + weight
            if stack:
                own[stack[-1]] = own.get(stack[-1], 0.0) + weight
        return total, own
    open_frames: list[tuple[int, float]] = []
    depth: dict[int, int] = {}
    last = float(profile.get("startValue", 0))
    for event in profile.get("events") or []:
        at, frame = float(event["at"]), int(event["frame"])
        if open_frames:
            top = open_frames[-1][0]
            own[top] = own.get(top, 0.0) + at - last
        last = at
        if event["type"] == "O":
            open_frames.append((frame, at))
            depth[frame] = depth.get(frame, 0) + 1
        elif open_frames:
            opened, started = open_frames.pop()
            depth[opened] -= 1
            if not depth[opened]:  # a recursive frame counts once, from its outermost call
                total[opened] = total.get(opened, 0.0) + at - started
    return total, own


def _unit(text: str) -> float:
    """``--unit``: a unit name or its length in seconds, as ``lineprofile(unit=...)`` takes them."""
    if text in TIME_UNITS:
        return TIME_UNITS[text]
    try:
        seconds = float(text)
    except ValueError:
        seconds = None
    if seconds in TIME_UNITS.values():
        return seconds  # type: ignore[return-value]
    raise argparse.ArgumentTypeError(
        f"takes s, ms, us (or µs), ns, or the same in seconds (1, 1e-3, 1e-6, 1e-9); got {text!r}"
    )


def add_parser(commands: Any) -> None:
    """The ``show`` sub-command."""
    parser = commands.add_parser(
        "show", help="print dump files (.prof, .lprof, .json, .jsonl, .pyisession, ...) as the live records print",
    )
    parser.add_argument(
        "files", nargs="+", metavar="FILE",
        help="dump files the tools wrote, or folders of them (each file inside is shown)",
    )
    parser.add_argument("--sort", default="cumulative", choices=_SORT_KEYS,
                        help="pstats sort key of profile tables (default: cumulative)")
    parser.add_argument("--limit", type=int, default=20, help="rows of a profile table (default 20, as profileit)")
    parser.add_argument("--strip-dirs", action="store_true", help="drop directories from file names")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--callers", action="store_true", help="who called each function (pstats' listing)")
    which.add_argument("--callees", action="store_true", help="what each function called (pstats' listing)")
    parser.add_argument(
        "--unit", type=_unit, default=None,
        help="time unit of line tables: s, ms, us, ns, or seconds such as 1e-3 (default: us, as line_profiler)",
    )
    parser.set_defaults(handler=show)
