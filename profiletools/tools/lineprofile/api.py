"""``lineprofile``: line_profiler's per-line timings around functions and blocks.

How line_profiler 5.1 hooks in, measured on CPython 3.11.7 and 3.12.1:

* **3.12+**: ``sys.monitoring`` with ``PROFILER_ID``, the tool id ``cProfile``
  takes too (only one of them can have it; line_profiler finding it taken
  piggybacks and corrupts cProfile's figures, cProfile finding it taken
  raises). Monitoring events reach every thread. line_profiler's own
  ``enable()`` turns its events on globally, which re-instruments every
  function run afterwards and calls back on every line of every function;
  the engine here registers line_profiler's callbacks itself and turns the
  line events on only for the timed code objects (``set_local_events``).
* **3.11**: line_profiler's C trace function (``PyEval_SetTrace``, the hook
  behind ``sys.settrace``), per thread. It coexists with ``cProfile``
  (``sys.setprofile``) but silences a debugger's or coverage's tracer while
  installed.

``profiletools.core.profiler_slot`` arbitrates: the slot is claimed when line
profiling starts (per process on 3.12, per thread on 3.11) and released when
it stops; a call that cannot have it runs unprofiled, and its record's
``skipped`` says who holds the hook. :data:`BACKEND` names the hook.

One ``LineProfiler`` serves the whole process (several instances step on
each other's bytecode padding and, on 3.12, on each other's tool id). Its
counters only grow, so a record is a difference: the counters of the
record's functions when its call stops minus when it started (summed over
the steps of a generator or coroutine). Between measurements nothing counts,
so the reading taken when line profiling last stopped serves as the next
call's start: a call costs one reading of the counters (about 0.1 µs per
profiled line in the process). line_profiler's counters do not say which
thread ran a line; when calls on two threads time the same functions at
once, the later call is not line-profiled, and the earlier one is reported
as skipped too when the later one's lines were counted into it (always on
3.12). Use ``aggregate=True`` for concurrent code: an aggregate counts every
line its functions ran while any of its calls was being measured.
"""

from __future__ import annotations

import dis
import functools
import inspect
import os
import sys
import threading
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, overload

import wrapt

from profiletools.core import profiler_slot, settings
from profiletools.core.backend import SUPPRESS, Backend, Skip
from profiletools.core.machinery import F, Probe, make_probe
from profiletools.core.records import Record
from profiletools.core.settings import STATE
from profiletools.tools.lineprofile import TOOL
from profiletools.tools.lineprofile.record import LineRecord, parse_unit, record_type_for

__all__ = ["BACKEND", "LineRecord", "lineprofile"]

_TOOL = "lineprofile"
_get_ident = threading.get_ident
_gettrace = sys.gettrace
_NO_FUNCTIONS = "no functions to time: name them, as in lineprofile(f, g) or lineprofile(also=[f])"
#: Returned by ``_Engine.activate(trace_last=True)``: install the trace function now, as the last thing.
ENABLE: Any = object()

#: line_profiler's hook on this interpreter: its default core, or the one ``LINE_PROFILER_CORE``
#: picks (``legacy`` on 3.12+ makes it the trace function there too; ``ENGINE.mode`` follows).
BACKEND = (
    "trace function (PyEval_SetTrace)"
    if sys.version_info < (3, 12) or os.environ.get("LINE_PROFILER_CORE", "").lower() in {"old", "legacy", "ctrace"}
    else "sys.monitoring (PROFILER_ID, local line events)"
)

#: ``(file, first line, qualified name)``: how line_profiler names a function in its stats.
Label = tuple[str, int, str]
#: A reading of line_profiler's counters: ``{line hash: {line: {"nhits": ..., "total_time": ...}}}``.
Reading = dict[int, dict[int, dict[str, Any]]]
#: Accumulated rows of a record: ``{label: {line: [hits, ticks]}}``.
Counts = dict[Label, dict[int, list[int]]]
#: One step's share of two readings, per function: ``(label, [(entries after, entries before or None)])``.
Parts = list[tuple[Label, list[tuple[dict[int, dict[str, Any]], dict[int, dict[str, Any]] | None]]]]


# -- which Python functions an object stands for ----------------------------------------


def python_functions(obj: object, argument: str) -> list[types.FunctionType]:
    """The Python functions whose lines timing ``obj`` means, decorator wrappers looked through.

    Functions, methods (bound or not), class and static methods, properties
    (each accessor), ``functools.partial`` objects, classes (their methods)
    and callable objects (their ``__call__``). Raises ``TypeError`` naming
    ``argument`` when there is no Python code to time (builtins, C functions).
    """
    found: list[types.FunctionType] = []
    _collect(obj, found, set(), descend=True)
    if not found:
        raise TypeError(
            f"lineprofile(): {argument} must be Python functions, methods, properties or classes "
            f"(C functions and builtins have no lines to time); got {type(obj).__name__} {obj!r:.60}"
        )
    return found


def _collect(obj: object, found: list[types.FunctionType], seen: set[int], descend: bool) -> None:
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, property):
        for accessor in (obj.fget, obj.fset, obj.fdel):
            if accessor is not None:
                _collect(accessor, found, seen, descend=False)
        return
    if isinstance(obj, (classmethod, staticmethod, types.MethodType)):
        _collect(obj.__func__, found, seen, descend=False)
        return
    if isinstance(obj, (functools.partial, functools.partialmethod)):
        _collect(obj.func, found, seen, descend=False)
        return
    if isinstance(obj, type):
        if descend:
            for member in vars(obj).values():
                if not isinstance(member, type):
                    _collect(member, found, seen, descend=False)
        return
    try:
        inner = inspect.unwrap(obj)  # type: ignore[arg-type]
    except ValueError:  # a __wrapped__ cycle
        inner = obj
    if inner is not obj:
        _collect(inner, found, seen, descend=False)
        return
    if isinstance(obj, types.FunctionType):
        if obj not in found:
            found.append(obj)
        return
    if callable(obj) and not isinstance(obj, (types.BuiltinFunctionType, types.BuiltinMethodType)):
        call = getattr(type(obj), "__call__", None)  # noqa: B004 - the class's method, not a check
        if isinstance(call, types.FunctionType):
            _collect(call, found, seen, descend=False)


# -- the one LineProfiler of the process -------------------------------------------------


class _Account:
    """Counts gathered between readings, for one call or one aggregate; also the token of a call.

    A per-call measurement is its own account (``account is self``); the
    calls of an aggregate each have a token whose ``account`` is the shared one.
    """

    __slots__ = (
        "account", "active", "busy", "codes", "counts", "keys", "parts", "per_call", "problem", "skip", "start",
        "stepping", "thread",
    )

    def __init__(self, codes: frozenset[types.CodeType], keys: tuple[tuple[Label, tuple[int, ...]], ...],
                 shared: _Account | None = None, *, aggregate: bool = False) -> None:
        self.codes = codes
        self.keys = keys
        #: A call's own account (False: an aggregate's, or the token of one of its calls).
        self.per_call = shared is None and not aggregate
        self.account = self if shared is None else shared
        #: Active steps now (one per thread measuring it); the start reading is kept while > 0.
        self.busy = 0
        self.start: Reading | None = None
        #: An aggregate's rows so far; a call keeps ``parts`` (turned into rows only when read).
        self.counts: Counts = {}
        self.parts: list[Parts] = []
        #: Why this call's table is not trustworthy (set by another thread's overlapping call).
        self.problem: str | None = None
        # -- as a call's token:
        #: Why this call is not (any more) line-profiled.
        self.skip: str | None = None
        self.stepping = False
        self.active = False
        self.thread = 0


def _accumulate(counts: Counts, keys: tuple[tuple[Label, tuple[int, ...]], ...], before: Reading,
                after: Reading) -> None:
    """Add ``after - before`` for the lines of ``keys`` to ``counts``."""
    for key, hashes in keys:
        lines = counts.get(key)
        if lines is None:
            lines = counts[key] = {}
        for line_hash in hashes:
            now = after.get(line_hash)
            if now:
                _add_difference(lines, now, before.get(line_hash))


def _add_difference(
    lines: dict[int, list[int]], now: dict[int, dict[str, Any]], old: dict[int, dict[str, Any]] | None
) -> None:
    """Add one code block's per-line ``now - old`` hits and time to ``lines`` (``old`` may be ``None``)."""
    for lineno, entry in now.items():
        hits = entry["nhits"]
        ticks = entry["total_time"]
        if old:
            previous = old.get(lineno)
            if previous is not None:
                hits -= previous["nhits"]
                ticks -= previous["total_time"]
        if hits or ticks:
            row = lines.get(lineno)
            if row is None:
                lines[lineno] = [hits, ticks]
            else:
                row[0] += hits
                row[1] += ticks


def _extract(keys: tuple[tuple[Label, tuple[int, ...]], ...], before: Reading, after: Reading) -> Parts:
    """The entries of ``keys``'s lines in two readings, kept for a later difference (cheap now)."""
    parts: Parts = []
    for key, hashes in keys:
        pairs = []
        for line_hash in hashes:
            now = after.get(line_hash)
            if now:
                pairs.append((now, before.get(line_hash)))
        parts.append((key, pairs))
    return parts


def _rows(steps: list[Parts]) -> dict[Label, list[tuple[int, int, int]]]:
    """line_profiler's ``timings`` from the parts of a call's steps."""
    counts: Counts = {}
    for parts in steps:
        for key, pairs in parts:
            lines = counts.setdefault(key, {})
            for now, old in pairs:
                _add_difference(lines, now, old)
    return {key: [(lineno, row[0], row[1]) for lineno, row in sorted(lines.items())] for key, lines in counts.items()}


def _describe(obj: object) -> str:
    return getattr(obj, "__qualname__", None) or type(obj).__name__


class _Engine:
    """The shared ``LineProfiler``: functions added once, switched on while any call is measured.

    Two ways to switch, after line_profiler's core on this interpreter:

    * ``"trace"`` (3.11): line_profiler's own ``enable()``/``disable()``, which
      install its C trace function on the calling thread; counted per thread.
    * ``"monitoring"`` (3.12+): line_profiler's callbacks on ``PROFILER_ID``,
      with ``LINE``/``PY_RETURN``/``PY_YIELD`` as *local* events of the timed
      code objects only and ``RAISE``/``RERAISE`` global. line_profiler's own
      ``enable()`` sets all its events globally: every function run after each
      switch is re-instrumented (this cost the per-call path ~80 µs more on
      3.12.1 than local events do) and every line of every function,
      profiled or not, calls back into it while enabled.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.profiler: Any = None
        self.mode = "trace" if sys.version_info < (3, 12) else "monitoring"
        #: Seconds per tick of line_profiler's timer.
        self.unit = 1e-9
        #: Active steps process-wide; nothing is counted while this is 0.
        self.total = 0
        #: "trace": active steps per thread (the hook is per thread there).
        self.depth: dict[int, int] = {}
        #: "monitoring": active steps per timed code object (its local events are on while > 0).
        self.code_steps: dict[types.CodeType, int] = {}
        #: "monitoring": the line_profiler thread manager whose callbacks are registered.
        self.owner: Any = None
        #: The reading taken after line profiling last stopped (nothing counts until it starts again).
        self.baseline: Reading | None = None
        #: Accounts with an active step, per thread (to find overlapping calls on other threads).
        self.segments: dict[int, list[_Account]] = {}
        #: Why line profiling cannot work with this line_profiler at all, or None.
        self.unsupported: str | None = None
        self.line_stats: Any = None
        self.lazy_stats: Any = None
        #: The slot looks for a foreign sys.settrace tracer only where it expects line_profiler to use it.
        self.foreign_tracer_unchecked = TOOL.hook != "settrace"

    def _profiler(self) -> Any:
        if self.profiler is None:
            import line_profiler
            from line_profiler import LineProfiler
            from line_profiler import _line_profiler as core

            legacy = getattr(core, "USE_LEGACY_TRACE", sys.version_info < (3, 12))
            self.mode = "trace" if legacy else "monitoring"
            profiler: Any = LineProfiler()
            if self.mode == "monitoring":
                manager = profiler._manager
                needed = [name for _event, name in _CALLBACKS] + ["active_instances"]
                missing = [name for name in needed if not hasattr(manager, name)]
                if missing:
                    self.unsupported = (
                        f"line_profiler {line_profiler.__version__} lacks what lineprofile switches "
                        f"(thread manager without {', '.join(missing)})"
                    )
            self.unit = float(profiler.timer_unit)
            self.line_stats = line_profiler.LineStats
            self.lazy_stats = _lazy_stats_class(line_profiler.LineStats)
            self.profiler = profiler
        return self.profiler

    # -- functions -----------------------------------------------------------------------

    def add(self, functions: Iterable[types.FunctionType]) -> list[types.CodeType]:
        """Add ``functions`` to the profiler (once each); their code objects as profiled."""
        codes: list[types.CodeType] = []
        with self.lock:
            profiler = self._profiler()
            for function in functions:
                if function.__code__ not in profiler.code_hash_map:
                    profiler.add_function(function)  # gives the function padded bytecode of its own
                if function.__code__ not in codes:
                    codes.append(function.__code__)
        return codes

    def keys_for(self, codes: Iterable[types.CodeType]) -> tuple[tuple[Label, tuple[int, ...]], ...]:
        """Per function label, the line hashes under which line_profiler counts its lines."""
        from line_profiler._line_profiler import label

        merged: dict[Label, list[int]] = {}
        with self.lock:
            code_hash_map = self._profiler().code_hash_map
            for code in codes:
                merged.setdefault(label(code), []).extend(code_hash_map.get(code, ()))
        return tuple((key, tuple(dict.fromkeys(hashes))) for key, hashes in merged.items())

    # -- readings ------------------------------------------------------------------------

    def _read(self) -> Reading:
        if self.total == 0:
            if self.baseline is None:
                self.baseline = self.profiler.c_code_map
            return self.baseline
        reading: Reading = self.profiler.c_code_map
        return reading

    def stats(self, keys: tuple[tuple[Label, tuple[int, ...]], ...], counts: Counts) -> Any:
        """A ``LineStats`` of ``counts``: every function of ``keys``, rows sorted by line."""
        timings = {}
        for key, _hashes in keys:
            lines = counts.get(key)
            timings[key] = [(lineno, row[0], row[1]) for lineno, row in sorted(lines.items())] if lines else []
        return self.line_stats(timings, self.unit)

    def call_stats(self, steps: list[Parts]) -> Any:
        """The ``LineStats`` of a call from its steps' parts (rows worked out when first read)."""
        return self.lazy_stats.of_steps(steps, self.unit)

    # -- steps ---------------------------------------------------------------------------

    def activate(self, account: _Account, me: int, trace_last: bool = False) -> Any:
        """Start a step of ``account`` on thread ``me``; why not, or ``None`` when measuring.

        With ``trace_last``, where this step must install the trace function the
        engine leaves that to the caller (``ENABLE``), so that it is the last thing
        before the user's code: the hook slows down every line that runs after it.
        """
        with self.lock:
            if self.segments:
                problem = self._overlap(account, me)
                if problem is not None:
                    return problem
            first = account.busy == 0
            if first:
                baseline = self.baseline
                account.start = baseline if baseline is not None and self.total == 0 else self._read()
            account.busy += 1
            mine = self.segments.setdefault(me, [])
            mine.append(account)
            problem = self._switch_on(account, me, trace_last)  # last: the hook slows what runs after it
            if problem is not None and problem is not ENABLE:
                mine.pop()
                if not mine:
                    del self.segments[me]
                account.busy -= 1
                if first:
                    account.start = None
        return problem

    def untraces(self, me: int) -> bool:
        """Whether ending a step on thread ``me`` now removes the trace function."""
        return self.mode == "trace" and self.depth.get(me) == 1

    def deactivate(self, account: _Account, me: int, untraced: str | None = None, done: bool = False) -> str | None:
        """End a step of ``account``; a reason if line profiling was disturbed meanwhile.

        ``done``: the caller removed the trace function already (``untraced`` says
        what went wrong then, if anything).
        """
        if not done and self.mode == "trace" and self.depth.get(me) == 1:
            # First thing: the trace hook counts whatever runs while it is on (the hook and this
            # thread's depth are this thread's own, so no lock is needed).
            untraced = self._untrace()
        with self.lock:
            problem = self._switch_off(account, me)
            mine = self.segments[me]
            mine.remove(account)
            if not mine:
                del self.segments[me]
            account.busy -= 1
            if account.busy == 0 and account.start is not None:
                if account.per_call:
                    account.parts.append(_extract(account.keys, account.start, self._read()))
                else:
                    _accumulate(account.counts, account.keys, account.start, self._read())
                account.start = None
        return untraced or problem

    def take(self, account: _Account) -> Counts:
        """The counts of ``account`` so far (including a step in progress), leaving it empty."""
        with self.lock:
            if account.busy and account.start is not None:
                now = self._read()
                _accumulate(account.counts, account.keys, account.start, now)
                account.start = now
            counts = account.counts
            account.counts = {}
        return counts

    def _overlap(self, account: _Account, me: int) -> str | None:
        """Why ``account`` cannot be told apart from a step of the same functions on another thread."""
        for thread, accounts in self.segments.items():
            if thread == me:
                continue
            for other in accounts:
                if other is account or other.codes.isdisjoint(account.codes):
                    continue
                if account.per_call:
                    # This call stays unprofiled. Its lines still count if the hook sees them: always
                    # with sys.monitoring (per code object), with the trace hook if this thread is traced.
                    if other.per_call and other.problem is None and (self.mode != "trace" or self.depth.get(me)):
                        other.problem = _mixed(me)
                    return (
                        f"thread {thread} was line-profiling the same functions; line_profiler's counters "
                        "are shared by all threads, so this call's lines could not be told apart "
                        "(aggregate=True counts concurrent calls together)"
                    )
                if other.per_call and other.problem is None:
                    other.problem = _mixed(me)
        return None

    # -- switching -----------------------------------------------------------------------

    def _switch_on(self, account: _Account, me: int, trace_last: bool) -> Any:
        if self.unsupported is not None:
            return self.unsupported
        enable = None
        if self.mode == "trace":
            depth = self.depth.get(me, 0)
            if depth == 0:
                problem = self._start_trace(now=not trace_last)
                if problem is not None:
                    return problem
                enable = ENABLE if trace_last else None
            self.depth[me] = depth + 1
        else:
            if self.total == 0:
                problem = self._start_monitoring()
                if problem is not None:
                    return problem
            problem = self._codes_on(account.codes)
            if problem is not None:
                if self.total == 0:
                    self._stop_monitoring()
                return problem
        self.total += 1
        return enable

    def _switch_off(self, account: _Account, me: int) -> str | None:
        self.total -= 1
        if self.total == 0:
            self.baseline = None
        if self.mode == "trace":
            depth = self.depth[me] - 1
            if depth:
                self.depth[me] = depth
            else:  # deactivate() removed the hook already
                del self.depth[me]
                profiler_slot.release(_TOOL)
            return None
        problem = self._codes_off(account.codes)
        if self.total == 0:
            problem = self._stop_monitoring() or problem
        return problem

    def _start_trace(self, now: bool = True) -> str | None:
        """Install line_profiler's trace function on this thread (after claiming the slot)."""
        reason = profiler_slot.claim(_TOOL)
        if reason is None and self.foreign_tracer_unchecked and sys.gettrace() is not None:
            profiler_slot.release(_TOOL)  # line_profiler forced to its legacy core on 3.12+
            reason = f"a tracer is installed with sys.settrace ({_describe(sys.gettrace())})"
        if reason is not None:
            return reason
        if now:
            try:
                self.profiler.enable()
            except Exception as exc:  # noqa: BLE001 - never into user code
                profiler_slot.release(_TOOL)
                return _failed("start", exc)
        return None

    def enable_failed(self, account: _Account, me: int, exc: BaseException) -> str:
        """Undo a step whose caller could not install the trace function (after ``ENABLE``)."""
        with self.lock:
            self.depth[me] -= 1
            if not self.depth[me]:
                del self.depth[me]
                profiler_slot.release(_TOOL)
            self.total -= 1
            mine = self.segments[me]
            mine.remove(account)
            if not mine:
                del self.segments[me]
            account.busy -= 1
            if account.busy == 0:
                account.start = None
        return _failed("start", exc)

    def _untrace(self, current: Any = None, failure: BaseException | None = None, done: bool = False) -> str | None:
        """Remove the trace function from this thread, keeping a tracer installed meanwhile.

        ``done``: the caller already called line_profiler's ``disable()`` (as the first
        thing after the user's code), with ``current`` the hook before and ``failure``
        what it raised.
        """
        profiler = self.profiler
        if not done:
            current = sys.gettrace()
            try:
                profiler.disable()
            except Exception as exc:  # noqa: BLE001 - never into user code
                failure = exc
        problem = None if failure is None else _failed("stop", failure)
        manager = profiler._manager if failure is None else None
        if current is not manager:
            # Someone (a debugger?) replaced the hook during the call: line_profiler would put back
            # what was there before it started, so install theirs again.
            sys.settrace(current)
            problem = problem or (
                f"sys.settrace was taken over by {_describe(current)} during the call (a debugger?); "
                "the lines after that were not counted"
            )
        return problem

    def _start_monitoring(self) -> str | None:
        """Take ``PROFILER_ID`` and register line_profiler's callbacks (no local events yet)."""
        reason = profiler_slot.claim(_TOOL)
        if reason is not None:
            return reason
        monitoring = _monitoring()
        tool = monitoring.PROFILER_ID
        try:
            monitoring.use_tool_id(tool, "line_profiler")
        except ValueError:  # taken since the slot looked
            profiler_slot.release(_TOOL)
            return f"sys.monitoring PROFILER_ID is held by {monitoring.get_tool(tool)!r}"
        try:
            manager = self.profiler._manager
            for event, name in _CALLBACKS:
                monitoring.register_callback(tool, event, getattr(manager, name))
            manager.active_instances.add(self.profiler)
            self.owner = manager
            monitoring.set_events(tool, monitoring.events.RAISE | monitoring.events.RERAISE)
        except Exception as exc:  # noqa: BLE001 - never into user code
            problem = _failed("start", exc)
            self._stop_monitoring()
            return problem
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
            return _failed("start", exc)
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
            return _failed("stop", exc)
        return None

    def _stop_monitoring(self) -> str | None:
        """Unregister the callbacks and give ``PROFILER_ID`` back (from any thread)."""
        monitoring = _monitoring()
        tool = monitoring.PROFILER_ID
        profiler = self.profiler
        owner, self.owner = self.owner, None
        problem = None
        try:
            holder = monitoring.get_tool(tool)
            if owner is not None:
                owner.active_instances.discard(profiler)
            if holder != "line_profiler":
                problem = (
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
            problem = _failed("stop", exc)
        profiler_slot.release(_TOOL)
        return problem

    def after_fork(self) -> None:
        """In a forked child only this thread exists: drop the others' steps."""
        self.lock = threading.RLock()
        me = _get_ident()
        for thread, accounts in list(self.segments.items()):
            if thread == me:
                continue
            del self.segments[thread]
            for account in accounts:
                self.total -= 1
                account.busy -= 1
                if account.busy == 0:
                    account.start = None
                if self.mode == "monitoring":
                    self._codes_off(account.codes)
        self.depth = {me: self.depth[me]} if me in self.depth else {}
        if self.total == 0:
            self.baseline = None
            if self.mode == "monitoring" and self.owner is not None:
                self._stop_monitoring()


def _lazy_stats_class(line_stats: type) -> type:
    """A ``LineStats`` subclass whose rows are worked out on first read (made once, lazily)."""

    class LazyLineStats(line_stats):  # type: ignore[misc,valid-type]
        """line_profiler's ``LineStats``; pickles (``.lprof``) as a plain one."""

        @classmethod
        def of_steps(cls, steps: list[Parts], unit: float) -> Any:
            stats = cls.__new__(cls)
            stats.__dict__["_steps"] = steps
            stats.unit = unit
            return stats

        @property
        def timings(self) -> dict[Label, list[tuple[int, int, int]]]:
            found: dict[Label, list[tuple[int, int, int]]] | None = self.__dict__.get("_timings")
            if found is None:
                found = self.__dict__["_timings"] = _rows(self.__dict__["_steps"])
            return found

        @timings.setter
        def timings(self, value: dict[Label, list[tuple[int, int, int]]]) -> None:
            self.__dict__["_timings"] = value

        def __reduce__(self) -> tuple[type, tuple[Any, float]]:
            return line_stats, (self.timings, self.unit)

    return LazyLineStats


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


def _mixed(thread: int) -> str:
    return (
        f"thread {thread} ran the same functions while this call was line-profiled; line_profiler's "
        "counters are shared by all threads, so this call's table would mix both "
        "(aggregate=True counts concurrent calls together)"
    )


def _failed(action: str, exc: BaseException) -> str:
    message = f"line_profiler failed to {action}: {type(exc).__qualname__}: {exc}"
    settings.warn_once("lineprofile", f"{action}:{type(exc).__qualname__}", message)
    return message


ENGINE = _Engine()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=ENGINE.after_fork)


# -- the backend ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Spec:
    """What a ``lineprofile`` probe times besides its target, and how it reports; makes its backends.

    Equal specs make equal probes (inline aggregate blocks share one aggregate).
    """

    functions: tuple[types.FunctionType, ...]
    record_type: type[Record]

    def __call__(self, target: Callable[..., Any] | None, probe: Probe) -> LineBackend:
        return LineBackend(target, probe, self)


class _Depth(threading.local):
    #: Steps of this backend's calls running on this thread (a nested one makes no record).
    steps = 0


class LineBackend(Backend):
    """line_profiler around each call of one target (or each run of one block).

    A call nested in another call of the same target on the same thread (a
    recursion, or a generator driving another one) makes no record of its own:
    its lines are already counted, once per execution, in the outer call's.
    With ``aggregate=True`` the calls share one account of the engine (so
    concurrent calls are counted together, once), and each call hands the
    machinery the rows counted since the last call ended.
    """

    tool = _TOOL
    record_type = LineRecord
    not_measured = "not line-profiled"
    aggregate_skipped = "{skipped} of {calls} calls were not line-profiled: {reason}"

    def __init__(self, target: Callable[..., Any] | None, probe: Probe, spec: _Spec) -> None:
        super().__init__(target, probe)
        functions = list(spec.functions)
        if target is not None:
            functions = python_functions(target, "the decorated callable") + functions
        codes = ENGINE.add(functions)
        keys = ENGINE.keys_for(codes)
        setattr(self, "record_type", spec.record_type)  # noqa: B010 - per probe, shadows the class default
        self.codes = frozenset(codes)
        self.keys = keys
        self._profiler = ENGINE.profiler
        self._depth = _Depth()
        self._account = _Account(self.codes, keys, aggregate=True) if probe.aggregating else None

    def begin(self) -> Any:
        """Start line profiling (or ``SUPPRESS`` for a call nested in one of the same target)."""
        depth = self._depth
        if depth.steps:
            return SUPPRESS
        me = _get_ident()
        token = _Account(self.codes, self.keys, self._account)
        depth.steps = 1
        token.thread = me
        token.stepping = True
        if not self.codes:
            token.skip = _NO_FUNCTIONS
            return token
        skip = ENGINE.activate(token.account, me, trace_last=True)
        if skip is ENABLE:
            token.active = True
            try:
                self._profiler.enable()  # the very last thing before the user's code
            except Exception as exc:  # noqa: BLE001 - never into user code
                token.active = False
                token.skip = ENGINE.enable_failed(token.account, me, exc)
            return token
        token.skip = skip
        token.active = skip is None
        return token

    def resume(self, token: Any) -> None:
        """A step of a generator or coroutine starts (``begin`` started the first)."""
        if token.stepping:
            return
        me = token.thread = _get_ident()
        token.stepping = True
        self._depth.steps += 1
        if token.skip is None:
            token.skip = ENGINE.activate(token.account, me)
            token.active = token.skip is None

    def pause(self, token: Any) -> None:
        """A step ends: stop counting its lines."""
        if not token.stepping:
            return
        if token.active:
            token.active = False
            problem = ENGINE.deactivate(token.account, token.thread)
            if problem is not None and token.skip is None:
                token.skip = problem
        token.stepping = False
        self._depth.steps -= 1

    def end(self, token: Any, error: BaseException | None) -> Any:
        """The call's ``LineStats`` (with ``aggregate=True``: its rows), or why it was not line-profiled."""
        if token.active and ENGINE.untraces(token.thread):
            current = _gettrace()
            failure = None
            try:
                self._profiler.disable()  # the very first thing after the user's code
            except Exception as exc:  # noqa: BLE001 - never into user code
                failure = exc
            token.active = False
            problem = ENGINE.deactivate(token.account, token.thread, ENGINE._untrace(current, failure, True), True)
            if problem is not None and token.skip is None:
                token.skip = problem
        self.pause(token)
        if self._account is None:
            problem = token.skip or token.problem
            if problem is not None:
                return Skip(problem)
            return ENGINE.call_stats(token.parts)
        counts = ENGINE.take(self._account)
        if token.skip is not None:
            return Skip(token.skip, counts or None)
        return counts

    def merge(self, aggregate: Counts | None, payload: Counts) -> Counts:
        """Add one call's rows to the aggregate's."""
        if aggregate is None:
            return payload
        for key, lines in payload.items():
            mine = aggregate.get(key)
            if mine is None:
                aggregate[key] = lines
                continue
            for lineno, row in lines.items():
                total = mine.get(lineno)
                if total is None:
                    mine[lineno] = row  # the call's rows are the aggregate's from now on
                else:
                    total[0] += row[0]
                    total[1] += row[1]
        return aggregate

    def finish(self, aggregate: Counts) -> Any:
        """The ``LineStats`` of the aggregate: every function timed, its rows summed over the calls."""
        return ENGINE.stats(self.keys, aggregate)


# -- a decorated function that is also a ``with`` block --------------------------------------


def _call_through(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    return wrapped(*args, **kwargs)


class _LineFunction(wrapt.FunctionWrapper):  # type: ignore[misc,type-arg]
    """``lineprofile(f)``: ``f`` measured per call, and ``with`` it to time ``f`` in a block.

    The calls go through the machinery's wrapper of ``f``; ``with`` enters a
    block probe timing ``f`` (and ``also=``) while the block runs.
    """

    def __init__(self, decorated: Any, block: Probe) -> None:
        super().__init__(decorated, _call_through)
        self._self_block = block

    def _block_for(self, frame: types.FrameType) -> Probe:
        block: Probe = self._self_block
        if block.name is None:
            code = frame.f_code
            block.name = block.qualname = f"block at {code.co_filename.rsplit('/', 1)[-1]}:{frame.f_lineno}"
            block.module = frame.f_globals.get("__name__")
        return block

    def __enter__(self) -> Any:
        return self._block_for(sys._getframe(1)).__enter__()

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self._self_block.__exit__(exc_type, exc, tb)

    async def __aenter__(self) -> Any:
        return self._block_for(sys._getframe(1)).__enter__()

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self._self_block.__exit__(exc_type, exc, tb)

    def __reduce_ex__(self, protocol: Any) -> str:
        # Pickle by reference, like the function it stands for.
        return str(self.__qualname__)


_WITH_OPCODES = frozenset({"BEFORE_WITH", "SETUP_WITH", "BEFORE_ASYNC_WITH", "SETUP_ASYNC_WITH"})


def _result_entered(frame: types.FrameType | None) -> bool:
    """Whether the caller's next instruction enters a ``with`` block with the call's result."""
    if frame is None:
        return False
    try:
        raw = frame.f_code.co_code
        offset = frame.f_lasti + 2
        cache = dis.opmap.get("CACHE")
        while offset < len(raw) and raw[offset] == cache:
            offset += 2
        if offset >= len(raw):
            return False
        name = dis.opname[raw[offset]]
        if name == "COPY" and offset + 2 < len(raw):  # 3.14: COPY 1; LOAD_SPECIAL __exit__
            return dis.opname[raw[offset + 2]] == "LOAD_SPECIAL"
        return name in _WITH_OPCODES
    except Exception:  # noqa: BLE001 - unknown bytecode: assume a decorator
        return False


# -- the public function ---------------------------------------------------------------------


@overload
def lineprofile(target: F, /) -> F: ...
@overload
def lineprofile(
    *functions: Any,
    also: Iterable[Any] = (),
    name: str | None = None,
    reporters: Any = None,
    enabled: bool | Callable[[], object] = True,
    every: int = 1,
    cpu: bool = True,
    aggregate: bool = False,
    unit: str | float = "us",
) -> Any: ...


def lineprofile(
    *functions: Any,
    also: Iterable[Any] = (),
    name: str | None = None,
    reporters: Any = None,
    enabled: bool | Callable[[], object] = True,
    every: int = 1,
    cpu: bool = True,
    aggregate: bool = False,
    unit: str | float = "us",
) -> Any:
    """Time each line of functions with line_profiler, per call or over a block.

    - ``@lineprofile`` on a function (method, class or static method,
      property, coroutine or generator function): one record per call with
      that call's line table. Decorator wrappers underneath are looked through
      (``inspect.unwrap``): the real function's lines are timed.
    - ``@lineprofile(also=[tokenize, Model.predict])``: the functions it calls too.
    - ``with lineprofile(tokenize, Model.predict) as lp:``: those functions'
      lines while the block runs; ``lp.stats`` is the ``LineStats``. With one
      function, ``lineprofile(f)`` is both the decorated ``f`` and a block
      timing ``f``: ``with lineprofile(f):`` works too.
    - ``name``: the record's name (or give it first: ``lineprofile("load", f, g)``).
    - ``aggregate=True``: accumulate all calls into one record, reported on
      ``flush()`` (of the function, or ``profiletools.flush()``) and at exit.
    - ``unit``: time unit of the text table, ``"s"``, ``"ms"``, ``"us"``, ``"ns"``.
    - ``reporters``, ``enabled``, ``every``, ``cpu``: as for every tool.

    When line profiling cannot run (cProfile, a debugger or coverage holds
    the interpreter hook), the call runs unprofiled and the record's
    ``skipped`` says why. See :data:`BACKEND` for the hook in use.

    >>> from profiletools import reporters
    >>> seen = reporters.Collect()
    >>> @lineprofile(reporters=[seen])
    ... def total(n):
    ...     s = 0
    ...     for i in range(n):
    ...         s += i
    ...     return s
    >>> total(10)
    45
    >>> sorted(hits for hits, _seconds in seen.records[0].lines(total).values())
    [1, 1, 10, 11]
    """
    targets = list(functions)
    if targets and isinstance(targets[0], str):
        if name is not None:
            raise TypeError("lineprofile(): the name is given twice (positionally and as name=)")
        name = targets.pop(0)
    for item in targets:
        if isinstance(item, str):
            raise TypeError(f"lineprofile(): only the first positional argument may be a name; got {item!r:.60}")
        if not (callable(item) or isinstance(item, (classmethod, staticmethod, property))):
            raise TypeError(
                "lineprofile(): positional arguments are the functions to time (or decorate); "
                f"got {type(item).__name__} {item!r:.60}"
            )
    output_unit = parse_unit(unit)
    also_functions = _check_also(also)
    options: dict[str, Any] = {
        "name": name, "reporters": reporters, "enabled": enabled, "every": every, "cpu": cpu, "aggregate": aggregate,
    }
    record_type = record_type_for(output_unit)

    if len(targets) != 1:
        named = [function for item in targets for function in python_functions(item, "positional arguments")]
        return _probe(_Spec(tuple(named + also_functions), record_type), options)

    target = targets[0]
    if isinstance(target, type):
        raise TypeError(
            f"lineprofile(): a class cannot be decorated ({target.__qualname__}); to time its methods "
            "name them, or pass the class in also=[...]"
        )
    own = python_functions(target, "the decorated callable")
    decorator = _probe(_Spec(tuple(also_functions), record_type), options)
    if not STATE.enabled_at_import:
        if _result_entered(sys._getframe(1)):
            return _probe(_Spec(tuple(own + also_functions), record_type), options)
        return target
    if isinstance(target, (classmethod, staticmethod, property)):
        return decorator(target)  # type: ignore[type-var]
    block = _probe(_Spec(tuple(own + also_functions), record_type), options)
    return _LineFunction(decorator(target), block)


class _LineProbe(Probe):
    """A ``lineprofile`` probe: the machinery's, plus decorating properties (each accessor)."""

    __slots__ = ()

    def __call__(self, func: F) -> F:
        """Decorate ``func``; for a property, its getter, setter and deleter."""
        if isinstance(func, property) and STATE.enabled_at_import:
            accessors = (func.fget, func.fset, func.fdel)
            wrapped = (None if accessor is None else Probe.__call__(self, accessor) for accessor in accessors)
            return type(func)(*wrapped, func.__doc__)  # type: ignore[return-value]
        return Probe.__call__(self, func)


def _probe(spec: _Spec, options: dict[str, Any]) -> Probe:
    """A validated probe (``make_probe``) of ``spec``, typed as a ``lineprofile`` probe."""
    probe = make_probe(_TOOL, spec, **options)
    probe.__class__ = _LineProbe  # same layout; only adds property support to __call__
    return probe


def _check_also(also: object) -> list[types.FunctionType]:
    """Validate ``also=``: a list of functions, methods, properties or classes."""
    if callable(also) or isinstance(also, (str, bytes, property, classmethod, staticmethod)):
        raise TypeError(
            "lineprofile(): also= takes a list of functions to time as well; "
            f"got a single {type(also).__name__}: wrap it in a list"
        )
    if not isinstance(also, Iterable):
        raise TypeError(f"lineprofile(): also= takes a list of functions; got {type(also).__name__}")
    functions: list[types.FunctionType] = []
    for item in also:
        for function in python_functions(item, "also= items"):
            if function not in functions:
                functions.append(function)
    return functions
