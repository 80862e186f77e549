"""File writing shared by the reporters that write files: safe names, atomic writes,
and faults (full disk, read-only or vanished directory) turned into one warning each."""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Callable
from typing import IO

from profiletools.core.settings import warn_once

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")
_MAX_NAME = 120
#: A new file that must not exist yet (a temporary file's name is random: it never does).
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL


def safe_filename(name: str) -> str:
    """A file name made from ``name`` that stays inside its directory.

    Path separators, ``..``, control and other unusual characters become ``_``;
    the result is never empty, never starts with a dot and is at most 120 characters.

    >>> safe_filename("../../etc/passwd")
    'etc_passwd'
    >>> safe_filename("db.query")
    'db.query'
    """
    cleaned = _UNSAFE.sub("_", re.sub(r"\.{2,}", "_", name))
    cleaned = re.sub(r"_{2,}", "_", cleaned).strip("._")
    return cleaned[:_MAX_NAME] or "unnamed"


def describe_os_error(exc: OSError) -> str:
    """The cause of a file fault in words, for the one warning per cause."""
    code = errno.errorcode.get(exc.errno or 0, "error")
    return f"{code}: {exc.strerror or exc}"


def atomic_write(path: str, write: Callable[[IO[bytes]], object]) -> bool:
    """Write a file by ``write(stream)`` into a temporary file, then rename it into place.

    Readers never see a partial file, and a failure leaves no file behind. A
    failure is reported as one warning per directory and cause; returns whether
    the file was written.
    """
    return write_atomically(path, write) is not None


def write_atomically(path: str, write: Callable[[IO[bytes]], object]) -> int | None:
    """:func:`atomic_write` that returns the size of the file written, or ``None`` after a fault.

    The temporary file sits next to ``path`` (``.profiletools-<random>.tmp``)
    and is created with the permissions of any new file (0644 less the umask);
    the directory is created only when it is missing.
    """
    directory = os.path.dirname(path) or "."
    temp_path = os.path.join(directory, f".profiletools-{os.urandom(6).hex()}.tmp")
    created = False
    try:
        try:
            descriptor = os.open(temp_path, _CREATE, 0o644)
        except FileNotFoundError:
            os.makedirs(directory, exist_ok=True)
            descriptor = os.open(temp_path, _CREATE, 0o644)
        created = True
        with open(descriptor, "wb") as stream:
            write(stream)
            size = stream.tell()
        os.replace(temp_path, path)
        return size
    except OSError as exc:
        warn_once(
            "write", f"{directory}:{exc.errno}",
            f"could not write {path} ({describe_os_error(exc)}); the profiled code is not affected",
        )
    except Exception as exc:  # noqa: BLE001 - a failing serializer must not reach user code
        warn_once(
            "write", f"{directory}:{type(exc).__qualname__}",
            f"could not write {path} ({type(exc).__qualname__}: {exc}); the profiled code is not affected",
        )
    if created:
        try:
            os.unlink(temp_path)
        except OSError:
            pass
    return None
