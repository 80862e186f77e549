"""``profileit``'s measurement: cProfile switched on right before the user's code and off right after.

One backend per decorated function (or block probe). Per call it hands the
machinery the finished profiler as a lazily read :class:`ProfileStats`; with
``aggregate=True`` each thread accumulates into a profiler of its own (kept in
a :class:`_Pool` between calls), and the aggregate is the set of those
profilers, read when the aggregate is reported.

Nesting: a call starting on a thread where a ``profileit`` profile runs makes
no record of its own (its work is in the outer profile). A recursive call of
the same function says nothing; a call of another probe says once, as a
warning, which outer profile holds it (:class:`Nested`).
"""

from __future__ import annotations

import inspect
import os
import sys
import threading
import weakref
from collections.abc import Callable
from cProfile import Profile
from typing import Any

from profiletools.core import delivery, profiler_slot
from profiletools.core.backend import SUPPRESS, Backend, Nested, Skip
from profiletools.core.frames import calls_user
from profiletools.core.machinery import Probe
from profiletools.tools.profileit import TOOL as DECLARATION
from profiletools.tools.profileit.options import SummaryOptions
from profiletools.tools.profileit.record import ProfileRecord
from profiletools.tools.profileit.stats import ProfileStats, deferred

TOOL = "profileit"
#: The interpreter hook the tool declares (passed to the slot on every call: no registry look-up there).
_HOOK = DECLARATION.hook
assert _HOOK is not None  # (the declaration names one on every version)

_get_ident = threading.get_ident
_new_object = object.__new__
#: The hook's slot. Claimed with the owner ``(probe, profiler)``: what runs on this thread now, found
#: again by ``_owner()`` (a nested call, a fork) without thread-local state of our own (each read
#: or write of a ``threading.local`` costs about as much as a function call).
_claim, _release, _owner = profiler_slot.bind(TOOL, _HOOK)
#: The same slot's direct operations, for the claim and release of every call (see ``bind_direct``).
_take, _give, _peek, _PROCESS_KEY = profiler_slot.bind_direct(_HOOK)
#: ``id()`` of profilers whose claim a forked child gave back while their call ran (see ``_after_fork_in_child``).
_orphaned: set[int] = set()
#: ``id(profiler) -> why its enable() refused``, from ``call`` to ``end`` (rare; read only when not empty).
_refused: dict[int, Skip] = {}


def _not_claimed(key: int, mine: tuple[str, int, Any]) -> str | None:
    """The direct claim did not hold (the slot is taken, or a foreign tool holds the hook): why, from ``claim``.

    What the direct claim took is given back first; ``None`` when the full
    claim succeeds after all (the holder let go meanwhile).
    """
    if _take(key, mine) is mine:
        _give(key, None)
    return _claim(mine[2])


class _Pool:
    """Per thread, the accumulating profiler of an aggregate that no call is using right now."""

    def __init__(self) -> None:
        self.idle: dict[int, Profile] = {}
        self._lock = threading.Lock()
        delivery.fork_safe(self)
        _pools.add(self)

    def take(self) -> Profile:
        """This thread's accumulating profiler (a new one after the last was reported)."""
        with self._lock:
            return self.idle.pop(_get_ident(), None) or Profile()

    def give(self, profiler: Profile) -> None:
        """Put this thread's profiler back for its next call."""
        with self._lock:
            self.idle[_get_ident()] = profiler

    def retire(self, profilers: dict[Profile, None]) -> list[Profile]:
        """Of ``profilers``, those not in use now, taken out of the pool: their figures are final.

        A profiler in use by a call on another thread stays with that call,
        which merges it into the next aggregate when it ends.
        """
        with self._lock:
            idle = {id(profiler): thread for thread, profiler in self.idle.items()}
            final = [profiler for profiler in profilers if id(profiler) in idle]
            for profiler in final:
                del self.idle[idle[id(profiler)]]
        return final


_pools: weakref.WeakSet[_Pool] = weakref.WeakSet()


class _Profiles:
    """An aggregate: the accumulating profilers its calls used, and how many calls were profiled."""

    __slots__ = ("calls", "profilers")

    def __init__(self) -> None:
        self.profilers: dict[Profile, None] = {}
        self.calls = 0


class _Steps:
    """The token of a generator or coroutine call: its profiler and what happened per step."""

    __slots__ = ("nested", "on", "profiled", "profiler", "reason", "skipped", "used")

    def __init__(self) -> None:
        self.profiler: Profile | None = None
        self.used: dict[Profile, None] = {}
        self.on = False
        self.profiled = 0
        self.skipped = 0
        self.reason: str | None = None
        self.nested: Any = None  # a step ran inside an outer profile: SUPPRESS or Nested


def _after_fork_in_child() -> None:
    """A child forked during a profiled call (``multiprocessing`` started inside it) profiles nothing
    it would never report: switch the inherited profiler off and give the hook back, so the child's
    own profiled calls are profiled and reported there. The parent's accumulating profilers are the
    parent's to report: the child's calls start new ones."""
    owner = _owner()
    if owner is not None:
        owner[1].disable()
        _release()
        _orphaned.add(id(owner[1]))  # its call's end must not give back a claim made since
    for pool in list(_pools):
        pool.idle.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class CpuBackend(Backend):
    """cProfile around each call (or block).

    ``begin`` claims the hook for a profiler, ``end`` gives it back; who
    switches the profiler on and off is the machinery (``switch_type``): a
    block's ``__enter__`` (last) and ``__exit__`` (first), and on 3.12+ a
    decorated function's wrapper (switching cProfile there instruments every
    frame on the stack, so no frame of the backend's may be there). On 3.11 a
    decorated call is switched by ``call``, in the frame that calls the user's
    code.
    """

    #: On 3.11 the wrapper starts and ends the measurement on its locals (-3,400 instructions a call); on 3.12+
    #: switching cProfile on instruments every frame on the stack, where the bigger wrapper costs 15,000 more:
    #: there the wrapper switches the profiler itself, with no frame of ours between it and the user's code.
    inline_run = sys.version_info < (3, 12)
    switch_type = Profile
    #: ``begin`` claims the slot for this thread alone, ``end`` gives it back (a nested call gets no claim).
    slot_marks_measurement = True

    tool = TOOL
    record_type = ProfileRecord
    not_measured = "not profiled"
    aggregate_skipped = "{skipped} of {calls} calls unprofiled: {reason}"
    stepwise = False

    def __init__(self, target: Callable[..., Any] | None, probe: Probe, options: SummaryOptions) -> None:
        super().__init__(target, probe)
        self.options = options
        self.pool = _Pool() if probe.aggregating else None

    def begin(self) -> Any:
        """Take a profiler and claim the profiler hook for it (or say why not); it is switched on elsewhere."""
        pool = self.pool
        profiler = Profile() if pool is None else pool.take()
        ident = _get_ident()
        mine = (TOOL, ident, (self.probe, profiler))
        key = ident if _PROCESS_KEY is None else _PROCESS_KEY
        if _take(key, mine) is not mine or _peek() is not None:
            reason = _not_claimed(key, mine)
            if reason is not None:
                if pool is not None:
                    pool.give(profiler)
                return self.refused(reason)
        return profiler

    @calls_user
    def call(self, token: Any, func: Callable[..., Any], args: Any, kwargs: Any) -> Any:
        """Call the user's function with the profiler on exactly around it.

        On 3.12 switching cProfile on or off instruments the code of every
        frame on the stack, and each function that runs while it is on: here
        only this small frame and the user's code are.
        """
        if token.__class__ is Profile:
            try:
                token.enable()
            except ValueError as exc:  # the hook was taken between our check and now
                _refused[id(token)] = self.failed(token, exc)
            else:
                try:
                    return func(*args, **kwargs)
                finally:
                    token.disable()
        return func(*args, **kwargs)  # (outside the except clause: the user's exception must not chain to ours)

    def end(self, token: Any, error: BaseException | None) -> Any:
        """Hand over the profile (the profiler is switched off by now); give the profiler hook back."""
        if _refused:  # some enable() in ``call`` refused: if this one's, ``failed`` let go of the hook and profiler
            failure = _refused.pop(id(token), None)
            if failure is not None:
                return failure
        if _orphaned and id(token) in _orphaned:
            _orphaned.discard(id(token))  # a forked child gave this claim back already
        else:
            _give(_get_ident() if _PROCESS_KEY is None else _PROCESS_KEY, None)
        pool = self.pool
        if pool is None:
            stats = _new_object(ProfileStats)  # deferred((token,), False, self.options) inline: a frame less a call
            stats.__dict__ = {"_read": (token,), "_mode": False, "summary_options": self.options}
            return stats
        pool.give(token)
        return (token,)

    def merge(self, aggregate: _Profiles | None, payload: tuple[Profile, ...]) -> _Profiles:
        """Note the profilers a call accumulated into."""
        if aggregate is None:
            aggregate = _Profiles()
        for profiler in payload:
            aggregate.profilers[profiler] = None
        aggregate.calls += 1
        return aggregate

    def finish(self, aggregate: _Profiles) -> ProfileStats:
        """The profile of the aggregate's calls (read from their profilers when first used)."""
        assert self.pool is not None
        profilers = self.pool.retire(aggregate.profilers)
        return deferred(tuple(profilers), self.stepwise, self.options, aggregate.calls)

    # -- the rare paths -----------------------------------------------------

    def refused(self, reason: str) -> Any:
        """The hook is taken: by a profile of ours running on this thread (nested), or by another holder."""
        owner = _owner()
        if owner is not None:
            return self.nested(owner[0])
        return Skip(reason)

    def nested(self, owner: Probe) -> Any:
        """A call inside ``owner``'s profile running on this thread: no record (said once unless a recursion)."""
        if owner is self.probe:
            return SUPPRESS
        return Nested(f"it ran inside profileit {owner.name!r}, whose profile holds its calls")

    def switch_failed(self, token: Any) -> Skip:
        """A decorated call's ``enable()`` refused (see :meth:`failed`)."""
        return self.failed(token, sys.exc_info()[1])  # type: ignore[arg-type]

    def failed(self, profiler: Profile, exc: ValueError) -> Skip:
        """``enable()`` refused (a foreign tool took the hook since the slot looked)."""
        _release()
        if self.pool is not None:
            self.pool.give(profiler)
        return Skip(str(exc))


class StepBackend(CpuBackend):
    """cProfile around each step of a generator, coroutine or async generator call.

    The profiler runs only while the call's own code runs; it is off while
    the call is suspended (other tasks, the consumer of a generator). Without
    ``aggregate=True`` each call has its own profiler; with it each step uses
    its thread's accumulating one.
    """

    stepwise = True
    call = Backend.call  # each step is switched on by resume, off by pause
    slot_marks_measurement = False  # (a step claims the slot, a suspended call holds none)

    def begin(self) -> Any:
        """Start a call; the profiler is switched on by each ``resume``."""
        owner = _owner()
        if owner is not None:
            return self.nested(owner[0])
        return _Steps()

    def resume(self, token: Any) -> Skip | None:
        """Claim the hook and switch the call's profiler on for one step."""
        owner = _owner()
        if owner is not None:  # this step runs inside an outer profile, which holds it
            if token.nested is None:
                token.nested = self.nested(owner[0])
            return None
        pool = self.pool
        if pool is not None:
            profiler = pool.take()
        else:
            profiler = token.profiler
            if profiler is None:
                profiler = token.profiler = Profile()
        reason = _claim((self.probe, profiler))
        if reason is not None:
            if pool is not None:
                pool.give(profiler)
            return self.step_skipped(token, reason)
        token.profiler = profiler
        token.on = True
        try:
            profiler.enable()
        except ValueError as exc:
            token.on = False
            _release()
            if pool is not None:
                pool.give(profiler)
            return self.step_skipped(token, str(exc))
        return None

    def pause(self, token: Any, suspended: Any = None) -> None:
        """Switch the profiler off (first) as the call is suspended."""
        if not token.on:
            return
        profiler = token.profiler
        profiler.disable()
        token.on = False
        token.profiled += 1
        _release()
        if self.pool is not None:
            token.used[profiler] = None
            self.pool.give(profiler)

    def end(self, token: Any, error: BaseException | None) -> Any:
        """Hand over the profile of the profiled steps (each step switched the profiler off)."""
        if token.on:  # ended without a pause (not expected from the machinery): stop anyway
            self.pause(token)
        if not token.profiled:
            if token.reason is not None:
                return Skip(token.reason)
            return SUPPRESS if token.nested is None else token.nested  # every step ran in an outer profile
        payload = tuple(token.used) if self.pool is not None else deferred((token.profiler,), True, self.options)
        if token.skipped:
            detail = f"{token.skipped} of {token.skipped + token.profiled} steps unprofiled: {token.reason}"
            return Skip(token.reason, payload, detail)
        return payload

    def step_skipped(self, token: _Steps, reason: str) -> Skip:
        """One step runs unprofiled; the record says how many and why."""
        token.skipped += 1
        token.reason = reason
        return Skip(reason)


def stepwise(target: Callable[..., Any] | None) -> bool:
    """Whether calls of ``target`` run in steps (generator, coroutine, async generator functions)."""
    return target is not None and (
        inspect.isgeneratorfunction(target) or inspect.iscoroutinefunction(target)
        or inspect.isasyncgenfunction(target)
    )
