"""The fast path of ``timed``: the only code that builds a record without the general machinery.

Timing alone is cheap enough that the general path's calls would double its
cost, so the two hottest uses of a tool without a backend (``timed``) have
everything the general path (:class:`profiletools.core.machinery.Run`,
:func:`profiletools.core.records.make_record`, :func:`profiletools.core.delivery.deliver`)
does inlined here:

* a plain decorated function gets one of two closures, with the probe's
  settings bound as locals (a call that raises takes the general
  :meth:`Probe.emit <profiletools.core.machinery.Probe.emit>`);
* a ``with`` block on a :class:`TimingProbe`'s own slot keeps its clocks and
  reporters in a tuple on the probe (a block entered while that slot is busy,
  in another thread or task, takes the general :class:`Run`).

They must stay in agreement with the general path field for field;
``tests/test_fastpath.py`` checks that they do.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from profiletools.core.delivery import close_scopes, default_reporters, open_scopes, reporter_failed
from profiletools.core.frames import user_frame
from profiletools.core.machinery import Probe, Run
from profiletools.core.records import EPOCH_ANCHOR, TimingRecord
from profiletools.core.settings import STATE

_perf = time.perf_counter
_thread_time = time.thread_time
_get_ident = threading.get_ident
_new_record = tuple.__new__


def timed_function(func: Callable[..., Any], probe: Probe) -> Callable[..., Any]:
    state, gate, perf, new, ident = STATE, probe.gate, _perf, _new_record, _get_ident
    own, anchor, tool, name, qualname, module, budget = (
        probe.reporters, EPOCH_ANCHOR, probe.tool, probe.name, probe.qualname, probe.module, probe.budget,
    )

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not state.enabled or (gate is not None and not gate()):
            return func(*args, **kwargs)
        targets = own if own is not None else state.default_reporters
        if targets is None:
            targets = default_reporters()
        closers = open_scopes(targets.openers, probe) if targets.openers else None
        t0 = perf()
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            t1 = perf()
            probe.emit(t0, t1 - t0, None, exc, targets=targets, closers=closers)
            raise
        t1 = perf()
        record = new(TimingRecord, (
            tool, name, qualname, module, anchor + t0, t1 - t0, None, state.pid, ident(), None, None, None, budget,
        ))
        for report in targets.reports:
            try:
                report(record)
            except Exception as exc:  # noqa: BLE001 - reporters never raise into user code
                reporter_failed(report, exc)
        if closers is not None:
            close_scopes(closers, record)
        return result

    return wrapper


def timed_function_cpu(func: Callable[..., Any], probe: Probe) -> Callable[..., Any]:
    state, gate, perf, cpu_clock, new, ident = STATE, probe.gate, _perf, _thread_time, _new_record, _get_ident
    own, anchor, tool, name, qualname, module, budget = (
        probe.reporters, EPOCH_ANCHOR, probe.tool, probe.name, probe.qualname, probe.module, probe.budget,
    )

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not state.enabled or (gate is not None and not gate()):
            return func(*args, **kwargs)
        targets = own if own is not None else state.default_reporters
        if targets is None:
            targets = default_reporters()
        closers = open_scopes(targets.openers, probe) if targets.openers else None
        t0 = perf()
        c0 = cpu_clock()
        try:
            result = func(*args, **kwargs)
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
        for report in targets.reports:
            try:
                report(record)
            except Exception as exc:  # noqa: BLE001 - reporters never raise into user code
                reporter_failed(report, exc)
        if closers is not None:
            close_scopes(closers, record)
        return result

    return wrapper


class TimingProbe(Probe):
    """A probe without a backend (``timed``): a block on its own slot is timed right here.

    Everything else (decorating, a block entered while the slot is busy) is the
    general :class:`Probe`'s.
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
        own = self.reporters
        targets = own if own is not None else (STATE.default_reporters or default_reporters())
        closers = open_scopes(targets.openers, self) if targets.openers else None
        t0 = _perf()
        self._live = (t0, _thread_time() if self.cpu else None, targets, closers)  # type: ignore[assignment]
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        c1 = _thread_time() if self.cpu else 0.0
        t1 = _perf()
        shared = self._shared
        if shared is not None:
            stack = shared.get(())
            if stack:
                shared.set(stack[:-1])
                stack[-1].finish(exc, t1, c1)
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
        for report in targets.reports:
            try:
                report(record)
            except Exception as error:  # noqa: BLE001 - reporters never raise into user code
                reporter_failed(report, error)
        if closers is not None:
            close_scopes(closers, record)
