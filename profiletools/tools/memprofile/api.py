"""``memprofile``: the memory a call allocated (peak and net), the RSS change, and on request
the allocating lines, a line-by-line table, or an RSS and CPU timeline.

Peak and net come from ``tracemalloc``: exact byte counts of Python allocations
(objects, buffers of ``bytearray``/``array``/NumPy arrays made through Python's
allocator), with no RSS page noise. ``tracemalloc`` is started for the call
when it is not tracing and stopped when the last measured call ends; when the
program traces already, its tracing is reused and left running.

``tracemalloc`` is process-wide, so the figures are the *process's* during the
call: allocations by other threads while the call runs count too. Concurrent
and nested measured calls each get exact figures for their own time window:
every call's start and end (and each line event in line mode) reads the peak
since the previous such moment, resets it, and folds it into every call that
is running, so no call's ``reset_peak`` spoils another's peak. The price: a
program that reads ``tracemalloc``'s peak itself sees it reset by measured calls.
"""

from __future__ import annotations

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
from profiletools.tools.memprofile import lines as memory_lines
from profiletools.tools.memprofile import rss
from profiletools.tools.memprofile.lines import LineSession, LineTable
from profiletools.tools.memprofile.rss import Timeline

_get_ident = threading.get_ident
_traced = tracemalloc.get_traced_memory
_reset_peak = tracemalloc.reset_peak


# -- tracemalloc, shared by every measured call ---------------------------------------------


class _Entry:
    """One measured call's window on the process-wide traced memory."""

    __slots__ = ("base", "generation", "high", "overlapped", "paused", "paused_at")

    def __init__(self) -> None:
        # floats: arithmetic on them takes CPython's float free list, not the traced allocator
        self.base = 0.0  # traced bytes at the start (shifted by what happened while suspended)
        self.high = 0.0  # highest traced bytes above base seen so far
        self.overlapped = 0  # other measured calls that ran during this one
        self.generation = 0
        self.paused = False
        self.paused_at = 0


class _Tracker:
    """Starts and stops ``tracemalloc`` for measured calls and keeps each call's peak exact."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active: list[Any] = []  # the _Entry of each running (not suspended) call
        self.users = 0  # calls begun and not released
        self.owned = False  # profiletools started the current tracing
        self.generation = 0  # bumped whenever profiletools starts tracing

    def _fold(self) -> tuple[int, int]:
        """Read current and peak, reset the peak, charge the peak to every running call. Hold the lock."""
        current, peak = _traced()
        _reset_peak()
        for entry in self.active:
            if peak - entry.base > entry.high:
                entry.high = peak - entry.base
        return current, peak

    def enter(self, entry: _Entry) -> bool:
        """Start a call's window (starting ``tracemalloc`` if needed); whether tracing started now."""
        with self.lock:
            started = not tracemalloc.is_tracing()
            if started:
                tracemalloc.start()
                self.owned = True
                self.generation += 1
            current, _ = self._fold()
            for other in self.active:
                other.overlapped += 1
            entry.base = float(current)
            entry.overlapped = len(self.active)
            entry.generation = self.generation
            self.active.append(entry)
            self.users += 1
        return started

    def rebase(self, entry: _Entry) -> None:
        """Restart a call's window now (after its own ``top=`` snapshot)."""
        with self.lock:
            entry.base = float(self._fold()[0])
            entry.high = 0.0

    def pause(self, entry: _Entry) -> None:
        """The call is suspended: stop charging it."""
        with self.lock:
            if entry.paused:
                return
            current, _ = self._fold()
            if entry in self.active:
                self.active.remove(entry)
            entry.paused, entry.paused_at = True, current

    def resume(self, entry: _Entry) -> None:
        """The call runs again: what happened meanwhile is not its.

        Left open (issue 13 item 1, second half): the step driver no longer keeps a
        generator's last item alive while it is suspended, but memory the consumer
        frees meanwhile (the items it drops) is taken out of the generator's figures
        here, where raw tracemalloc would count it; the figures agree with tracemalloc
        only once suspended frees count too.
        """
        with self.lock:
            if not entry.paused:
                return
            current, _ = self._fold()
            entry.base += current - entry.paused_at
            entry.paused = False
            self.active.append(entry)

    def valid(self, entry: _Entry) -> bool:
        """Whether the call's figures can be trusted (tracing never stopped since it started)."""
        return tracemalloc.is_tracing() and entry.generation == self.generation

    def measure(self, entry: _Entry) -> tuple[int, int] | None:
        """End the call's window: ``(net, peak)`` bytes, or ``None`` if tracing stopped meanwhile."""
        with self.lock:
            if entry.paused:
                net = entry.paused_at - entry.base
            else:
                net = self._fold()[0] - entry.base if self.valid(entry) else 0
                if entry in self.active:
                    self.active.remove(entry)
            return (int(net), int(entry.high)) if self.valid(entry) else None

    def release(self, entry: _Entry) -> None:
        """The call is over; stop ``tracemalloc`` when profiletools started it and no call needs it."""
        with self.lock:
            if entry in self.active:
                self.active.remove(entry)
            self.users -= 1
            if self.users == 0 and self.owned:
                self.owned = False
                if tracemalloc.is_tracing():
                    tracemalloc.stop()


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

    Bytes throughout. ``peak``/``net``: traced Python memory above the start
    at its highest during the call / left at its end (``None`` when
    ``tracemalloc`` was stopped during the call). ``rss_*``: resident set size
    read before and after. ``scope`` is ``"process"``: all threads'
    allocations during the call count; ``overlapped`` counts the other measured
    calls that ran at the same time. ``tracemalloc`` says whether tracing was
    ``"started"`` for the call or ``"already tracing"`` (reused, left running).
    """

    __slots__ = (
        "lines", "net", "overlapped", "peak", "rss_after", "rss_before", "rss_source", "samples", "top", "tracing",
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

    @property
    def rss_delta(self) -> int | None:
        """``rss_after - rss_before`` (``None`` when RSS could not be read)."""
        if self.rss_before is None or self.rss_after is None:
            return None
        return self.rss_after - self.rss_before

    def __repr__(self) -> str:
        return f"<MemoryStats peak={self.peak} net={self.net} rss_delta={self.rss_delta}>"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures (line table and timeline included when present)."""
        data: dict[str, Any] = {
            "peak": self.peak,
            "net": self.net,
            "rss_before": self.rss_before,
            "rss_after": self.rss_after,
            "rss_delta": self.rss_delta,
            "rss_source": self.rss_source,
            "scope": "process",
            "tracemalloc": self.tracing,
            "overlapped": self.overlapped,
        }
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
        """Highest traced memory during the call above the start, in bytes."""
        return self._stat("peak")  # type: ignore[no-any-return]

    @property
    def net(self) -> int | None:
        """Traced memory left at the end above the start, in bytes (negative: freed)."""
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
        """One line: peak, net, RSS change, then time (and error or skip reason)."""
        prefix = f"{self.tool} {self.name}: "
        stats = self.payload
        if stats is None:
            return self.headline()
        figures = f"peak {format_bytes(stats.peak)}, net {_signed(stats.net)}, RSS {_signed(stats.rss_delta)}"
        if stats.overlapped:
            figures += f" ({stats.overlapped} measured calls overlapped)"
        return prefix + figures + ", " + self.headline()[len(prefix):]

    def text(self) -> str:
        """The summary line, then the top allocation sites and the line table when present."""
        parts = [self.summary()]
        stats = self.payload
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
        """JSON, plus the line table as text (``.lines.txt``) when it was made."""
        files: list[tuple[str, Callable[[IO[bytes]], None]]] = [(".json", self.write_dump)]
        table = self.lines
        if table is not None:
            def write_table(stream: IO[bytes]) -> None:
                stream.write((table.text() + "\n").encode("utf-8"))
            files.append((".lines.txt", write_table))
        return files


# -- the backend --------------------------------------------------------------------------


class _Options(NamedTuple):
    lines: bool
    top: int
    interval: float | None


class _Call:
    """The state of one measured call, from ``begin`` to ``end``."""

    __slots__ = ("before", "entry", "note", "rss_before", "sampler", "session", "started", "thread")

    def __init__(self) -> None:
        self.entry = _Entry()
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

    def begin(self) -> Any:
        """Start the sampler, read RSS, open the traced window, install the line tracer (last)."""
        options = self.options
        frame = None
        code: types.CodeType | None = None
        if options.lines:
            if self.function is not None:
                code = self.function.__code__
            else:
                frame = memory_lines.caller_frame()
                code = frame.f_code
            if memory_lines.running(code):
                return SUPPRESS  # recursion: the outer call's table gets these lines
        call = _Call()
        if options.interval is not None:
            if call.thread in self._sampling:
                return SUPPRESS
            self._sampling.add(call.thread)
            call.sampler = rss.Sampler(options.interval)
            call.sampler.start()
        call.rss_before = rss.current_rss()
        call.started = _TRACKER.enter(call.entry)
        if options.top and not call.started:
            call.before = tracemalloc.take_snapshot()
            _TRACKER.rebase(call.entry)
        if code is not None:
            session = memory_lines.start(code, _TRACKER, call.entry.base, frame)
            if isinstance(session, str):
                call.note = session
            else:
                call.session = session
        return call

    def pause(self, token: Any, suspended: Any = None) -> None:
        """Suspended: stop charging lines and traced memory to the call."""
        if token is SUPPRESS:
            return
        if token.session is not None:
            token.session.pause()
        _TRACKER.pause(token.entry)
        self._sampling.discard(token.thread)

    def resume(self, token: Any) -> None:
        """Running again (maybe on another thread)."""
        if token is SUPPRESS:
            return
        _TRACKER.resume(token.entry)
        if token.sampler is not None:
            token.thread = _get_ident()
            self._sampling.add(token.thread)
        if token.session is not None:
            token.session.resume()

    def end(self, token: Any, error: BaseException | None) -> Any:
        """Remove the tracer, close the window, snapshot, release tracing, read RSS, stop the sampler."""
        call: _Call = token
        figures = None
        top = None
        try:
            try:
                if call.session is not None:
                    call.session.stop()
                figures = _TRACKER.measure(call.entry)
            finally:
                if call.sampler is not None:  # its last sample still sees the traced memory
                    call.sampler.stop()
                    self._sampling.discard(call.thread)
            if self.options.top and figures is not None:
                code = None if self.function is None else self.function.__code__
                top = _top_sites(call.before, tracemalloc.take_snapshot(), self.options.top, code)
        finally:
            call.before = None
            _TRACKER.release(call.entry)
        rss_after = rss.current_rss()
        samples = call.sampler.timeline() if call.sampler is not None else None
        table = call.session.table() if call.session is not None else None
        skipped = call.note
        if figures is None:
            skipped = "tracemalloc was stopped during the call"
        stats = MemoryStats(
            None if figures is None else figures[1],
            None if figures is None else figures[0],
            call.rss_before,
            rss_after,
            tracing="started" if call.started else "already tracing",
            overlapped=call.entry.overlapped,
            top=top,
            lines=table,
            samples=samples,
        )
        return stats if skipped is None else Skip(skipped, stats)


# -- the public function ------------------------------------------------------------------


def _check_options(lines: object, top: object, interval: object) -> _Options:
    if lines is not True and lines is not False:
        raise TypeError(f"memprofile(): lines= must be True or False; got {lines!r:.60}")
    if type(top) is not int:
        raise TypeError(f"memprofile(): top= must be a whole number >= 0 (0: no sites); got {top!r:.60}")
    if top < 0:
        raise ValueError(f"memprofile(): top= must be a whole number >= 0 (0: no sites); got {top}")
    if interval is not None:
        if isinstance(interval, bool) or not isinstance(interval, (int, float)):
            raise TypeError(f"memprofile(): interval= must be None or seconds (a number); got {interval!r:.60}")
        if not 0.001 <= interval < float("inf"):
            raise ValueError(f"memprofile(): interval= must be between 0.001 and any finite seconds; got {interval}")
        interval = float(interval)
    return _Options(lines, top, interval)


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
    lines: bool = False,
    top: int = 0,
    interval: float | None = None,
    budget: float | str | None = None,
    budget_p95: float | str | None = None,
) -> Any:
    """Measure the memory of each call or block: traced peak and net allocation, RSS before and after.

    Use it bare (``@memprofile``), with a name or options, or as a block
    (``with memprofile("parse") as m: ...`` then ``m.record.peak``).

    - ``lines``: also a line-by-line table of the function (or block): memory
      after each line, its increment, its own peak, how often it ran.
    - ``top``: also the ``top`` source lines whose allocations during the call
      were still alive at its end, largest first (``tracemalloc`` snapshots).
    - ``interval``: also sample RSS, CPU % and traced memory every ``interval``
      seconds in a background thread (draw them with ``reporters.Plot``).
    - ``budget``: a per-call limit on the traced peak (``"50MB"``) or on wall
      time (``"20ms"``); ``budget_p95``: a time limit for the 95th percentile.
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
    options = _check_options(lines, top, interval)

    def factory(target: Callable[..., Any] | None, probe: Probe) -> Backend:
        return MemoryBackend(target, probe, options)

    probe = make_probe(
        "memprofile", factory, name=given_name, reporters=reporters, enabled=enabled, every=every, cpu=cpu,
        budget=budget, budget_p95=budget_p95,
    )
    return probe if func is None else probe(func)
