"""The reporter contract, written down as Protocols.

A reporter is any object with ``report(record)``; a plain callable taking the
record works too. Reporters run on the thread that made the record, after its
measurement ended; anything they raise becomes one warning, never an error in
the profiled program (:mod:`profiletools.core.delivery` sees to it).

Everything beyond ``report`` is optional, and found by looking for the method:

* :class:`ScopedReporter` — ``open(probe)`` is called as each measured call or
  block starts (before its clocks are read) and returns a :class:`Scope`; the
  scope is called with the call's record when the call ends (``None`` if it
  made none). Such a reporter's ``report`` only gets records made outside a
  call, such as aggregates reported on flush.
* :class:`PausableScope` — a scope with ``pause()``/``resume()`` is told when
  the measured generator or coroutine is suspended and runs again.
* :class:`Flushable` — ``flush()`` writes what is buffered; reporters that
  buffer register it with :func:`profiletools.core.delivery.on_flush`.
* :class:`Closable` — ``close()`` releases files and threads.

>>> from profiletools import reporters
>>> isinstance(reporters.Collect(), Reporter), isinstance(print, Reporter)
(True, False)
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Reporter(Protocol):
    """What the tools hand records to."""

    def report(self, record: Any) -> None:
        """Consume one record (a :class:`profiletools.core.records.Record`)."""


class ProbeInfo(Protocol):
    """What a scoped reporter may read of the probe whose call starts."""

    tool: str
    name: str | None
    qualname: str | None
    module: str | None


class Scope(Protocol):
    """Returned by ``open(probe)``: called once with the call's record, or ``None``."""

    def __call__(self, record: Any, /) -> object:
        """The call ended; ``record`` is its record (``None`` when it made none)."""


@runtime_checkable
class PausableScope(Scope, Protocol):
    """A scope told when the measured generator or coroutine is suspended and resumed."""

    def pause(self) -> None:
        """The measured code is suspended: step aside (for example detach a tracing context)."""

    def resume(self) -> None:
        """The measured code runs again."""


@runtime_checkable
class ScopedReporter(Reporter, Protocol):
    """A reporter that follows each measured call from its start (tracing spans)."""

    def open(self, probe: ProbeInfo) -> Scope:
        """A measured call of ``probe`` starts now; return the scope that gets its record."""


@runtime_checkable
class Flushable(Protocol):
    """A reporter that buffers: ``flush`` writes what it holds."""

    def flush(self) -> None:
        """Write everything buffered."""


@runtime_checkable
class Closable(Protocol):
    """A reporter that holds files or threads."""

    def close(self) -> None:
        """Release them; later records are dropped or reopen them, as the reporter documents."""
