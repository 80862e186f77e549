"""Reading the files the tools write: ``.prof`` (pstats), ``.lprof`` (line_profiler),
``.json`` / ``.jsonl`` (records), ``.pyisession`` (pyinstrument), ``.speedscope.json``.
Every failure is a :class:`DumpError` whose message is one line naming the file
and what is wrong with it.
"""

from __future__ import annotations

import json
import marshal
import os
import pickle
import pstats
from typing import Any

#: File kinds by suffix.
KINDS = {".prof": "prof", ".pstats": "prof", ".lprof": "lprof", ".json": "records", ".jsonl": "records"}


class DumpError(Exception):
    """A dump file that cannot be used: missing, truncated or of the wrong format."""


#: Suffixes of two parts, recognized before the last part alone.
_DOUBLE_SUFFIXES = (".speedscope.json", ".lines.txt")


def suffix_of(path: str) -> str:
    """The file's suffix in lower case: ``.speedscope.json`` and ``.lines.txt`` whole, else the last one.

    >>> suffix_of("a/handle-1.speedscope.json"), suffix_of("b.PROF"), suffix_of("notes")
    ('.speedscope.json', '.prof', '')
    """
    lowered = os.path.basename(path).lower()
    for suffix in _DOUBLE_SUFFIXES:
        if lowered.endswith(suffix):
            return suffix
    return os.path.splitext(lowered)[1]


def kind_of(path: str) -> str:
    """``"prof"``, ``"lprof"`` or ``"records"``, from the file's suffix."""
    suffix = os.path.splitext(path)[1].lower()
    kind = KINDS.get(suffix)
    if kind is None:
        allowed = ", ".join(sorted(KINDS))
        raise DumpError(f"{path}: unknown file type {suffix or '(no suffix)'!r}; expected one of {allowed}")
    return kind


def _read_bytes(path: str) -> bytes:
    try:
        with open(path, "rb") as stream:
            data = stream.read()
    except FileNotFoundError:
        raise DumpError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DumpError(f"{path}: is a directory, not a dump file") from None
    except OSError as exc:
        raise DumpError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not data:
        raise DumpError(f"{path}: empty file")
    return data


def load_pstats(path: str) -> pstats.Stats:
    """Load a ``.prof`` file as ``pstats.Stats``, checking its structure first."""
    data = _read_bytes(path)
    try:
        raw = marshal.loads(data)
    except (EOFError, ValueError, TypeError):
        raise DumpError(f"{path}: not a pstats profile (truncated or another format)") from None
    if not isinstance(raw, dict) or not all(
        isinstance(key, tuple) and len(key) == 3 and isinstance(value, tuple) and len(value) == 5
        for key, value in raw.items()
    ):
        raise DumpError(f"{path}: not a pstats profile (unexpected content)")
    stats = pstats.Stats()
    stats.stats = raw  # type: ignore[attr-defined]
    stats.files = [path]  # type: ignore[attr-defined]
    stats.get_top_level_stats()  # type: ignore[attr-defined]
    return stats


def load_line_stats(path: str) -> Any:
    """Load a ``.lprof`` file as line_profiler's ``LineStats``."""
    data = _read_bytes(path)
    try:
        stats = pickle.loads(data)
    except Exception:  # noqa: BLE001 - any unpickling failure means "not a .lprof"
        raise DumpError(f"{path}: not a line_profiler .lprof file (truncated or another format)") from None
    if not (hasattr(stats, "timings") and hasattr(stats, "unit")):
        raise DumpError(f"{path}: not a line_profiler .lprof file (unexpected content)")
    return stats


def load_text(path: str) -> str:
    """A text file (such as a ``.lines.txt`` table), as it is."""
    return _read_bytes(path).decode("utf-8", errors="replace")


def load_session(path: str) -> Any:
    """Load a ``.pyisession`` file as pyinstrument's ``Session`` (needs pyinstrument)."""
    data = _read_bytes(path)
    try:
        from pyinstrument.session import Session
    except ImportError:
        from profiletools.core.extras import install_hint

        raise DumpError(f"{path}: reading pyinstrument sessions needs pyinstrument: {install_hint('sample')}") from None
    try:
        return Session.from_json(json.loads(data))
    except Exception:  # noqa: BLE001 - any failure to rebuild means "not a session file"
        raise DumpError(f"{path}: not a pyinstrument session (truncated or another format)") from None


def load_speedscope(path: str) -> dict[str, Any]:
    """Load a speedscope JSON file (https://www.speedscope.app/file-format-schema.json), checking its shape."""
    try:
        document = json.loads(_read_bytes(path))
    except json.JSONDecodeError as exc:
        raise DumpError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    if (
        not isinstance(document, dict) or "speedscope" not in str(document.get("$schema", ""))
        or not isinstance(document.get("profiles"), list)
        or not isinstance(document.get("shared", {}).get("frames"), list)
    ):
        raise DumpError(f"{path}: not a speedscope profile (no speedscope $schema, profiles and frames)")
    return document


def load_records(path: str) -> list[dict[str, Any]]:
    """Load record dicts from a ``.json`` dump (one record, or a list) or a ``.jsonl`` file."""
    text = _read_bytes(path).decode("utf-8", errors="replace")
    records: list[Any]
    if path.lower().endswith(".jsonl"):
        records = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise DumpError(f"{path}:{number}: not a JSON line ({exc.msg})") from None
    else:
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DumpError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
        records = loaded if isinstance(loaded, list) else [loaded]
    for record in records:
        if not isinstance(record, dict) or not isinstance(record.get("name"), str) or "wall" not in record:
            raise DumpError(f"{path}: not a profiletools record file (a record lacks 'name' or 'wall')")
    return records
