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

#: Seconds between checks that the path still names the open file (one ``stat`` each).
CHECK_INTERVAL = 1.0


class _Open:
    """One open descriptor and the writers using it right now.

    A descriptor replaced after a rotation is closed by whoever leaves it last:
    closing it under a writer would fail that write (``EBADF``) or, worse, send
    it into another file that reused the number.
    """

    __slots__ = ("fd", "identity", "replaced", "users")

    def __init__(self, fd: int, identity: tuple[int, int]) -> None:
        self.fd = fd
        self.identity = identity
        self.users = 0
        self.replaced = False


class JsonLines:
    """Append ``record.to_dict()`` as one JSON line to ``path``.

    Each line is written with a single ``write`` on a file opened with
    ``O_APPEND``, so several threads and processes can append to one file and
    it only ever holds whole lines. The file is opened on the first record.
    If the file is renamed or deleted while open (logrotate), it is reopened
    at its path within a second, and the old descriptor is closed as soon as
    no thread is writing to it: rotations hold no file and no disk space.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
            raise TypeError(f"JsonLines(path=) must be a non-empty file path; got {path!r}")
        self.path = os.fspath(path)
        self._file: _Open | None = None
        self._pid = -1
        self._next_check = 0.0
        self._lock = threading.Lock()
        fork_safe(self)

    def report(self, record: Any) -> None:
        """Append the record as one line; a write fault warns once per cause."""
        line = (json.dumps(record.to_dict(), ensure_ascii=False, default=repr) + "\n").encode("utf-8")
        try:
            held = self._hold()
        except OSError as exc:
            self._warn(exc)
            return
        try:
            written = os.write(held.fd, line)
            if written != len(line):  # a short write (disk full mid-line): finish or give up
                os.write(held.fd, line[written:])
        except OSError as exc:
            self._warn(exc)
        finally:
            self._release(held)

    def _warn(self, exc: OSError) -> None:
        warn_once(
            "write", f"{self.path}:{exc.errno}",
            f"could not append to {self.path} ({describe_os_error(exc)}); the profiled code is not affected",
        )

    def _hold(self) -> _Open:
        """The file to write to, counted as in use until :meth:`_release`; opened or reopened as needed."""
        rotated = False
        if time.monotonic() >= self._next_check:
            self._next_check = time.monotonic() + CHECK_INTERVAL
            rotated = self._rotated()
        with self._lock:
            current = self._file
            if current is not None and (rotated or self._pid != STATE.pid):
                self._retire(current)
                current = None
            if current is None:
                current = self._file = self._open()
            current.users += 1
            return current

    def _release(self, held: _Open) -> None:
        with self._lock:
            held.users -= 1
            if held.replaced and held.users == 0:
                self._close(held)

    def _rotated(self) -> bool:
        """Whether ``path`` no longer names the open file (renamed, deleted or replaced)."""
        current = self._file
        if current is None or self._pid != STATE.pid:
            return False
        try:
            info = os.stat(self.path)
        except OSError:
            return True
        return (info.st_dev, info.st_ino) != current.identity

    def _open(self) -> _Open:
        """Open ``path`` for appending (called with the lock held)."""
        directory = os.path.dirname(self.path)
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except FileNotFoundError:
            if not directory:
                raise
            os.makedirs(directory, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        info = os.fstat(fd)
        self._pid = STATE.pid
        self._next_check = time.monotonic() + CHECK_INTERVAL
        return _Open(fd, (info.st_dev, info.st_ino))

    def _retire(self, current: _Open) -> None:
        """Stop handing out ``current``; close it now if no thread writes to it (lock held)."""
        self._file = None
        if self._pid != STATE.pid:
            return  # a forked child: the parent's descriptor and writers are not ours to close
        current.replaced = True
        if current.users == 0:
            self._close(current)

    @staticmethod
    def _close(current: _Open) -> None:
        current.users = -1  # closed: never closed twice
        try:
            os.close(current.fd)
        except OSError:
            pass

    def close(self) -> None:
        """Close the file now, or as soon as the threads writing to it are done; the next record reopens it."""
        with self._lock:
            if self._file is not None:
                self._retire(self._file)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001, S110 - interpreter shutdown
            pass
