"""Aggregates: the calls of an ``aggregate=True`` probe folded into one record per flush.

The machinery owns an aggregate's state; the backend only merges payloads
(``merge``) and turns the result into the record's payload (``finish``).

* **One per decorated function**, and **one per block name**: a block written
  inline (``with profileit("step", aggregate=True):`` in a loop makes a new
  probe each time) finds the aggregate of its tool, name and options here, so
  all its runs land in one record and memory grows with names, not uses.
* **Flushing**: one hook for the process (``profiletools.flush()`` and
  interpreter exit) reports every aggregate holding calls, one record each.
  An aggregate is held here only while it holds unreported calls, so a
  decorated function that is discarded leaks nothing.
* **Fork**: a forked child starts with every aggregate empty (the calls before
  the fork are the parent's to report), and with fresh locks.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

from profiletools.core import delivery
from profiletools.core.backend import Backend, Skip

if TYPE_CHECKING:
    from profiletools.core.machinery import Probe


class Aggregate:
    """What one aggregating probe (or block name) has accumulated since its last flush."""

    __slots__ = (
        "__weakref__", "_lock", "backend", "calls", "cpu", "probe", "reason", "skipped", "started", "value", "wall",
    )

    def __init__(self, probe: Probe, backend: Backend) -> None:
        #: The probe whose settings (name, reporters, cpu, budget) the record is made with.
        self.probe = probe
        self.backend = backend
        self._lock = threading.Lock()
        delivery.fork_safe(self)
        self._clear()

    def _clear(self) -> None:
        self.value: Any = None
        self.calls = 0
        self.skipped = 0
        self.reason: str | None = None
        self.wall = 0.0
        self.cpu = 0.0
        self.started: float | None = None

    def add(self, started: float, wall: float, cpu: float | None, outcome: Any) -> None:
        """Count one finished call: its clocks, and its payload or :class:`Skip` (merged by the backend)."""
        payload = outcome
        with self._lock:
            if outcome.__class__ is Skip:
                self.skipped += 1
                self.reason = outcome.reason
                payload = outcome.payload
            if payload is not None:
                self.value = self.backend.merge(self.value, payload)
            self.calls += 1
            self.wall += wall
            if cpu is not None:
                self.cpu += cpu
            if self.started is None:
                self.started = started
                with _registry_lock:
                    _pending[self] = None

    def flush(self) -> None:
        """Report the calls since the last flush as one record (nothing when there were none)."""
        with self._lock:
            if not self.calls:
                return
            value, calls, skipped, reason = self.value, self.calls, self.skipped, self.reason
            wall, cpu, started = self.wall, self.cpu, self.started
            self._clear()
            with _registry_lock:
                _pending.pop(self, None)
        backend, probe = self.backend, self.probe
        payload = None if value is None else backend.finish(value)
        note = None
        if skipped:
            note = backend.aggregate_skipped.format(skipped=skipped, calls=calls, reason=reason)
        probe.emit(started or 0.0, wall, cpu if probe.cpu else None, None, payload, note)


#: Aggregates holding unreported calls (insertion-ordered; held strongly until flushed).
_pending: dict[Aggregate, None] = {}
#: The aggregate of each inline block: ``(tool, name, options...)`` -> aggregate.
_blocks: dict[Hashable, Aggregate] = {}
_registry_lock = threading.Lock()


def of_block(probe: Probe, key: Hashable, backend: Backend | None) -> Aggregate:
    """The aggregate of the blocks of ``key``, made with ``probe`` and ``backend`` if it is the first."""
    found = _blocks.get(key)
    if found is not None:
        return found
    with _registry_lock:
        found = _blocks.get(key)
        if found is None:
            if backend is None:
                backend = probe.factory(None, probe)  # type: ignore[misc]
            found = _blocks[key] = Aggregate(probe, backend)
    return found


def flush_all() -> None:
    """Report every aggregate holding calls (registered with :func:`delivery.on_flush`)."""
    with _registry_lock:
        pending = list(_pending)
    for aggregate in pending:
        aggregate.flush()


def pending_count() -> int:
    """How many aggregates hold unreported calls now."""
    return len(_pending)


def _after_fork_in_child() -> None:
    global _registry_lock
    _registry_lock = threading.Lock()
    for aggregate in list(_pending):
        aggregate._clear()
    _pending.clear()


delivery.on_flush(flush_all)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
