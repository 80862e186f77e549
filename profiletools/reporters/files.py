"""File writing shared by the reporters that write files: safe names, atomic writes,
and faults (full disk, read-only or vanished directory) turned into one warning each."""

from __future__ import annotations

import errno
import os
import re
import tempfile
from collections.abc import Callable
from typing import IO

from profiletools.core.settings import warn_once

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")
_MAX_NAME = 120


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
    directory = os.path.dirname(path) or "."
    temp_path = None
    try:
        os.makedirs(directory, exist_ok=True)
        descriptor, temp_path = tempfile.mkstemp(prefix=".profiletools-", suffix=".tmp", dir=directory)
        os.fchmod(descriptor, 0o644)  # mkstemp makes 0600; a dump is an ordinary readable file
        with os.fdopen(descriptor, "wb") as stream:
            write(stream)
        os.replace(temp_path, path)
        return True
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
    if temp_path is not None:
        try:
            os.unlink(temp_path)
        except OSError:
            pass
    return False
