"""``Background``: hand records to other reporters on a worker thread.

Reporters normally run on the calling thread, after the measurement ended:
they never stretch the measured time, but a slow one (a network sink, a disk
under load) delays the caller's return. Wrapping them in ``Background`` moves
that cost to a daemon thread; the caller pays a queue put (~1 µs).
"""

from __future__ import annotations

import queue
import threading
from typing import Any

from profiletools.core.delivery import Targets, deliver, fork_safe, on_flush
from profiletools.core.settings import STATE, warn_once


class Background:
    """Deliver records to ``reporters`` on a background thread.

    ``maxsize`` bounds the queue: when the worker falls behind, new records
    are dropped (one warning, and ``dropped`` counts them) rather than
    blocking the profiled code or growing memory without end. ``flush()``
    (also run by ``profiletools.flush()`` and at exit) waits until the queue
    is empty. In a forked child the worker is started again on first use.
    """

    def __init__(self, *reporters: Any, maxsize: int = 10_000) -> None:
        from profiletools.core.delivery import check_reporters

        if type(maxsize) is not int or maxsize < 1:
            raise ValueError(f"Background(maxsize=) must be a whole number >= 1; got {maxsize!r}")
        if not reporters:
            raise TypeError("Background() needs at least one reporter to run in the background")
        self.targets: Targets = check_reporters(list(reporters)) or Targets()
        self.maxsize = maxsize
        self.dropped = 0
        self._queue: queue.Queue[Any] = queue.Queue(maxsize)
        self._worker: threading.Thread | None = None
        self._pid = -1
        self._lock = threading.Lock()
        fork_safe(self)
        on_flush(self.flush)

    def report(self, record: Any) -> None:
        """Queue the record for the worker (dropped with one warning when the queue is full)."""
        if self._pid != STATE.pid:
            self._start()
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1
            warn_once("background", str(id(self)), f"Background queue full ({self.maxsize}); dropping records")

    def flush(self, timeout: float | None = 10.0) -> None:
        """Wait until every queued record was delivered (or ``timeout`` seconds passed)."""
        if self._pid != STATE.pid:
            return
        done = threading.Event()
        try:
            self._queue.put(done, timeout=timeout)
        except queue.Full:
            return
        done.wait(timeout)

    def _start(self) -> None:
        with self._lock:
            if self._pid == STATE.pid:
                return
            self._queue = queue.Queue(self.maxsize)  # a parent's queued records stay the parent's
            self._worker = threading.Thread(target=self._run, name="profiletools-background", daemon=True)
            self._pid = STATE.pid
            self._worker.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if isinstance(item, threading.Event):
                item.set()
                continue
            deliver(item, self.targets)
