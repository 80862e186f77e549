"""The fast path: the only code that builds a record without the general machinery.

A plain function decorated with a tool that has no backend (``timed``) gets
one of these two closures: everything the general path
(:class:`profiletools.core.machinery.Run`, :meth:`Probe.emit
<profiletools.core.machinery.Probe.emit>` and
:func:`profiletools.core.records.make_record`) does, inlined, with the
probe's settings bound as locals. They must stay in agreement with the general path
field for field; ``tests/test_fastpath.py`` checks that they do. A call that
raises takes the general :meth:`Probe.emit`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from profiletools.core.delivery import close_scopes, default_reporters, open_scopes, reporter_failed
from profiletools.core.records import EPOCH_ANCHOR, TimingRecord
from profiletools.core.settings import STATE

if TYPE_CHECKING:
    from profiletools.core.machinery import Probe

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
