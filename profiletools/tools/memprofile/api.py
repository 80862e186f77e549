"""``memprofile``: the memory a call allocated (peak and net), its RSS (before, after, peak), and on
request the allocating lines, a line-by-line table, or an RSS and CPU timeline.

Two ways to count, chosen with ``traced=``:

- **traced** (the default): peak and net come from ``tracemalloc``, exact byte
  counts of Python allocations (objects, buffers of ``bytearray``/``array``/
  NumPy arrays made through Python's allocator), with no RSS page noise, at
  ``tracemalloc``'s cost (every allocation is hooked). ``tracemalloc`` is
  started for the call when it is not tracing and stopped when the last
  measured call ends; when the program traces already, its tracing is reused
  and left running.
- **RSS** (``traced=False``): nothing is traced; the resident set before and
  after the call and its peak during the call, from the kernel's resettable
  high-water mark (:mod:`profiletools.tools.memprofile.peak`), at a cost of
  tens of microseconds per call: everything the process holds, C libraries'
  ``malloc`` and ``mmap`` included, in pages.

Both are process-wide, so the figures are the *process's* during the call:
allocations by other threads while the call runs count too. Concurrent and
nested measured calls each get exact figures for their own time window: every
call's start and end (and each line event in line mode) reads the peak since
the previous such moment, resets it, and folds it into every call that is
running (:class:`profiletools.tools.memprofile.peak.Fold`), so no call's reset
spoils another's peak. The price: a program that reads ``tracemalloc``'s peak
(or its own ``VmHWM``/``ru_maxrss`` with ``traced=False``) sees it reset by
measured calls. A generator's or coroutine's figures cover its whole span,
from the first step to the end, what its consumer does while it is suspended
included, as ``tracemalloc`` read around the loop would.
"""

from __future__ import annotations

import dataclasses
import dis
import linecache
import os
import threading
import tracemalloc
import types
from collections.abc import Callable
from typing import IO, Any, NamedTuple, overload

from profiletools.core import PACKAGE_DIR
from profiletools.core.backend import SUPPRESS, Backend, Skip
from profiletools.core.machinery import F, Probe, make_probe, split_target
from profiletools.core.records import Record, format_bytes
from profiletools.tools.memprofile import RSS_PEAK, line_events, rss
from profiletools.tools.memprofile import lines as memory_lines
from profiletools.tools.memprofile.lines import LineSession, LineTable
from profiletools.tools.memprofile.peak import RSS_PEAKS, Fold, Window, describe, warm_floats
from profiletools.tools.memprofile.rss import Timeline
from profiletools.tools.memprofile.warmup import warm_up

_get_ident = threading.get_ident
_traced = tracemalloc.get_traced_memory
_reset_peak = tracemalloc.reset_peak


# -- tracemalloc, shared by every measured call ---------------------------------------------


class _Tracker(Fold):
    """Starts and stops ``tracemalloc`` for measured calls and keeps each call's traced peak exact.

    ``generation`` is bumped whenever profiletools starts tracing, so a call
    during which tracing stopped (and maybe started again) is told apart.
    Everything here allocates nothing ``tracemalloc`` would count inside a
    call's window: locks are taken with ``acquire``/``release`` (``with``
    makes a bound method), windows keep machine integers and are walked by index.
    """

    __slots__ = ("owned", "users")

    def __init__(self) -> None:
        super().__init__()
        self.users = 0  # calls begun and not released
        self.owned = False  # profiletools started the current tracing

    def enter(self, window: Window) -> bool:
        """Start a call's window (starting ``tracemalloc`` if needed); whether tracing started now."""
        lock = self.lock
        lock.acquire()
        try:
            started = not tracemalloc.is_tracing()
            if started:
                tracemalloc.start()
                self.owned = True
                self.generation += 1
            self.users += 1
            current, peak = _traced()
            self.charge(peak)
            self.add(window, current)
            del current, peak
            _reset_peak()
        finally:
            lock.release()
        return started

    def rebase(self, window: Window) -> None:
        """Restart a call's window now (after its own ``top=`` snapshot)."""
        lock = self.lock
        lock.acquire()
        try:
            current, peak = _traced()
            self.charge(peak)
            window.base = window.top = current + 0.0
            del current, peak
            _reset_peak()
        finally:
            lock.release()

    def valid(self, window: Window) -> bool:
        """Whether the call's figures can be trusted (tracing never stopped since it started)."""
        return tracemalloc.is_tracing() and window.generation == self.generation

    def measure(self, window: Window) -> tuple[int, int] | None:
        """End the call's window: ``(net, peak)`` bytes, or ``None`` if tracing stopped meanwhile."""
        lock = self.lock
        lock.acquire()
        try:
            valid = self.valid(window)
            if valid:
                current, peak = _traced()
                self.charge(peak)
                net = current - window.base
                del current, peak
                _reset_peak()
            self.remove(window)
        finally:
            lock.release()
        return (int(net), int(window.high)) if valid else None

    def release(self, window: Window) -> None:
        """The call is over; stop ``tracemalloc`` when profiletools started it and no call needs it."""
        lock = self.lock
        lock.acquire()
        try:
            self.remove(window)
            self.users -= 1
            if self.users == 0 and self.owned:
                self.owned = False
                if tracemalloc.is_tracing():
                    tracemalloc.stop()
        finally:
            lock.release()


_TRACKER = _Tracker()


# -- the payload -------------------------------------------------------------------------


class AllocationSite(NamedTuple):
    """A source line and what it allocated during the call that was still alive at its end.

    ``size``: bytes; ``blocks``: how many allocations (memory blocks) they are.
    """

    file: str
    line: int
    size: int
    blocks: int
    contents: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return dict(self._asdict())


_SNAPSHOT_FILTERS = (
    tracemalloc.Filter(False, tracemalloc.__file__),
    tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
    tracemalloc.Filter(False, "<frozen importlib._bootstrap_external>"),
    tracemalloc.Filter(False, "<unknown>"),
    tracemalloc.Filter(False, os.path.join(PACKAGE_DIR, "*")),
)


#: What a call runs at a function's first line before its first statement (CPython 3.11+).
_CALL_SETUP = frozenset({"RESUME", "MAKE_CELL", "COPY_FREE_VARS", "RETURN_GENERATOR", "POP_TOP", "NOP", "CACHE"})


def _setup_line(code: types.CodeType | None) -> int | None:
    """The function's first line if no statement of it runs there (its decorator line), else ``None``.

    Under a tracer (a debugger, coverage, ``lines=True`` before 3.12) the
    interpreter makes its tracing bookkeeping of the code object at the first
    event of a call, and tracemalloc charges it to that line: not the user's
    allocation, so it is never an allocation site.
    """
    if code is None:
        return None
    first = code.co_firstlineno
    starts = dict(dis.findlinestarts(code))
    line = None
    for instruction in dis.get_instructions(code):
        line = starts.get(instruction.offset, line)
        if line == first and instruction.opname not in _CALL_SETUP:
            return None
    return first


def _top_sites(
    before: tracemalloc.Snapshot | None, after: tracemalloc.Snapshot, limit: int, code: types.CodeType | None = None,
) -> list[AllocationSite]:
    """The ``limit`` lines whose allocations during the call grew most (by bytes), ``code``'s set-up line left out."""
    setup = _setup_line(code)
    if setup is not None:
        after = after.filter_traces((tracemalloc.Filter(False, code.co_filename, setup),))  # type: ignore[union-attr]
        if before is not None:
            before = before.filter_traces((tracemalloc.Filter(False, code.co_filename, setup),))  # type: ignore[union-attr]
    after = after.filter_traces(_SNAPSHOT_FILTERS)
    found: list[tuple[int, int, tracemalloc.Traceback]] = []
    if before is None:
        found = [(stat.size, stat.count, stat.traceback) for stat in after.statistics("lineno")]
    else:
        diffs = after.compare_to(before.filter_traces(_SNAPSHOT_FILTERS), "lineno")
        found = [(diff.size_diff, diff.count_diff, diff.traceback) for diff in diffs]
    found.sort(key=lambda item: item[0], reverse=True)
    sites = []
    for size, count, traceback in found[:limit]:
        if size <= 0:
            break
        frame = traceback[0]
        sites.append(AllocationSite(
            frame.filename, frame.lineno, size, count, linecache.getline(frame.filename, frame.lineno).strip(),
        ))
    return sites


class MemoryStats:
    """What ``memprofile`` measured in one call (the payload of a :class:`MemoryRecord`).

    Bytes throughout. ``traced`` says how it counted: ``True`` for
    ``tracemalloc`` (``peak``/``net``: traced Python memory above the start
    at its highest during the call / left at its end; ``None`` when
    ``tracemalloc`` was stopped during the call), ``False`` for RSS only
    (``peak``/``net`` are ``None``). ``rss_before``/``rss_after``: the resident
    set size read before and after; ``rss_peak``: its highest value during
    the call above ``rss_before`` (``None`` when not measured: traced calls
    measure it only with ``interval=``), obtained as ``rss_peak_source`` says
    (``"kernel"``, ``"ru_maxrss"``: exact; ``"sampled"``, ``"bound"``: lower
    bounds; see :mod:`profiletools.tools.memprofile.peak`). ``scope`` is
    ``"process"``: all threads' allocations during the call count;
    ``overlapped`` counts the other measured calls that ran at the same time.
    ``tracing`` says whether ``tracemalloc`` was ``"started"`` for the call,
    ``"already tracing"`` (reused, left running), or ``"not used"``.
    """

    __slots__ = (
        "interval", "lines", "net", "overlapped", "peak", "rss_after", "rss_before", "rss_peak", "rss_peak_source",
        "rss_source", "samples", "top", "traced", "tracing",
    )

    def __init__(
        self,
        peak: int | None,
        net: int | None,
        rss_before: int | None,
        rss_after: int | None,
        *,
        tracing: str,
        overlapped: int = 0,
        top: list[AllocationSite] | None = None,
        lines: LineTable | None = None,
        samples: Timeline | None = None,
        traced: bool = True,
        rss_peak: int | None = None,
        rss_peak_source: str | None = None,
        interval: float | None = None,
    ) -> None:
        self.peak = peak
        self.net = net
        self.rss_before = rss_before
        self.rss_after = rss_after
        self.rss_source = rss.rss_source()
        self.tracing = tracing
        self.overlapped = overlapped
        self.top = top
        self.lines = lines
        self.samples = samples
        self.traced = traced
        self.rss_peak = rss_peak
        self.rss_peak_source = rss_peak_source
        self.interval = interval

    @property
    def rss_delta(self) -> int | None:
        """``rss_after - rss_before`` (``None`` when RSS could not be read)."""
        if self.rss_before is None or self.rss_after is None:
            return None
        return self.rss_after - self.rss_before

    def __repr__(self) -> str:
        return f"<MemoryStats peak={self.peak} net={self.net} rss_delta={self.rss_delta} rss_peak={self.rss_peak}>"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures (line table and timeline included when present)."""
        data: dict[str, Any] = {
            "traced": self.traced,
            "peak": self.peak,
            "net": self.net,
            "rss_before": self.rss_before,
            "rss_after": self.rss_after,
            "rss_delta": self.rss_delta,
            "rss_peak": self.rss_peak,
            "rss_peak_source": self.rss_peak_source,
            "rss_source": self.rss_source,
            "scope": "process",
            "tracemalloc": self.tracing,
            "overlapped": self.overlapped,
        }
        if self.interval is not None:
            data["interval"] = self.interval
        if self.top is not None:
            data["top"] = [site.to_dict() for site in self.top]
        if self.lines is not None:
            data["lines"] = self.lines.to_dict()
        if self.samples is not None:
            data["samples"] = self.samples.to_dict()
        return data


def _signed(count: int | None) -> str:
    return "-" if count is None else ("+" if count > 0 else "") + format_bytes(count)


class MemoryRecord(Record):
    """The record of ``memprofile``: the common fields plus :class:`MemoryStats` as ``payload``.

    The figures are the process's during the call (see ``scope`` in the payload).
    """

    __slots__ = ()

    def _stat(self, field: str) -> Any:
        return None if self.payload is None else getattr(self.payload, field)

    @property
    def peak(self) -> int | None:
        """Highest traced memory during the call above the start, in bytes (``None`` with ``traced=False``)."""
        return self._stat("peak")  # type: ignore[no-any-return]

    @property
    def net(self) -> int | None:
        """Traced memory left at the end above the start, in bytes (negative: freed; ``None`` with ``traced=False``)."""
        return self._stat("net")  # type: ignore[no-any-return]

    @property
    def rss_before(self) -> int | None:
        """Resident set size before the call, in bytes."""
        return self._stat("rss_before")  # type: ignore[no-any-return]

    @property
    def rss_after(self) -> int | None:
        """Resident set size after the call, in bytes."""
        return self._stat("rss_after")  # type: ignore[no-any-return]

    @property
    def rss_delta(self) -> int | None:
        """Change of the resident set size over the call, in bytes."""
        return self._stat("rss_delta")  # type: ignore[no-any-return]

    @property
    def rss_peak(self) -> int | None:
        """Highest resident set size during the call above ``rss_before``, in bytes (see ``rss_peak_source``)."""
        return self._stat("rss_peak")  # type: ignore[no-any-return]

    @property
    def rss_peak_source(self) -> str | None:
        """How ``rss_peak`` was obtained: ``"kernel"``, ``"ru_maxrss"`` (exact); ``"sampled"``, ``"bound"`` (lower)."""
        return self._stat("rss_peak_source")  # type: ignore[no-any-return]

    @property
    def top(self) -> list[AllocationSite] | None:
        """With ``top=N``: the lines that allocated most (still alive at the end), largest first."""
        return self._stat("top")  # type: ignore[no-any-return]

    @property
    def lines(self) -> LineTable | None:
        """With ``lines=True``: the line-by-line table."""
        return self._stat("lines")  # type: ignore[no-any-return]

    @property
    def samples(self) -> Timeline | None:
        """With ``interval=``: the RSS, CPU and traced-memory timeline."""
        return self._stat("samples")  # type: ignore[no-any-return]

    def summary(self) -> str:
        """One line: peak, net, RSS change (and peak RSS when measured), then time (and error or skip reason)."""
        prefix = f"{self.tool} {self.name}: "
        stats = self.payload
        if stats is None:
            return self.headline()
        parts = []
        if stats.traced:
            parts.append(f"peak {format_bytes(stats.peak)}, net {_signed(stats.net)}")
        if stats.rss_peak is not None:
            exact = stats.rss_peak_source in ("kernel", "ru_maxrss")
            parts.append(f"peak RSS {'+' if exact else '≥ +'}{format_bytes(stats.rss_peak)}")
        parts.append(f"RSS {_signed(stats.rss_delta)}")
        figures = ", ".join(parts)
        if stats.overlapped:
            figures += f" ({stats.overlapped} measured calls overlapped)"
        return prefix + figures + ", " + self.headline()[len(prefix):]

    def text(self) -> str:
        """The summary line, how the RSS peak was obtained, the top allocation sites and the line table."""
        parts = [self.summary()]
        stats = self.payload
        if stats is not None and stats.rss_peak is not None and stats.rss_peak_source != "kernel":
            parts.append(f"  peak RSS from {describe(stats.rss_peak_source, stats.interval)}")
        if stats is not None and stats.top:
            for site in stats.top:
                parts.append(
                    f"  {_signed(site.size):>10} {site.blocks:>7} blocks  "
                    f"{site.file}:{site.line}  {site.contents}"
                )
        if stats is not None and stats.lines is not None:
            parts.append(stats.lines.text())
        return "\n".join(parts)

    def dump_files(self) -> list[tuple[str, Callable[[IO[bytes]], None]]]:
        """JSON, plus the line table as text (``.lines.txt``) and the timeline for ``mprof`` (``.dat``) when made."""
        files: list[tuple[str, Callable[[IO[bytes]], None]]] = [(".json", self.write_dump)]
        table = self.lines
        if table is not None:
            def write_table(stream: IO[bytes]) -> None:
                stream.write((table.text() + "\n").encode("utf-8"))
            files.append((".lines.txt", write_table))
        samples = self.samples
        if samples is not None and any(sample.rss is not None for sample in samples):
            from profiletools.tools.memprofile.mprof import write_dat

            files.append((".dat", lambda stream: write_dat(self, stream)))
        return files


# -- the backend --------------------------------------------------------------------------


class _Options(NamedTuple):
    lines: bool
    top: int
    interval: float | None
    traced: bool


class _Call:
    """The state of one measured call, from ``begin`` to ``end``."""

    __slots__ = ("before", "note", "rss_before", "rss_window", "sampler", "session", "started", "thread", "window")

    def __init__(self) -> None:
        self.window = Window()
        self.rss_window: Window | None = None
        self.before: tracemalloc.Snapshot | None = None
        self.note: str | None = None
        self.rss_before: int | None = None
        self.sampler: rss.Sampler | None = None
        self.session: LineSession | None = None
        self.started = False
        self.thread = _get_ident()


class MemoryBackend(Backend):
    """Measures one decorated function's calls (or one block probe's blocks)."""

    tool = "memprofile"
    record_type = MemoryRecord
    not_measured = "not fully measured"

    def __init__(self, target: Callable[..., Any] | None, probe: Probe, options: _Options) -> None:
        super().__init__(target, probe)
        self.options = options
        #: The Python function measured (its ``__code__`` is read at each call), ``None`` for blocks.
        self.function: Any = None if target is None else memory_lines.function_of(target)
        if options.lines and target is not None:
            if self.function is None:
                raise TypeError(
                    "memprofile(lines=True) follows the lines of a Python function; "
                    f"{target!r:.60} has no code object (decorate the function itself)"
                )
        #: Threads where a call with a sampler runs now (a recursive call joins it).
        self._sampling: set[int] = set()
        if options.traced:
            warm_up(target, options.lines)

    def begin(self) -> Any:
        """Prepare everything, open the windows (the traced one last), arm the line events (the very last)."""
        options = self.options
        frame = None
        code: types.CodeType | None = None
        if options.lines:
            if self.function is not None:
                code = self.function.__code__
            else:
                frame = memory_lines.caller_frame()
                code = frame.f_code
            outer = line_events.running(code)
            if outer is not None:  # recursion: the outer call's table gets these lines too
                outer.tracer.arm(outer)
                return SUPPRESS
        call = _Call()
        if options.interval is not None:
            if call.thread in self._sampling:
                return SUPPRESS
            call.sampler = self._start_sampler(options)
            if call.sampler is not None:
                self._sampling.add(call.thread)
        if code is not None:  # attached before the windows open: the delivery's own set-up is not the call's
            self._start_lines(call, code, frame)
            if call.session is not None:
                call.session.tracer.prepare(call.session)
        if not options.traced or options.interval is not None:
            call.rss_window = Window()
            if not RSS_PEAKS.enter(call.rss_window):
                call.rss_window = None
        call.rss_before = int(call.rss_window.base) if call.rss_window is not None else rss.current_rss()
        if options.traced:
            warm_floats()
            call.started = _TRACKER.enter(call.window)
            if options.top and not call.started:
                call.before = tracemalloc.take_snapshot()
                _TRACKER.rebase(call.window)
        session = call.session
        if session is not None:
            if session.block:
                session.start()
            session.tracer.arm(session)
        return call

    def _start_sampler(self, options: _Options) -> rss.Sampler | None:
        sampler = rss.Sampler(options.interval or 0.0, RSS_PEAKS)
        try:
            sampler.start()
        except Exception as exc:  # noqa: BLE001 - no thread (a limit, interpreter shutdown): no timeline
            from profiletools.core.settings import warn_once

            warn_once("sampler", type(exc).__qualname__, f"RSS sampler not started: {type(exc).__qualname__}: {exc}")
            return None
        return sampler

    def _start_lines(self, call: _Call, code: types.CodeType, frame: types.FrameType | None) -> None:
        session: LineSession
        if self.options.traced:
            session = memory_lines.TracedLines(code, _TRACKER, frame)
        else:
            session = memory_lines.RssLines(code, RSS_PEAKS, frame)
        reason = line_events.attach(session)
        if reason is None:
            call.session = session
        else:
            call.note = f"no line table: {reason}"

    def pause(self, token: Any, suspended: Any = None) -> None:
        """Suspended: stop following its lines on this thread (its memory figures go on)."""
        session = token.session
        if session is not None and not session.paused:
            session.paused = True
            session.close()
            session.tracer.suspend(session)
        self._sampling.discard(token.thread)

    def resume(self, token: Any) -> Skip | None:
        """Running again (maybe on another thread); a :class:`Skip` when its lines cannot be followed now."""
        if token.sampler is not None:
            token.thread = _get_ident()
            self._sampling.add(token.thread)
        session = token.session
        if session is not None:
            if session.paused:
                reason = session.tracer.wake(session)
                if reason is not None:  # another tracer took this thread meanwhile: this step is not followed
                    token.note = token.note or f"part of the line table is missing: {reason}"
                    return Skip(token.note)
                session.paused = False
            session.tracer.arm(session)
        return None

    def end(self, token: Any, error: BaseException | None) -> Any:
        """Close the windows (the traced one first), snapshot, then stop the line events, the sampler, tracing."""
        call: _Call = token
        session = call.session
        if session is not None and not session.paused:
            session.close()  # a block's last line (a function's closed when it returned)
        figures = _TRACKER.measure(call.window) if self.options.traced else None
        peak_rss = None
        rss_after: int | None = None
        if call.rss_window is not None:
            rss_after, rise, source = RSS_PEAKS.exit(call.rss_window)
            peak_rss = (rise, source)
        top = None
        try:
            if self.options.top and figures is not None:  # while the sampler runs: its thread's end is not a site
                code = None if self.function is None else self.function.__code__
                top = _top_sites(call.before, tracemalloc.take_snapshot(), self.options.top, code)
        finally:
            call.before = None
            try:
                if session is not None:
                    session.tracer.detach(session)
            finally:
                if call.sampler is not None:  # its last sample sees the memory after the call
                    call.sampler.stop()
                    self._sampling.discard(call.thread)
                if self.options.traced:
                    _TRACKER.release(call.window)
        if call.rss_window is None:
            rss_after = rss.current_rss()
        samples = call.sampler.timeline() if call.sampler is not None else None
        table = None
        if session is not None:
            table = session.table()
            session.release()
        skipped = call.note
        if self.options.traced and figures is None:
            skipped = "tracemalloc was stopped during the call"
        stats = MemoryStats(
            None if figures is None else figures[1],
            None if figures is None else figures[0],
            call.rss_before,
            rss_after,
            tracing="not used" if not self.options.traced else "started" if call.started else "already tracing",
            overlapped=call.window.overlapped if self.options.traced else (
                call.rss_window.overlapped if call.rss_window is not None else 0),
            top=top,
            lines=table,
            samples=samples,
            traced=self.options.traced,
            rss_peak=None if peak_rss is None else peak_rss[0],
            rss_peak_source=None if peak_rss is None else peak_rss[1],
            interval=self.options.interval,
        )
        return stats if skipped is None else Skip(skipped, stats)


# -- the public function ------------------------------------------------------------------


def _check_options(lines: object, top: object, interval: object, traced: object) -> _Options:
    if lines is not True and lines is not False:
        raise TypeError(f"memprofile(): lines= must be True or False; got {lines!r:.60}")
    if traced is not True and traced is not False:
        raise TypeError(f"memprofile(): traced= must be True (tracemalloc) or False (RSS only); got {traced!r:.60}")
    if type(top) is not int:
        raise TypeError(f"memprofile(): top= must be a whole number >= 0 (0: no sites); got {top!r:.60}")
    if top < 0:
        raise ValueError(f"memprofile(): top= must be a whole number >= 0 (0: no sites); got {top}")
    if top and not traced:
        raise ValueError(
            f"memprofile(): top={top} lists tracemalloc's allocation sites, which traced=False does not trace; "
            "use one or the other"
        )
    if interval is not None:
        if isinstance(interval, bool) or not isinstance(interval, (int, float)):
            raise TypeError(f"memprofile(): interval= must be None or seconds (a number); got {interval!r:.60}")
        if not 0.001 <= interval < float("inf"):
            raise ValueError(f"memprofile(): interval= must be between 0.001 and any finite seconds; got {interval}")
        interval = float(interval)
    return _Options(lines, top, interval, traced)


@overload
def memprofile(target: F, /) -> F: ...
@overload
def memprofile(
    target: str | None = None,
    /,
    *,
    name: str | None = None,
    reporters: Any = None,
    enabled: bool | Callable[[], object] = True,
    every: int = 1,
    cpu: bool = True,
    traced: bool = True,
    lines: bool = False,
    top: int = 0,
    interval: float | None = None,
    budget: float | str | None = None,
    budget_p95: float | str | None = None,
) -> Probe: ...


def memprofile(
    target: Any = None,
    /,
    *,
    name: str | None = None,
    reporters: Any = None,
    enabled: bool | Callable[[], object] = True,
    every: int = 1,
    cpu: bool = True,
    traced: bool = True,
    lines: bool = False,
    top: int = 0,
    interval: float | None = None,
    budget: float | str | None = None,
    budget_p95: float | str | None = None,
) -> Any:
    """Measure the memory of each call or block: traced peak and net allocation, RSS before and after.

    Use it bare (``@memprofile``), with a name or options, or as a block
    (``with memprofile("parse") as m: ...`` then ``m.record.peak``).

    - ``traced``: ``True`` (default) counts Python's allocations with
      ``tracemalloc`` (``peak``, ``net``: exact bytes, at tracemalloc's cost);
      ``False`` traces nothing and reads the resident set instead: RSS before
      and after and the peak RSS during the call (``rss_peak``), everything the
      process holds, C libraries' memory included, at near-zero cost.
    - ``lines``: also a line-by-line table of the function (or block): memory
      after each line, its increment, its own peak, how often it ran (traced
      bytes, or RSS with ``traced=False``).
    - ``top``: also the ``top`` source lines whose allocations during the call
      were still alive at its end, largest first (``tracemalloc`` snapshots).
    - ``interval``: also sample RSS, CPU % and traced memory every ``interval``
      seconds in a background thread (draw them with ``reporters.Plot``; ``Dump``
      also writes them for ``mprof plot``); the record then has ``rss_peak`` too.
    - ``budget``: a per-call limit on the peak (``"50MB"``: the traced peak, or
      the peak RSS with ``traced=False``) or on wall time (``"20ms"``);
      ``budget_p95``: a time limit for the 95th percentile.
    - ``name``, ``reporters``, ``enabled``, ``every``, ``cpu``: as for ``timed``.

    The figures are the whole process's during the call (other threads'
    allocations count); the record's ``overlapped`` says how many other
    measured calls ran meanwhile. A recursive call of a function measured with
    ``lines=True`` or ``interval=`` belongs to the outermost call's record.

    >>> from profiletools import reporters
    >>> seen = reporters.Collect()
    >>> @memprofile(reporters=[seen])
    ... def build():
    ...     return bytearray(10 * 1024 * 1024)
    >>> len(build())
    10485760
    >>> record = seen.records[0]
    >>> record.peak >= 10 * 1024 * 1024, record.net >= 10 * 1024 * 1024
    (True, True)
    """
    func, given_name = split_target("memprofile", target, name)
    options = _check_options(lines, top, interval, traced)

    def factory(target: Callable[..., Any] | None, probe: Probe) -> Backend:
        return MemoryBackend(target, probe, options)

    probe = make_probe(
        "memprofile", factory, name=given_name, reporters=reporters, enabled=enabled, every=every, cpu=cpu,
        budget=budget, budget_p95=budget_p95,
    )
    if not traced and probe.budget is not None and probe.budget.kind == "memory":
        probe.budget = dataclasses.replace(probe.budget, measure=RSS_PEAK.name)  # the peak this mode measures
    return probe if func is None else probe(func)
