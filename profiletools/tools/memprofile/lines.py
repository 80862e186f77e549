"""Line-by-line memory for ``memprofile(lines=True)``: how much each line of one function allocated.

A line event is delivered for each line of the measured code only (Python 3.12+:
``sys.monitoring`` local events on that one code object, so functions it calls
run untraced; before 3.12, or when no monitoring tool id is free:
``sys.settrace``). At each event the session reads ``tracemalloc``'s current
and peak traced bytes, resets the peak and charges it to every running
measured call (under the lock of ``profiletools.tools.memprofile.api``'s tracker, so other
calls' peaks stay right), and charges the change since the previous event to
the previous line: allocations made by
callees count for the line that called them. Figures are exact byte counts of
Python allocations, not RSS, so no page-granularity noise: a line shows a
negative increment only when it really released traced memory.
"""

from __future__ import annotations

import inspect
import linecache
import sys
import threading
import tracemalloc
import types
from collections.abc import Callable
from typing import Any, Protocol

from profiletools.core import PACKAGE_DIR
from profiletools.core.records import format_bytes

_traced = tracemalloc.get_traced_memory
_reset_peak = tracemalloc.reset_peak
_get_ident = threading.get_ident
_lock = threading.Lock()


class LineTable:
    """The per-line memory table of one call.

    ``rows`` maps a line number to ``(after, increment, peak, occurrences)``:
    ``after`` is the traced memory after the line's last run, relative to the
    start of the call; ``increment`` the sum over its runs of what it left
    allocated (negative: it freed); ``peak`` the most it held at once above the
    memory before it, over its runs; ``occurrences`` how often it ran. Bytes.
    """

    __slots__ = ("filename", "first_line", "function", "rows", "source")

    def __init__(
        self, filename: str, function: str, first_line: int, source: list[str],
        rows: dict[int, tuple[int, int, int, int]],
    ) -> None:
        self.filename = filename
        self.function = function
        self.first_line = first_line
        self.source = source
        self.rows = rows

    def __repr__(self) -> str:
        return f"<LineTable of {self.function} ({len(self.rows)} lines ran)>"

    def contents(self, line: int) -> str:
        """The source text of ``line`` (empty when unknown)."""
        index = line - self.first_line
        return self.source[index].rstrip() if 0 <= index < len(self.source) else ""

    def to_dict(self) -> dict[str, Any]:
        """File, function and one dict per line that ran (JSON-ready)."""
        return {
            "file": self.filename,
            "function": self.function,
            "first_line": self.first_line,
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
        head = f"{'Line #':>6}  {'Mem after':>11}  {'Increment':>11}  {'Peak':>11}  {'Occurrences':>11}  Line Contents"
        lines = [f"File: {self.filename}", "", head, "=" * len(head)]
        numbers = range(self.first_line, self.first_line + len(self.source)) if self.source else sorted(self.rows)
        for line in numbers:
            row = self.rows.get(line)
            if row is None:
                lines.append(f"{line:>6}  {'':>11}  {'':>11}  {'':>11}  {'':>11}  {self.contents(line)}")
                continue
            after, increment, peak, occurrences = row
            sign = "+" if increment > 0 else ""
            lines.append(
                f"{line:>6}  {format_bytes(after):>11}  {sign + format_bytes(increment):>11}  "
                f"{format_bytes(peak):>11}  {occurrences:>11}  {self.contents(line)}"
            )
        return "\n".join(lines)


class SharedPeak(Protocol):
    """What a session needs of ``profiletools.tools.memprofile.api``'s tracker: its lock and the running windows."""

    lock: threading.Lock
    active: list[Any]  # objects with float ``base`` and ``high``


class LineSession:
    """The line accounting of one measured call (or block) on one thread.

    The hot path (:meth:`on_line`) is written to allocate nothing that
    ``tracemalloc`` traces beyond the two integers ``get_traced_memory``
    returns: sums are floats (taken from CPython's float free list, which
    does not call the traced allocator), the lock is taken with
    ``acquire``/``release`` (``with`` would build bound methods), and the
    running windows are walked by index (a ``for`` loop builds an iterator).
    """

    __slots__ = (
        "active", "base", "block", "code", "frame", "local_trace", "lock", "paused", "prev_current", "prev_line",
        "rows", "thread", "tracer",
    )

    def __init__(self, code: types.CodeType, shared: SharedPeak, base: float, frame: types.FrameType | None) -> None:
        self.code = code
        self.lock = shared.lock
        self.active = shared.active
        self.base = base
        self.paused = False
        self.prev_line: int | None = None
        self.prev_current = float(base)
        #: line -> [increment, peak, occurrences, traced bytes after it (absolute)], floats
        self.rows: dict[int, list[float]] = {}
        self.thread = _get_ident()
        self.frame = frame  # the block's frame (None for a decorated function)
        self.block = frame is not None
        self.tracer: _Tracer | None = None
        self.local_trace: Callable[[types.FrameType, str, Any], Any] | None = None  # sys.settrace only

    def on_line(self, line: int) -> None:
        """A new line starts: charge what happened since the last event to the previous line."""
        lock = self.lock
        lock.acquire()
        try:
            current, peak = _traced()
            _reset_peak()
            active = self.active
            index = len(active)
            while index:
                index -= 1
                window = active[index]
                if peak - window.base > window.high:
                    window.high = peak - window.base
        finally:
            lock.release()
        prev = self.prev_line
        if prev is not None:
            row = self.rows[prev]
            before = self.prev_current
            row[0] += current - before
            if peak - before > row[1]:
                row[1] = peak - before
            row[3] = current
        new = self.rows.get(line)
        if new is None:
            new = self.rows[line] = [0.0, 0.0, 0.0, current]
        new[2] += 1.0
        self.prev_line = line
        self.prev_current = current + 0.0

    def _read(self) -> tuple[int, int]:
        """Current and peak traced bytes since the last reading (peaks charged to every window)."""
        with self.lock:
            current, peak = _traced()
            _reset_peak()
            for window in self.active:
                if peak - window.base > window.high:
                    window.high = peak - window.base
        return current, peak

    def _close_line(self) -> None:
        """Charge what happened since the last event to the current line (end or suspension)."""
        current, peak = self._read()
        prev = self.prev_line
        if prev is not None:
            row = self.rows[prev]
            before = self.prev_current
            row[0] += current - before
            if peak - before > row[1]:
                row[1] = peak - before
            row[3] = current
        self.prev_current = float(current)

    def pause(self) -> None:
        """The measured generator or coroutine is suspended: stop charging its lines."""
        self._close_line()
        self.paused = True
        if self.tracer is not None:
            self.tracer.detach(self)

    def resume(self) -> None:
        """It runs again (maybe on another thread): charge from now on."""
        self.thread = _get_ident()
        self.paused = False
        if self.tracer is not None:
            self.tracer.attach(self)
        self.prev_current = float(self._read()[0])

    def stop(self) -> None:
        """Stop tracing; charge the last line (call :meth:`table` after the measured window)."""
        if not self.paused:
            self._close_line()
            self.paused = True
        if self.tracer is not None:
            self.tracer.detach(self)
            self.tracer = None
        self.frame = None

    def table(self) -> LineTable:
        """The table (``after`` relative to the traced memory at the start); reads the source."""
        base = self.base
        rows = {
            line: (int(after - base), int(increment), int(peak), int(occurrences))
            for line, (increment, peak, occurrences, after) in self.rows.items()
        }
        code = self.code
        first, source = _block_source(code.co_filename, rows) if self.block else _source_of(code)
        return LineTable(code.co_filename, getattr(code, "co_qualname", code.co_name), first, source, rows)


# -- delivering line events ------------------------------------------------------------


class _Tracer:
    """How line events reach sessions."""

    def attach(self, session: LineSession) -> None:
        """Start delivering the session's code's lines on its thread to it."""

    def detach(self, session: LineSession) -> None:
        """Stop delivering to the session."""


class _Here(threading.local):
    """This thread's running sessions, innermost last, and the innermost one itself.

    Line events find their session by identity (``top.code is code``): a dict
    keyed by code objects would hash the whole code object on every event.
    """

    def __init__(self) -> None:
        self.stack: list[LineSession] = []
        self.top: LineSession | None = None

    def push(self, session: LineSession) -> None:
        self.stack.append(session)
        self.top = session

    def remove(self, session: LineSession) -> bool:
        """Take ``session`` off this thread's stack; whether it was there."""
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index] is session:
                del self.stack[index]
                self.top = self.stack[-1] if self.stack else None
                return True
        return False

    def find(self, code: types.CodeType) -> LineSession | None:
        for session in reversed(self.stack):
            if session.code is code:
                return session
        return None


_here = _Here()


class _Monitoring(_Tracer):
    """Python 3.12+: ``sys.monitoring`` LINE events on the measured code objects only."""

    def __init__(self) -> None:
        #: code -> how many sessions (on any thread) follow it now
        self.users: dict[types.CodeType, int] = {}
        self.tool: int | None = None

    def _acquire(self) -> bool:
        monitoring: Any = getattr(sys, "monitoring")  # noqa: B009 - absent before 3.12
        for tool in (4, 3):
            try:
                monitoring.use_tool_id(tool, "profiletools")
            except ValueError:
                continue
            monitoring.register_callback(tool, monitoring.events.LINE, _on_line)
            self.tool = tool
            return True
        return False

    def usable(self) -> bool:
        """Whether a monitoring tool id is ours (acquired on first use)."""
        with _lock:
            return self.tool is not None or self._acquire()

    def attach(self, session: LineSession) -> None:
        monitoring: Any = getattr(sys, "monitoring")  # noqa: B009
        code = session.code
        with _lock:
            if self.tool is None and not self._acquire():
                return
            count = self.users.get(code, 0)
            if not count:
                monitoring.set_local_events(self.tool, code, monitoring.events.LINE)
            self.users[code] = count + 1
            _here.push(session)

    def detach(self, session: LineSession) -> None:
        monitoring: Any = getattr(sys, "monitoring")  # noqa: B009
        code = session.code
        with _lock:
            if not _here.remove(session):
                return
            count = self.users.pop(code, 1) - 1
            if count:
                self.users[code] = count
                return
            if self.tool is not None:
                monitoring.set_local_events(self.tool, code, 0)
                if not self.users:  # hand the tool id back while nothing is measured
                    monitoring.register_callback(self.tool, monitoring.events.LINE, None)
                    monitoring.free_tool_id(self.tool)
                    self.tool = None


def _on_line(code: types.CodeType, line: int) -> None:
    """The monitoring callback: hand the event to this thread's session of ``code``, if any."""
    session = _here.top
    if session is None:
        return  # another thread's measured code, run unmeasured here
    if session.code is not code:  # recursion through another measured function
        session = _here.find(code)
        if session is None:
            return
    session.on_line(line)


class _SetTrace(_Tracer):
    """Before 3.12: ``sys.settrace`` on the measuring thread, lines of the measured code only."""

    def attach(self, session: LineSession) -> None:
        on_line = session.on_line

        def local_trace(frame: types.FrameType, event: str, arg: Any) -> Any:
            if event == "line":
                on_line(frame.f_lineno)
            return local_trace

        session.local_trace = local_trace
        _here.push(session)
        if sys.gettrace() is not _global_trace:
            sys.settrace(_global_trace)
        if session.frame is not None:
            session.frame.f_trace = local_trace
            session.frame.f_trace_lines = True

    def detach(self, session: LineSession) -> None:
        if not _here.remove(session):
            return
        if not _here.stack:
            sys.settrace(None)
        if session.frame is not None:
            session.frame.f_trace = None


def _global_trace(frame: types.FrameType, event: str, arg: Any) -> Any:
    """The thread's trace function: a new frame of a measured code object gets its session's tracer."""
    session = _here.find(frame.f_code)
    return None if session is None else session.local_trace


_monitoring = _Monitoring() if hasattr(sys, "monitoring") else None
_settrace = _SetTrace()


def running(code: types.CodeType) -> bool:
    """Whether a line session of ``code`` is running on this thread now (recursion)."""
    return _here.find(code) is not None


def start(code: types.CodeType, shared: SharedPeak, base: float, frame: types.FrameType | None) -> LineSession | str:
    """Start a line session of ``code`` on this thread; a reason string when line events are unavailable."""
    session = LineSession(code, shared, base, frame)
    if _monitoring is not None and _monitoring.usable():
        session.tracer = _monitoring
    else:
        if sys.gettrace() not in (None, _global_trace):
            return "lines=True needs sys.settrace, which another tracer (debugger, coverage) holds"
        session.tracer = _settrace
    session.tracer.attach(session)
    return session


def caller_frame() -> types.FrameType:
    """The innermost frame outside profiletools: the code around a ``with memprofile(...)`` block."""
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


def _block_source(filename: str, rows: dict[int, Any]) -> tuple[int, list[str]]:
    """The source lines from the first to the last line a block ran."""
    if not rows:
        return 1, []
    first, last = min(rows), max(rows)
    return first, linecache.getlines(filename)[first - 1:last]
