"""Delivery: from a finished record to the reporters, without ever raising into user code.

Everything a record meets on its way out lives here: resolving ``reporters=``
into :class:`Targets`, the default reporters, delivering a record with failure
isolation, the scopes of scoped reporters (``open(probe)`` → closer, with
optional ``pause``/``resume``), flush hooks and the locks reset in forked
children. Reporters depend on this module and on :mod:`profiletools.core.records`
only; the machinery hands records here and knows nothing of reporters.

>>> seen = []
>>> targets = check_reporters([seen.append])
>>> deliver("a record", targets)
>>> seen
['a record']
"""

from __future__ import annotations

import atexit
import os
import threading
import types
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from profiletools.core.settings import STATE, warn_once

#: What is called with each record: a reporter's ``report`` method, or a plain callable.
ReportFn = Callable[[Any], object]
#: A scoped reporter's ``open(probe)``: called as a measured call starts; returns the closer.
OpenFn = Callable[[Any], Callable[[Any], object]]
#: What ``open`` returned: called with the call's record (or ``None``) when the call ends.
Closer = Callable[[Any], object]


class Targets:
    """Resolved reporters, split by how they are called.

    ``reports`` get each record. ``openers`` belong to scoped reporters (those
    with ``open(probe)``): opened as a measured call starts and closed with its
    record; their ``report`` methods, in ``scoped_reports``, only get records
    made outside a call (such as aggregates reported on flush).

    ``single`` is the one report function when there is nothing else to call
    (one plain reporter, no scoped one; :func:`discard` when there are none at
    all), else ``None``: the paths that build a record call it directly and
    hand anything else to :func:`deliver`. The loop over a one-reporter tuple
    cost 540 machine instructions a record on 3.12, as much as the block's two
    clock reads; and with ``configure(reporters=[])`` a decorated function
    would take the general wrapper (1.56 × codetiming's decorator on 3.11,
    where one reporter reads 0.97).

    A slotted class rather than a named tuple: every measured call reads two of
    its fields, and a slot is read in 1-4 ns where a named tuple's field takes
    12-20 ns (3.11, 3.12).
    """

    __slots__ = ("openers", "reports", "scoped_reports", "single")

    def __init__(
        self, reports: tuple[ReportFn, ...] = (), openers: tuple[OpenFn, ...] = (),
        scoped_reports: tuple[ReportFn, ...] = (),
    ) -> None:
        self.reports = reports
        self.openers = openers
        self.scoped_reports = scoped_reports
        self.single = _single(reports) if not openers and not scoped_reports else None

    def __iter__(self) -> Iterator[tuple[Callable[[Any], Any], ...]]:
        """The three groups, in the order of the constructor's arguments."""
        return iter((self.reports, self.openers, self.scoped_reports))

    def __repr__(self) -> str:
        return f"Targets(reports={self.reports!r}, openers={self.openers!r}, scoped_reports={self.scoped_reports!r})"


def discard(record: Any) -> None:
    """The report function of no reporters: a record no one is to get goes nowhere."""


def _single(reports: tuple[ReportFn, ...] | list[ReportFn]) -> ReportFn | None:
    """``Targets.single`` of ``reports`` alone (no scoped reporters): the one, :func:`discard` for none, or ``None``."""
    if len(reports) == 1:
        return reports[0]
    return None if reports else discard


class _CheckedTargets(Targets):
    """The :class:`Targets` that :func:`check_reporters` makes, setting every field itself.

    ``with timed("x", reporters=[r]):`` checks its new list on every block.
    Calling a class whose ``__init__`` is ``object``'s takes 120 ns (3.12),
    ``object.__new__(Targets)`` 190 ns and ``Targets(...)`` 490 ns.
    """

    __slots__ = ()
    __init__ = object.__init__  # type: ignore[assignment]


# -- resolving reporters -------------------------------------------------------------


def check_reporters(reporters: object) -> Targets | None:
    """Validate ``reporters=`` (``None``, or an iterable of reporters or callables) and sort them.

    A reporter with ``open(probe)`` is *scoped*: ``open`` is called as each
    measured call starts and returns a closer that gets the record.
    """
    if reporters is None:
        return None
    if type(reporters) is list or type(reporters) is tuple:  # (passes every check of _reporter_list as such)
        if not reporters:  # ``reporters=[]``: no one to tell
            return _NO_ONE
        single = one_report(reporters)  # ``reporters=[r]``: no loop, no list (-1,300 instructions on 3.12)
        if single is not None:
            return one_target(single)
        items: Iterable[object] = reporters
    else:
        items = _reporter_list(reporters)
    targets: Targets = _CheckedTargets()
    # One pass with the common cases inlined: ``with timed("x", reporters=[r]):`` checks its list on every use.
    reports: list[ReportFn] = []
    scoped: tuple[list[Any], list[ReportFn]] | None = None  # openers, reports: made for the first scoped one
    for reporter in items:
        report = getattr(reporter, "report", reporter)
        if report is reporter or not callable(report):  # no ``report`` method: the reporter itself is called
            report = reporter if callable(reporter) else as_report_function(reporter)  # (which raises)
        open_scope = getattr(reporter, "open", None)
        if open_scope is not None and callable(open_scope):
            if scoped is None:
                scoped = [], []
            scoped[0].append(open_scope)
            scoped[1].append(report)
        else:
            reports.append(report)
    targets.reports = tuple(reports)
    if scoped is None:
        targets.openers = targets.scoped_reports = ()
        targets.single = _single(reports)
    else:
        targets.openers = tuple(scoped[0])
        targets.scoped_reports = tuple(scoped[1])
        targets.single = None
    return targets


_FUNCTION = types.FunctionType


def one_report(reporters: object) -> ReportFn | None:
    """The report function of ``reporters=`` when it is a list or tuple of one plain reporter, else ``None``.

    Plain: not scoped. What :func:`check_reporters` makes ``single`` of, and
    the same error for an item that is no reporter. Without a loop or a
    :class:`Targets`: ``with timed("x", reporters=[r]):`` asks on every block.
    """
    if (type(reporters) is not list and type(reporters) is not tuple) or len(reporters) != 1:  # type: ignore[arg-type]
        return None
    reporter = reporters[0]  # type: ignore[index]
    if type(reporter) is _FUNCTION and not reporter.__dict__:  # a plain function, no ``report`` nor ``open``
        return reporter  # type: ignore[no-any-return]  # (two built-in calls less than the test below, -80 ns)
    report = getattr(reporter, "report", reporter)
    if report is reporter or not callable(report):  # no ``report`` method: the reporter itself is called
        report = reporter if callable(reporter) else as_report_function(reporter)  # (which raises)
    if getattr(reporter, "open", None) is not None:
        return None  # a scoped reporter (or one with an ``open`` that is no method, which the loop sorts out)
    return report  # type: ignore[no-any-return]


def one_target(report: ReportFn) -> Targets:
    """The :class:`Targets` of one plain report function (as :func:`check_reporters` makes it)."""
    targets: Targets = _CheckedTargets()
    targets.reports = (report,)
    targets.openers = targets.scoped_reports = ()
    targets.single = report
    return targets

#: What every ``reporters=[]`` comes to (never changed: :func:`check_reporters` sets the fields of new ones only).
_NO_ONE: Targets = Targets()


def _reporter_list(reporters: object) -> Iterable[object]:
    """``reporters`` if it is an iterable of reporters rather than one reporter or a string; else raise."""
    if callable(reporters) or hasattr(reporters, "report") or isinstance(reporters, (str, bytes)):
        raise TypeError(
            "reporters= takes a list of reporters (objects with report(record), or callables); "
            f"got a single {type(reporters).__name__}: wrap it in a list"
        )
    if not isinstance(reporters, Iterable):
        raise TypeError(f"reporters= takes a list of reporters; got {type(reporters).__name__}")
    return reporters


def as_report_function(reporter: object) -> ReportFn:
    """The function to call per record: ``reporter.report``, or the callable itself."""
    report = getattr(reporter, "report", None)
    if callable(report):
        return report  # type: ignore[no-any-return]
    if callable(reporter):
        return reporter  # type: ignore[return-value]
    raise TypeError(
        "reporters= items must have a report(record) method or be callables taking a record; "
        f"got {type(reporter).__name__} {reporter!r:.60}"
    )


def _no_reporters() -> Targets:
    return Targets()


#: Builds the default reporters (from ``PROFILETOOLS_REPORTERS`` or ``Stream``). Set with
#: :func:`set_default_reporter_factory` (by :mod:`profiletools.core.config`, and by the
#: pytest plugin to tap every record), so this layer does not import reporters.
default_reporter_factory: Callable[[], Targets] = _no_reporters


def set_default_reporter_factory(factory: Callable[[], Targets]) -> Callable[[], Targets]:
    """Install ``factory`` as the builder of the default reporters; returns the one it replaces."""
    global default_reporter_factory
    previous, default_reporter_factory = default_reporter_factory, factory
    STATE.use_defaults(None)
    return previous


def default_reporters() -> Targets:
    """The reporters used by probes that were given none."""
    current = STATE.default_reporters
    if current is None:
        current = default_reporter_factory()
        STATE.use_defaults(current)
    return current


# -- delivering -------------------------------------------------------------------------


def deliver(record: Any, targets: Targets, closers: list[Closer] | None = None) -> None:
    """Hand ``record`` to the reporters; a raising reporter only warns, once.

    With ``closers`` (the record of a measured call) the scoped reporters get
    it through their closers; without, through their ``report`` methods.
    """
    for report in targets.reports:
        try:
            report(record)
        except Exception as exc:  # noqa: BLE001 - reporters never raise into user code
            reporter_failed(report, exc)
    if closers is None:
        for report in targets.scoped_reports:
            try:
                report(record)
            except Exception as exc:  # noqa: BLE001 - reporters never raise into user code
                reporter_failed(report, exc)
    else:
        close_scopes(closers, record)


def open_scopes(openers: tuple[OpenFn, ...], probe: Any) -> list[Closer]:
    """Open every scoped reporter for a call that starts now; returns their closers."""
    closers = []
    for open_scope in openers:
        try:
            closers.append(open_scope(probe))
        except Exception as exc:  # noqa: BLE001 - reporters never raise into user code
            reporter_failed(open_scope, exc)
    return closers


def close_scopes(closers: list[Closer], record: Any) -> None:
    """Close the scopes of a finished call with its record (``None``: the call made none)."""
    for close in closers:
        try:
            close(record)
        except Exception as exc:  # noqa: BLE001 - reporters never raise into user code
            reporter_failed(close, exc)


def step_scopes(scopes: list[Any], step: str) -> None:
    """Call ``pause`` or ``resume`` on each scope; a raising scope only warns."""
    for scope in scopes:
        try:
            getattr(scope, step)()
        except Exception as exc:  # noqa: BLE001 - reporters never raise into user code
            reporter_failed(scope, exc)


def reporter_failed(report: ReportFn, exc: Exception) -> None:
    """Warn (once per reporter type and exception type) that a reporter raised."""
    owner = getattr(report, "__self__", report)
    if owner is report and isinstance(report, (types.FunctionType, types.BuiltinFunctionType)):
        label = report.__qualname__
    else:  # a bound method or a callable object: named after its type (never its address)
        label = type(owner).__qualname__
    warn_once(
        "reporter",
        f"{label}:{type(exc).__qualname__}",
        f"reporter {label} raised {type(exc).__qualname__}: {exc}; its records are dropped",
    )


# -- flushing and forking ---------------------------------------------------------------

#: Flush hooks by stage, run in this order: aggregates report their records, reporters that
#: buffer records deliver them, then reporters that print what they gathered (``Summary``).
_flush_hooks: list[Callable[[], None]] = []
_late_flush_hooks: list[Callable[[], None]] = []
_last_flush_hooks: list[Callable[[], None]] = []
_flush_lock = threading.Lock()


def on_flush(hook: Callable[[], None], *, late: bool = False, last: bool = False) -> Callable[[], None]:
    """Run ``hook`` on ``profiletools.flush()`` and at interpreter exit; returns what unregisters it.

    Hooks run in three stages, each in the order registered: plain hooks
    (aggregates reporting their records), then ``late`` ones (reporters that
    buffer records, such as ``Background``, deliver them), then ``last`` ones
    (reporters that print what they gathered, such as ``Summary(at_exit=True)``).
    The list holds ``hook`` until it is unregistered: an object made per use
    unregisters when it is done, or it stays for the life of the process.
    """
    hooks = _last_flush_hooks if last else _late_flush_hooks if late else _flush_hooks
    with _flush_lock:
        hooks.append(hook)

    def unregister() -> None:
        with _flush_lock:
            for index, registered in enumerate(hooks):
                if registered is hook:
                    del hooks[index]
                    return

    return unregister


def flush() -> None:
    """Report every aggregate, flush every reporter that buffers, then those that print at the end."""
    with _flush_lock:
        hooks = [*_flush_hooks, *_late_flush_hooks, *_last_flush_hooks]
    for hook in hooks:
        try:
            hook()
        except Exception as exc:  # noqa: BLE001 - flushing at exit must not raise
            warn_once("flush", type(exc).__qualname__, f"flushing raised {type(exc).__qualname__}: {exc}")


_lock_owners: weakref.WeakSet[Any] = weakref.WeakSet()


def fork_safe(owner: Any) -> None:
    """Give ``owner._lock`` a fresh lock in every forked child.

    A lock held by another thread at ``fork()`` stays held forever in the
    child, where that thread does not exist; objects whose ``_lock`` guards
    reporting register here so a child never hangs on one.
    """
    _lock_owners.add(owner)


def _after_fork_in_child() -> None:
    global _flush_lock
    _flush_lock = threading.Lock()
    for owner in list(_lock_owners):
        owner._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

def _flush_at_exit() -> None:
    STATE.exiting = True
    flush()


atexit.register(_flush_at_exit)
