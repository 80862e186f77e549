"""``lineprofile``'s backend: line_profiler around one call (or block, or aggregate's call).

``begin`` claims the hook and takes the start reading; where counting needs
the trace function (3.11), it is installed in :meth:`LineBackend.call` right
before the user's code and removed right after it (for a block: at the end of
``begin`` and the start of ``end``; for a generator's step: at the end of
``resume`` and the start of ``pause``), so that none of profiletools' code
runs under it. ``end`` turns the counters into the payload.
"""

from __future__ import annotations

import os
import sys
import threading
import types
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from profiletools.core.backend import SUPPRESS, Backend, Skip
from profiletools.core.frames import calls_user
from profiletools.core.machinery import Probe
from profiletools.core.records import Record
from profiletools.tools.lineprofile.engine import ENABLE, ENGINE, Account, small_reading, token_class
from profiletools.tools.lineprofile.record import LineRecord
from profiletools.tools.lineprofile.stats import Tally
from profiletools.tools.lineprofile.targets import python_functions

__all__ = ["LineBackend", "Spec"]

_get_ident = threading.get_ident
_gettrace = sys.gettrace
_NO_FUNCTIONS = "no functions to time: name them, as in lineprofile(f, g) or lineprofile(also=[f])"


@dataclass(frozen=True)
class Spec:
    """What a ``lineprofile`` probe times besides its target, and how it reports; makes its backends.

    Equal specs make equal probes (inline aggregate blocks share one aggregate).
    """

    functions: tuple[types.FunctionType, ...]
    record_type: type[Record]

    def __call__(self, target: Callable[..., Any] | None, probe: Probe) -> LineBackend:
        return LineBackend(target, probe, self)


#: Every backend, to forget the other threads' steps in a forked child (only the forking thread is left).
_BACKENDS: weakref.WeakSet[LineBackend] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    me = _get_ident()
    for backend in list(_BACKENDS):
        steps = backend._steps
        mine = steps.get(me)
        steps.clear()
        if mine:
            steps[me] = mine


class LineBackend(Backend):
    """line_profiler around each call of one target (or each run of one block).

    A call nested in another call of the same target on the same thread (a
    recursion, or a generator driving another one) makes no record of its own:
    its lines are already counted, once per execution, in the outer call's.
    With ``aggregate=True`` the calls share one account of the engine (so
    concurrent calls are counted together, once), and each call hands the
    machinery the rows counted since the last call ended.
    """

    tool = "lineprofile"
    record_type = LineRecord
    not_measured = "not line-profiled"
    aggregate_skipped = "{skipped} of {calls} calls were not line-profiled: {reason}"
    inline_run = True  # (-3,400 instructions a call on 3.11, -5,800 on 3.12)

    def __init__(self, target: Callable[..., Any] | None, probe: Probe, spec: Spec) -> None:
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
        self._lazy_stats = ENGINE.lazy_stats
        self._new_stats = ENGINE.lazy_stats.__new__
        #: Steps of this backend's calls running now, per thread ident (a nested one makes no record):
        #: a dict, not a ``threading.local`` (a third of the instructions on every call).
        self._steps: dict[int, int] = {}
        _BACKENDS.add(self)
        small = small_reading(keys)
        self._account = Account(self.codes, keys, aggregate=True) if probe.aggregating else None
        #: The class of this backend's call tokens (its functions and account read from the class).
        self._per_call = self._account is None
        self._token = token_class(self.codes, keys, small, self._per_call)
        self._managers: Any = getattr(type(self._profiler), "_managers", None)
        #: A block installs the trace function itself; a call leaves it to ``call`` or ``resume``.
        self._defer = target is not None

    def begin(self) -> Any:
        """Start line profiling (or ``SUPPRESS`` for a call nested in one of the same target)."""
        me = _get_ident()
        steps = self._steps
        if me in steps:
            return SUPPRESS
        steps[me] = 1
        token = self._token()
        token.parts = []
        token.thread = me
        token.stepping = True
        token.busy = 0
        token.skip = None
        token.problem = None
        token.untraced = False
        token.failure = None
        if not self.codes:
            token.skip = _NO_FUNCTIONS
            return token
        skip = ENGINE.activate(self._account or token, me, True)
        if skip is ENABLE:
            token.active = True
            if self._defer:
                token.pending = True  # call() or resume() installs it, last thing before the user's code
                return token
            self._enable_last(token)  # the very last thing before the block's code
            return token
        token.skip = skip
        token.active = skip is None
        return token

    @calls_user
    def call(self, token: Any, func: Callable[..., Any], args: Any, kwargs: Any) -> Any:
        """Call the user's function; the trace function (3.11) is on exactly around it.

        Every line that runs while it is on costs a call into line_profiler, so
        between ``enable()`` and the user's code, and between the user's code
        and ``disable()``, there is as little as the language allows.
        """
        if token.__class__ is not self._token or not token.pending:
            return func(*args, **kwargs)
        token.pending = False
        try:
            self._profiler.enable()
        except Exception as exc:  # noqa: BLE001 - never into user code
            self._enable_failed(token, exc)
        else:
            try:
                return func(*args, **kwargs)
            finally:
                try:  # (one line: no line event between reading the hook and removing it)
                    token.current = _gettrace(); self._profiler.disable()  # noqa: E702
                except Exception as exc:  # noqa: BLE001 - never into user code
                    token.failure = exc
                token.untraced = True
        return func(*args, **kwargs)  # (outside the except clause: the user's exception must not chain to ours)

    def resume(self, token: Any) -> None:
        """A step of a generator or coroutine starts (``begin`` started the first)."""
        if token.stepping:
            if token.pending:  # the first step: install the trace function now
                token.pending = False
                self._enable_last(token)
            return
        me = token.thread = _get_ident()
        token.stepping = True
        steps = self._steps
        steps[me] = steps.get(me, 0) + 1
        if token.skip is None:
            skip = ENGINE.activate(self._account or token, me, True)
            token.active = skip is None or skip is ENABLE
            if skip is ENABLE:
                self._enable_last(token)
            else:
                token.skip = skip

    def _enable_last(self, token: Account) -> None:
        try:
            self._profiler.enable()  # the very last thing before the step's code
        except Exception as exc:  # noqa: BLE001 - never into user code
            self._enable_failed(token, exc)

    def _enable_failed(self, token: Account, exc: BaseException) -> None:
        token.active = False
        token.skip = ENGINE.enable_failed(self._account or token, token.thread, exc)

    def pause(self, token: Any, suspended: Any = None) -> None:
        """A step ends: stop counting its lines."""
        if not token.stepping:
            return
        if token.active:
            token.active = False
            problem = ENGINE.deactivate(self._account or token, token.thread)
            if problem is not None and token.skip is None:
                token.skip = problem
        token.stepping = False
        self._step_ended(token.thread)

    def _step_ended(self, me: int) -> None:
        steps = self._steps
        left = steps[me] - 1
        if left:
            steps[me] = left
        else:
            del steps[me]

    def end(self, token: Any, error: BaseException | None) -> Any:
        """The call's ``LineStats`` (with ``aggregate=True``: its rows), or why it was not line-profiled."""
        if token.active:
            token.active = False
            if token.untraced:  # call() removed the trace function right after the user's code
                untraced = None
                managers = self._managers  # (line_profiler's trace objects by thread: its ``_manager`` looks there)
                manager = self._profiler._manager if managers is None else managers.get(token.thread)
                if token.failure is not None or token.current is not manager:
                    untraced = ENGINE.hook.untrace(token.current, token.failure, True)  # type: ignore[union-attr]
                problem = ENGINE.deactivate(self._account or token, token.thread, untraced, True)
            elif token.pending:  # never installed (no call, no step ran)
                problem = ENGINE.deactivate(self._account or token, token.thread, None, True)
            elif ENGINE.untraces(token.thread):
                current = _gettrace()
                failure = None
                try:
                    self._profiler.disable()  # the very first thing after the block's code
                except Exception as exc:  # noqa: BLE001 - never into user code
                    failure = exc
                untraced = ENGINE.hook.untrace(current, failure, True)  # type: ignore[union-attr]
                problem = ENGINE.deactivate(self._account or token, token.thread, untraced, True)
            else:
                problem = ENGINE.deactivate(self._account or token, token.thread)
            if problem is not None and token.skip is None:
                token.skip = problem
        if token.stepping:
            token.stepping = False
            steps = self._steps
            me = token.thread
            if steps[me] == 1:
                del steps[me]
            else:
                steps[me] -= 1
        account = self._account
        if account is None:
            problem = token.skip or token.problem
            if problem is not None:
                return Skip(problem)
            stats = self._new_stats(self._lazy_stats)  # (its rows are worked out when first read)
            stats._steps = self.keys, token.parts
            stats.unit = ENGINE.unit
            return stats
        tally = ENGINE.take(account)
        if token.skip is not None:  # (its rows, if any: a run that counted nothing gives the aggregate no table)
            return Skip(token.skip, tally if tally.settle(self.keys) else None)
        return tally

    def merge(self, aggregate: Tally | None, payload: Tally) -> Tally:
        """Add one call's rows to the aggregate's."""
        if aggregate is None:
            return payload
        aggregate.absorb(self.keys, payload)
        return aggregate

    def finish(self, aggregate: Tally) -> Any:
        """The ``LineStats`` of the aggregate: every function timed, its rows summed over the calls."""
        return ENGINE.stats(self.keys, aggregate.settle(self.keys))


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
