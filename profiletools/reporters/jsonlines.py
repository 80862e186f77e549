"""``JsonLines``: one JSON object per record, appended to a file."""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

from profiletools.core.delivery import fork_safe
from profiletools.core.settings import STATE, warn_once
from profiletools.reporters.files import describe_os_error


class JsonLines:
    """Append ``record.to_dict()`` as one JSON line to ``path``.

    Each line is written with a single ``write`` on a file opened with
    ``O_APPEND``, so several threads and processes can append to one file and
    it only ever holds whole lines. The file is opened on the first record.
    If the file is deleted or rotated away while open (logrotate), it is
    reopened at its path within a second rather than written into the void.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
            raise TypeError(f"JsonLines(path=) must be a non-empty file path; got {path!r}")
        self.path = os.fspath(path)
        self._fd: int | None = None
        self._pid = -1
        self._identity: tuple[int, int] | None = None
        self._next_check = 0.0
        #: Descriptors replaced after a rotation: other threads may still be writing
        #: to them, and closing one would let its number be reused by another file.
        self._retired: list[int] = []
        self._lock = threading.Lock()
        fork_safe(self)

    def report(self, record: Any) -> None:
        """Append the record as one line; a write fault warns once per cause."""
        line = (json.dumps(record.to_dict(), ensure_ascii=False, default=repr) + "\n").encode("utf-8")
        try:
            fd = self._fd if self._pid == STATE.pid else None
            if fd is not None and time.monotonic() >= self._next_check:
                fd = self._still_at_path(fd)
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
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                info = os.fstat(fd)
                self._identity = (info.st_dev, info.st_ino)
                self._next_check = time.monotonic() + 1.0
                self._pid = STATE.pid
                self._fd = fd  # published last: other threads see a fully set-up file
            return self._fd

    def _still_at_path(self, fd: int) -> int | None:
        """``fd`` if it is still the file at ``path``; else close it (the caller reopens)."""
        self._next_check = time.monotonic() + 1.0
        try:
            info = os.stat(self.path)
            if (info.st_dev, info.st_ino) == self._identity:
                return fd
        except OSError:
            pass
        with self._lock:
            if self._fd == fd:
                self._retired.append(fd)
                self._fd = None
        return None

    def close(self) -> None:
        """Close the file (it is reopened by the next record); call it when no thread is reporting."""
        with self._lock:
            if self._pid == STATE.pid:
                for fd in [*self._retired, *([self._fd] if self._fd is not None else [])]:
                    os.close(fd)
            self._retired = []
            self._fd = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001, S110 - interpreter shutdown
            pass
