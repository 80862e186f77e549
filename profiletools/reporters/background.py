"""``Background``: hand records to other reporters on a worker thread.

Reporters normally run on the calling thread, after the measurement ended:
they never stretch the measured time, but a slow one (a network sink, a disk
under load) delays the caller's return. Wrapping them in ``Background`` moves
that cost to a daemon thread; the caller pays a queue put (~1 µs).

Every record handed to ``Background`` is delivered or counted in ``dropped``,
and each loss is said: a full queue warns once; ``flush()`` warns once when
its wait ends with records still queued (they are delivered later); at exit
the queue gets ``exit_timeout`` seconds and what is left is reported in one
line on stderr.
"""

from __future__ import annotations

import math
import queue
import sys
import threading
import time
from typing import Any

from profiletools.core.delivery import Targets, deliver, fork_safe, on_flush
from profiletools.core.settings import STATE, warn_once


class _CountingQueue(queue.Queue[Any]):
    """A queue that counts the records it ever accepted (under its own lock, so exactly)."""

    accepted: int

    def _init(self, maxsize: int) -> None:
        super()._init(maxsize)
        self.accepted = 0

    def _put(self, item: Any) -> None:
        super()._put(item)
        self.accepted += 1


class Background:
    """Deliver records to ``reporters`` on a background thread.

    ``maxsize`` bounds the queue: when the worker falls behind, new records
    are dropped (one warning) rather than blocking the profiled code or
    growing memory without end. ``flush()`` (also run by
    ``profiletools.flush()``, after every aggregate was reported) waits until
    the records queued so far are delivered, at most ``timeout`` seconds. At
    interpreter exit the worker gets at most ``exit_timeout`` seconds; the
    records it could not deliver are lost, counted in ``dropped`` and named
    in one line on stderr. ``delivered + dropped`` is every record reported.
    In a forked child the worker is started again on first use, with counts
    of its own.
    """

    def __init__(self, *reporters: Any, maxsize: int = 10_000, exit_timeout: float = 2.0) -> None:
        from profiletools.core.delivery import check_reporters

        if type(maxsize) is not int or maxsize < 1:
            raise ValueError(f"Background(maxsize=) must be a whole number >= 1; got {maxsize!r}")
        if type(exit_timeout) not in (int, float) or not (0 <= exit_timeout < math.inf):
            raise ValueError(f"Background(exit_timeout=) must be a number of seconds >= 0; got {exit_timeout!r}")
        if not reporters:
            raise TypeError("Background() needs at least one reporter to run in the background")
        self.targets: Targets = check_reporters(list(reporters)) or Targets()
        self.maxsize = maxsize
        self.exit_timeout = float(exit_timeout)
        self._done = 0  # records the worker delivered
        self._here = 0  # records delivered on the reporting thread (no worker could be started, at exit)
        #: Records never delivered: refused by a full queue, or still queued when the exit wait ended.
        self.dropped = 0
        self._dropped_full = 0
        self._queue = _CountingQueue(maxsize)
        self._worker: threading.Thread | None = None
        self._pid = -1
        self._closed = False
        self._waiters = 0
        self._progress = threading.Condition(threading.Lock())
        self._lock = threading.Lock()
        fork_safe(self)
        on_flush(self._flush_hook, late=True)

    @property
    def delivered(self) -> int:
        """Records handed to the reporters so far (in this process)."""
        return self._done + self._here

    def report(self, record: Any) -> None:
        """Queue the record for the worker (dropped with one warning when the queue is full)."""
        if self._pid != STATE.pid and not self._start():
            deliver(record, self.targets)  # at exit no thread can start: deliver it here, now
            with self._lock:
                self._here += 1
            return
        if self._closed:
            self._count_dropped(full=False)
            _say("Background: a record reported after the exit drain is dropped")
            return
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self._count_dropped(full=True)
            warn_once("background", str(id(self)), f"Background queue full ({self.maxsize}); dropping records")

    def flush(self, timeout: float | None = 10.0) -> int:
        """Wait until every record queued so far was delivered, at most ``timeout`` seconds (``None``: no limit).

        Returns how many of them are still queued; they stay queued and are
        delivered later. When some are, one warning says how many.
        """
        if self._pid != STATE.pid or threading.current_thread() is self._worker:
            return 0
        pending = self._wait(timeout)
        if pending:
            warn_once(
                "background-flush", str(id(self)),
                f"Background: {pending} records still queued after flush() waited {timeout} s; they are "
                "delivered later (the reporters behind it are slower than the records come)",
            )
        return pending

    def _flush_hook(self) -> None:
        if STATE.exiting:
            self._drain_at_exit()
        else:
            self.flush()

    def _wait(self, timeout: float | None) -> int:
        """Wait for the records accepted until now; how many of them are not delivered yet."""
        target = self._queue.accepted
        with self._progress:
            self._waiters += 1
            try:
                self._progress.wait_for(lambda: self._done >= target or self._closed, timeout)
            finally:
                self._waiters -= 1
        return max(0, target - self._done)

    def _drain_at_exit(self) -> None:
        """Give the worker ``exit_timeout`` seconds, then count what it could not deliver; one line says it."""
        if self._pid != STATE.pid or self._closed:
            return
        started = time.monotonic()
        self._wait(self.exit_timeout)
        with self._lock:
            self._closed = True  # the worker delivers nothing more: the counts below are final
            lost = self._queue.accepted - self._done
            self.dropped += lost
            delivered, dropped, full = self.delivered, self.dropped, self._dropped_full
        with self._progress:
            self._progress.notify_all()
        if lost:
            _say(
                f"Background: {lost} of the records queued at exit not delivered within "
                f"exit_timeout={self.exit_timeout:g} s (waited {time.monotonic() - started:.2f} s); "
                f"{dropped} dropped in all ({full} when the queue was full), {delivered} delivered"
            )
        elif dropped:
            _say(f"Background: {dropped} records dropped in all (the queue was full), {delivered} delivered")

    def _count_dropped(self, *, full: bool) -> None:
        with self._lock:
            self.dropped += 1
            self._dropped_full += full

    def _start(self) -> bool:
        """Start the worker in this process; False when no thread can start (interpreter shutdown)."""
        with self._lock:
            if self._pid == STATE.pid:
                return True
            self._queue = _CountingQueue(self.maxsize)  # a parent's queued records stay the parent's
            self._done = self._here = self.dropped = self._dropped_full = 0
            self._closed = False
            worker = threading.Thread(target=self._run, name="profiletools-background", daemon=True)
            try:
                worker.start()
            except RuntimeError:
                return False
            self._worker = worker
            self._pid = STATE.pid
            return True

    def _run(self) -> None:
        pending = self._queue
        while True:
            record = pending.get()
            if self._closed:
                return
            deliver(record, self.targets)
            with self._lock:
                if self._closed:
                    return  # counted as lost already
                self._done += 1
            if self._waiters:
                with self._progress:
                    self._progress.notify_all()


def _say(line: str) -> None:
    """One line on stderr, at exit (when a warning could no longer be acted on, or be seen in order)."""
    stream = sys.stderr
    if stream is not None:
        try:
            stream.write(f"profiletools: {line}\n")
            stream.flush()
        except (OSError, ValueError):  # stderr closed at exit
            pass
