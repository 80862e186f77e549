"""The wrapper machinery: the one place that turns a measurement into a tool.

A *tool* (``timed``, ``profileit``, ...) is a :class:`Probe`: a decorator and a
context manager in one object. The probe measures wall and CPU time itself; a
tool that measures more supplies a backend (:mod:`profiletools.core.backend`)
whose ``begin``/``end`` run right around the user's code. The machinery owns
everything else: the kinds of callable (plain, coroutine, generator, async
generator, methods, class and static methods, other callables), the on/off
switches, sampling (``every=``), recursion and concurrency (per-call state is
a :class:`Run` in locals and context variables, never on the decorator),
skipped calls (the record says why, a warning says it once), aggregation
(:mod:`profiletools.core.aggregation`), building the record and delivering it
to reporters with failure isolation.

How a callable is wrapped:

* a plain Python function gets a generated Python function (``functools``
  metadata, ``__wrapped__``): it binds as a method by itself, pickles by
  reference, and costs ~0.15 µs per call;
* coroutine, generator and async generator functions, and callables that are
  not functions, get a ``wrapt.FunctionWrapper``: it forwards ``__code__`` and
  ``__class__``, so ``inspect.iscoroutinefunction`` and friends keep answering
  as for the original while arguments are still bound eagerly at call time.
  (For plain functions wrapt's C ``__call__`` looks up ``__self__`` on every
  call and pays ~0.7 µs for the AttributeError, which is why they take the
  first path.)
"""

from __future__ import annotations

import contextvars
import functools
import itertools
import sys
import threading
import time
import types
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, TypeVar

from profiletools.core import config as _config  # noqa: F401 - installs the default reporters
from profiletools.core import settings
from profiletools.core.backend import NOT_MEASURED, SUPPRESS, Backend, Nested, Skip, can_aggregate, makes_calls
from profiletools.core.delivery import (
    Closer,
    Targets,
    check_reporters,
    close_scopes,
    default_reporters,
    deliver,
    open_scopes,
    reporter_failed,
    step_scopes,
)
from profiletools.core.frames import bookkeeping, calls_user, user_frame
from profiletools.core.records import EPOCH_ANCHOR, Record, TimingRecord, make_record
from profiletools.core.registry import load_declarations
from profiletools.core.settings import MEASURING, STATE, Measurements

if TYPE_CHECKING:
    from profiletools.core.aggregation import Aggregate
    from profiletools.core.budgets import Budget

__all__ = [
    "SUPPRESS", "Backend", "F", "Nested", "Probe", "Run", "Skip", "make_probe", "split_target",
]

F = TypeVar("F", bound=Callable[..., Any])

_perf = time.perf_counter
#: ``Run.end_call(RAISED)``: the call raised the exception being handled now.
RAISED: Any = BaseException()
_thread_time = time.thread_time
_get_ident = threading.get_ident
_new_record = tuple.__new__
_DIGITS = str.maketrans("0123456789", "NNNNNNNNNN")


class _Handle:
    """What a ``with`` block's target offers: its record, and the record's wall time and statistics."""

    __slots__ = ()
    record: Record | None

    @property
    def elapsed(self) -> float | None:
        """Wall seconds of the block (``None`` until one finished, or when it was not measured)."""
        return None if self.record is None else self.record.wall

    @property
    def stats(self) -> Any:
        """The tool's statistics object of the block (``pstats.Stats``, ``LineStats``...)."""
        return getattr(self.record, "stats", None)


class Run(_Handle):
    """One measured call or block, from its start to its record: the only running state there is.

    A call's run lives in the wrapper's locals, a block's on its probe (or, when
    the probe's own slot is busy, on a context-variable stack), never on the
    decorator: recursion, threads and tasks each have their own. A block
    entered on a busy probe gets its run as the ``with`` target: ``record``,
    ``elapsed`` and ``stats`` read as on the probe.
    """

    __slots__ = (
        "backend", "closers", "cpu_mark", "cpu_used", "measuring", "pausers", "probe", "record", "stepwise", "t0",
        "targets", "token",
    )

    def __init__(self, probe: Probe) -> None:
        self.probe = probe
        self.backend = probe.backend
        self.targets: Targets | None = None  # None: not measured
        self.record: Record | None = None

    @bookkeeping
    def start(self, stepwise: bool, probe: Probe | None = None) -> Any:
        """Open scoped reporters, read the clocks, begin the backend (last, right before user code).

        ``probe``: given to a run made without ``__init__`` (``_new_run(Run)``,
        a decorated call's: one function call less on every call). Returns the
        backend's token of a call (not of a generator's or coroutine's).
        """
        if probe is None:
            probe = self.probe
        else:
            self.probe = probe
            self.backend = probe.backend
        self.stepwise = stepwise
        own = probe.reporters
        targets = self.targets = own if own is not None else (STATE.default_reporters or default_reporters())
        self.closers = open_scopes(targets.openers, probe) if targets.openers else None
        if stepwise:
            # scopes that must step aside while a generator or coroutine is suspended (tracing context)
            self.pausers = [scope for scope in self.closers if hasattr(scope, "pause")] if self.closers else None
        self.cpu_used: float | None = None
        self.t0 = _perf()
        if probe.cpu:
            self.cpu_used = 0.0
            if not stepwise:
                self.cpu_mark = _thread_time()
        backend = self.backend
        if backend is not None:
            if stepwise:  # a generator's or coroutine's steps count one by one (resume, pause)
                self.token = backend.begin()
                return
            measuring = self.measuring = MEASURING.now  # warnings wait until the measurement ends (warn_once)
            measuring.depth += 1
            try:
                token = self.token = backend.begin()
            except BaseException:  # a broken backend: do not hold this thread's warnings forever
                _leave()
                raise
            return token
        return None

    @bookkeeping
    def resume(self) -> None:
        """Account CPU and backend time to the call again (generators, coroutines)."""
        if self.pausers:
            step_scopes(self.pausers, "resume")
        backend = self.backend
        if backend is not None and self.token.__class__ not in NOT_MEASURED:
            MEASURING.now.depth += 1
            skip = backend.resume(self.token)
            if skip is not None:
                self.warn(skip.reason)  # held back until this step ends
        if self.cpu_used is not None:
            self.cpu_mark = _thread_time()

    @bookkeeping
    def pause(self, suspended: Any = None) -> None:
        """Stop accounting CPU and backend time while the call is suspended (``suspended``: what was stepped)."""
        if self.cpu_used is not None:
            self.cpu_used += _thread_time() - self.cpu_mark
        backend = self.backend
        if backend is not None and self.token.__class__ not in NOT_MEASURED:
            backend.pause(self.token, suspended)
            _leave()
        if self.pausers:
            step_scopes(self.pausers, "pause")

    @bookkeeping
    def finish(self, error: BaseException | None, t1: float | None = None, c1: float = 0.0) -> Record | None:
        """End the backend first, then read the clocks; then build and deliver the record (or aggregate it).

        A block without a backend passes the clocks ``__exit__`` read first thing
        (``t1``, ``c1``). Kept small: on 3.12 cProfile instruments every code
        object on the stack when it is switched off, and this one is.
        """
        targets = self.targets
        if targets is None:  # never started: the probe was not measuring
            return None
        backend = self.backend
        outcome: Any = None
        if backend is not None:
            token = self.token
            try:
                outcome = token if token.__class__ in NOT_MEASURED else backend.end(token, error)
            except BaseException:  # a broken backend: do not hold this thread's warnings forever
                if not self.stepwise:
                    _leave()
                raise
        cpu = self.cpu_used
        if t1 is None:
            if cpu is not None and not self.stepwise:
                cpu = _thread_time() - self.cpu_mark
            t1 = _perf()
        elif cpu is not None:
            cpu = c1 - self.cpu_mark
        return self._conclude(outcome, error, t1 - self.t0, cpu)

    @bookkeeping
    def end_call(self, error: BaseException | None) -> Record | None:
        """:meth:`finish` for a synchronous call or a block under a backend: one frame from its end to the record.

        The backend's ``call`` (if it has one) has already switched its hook
        off. Every Python function run per call costs (on 3.12 each is
        re-checked after cProfile was switched on and off), so the usual case
        is made here, with the record built and delivered inline (as
        :func:`~profiletools.core.records.make_record` and
        :func:`~profiletools.core.delivery.deliver` would), and only skips,
        scoped reporters and aggregates go through ``_conclude``. ``error``:
        :data:`RAISED` when called in the ``except`` clause of the user's
        exception (it is read from there). Returns the record (also kept in
        ``record``), or ``None`` when there is none.
        """
        if error is RAISED:
            error = sys.exc_info()[1]
        token = self.token
        backend: Backend = self.backend  # type: ignore[assignment]
        if token.__class__ in NOT_MEASURED:
            outcome = token
        else:
            try:
                outcome = backend.end(token, error)
            except BaseException:  # a broken backend: do not hold this thread's warnings forever
                _leave()
                raise
        cpu = self.cpu_used
        if cpu is not None:
            cpu = _thread_time() - self.cpu_mark
        t0 = self.t0
        wall = _perf() - t0
        probe = self.probe
        if outcome.__class__ in NOT_MEASURED or self.closers is not None or probe.aggregate is not None:
            return self._conclude(outcome, error, wall, cpu)
        measuring = self.measuring  # (_leave, inline)
        depth = measuring.depth = measuring.depth - 1
        if not depth and measuring.held:
            settings.issue_held()
        record = self.record = _new_record(backend.record_type, (
            probe.tool, probe.name, probe.qualname, probe.module, EPOCH_ANCHOR + t0, wall, cpu, STATE.pid,
            _get_ident(), None if error is None else type(error).__qualname__, outcome, None, probe.budget,
        ))
        targets: Targets = self.targets  # type: ignore[assignment]
        single = targets.single
        if single is not None:
            try:
                single(record)
            except Exception as exc:  # noqa: BLE001 - reporters never raise into user code
                reporter_failed(single, exc)
        else:
            deliver(record, targets)
        return record

    def _conclude(self, outcome: Any, error: BaseException | None, wall: float, cpu: float | None) -> Record | None:
        """After the measurement: say why it was skipped, aggregate, or build and deliver the record."""
        probe, backend, closers = self.probe, self.backend, self.closers
        skipped = None
        if backend is not None:
            if not self.stepwise:
                _leave()
            if outcome.__class__ in NOT_MEASURED:
                if outcome.__class__ is not Skip:  # SUPPRESS or Nested: no record
                    if outcome.__class__ is Nested:
                        self.warn_nested(outcome.reason)
                    if closers:
                        close_scopes(closers, None)
                    return None
                self.warn(outcome.reason)
                skipped = outcome.detail or outcome.reason
            aggregate = probe.aggregate
            if aggregate is not None:
                aggregate.add(self.t0, wall, cpu, outcome)
                if closers:
                    close_scopes(closers, None)
                return None
            if skipped is not None:
                outcome = outcome.payload
        record: Record = make_record(
            TimingRecord if backend is None else backend.record_type, probe.tool, probe.name,  # type: ignore[arg-type]
            probe.qualname, probe.module, EPOCH_ANCHOR + self.t0, wall, cpu,  # type: ignore[arg-type]
            None if error is None else type(error).__qualname__, outcome, skipped, probe.budget,
        )
        self.record = record
        deliver(record, self.targets, closers)  # type: ignore[arg-type]
        return record

    def warn(self, reason: str) -> None:
        """Say once per tool and kind of reason that a call ran unmeasured (the record says why too)."""
        backend = self.backend
        settings.warn_once(
            backend.tool, reason.translate(_DIGITS),  # type: ignore[union-attr]
            f"{backend.tool} {self.probe.name}: {backend.not_measured}: {reason} "  # type: ignore[union-attr]
            "(the code runs as usual; the record says why)",
        )

    def warn_nested(self, reason: str) -> None:
        """Say once per probe and reason that its calls make no record of their own."""
        name = self.probe.name
        settings.warn_once(
            self.backend.tool, f"{name}\x00{reason}",  # type: ignore[union-attr]
            f"{self.backend.tool} {name}: no record of its own: {reason}",  # type: ignore[union-attr]
        )


def _leave() -> None:
    """A measurement on this thread ended: issue the warnings held back when it was the last."""
    measuring = MEASURING.now
    depth = measuring.depth = measuring.depth - 1
    if not depth and measuring.held:
        settings.issue_held()


class Probe(_Handle):
    """A configured tool: decorate a callable with it, or use it in ``with``.

    Used in ``with``, the probe is also the handle of the block: after the
    block ``probe.record`` holds the record and ``probe.elapsed`` its wall
    seconds. A probe object shared between threads, tasks or recursive blocks
    keeps each entry's state separately.
    """

    # Class-level defaults: a probe made for one ``with`` block sets only what
    # its call gave (instance attributes without __slots__ are as fast to read
    # and cheaper to create than twenty slots).
    factory: Callable[[Callable[..., Any] | None, Probe], Backend] | None = None
    backend: Backend | None = None
    module: str | None = None
    reporters: Targets | None = None
    enabled: bool | Callable[[], object] = True
    every: int = 1
    gate: Callable[[], object] | None = None
    budget: Budget | None = None
    #: Whether calls are folded into one record per flush (``aggregate=True``).
    aggregating: bool = False
    #: Where this probe's calls are folded (``aggregate=True``), else ``None``.
    aggregate: Aggregate | None = None
    #: The record of the last block run with this probe (``None`` before).
    record: Record | None = None
    #: The block in progress on the probe's own slot (``None``: none, or not measured).
    _live: Run | None = None
    _shared: contextvars.ContextVar[tuple[Run, ...]] | None = None

    def __init__(
        self,
        tool: str,
        factory: Callable[[Callable[..., Any] | None, Probe], Backend] | None,
        name: str | None,
        reporters: Targets | None,
        enabled: bool | Callable[[], object],
        every: int,
        cpu: bool,
    ) -> None:
        self.tool = tool
        self.factory = factory
        self.name = self.qualname = name
        self.reporters = reporters
        self.enabled = enabled
        self.every = every
        self.cpu = cpu
        self.gate = None if enabled is True and every == 1 else _make_gate(enabled, every)
        self._free = [True]

    # -- delivery -----------------------------------------------------------

    def current_reporters(self) -> Targets:
        """The reporters this probe delivers to now (its own, else the defaults)."""
        own = self.reporters
        if own is not None:
            return own
        defaults = STATE.default_reporters
        return defaults if defaults is not None else default_reporters()

    def emit(
        self,
        started_perf: float,
        wall: float,
        cpu: float | None,
        error: BaseException | None,
        payload: Any = None,
        skipped: str | None = None,
        *,
        targets: Targets | None = None,
        closers: list[Closer] | None = None,
    ) -> Record:
        """Build the record of one call, block or aggregate and deliver it to the reporters.

        The machinery passes the ``targets`` resolved when the call started and
        the ``closers`` of the scoped reporters opened for it; an aggregate's
        record, made on flush, goes to the reporters of that moment.
        """
        backend = self.backend
        record: Record = make_record(
            TimingRecord if backend is None else backend.record_type, self.tool, self.name, self.qualname,  # type: ignore[arg-type]
            self.module, EPOCH_ANCHOR + started_perf, wall, cpu, None if error is None else type(error).__qualname__,
            payload, skipped, self.budget,
        )
        deliver(record, targets if targets is not None else self.current_reporters(), closers)
        return record

    def measuring(self) -> bool:
        """Whether the next call or block is measured (switches, ``enabled=``, ``every=``)."""
        gate = self.gate
        return STATE.enabled and (gate is None or bool(gate()))

    def flush(self) -> None:
        """Report what this probe aggregated since the last flush (``aggregate=True``; else nothing)."""
        aggregate = self.aggregate
        if aggregate is not None:
            aggregate.flush()

    # -- decorator ----------------------------------------------------------

    def __call__(self, func: F) -> F:
        """Decorate ``func`` (see the module docstring for how each kind is wrapped)."""
        if not STATE.enabled_at_import:
            return func
        if isinstance(func, (classmethod, staticmethod)):
            return type(func)(self(func.__func__))  # type: ignore[return-value]
        if not callable(func):
            raise TypeError(
                f"{self.tool}() decorates a callable (function, method, coroutine or generator "
                f"function); got {type(func).__name__} {func!r:.60}"
            )
        import inspect

        bound = self._bind(func)
        if isinstance(func, types.FunctionType) and not (
            inspect.iscoroutinefunction(func)
            or inspect.isgeneratorfunction(func)
            or inspect.isasyncgenfunction(func)
        ):
            wrapper = _function_wrapper(func, bound)
            functools.update_wrapper(wrapper, func)
            if bound.backend is not None and can_aggregate(bound.backend):
                wrapper.flush = bound.flush  # type: ignore[attr-defined]
            return wrapper  # type: ignore[return-value]
        from profiletools.core.proxies import ProxyWrapper, proxy_call  # wrapt, on first need

        return ProxyWrapper(func, proxy_call(func, bound), bound)  # type: ignore[return-value]

    def _bind(self, func: Callable[..., Any] | None) -> Probe:
        """A probe of the same settings, owned by one target (fresh counters and state)."""
        bound = Probe(self.tool, self.factory, self.name, self.reporters, self.enabled, self.every, self.cpu)
        bound.budget = self.budget
        bound.aggregating = self.aggregating
        if func is not None:
            qualname = getattr(func, "__qualname__", None) or getattr(func, "__name__", None) or repr(func)
            bound.qualname = qualname
            bound.module = getattr(func, "__module__", None)
            if bound.name is None:
                bound.name = qualname
        if self.factory is not None:
            backend = bound.backend = self.factory(func, bound)
            if bound.aggregating:
                from profiletools.core.aggregation import Aggregate

                bound.aggregate = Aggregate(bound, backend)
        return bound

    # -- context manager ----------------------------------------------------

    @bookkeeping
    def __enter__(self) -> Probe | Run:
        try:
            self._free.pop()
        except IndexError:
            return self._enter_shared()
        if self.name is None:
            self._name_after_caller(user_frame(sys._getframe(1)))
        gate = self.gate
        if not STATE.enabled or (gate is not None and not gate()):
            self._live = self.record = None
            return self
        if self.factory is not None and self.backend is None:
            self._make_backend()
        run = self._live = Run(self)
        token = run.start(False)  # (not in a helper: on 3.12 each frame on the stack when cProfile starts costs)
        if token is not None:  # (a backend's token)
            switch_type: Any = run.backend.switch_type  # type: ignore[union-attr]  # (its tokens: enable(), disable())
            if token.__class__ is switch_type:
                # switched on last, here: this frame is the only one of ours on the stack (see _switching_function)
                try:
                    token.enable()
                except ValueError:  # the hook was taken since the backend claimed it: the block runs unmeasured
                    run.token = run.backend.switch_failed(token)  # type: ignore[union-attr]
        return self

    @bookkeeping
    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        t1: float | None = None
        c1 = 0.0
        if self.factory is None:  # read the clocks first thing (a backend's run reads them after stopping it)
            c1 = _thread_time() if self.cpu else 0.0
            t1 = _perf()
        if self._shared is not None and self._exit_shared(exc, t1, c1):
            return
        run = self._live
        if run is not None and self.factory is not None:
            token = run.token
            switch_type: Any = run.backend.switch_type  # type: ignore[union-attr]
            if token.__class__ is switch_type:
                token.disable()  # first: switched on by __enter__ (no call of ours before this one is profiled)
        self._free.append(True)
        if run is not None:
            # (a block's run under a backend is never stepwise: it ends as a call's does, in one frame)
            self.record = run.finish(exc, t1, c1) if run.backend is None else run.end_call(exc)

    async def __aenter__(self) -> Probe | Run:
        return self.__enter__()

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self.__exit__(exc_type, exc, tb)

    def _exit_shared(self, exc: BaseException | None, t1: float | None, c1: float) -> bool:
        """End the innermost block this context entered while the own slot was busy; ``False``: there is none.

        (Called only once ``_shared`` exists: a block on the own slot never pays for it.)
        """
        shared: contextvars.ContextVar[tuple[Run, ...]] = self._shared  # type: ignore[assignment]
        stack = shared.get(())
        if not stack:
            return False
        shared.set(stack[:-1])
        run = stack[-1]
        token: Any = getattr(run, "token", None)  # (a run made while measuring was off has none)
        switch_type: Any = run.backend is not None and run.backend.switch_type
        if token.__class__ is switch_type:
            token.disable()  # switched on by _enter_shared
        run.finish(exc, t1, c1)
        return True

    def _enter_shared(self) -> Run:
        """Enter a block while this probe's own slot is in use (threads, tasks, recursion)."""
        if self._shared is None:
            with _shared_lock:
                if self._shared is None:
                    self._shared = contextvars.ContextVar(f"profiletools-{id(self)}")
        if self.name is None:
            self._name_after_caller(user_frame(sys._getframe(1)))
        measuring = self.measuring()
        if measuring and self.factory is not None and self.backend is None:
            self._make_backend()
        run = Run(self)
        self._shared.set((*self._shared.get(()), run))
        if measuring:
            token = run.start(False)
            if token is not None:  # (a backend's token)
                switch_type: Any = run.backend.switch_type  # type: ignore[union-attr]
                if token.__class__ is switch_type:
                    try:
                        token.enable()  # last (see __enter__)
                    except ValueError:
                        run.token = run.backend.switch_failed(token)  # type: ignore[union-attr]
        return run

    def _make_backend(self) -> None:
        """The backend of a block probe; an aggregating one shares its block name's (see aggregation)."""
        if not self.aggregating:
            self.backend = self.factory(None, self)  # type: ignore[misc]
            return
        from profiletools.core.aggregation import of_block

        aggregate = self.aggregate = of_block(self, self.aggregation_key(), None)
        self.backend = aggregate.backend

    def aggregation_key(self) -> Hashable:
        """What makes two blocks one aggregate: tool, name and every option.

        Reporters count by identity (the same reporter objects: a reporter class
        need not be hashable); the aggregate's first probe keeps them alive, so
        an identity is never reused while it is a key.
        """
        own = self.reporters
        reporters = None if own is None else tuple(
            id(getattr(report, "__self__", report)) for group in own for report in group
        )
        return (self.tool, self.name, self.module, self.cpu, reporters, self.budget, self.factory)

    def _name_after_caller(self, frame: types.FrameType | None) -> None:
        """Name an unnamed block after the line of the ``with`` statement (the first frame not ours)."""
        if frame is None:
            self.name = self.qualname = "block"
            return
        code = frame.f_code
        self.name = self.qualname = f"block at {code.co_filename.rsplit('/', 1)[-1]}:{frame.f_lineno}"
        self.module = frame.f_globals.get("__name__")

    def __repr__(self) -> str:
        return f"<profiletools {self.tool} probe {self.name!r}>"


_shared_lock = threading.Lock()


def _make_gate(enabled: bool | Callable[[], object], every: int) -> Callable[[], object] | None:
    """Combine ``enabled=`` and ``every=`` into one check (``None``: always measure)."""
    if enabled is True and every == 1:
        return None
    if enabled is False:
        return lambda: False
    counter = itertools.count()
    if enabled is True:
        return lambda: next(counter) % every == 0
    if every == 1:
        return enabled  # type: ignore[return-value]
    return lambda: enabled() and next(counter) % every == 0  # type: ignore[operator]


# -- plain functions: generated wrappers --------------------------------------------


def _function_wrapper(func: Callable[..., Any], probe: Probe) -> Callable[..., Any]:
    """A Python function measuring each call of ``func``; the hot path of every tool."""
    if probe.backend is not None:
        return _measured_function(func, probe)
    if probe.cpu:
        return fastpath.timed_function_cpu(func, probe)
    return fastpath.timed_function(func, probe)


def _measured_function(func: Callable[..., Any], probe: Probe) -> Callable[..., Any]:
    """The wrapper of a function measured by a backend between its ``begin`` and ``end`` (no ``call``).

    The machinery's per-call work inline, as in :func:`_backend_function`,
    with the user's function called from the wrapper itself. (Not one wrapper
    for both with a function making the direct call: that frame, inside
    memprofile's window, read a 400 B peak on 3.11 where the call itself has
    none; ``tests/test_memprofile_first_call.py`` fails.)
    """
    if makes_calls(probe.backend):
        return _backend_function(func, probe)
    state, gate, new_run = STATE, probe.gate, object.__new__

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not state.enabled or (gate is not None and not gate()):
            return func(*args, **kwargs)
        run = new_run(Run)
        run.start(False, probe)
        try:
            result = func(*args, **kwargs)
        except:  # any exception (fewer instructions than ``except BaseException as exc``)
            run.end_call(RAISED)
            raise
        run.end_call(None)
        return result

    return wrapper  # (not a user caller: it calls only Python functions of the user's, see frames.USER_CALLERS)


def _backend_function(func: Callable[..., Any], probe: Probe) -> Callable[..., Any]:
    """The wrapper of a function whose backend makes the call (``Backend.call``): ``_call_by_backend`` inlined.

    One frame between the caller and the backend's ``call``, and few code
    objects per call: on 3.12 switching cProfile on or off instruments every
    frame on the stack, and each code object that runs after it is checked
    again, so both cost on every call.
    """
    if probe.backend.inline_run:  # type: ignore[union-attr]
        return _inline_backend_function(func, probe)
    if probe.backend.switch_type is not None and probe.backend.slot_marks_measurement:  # type: ignore[union-attr]
        return _switching_function(func, probe)  # (which counts no measurement in MEASURING: the slot says it)
    state, gate, make_call, new_run = STATE, probe.gate, probe.backend.call, object.__new__  # type: ignore[union-attr]

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not state.enabled or (gate is not None and not gate()):
            return func(*args, **kwargs)
        run = new_run(Run)
        run.start(False, probe)
        try:
            result = make_call(run.token, func, args, kwargs)
        except:  # any exception (fewer instructions than ``except BaseException as exc``: see above)
            run.end_call(RAISED)
            raise
        run.end_call(None)
        return result

    return wrapper  # (not a user caller: the built-ins it calls itself are profiletools', see frames.USER_CALLERS)


def _switching_function(func: Callable[..., Any], probe: Probe) -> Callable[..., Any]:
    """The wrapper of a function whose backend's token is switched on and off around the call here.

    For a backend with ``switch_type`` (cProfile on 3.12+, which instruments
    the code of every frame on the stack each time it is switched on or off,
    about 450 machine instructions a call per call instruction in it): the
    only frame of ours on the stack then is this one, and it is kept short.
    The usual call makes no :class:`Run`: what :meth:`Run.start` and
    :meth:`Run.end_call` do is done by two closures, ``start`` (the clocks,
    the token; before the token is switched on) and ``finish`` (the record;
    after it is off), with the probe's fixed fields in cells (-2,700
    instructions a ``profileit`` call on 3.12 against a ``Run`` started and
    ended by its methods). The rare calls get a ``Run`` and go the usual way:
    scoped reporters (through :func:`_call_by_backend`), a token of another
    type (a skip, a nested call: :func:`_unswitched`), ``enable()`` refusing
    (:func:`_switched_raised`), an outcome that is not measured. The record
    goes to the reporters in effect when the call started, as on every path.
    """
    backend: Backend = probe.backend  # type: ignore[assignment]
    state, begin, end, record_type, cpu = STATE, backend.begin, backend.end, backend.record_type, probe.cpu
    switch_type: Any = backend.switch_type  # (Any: a token of this type has enable() and disable())
    # (what a bound probe keeps from its decoration on: read once, here)
    tool, name, qualname, module, budget, aggregate = (
        probe.tool, probe.name, probe.qualname, probe.module, probe.budget, probe.aggregate
    )
    own, holding = probe.reporters, settings.HOLDING

    @bookkeeping
    def start() -> tuple[Any, Targets, float, float]:
        """The clocks, then the backend's token (a switchable one holds its profiler slot on this thread).

        Returns the token, the reporters, the start's wall and CPU clocks
        (one tuple: on the wrapper's side, fewer instructions to instrument).
        The measurement is not counted in ``MEASURING``: the backend's slot
        says it runs here (``Backend.slot_marks_measurement``).
        """
        targets = own if own is not None else (state.default_reporters or default_reporters())
        t0 = _perf()
        cpu_mark = _thread_time() if cpu else 0.0
        if targets.openers:
            return _SCOPED, targets, t0, cpu_mark
        return begin(), targets, t0, cpu_mark

    @bookkeeping
    def finish(token: Any, targets: Targets, t0: float, cpu_mark: float, error: BaseException | None = None) -> None:
        """The switched-off token's outcome, the clocks, then the record, built and delivered (or aggregated)."""
        outcome = end(token, error)  # (gives the slot back: warnings held meanwhile may go now)
        cpu_used = _thread_time() - cpu_mark if cpu else None
        wall = _perf() - t0
        if outcome.__class__ in NOT_MEASURED:
            run = _call_run(probe, targets, None, t0, cpu, cpu_mark, _counted(), token)
            run._conclude(outcome, error, wall, cpu_used)
            return
        if holding:
            settings.issue_held()
        if aggregate is not None:  # (what _conclude does for a measured call of an aggregate)
            aggregate.add(t0, wall, cpu_used, outcome)
            return
        record = _new_record(record_type, (
            tool, name, qualname, module, EPOCH_ANCHOR + t0, wall, cpu_used, state.pid, _get_ident(),
            None if error is None else type(error).__qualname__, outcome, None, budget,
        ))
        single = targets.single
        if single is not None:
            try:
                single(record)
            except Exception as exc:  # noqa: BLE001 - reporters never raise into user code
                reporter_failed(single, exc)
        else:
            deliver(record, targets)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not state.enabled:
            return func(*args, **kwargs)
        token, targets, t0, cpu_mark = start()
        if token.__class__ is switch_type:
            try:
                token.enable()
                result = func(*args, **kwargs)
            except:  # noqa: E722 - any exception: the user's (re-raised) or enable() refusing (runs unmeasured)
                token.disable()  # (first: nothing of ours is profiled; harmless when enable() refused)
                token = _switched_raised(token, targets, backend, finish, t0, cpu_mark)
                if token is None:
                    raise
            else:
                token.disable()
                finish(token, targets, t0, cpu_mark)
                return result
        return _unswitched(probe, token, targets, t0, cpu_mark, func, args, kwargs)

    # (not a user caller: the built-ins it calls itself are profiletools', see frames.USER_CALLERS)
    return wrapper if probe.gate is None else _gated(wrapper, func, probe.gate)


#: What a switching wrapper's ``start`` gives for a call with scoped reporters (they open in ``Run.start``).
_SCOPED: Any = object()


def _gated(measured: Callable[..., Any], func: Callable[..., Any], gate: Callable[[], object]) -> Callable[..., Any]:
    """``measured`` for the calls ``gate`` lets through (``enabled=``, ``every=``), ``func`` for the others.

    A layer of its own, so that the wrappers of the usual, ungated call test one switch
    (:func:`_switching_function`, :func:`_inline_backend_function`).
    The switch comes first, as in every wrapper: while measuring is off the gate
    is not asked (``every=`` does not count those calls).
    """
    state = STATE

    def gated(*args: Any, **kwargs: Any) -> Any:
        if state.enabled and gate():
            return measured(*args, **kwargs)
        return func(*args, **kwargs)

    return gated


def _switched_raised(
    token: Any, targets: Targets, backend: Backend, finish: Callable[..., None], t0: float, cpu_mark: float,
) -> Any:
    """In a switching wrapper's ``except`` clause, the token switched off: ``None`` when the user's call raised.

    ``None``: the call is finished with the user's exception, which the
    wrapper re-raises. Otherwise it was ``token.enable()`` that raised, a
    ``ValueError`` from the wrapper's own frame (the hook was taken since the
    backend claimed it): the backend's :meth:`~Backend.switch_failed` gives
    the slot back, and is the token the call runs unswitched with.
    """
    error = sys.exc_info()[1]
    if error.__class__ is ValueError and error.__traceback__.tb_next is None:  # type: ignore[union-attr]
        # (raised in the wrapper's own frame: the user's function is a Python one, its frame would be next)
        return backend.switch_failed(token)
    finish(token, targets, t0, cpu_mark, error)
    return None


def _counted() -> Measurements:
    """This thread's :class:`Measurements`, one more measurement counted in it.

    For a call that a wrapper started without counting it (its backend's
    slot marks it: ``Backend.slot_marks_measurement``) and that ends the
    usual way of a :class:`Run` (:meth:`Run._conclude`, :meth:`Run.end_call`),
    which counts one off.
    """
    measuring = MEASURING.now
    measuring.depth += 1
    return measuring


@calls_user
def _unswitched(
    probe: Probe, token: Any, targets: Targets, t0: float, cpu_mark: float, func: Callable[..., Any], args: Any,
    kwargs: Any,
) -> Any:
    """A switching wrapper's call whose token is not switched (skipped, nested, refused): the call, then its end.

    A call with scoped reporters goes the usual way from its start (:func:`_call_by_backend`).
    """
    if token is _SCOPED:
        return _call_by_backend(probe, func, args, kwargs)
    measuring = MEASURING.now
    measuring.depth += 1  # (Run.start counts every measurement, measured or not; _conclude ends it)
    run = _call_run(probe, targets, None, t0, probe.cpu, cpu_mark, measuring, token)
    try:
        result = func(*args, **kwargs)
    except:  # any exception, as in the wrapper
        run.end_call(RAISED)
        raise
    run.end_call(None)
    return result


def _inline_backend_function(func: Callable[..., Any], probe: Probe) -> Callable[..., Any]:
    """:func:`_backend_function` for a backend with ``inline_run``: no ``Run`` for the usual call.

    What :meth:`Run.start` and
    :meth:`Run.end_call` do is done here on locals (no ``Run`` is made for a
    call that returns and makes its record, or adds to its aggregate; -3,400
    instructions a ``lineprofile`` call on 3.11, -5,800 on 3.12, and for an
    aggregate's call -4,900 and -7,300; but +15,000 a ``profileit``
    call on 3.12, where cProfile instruments the bigger wrapper on the stack
    when it is switched on: hence ``Backend.inline_run``); a call that raises, is
    skipped or has scoped reporters gets its ``Run`` from
    :func:`_call_run` and goes the usual way. The probe's fixed fields are
    read once, here, into cells, and ``enabled=``/``every=`` are a layer of
    their own (:func:`_gated`), as in :func:`_switching_function` (-17
    bytecode instructions a call; -400 to -750 machine instructions on 3.11,
    -300 on 3.12).
    """
    backend: Backend = probe.backend  # type: ignore[assignment]
    state, begin, make_call, end, record_type = STATE, backend.begin, backend.call, backend.end, backend.record_type
    # (what a bound probe keeps from its decoration on: read once, here)
    tool, name, qualname, module, budget, aggregate, cpu, own = (
        probe.tool, probe.name, probe.qualname, probe.module, probe.budget, probe.aggregate, probe.cpu,
        probe.reporters,
    )
    counts, holding = not backend.slot_marks_measurement, settings.HOLDING

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not state.enabled:
            return func(*args, **kwargs)
        # Run.start(False) and Run.end_call(None) inline, on locals: a Run is made only when
        # the call raises or the usual case does not hold (two frames and an object less per call).
        targets = own if own is not None else (state.default_reporters or default_reporters())
        closers = open_scopes(targets.openers, probe) if targets.openers else None
        t0 = _perf()
        cpu_mark = _thread_time() if cpu else 0.0
        if counts:  # warnings wait until the measurement ends (warn_once); else the backend's slot says it runs
            measuring = MEASURING.now
            measuring.depth += 1
        else:
            measuring = None
        try:
            token = begin()
        except BaseException:  # a broken backend: do not hold this thread's warnings forever
            if counts:
                _leave()
            raise
        try:
            result = make_call(token, func, args, kwargs)
        except:  # any exception (fewer instructions than ``except BaseException as exc``: see above)
            _call_run(probe, targets, closers, t0, cpu, cpu_mark, measuring or _counted(), token).end_call(RAISED)
            raise
        if token.__class__ in NOT_MEASURED:
            outcome = token
        else:
            try:
                outcome = end(token, None)
            except BaseException:  # a broken backend: do not hold this thread's warnings forever
                if counts:
                    _leave()
                raise
        cpu_used = _thread_time() - cpu_mark if cpu else None
        wall = _perf() - t0
        if outcome.__class__ in NOT_MEASURED or closers is not None:
            run = _call_run(probe, targets, closers, t0, cpu, cpu_mark, measuring or _counted(), token)
            run._conclude(outcome, None, wall, cpu_used)
            return result
        if measuring is not None:
            depth = measuring.depth = measuring.depth - 1  # (_leave, inline)
            if not depth and measuring.held:
                settings.issue_held()
        elif holding:
            settings.issue_held()
        if aggregate is not None:  # (what _conclude does for a measured call of an aggregate)
            aggregate.add(t0, wall, cpu_used, outcome)
            return result
        record = _new_record(record_type, (
            tool, name, qualname, module, EPOCH_ANCHOR + t0, wall, cpu_used, state.pid, _get_ident(), None, outcome,
            None, budget,
        ))
        single = targets.single
        if single is not None:
            try:
                single(record)
            except Exception as exc:  # noqa: BLE001 - reporters never raise into user code
                reporter_failed(single, exc)
        else:
            deliver(record, targets)
        return result

    # (not a user caller: the built-ins it calls itself are profiletools', see frames.USER_CALLERS)
    return wrapper if probe.gate is None else _gated(wrapper, func, probe.gate)


def _call_run(
    probe: Probe, targets: Targets, closers: list[Closer] | None, t0: float, cpu: bool, cpu_mark: float, measuring: Any,
    token: Any,
) -> Run:
    """The :class:`Run` a backend-call wrapper started on its locals (as ``Run.start(False)`` would have made it)."""
    run: Run = object.__new__(Run)
    run.probe = probe
    run.backend = probe.backend
    run.stepwise = False
    run.targets = targets
    run.closers = closers
    run.t0 = t0
    run.cpu_used = 0.0 if cpu else None
    run.cpu_mark = cpu_mark
    run.measuring = measuring
    run.token = token
    return run


def measured_call(probe: Probe) -> Callable[[Probe, Callable[..., Any], Any, Any], Any]:
    """How a synchronous call under ``probe`` is made: by the machinery, or by a backend with ``call``."""
    return _call_by_backend if makes_calls(probe.backend) else _call_measured


@calls_user
def _call_measured(probe: Probe, func: Callable[..., Any], args: Any, kwargs: Any) -> Any:
    """One synchronous call under the probe's backend."""
    run = Run(probe)
    run.start(False)  # (not in a helper: on 3.12 each frame on the stack when cProfile starts costs)
    try:
        result = func(*args, **kwargs)
    except BaseException as exc:
        run.finish(exc)
        raise
    run.finish(None)
    return result


@calls_user
def _call_by_backend(probe: Probe, func: Callable[..., Any], args: Any, kwargs: Any) -> Any:
    """One synchronous call made by the backend (``Backend.call``), between its ``begin`` and ``end``."""
    run = Run(probe)
    run.start(False)
    try:
        result = run.backend.call(run.token, func, args, kwargs)  # type: ignore[union-attr]
    except BaseException as exc:
        run.end_call(exc)
        raise
    run.end_call(None)
    return result


# -- building probes from user arguments -----------------------------------------------


def make_probe(
    tool: str,
    factory: Callable[[Callable[..., Any] | None, Probe], Backend] | None,
    *,
    name: object = None,
    reporters: object = None,
    enabled: object = True,
    every: object = 1,
    cpu: object = True,
    budget: object = None,
    budget_p95: object = None,
    aggregate: object = False,
    budget_calls: object = None,
    budget_total_calls: object = None,
    kind: type[Probe] | None = None,
) -> Probe:
    """Validate the options every tool shares and build a probe.

    ``aggregate=True`` (for tools whose backend can ``merge``) folds the calls
    into one record per flush (see :mod:`profiletools.core.aggregation`).
    ``kind``: the probe class, a :class:`Probe` subclass of a tool that
    decorates more kinds of objects (``lineprofile``: properties).

    Raises ``TypeError``/``ValueError`` naming the argument and what is allowed.
    """
    if name is not None and type(name) is not str:
        raise TypeError(f"{tool}(): name= must be a string; got {type(name).__name__}")
    if enabled is not True and enabled is not False and not callable(enabled):
        raise TypeError(
            f"{tool}(): enabled= must be True, False or a zero-argument callable; got {enabled!r:.60}"
        )
    if every != 1 or type(every) is not int:
        if type(every) is not int:
            raise TypeError(f"{tool}(): every= must be a whole number >= 1; got {type(every).__name__}")
        if every < 1:
            raise ValueError(f"{tool}(): every= must be a whole number >= 1; got {every}")
    if cpu is not True and cpu is not False:
        raise TypeError(f"{tool}(): cpu= must be True or False; got {cpu!r:.60}")
    if aggregate is not True and aggregate is not False:
        raise TypeError(f"{tool}(): aggregate= must be True or False; got {aggregate!r:.60}")
    own = reporters if reporters is None else check_reporters(reporters)
    if factory is not None:
        load_declarations()  # now: imported inside another tool's measurement, they would be in its profile
    probe = (kind or (Probe if factory is not None else fastpath.TimingProbe))(
        tool, factory, name, own, enabled, every, cpu,  # type: ignore[arg-type]
    )
    if aggregate:
        probe.aggregating = True
    if budget is not None or budget_p95 is not None or budget_calls is not None or budget_total_calls is not None:
        from profiletools.core.budgets import make_budget

        probe.budget = make_budget(budget, budget_p95, tool, calls=budget_calls, total_calls=budget_total_calls)
    return probe


def split_target(tool: str, target: object, name: object) -> tuple[Callable[..., Any] | None, object]:
    """Interpret a tool's first positional argument: a callable to decorate or a name."""
    if target is None:
        return None, name
    if isinstance(target, str):
        if name is not None:
            raise TypeError(f"{tool}(): the name is given twice (positionally and as name=)")
        return None, target
    if callable(target) or isinstance(target, (classmethod, staticmethod)):
        return target, name  # type: ignore[return-value]
    raise TypeError(
        f"{tool}(): the first argument is a name (str) or the function to decorate; "
        f"got {type(target).__name__} {target!r:.60}"
    )


# The fast path subclasses Probe: imported once Probe exists (and used only at call time above).
from profiletools.core import fastpath  # noqa: E402
