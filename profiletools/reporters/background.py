"""``Background``: hand records to other reporters on a worker thread.

Reporters normally run on the calling thread, after the measurement ended:
they never stretch the measured time, but a slow one (a network sink, a disk
under load) delays the caller's return. Wrapping them in ``Background`` moves
that cost to a daemon thread; the caller pays a queue put (~1 µs).

Every record handed to ``Background`` is delivered or counted in ``dropped``,
and each loss is said: a full queue warns once; ``flush()`` warns once when
its wait ends with records still queued (they are delivered later); at exit
the queue gets ``exit_timeout`` seconds (and a delivery under way when they
end, at most as long again to finish) and what is left is reported in one
line on stderr.

A ``Background`` made per use (``reporters=[Background(...)]`` inside a
loop) costs nothing once it is dropped: the worker delivers what was queued,
then ends, and its flush hook goes with it. The worker holds the queue and
the reporters (a :class:`_Pipe`), never the ``Background`` itself.
``close()`` does the same at a moment of the caller's choosing and waits for
the worker to end (a server shutting down, a test that must leave no thread
running: on Python 3.12+ cProfile sees every thread, so a worker ending
during another test's profile would show up in it); records reported after
it are delivered on the reporting thread.
"""

from __future__ import annotations

import math
import queue
import sys
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from profiletools.core.delivery import Targets, deliver, fork_safe, on_flush
from profiletools.core.settings import STATE, warn_once

#: Put in the queue when the ``Background`` is gone: the worker delivers what came before, then ends.
_RETIRE = object()


class _CountingQueue(queue.Queue[Any]):
    """A queue that counts the records it ever accepted (under its own lock, so exactly)."""

    accepted: int

    def _init(self, maxsize: int) -> None:
        super()._init(maxsize)
        self.accepted = 0

    def _put(self, item: Any) -> None:
        super()._put(item)
        self.accepted += 1

    def retire(self) -> None:
        """Queue the end marker even when the queue is full; it is not a record, so it is not counted."""
        with self.mutex:
            self.queue.append(_RETIRE)
            self.unfinished_tasks += 1
            self.not_empty.notify()


class _Pipe:
    """The queue, the reporters and the counts of one ``Background``: all its worker thread needs."""

    def __init__(self, targets: Targets, maxsize: int, exit_timeout: float) -> None:
        self.targets = targets
        self.maxsize = maxsize
        self.exit_timeout = exit_timeout
        self.handed = 0  # records the worker handed to the reporters (a delivery started)
        self.done = 0  # records the worker delivered (a delivery finished)
        self.here = 0  # records delivered on the reporting thread (no worker could be started, at exit)
        self.dropped = 0  # refused by a full queue, or still queued when the exit wait ended
        self.dropped_full = 0
        self.queue = _CountingQueue(maxsize)
        self.worker: threading.Thread | None = None
        self.pid = -1
        self.closed = False
        #: ``close()`` was called: the worker delivers what was queued and ends; later records go ``deliver_here``.
        self.stopped = False
        #: Whether ``report`` queues records (False once the exit drain or ``close()`` began).
        self.accepting = True
        self.retired = False
        self.waiters = 0
        self.progress = threading.Condition(threading.Lock())
        self._lock = threading.Lock()
        fork_safe(self)
        self.unregister: Callable[[], None] = on_flush(self.flush_hook, late=True)

    def report(self, record: Any) -> None:
        if self.pid != STATE.pid and not self.start():
            self.deliver_here(record)  # at exit no thread can start, or close() ended the worker
            return
        if not self.accepting:
            if self.closed:
                self.count_dropped(full=False)
                _say("Background: a record reported after the exit drain is dropped")
            else:  # close() is ending the worker: the record goes behind no end marker
                self.deliver_here(record)
            return
        try:
            self.queue.put_nowait(record)
        except queue.Full:
            self.count_dropped(full=True)
            warn_once("background", str(id(self)), f"Background queue full ({self.maxsize}); dropping records")

    def deliver_here(self, record: Any) -> None:
        """Deliver ``record`` on the reporting thread (no worker runs for it)."""
        deliver(record, self.targets)
        with self._lock:
            self.here += 1

    def start(self) -> bool:
        """Start the worker in this process; False when no thread can start (interpreter shutdown, or closed)."""
        with self._lock:
            if self.pid == STATE.pid:
                return True
            if self.stopped:
                return False
            self.queue = _CountingQueue(self.maxsize)  # a parent's queued records stay the parent's
            self.handed = self.done = self.here = self.dropped = self.dropped_full = 0
            self.closed = False
            self.accepting = True
            worker = threading.Thread(target=_work, args=(self,), name="profiletools-background", daemon=True)
            try:
                worker.start()
            except RuntimeError:
                return False
            self.worker = worker
            self.pid = STATE.pid
            return True

    def retire(self) -> None:
        """The ``Background`` is gone: deliver what is queued, then let the worker end and drop the hook."""
        with self._lock:
            self.retired = True
            running = self.pid == STATE.pid
        if not running:
            self.unregister()
        elif not self.stopped:
            self.queue.retire()
        elif self.worker is None or not self.worker.is_alive():  # closed: a live worker unregisters as it ends
            self.unregister()

    def wait(self, timeout: float | None) -> int:
        """Wait for the records accepted until now; how many of them are not delivered yet.

        After the exit drain none is: what it could not deliver it counted as dropped.
        """
        target = self.queue.accepted
        self._wait_for(lambda: self.done >= target or self.closed, timeout)
        return self._undelivered(target)

    def _undelivered(self, accepted: int) -> int:
        """How many of the first ``accepted`` records are not delivered yet; none once the exit drain counted them."""
        return 0 if self.closed else max(0, accepted - self.done)

    def _wait_for(self, predicate: Callable[[], bool], timeout: float | None) -> None:
        with self.progress:
            self.waiters += 1
            try:
                self.progress.wait_for(predicate, timeout)
            finally:
                self.waiters -= 1

    def flush(self, timeout: float | None) -> int:
        """``Background.flush``: wait for the records queued so far; how many are still queued (said once)."""
        if self.pid != STATE.pid or threading.current_thread() is self.worker:
            return 0
        pending = self.wait(timeout)
        if pending:
            warn_once(
                "background-flush", str(id(self)),
                f"Background: {pending} records still queued after flush() waited {timeout} s; they are "
                "delivered later (the reporters behind it are slower than the records come)",
            )
        return pending

    def close(self, timeout: float | None) -> int:
        """``Background.close``: the worker delivers what was queued, then ends; wait for it at most ``timeout``."""
        with self._lock:
            if self.stopped:
                return 0
            self.stopped = True
            self.accepting = False
            worker = self.worker if self.pid == STATE.pid and not self.closed else None
        if worker is None:  # no worker here (never started, a forked child's, or drained at exit)
            return 0
        self.queue.retire()  # behind every record queued: the worker delivers them first
        if threading.current_thread() is not worker:
            worker.join(timeout)
        pending = self._undelivered(self.queue.accepted)
        if pending:
            warn_once(
                "background-close", str(id(self)),
                f"Background: {pending} records still queued after close() waited {timeout} s; the worker "
                "delivers them, then ends",
            )
        return pending

    def flush_hook(self) -> None:
        if STATE.exiting:
            self.drain_at_exit()
        else:
            self.flush(10.0)

    def drain_at_exit(self) -> None:
        """Give the worker ``exit_timeout`` seconds, then count what it could not deliver; one line says it."""
        if self.pid != STATE.pid or self.closed:
            return
        started = time.monotonic()
        self.wait(self.exit_timeout)
        with self._lock:
            self.closed = True  # the worker starts no delivery after this: the counts below are final
            self.accepting = False
            under_way = self.handed > self.done
        with self.progress:
            self.progress.notify_all()
        if under_way:  # a record in the reporters' hands is delivered, not lost: let that delivery end
            self._wait_for(lambda: self.done >= self.handed, self.exit_timeout)
        with self._lock:
            lost = self.queue.accepted - self.handed
            self.dropped += lost
            unfinished = self.handed - self.done
            delivered, dropped, full = self.handed + self.here, self.dropped, self.dropped_full
        if lost or unfinished:
            still = f"; {unfinished} of them still in the reporters' hands" if unfinished else ""
            _say(
                f"Background: {lost} of the records queued at exit not delivered within "
                f"exit_timeout={self.exit_timeout:g} s (waited {time.monotonic() - started:.2f} s); "
                f"{dropped} dropped in all ({full} when the queue was full), {delivered} delivered{still}"
            )
        elif dropped:
            _say(f"Background: {dropped} records dropped in all (the queue was full), {delivered} delivered")

    def count_dropped(self, *, full: bool) -> None:
        with self._lock:
            self.dropped += 1
            self.dropped_full += full


def _work(pipe: _Pipe) -> None:
    """The worker thread: deliver queued records in order until the exit drain or the end marker."""
    pending = pipe.queue
    while True:
        record = pending.get()
        if pipe.closed:
            return
        if record is _RETIRE:
            if pipe.stopped:  # close(): a record put by a report() that began before it is delivered too
                _deliver_stragglers(pipe, pending)
            pipe.unregister()
            return
        if not _deliver_one(pipe, record):
            return


def _deliver_one(pipe: _Pipe, record: Any) -> bool:
    """Deliver one queued record, counted as handed and done; False once the exit drain has closed the pipe."""
    with pipe._lock:
        if pipe.closed:
            return False  # counted as lost by the exit drain
        pipe.handed += 1
    deliver(record, pipe.targets)
    with pipe._lock:
        pipe.done += 1
    if pipe.waiters:
        with pipe.progress:
            pipe.progress.notify_all()
    return True


def _deliver_stragglers(pipe: _Pipe, pending: _CountingQueue) -> None:
    """After ``close()``'s end marker: deliver what a ``report()`` begun before it still put."""
    while True:
        try:
            record = pending.get_nowait()
        except queue.Empty:
            return
        if record is not _RETIRE and not _deliver_one(pipe, record):
            return


class Background:
    """Deliver records to ``reporters`` on a background thread.

    ``maxsize`` bounds the queue: when the worker falls behind, new records
    are dropped (one warning) rather than blocking the profiled code or
    growing memory without end. ``flush()`` (also run by
    ``profiletools.flush()``, after every aggregate was reported) waits until
    the records queued so far are delivered, at most ``timeout`` seconds. At
    interpreter exit the worker gets at most ``exit_timeout`` seconds (and a
    delivery under way when they end, at most as long again to finish); the
    records it could not hand to the reporters are lost, counted in
    ``dropped`` and named in one line on stderr. ``delivered + dropped`` is every record reported.
    In a forked child the worker is started again on first use, with counts
    of its own. When the ``Background`` is dropped, or ``close()`` is
    called, its worker delivers what was queued and ends.
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
        self._pipe = _Pipe(self.targets, maxsize, self.exit_timeout)
        # Only when the Background is dropped, not at exit: there the flush hook drains it.
        weakref.finalize(self, self._pipe.retire).atexit = False

    @property
    def delivered(self) -> int:
        """Records handed to the reporters so far (in this process)."""
        return self._pipe.handed + self._pipe.here

    @property
    def dropped(self) -> int:
        """Records never delivered: refused by a full queue, or still queued when the exit wait ended."""
        return self._pipe.dropped

    def report(self, record: Any) -> None:
        """Queue the record for the worker (dropped with one warning when the queue is full)."""
        self._pipe.report(record)

    def flush(self, timeout: float | None = 10.0) -> int:
        """Wait until every record queued so far was delivered, at most ``timeout`` seconds (``None``: no limit).

        Returns how many of them are still queued; they stay queued and are
        delivered later. When some are, one warning says how many.
        """
        return self._pipe.flush(_checked_timeout("flush", timeout))

    def close(self, timeout: float | None = 10.0) -> int:
        """Deliver the records queued so far, then end the worker thread; wait for it at most ``timeout`` seconds.

        Returns how many records were still queued when the wait ended (the
        worker delivers them, then ends; one warning says how many). Records
        reported after ``close()`` are delivered on the reporting thread, as
        if there were no ``Background``. Closing twice does nothing.
        """
        return self._pipe.close(_checked_timeout("close", timeout))


def _checked_timeout(method: str, timeout: Any) -> float | None:
    if timeout is not None and (type(timeout) not in (int, float) or not 0 <= timeout < math.inf):
        raise ValueError(f"Background.{method}(timeout=) must be a number of seconds >= 0 or None; got {timeout!r}")
    return timeout  # type: ignore[no-any-return]


def _say(line: str) -> None:
    """One line on stderr, at exit (when a warning could no longer be acted on, or be seen in order)."""
    stream = sys.stderr
    if stream is not None:
        try:
            stream.write(f"profiletools: {line}\n")
            stream.flush()
        except (OSError, ValueError):  # stderr closed at exit
            pass
