"""The process's resident set size (RSS), read cheaply, and a background sampler of RSS and CPU.

Readers measured on Linux (Python 3.12, per reading): ``os.pread`` of
``/proc/self/statm`` on a descriptor kept open, ~3.5 µs; ``psutil``'s
``Process.memory_info()``, ~30 µs (~60 µs with a new ``Process``);
``resource.getrusage``, ~2 µs but its ``ru_maxrss`` is the *highest* RSS the
process ever had, not the current one, so it cannot give a before/after
difference. :func:`current_rss` uses ``/proc/self/statm`` where it exists and
``psutil`` elsewhere (macOS, Windows, BSD).
"""

from __future__ import annotations

import _thread
import math
import mmap
import os
import struct
import threading
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any, NamedTuple

from profiletools.core.settings import warn_once

_STATM = "/proc/self/statm"
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class _Readers:
    """The open ``statm`` descriptor and the ``psutil`` process, both per process (reset on fork)."""

    __slots__ = ("fd", "process", "source")

    def __init__(self) -> None:
        self.fd: int | None = None
        self.process: Any = None
        #: Which reader answers: ``"statm"``, ``"psutil"``, or ``"none"`` (not decided: ``""``).
        self.source = ""


_readers = _Readers()


def _open_statm() -> int | None:
    if not hasattr(os, "pread"):
        return None
    try:
        return os.open(_STATM, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None


def _choose() -> None:
    """Pick the cheapest reader that works here."""
    fd = _open_statm()
    if fd is not None:
        _readers.fd = fd
        _readers.source = "statm"
        return
    try:
        import psutil

        _readers.process = psutil.Process()
        _readers.source = "psutil"
    except Exception:  # noqa: BLE001 - no reader: RSS figures become None
        _readers.source = "none"


def current_rss() -> int | None:
    """The resident set size of this process now, in bytes (``None`` when no reader works).

    >>> current_rss() > 0
    True
    """
    fd = _readers.fd
    if fd is not None:
        try:
            return int(os.pread(fd, 128, 0).split()[1]) * _PAGE
        except (OSError, IndexError, ValueError):
            _readers.fd = None  # closed under us (daemonizing code closes every descriptor): choose again
            _readers.source = ""
    if not _readers.source:
        _choose()
        return current_rss()
    process = _readers.process
    if process is not None:
        try:
            return int(process.memory_info().rss)
        except Exception:  # noqa: BLE001 - a failing reader never reaches user code
            return None
    return None


def rss_source() -> str:
    """Which reader :func:`current_rss` uses: ``"statm"``, ``"psutil"`` or ``"none"``."""
    if not _readers.source:
        _choose()
    return _readers.source


def _after_fork_in_child() -> None:
    # The descriptor names the parent's /proc entry, and psutil's Process the parent's pid.
    if _readers.fd is not None:
        try:
            os.close(_readers.fd)
        except OSError:
            pass
    _readers.fd = None
    _readers.process = None
    _readers.source = ""


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


# -- the background sampler ----------------------------------------------------------


class Sample(NamedTuple):
    """One reading of the timeline.

    ``t``: seconds since the call started; ``rss``: bytes resident; ``cpu``:
    CPU use of the whole process since the previous sample, in percent of one
    core (``None`` for the first sample); ``traced``: bytes traced by
    ``tracemalloc`` in the process (``None`` when it was not tracing);
    ``peak``: the highest RSS since the previous sample, from the kernel's
    high-water mark (``None`` where that mark is not used), which catches a
    spike that rose and fell between two samples.
    """

    t: float
    rss: int | None
    cpu: float | None
    traced: int | None
    peak: int | None = None


class Timeline:
    """The samples of one call, oldest first (iterable, indexable, JSON-ready with :meth:`to_dict`).

    ``started`` is the wall-clock time (seconds since the epoch) of ``t == 0``.
    """

    __slots__ = ("interval", "samples", "started")

    def __init__(self, interval: float, samples: list[Sample], started: float | None = None) -> None:
        self.interval = interval
        self.samples = samples
        self.started = started

    def __len__(self) -> int:
        return len(self.samples)

    def __iter__(self) -> Iterator[Sample]:
        return iter(self.samples)

    def __getitem__(self, index: int) -> Sample:
        return self.samples[index]

    def __repr__(self) -> str:
        return f"<Timeline of {len(self.samples)} samples every {self.interval:g} s>"

    def to_dict(self) -> dict[str, Any]:
        """Columns: ``interval``, ``started`` and one list each of ``t``, ``rss``, ``cpu``, ``traced``, ``peak``."""
        return {
            "interval": self.interval,
            "started": self.started,
            "t": [sample.t for sample in self.samples],
            "rss": [sample.rss for sample in self.samples],
            "cpu": [sample.cpu for sample in self.samples],
            "traced": [sample.traced for sample in self.samples],
            "peak": [sample.peak for sample in self.samples],
        }


_ROW = struct.Struct("ddddd")
_CHUNK = _ROW.size * 2048
_NAN = float("nan")


class Sampler:
    """A daemon thread reading RSS, process CPU time and traced memory every ``interval`` seconds.

    Nothing it does shows in the measured call's figures: the thread is up
    (past ``threading``'s own bookkeeping) before :meth:`start` returns, it
    waits on a lock it was given (``Event.wait`` would allocate a lock per
    wait), and it keeps its samples in anonymous ``mmap`` pages, which
    ``tracemalloc`` does not trace. With ``peaks`` (the process's peak RSS
    coordinator), each tick also folds the kernel's high-water mark, so each
    sample carries the peak RSS of the interval it closes and every running
    call's peak stays exact. :meth:`stop` ends the thread (joins it) and takes
    a last sample; call it in a ``finally`` so the thread never outlives the call.
    """

    def __init__(self, interval: float, peaks: Any = None) -> None:
        self.interval = interval
        self.peaks = peaks
        self._chunks: list[mmap.mmap] = []
        self._used = 0.0
        self._gate = _thread.allocate_lock()  # held while the thread should run
        self._ready = _thread.allocate_lock()  # released by the thread once it runs
        self._thread: threading.Thread | None = None
        self._t0 = 0.0
        self._started = 0.0
        self._last_t = 0.0
        self._last_cpu = 0.0

    def _take(self) -> None:
        now = time.perf_counter()
        cpu_now = time.process_time()
        elapsed = now - self._last_t
        cpu = (cpu_now - self._last_cpu) / elapsed * 100.0 if self._chunks and elapsed > 0 else _NAN
        self._last_t, self._last_cpu = now, cpu_now
        rss = current_rss()
        peak = None if self.peaks is None else self.peaks.sample(rss)
        traced = float(tracemalloc.get_traced_memory()[0]) if tracemalloc.is_tracing() else _NAN
        if not self._chunks or self._used + _ROW.size > _CHUNK:
            self._chunks.append(mmap.mmap(-1, _CHUNK))
            self._used = 0.0
        _ROW.pack_into(
            self._chunks[-1], int(self._used), now - self._t0, _NAN if rss is None else float(rss), cpu, traced,
            _NAN if peak is None else float(peak),
        )
        self._used += _ROW.size

    def _loop(self) -> None:
        self._ready.release()
        wait = self._gate.acquire
        interval = self.interval
        while not wait(True, interval):
            try:
                self._take()
            except Exception as exc:  # noqa: BLE001 - the sampler never reaches user code
                warn_once("sampler", type(exc).__qualname__, f"RSS sampler stopped: {type(exc).__qualname__}: {exc}")
                return

    def start(self) -> None:
        """Take the first sample, start the thread and wait until it runs."""
        self._t0 = self._last_t = time.perf_counter()
        self._started = time.time()
        self._last_cpu = time.process_time()
        self._take()
        self._gate.acquire()
        self._ready.acquire()
        thread = threading.Thread(target=self._loop, name="profiletools-sampler", daemon=True)
        thread.start()
        self._ready.acquire()  # the thread released it: it is in its loop
        self._ready.release()
        self._thread = thread

    def stop(self) -> None:
        """Stop and join the thread, then take the last sample (idempotent)."""
        thread = self._thread
        if thread is None:
            return
        self._thread = None
        self._gate.release()
        thread.join(5.0)
        if thread.is_alive():  # a reading hung (psutil on a stuck /proc): never wait for it longer
            warn_once("sampler", "hung", "RSS sampler did not stop within 5 s; its samples are dropped")
            self._chunks = []
            return
        try:
            self._take()
        except Exception as exc:  # noqa: BLE001 - the sampler never reaches user code
            warn_once("sampler", type(exc).__qualname__, f"RSS sampler failed: {type(exc).__qualname__}: {exc}")

    def timeline(self) -> Timeline:
        """The samples as Python objects (call after :meth:`stop`, outside the measured window)."""
        samples: list[Sample] = []
        last = len(self._chunks) - 1
        for index, chunk in enumerate(self._chunks):
            end = int(self._used) if index == last else _CHUNK
            for t, rss, cpu, traced, peak in _ROW.iter_unpack(chunk[:end]):
                samples.append(Sample(
                    t,
                    None if math.isnan(rss) else int(rss),
                    None if math.isnan(cpu) else cpu,
                    None if math.isnan(traced) else int(traced),
                    None if math.isnan(peak) else int(peak),
                ))
            chunk.close()
        self._chunks = []
        return Timeline(self.interval, samples, self._started)
