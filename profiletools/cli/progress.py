"""A progress bar for long command-line operations: on a terminal only, silent when piped."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import IO, TypeVar

T = TypeVar("T")


def progress(items: Iterable[T], total: int, label: str, stream: IO[str] | None = None) -> Iterator[T]:
    """Yield ``items``, drawing ``label [#####     ] 12/40`` on ``stream`` if it is a terminal.

    Redrawn at most ten times a second; cleared when done. Nothing is written
    when the stream is not a terminal (a pipe, a file, CI logs).
    """
    out = stream if stream is not None else sys.stderr
    interactive = out.isatty() and total > 1
    last_draw = 0.0
    done = 0
    for item in items:
        yield item
        done += 1
        now = time.monotonic()
        if interactive and (now - last_draw >= 0.1 or done == total):
            filled = int(30 * done / total)
            out.write(f"\r{label} [{'#' * filled}{' ' * (30 - filled)}] {done}/{total}")
            out.flush()
            last_draw = now
    if interactive:
        out.write("\r" + " " * (len(label) + 45) + "\r")
        out.flush()
