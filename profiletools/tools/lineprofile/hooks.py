"""How line_profiler's counting is switched on and off: one strategy per interpreter hook.

line_profiler 5.1 counts lines through one of two hooks, by interpreter
(measured on CPython 3.11.7 and 3.12.1):

* :class:`TraceHook` (3.11, or ``LINE_PROFILER_CORE=legacy`` on 3.12+): its C
  trace function (``PyEval_SetTrace``, the hook behind ``sys.settrace``),
  installed per thread by the profiler's ``enable()``. Every line that runs
  while it is installed costs a call into it, profiled or not, so it is
  installed as the last thing before the user's code (the engine answers
  :data:`ENABLE` and the caller calls ``enable()``) and removed as the first
  thing after. It coexists with ``cProfile`` (``sys.setprofile``) but would
  silence a debugger's or coverage's tracer, so a foreign tracer makes the
  call step aside.
* :class:`MonitoringHook` (3.12+): ``sys.monitoring`` with ``PROFILER_ID``
  (the tool id ``cProfile`` takes too: one of them at a time), process-wide.
  line_profiler's own ``enable()`` turns its events on globally, which
  re-instruments every function run afterwards and calls back on every line
  of every function; this hook registers line_profiler's callbacks itself and
  turns ``LINE``/``PY_RETURN``/``PY_YIELD`` on as *local* events of the timed
  code objects only (``RAISE``/``RERAISE`` cannot be local: they are global).

Both claim :mod:`profiletools.core.profiler_slot` before switching on (per
thread for the trace function, per process for ``sys.monitoring``) and give
it back after switching off. The engine (:mod:`.engine`) calls them under its
lock with its count of active steps; a hook never reads the counters.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterable
from typing import Any, ClassVar

from profiletools.core import profiler_slot, settings
from profiletools.tools.lineprofile import TOOL
from profiletools.tools.lineprofile.targets import describe

__all__ = ["ENABLE", "Hook", "MonitoringHook", "TraceHook", "failed"]

_TOOL = "lineprofile"
#: The slot this tool holds (its declared hook, looked up once).
_HOOK = TOOL.hook
assert _HOOK is not None  # (the declaration names one on every version)
#: The slot's claim and release for this tool and hook, bound once (each call pays no look-up).
_claim, _release = profiler_slot.bind(_TOOL, _HOOK)[:2]

#: Returned by :meth:`Hook.switch_on` with ``defer=True``: the caller installs the trace
#: function itself (``profiler.enable()``), as the very last thing before the user's code.
ENABLE: Any = object()


def failed(action: str, exc: BaseException) -> str:
    """Why line profiling did not ``start``/``stop``: line_profiler raised (said once as a warning)."""
    message = f"line_profiler failed to {action}: {type(exc).__qualname__}: {exc}"
    settings.warn_once("lineprofile", f"{action}:{type(exc).__qualname__}", message)
    return message


class Hook:
    """One way of switching line_profiler's counting on and off (see the module docstring)."""

    #: ``"trace"`` or ``"monitoring"`` (what ``ENGINE.mode`` says).
    name: ClassVar[str] = ""
    #: Whether the hook is installed per thread (the trace function) or for the process.
    per_thread: ClassVar[bool] = False
    #: For a hook whose :meth:`switch_on` and :meth:`switch_off` do nothing but take the slot
    #: for a thread's first step (``claim(None, me)``: ``None`` or why not) and give it back
    #: after its last (``release(me)``), those two: the engine calls them itself, two calls
    #: less on every call. ``None``: the engine calls the methods.
    claim: Any = None
    release: Any = None

    def __init__(self, profiler: Any) -> None:
        self.profiler = profiler

    def unsupported(self) -> str | None:
        """Why this line_profiler cannot be switched this way at all, or ``None``."""
        return None

    def switch_on(
        self, codes: frozenset[types.CodeType], first: bool, first_here: bool, defer: bool, me: int
    ) -> Any:
        """Count ``codes`` from now on, for a step starting on this thread.

        ``first``: no step was active in the process; ``first_here``: none on
        this thread, ``me`` (its ident). Returns ``None`` (counting), :data:`ENABLE` (``defer``:
        the caller installs the trace function) or why not (nothing was
        switched on).
        """
        raise NotImplementedError

    def switch_off(self, codes: frozenset[types.CodeType], last: bool, last_here: bool, me: int) -> str | None:
        """Stop counting ``codes`` for a step ending on this thread, ``me`` (``last``, ``last_here``: none remains)."""
        raise NotImplementedError

    def untrace(self, current: Any = None, failure: BaseException | None = None, done: bool = False) -> str | None:
        """Remove a per-thread hook from this thread (see :meth:`TraceHook.untrace`); a reason if disturbed."""
        return None

    def forget(self, codes: frozenset[types.CodeType]) -> None:
        """A forked child lost a step of another thread: stop counting its ``codes``."""

    def after_fork(self, last: bool) -> None:
        """In a forked child only this thread exists (``last``: no step remains)."""


class TraceHook(Hook):
    """line_profiler's C trace function, installed per thread (CPython 3.11, or its legacy core)."""

    name = "trace"
    per_thread = True

    def __init__(self, profiler: Any) -> None:
        super().__init__(profiler)
        #: The slot looks for a foreign sys.settrace tracer only where it expects line_profiler to use it.
        self.check_tracer = TOOL.hook != "settrace"
        if not self.check_tracer:  # switching on (deferred) and off is claiming and releasing
            self.claim, self.release = _claim, _release

    def switch_on(
        self, codes: frozenset[types.CodeType], first: bool, first_here: bool, defer: bool, me: int
    ) -> Any:
        if not first_here:  # installed already on this thread
            return None
        reason = _claim(None, me)
        if reason is None and self.check_tracer and sys.gettrace() is not None:
            _release(me)  # line_profiler forced to its legacy core on 3.12+
            reason = f"a tracer is installed with sys.settrace ({describe(sys.gettrace())})"
        if reason is not None or defer:
            return reason or ENABLE
        try:
            self.profiler.enable()
        except Exception as exc:  # noqa: BLE001 - never into user code
            _release(me)
            return failed("start", exc)
        return None

    def switch_off(self, codes: frozenset[types.CodeType], last: bool, last_here: bool, me: int) -> str | None:
        if last_here:  # the caller removed the trace function already (Engine.untraces)
            _release(me)
        return None

    def untrace(self, current: Any = None, failure: BaseException | None = None, done: bool = False) -> str | None:
        """Remove the trace function from this thread, keeping a tracer installed meanwhile.

        ``done``: the caller already called line_profiler's ``disable()`` (as the
        first thing after the user's code), with ``current`` the hook before and
        ``failure`` what it raised.
        """
        profiler = self.profiler
        if not done:
            current = sys.gettrace()
            try:
                profiler.disable()
            except Exception as exc:  # noqa: BLE001 - never into user code
                failure = exc
        problem = None if failure is None else failed("stop", failure)
        manager = profiler._manager if failure is None else None
        if current is not manager:
            # Someone (a debugger?) replaced the hook during the call: line_profiler would put back
            # what was there before it started, so install theirs again.
            sys.settrace(current)
            problem = problem or (
                f"sys.settrace was taken over by {describe(current)} during the call (a debugger?); "
                "the lines after that were not counted"
            )
        return problem


def _monitoring() -> Any:
    return getattr(sys, "monitoring")  # noqa: B009 - absent from the 3.10 stubs mypy checks against


#: line_profiler's thread-manager callbacks, by sys.monitoring event number (3.12+).
_CALLBACKS: tuple[tuple[int, str], ...] = ()
_LOCAL_EVENTS = 0
if sys.version_info >= (3, 12):
    _events = _monitoring().events
    _CALLBACKS = (
        (_events.LINE, "handle_line_event"),
        (_events.PY_RETURN, "handle_return_event"),
        (_events.PY_YIELD, "handle_yield_event"),
        (_events.RAISE, "handle_raise_event"),
        (_events.RERAISE, "handle_reraise_event"),
    )
    _LOCAL_EVENTS = _events.LINE | _events.PY_RETURN | _events.PY_YIELD


class MonitoringHook(Hook):
    """``sys.monitoring`` with ``PROFILER_ID``, line events local to the timed code objects (3.12+)."""

    name = "monitoring"

    def __init__(self, profiler: Any) -> None:
        super().__init__(profiler)
        #: Active steps per timed code object (its local events are on while > 0).
        self.code_steps: dict[types.CodeType, int] = {}
        #: The line_profiler thread manager whose callbacks are registered.
        self.owner: Any = None

    def unsupported(self) -> str | None:
        import line_profiler

        manager = self.profiler._manager
        needed = [name for _event, name in _CALLBACKS] + ["active_instances"]
        missing = [name for name in needed if not hasattr(manager, name)]
        if not missing:
            return None
        return (
            f"line_profiler {line_profiler.__version__} lacks what lineprofile switches "
            f"(thread manager without {', '.join(missing)})"
        )

    def switch_on(
        self, codes: frozenset[types.CodeType], first: bool, first_here: bool, defer: bool, me: int
    ) -> Any:
        if first:
            reason = self._start()
            if reason is not None:
                return reason
        reason = self._codes_on(codes)
        if reason is not None and first:
            self._stop()
        return reason

    def switch_off(self, codes: frozenset[types.CodeType], last: bool, last_here: bool, me: int) -> str | None:
        reason = self._codes_off(codes)
        if last:
            reason = self._stop() or reason
        return reason

    def forget(self, codes: frozenset[types.CodeType]) -> None:
        self._codes_off(codes)

    def after_fork(self, last: bool) -> None:
        if last and self.owner is not None:
            self._stop()

    def _start(self) -> str | None:
        """Take ``PROFILER_ID`` and register line_profiler's callbacks (no local events yet)."""
        reason = _claim()
        if reason is not None:
            return reason
        monitoring = _monitoring()
        tool = monitoring.PROFILER_ID
        try:
            monitoring.use_tool_id(tool, "line_profiler")
        except ValueError:  # taken since the slot looked
            _release()
            return f"sys.monitoring PROFILER_ID is held by {monitoring.get_tool(tool)!r}"
        try:
            manager = self.profiler._manager
            for event, name in _CALLBACKS:
                monitoring.register_callback(tool, event, getattr(manager, name))
            manager.active_instances.add(self.profiler)
            self.owner = manager
            monitoring.set_events(tool, monitoring.events.RAISE | monitoring.events.RERAISE)
        except Exception as exc:  # noqa: BLE001 - never into user code
            reason = failed("start", exc)
            self._stop()
            return reason
        return None

    def _codes_on(self, codes: Iterable[types.CodeType]) -> str | None:
        """Count a step on each code object; switch its line events on when it is the first."""
        monitoring = _monitoring()
        steps = self.code_steps
        done: list[types.CodeType] = []
        try:
            for code in codes:
                count = steps.get(code, 0)
                if count == 0:
                    monitoring.set_local_events(monitoring.PROFILER_ID, code, _LOCAL_EVENTS)
                steps[code] = count + 1
                done.append(code)
        except Exception as exc:  # noqa: BLE001 - never into user code
            self._codes_off(done)
            return failed("start", exc)
        return None

    def _codes_off(self, codes: Iterable[types.CodeType]) -> str | None:
        steps = self.code_steps
        idle = []
        for code in codes:
            count = steps[code] - 1
            if count:
                steps[code] = count
            else:
                del steps[code]
                idle.append(code)
        if not idle:
            return None
        monitoring = _monitoring()
        try:
            if monitoring.get_tool(monitoring.PROFILER_ID) == "line_profiler":  # else: taken from us, leave it
                for code in idle:
                    monitoring.set_local_events(monitoring.PROFILER_ID, code, 0)
        except Exception as exc:  # noqa: BLE001 - never into user code
            return failed("stop", exc)
        return None

    def _stop(self) -> str | None:
        """Unregister the callbacks and give ``PROFILER_ID`` back (from any thread)."""
        monitoring = _monitoring()
        tool = monitoring.PROFILER_ID
        profiler = self.profiler
        owner, self.owner = self.owner, None
        reason = None
        try:
            holder = monitoring.get_tool(tool)
            if owner is not None:
                owner.active_instances.discard(profiler)
            if holder != "line_profiler":
                reason = (
                    f"sys.monitoring PROFILER_ID was taken over during the call (now held by {holder!r}); "
                    "the lines after that were not counted"
                )
            else:
                monitoring.set_events(tool, 0)
                for event, _name in _CALLBACKS:
                    monitoring.register_callback(tool, event, None)
                # line_profiler's disable() forgets this thread's unfinished line timings (a block
                # may end inside a timed function) and, with nothing else active, frees the tool id.
                profiler.disable()
                if monitoring.get_tool(tool) == "line_profiler":
                    monitoring.free_tool_id(tool)
        except Exception as exc:  # noqa: BLE001 - never into user code
            reason = failed("stop", exc)
        _release()
        return reason
