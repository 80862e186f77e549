"""Which clock samples a measurement, and its life: begin, the steps of a coroutine, end.

A plain call or a block is sampled from ``begin`` to ``end``. A generator or a
coroutine is sampled step by step: from each ``resume`` to the following
``pause``; the wall time a coroutine spends suspended goes, measured (not
sampled), to where it waits (its frame at the ``await`` and what it awaits).
A block written inside a coroutine is sampled throughout; while that
coroutine is suspended, the ticks find where it waits through its task.

The main thread is sampled by the signal clock, any other thread by the
thread clock (:mod:`.clock`); ``clock="thread"`` uses the thread clock for
the main thread too. When the signal clock cannot be had (not Linux, no
spare signal, the program took its handler), the main thread falls back to
the thread clock and the measurement says why.
"""

from __future__ import annotations

import sys
import threading
import time
from types import FrameType
from typing import Any, Literal

from profiletools.core.frames import is_own_file
from profiletools.tools.sampleprofile import clock as clocks
from profiletools.tools.sampleprofile.capture import Measurement, settle, suspended_at, wait_key

ClockName = Literal["auto", "thread"]
#: ``co_flags`` of code that runs as a coroutine or an async generator (``async def``).
_ASYNC = 0x0080 | 0x0200

_get_ident = threading.get_ident
_thread_time = time.thread_time


def calling_marker(frame: FrameType | None) -> FrameType | None:
    """From a frame of profiletools outwards: the last of ours before the user's code, which calls the user's
    callable (what a sample of a call ends at, not included)."""
    marker = None
    while frame is not None and is_own_file(frame.f_code.co_filename):
        marker = frame
        frame = frame.f_back
    return marker


def _running_task(frame: FrameType | None) -> Any:
    """The asyncio task running now, when ``frame`` is a coroutine's (its waits are read through it)."""
    if frame is None or not frame.f_code.co_flags & _ASYNC:
        return None
    asyncio = sys.modules.get("asyncio")
    if asyncio is None:
        return None
    try:
        return asyncio.current_task()
    except RuntimeError:  # no running event loop (another library drives the coroutine)
        return None


class Sampler:
    """Starts and stops measurements on the right clock; one per decorated function or block probe."""

    __slots__ = ("clock", "interval")

    def __init__(self, interval: float, clock: ClockName = "auto") -> None:
        self.interval = interval
        self.clock = clock

    def _clock(self, m: Measurement) -> clocks.Clock:
        manual = clocks.MANUAL
        if manual is not None:
            return manual
        if self.clock == "auto":
            reason = clocks.SIGNAL.unavailable()
            if reason is None:
                return clocks.SIGNAL
            if reason is not clocks.NOT_MAIN and reason is not clocks.EXITING:
                m.fallback = reason
        return clocks.THREAD

    def begin(self, marker: FrameType | None, *, block: bool = False, stepwise: bool = False) -> Measurement:
        """A new measurement, sampled from now on unless ``stepwise`` (then from its first :meth:`resume`).

        ``marker``: for a call, the frame that calls the user's code (a stepped
        call finds it at its first resume); for a block, the frame holding it.
        """
        m = Measurement(marker, block, self.interval)
        if block:
            m.task = _running_task(marker)
        clock = self._clock(m)
        m.t0 = clock.now()
        if not stepwise:
            m.clocks.add(clock.name)
            m.clock = clock
            m.cpu_mark = _thread_time()
            clock.start(m)
        return m

    def resume(self, m: Measurement, marker: FrameType | None) -> None:
        """A stepped call runs again (on this thread): sample it; the time since :meth:`pause` was a wait."""
        if m.marker is None:
            m.marker = marker
        m.thread = _get_ident()
        clock = self._clock(m)
        if m.suspended is not None:
            seconds = clock.now() - m.suspended_at
            m.awaited += seconds
            if m.suspended:
                settle(m)
                m.taken.append(m.suspended)
                m.weights.append(seconds)
            m.suspended = None
        m.clocks.add(clock.name)
        m.clock = clock
        m.cpu_mark = _thread_time()
        clock.start(m)

    def pause(self, m: Measurement, suspended: Any = None) -> None:
        """A stepped call is suspended; ``suspended``: the coroutine, to see where it waits (else not a wait)."""
        clock = m.clock
        if m.running and clock is not None:
            clock.stop(m)
            m.cpu += _thread_time() - m.cpu_mark
            if suspended is not None and hasattr(suspended, "cr_frame"):
                waiting = suspended_at(suspended)
                m.suspended = wait_key(m, waiting) if waiting else ()
                m.suspended_at = clock.now()

    def end(self, m: Measurement) -> Measurement:
        """Stop sampling ``m`` for good; it holds no frame or task afterwards."""
        clock = m.clock
        if clock is not None:
            if m.running:
                clock.stop(m)
                m.cpu += _thread_time() - m.cpu_mark
            m.t1 = clock.now()
        else:  # a stepped call that never ran a step
            m.t1 = m.t0
        m.marker = None
        m.task = None
        m.clock = None
        return m
