"""``Dump``: one file per record in the tool's native format (``.prof``, ``.lprof``, ``.json``)."""

from __future__ import annotations

import collections
import itertools
import os
from typing import Any

from profiletools.core.settings import STATE
from profiletools.reporters.files import atomic_write, safe_filename

_sequence = itertools.count(1)
_FIELDS = {"name": "n", "tool": "t", "pid": 1, "seq": 1, "thread": 1, "suffix": ".x"}


def default_directory() -> str:
    """``PROFILETOOLS_DIR`` if set, else ``./profiles``."""
    return os.environ.get("PROFILETOOLS_DIR") or "profiles"


class Dump:
    """Write each record to its own file in ``directory``.

    The file name comes from ``pattern`` (fields: ``name``, ``tool``, ``pid``,
    ``seq``, ``thread``, ``suffix``); the default names never collide across
    processes, threads and calls. Each record chooses its format through
    ``record.dump_files()`` (pstats ``.prof`` for ``profileit``, ``.lprof`` for
    ``lineprofile``, JSON for the rest). Files are written atomically; a fault
    is one warning per cause, never an exception in the profiled code. Names
    are sanitized, so a record name can never write outside ``directory``.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        pattern: str = "{name}-{pid}-{seq}{suffix}",
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
                f"Dump(pattern=) may use the fields {{name}}, {{tool}}, {{pid}}, {{seq}}, {{thread}}, "
                f"{{suffix}}; {pattern!r} fails with {type(exc).__name__}: {exc}"
            ) from None
        if "/" in sample or os.sep in sample or sample.startswith(".") or "{suffix}" not in pattern:
            raise ValueError(
                f"Dump(pattern=) must make a plain file name ending in {{suffix}} (no path separators, "
                f"no leading dot); got {pattern!r}"
            )
        self.directory = os.fspath(directory)
        self.pattern = pattern
        #: The paths written most recently (up to 1000), oldest first.
        self.written: collections.deque[str] = collections.deque(maxlen=1000)

    def report(self, record: Any) -> None:
        """Write the record's files; returns after the rename (or after one warning)."""
        seq = next(_sequence)
        name = safe_filename(str(record.name))
        for suffix, write in record.dump_files():
            filename = self.pattern.format(
                name=name, tool=record.tool, pid=STATE.pid, seq=seq, thread=record.thread, suffix=suffix,
            )
            path = os.path.join(self.directory, filename)
            if atomic_write(path, write):
                self.written.append(path)
