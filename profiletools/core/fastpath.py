"""The fast path of ``timed``: the only code that builds a record without the general machinery.

Timing alone is cheap enough that the general path's calls would double its
cost, so the two hottest uses of a tool without a backend (``timed``) have
everything the general path (:class:`profiletools.core.machinery.Run`,
:func:`profiletools.core.records.make_record`, :func:`profiletools.core.delivery.deliver`)
does inlined here:

* a plain decorated function gets one of two closures (wall clock, or both
  clocks), with the probe's settings bound as locals (a call that raises
  takes the general :meth:`Probe.emit <profiletools.core.machinery.Probe.emit>`);
  for a probe with no gate and one report function (the default reporters
  coming down to one, or one plain reporter of its own), that closure first
  reads ``lone`` from ``STATE`` or from the probe's
  :class:`~profiletools.core.settings.OwnReport` (both kept by
  :mod:`profiletools.core.settings`): while measuring is on, it is that
  function, and the call is timed and handed to it with no other check
  (with no reporters at all, that function is ``delivery.discard``);
* ``with timed("name"):`` gets a :class:`TimedCpuBlock` (with ``cpu=False``, a
  :class:`TimedBlock`), a slotted handle made without argument parsing that
  times its block on its own slot;
* a ``with`` block on a :class:`TimingProbe`'s own slot (``timed`` with other
  options) keeps its clocks and reporters in a tuple on the probe.

A block entered while its slot is busy (in another thread or task, or
re-entered) takes the general :class:`Run`.

A call without keyword arguments is made as ``func(*args)``: ``func(*args, **kwargs)``
builds a new dict for the callee on every call, even an empty one (15-20 ns
a call on 3.11, 30 on 3.12, a twentieth of ``@timed(cpu=False)``'s whole cost).

They must stay in agreement with the general path field for field;
``tests/test_fastpath.py`` checks that they do.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from profiletools.core.delivery import (
    Closer,
    Targets,
    default_reporters,
    deliver,
    one_target,
    open_scopes,
    reporter_failed,
)
from profiletools.core.frames import user_frame
from profiletools.core.machinery import F, Probe, Run, _Handle
from profiletools.core.records import EPOCH_ANCHOR, Record, TimingRecord
from profiletools.core.settings import STATE, OwnReport

_perf = time.perf_counter
_thread_time = time.thread_time
_get_ident = threading.get_ident
_new_record = tuple.__new__


def timed_function(func: Callable[..., Any], probe: Probe) -> Callable[..., Any]:
    """The wrapper of ``@timed(cpu=False)``: the one :func:`_fast_function` chooses."""
    return _fast_function(func, probe, _timed_function(func, probe), cpu=False)


def timed_function_cpu(func: Callable[..., Any], probe: Probe) -> Callable[..., Any]:
    """The wrapper of ``@timed``: the one :func:`_fast_function` chooses."""
    return _fast_function(func, probe, _timed_function_cpu(func, probe), cpu=True)


def _fast_function(
    func: Callable[..., Any], probe: Probe, general: Callable[..., Any], *, cpu: bool,
) -> Callable[..., Any]:
    """The fastest wrapper the probe's options allow: ``general`` for a gate, several reporters or a scoped one.

    A probe with one report function of its own (``Targets.single``: one plain reporter, or
    :func:`~profiletools.core.delivery.discard` for ``reporters=[]``) reads an :class:`OwnReport` where
    one reporting to the defaults reads ``STATE``.
    """
    own = probe.reporters
    if probe.gate is not None:
        return general
    if own is None:
        return _lone_function(func, probe, general, STATE, cpu=cpu)
    if own.single is not None:
        return _lone_function(func, probe, general, OwnReport(own.single), cpu=cpu)
    return general


def _lone_function(
    func: Callable[..., Any], probe: Probe, general: Callable[..., Any], source: Any, *, cpu: bool,
) -> Callable[..., Any]:
    """For a probe with no gate and one report function: while ``source.lone`` is that function (``STATE``:
    the default reporters come down to one; an :class:`OwnReport`: the probe's own), a call is timed and its
    record handed to it after that one read; otherwise the call takes ``general`` (or runs unmeasured while
    measuring is off).

    Every wrapper made here runs one code object: its values are the closure's cells, what all share are
    globals of this module (on 3.11 a call copies each cell into its frame). (Constants put in a
    copy of the code for each function saved 130 machine instructions a call on 3.11, but cProfile keeps
    one entry per code object and pstats one per file, line and name, so the wrappers' entries overwrote
    each other; and the copy raised audit events at decoration and made ``name=`` immortal on 3.12.)
    """
    tool, name, qualname, module, budget = probe.tool, probe.name, probe.qualname, probe.module, probe.budget
    if cpu:

        def timed_cpu(*args: Any, **kwargs: Any) -> Any:
            single = source.lone
            if single is None:
                if STATE.enabled:
                    return general(*args, **kwargs)
                return func(*args, **kwargs) if kwargs else func(*args)
            t0 = _perf()
            c0 = _thread_time()
            try:
                result = func(*args, **kwargs) if kwargs else func(*args)
            except BaseException as exc:
                c1 = _thread_time()
                t1 = _perf()
                probe.emit(t0, t1 - t0, c1 - c0, exc)
                raise
            c1 = _thread_time()
            t1 = _perf()
            record = _new_record(TimingRecord, (
                tool, name, qualname, module, EPOCH_ANCHOR + t0, t1 - t0, c1 - c0, STATE.pid, _get_ident(), None,
                None, None, budget,
            ))
            try:
                single(record)
            except Exception as exc:  # noqa: BLE001 - reporters never raise into user code
                reporter_failed(single, exc)
            return result

        return timed_cpu

    def timed_wall(*args: Any, **kwargs: Any) -> Any:
        single = source.lone
        if single is None:
            if STATE.enabled:
                return general(*args, **kwargs)
            return func(*args, **kwargs) if kwargs else func(*args)
        t0 = _perf()
        try:
            result = func(*args, **kwargs) if kwargs else func(*args)
        except BaseException as exc:
            t1 = _perf()
            probe.emit(t0, t1 - t0, None, exc)
            raise
        t1 = _perf()
        record = _new_record(TimingRecord, (
            tool, name, qualname, module, EPOCH_ANCHOR + t0, t1 - t0, None, STATE.pid, _get_ident(), None, None, None,
            budget,
        ))
        try:
            single(record)
        except Exception as exc:  # noqa: BLE001 - reporters never raise into user code
            reporter_failed(single, exc)
        return result

    return timed_wall


def _timed_function(func: Callable[..., Any], probe: Probe) -> Callable[..., Any]:
    state, gate, perf, new, ident = STATE, probe.gate, _perf, _new_record, _get_ident
    own, anchor, tool, name, qualname, module, budget = (
        probe.reporters, EPOCH_ANCHOR, probe.tool, probe.name, probe.qualname, probe.module, probe.budget,
    )

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not state.enabled or (gate is not None and not gate()):
            return func(*args, **kwargs) if kwargs else func(*args)
        targets = own if own is not None else state.default_reporters
        if targets is None:
            targets = default_reporters()
        closers = open_scopes(targets.openers, probe) if targets.openers else None
        t0 = perf()
        try:
            result = func(*args, **kwargs) if kwargs else func(*args)
        except BaseException as exc:
            t1 = perf()
            probe.emit(t0, t1 - t0, None, exc, targets=targets, closers=closers)
            raise
        t1 = perf()
        record = new(TimingRecord, (
            tool, name, qualname, module, anchor + t0, t1 - t0, None, state.pid, ident(), None, None, None, budget,
        ))
        single = targets.single
        if single is not None:
            try:
                single(record)
            except Exception as exc:  # noqa: BLE001 - reporters never raise into user code
                reporter_failed(single, exc)
        else:
            deliver(record, targets, closers)
        return result

    return wrapper


def _timed_function_cpu(func: Callable[..., Any], probe: Probe) -> Callable[..., Any]:
    state, gate, perf, cpu_clock, new, ident = STATE, probe.gate, _perf, _thread_time, _new_record, _get_ident
    own, anchor, tool, name, qualname, module, budget = (
        probe.reporters, EPOCH_ANCHOR, probe.tool, probe.name, probe.qualname, probe.module, probe.budget,
    )

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not state.enabled or (gate is not None and not gate()):
            return func(*args, **kwargs) if kwargs else func(*args)
        targets = own if own is not None else state.default_reporters
        if targets is None:
            targets = default_reporters()
        closers = open_scopes(targets.openers, probe) if targets.openers else None
        t0 = perf()
        c0 = cpu_clock()
        try:
            result = func(*args, **kwargs) if kwargs else func(*args)
        except BaseException as exc:
            c1 = cpu_clock()
            t1 = perf()
            probe.emit(t0, t1 - t0, c1 - c0, exc, targets=targets, closers=closers)
            raise
        c1 = cpu_clock()
        t1 = perf()
        record = new(TimingRecord, (
            tool, name, qualname, module, anchor + t0, t1 - t0, c1 - c0, state.pid, ident(), None, None, None, budget,
        ))
        single = targets.single
        if single is not None:
            try:
                single(record)
            except Exception as exc:  # noqa: BLE001 - reporters never raise into user code
                reporter_failed(single, exc)
        else:
            deliver(record, targets, closers)
        return result

    return wrapper


class TimingProbe(Probe):
    """A probe without a backend (``timed``): a block on its own slot is timed right here.

    Everything else (decorating, a block entered while the slot is busy) is the
    general :class:`Probe`'s. ``with timed("name"):`` with no other option than
    ``cpu=`` and ``reporters=`` gets the lighter :class:`TimedBlock` instead.
    """

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
        # (a Targets is never empty: three tuples)
        targets = self.reporters or STATE.default_reporters or default_reporters()
        if targets.openers:
            closers = open_scopes(targets.openers, self)
            self._live = (_perf(), _thread_time() if self.cpu else None, targets, closers)  # type: ignore[assignment]
        elif self.cpu:
            self._live = (_perf(), _thread_time(), targets, None)  # type: ignore[assignment]
        else:
            self._live = (_perf(), None, targets, None)  # type: ignore[assignment]
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        c1 = _thread_time() if self.cpu else 0.0
        t1 = _perf()
        if self._shared is not None and self._exit_shared(exc, t1, c1):
            return
        live: Any = self._live
        self._free.append(True)
        if live is None:
            return
        t0, c0, targets, closers = live
        record = self.record = _new_record(TimingRecord, (
            self.tool, self.name, self.qualname, self.module, EPOCH_ANCHOR + t0, t1 - t0,
            None if c0 is None else c1 - c0, STATE.pid, _get_ident(),
            None if exc is None else type(exc).__qualname__, None, None, self.budget,
        ))
        single = targets.single
        if single is not None:
            try:
                single(record)
            except Exception as error:  # noqa: BLE001 - reporters never raise into user code
                reporter_failed(single, error)
        else:
            deliver(record, targets, closers)


_general_lock = threading.Lock()

#: A block's ``_reporters`` when ``timed()`` was given one plain reporter: its report function is the block's
#: ``_report``, and no :class:`Targets` is made (1,500 machine instructions a block on 3.12, a tenth of what
#: such a block cost over a bare ``with``). Never delivered to: the blocks call ``_report``.
OWN_REPORT: Targets = Targets()
OWN_REPORT.single = None  # (what sends a block's __exit__ to its ``_report``)


class TimedBlock(_Handle):
    """The handle of ``with timed("name", cpu=False):`` (every option at its default but ``reporters=``).

    A slotted object built without argument parsing, whose block on its own
    slot is timed right here: a ``with`` block costs what it times, and a
    probe with twenty settings would cost more than the block's measurement.
    After the block, ``record`` holds its record and ``elapsed`` its wall
    seconds. Everything else a probe does goes to an equivalent
    :class:`TimingProbe`, made on first need: decorating (``@timed("name")``),
    and a block entered while the own slot is busy (the same handle used in
    another thread or task, or re-entered), which gets its own :class:`Run`.
    With the CPU clock (``timed("name")``), the handle is a :class:`TimedCpuBlock`.
    """

    __slots__ = ("_busy", "_closers", "_general", "_live", "_report", "_reporters", "_t0", "name", "record")
    # Made by ``timed()``, which calls the class (``object``'s ``__init__``: 120 ns on 3.12, where
    # ``object.__new__(TimedBlock)`` takes 190 and an ``__init__`` of ours more than the stores it would make)
    # and sets name, _reporters (``Targets``, ``None``, or :data:`OWN_REPORT` with ``_report``),
    # record = _general = None, _busy = False.

    name: str
    _reporters: Targets | None
    record: Record | None
    _general: TimingProbe | None
    _busy: bool
    _live: Targets | None
    _report: Callable[[Any], object]
    _closers: list[Closer]
    _t0: float

    tool = "timed"
    module = None
    budget = None
    #: Whether the block reads the thread's CPU clock (the class says: one test less on each block).
    cpu = False

    @property
    def qualname(self) -> str:
        """The block's name (a block has no function to name it after)."""
        return self.name

    def __enter__(self) -> TimedBlock | Run:
        # Claim the own slot. One line without a call or a jump: with the GIL, no other thread, signal handler
        # or line tracer runs between the read and the write (they run only at calls, jumps and new lines),
        # so two threads never both see the slot free. (A list popped and appended, as probes claim theirs,
        # cost 860 machine instructions more per block on 3.12. A free-threaded build, which has no GIL,
        # would need a lock here.)
        busy, self._busy = self._busy, True
        if busy:
            return self.probe()._enter_shared()
        if not STATE.enabled:
            self._live = self.record = None
            return self
        # (a Targets object is always true)
        targets = self._live = self._reporters or STATE.default_reporters or default_reporters()
        if targets.openers:
            self._closers = open_scopes(targets.openers, self)
        self._t0 = _perf()
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        t1 = _perf()
        general = self._general
        if general is not None and general._shared is not None and general._exit_shared(exc, t1, 0.0):
            return
        targets = self._live
        if targets is None:
            self._busy = False
            return
        t0 = self._t0
        name = self.name
        try:  # the slot stays claimed until its values are read and delivered
            record = self.record = _new_record(TimingRecord, (
                "timed", name, name, None, EPOCH_ANCHOR + t0, t1 - t0, None, STATE.pid, _get_ident(),
                None if exc is None else type(exc).__qualname__, None, None, None,
            ))
            single = targets.single
            if single is None and targets is OWN_REPORT:
                single = self._report
            if single is not None:
                try:
                    single(record)
                except Exception as error:  # noqa: BLE001 - reporters never raise into user code
                    reporter_failed(single, error)
            else:
                deliver(record, targets, self._closers if targets.openers else None)
        finally:
            self._busy = False

    async def __aenter__(self) -> TimedBlock | Run:
        return self.__enter__()

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self.__exit__(exc_type, exc, tb)

    def probe(self) -> TimingProbe:
        """The general probe of the same settings (made once): what decorates, and what times a busy block."""
        general = self._general
        if general is None:
            with _general_lock:  # one for all threads: a busy block's entry and exit must meet the same probe
                general = self._general
                if general is None:
                    general = self._general = TimingProbe("timed", None, self.name, self.reporters, True, 1, self.cpu)
        return general

    def __call__(self, func: F) -> F:
        """Decorate ``func`` (``@timed("name")``), as the general probe does."""
        return self.probe()(func)

    def measuring(self) -> bool:
        """Whether the next block is measured (``profiletools.disable()`` switches it off)."""
        return STATE.enabled

    def current_reporters(self) -> Targets:
        """The reporters this block delivers to now (its own, else the defaults)."""
        return self.reporters or STATE.default_reporters or default_reporters()

    @property
    def reporters(self) -> Targets | None:
        """The block's own reporters (``reporters=``), or ``None`` (made when asked for one plain reporter)."""
        reporters = self._reporters
        return one_target(self._report) if reporters is OWN_REPORT else reporters

    def flush(self) -> None:
        """Nothing to flush: a block never aggregates."""

    def __repr__(self) -> str:
        return f"<profiletools timed probe {self.name!r}>"


class TimedCpuBlock(TimedBlock):
    """The handle of ``with timed("name"):``: a :class:`TimedBlock` that also reads the thread's CPU clock.

    Its own ``__enter__`` and ``__exit__`` repeat the wall-clock block's with
    the CPU clock added, rather than testing an option on every block (a test
    and a branch at each of three places cost 450 machine instructions a block
    on 3.12, a third of what ``codetiming``'s whole block costs above a bare
    ``with``). ``tests/test_fastpath.py`` holds both to the general path.
    """

    __slots__ = ("_c0",)
    _c0: float
    cpu = True

    def __enter__(self) -> TimedBlock | Run:
        busy, self._busy = self._busy, True  # (see TimedBlock.__enter__)
        if busy:
            return self.probe()._enter_shared()
        if not STATE.enabled:
            self._live = self.record = None
            return self
        targets = self._live = self._reporters or STATE.default_reporters or default_reporters()
        if targets.openers:
            self._closers = open_scopes(targets.openers, self)
        self._c0 = _thread_time()
        self._t0 = _perf()
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        c1 = _thread_time()
        t1 = _perf()
        general = self._general
        if general is not None and general._shared is not None and general._exit_shared(exc, t1, c1):
            return
        targets = self._live
        if targets is None:
            self._busy = False
            return
        t0 = self._t0
        name = self.name
        try:
            record = self.record = _new_record(TimingRecord, (
                "timed", name, name, None, EPOCH_ANCHOR + t0, t1 - t0, c1 - self._c0, STATE.pid, _get_ident(),
                None if exc is None else type(exc).__qualname__, None, None, None,
            ))
            single = targets.single
            if single is None and targets is OWN_REPORT:
                single = self._report
            if single is not None:
                try:
                    single(record)
                except Exception as error:  # noqa: BLE001 - reporters never raise into user code
                    reporter_failed(single, error)
            else:
                deliver(record, targets, self._closers if targets.openers else None)
        finally:
            self._busy = False
