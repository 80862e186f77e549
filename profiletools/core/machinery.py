"""The wrapper machinery: the one place that turns a measurement into a tool.

A *tool* (``timed``, ``profileit``, ...) is a :class:`Probe`: a decorator and a
context manager in one object. The probe measures wall and CPU time itself; a
tool that measures more supplies a :class:`Backend` whose ``begin``/``end`` run
right around the user's code. The machinery owns everything else: the kinds
of callable (plain, coroutine, generator, async generator, methods, class and
static methods, other callables), the on/off switches, sampling (``every=``),
recursion and concurrency (per-call state lives in locals and context
variables, never on the decorator), and delivery of the record to reporters
with failure isolation.

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
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from profiletools.core import config as _config  # noqa: F401 - installs the default reporters
from profiletools.core import fastpath
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
from profiletools.core.records import EPOCH_ANCHOR, Record, TimingRecord
from profiletools.core.settings import STATE

if TYPE_CHECKING:
    from profiletools.core.budgets import Budget

F = TypeVar("F", bound=Callable[..., Any])

_perf = time.perf_counter
_thread_time = time.thread_time
_get_ident = threading.get_ident
_new_record = tuple.__new__
_new_object = object.__new__

#: Returned by :meth:`Backend.begin` when this call must yield no record of its own
#: (for example a nested call already inside an outer profile of the same kind).
SUPPRESS: Any = object()


class Backend:
    """One tool's measurement beyond wall and CPU time.

    A tool module subclasses this and passes a factory to :func:`make_probe`;
    the machinery creates one backend per decorated function (or per block
    probe) with the target callable (``None`` for blocks) and the probe.
    ``begin`` runs immediately before the user's code and ``end`` immediately
    after it, on the same thread, with nothing of profiletools in between.
    Generators and coroutines call ``pause``/``resume`` around each suspension.
    """

    tool: ClassVar[str] = "measure"
    record_type: ClassVar[type[Record]] = Record

    def __init__(self, target: Callable[..., Any] | None, probe: Probe) -> None:
        self.target = target
        self.probe = probe

    def begin(self) -> Any:
        """Start measuring one call; return a token for ``end`` (or ``SUPPRESS``)."""
        return None

    def pause(self, token: Any) -> None:
        """The measured generator or coroutine is suspended: stop attributing to it."""

    def resume(self, token: Any) -> None:
        """The measured generator or coroutine runs again."""

    def end(self, token: Any, error: BaseException | None) -> tuple[Any, str | None] | None:
        """Stop measuring; return ``(payload, skipped_reason)``, or ``None`` for no record."""
        return None, None


class _Run:
    """The state of one measured call, kept outside the probe (recursion, threads)."""

    __slots__ = (
        "backend", "closers", "cpu_mark", "cpu_used", "pausers", "probe", "stepwise", "t0", "targets", "token",
    )

    def __init__(self, probe: Probe) -> None:
        self.probe = probe
        self.backend = probe.backend

    def start(self, stepwise: bool) -> None:
        """Open scoped reporters, read the clocks, begin the backend (last, right before user code)."""
        self.stepwise = stepwise
        targets = self.targets = self.probe.current_reporters()
        self.closers = open_scopes(targets.openers, self.probe) if targets.openers else None
        # scopes that must step aside while a generator or coroutine is suspended (tracing context)
        self.pausers = [scope for scope in self.closers if hasattr(scope, "pause")] if self.closers else None
        self.cpu_used: float | None = None
        self.t0 = _perf()
        if self.probe.cpu:
            self.cpu_used = 0.0
            if not stepwise:
                self.cpu_mark = _thread_time()
        backend = self.backend
        self.token = backend.begin() if backend is not None else None

    def resume(self) -> None:
        """Account CPU and backend time to the call again (generators, coroutines)."""
        if self.pausers:
            step_scopes(self.pausers, "resume")
        if self.backend is not None:
            self.backend.resume(self.token)
        if self.cpu_used is not None:
            self.cpu_mark = _thread_time()

    def pause(self) -> None:
        """Stop accounting CPU and backend time while the call is suspended."""
        if self.cpu_used is not None:
            self.cpu_used += _thread_time() - self.cpu_mark
        if self.backend is not None:
            self.backend.pause(self.token)
        if self.pausers:
            step_scopes(self.pausers, "pause")

    def finish(self, error: BaseException | None) -> Record | None:
        """End the backend first, then read the clocks, then build and deliver the record."""
        token = self.token
        if token is SUPPRESS:
            if self.closers:
                close_scopes(self.closers, None)
            return None
        outcome = self.backend.end(token, error) if self.backend is not None else (None, None)
        cpu = self.cpu_used
        if cpu is not None and not self.stepwise:
            cpu = _thread_time() - self.cpu_mark
        t1 = _perf()
        if outcome is None:
            if self.closers:
                close_scopes(self.closers, None)
            return None
        payload, skipped = outcome
        return self.probe.emit(
            self.t0, t1 - self.t0, cpu, error, payload, skipped, targets=self.targets, closers=self.closers,
        )


class Probe:
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
    #: The record of the last block run with this probe (``None`` before).
    record: Record | None = None
    #: The block in progress on the probe's own slot: ``None`` (not measured), the
    #: timing state ``(t0, c0, targets, closers)``, or the ``_Run`` of a backend.
    _live: tuple[float, float | None, Targets, list[Closer] | None] | _Run | None = None
    _shared: contextvars.ContextVar[tuple[_Block, ...]] | None = None

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
        """Build the record of one call or block and deliver it to the reporters.

        A backend reporting an aggregate calls this with the figures alone. The
        machinery passes the ``targets`` resolved when the call started and the
        ``closers`` of the scoped reporters opened for it.
        """
        record_type = self.backend.record_type if self.backend is not None else TimingRecord
        record: Record = _new_record(record_type, (
            self.tool, self.name, self.qualname, self.module, EPOCH_ANCHOR + started_perf,
            wall, cpu, STATE.pid, _get_ident(),
            None if error is None else type(error).__qualname__, payload, skipped, self.budget,
        ))
        deliver(record, targets if targets is not None else self.current_reporters(), closers)
        return record

    def measuring(self) -> bool:
        """Whether the next call or block is measured (switches, ``enabled=``, ``every=``)."""
        gate = self.gate
        return STATE.enabled and (gate is None or bool(gate()))

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
            if bound.backend is not None and hasattr(bound.backend, "flush"):
                wrapper.flush = bound.backend.flush  # type: ignore[attr-defined]
            return wrapper  # type: ignore[return-value]
        from profiletools.core.proxies import ProxyWrapper, proxy_call  # wrapt, on first need

        return ProxyWrapper(func, proxy_call(func, bound), bound)  # type: ignore[return-value]

    def _bind(self, func: Callable[..., Any] | None) -> Probe:
        """A probe of the same settings, owned by one target (fresh counters and state)."""
        bound = Probe(self.tool, self.factory, self.name, self.reporters, self.enabled, self.every, self.cpu)
        bound.budget = self.budget
        if func is not None:
            qualname = getattr(func, "__qualname__", None) or getattr(func, "__name__", None) or repr(func)
            bound.qualname = qualname
            bound.module = getattr(func, "__module__", None)
            if bound.name is None:
                bound.name = qualname
        if self.factory is not None:
            bound.backend = self.factory(func, bound)
        return bound

    # -- context manager ----------------------------------------------------

    def __enter__(self) -> Probe | _Block:
        try:
            self._free.pop()
        except IndexError:
            return self._enter_shared()
        if self.name is None:
            self._name_after_caller(sys._getframe(1))
        gate = self.gate
        if not STATE.enabled or (gate is not None and not gate()):
            self._live = self.record = None
            return self
        if self.factory is not None:
            if self.backend is None:
                self.backend = self.factory(None, self)
            run = self._live = _Run(self)
            run.start(False)
            return self
        own = self.reporters
        targets = own if own is not None else (STATE.default_reporters or default_reporters())
        closers = open_scopes(targets.openers, self) if targets.openers else None
        t0 = _perf()
        self._live = (t0, _thread_time() if self.cpu else None, targets, closers)
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if self.factory is None:
            c1 = _thread_time() if self.cpu else 0.0
            t1 = _perf()
        else:  # a backend is still measuring: its run reads the clocks after stopping it
            c1 = t1 = 0.0
        shared = self._shared
        if shared is not None:
            stack = shared.get(())
            if stack:
                shared.set(stack[:-1])
                stack[-1].finish(t1, c1, exc)
                return
        live = self._live
        self._free.append(True)
        if live is None:
            return
        if type(live) is not tuple:
            self.record = live.finish(exc)  # type: ignore[union-attr]
            return
        t0, c0, targets, closers = live
        record = self.record = _new_record(TimingRecord, (
            self.tool, self.name, self.qualname, self.module, EPOCH_ANCHOR + t0, t1 - t0,
            None if c0 is None else c1 - c0, STATE.pid, _get_ident(),
            None if exc is None else type(exc).__qualname__, None, None, self.budget,
        ))
        for report in targets.reports:
            try:
                report(record)
            except Exception as error:  # noqa: BLE001 - reporters never raise into user code
                reporter_failed(report, error)
        if closers is not None:
            close_scopes(closers, record)

    async def __aenter__(self) -> Probe | _Block:
        return self.__enter__()

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self.__exit__(exc_type, exc, tb)

    def _enter_shared(self) -> _Block:
        """Enter a block while this probe's own slot is in use (threads, tasks, recursion)."""
        if self._shared is None:
            with _shared_lock:
                if self._shared is None:
                    self._shared = contextvars.ContextVar(f"profiletools-{id(self)}")
        if self.name is None:
            self._name_after_caller(sys._getframe(2))
        block = _Block(self)
        self._shared.set((*self._shared.get(()), block))
        block.start()
        return block

    def _name_after_caller(self, frame: types.FrameType) -> None:
        code = frame.f_code
        self.name = self.qualname = f"block at {code.co_filename.rsplit('/', 1)[-1]}:{frame.f_lineno}"
        self.module = frame.f_globals.get("__name__")

    @property
    def elapsed(self) -> float | None:
        """Wall seconds of the last block (``None`` before one finished or when not measured)."""
        return None if self.record is None else self.record.wall

    @property
    def stats(self) -> Any:
        """The tool's statistics object of the last block (``pstats.Stats``, ``LineStats``...)."""
        return getattr(self.record, "stats", None)

    def __repr__(self) -> str:
        return f"<profiletools {self.tool} probe {self.name!r}>"


class _Block:
    """The handle of one block entered on a probe whose own slot was busy."""

    __slots__ = ("_c0", "_closers", "_run", "_t0", "_targets", "probe", "record")

    def __init__(self, probe: Probe) -> None:
        self.probe = probe
        self.record: Record | None = None
        self._t0: float | None = None
        self._c0: float | None = None
        self._run: _Run | None = None
        self._targets: Targets | None = None
        self._closers: list[Closer] | None = None

    def start(self) -> None:
        probe = self.probe
        if not probe.measuring():
            return
        if probe.factory is None:
            targets = self._targets = probe.current_reporters()
            if targets.openers:
                self._closers = open_scopes(targets.openers, probe)
            self._t0 = _perf()
            self._c0 = _thread_time() if probe.cpu else None
        else:
            if probe.backend is None:
                probe.backend = probe.factory(None, probe)
            self._run = _Run(probe)
            self._run.start(False)

    def finish(self, t1: float, c1: float, exc: BaseException | None) -> None:
        if self._t0 is not None:
            cpu = None if self._c0 is None else c1 - self._c0
            self.record = self.probe.emit(
                self._t0, t1 - self._t0, cpu, exc, targets=self._targets, closers=self._closers,
            )
        elif self._run is not None:
            self.record = self._run.finish(exc)

    @property
    def elapsed(self) -> float | None:
        """Wall seconds of this block (``None`` until it finished or when not measured)."""
        return None if self.record is None else self.record.wall

    @property
    def stats(self) -> Any:
        """The tool's statistics object of this block."""
        return getattr(self.record, "stats", None)


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
    state, gate = STATE, probe.gate

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not state.enabled or (gate is not None and not gate()):
            return func(*args, **kwargs)
        return _call_measured(probe, func, args, kwargs)

    return wrapper


def _call_measured(probe: Probe, func: Callable[..., Any], args: Any, kwargs: Any) -> Any:
    """One synchronous call under the probe's backend."""
    run = _Run(probe)
    run.start(False)
    try:
        result = func(*args, **kwargs)
    except BaseException as exc:
        run.finish(exc)
        raise
    run.finish(None)
    return result


# -- building probes from user arguments -----------------------------------------------


def quick_probe(tool: str, name: str, cpu: bool) -> Probe:
    """A probe with every option at its default but ``name`` and ``cpu`` (already valid).

    The ``with timed("name"):`` path: it skips argument parsing, which would
    otherwise cost more than the measurement itself.
    """
    probe: Probe = _new_object(Probe)
    probe.tool = tool
    probe.name = probe.qualname = name
    probe.cpu = cpu
    probe._free = [True]
    return probe


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
    budget_calls: object = None,
    budget_total_calls: object = None,
) -> Probe:
    """Validate the options every tool shares and build a probe.

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
    own = reporters if reporters is None else check_reporters(reporters)
    probe = Probe(tool, factory, name, own, enabled, every, cpu)  # type: ignore[arg-type]
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
