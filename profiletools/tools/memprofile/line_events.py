"""Line events of the measured code, delivered to its line session, with nothing of ours running elsewhere.

Two deliveries, chosen per session:

``Monitoring`` (Python 3.12+)
    ``sys.monitoring`` local events (``LINE``, and ``PY_START``/``PY_RESUME``/
    ``PY_RETURN``/``PY_YIELD`` to know when the code runs) switched on for the
    measured code object only: the functions it calls run untraced and at full
    speed. Used unless both monitoring tool ids profiletools may take (4, 3)
    are held by others.

``FrameTrace`` (before 3.12, and the fallback)
    Line events need the thread's global trace function (``sys.settrace``),
    but only the measured frame needs a trace function of its own
    (``frame.f_trace``). While a session runs, the global trace function is a
    *C* callable, ``functools.partial(getattr)``: the interpreter calls it on
    each new frame as ``getattr(frame, "call", None)``, which answers ``None``
    ("no trace function for this frame") without running any Python code of
    ours. A one-shot Python *starter* is the global trace function only from
    the moment the call is about to start until the measured frame's ``call``
    event, where it gives that frame the session's trace function and puts
    the C callable in its place. So no code of ours runs on other calls or
    other frames' lines. What remains is the interpreter's own tracing
    machinery, which before 3.12 runs on every instruction of every frame
    while any trace function is installed: the floor of any ``sys.settrace``
    design (it also materializes each called frame's object and locals, small
    allocations ``tracemalloc`` sees while they live). A recursive call made
    through the decorated function gets the starter again, so every frame of
    the measured code is followed; one made around it (not through the
    decorator) runs untraced and counts for the line that made it.

    The slot of ``sys.settrace`` is claimed in
    :mod:`profiletools.core.profiler_slot` while a session runs on a thread, so
    ``lineprofile`` (which needs it too before 3.12) steps aside naming
    ``memprofile``, and ``memprofile`` steps aside for a debugger or coverage.
"""

from __future__ import annotations

import functools
import sys
import threading
import types
from typing import Any

from profiletools.core import PACKAGE_DIR, profiler_slot
from profiletools.tools.memprofile.lines import CACHED_INTEGERS_END, LineSession, read_traced

_TOOL = "memprofile"
_lock = threading.Lock()
_settrace = sys.settrace
_gettrace = sys.gettrace

#: The thread's global trace function while a frame is followed: a C callable, so the interpreter
#: calls no Python code of ours for other frames; ``getattr(frame, "call", None)`` is ``None``.
C_TRACE: Any = functools.partial(getattr)
profiler_slot.own_tracer(C_TRACE, _TOOL)


class _Here(threading.local):
    """This thread's running sessions, innermost last (``top``: the innermost, or ``None``).

    Events find their session by identity (``top.code is code``): a dict keyed
    by code objects would hash the whole code object on every event.
    """

    def __init__(self) -> None:
        self.stack: list[LineSession] = []
        self.top: LineSession | None = None
        self.armed: Any = None  # the starter installed as the global trace function now

    def push(self, session: LineSession) -> None:
        self.stack.append(session)
        self.top = session

    def remove(self, session: LineSession) -> bool:
        """Take ``session`` off this thread's stack; whether it was there."""
        stack = self.stack
        for index in range(len(stack) - 1, -1, -1):
            if stack[index] is session:
                del stack[index]
                self.top = stack[-1] if stack else None
                return True
        return False

    def find(self, code: types.CodeType) -> LineSession | None:
        for session in reversed(self.stack):
            if session.code is code:
                return session
        return None


_here = _Here()


def running(code: types.CodeType) -> LineSession | None:
    """The session following ``code`` on this thread now (a recursive call), or ``None``."""
    return _here.find(code)


def _session_of(code: types.CodeType) -> LineSession | None:
    session = _here.top
    if session is None or session.code is code:
        return session
    return _here.find(code)  # recursion through another measured function


class Delivery:
    """How line events reach sessions (one instance per kind)."""

    name = ""
    #: What ``tracemalloc`` counts for the new integer some of this delivery's events hold while the session
    #: reads the memory (a line number or offset past 256): measured once per process by a throwaway call
    #: (``warmup.measure_event_numbers``); ``None`` until then, when sessions take nothing off their readings.
    number_bytes: float | None = None

    def attach(self, session: LineSession) -> str | None:
        """Start delivering the session's events on this thread; ``None``, or why it cannot."""
        raise NotImplementedError

    def prepare(self, session: LineSession) -> None:
        """Before the call's windows open: make now what following its lines would otherwise make inside them."""

    def arm(self, session: LineSession) -> None:
        """The measured code is about to be called or resumed (the last thing before the user's code)."""

    def quiet(self, session: LineSession) -> None:
        """The session stopped counting (its frame returned or yielded, its block ended): nothing to follow now."""

    def suspend(self, session: LineSession) -> None:
        """The measured generator or coroutine is suspended: this thread stops delivering to it."""
        _here.remove(session)

    def wake(self, session: LineSession) -> str | None:
        """It is resumed on this thread (maybe another one than before); ``None``, or why not followed now."""
        _here.push(session)
        return None

    def detach(self, session: LineSession) -> None:
        """Stop delivering to the session (the end of the call)."""
        raise NotImplementedError


# -- Python 3.12+: sys.monitoring ----------------------------------------------------------------


def _on_line(code: types.CodeType, line: int) -> None:
    session = _here.top
    if session is None:
        return  # another thread's measured code, run unmeasured here
    if session.code is not code:
        session = _here.find(code)  # recursion through another measured function
        if session is None:
            return
    session.hit(line)


def _on_start(code: types.CodeType, offset: int) -> None:
    session = _session_of(code)
    if session is not None:
        session.enter_frame(session.held_by(offset))


def _on_leave(code: types.CodeType, offset: int, value: object) -> None:
    session = _session_of(code)
    if session is not None:
        session.leave_frame(session.held_by(offset))


_handlers: dict[type, tuple[types.CodeType, ...]] = {}


def _handler_codes(kind: type) -> tuple[types.CodeType, ...]:
    """The code objects that run on a session's events (the event callbacks and the session's methods)."""
    codes = _handlers.get(kind)
    if codes is None:
        functions = [_on_line, _on_start, _on_leave, _session_of, _Here.find, read_traced]
        for name in ("on_line", "read", "_charge", "close", "enter_frame", "leave_frame", "_block_line", "held_by"):
            functions.append(getattr(kind, name))
        codes = _handlers[kind] = tuple(function.__code__ for function in functions)
    return codes


class Monitoring(Delivery):
    """``sys.monitoring`` local events on the measured code objects only."""

    name = "sys.monitoring"

    def __init__(self) -> None:
        self.monitoring: Any = getattr(sys, "monitoring")  # noqa: B009 - absent before 3.12
        #: code -> how many sessions (on any thread) follow it now
        self.users: dict[types.CodeType, int] = {}
        self.tool: int | None = None
        events = self.monitoring.events
        self.events = events.LINE | events.PY_START | events.PY_RESUME | events.PY_RETURN | events.PY_YIELD

    def _acquire(self) -> bool:
        monitoring = self.monitoring
        events = monitoring.events
        for tool in (4, 3):
            try:
                monitoring.use_tool_id(tool, "profiletools")
            except ValueError:
                continue
            monitoring.register_callback(tool, events.LINE, _on_line)
            monitoring.register_callback(tool, events.PY_START, _on_start)
            monitoring.register_callback(tool, events.PY_RESUME, _on_start)
            monitoring.register_callback(tool, events.PY_RETURN, _on_leave)
            monitoring.register_callback(tool, events.PY_YIELD, _on_leave)
            self.tool = tool
            return True
        return False

    def usable(self) -> bool:
        """Whether a monitoring tool id is ours (acquired on first use)."""
        with _lock:
            return self.tool is not None or self._acquire()

    def prepare(self, session: LineSession) -> None:
        # The interpreter updates a code object's instrumentation the first time it runs after any tool
        # changed what it monitors (cProfile switching off, say), allocating for it: for the functions
        # that handle our events, that would happen inside the measured window. Bringing them up to date
        # now (with no events of ours on them) does it before.
        tool, monitoring = self.tool, self.monitoring
        if tool is None:
            return
        for code in _handler_codes(type(session)):
            monitoring.set_local_events(tool, code, 0)

    def attach(self, session: LineSession) -> str | None:
        code = session.code
        with _lock:
            if self.tool is None and not self._acquire():
                return "no sys.monitoring tool id is free"
            count = self.users.get(code, 0)
            if not count:
                self.monitoring.set_local_events(self.tool, code, self.events)
            self.users[code] = count + 1
        _here.push(session)
        session.tracer = self
        session.numbers_alive(self.number_bytes or 0.0)  # each line number, and each offset, is an integer
        return None

    def detach(self, session: LineSession) -> None:
        _here.remove(session)  # not there when it ended suspended (a generator closed early)
        code = session.code
        with _lock:
            count = self.users.pop(code, 1) - 1
            if count:
                self.users[code] = count
                return
            if self.tool is not None:
                monitoring = self.monitoring
                monitoring.set_local_events(self.tool, code, 0)
                if not self.users:  # hand the tool id back while nothing is measured
                    for event in (monitoring.events.LINE, monitoring.events.PY_START, monitoring.events.PY_RESUME,
                                  monitoring.events.PY_RETURN, monitoring.events.PY_YIELD):
                        monitoring.register_callback(self.tool, event, None)
                    monitoring.free_tool_id(self.tool)
                    self.tool = None


# -- before 3.12: the measured frame's f_trace, a C callable as the global trace -----------------


_line_tables: dict[types.CodeType, list[Any]] = {}


def line_table(code: types.CodeType) -> list[Any]:
    """The line of each instruction of ``code``, by its offset in bytes (``frame.f_lasti``; cached per code object).

    A line event reads its line here rather than as ``frame.f_lineno``, which
    makes a new integer past line 256 (CPython caches the small ones), and
    ``tracemalloc`` traces that integer's allocation and release: about 3,000
    machine instructions a line event on 3.11, 15 % of a call of an
    allocating loop. An offset is a small integer in a function of up to 128
    instructions; an instruction without a line holds ``None`` (no line event
    starts there).
    """
    table = _line_tables.get(code)
    if table is None:
        table = [None] * len(code.co_code)
        for start, end, line in code.co_lines():
            table[start:end] = [line] * (end - start)
        _line_tables[code] = table
    return table


def _frame_tracer(session: LineSession, number_bytes: float) -> Any:
    """The trace function of the measured frames: lines, and leaving the frame (return or yield).

    A line event reads its line as ``line_table(code)[frame.f_lasti]`` when every
    offset of the code is a cached integer (a function of up to 128
    instructions): no integer is made. In a longer function it reads
    ``frame.f_lineno``, an integer kept alive through the reading (a new one
    past line 256, which the session takes off: ``numbers_from``), not an
    offset made and dropped before it, which would raise the line's peak.
    """
    leave = session.leave_frame
    code = session.code
    if len(code.co_code) - 2 <= CACHED_INTEGERS_END:
        lines = line_table(code)

        def trace(frame: types.FrameType, event: str, arg: Any) -> Any:
            if event == "line":
                session.hit(lines[frame.f_lasti])
            elif event == "return":
                leave()
            return trace

        return trace
    session.numbers_alive(number_bytes)

    def trace_by_number(frame: types.FrameType, event: str, arg: Any) -> Any:
        if event == "line":
            session.hit(frame.f_lineno)
        elif event == "return":
            leave()
        return trace_by_number

    return trace_by_number


def _starter(session: LineSession, trace: Any) -> Any:
    """The global trace function until the measured frame starts: it hands that frame ``trace``."""
    code = session.code

    def starter(frame: types.FrameType, event: str, arg: Any) -> Any:
        if frame.f_code is not code:
            return None
        _settrace(C_TRACE)  # from now on no Python code of ours runs on other calls
        _here.armed = None
        session.enter_frame()
        return trace

    return starter


class FrameTrace(Delivery):
    """``sys.settrace`` with a C callable as the global trace; a trace function on the measured frames only."""

    name = "sys.settrace"

    def _take(self) -> str | None:
        """The first session of this thread: check for a foreign tracer, claim the ``sys.settrace`` slot."""
        if _here.stack:
            return None
        current = _gettrace()
        if current is not None and current is not C_TRACE and current is not _here.armed:
            return profiler_slot.foreign_trace_reason(current)
        return profiler_slot.claim(_TOOL)

    def _give_back(self) -> None:
        """After a session left this thread: the C callable while others run here, else nothing."""
        _here.armed = None
        if _here.stack:
            _settrace(C_TRACE)  # an outer session's frame keeps its own trace function
        else:
            _settrace(None)
            profiler_slot.release(_TOOL)

    def attach(self, session: LineSession) -> str | None:
        reason = self._take()
        if reason is not None:
            return reason
        trace = _frame_tracer(session, self.number_bytes or 0.0)
        session.hooks = (trace, _starter(session, trace))
        _here.push(session)
        session.tracer = self
        frame = session.frame
        if frame is not None:  # a block: its frame is running already, give it the trace function now
            frame.f_trace = trace
            frame.f_trace_lines = True
        return None

    def prepare(self, session: LineSession) -> None:
        # Every frame that runs while a trace function is installed gets a frame object (for its line and
        # return events, even without a trace function of its own): profiletools' frames around the user's
        # code would get theirs inside the measured window, some to keep past its end (the frame that
        # calls the user's function), some to free before it (those that return first). Made now and held
        # by the session until the window has closed, none of them moves the call's figures. Only
        # profiletools' frames and the first frame above them (the user's, whose object a returning frame
        # of ours links to) are touched; holding a finished frame of ours keeps only our own locals.
        held = []
        frame: types.FrameType | None = sys._getframe(1)
        while frame is not None:
            held.append(frame)
            if not frame.f_code.co_filename.startswith(PACKAGE_DIR):
                break
            frame = frame.f_back
        session.frames = held

    def arm(self, session: LineSession) -> None:
        hooks = session.hooks
        if hooks is None:
            return
        if session.frame is not None:
            _settrace(C_TRACE)  # a block: its frame has its trace function, line events need a global one
        else:
            _here.armed = hooks[1]
            _settrace(hooks[1])

    def quiet(self, session: LineSession) -> None:
        # no Python code of ours needs line events now: profiletools' own frames run untraced
        _settrace(C_TRACE if len(_here.stack) > 1 else None)

    def suspend(self, session: LineSession) -> None:
        if _here.remove(session):
            self._give_back()

    def wake(self, session: LineSession) -> str | None:
        reason = self._take()
        if reason is None:
            _here.push(session)
        return reason

    def detach(self, session: LineSession) -> None:
        frame = session.frame
        if frame is not None:
            frame.f_trace = None
        session.hooks = None
        if _here.remove(session):  # not there when it ended suspended (suspend gave the hook back)
            self._give_back()


MONITORING: Monitoring | None = Monitoring() if hasattr(sys, "monitoring") else None
FRAME_TRACE = FrameTrace()


def delivery() -> Delivery:
    """The delivery a session attached now gets: ``sys.monitoring`` where it is usable, else the trace function."""
    if MONITORING is not None and MONITORING.usable():
        return MONITORING
    return FRAME_TRACE


def attach(session: LineSession) -> str | None:
    """Start delivering line events to ``session`` on this thread; ``None``, or why line events are unavailable."""
    return delivery().attach(session)
