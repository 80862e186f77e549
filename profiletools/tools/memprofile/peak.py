"""Peaks of a process-wide memory reading, exact for every call even when calls nest or overlap.

Two readings of this process have a *resettable* peak: ``tracemalloc``'s
traced memory (``get_traced_memory()[1]``, reset by ``reset_peak()``) and, on
Linux, the kernel's high-water mark of the resident set (``VmHWM`` in
``/proc/self/status``, reset by writing ``5`` to ``/proc/self/clear_refs``).
Each is one per process, so "reset at my start, read at my end" is wrong as
soon as two measured calls overlap: the second call's reset erases the first
one's peak. A :class:`Fold` keeps every call's peak exact anyway: at every
boundary (a call's start and end, a line event, a sampler tick) it reads the
peak since the previous boundary, resets it, and charges the reading to every
call running now. The readings partition time, and every interval inside a
call's window is charged to that call, so each call gets the highest value of
its own time span, whatever else runs. (The one blind spot is the moment
between a reading and the reset that follows it: a spike that rises *and*
falls inside it is lost, one that stays is seen at the next boundary.)

:data:`RSS_PEAKS` does this for the resident set (``memprofile(traced=False)``
and ``interval=``); ``profiletools.tools.memprofile.api`` does it for traced memory.
Where the kernel's mark is unavailable (not Linux, a process that is not
dumpable, a sandbox that ignores the reset), the peak comes from, in order:
``getrusage``'s ``ru_maxrss`` when the call raised the process's lifetime
high (exact then), the samples of an ``interval=`` sampler (a lower bound, to
one interval), or the RSS before and after (a lower bound). The record says
which (``rss_peak_source``).

Side effects a program can see: resetting the kernel's mark lowers what the
process reads as its own ``VmHWM`` and, on Linux, ``ru_maxrss`` (both report
the same mark), for as long as measured calls run.
"""

from __future__ import annotations

import os
import resource
import sys
import threading
from typing import Any

from profiletools.tools.memprofile.rss import current_rss

_KIB = 1024
#: ``ru_maxrss`` is in KiB on Linux and the BSDs, in bytes on macOS.
_MAXRSS_UNIT = 1 if sys.platform == "darwin" else _KIB
_getrusage = resource.getrusage
_RUSAGE_SELF = resource.RUSAGE_SELF
#: The size of the spike that checks, once per process, that a reset really resets.
_CHECK_BYTES = 8 << 20

#: How a call's peak RSS was obtained (``rss_peak_source`` of a record).
KERNEL = "kernel"  # VmHWM folded at every boundary: exact
RU_MAXRSS = "ru_maxrss"  # the call raised the process's lifetime high: exact
SAMPLED = "sampled"  # the highest RSS an interval= sampler read: a lower bound
BOUND = "bound"  # the higher of RSS before and after: a lower bound


class Window:
    """One measured call's view of a folded peak: its reading at the start and the highest reading since.

    ``base`` and ``top`` are floats (exact to 2**53 bytes), kept as absolute
    readings so that charging a window compares a reading with ``top`` and
    makes no object unless the reading is higher (each object made while
    ``tracemalloc`` traces costs it a traceback). A float is taken from
    CPython's free list of floats without calling the allocator ``tracemalloc``
    hooks, so charging a window inside a call leaves no traced allocation
    behind (an ``int`` kept in the window would be one; :func:`warm_floats`
    fills the free list before a window opens).
    """

    __slots__ = ("base", "generation", "maxrss", "overlapped", "sampled", "top")

    def __init__(self) -> None:
        self.base = 0.0  # the reading at the start
        self.top = 0.0  # the highest reading since the start (``base`` or more)
        self.overlapped = 0  # other measured calls that ran during this one
        self.generation = 0  # the fold's generation at the start (reset in a forked child)
        self.maxrss = 0  # ru_maxrss at the start (the fallback)
        self.sampled = False  # a sampler charged a reading (the sampled fallback)

    @property
    def high(self) -> float:
        """The highest reading above ``base`` so far."""
        return self.top - self.base


#: Never removed from a fold's ``active`` list, so the list keeps its storage between calls (an
#: empty list frees it, and growing it again would be an allocation inside the next call's window).
_KEEPER = Window()
_KEEPER.base = _KEEPER.top = float("inf")


#: Floats profiletools keeps or makes at once inside a window (a window's two, a line session's few), with room.
_SPARE_FLOATS = tuple(range(16))


def warm_floats() -> None:
    """Put floats on CPython's free list of floats (it keeps up to 100) before a measured window opens.

    Floats made inside a window are then taken from the free list and go back
    to it: ``tracemalloc`` sees neither. A float made by the allocator inside
    the window and freed to the list would look alive to it ever after.
    """
    spare = [number + 0.5 for number in _SPARE_FLOATS]
    del spare


def _new_active() -> list[Window]:
    """The list of running windows: the keeper, with room for three calls at once before it grows."""
    active = [_KEEPER] * 4
    del active[1:]
    return active


class Fold:
    """The windows running on one resettable peak, charged under one lock.

    :meth:`charge` and :meth:`add` expect the caller to hold ``lock`` (the
    caller reads and resets the peak inside the same critical section).
    """

    __slots__ = ("active", "generation", "lock")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active: list[Window] = _new_active()
        self.generation = 0

    def charge(self, reading: float) -> None:
        """Raise every running window's top to ``reading`` (walked by index: a ``for`` loop allocates)."""
        active = self.active
        index = len(active)
        while index > 1:
            index -= 1
            window = active[index]
            if reading > window.top:
                window.top = reading + 0.0

    def add(self, window: Window, base: float) -> None:
        """Start charging ``window`` from ``base`` (the reading now)."""
        window.base = window.top = base + 0.0
        window.generation = self.generation
        window.overlapped = len(self.active) - 1
        active = self.active
        index = len(active)
        while index > 1:
            index -= 1
            active[index].overlapped += 1
        active.append(window)

    def remove(self, window: Window) -> bool:
        """Stop charging ``window``; whether it was running."""
        active = self.active
        index = len(active)
        while index > 1:
            index -= 1
            if active[index] is window:
                del active[index]
                return True
        return False

    def forget(self) -> None:
        """In a forked child: the running windows are the parent's calls."""
        self.lock = threading.Lock()
        self.active = _new_active()
        self.generation += 1


class KernelMark:
    """``/proc/self/clear_refs`` (reset) and ``VmHWM`` of ``/proc/self/status`` (read), kept open.

    Reading ``/proc/self/status`` makes the kernel format the whole file
    (~6 µs); ``getrusage``'s ``ru_maxrss`` reads the same mark in ~1 µs, but
    it is the larger of the mark and a value frozen when the process was
    exec'd (the previous image's peak: with ``vfork``, the parent's). So
    :meth:`read` takes ``ru_maxrss`` when it is the mark for sure: above that
    frozen value's upper bound (``floor``, ``ru_maxrss`` right after the first
    reset), or not above the current RSS (the mark is never below it);
    otherwise it reads the status file.

    The descriptors name this process's ``/proc`` entry: a forked child must
    reopen them (a child writing to the inherited descriptor would reset the
    parent's mark), which :func:`_after_fork_in_child` arranges.
    """

    __slots__ = ("clear_fd", "floor", "status_fd")

    def __init__(self) -> None:
        self.clear_fd = -1
        self.status_fd = -1
        self.floor = 1 << 62  # ru_maxrss at or below this may be the frozen value: read the status file

    def open(self) -> str | None:
        """Open and check the mark: ``None`` when it works here, else a one-line reason."""
        self.close()
        if not sys.platform.startswith("linux"):
            return f"the kernel's resettable peak RSS is Linux only (this is {sys.platform})"
        try:
            self.clear_fd = os.open("/proc/self/clear_refs", os.O_WRONLY | os.O_CLOEXEC)
            self.status_fd = os.open("/proc/self/status", os.O_RDONLY | os.O_CLOEXEC)
            works = self._check()
        except (OSError, ValueError) as exc:
            self.close()
            detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            return f"the kernel's peak RSS cannot be reset here ({detail})"
        if not works:
            self.close()
            return "the kernel's peak RSS cannot be reset here (writing 5 to /proc/self/clear_refs did not reset VmHWM)"
        self.floor = _getrusage(_RUSAGE_SELF).ru_maxrss * _KIB
        return None

    def _check(self) -> bool:
        """Touch and unmap 8 MiB: the mark must rise, and fall again on reset (a sandbox may ignore the write)."""
        import mmap

        self.reset()
        base = self.status()
        block = mmap.mmap(-1, _CHECK_BYTES)
        try:
            for offset in range(0, _CHECK_BYTES, mmap.PAGESIZE):  # touch every page
                block[offset] = 1
        finally:
            block.close()
        high = self.status()
        self.reset()
        return high >= base + _CHECK_BYTES // 2 and self.status() < high - _CHECK_BYTES // 4

    def close(self) -> None:
        """Close the descriptors (idempotent)."""
        for fd in (self.clear_fd, self.status_fd):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.clear_fd = self.status_fd = -1
        self.floor = 1 << 62

    def reset(self) -> None:
        """Set the mark to the current RSS."""
        os.write(self.clear_fd, b"5")

    def read(self, current: int) -> int:
        """The highest RSS since the last reset, in bytes; ``current``: the RSS read just before."""
        high = _getrusage(_RUSAGE_SELF).ru_maxrss * _KIB
        if high > self.floor or high <= current:
            return high if high > current else current
        return self.status()

    def status(self) -> int:
        """``VmHWM`` from ``/proc/self/status``, in bytes."""
        data = os.pread(self.status_fd, 4096, 0)
        start = data.index(b"VmHWM:") + 6
        return int(data[start:data.index(b"kB", start)]) * _KIB


def maxrss() -> int:
    """``getrusage``'s lifetime peak RSS of this process, in bytes."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * _MAXRSS_UNIT


class RssPeaks(Fold):
    """The peak RSS of every running measured call (one per process: :data:`RSS_PEAKS`)."""

    __slots__ = ("mark", "opening", "reason")

    def __init__(self) -> None:
        super().__init__()
        self.mark = KernelMark()
        #: ``None``: the kernel's mark works; a string: why not; ``""``: not tried yet.
        self.reason: str | None = ""
        self.opening = threading.Lock()  # the first use is decided once, whichever thread comes first

    def kernel(self) -> bool:
        """Whether the kernel's mark is used (opened and checked on first use)."""
        if self.reason == "":
            with self.opening:
                if self.reason == "":
                    self.reason = self.mark.open()
        return self.reason is None

    def _fold(self, current: int) -> int:
        """Read the mark, reset it, charge the reading to every running window; the peak. Hold the lock.

        ``current`` is the RSS read just before (0 when unknown).
        """
        try:
            high = self.mark.read(current)
            self.mark.reset()
        except (OSError, ValueError) as exc:  # closed under us (a daemon closing every descriptor)
            self.mark.close()
            self.reason = f"the kernel's peak RSS became unreadable ({exc})"
            return current
        self.charge(high)
        return high

    def enter(self, window: Window) -> bool:
        """Start ``window`` at the RSS now; ``False`` when RSS cannot be read here."""
        kernel = self.kernel()  # outside the lock the first time: the check takes a few ms
        window.maxrss = 0 if kernel else maxrss()
        window.sampled = False
        lock = self.lock
        lock.acquire()
        try:
            rss = current_rss()
            if rss is None:
                return False
            if kernel:
                self._fold(rss)
            self.add(window, rss)
        finally:
            lock.release()
        return True

    def exit(self, window: Window) -> tuple[int, int, str]:
        """End ``window``: ``(RSS after, peak RSS above the start, how the peak was obtained)``."""
        lock = self.lock
        lock.acquire()
        try:
            base, high = int(window.base), int(window.high)
            after = current_rss()
            after = base if after is None else after
            kernel = self.reason is None and window.generation == self.generation
            if kernel:
                self._fold(after)
                kernel = self.reason is None  # still readable
                high = int(window.high)
            running = self.remove(window)
        finally:
            lock.release()
        rise = max(high, after - base, 0)
        if kernel and running:
            return after, rise, KERNEL
        lifetime = maxrss()
        if window.maxrss and lifetime > window.maxrss:  # the call set a new lifetime high: that high is its peak
            return after, max(lifetime - base, rise), RU_MAXRSS
        return after, rise, SAMPLED if window.sampled else BOUND

    def sample(self, rss: int | None) -> int | None:
        """A sampler tick: fold the kernel's mark (or charge ``rss``); the peak RSS since the last boundary."""
        lock = self.lock
        lock.acquire()
        try:
            if self.reason is None:
                return self._fold(rss or 0)
            if rss is not None:
                self.charge(rss)
                active = self.active
                index = len(active)
                while index > 1:
                    index -= 1
                    active[index].sampled = True
            return None
        finally:
            lock.release()

    def line(self, current: int) -> int:
        """A line event of an RSS line table, ``current`` the RSS now: the peak RSS since the previous boundary."""
        lock = self.lock
        lock.acquire()
        try:
            return self._fold(current)
        finally:
            lock.release()

    def forget(self) -> None:
        """In a forked child: reopen the mark (never write to the parent's), forget the parent's calls."""
        self.mark.close()
        self.reason = ""
        self.opening = threading.Lock()
        super().forget()


#: The process's one coordinator of peak RSS.
RSS_PEAKS = RssPeaks()


def _after_fork_in_child() -> None:
    RSS_PEAKS.forget()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def describe(source: str | None, interval: Any = None) -> str:
    """How a peak RSS was obtained, for people (``"kernel high-water mark"``...)."""
    if source == KERNEL:
        return "the kernel's high-water mark"
    if source == RU_MAXRSS:
        return "getrusage ru_maxrss (a new lifetime high)"
    if source == SAMPLED:
        every = "" if interval is None else f" every {interval:g} s"
        return f"RSS sampled{every}: a lower bound"
    if source == BOUND:
        return "RSS before and after: a lower bound"
    return "not measured"
