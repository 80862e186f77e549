"""``JsonLines``: one JSON object per record, appended to a file."""

from __future__ import annotations

import json
import os
import threading
from typing import Any

from profiletools.reporters.files import describe_os_error
from profiletools.settings import STATE, warn_once


class JsonLines:
    """Append ``record.to_dict()`` as one JSON line to ``path``.

    Each line is written with a single ``write`` on a file opened with
    ``O_APPEND``, so several threads and processes can append to one file and
    it only ever holds whole lines. The file is opened on the first record.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
            raise TypeError(f"JsonLines(path=) must be a non-empty file path; got {path!r}")
        self.path = os.fspath(path)
        self._fd: int | None = None
        self._pid = -1
        self._lock = threading.Lock()

    def report(self, record: Any) -> None:
        """Append the record as one line; a write fault warns once per cause."""
        line = (json.dumps(record.to_dict(), ensure_ascii=False, default=repr) + "\n").encode("utf-8")
        try:
            fd = self._fd if self._pid == STATE.pid else None
            if fd is None:
                fd = self._open()
            written = os.write(fd, line)
            if written != len(line):  # a short write (disk full mid-line): finish or give up
                os.write(fd, line[written:])
        except OSError as exc:
            warn_once(
                "write", f"{self.path}:{exc.errno}",
                f"could not append to {self.path} ({describe_os_error(exc)}); the profiled code is not affected",
            )

    def _open(self) -> int:
        with self._lock:
            if self._fd is None or self._pid != STATE.pid:
                directory = os.path.dirname(self.path)
                if directory:
                    os.makedirs(directory, exist_ok=True)
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                self._pid = STATE.pid
            return self._fd

    def close(self) -> None:
        """Close the file (it is reopened by the next record)."""
        with self._lock:
            if self._fd is not None and self._pid == STATE.pid:
                os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001, S110 - interpreter shutdown
            pass
