"""Line-by-line memory for ``memprofile(lines=True)``: what each line of one function did to memory.

A session follows one call (or block) on one thread. Line events come from
:mod:`profiletools.tools.memprofile.line_events` (``sys.monitoring`` on the
measured code only, or on 3.11 a trace function on the measured frame only);
at each one the session reads memory and charges the change since the
previous event to the previous line, so what a called function allocates
counts for the line that called it. Two readers:

- **traced** (``TracedLines``): ``tracemalloc``'s current and peak traced
  bytes, the peak reset at every event and folded into every running
  measured call (so their peaks stay exact): exact byte counts of Python
  allocations, no page noise;
- **RSS** (``RssLines``, ``traced=False``): the resident set size after each
  line (one ``pread`` of ``/proc/self/statm``), and each line's own peak RSS
  from the kernel's high-water mark where it can be reset: memory that C
  libraries take with ``malloc`` or ``mmap`` shows on the line that took it.

The accounting itself allocates nothing that ``tracemalloc`` could count:
the table lives in lists of floats made before the call starts (a float made
inside the call comes from CPython's free list of floats, and the one it
replaces goes back to it), the running windows are walked by index and locks
are taken with ``acquire``/``release``. It also makes few objects, as
``tracemalloc`` looks up every object made while it traces (and takes a
traceback for one whose memory it traces): reading a list makes none (reading
an ``array`` makes a float each time, writing one parses its argument), and
the reading is made a float once per event. Counting stops at the function's return (and at each
``yield``), before its locals are freed, so what the return frees is not
charged to the last line (it is in the call's ``net``).
"""

from __future__ import annotations

import inspect
import linecache
import threading
import tracemalloc
import types
from collections.abc import Callable
from typing import Any

from profiletools.core import PACKAGE_DIR
from profiletools.core.records import format_bytes
from profiletools.tools.memprofile.peak import Fold
from profiletools.tools.memprofile.rss import current_rss

_traced = tracemalloc.get_traced_memory
_reset_peak = tracemalloc.reset_peak
_get_ident = threading.get_ident

#: ``LineTable.basis``: what the figures count.
TRACED = "traced"
RSS = "rss"

#: The largest integer CPython keeps made (from -5 to 256); each larger one is a new object.
CACHED_INTEGERS_END = 256
#: ``LineSession.numbers_from`` of a session whose events make no integer.
NO_NUMBERS = 1 << 62


def read_traced() -> tuple[int, int]:
    """``tracemalloc.get_traced_memory()`` in a frame of its own, where it is the first instruction.

    ``tracemalloc`` takes a traceback for each object made while it traces,
    here the two integers of the reading, and finds its line by walking the
    frame's location table from the start up to the instruction: from a line
    event's method, past the lock's acquisition, that walk cost more than the
    call of this function (-1,500 machine instructions a line event on 3.12,
    -1,600 on 3.11: 7 % of a four-list body's traced line table).
    """
    return _traced()


class LineTable:
    """The per-line memory table of one call.

    ``rows`` maps a line number to ``(after, increment, peak, occurrences)``:
    ``after`` is the memory after the line's last run, relative to the start
    of the call; ``increment`` the sum over its runs of what it left allocated
    (negative: it freed); ``peak`` the most it held at once above the memory
    before it, over its runs; ``occurrences`` how often it ran. Bytes.

    ``basis`` says what memory: ``"traced"`` (``tracemalloc``: Python's
    allocations, exact) or ``"rss"`` (the resident set: everything the process
    holds, in pages). ``base`` is that memory at the start of the call (for
    ``"rss"`` the process's RSS, so ``base + after`` is memory_profiler's "Mem
    usage"). ``peaks`` says where the peak column comes from: ``"traced"``,
    ``"kernel"`` (the kernel's high-water mark, reset at each line) or
    ``"readings"`` (the RSS read at line boundaries only).
    """

    __slots__ = ("base", "basis", "filename", "first_line", "function", "peaks", "rows", "source")

    def __init__(
        self, filename: str, function: str, first_line: int, source: list[str],
        rows: dict[int, tuple[int, int, int, int]], basis: str = TRACED, base: int = 0, peaks: str = TRACED,
    ) -> None:
        self.filename = filename
        self.function = function
        self.first_line = first_line
        self.source = source
        self.rows = rows
        self.basis = basis
        self.base = base
        self.peaks = peaks

    def __repr__(self) -> str:
        return f"<LineTable of {self.function} ({len(self.rows)} lines ran, {self.basis})>"

    def contents(self, line: int) -> str:
        """The source text of ``line`` (empty when unknown)."""
        index = line - self.first_line
        return self.source[index].rstrip() if 0 <= index < len(self.source) else ""

    @property
    def memory_label(self) -> str:
        """The heading of the memory column: ``Mem after`` (traced, relative) or ``RSS after`` (absolute)."""
        return "RSS after" if self.basis == RSS else "Mem after"

    def shown_after(self, after: int) -> int:
        """What the memory column shows for a row's ``after``: relative for traced tables, absolute RSS for RSS ones."""
        return self.base + after if self.basis == RSS else after

    def to_dict(self) -> dict[str, Any]:
        """File, function, basis and one dict per line that ran (JSON-ready)."""
        return {
            "file": self.filename,
            "function": self.function,
            "first_line": self.first_line,
            "basis": self.basis,
            "base": self.base,
            "peaks": self.peaks,
            "rows": [
                {
                    "line": line, "after": after, "increment": increment, "peak": peak,
                    "occurrences": occurrences, "contents": self.contents(line),
                }
                for line, (after, increment, peak, occurrences) in sorted(self.rows.items())
            ],
        }

    def text(self) -> str:
        """The table in the style of ``memory_profiler``, every source line shown."""
        label = self.memory_label
        head = f"{'Line #':>6}  {label:>11}  {'Increment':>11}  {'Peak':>11}  {'Occurrences':>11}  Line Contents"
        what = "RSS: all memory the process holds" if self.basis == RSS else "traced: Python allocations"
        lines = [f"File: {self.filename} ({what})", "", head, "=" * len(head)]
        numbers = range(self.first_line, self.first_line + len(self.source)) if self.source else sorted(self.rows)
        for line in numbers:
            row = self.rows.get(line)
            if row is None:
                lines.append(f"{line:>6}  {'':>11}  {'':>11}  {'':>11}  {'':>11}  {self.contents(line)}")
                continue
            after, increment, peak, occurrences = row
            sign = "+" if increment > 0 else ""
            lines.append(
                f"{line:>6}  {format_bytes(self.shown_after(after)):>11}  {sign + format_bytes(increment):>11}  "
                f"{format_bytes(peak):>11}  {occurrences:>11}  {self.contents(line)}"
            )
        return "\n".join(lines)


def zeros(count: int) -> list[float]:
    """``count`` zeros, each a float object of its own, for the slots a line table writes during the call.

    Each write replaces a slot's float, which goes back to CPython's free list
    of floats for the next one: the floats the accounting holds stay as many
    as there are slots. Slots sharing the one ``0.0`` constant took a new
    float at each first write instead, and once the free list ran out, each
    line's first run allocated four floats that ``tracemalloc`` counted: 96 B
    charged to every line past the first thirty or so of a long function.
    """
    return [index * 0.0 for index in range(count)]


def _ignore_line(line: int) -> None:
    """A finished block's line events (until its session is detached)."""


def _span(code: types.CodeType) -> tuple[int, int]:
    """The first line of ``code`` and how many line numbers its instructions span."""
    numbers = [line for _, _, line in code.co_lines() if line is not None]
    first = min(numbers, default=code.co_firstlineno)
    first = min(first, code.co_firstlineno)
    return first, max(numbers, default=first) - first + 1


class LineSession:
    """The line accounting of one measured call (or block); subclasses read the memory.

    Per line (indexed by ``line - first``): ``inc`` increment, ``top`` peak,
    ``occ`` occurrences, ``after`` the reading after its last run, in lists of
    floats made before the call starts (a row per line).
    ``prev`` is the index of the line running now (``-1``: none; the code is
    not running, before its start, after a ``return`` or ``yield``), and
    ``before`` the reading when it started; ``held`` the line a suspended
    generator continues on; ``base`` the reading when the call started (the
    table's base). Readings are floats, for the reason given in
    :class:`profiletools.tools.memprofile.peak.Window`.
    """

    __slots__ = (
        "after", "base", "before", "block", "code", "depth", "exit_line", "first", "frame", "frames", "held", "hit",
        "hooks", "inc", "lock", "number_bytes", "numbers_from", "numbers_past_index", "occ", "paused", "prev",
        "started", "thread", "top", "tracer",
    )

    #: What the figures count (``LineTable.basis``).
    basis = TRACED

    def __init__(self, code: types.CodeType, lock: Any, frame: types.FrameType | None) -> None:
        self.code = code
        self.lock = lock
        self.frame = frame  # a block's frame (running already); None for a function
        self.block = block = frame is not None
        first, count = _span(code)
        self.first = first
        self.inc = zeros(count)
        self.top = zeros(count)
        self.occ = zeros(count)
        self.after = zeros(count)
        self.prev = -1
        self.held = -1
        self.before, self.base = zeros(2)
        self.depth = 1 if block else 0  # frames of the code running now (recursion)
        self.started = block
        self.paused = False
        self.thread = _get_ident()
        self.tracer: Any = None  # the line-event delivery that serves this session
        #: A line event whose line number is past ``numbers_from`` (and, from ``sys.monitoring``, a start or
        #: return event whose offset is) holds a new integer alive while the session reads the memory:
        #: ``number_bytes`` (what ``tracemalloc`` counts for it, measured once per delivery) is taken off
        #: the reading. Set by the delivery.
        self.numbers_from = NO_NUMBERS
        self.number_bytes = 0.0
        #: ``numbers_from`` as a row index (``line - first``), for the line running now: made here, as
        #: ``prev + first`` would make a new integer inside the call, after the reading's reset.
        self.numbers_past_index = NO_NUMBERS
        self.hooks: Any = None  # what the delivery installs for this session
        self.frames: Any = None  # profiletools' frames the delivery holds until the call's windows closed
        #: What a delivery calls for a line event: ``on_line``; a block's stops at its ``with`` line, where
        #: the interpreter reports the block's end (``__exit__`` is profiletools' own code, not the block's).
        self.exit_line = -1 if frame is None else frame.f_lineno
        self.hit: Callable[[int], None] = self.on_line if frame is None else self._block_line

    def read(self, held: float = 0.0) -> tuple[float, float]:
        """``(current, peak since the previous reading)``, charging the peak to every running window.

        ``held``: bytes alive now that are the line event's, not the code's (see ``number_bytes``).
        """
        raise NotImplementedError

    def numbers_alive(self, number_bytes: float) -> None:
        """The delivery's events past line (or offset) 256 hold a new integer of ``number_bytes`` as this reads.

        A traced session takes it off those readings; an RSS one has nothing to
        take off (a few bytes are no page).
        """
        if self.basis == TRACED:
            self.numbers_from = CACHED_INTEGERS_END
            self.numbers_past_index = CACHED_INTEGERS_END - self.first
            self.number_bytes = number_bytes

    def held_by(self, number: int) -> float:
        """What the event's integer ``number`` (a line number or an offset) adds to a reading now."""
        return self.number_bytes if number > self.numbers_from else 0.0

    def start(self) -> None:
        """A block starts: the reading now is the table's ``base`` (a function's is taken when its frame starts)."""
        current = self.before = self.read()[0]
        self.base = current + 0.0  # (a float of its own: see zeros)

    def _charge(self, current: float, peak: float) -> None:
        """Charge the reading to the line running now (if any)."""
        prev = self.prev
        if prev >= 0:
            before = self.before
            self.inc[prev] += current - before
            if peak - before > self.top[prev]:
                self.top[prev] = peak - before
            self.after[prev] = current

    def on_line(self, line: int) -> None:
        """A line starts: charge what happened since the previous event to the previous line."""
        current, peak = self.read()
        self._charge(current, peak)
        index = self.prev = line - self.first
        self.occ[index] += 1.0
        self.before = current

    def _block_line(self, line: int) -> None:
        if line != self.exit_line:
            self.on_line(line)
            return
        self.close(self.held_by(line))
        self.hit = _ignore_line
        if self.tracer is not None:
            self.tracer.quiet(self)

    def close(self, held: float = 0.0) -> None:
        """The code stops running (return, yield, the end of a block): charge the current line up to now."""
        if self.prev < 0:
            return
        current, peak = self.read(held)
        line_held = self.number_bytes if self.prev > self.numbers_past_index else 0.0  # (its line's held_by)
        if line_held > held:  # the line's event held an integer when the peak was reset: it is not the line's
            peak = max(peak - (line_held - held), current)
        self._charge(current, peak)
        self.held, self.prev = self.prev, -1
        self.before = current

    def enter_frame(self, held: float = 0.0) -> None:
        """A frame of the measured code starts or resumes (a generator goes on with the line it yielded on)."""
        self.depth += 1
        if self.depth == 1:
            current = self.read(held)[0]
            self.before = current
            self.prev = self.held
            if not self.started:
                self.started = True
                self.base = current + 0.0  # (a float of its own: see zeros)

    def leave_frame(self, held: float = 0.0) -> None:
        """A frame of the measured code returns or yields (its locals still alive)."""
        if self.depth > 0:
            self.depth -= 1
            if self.depth == 0:
                self.close(held)
                if self.tracer is not None:
                    self.tracer.quiet(self)

    def peaks(self) -> str:
        """Where the peak column comes from (``LineTable.peaks``)."""
        return TRACED

    def table(self) -> LineTable:
        """The table (``after`` relative to the start of the call); reads the source. Call after the call."""
        base = int(self.base)
        first = self.first
        occ = self.occ
        rows = {
            first + index: (int(self.after[index]) - base, int(self.inc[index]), int(self.top[index]), int(count))
            for index, count in enumerate(occ) if count
        }
        code = self.code
        start, source = _block_source(code.co_filename, rows) if self.block else _source_of(code)
        name = getattr(code, "co_qualname", code.co_name)
        return LineTable(code.co_filename, name, start, source, rows, self.basis, base, self.peaks())

    def release(self) -> None:
        """Drop what ties the session to its delivery and frame (after the call)."""
        self.hit = _ignore_line
        self.hooks = self.tracer = self.frame = self.frames = None


class TracedLines(LineSession):
    """Lines measured by ``tracemalloc`` (the running windows' lock and list are the traced tracker's)."""

    __slots__ = ("active", "fold")

    def __init__(self, code: types.CodeType, fold: Fold, frame: types.FrameType | None) -> None:
        super().__init__(code, fold.lock, frame)
        self.fold = fold
        self.active = fold.active

    def read(self, held: float = 0.0) -> tuple[float, float]:
        """Current and peak traced bytes since the last reading; the peak charged to every running window."""
        lock = self.lock
        lock.acquire()
        try:
            current, peak = read_traced()
            reading = current - held, peak - held
            self.fold.charge(reading[1])
            del current, peak
            _reset_peak()  # once the reading's own integers are gone: they are not the next line's
        finally:
            lock.release()
        return reading

    def on_line(self, line: int) -> None:
        """A line starts: charge what happened since the previous event to the previous line.

        The hot path, so :meth:`read` (with :meth:`Fold.charge`) and
        :meth:`_charge` are written out here (the reading itself in
        :func:`read_traced`), making five floats when memory
        only grew since the previous event (the reading, which is also the
        peak then, the previous line's change and new sum, the count), and two
        more when it fell or peaked in between (the peak, the rise); the peak
        is reset last, when nothing made for this event is alive (the integers
        read are dropped), so no line's peak holds the accounting of the event
        before it.
        """
        lock = self.lock
        lock.acquire()
        try:
            current, peak = read_traced()
            held = self.number_bytes if line > self.numbers_from else 0.0  # (held_by, written out: the hot path)
            now = current - held
            high = now if peak == current else peak - held
            active = self.active
            index = len(active)
            while index > 1:
                index -= 1
                window = active[index]
                if high > window.top:
                    window.top = high
            prev = self.prev
            if prev >= 0:
                before = self.before
                change = now - before
                self.inc[prev] += change
                rise = change if high is now else high - before
                if rise > self.top[prev]:
                    self.top[prev] = rise
                self.after[prev] = now
            index = self.prev = line - self.first
            self.occ[index] += 1.0
            self.before = now
            del current, peak
            _reset_peak()
        finally:
            lock.release()


class RssLines(LineSession):
    """Lines measured by the resident set size: RSS after each line, each line's own peak from the kernel."""

    __slots__ = ("kernel", "peaks_of")

    basis = RSS

    def __init__(self, code: types.CodeType, peaks: Any, frame: types.FrameType | None) -> None:
        super().__init__(code, peaks.lock, frame)
        self.peaks_of = peaks.line
        self.kernel = peaks.kernel()

    def read(self, held: float = 0.0) -> tuple[float, float]:
        """RSS now, and the highest RSS since the previous reading (the kernel's mark, folded); ``held``: ignored."""
        current = current_rss() or 0
        if not self.kernel:
            return current + 0.0, current + 0.0
        peak = self.peaks_of(current)
        return current + 0.0, (peak if peak > current else current) + 0.0

    def peaks(self) -> str:
        """``"kernel"`` when each line's peak is the kernel's mark, else ``"readings"``."""
        return "kernel" if self.kernel else "readings"


def caller_frame() -> types.FrameType:
    """The innermost frame outside profiletools: the code around a ``with memprofile(...)`` block."""
    import sys

    frame = sys._getframe(1)
    while frame.f_back is not None and frame.f_code.co_filename.startswith(PACKAGE_DIR):
        frame = frame.f_back
    return frame


def function_of(target: Callable[..., Any]) -> Any:
    """The Python function whose lines ``lines=True`` follows for ``target`` (``None``: there is none).

    Its ``__code__`` is read at each call, not kept: other tools (line_profiler)
    may give the function a new code object after it was decorated.
    """
    func: Any = inspect.unwrap(target)
    func = getattr(func, "__func__", func)
    return func if isinstance(getattr(func, "__code__", None), types.CodeType) else None


_sources: dict[types.CodeType, tuple[int, list[str]]] = {}


def _source_of(code: types.CodeType) -> tuple[int, list[str]]:
    """The first line and source lines of a function (cached per code object)."""
    cached = _sources.get(code)
    if cached is None and code.co_name == "<module>":  # a whole program's top level (profiletools run)
        cached = _sources[code] = (1, linecache.getlines(code.co_filename))
    if cached is None:
        try:
            lines, first = inspect.getsourcelines(code)
        except (OSError, TypeError):
            lines, first = [], code.co_firstlineno
        cached = _sources[code] = (max(first, 1), lines)
    return cached


def without_source(code: types.CodeType) -> None:
    """Tables of ``code`` show no source: it has none to find (looking costs a scan of every module's file)."""
    _sources[code] = (code.co_firstlineno, [])


def _block_source(filename: str, rows: dict[int, Any]) -> tuple[int, list[str]]:
    """The source lines from the first to the last line a block ran."""
    if not rows:
        return 1, []
    first, last = min(rows), max(rows)
    return first, linecache.getlines(filename)[first - 1:last]
