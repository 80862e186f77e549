"""The one ``LineProfiler`` of the process, and who is counting with it.

One ``LineProfiler`` serves the whole process (several instances step on
each other's bytecode padding and, on 3.12, on each other's tool id). Its
counters only grow, so a record is a difference: the counters of the
record's functions when its call stops minus when it started (summed over
the steps of a generator or coroutine, :mod:`.stats`). Between measurements
nothing counts, so the reading taken when line profiling last stopped serves
as the next call's start: a call costs one reading of the counters (about
0.1 µs per profiled line in the process).

line_profiler's counters do not say which thread ran a line; when calls on
two threads time the same functions at once, the later call is not
line-profiled, and the earlier one is reported as skipped too when the later
one's lines were counted into it (always with ``sys.monitoring``). An
aggregate counts every line its functions ran while any of its calls was
being measured.

How counting is switched on and off is the hook's (:mod:`.hooks`): the C
trace function on 3.11, ``sys.monitoring`` local events on 3.12+.
"""

from __future__ import annotations

import os
import sys
import threading
import types
from collections.abc import Callable, Iterable
from typing import Any

from profiletools.tools.lineprofile.hooks import ENABLE, Hook, MonitoringHook, TraceHook, failed
from profiletools.tools.lineprofile.stats import Counts, Keys, Label, Parts, Reading, Tally, extract, timings

__all__ = ["BACKEND", "ENABLE", "ENGINE", "KEEP_WHOLE", "Account", "Engine", "small_reading", "token_class"]

_get_ident = threading.get_ident

#: line_profiler's hook on this interpreter: its default core, or the one ``LINE_PROFILER_CORE``
#: picks (``legacy`` on 3.12+ makes it the trace function there too; ``ENGINE.mode`` follows).
BACKEND = (
    "trace function (PyEval_SetTrace)"
    if sys.version_info < (3, 12) or os.environ.get("LINE_PROFILER_CORE", "").lower() in {"old", "legacy", "ctrace"}
    else "sys.monitoring (PROFILER_ID, local line events)"
)


#: A call keeps the two readings of its step whole (nothing picked out while it ends: its rows
#: are worked out when its table is read) when a reading holds at most this many line hashes
#: per line hash of the call's functions: the readings then hold little but the call's own lines.
KEEP_WHOLE = 2


def small_reading(keys: Keys) -> int:
    """The most line hashes a reading may hold to be kept whole by a call timing ``keys`` (:data:`KEEP_WHOLE`)."""
    return KEEP_WHOLE * sum(len(hashes) for _key, hashes in keys)


class Account:
    """Counts gathered between readings, for one call or one aggregate; also the token of a call.

    A per-call measurement is its own account (its token); the calls of an
    aggregate each have a token, and count into the aggregate's account (the
    backend passes the engine the one a step counts into). A token does not
    refer to its account: no reference cycle keeps a call's readings alive
    until the garbage collector runs.

    What most accounts share is read from the class (a token sets only what
    differs, so that making one costs little): :func:`token_class` makes, per
    backend, a subclass holding its functions as class attributes.
    """

    #: The timed code objects and, per function label, their line hashes.
    codes: frozenset[types.CodeType] = frozenset()
    keys: Keys = ()
    #: Readings of at most this many line hashes are kept whole by a call (:func:`small_reading`).
    small = 0
    #: A call's own account (False: an aggregate's, or the token of one of its calls).
    per_call = False
    #: Active steps now (one per thread measuring it); the start reading is kept while > 0.
    busy = 0
    start: Reading | None = None
    #: An aggregate's rows so far; a call keeps ``parts`` (turned into rows only when read):
    #: its functions' entries of two readings, or the two readings when they are small.
    tally: Tally
    parts: list[Parts]
    #: Why this call's table is not trustworthy (set by another thread's overlapping call).
    problem: str | None = None
    # -- as a call's token:
    #: Why this call is not (any more) line-profiled.
    skip: str | None = None
    stepping = False
    active = False
    #: The trace function is for the caller of ``begin`` to install (see ``hooks.ENABLE``).
    pending = False
    #: The call removed the trace function; ``current`` was ``sys.gettrace()`` then, ``failure``
    #: what line_profiler's ``disable()`` raised.
    untraced = False
    current: Any = None
    failure: BaseException | None = None
    thread = 0

    def __init__(
        self, codes: frozenset[types.CodeType], keys: Keys, small: int = 0, *, aggregate: bool = False
    ) -> None:
        self.codes = codes
        self.keys = keys
        self.small = small
        self.per_call = not aggregate
        self.tally = Tally()
        self.parts = []


def token_class(codes: frozenset[types.CodeType], keys: Keys, small: int, per_call: bool) -> Callable[[], Account]:
    """The class of one backend's call tokens: its functions as class attributes.

    A token is made by calling the class without arguments (no ``__init__``
    runs: cheaper than ``object.__new__``) and given what its call sets.
    ``per_call``: a token is its call's account (else the calls count into an aggregate's).
    """
    return type("Token", (Account,), {
        "__doc__": Account.__doc__, "__module__": __name__, "__init__": object.__init__,
        "codes": codes, "keys": keys, "small": small, "per_call": per_call,
    })


class Engine:
    """The shared ``LineProfiler``: functions added once, switched on while any call is measured."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.profiler: Any = None
        #: How counting is switched (chosen with the profiler: line_profiler's core decides).
        self.hook: Hook | None = None
        #: Seconds per tick of line_profiler's timer.
        self.unit = 1e-9
        #: Active steps process-wide; nothing is counted while this is 0.
        self.total = 0
        #: The reading taken after line profiling last stopped (nothing counts until it starts again).
        self.baseline: Reading | None = None
        #: Accounts with an active step, per thread (to find overlapping calls on other threads).
        self.segments: dict[int, list[Account]] = {}
        #: Why line profiling cannot work with this line_profiler at all, or None.
        self.unsupported: str | None = None
        self.line_stats: Any = None
        self.lazy_stats: Any = None

    @property
    def mode(self) -> str:
        """``"trace"`` or ``"monitoring"``: the hook line_profiler counts through here."""
        if self.hook is not None:
            return self.hook.name
        return "trace" if BACKEND.startswith("trace") else "monitoring"

    def idle(self) -> bool:
        """Whether no step is active and nothing of ours is switched on."""
        return not (self.total or self.segments or getattr(self.hook, "code_steps", None))

    def _profiler(self) -> Any:
        if self.profiler is None:
            import line_profiler
            from line_profiler import LineProfiler
            from line_profiler import _line_profiler as core

            from profiletools.tools.lineprofile.stats import lazy_stats_class

            legacy = getattr(core, "USE_LEGACY_TRACE", sys.version_info < (3, 12))
            profiler: Any = LineProfiler()
            hook = self.hook = (TraceHook if legacy else MonitoringHook)(profiler)
            self.unsupported = hook.unsupported()
            self.unit = float(profiler.timer_unit)
            self.line_stats = line_profiler.LineStats
            self.lazy_stats = lazy_stats_class(line_profiler.LineStats)
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

    def keys_for(self, codes: Iterable[types.CodeType]) -> Keys:
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

    def stats(self, keys: Keys, counts: Counts) -> Any:
        """A ``LineStats`` of ``counts``: every function of ``keys``, rows sorted by line."""
        return self.line_stats(timings(keys, counts), self.unit)

    # -- steps ---------------------------------------------------------------------------

    def activate(self, account: Account, me: int, defer: bool = False) -> Any:
        """Start a step of ``account`` on thread ``me``; why not, or ``None`` when measuring.

        With ``defer``, where this step must install the trace function the
        engine leaves that to the caller (:data:`ENABLE`), so that it is the
        last thing before the user's code: the hook slows down every line
        that runs after it.
        """
        lock = self.lock  # (acquire and release: half the instructions of a ``with`` on every call)
        lock.acquire()
        try:
            segments = self.segments
            if segments:
                problem = self._overlap(account, me)
                if problem is not None:
                    return problem
            if self.unsupported is not None:
                return self.unsupported
            total = self.total
            first = account.busy == 0
            if first:
                baseline = self.baseline
                account.start = baseline if baseline is not None and total == 0 else self._read()
            account.busy += 1
            mine = segments.get(me)
            if mine is None:
                mine = segments[me] = [account]
            else:
                mine.append(account)
            hook: Any = self.hook
            claim = hook.claim
            if claim is not None and defer:  # (Hook.claim: what switch_on would do)
                problem = (claim(None, me) or ENABLE) if len(mine) == 1 else None
            else:
                problem = hook.switch_on(account.codes, total == 0, len(mine) == 1, defer, me)
            if problem is None or problem is ENABLE:
                self.total = total + 1
            else:
                mine.pop()
                if not mine:
                    del segments[me]
                account.busy -= 1
                if first:
                    account.start = None
        finally:
            lock.release()
        return problem

    def untraces(self, me: int) -> bool:
        """Whether ending a step on thread ``me`` now removes the trace function (the thread's last step)."""
        return self.hook.per_thread and len(self.segments.get(me, ())) == 1  # type: ignore[union-attr]

    def deactivate(self, account: Account, me: int, untraced: str | None = None, done: bool = False) -> str | None:
        """End a step of ``account``; a reason if line profiling was disturbed meanwhile.

        ``done``: the caller removed the trace function already (``untraced`` says
        what went wrong then, if anything).
        """
        hook: Any = self.hook
        if not done and hook.per_thread and len(self.segments[me]) == 1:
            # First thing: the trace hook counts whatever runs while it is on (the hook and this
            # thread's steps are this thread's own, so no lock is needed).
            untraced = hook.untrace()
        lock = self.lock
        lock.acquire()
        try:
            total = self.total = self.total - 1
            last = total == 0
            if last:
                self.baseline = None
            segments = self.segments
            mine = segments[me]
            last_here = len(mine) == 1
            if last_here:
                del segments[me]  # (the thread's only step: the account is this one)
            else:
                mine.remove(account)
            release = hook.release
            if release is None:
                problem = hook.switch_off(account.codes, last, last_here, me)
            else:  # (Hook.release: what switch_off would do)
                problem = None
                if last_here:
                    release(me)
            busy = account.busy = account.busy - 1
            if busy == 0 and account.start is not None:
                reading = self.profiler.c_code_map
                if last:  # nothing counts until the next step: this reading is the next one's start
                    self.baseline = reading
                if account.per_call:
                    if len(reading) <= account.small:  # little but this call's lines: keep the readings
                        account.parts.append((account.start, reading))
                    else:
                        account.parts.append(extract(account.keys, account.start, reading))
                else:
                    account.tally.add(account.keys, account.start, reading)
                account.start = None
        finally:
            lock.release()
        return untraced or problem

    def enable_failed(self, account: Account, me: int, exc: BaseException) -> str:
        """Undo a step whose caller could not install the trace function (after :data:`ENABLE`)."""
        with self.lock:
            self.total -= 1
            mine = self.segments[me]
            mine.remove(account)
            if not mine:
                del self.segments[me]
            self.hook.switch_off(frozenset(), self.total == 0, not mine, me)  # type: ignore[union-attr]
            account.busy -= 1
            if account.busy == 0:
                account.start = None
        return failed("start", exc)

    def take(self, account: Account) -> Tally:
        """What an aggregate's ``account`` counted so far (including a step in progress), leaving it empty."""
        with self.lock:
            if account.busy and account.start is not None:
                now = self._read()
                account.tally.add(account.keys, account.start, now)
                account.start = now
            tally = account.tally
            account.tally = Tally()
        return tally

    def _overlap(self, account: Account, me: int) -> str | None:
        """Why ``account`` cannot be told apart from a step of the same functions on another thread."""
        per_thread = self.hook.per_thread  # type: ignore[union-attr]
        for thread, accounts in self.segments.items():
            if thread == me:
                continue
            for other in accounts:
                if other is account or other.codes.isdisjoint(account.codes):
                    continue
                if account.per_call:
                    # This call stays unprofiled. Its lines still count if the hook sees them: always
                    # with sys.monitoring (per code object), with the trace hook if this thread is traced.
                    if other.per_call and other.problem is None and (not per_thread or self.traced(me)):
                        other.problem = _mixed(me)
                    return (
                        f"thread {thread} was line-profiling the same functions; line_profiler's counters "
                        "are shared by all threads, so this call's lines could not be told apart "
                        "(aggregate=True counts concurrent calls together)"
                    )
                if other.per_call and other.problem is None:
                    other.problem = _mixed(me)
        return None

    def traced(self, me: int) -> bool:
        """Whether the trace function is installed on thread ``me`` (a step of it is active)."""
        return bool(self.segments.get(me))

    def after_fork(self) -> None:
        """In a forked child only this thread exists: drop the others' steps."""
        self.lock = threading.RLock()
        me = _get_ident()
        hook = self.hook
        for thread, accounts in list(self.segments.items()):
            if thread == me:
                continue
            del self.segments[thread]
            for account in accounts:
                self.total -= 1
                account.busy -= 1
                if account.busy == 0:
                    account.start = None
                if hook is not None:
                    hook.forget(account.codes)
        if self.total == 0:
            self.baseline = None
        if hook is not None:
            hook.after_fork(self.total == 0)
        # line_profiler keeps its per-thread state (the manager installing the trace function, and
        # whether it did) by thread ident: a thread started in the child often gets the ident of a
        # thread that was counting in the parent, and its enable() would then install nothing.
        managers = getattr(type(self.profiler), "_managers", None)
        if isinstance(managers, dict):
            for thread in [thread for thread in managers if thread != me]:
                del managers[thread]


def _mixed(thread: int) -> str:
    return (
        f"thread {thread} ran the same functions while this call was line-profiled; line_profiler's "
        "counters are shared by all threads, so this call's table would mix both "
        "(aggregate=True counts concurrent calls together)"
    )


ENGINE = Engine()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=ENGINE.after_fork)
