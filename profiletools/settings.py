"""Process-wide state shared by every tool: on/off, defaults, pid, flush hooks.

The wrapper machinery reads this module on every call, so everything here is a
plain attribute read. ``profiletools.config`` writes it.
"""

from __future__ import annotations

import atexit
import os
import threading
import types
import warnings
import weakref
from collections.abc import Callable
from typing import Any, NamedTuple

#: What is called with each record: a reporter's ``report`` method, or a plain callable.
ReportFn = Callable[[Any], object]
#: A scoped reporter's ``open(probe)``: called as a measured call starts; returns the closer.
OpenFn = Callable[[Any], Callable[[Any], object]]


class Targets(NamedTuple):
    """Resolved reporters, split by how they are called.

    ``reports`` get each record. ``openers`` belong to scoped reporters (those
    with ``open(probe)``): opened as a measured call starts and closed with its
    record; their ``report`` methods, in ``scoped_reports``, only get records
    made outside a call (such as aggregates reported on flush).
    """

    reports: tuple[ReportFn, ...] = ()
    openers: tuple[OpenFn, ...] = ()
    scoped_reports: tuple[ReportFn, ...] = ()


def _env_flag(value: str | None) -> bool:
    """``PROFILETOOLS`` is off for ``0``, ``false``, ``no``, ``off`` (any case)."""
    if value is None:
        return True
    return value.strip().lower() not in {"0", "false", "no", "off"}


class _State:
    """The mutable process-wide switches (one instance, ``STATE``)."""

    __slots__ = ("default_reporters", "enabled", "enabled_at_import", "exiting", "generation", "pid")

    def __init__(self) -> None:
        self.enabled_at_import: bool = _env_flag(os.environ.get("PROFILETOOLS"))
        #: Run-time switch: ``profiletools.disable()`` / ``enable()``.
        self.enabled: bool = self.enabled_at_import
        #: Cached ``os.getpid()`` (a system call), refreshed in forked children.
        self.pid: int = os.getpid()
        #: Resolved default reporters, or ``None`` until first needed.
        self.default_reporters: Targets | None = None
        #: Bumped by ``configure`` so probes re-read the defaults.
        self.generation: int = 0
        #: True once the interpreter runs its exit handlers (the flush at exit has begun).
        self.exiting: bool = False


STATE = _State()

#: Builds the default reporters (from ``PROFILETOOLS_REPORTERS`` or ``Stream``);
#: installed by ``profiletools.config`` so this layer does not import reporters.
def default_reporter_factory() -> Targets:
    """Replaced by ``profiletools.config`` at import."""
    return Targets()

#: Why the environment's settings cannot be used (raised again at each decoration), or None.
environment_problem: ValueError | None = None


def default_reporters() -> Targets:
    """The reporters used by probes that were given none."""
    current = STATE.default_reporters
    if current is None:
        current = STATE.default_reporters = default_reporter_factory()
    return current


_warned: set[tuple[str, str]] = set()
_warned_lock = threading.Lock()


def warn_once(category: str, key: str, message: str) -> None:
    """Issue ``message`` as a ``RuntimeWarning`` once per ``(category, key)``.

    Used for every fault that must never reach user code: a raising reporter,
    an unwritable directory, a profiler slot held by another tool.
    """
    with _warned_lock:
        if (category, key) in _warned:
            return
        _warned.add((category, key))
    warnings.warn(f"profiletools: {message}", RuntimeWarning, stacklevel=3)


def reset_warnings() -> None:
    """Forget which warnings were issued (for tests and long-running services)."""
    with _warned_lock:
        _warned.clear()


def deliver(record: Any, targets: Targets, closers: list[Callable[[Any], object]] | None = None) -> None:
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


def open_scopes(openers: tuple[OpenFn, ...], probe: Any) -> list[Callable[[Any], object]]:
    """Open every scoped reporter for a call that starts now; returns their closers."""
    closers = []
    for open_scope in openers:
        try:
            closers.append(open_scope(probe))
        except Exception as exc:  # noqa: BLE001 - reporters never raise into user code
            reporter_failed(open_scope, exc)
    return closers


def close_scopes(closers: list[Callable[[Any], object]], record: Any) -> None:
    """Close the scopes of a finished call with its record (``None``: the call made none)."""
    for close in closers:
        try:
            close(record)
        except Exception as exc:  # noqa: BLE001 - reporters never raise into user code
            reporter_failed(close, exc)


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


_flush_hooks: list[Callable[[], None]] = []
_late_flush_hooks: list[Callable[[], None]] = []
_flush_lock = threading.Lock()


def on_flush(hook: Callable[[], None], *, late: bool = False) -> None:
    """Run ``hook`` on ``profiletools.flush()`` and at interpreter exit.

    ``late`` hooks run after all others: reporters that buffer records (such
    as ``Background``) flush there, after every aggregate was reported.
    """
    with _flush_lock:
        (_late_flush_hooks if late else _flush_hooks).append(hook)


def flush() -> None:
    """Report every aggregate, then flush every reporter that buffers."""
    with _flush_lock:
        hooks = [*_flush_hooks, *_late_flush_hooks]
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
    STATE.pid = os.getpid()
    global _flush_lock, _warned_lock
    _flush_lock = threading.Lock()
    _warned_lock = threading.Lock()
    for owner in list(_lock_owners):
        owner._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _flush_at_exit() -> None:
    STATE.exiting = True
    flush()


atexit.register(_flush_at_exit)
