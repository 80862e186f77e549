"""``Dump``: one file per record in the tool's native format (``.prof``, ``.lprof``, ``.json``)."""

from __future__ import annotations

import collections
import functools
import itertools
import os
import re
import string
import threading
import time
from collections.abc import Callable, Sequence
from typing import IO, Any

from profiletools.core.delivery import fork_safe
from profiletools.core.settings import STATE, warn_once
from profiletools.reporters.files import safe_filename, write_atomically

#: The default file name: record name, process id, run token, sequence number.
DEFAULT_PATTERN = "{name}-{pid}-{run}-{seq:06d}{suffix}"
_FIELDS = {"name": "n", "tool": "t", "pid": 1, "run": "r", "seq": 1, "thread": 1, "suffix": ".x"}
_sequence = itertools.count(1)
_safe_name = functools.lru_cache(maxsize=1024)(safe_filename)

#: What each field of a pattern can hold, for recognizing the files a bounded ``Dump`` keeps.
_FIELD_SHAPES = {
    "name": r"[A-Za-z0-9._+-]+?", "tool": r"[A-Za-z0-9._+-]+?", "pid": r"[0-9]+", "thread": r"[0-9]+",
    "seq": r"[0-9]+", "run": r"[0-9]{8}T[0-9]{6}_[0-9a-f]{6}", "suffix": r"(?:\.[A-Za-z0-9]+)+",
}

#: Writes one file's bytes to the stream it is given.
FileWriter = Callable[[IO[bytes]], object]


def _new_run_token() -> str:
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "_" + os.urandom(3).hex()


_run = _new_run_token()


def run_token() -> str:
    """This process's run token, the ``{run}`` of dump names (e.g. ``20261123T101530_3fa9c1``).

    The UTC time the process (or forked child) started, to the second, and six
    random hex digits: names stay unique when a restarted container or a later
    child gets a process id used before, and sort by start time.
    """
    return _run


def _renew_run_token() -> None:
    global _run
    _run = _new_run_token()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_renew_run_token)


def default_directory() -> str:
    """``PROFILETOOLS_DIR`` if set, else ``./profiles``."""
    return os.environ.get("PROFILETOOLS_DIR") or "profiles"


def _check_bound(owner: str, argument: str, value: object) -> int | None:
    """``value`` if it is a whole number >= 1 or ``None``, else a ``ValueError`` naming ``owner(argument=)``."""
    if value is None or (type(value) is int and value >= 1):
        return value
    raise ValueError(f"{owner}({argument}=) must be a whole number >= 1, or None for no bound; got {value!r}")


class Dump:
    """Write each record to its own file in ``directory``.

    The file name comes from ``pattern`` (fields: ``name``, ``tool``, ``pid``,
    ``run``, ``seq``, ``thread``, ``suffix``). The default,
    ``{name}-{pid}-{run}-{seq:06d}{suffix}``, never collides across processes,
    restarts that reuse a process id, threads and calls, and sorts in writing
    order per process (``run`` is :func:`run_token`). Each record chooses its
    format through ``record.dump_files()`` (pstats ``.prof`` for ``profileit``,
    ``.lprof`` for ``lineprofile``, JSON for the rest). Files are written
    atomically; a fault is one warning per cause, never an exception in the
    profiled code. Names are sanitized, so a record name can never write
    outside ``directory``.

    ``max_files`` and ``max_bytes`` bound the directory: past either, the oldest
    records' files are deleted (whole records; the newest is always kept). The
    bound covers every file in ``directory`` whose name fits ``pattern``,
    including those of earlier runs and of other processes (the directory is
    read again every ``max_files`` writes, or every 1000), so give a bounded
    ``Dump`` a directory of its own.

    Writing costs the calling thread tens of microseconds per file (creating
    and renaming a file); ``reporters.Background(reporters.Dump(...))`` moves
    it to a worker thread.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        pattern: str = DEFAULT_PATTERN,
        max_files: int | None = None,
        max_bytes: int | None = None,
    ) -> None:
        if directory is None:
            directory = default_directory()
        if not isinstance(directory, (str, os.PathLike)) or not os.fspath(directory):
            raise TypeError(f"Dump(directory=) must be a non-empty path; got {directory!r}")
        if not isinstance(pattern, str):
            raise TypeError(f"Dump(pattern=) must be a string; got {type(pattern).__name__}")
        try:
            sample = pattern.format(**_FIELDS)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"Dump(pattern=) may use the fields {{name}}, {{tool}}, {{pid}}, {{run}}, {{seq}}, {{thread}}, "
                f"{{suffix}}; {pattern!r} fails with {type(exc).__name__}: {exc}"
            ) from None
        if "/" in sample or os.sep in sample or sample.startswith(".") or "{suffix}" not in pattern:
            raise ValueError(
                f"Dump(pattern=) must make a plain file name ending in {{suffix}} (no path separators, "
                f"no leading dot); got {pattern!r}"
            )
        max_files = _check_bound("Dump", "max_files", max_files)
        max_bytes = _check_bound("Dump", "max_bytes", max_bytes)
        self.directory = os.fspath(directory)
        self.pattern = pattern
        self.max_files = max_files
        self.max_bytes = max_bytes
        #: The paths written most recently (up to 1000), oldest first.
        self.written: collections.deque[str] = collections.deque(maxlen=1000)
        self._kept = None if max_files is None and max_bytes is None else _Kept(self)

    def report(self, record: Any) -> None:
        """Write the record's files; returns after the rename (or after one warning)."""
        self.write(record, record.dump_files())

    def write(self, record: Any, files: Sequence[tuple[str, FileWriter]]) -> list[str]:
        """Write one record's ``files`` (``(suffix, writer)`` pairs) under one sequence number; the paths written."""
        if not files:
            return []
        seq = next(_sequence)
        name = _safe_name(str(record.name))
        paths = []
        size = 0
        for suffix, write in files:
            filename = self.pattern.format(
                name=name, tool=record.tool, pid=STATE.pid, run=_run, seq=seq, thread=record.thread, suffix=suffix,
            )
            path = os.path.join(self.directory, filename)
            written = write_atomically(path, write)
            if written is not None:
                self.written.append(path)
                paths.append(path)
                size += written
        if self._kept is not None and paths:
            self._kept.add(paths, size)
        return paths


class _Kept:
    """The files a bounded :class:`Dump` keeps, oldest record first; deletes past the bound."""

    def __init__(self, dump: Dump) -> None:
        self.dump = dump
        self.records: collections.deque[tuple[list[str], int]] = collections.deque()
        self.files = 0
        self.bytes = 0
        self.rescan_every = dump.max_files or 1000
        self.until_scan = 0  # read the directory before the first record is counted
        self.fits, self.key = _pattern_reader(dump.pattern)
        self._lock = threading.Lock()
        fork_safe(self)

    def add(self, paths: list[str], size: int) -> None:
        """Count one record's files, re-reading the directory when due; delete the oldest past the bound."""
        with self._lock:
            if self.until_scan <= 0:
                self._scan(exclude=paths)
            self.until_scan -= 1
            self.records.append((paths, size))
            self.files += len(paths)
            self.bytes += size
            self._prune()

    def _over(self) -> bool:
        limit_files, limit_bytes = self.dump.max_files, self.dump.max_bytes
        return (limit_files is not None and self.files > limit_files) or (
            limit_bytes is not None and self.bytes > limit_bytes
        )

    def _prune(self) -> None:
        while len(self.records) > 1 and self._over():
            paths, size = self.records.popleft()
            self.files -= len(paths)
            self.bytes -= size
            for path in paths:
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass  # deleted by someone else: it no longer counts either way
                except OSError as exc:
                    warn_once("prune", f"{self.dump.directory}:{exc.errno}",
                              f"could not delete {path} to keep Dump's bound ({exc.strerror or exc})")

    def _scan(self, exclude: list[str]) -> None:
        """Rebuild the list from the directory: every file whose name fits the pattern, oldest first."""
        self.until_scan = self.rescan_every
        directory = self.dump.directory
        skip = {os.path.basename(path) for path in exclude}
        groups: dict[str, tuple[tuple[int, int], list[str], int]] = {}
        try:
            entries = list(os.scandir(directory))
        except OSError:
            entries = []
        for entry in entries:
            match = self.fits(entry.name)
            if match is None or entry.name in skip:
                continue
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            stem, seq = self.key(match)
            order, paths, size = groups.get(stem, ((info.st_mtime_ns, seq), [], 0))
            paths.append(entry.path)
            groups[stem] = (min(order, (info.st_mtime_ns, seq)), paths, size + info.st_size)
        # oldest first: by time written, and by sequence number within one tick of the file system's clock
        ordered = sorted(groups.values(), key=lambda group: group[0])
        self.records = collections.deque((paths, size) for _, paths, size in ordered)
        self.files = sum(len(paths) for paths, _ in self.records)
        self.bytes = sum(size for _, size in self.records)


def _pattern_reader(pattern: str) -> tuple[Callable[[str], re.Match[str] | None], Callable[[re.Match[str]], Any]]:
    """A matcher for the file names ``pattern`` makes, and a key that orders and groups them.

    The key is the name without its suffix (one record's files share it) and
    the sequence number (the writing order within a process).
    """
    parts = []
    named: set[str] = set()
    for literal, field, _spec, conversion in string.Formatter().parse(pattern):
        parts.append(re.escape(literal))
        if field is None:
            continue
        shape = _FIELD_SHAPES.get(field) if conversion is None else None
        if shape is None:  # an attribute, index or conversion: any text
            parts.append(".+?")
        elif field in ("suffix", "seq") and field not in named:
            named.add(field)
            parts.append(f"(?P<{field}>{shape})")
        else:
            parts.append(f"(?:{shape})")
    regex = re.compile("".join(parts))

    def key(match: re.Match[str]) -> tuple[str, int]:
        start, end = match.span("suffix")
        seq = int(match.group("seq")) if "seq" in named else 0
        return match.string[:start] + match.string[end:], seq

    return regex.fullmatch, key
