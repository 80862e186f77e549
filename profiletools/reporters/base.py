"""The reporter interface.

A reporter is any object with ``report(record)``; a plain callable taking the
record works too. Reporters run on the thread that made the record, after its
measurement ended; anything they raise becomes one warning, never an error in
the profiled program.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Reporter(Protocol):
    """What the tools hand records to."""

    def report(self, record: Any) -> None:
        """Consume one record (a :class:`profiletools.core.records.Record`)."""
