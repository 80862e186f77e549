"""Process-wide state shared by every tool: on/off, the pid, warnings given once.

All global state of profiletools lives here and in :mod:`profiletools.core.delivery`
(reporters, flush hooks); it is written through functions (``configure``,
``enable``, ``disable``, ``set_default_reporter_factory``), and the wrapper
machinery reads it on every call, so everything here is a plain attribute read.
"""

from __future__ import annotations

import os
import sys
import threading
import warnings
import weakref
from typing import Any

TYPE_CHECKING = False
if TYPE_CHECKING:
    from profiletools.core.delivery import Targets


def _env_flag(value: str | None) -> bool:
    """``PROFILETOOLS`` is off for ``0``, ``false``, ``no``, ``off`` (any case)."""
    if value is None:
        return True
    return value.strip().lower() not in {"0", "false", "no", "off"}


class _State:
    """The mutable process-wide switches (one instance, ``STATE``)."""

    __slots__ = ("default_reporters", "enabled", "enabled_at_import", "exiting", "generation", "lone", "pid")

    def __init__(self) -> None:
        self.enabled_at_import: bool = _env_flag(os.environ.get("PROFILETOOLS"))
        #: Run-time switch: ``profiletools.disable()`` / ``enable()`` (set with :meth:`switch`).
        self.enabled: bool = self.enabled_at_import
        #: Cached ``os.getpid()`` (a system call), refreshed in forked children.
        self.pid: int = os.getpid()
        #: Resolved default reporters, or ``None`` until first needed (set with :meth:`use_defaults`).
        self.default_reporters: Targets | None = None
        #: While measuring is on, the one report function the default reporters come down to
        #: (``Targets.single``), else ``None``: one read tells a decorated function's fast path it
        #: may time the call and hand the record to that function alone.
        self.lone: Any = None
        #: Bumped by ``configure`` so probes re-read the defaults.
        self.generation: int = 0
        #: True once the interpreter runs its exit handlers (the flush at exit has begun).
        self.exiting: bool = False

    def switch(self, enabled: bool) -> None:
        """Switch measuring on or off at run time."""
        self.enabled = enabled
        self._relink()
        for own in list(_OWN_REPORTS):
            own.lone = own.report if enabled else None

    def use_defaults(self, targets: Targets | None) -> None:
        """Make ``targets`` the default reporters (``None``: resolve them again when next needed)."""
        self.default_reporters = targets
        self._relink()

    def _relink(self) -> None:
        targets = self.default_reporters
        self.lone = targets.single if self.enabled and targets is not None else None


STATE = _State()


class OwnReport:
    """A decorated function's one report function of its own, read as :attr:`_State.lone` is read.

    ``lone`` is ``report`` while measuring is on, else ``None`` (kept by
    :meth:`_State.switch`): ``timed``'s fast path reads ``source.lone`` once
    per call, where the source is ``STATE`` for a function reporting to the
    defaults and one of these for a function given ``reporters=[r]``.
    """

    __slots__ = ("__weakref__", "lone", "report")

    def __init__(self, report: Any) -> None:
        self.report = report
        self.lone: Any = None
        _OWN_REPORTS.add(self)  # (then the switch's state: a switch meanwhile has set ``enabled`` first)
        self.lone = report if STATE.enabled else None


#: Every live :class:`OwnReport` (a decorated function's wrapper holds its own).
_OWN_REPORTS: weakref.WeakSet[OwnReport] = weakref.WeakSet()

_warned: set[tuple[str, str]] = set()
_warned_lock = threading.Lock()

#: A warning ready to issue: the message and where it points (file, line, module globals).
Deferred = tuple[str, tuple[str, int, dict[str, Any]] | None]


class Measurements:
    """One thread's measurements: how many are running now, and the warnings held back meanwhile."""

    __slots__ = ("depth", "held")

    def __init__(self) -> None:
        self.depth = 0
        self.held: list[Deferred] | None = None


class _Measuring(threading.local):
    """``now``: this thread's :class:`Measurements` (one thread-local read per measurement: each costs)."""

    def __init__(self) -> None:
        self.now = Measurements()


#: ``MEASURING.now.depth`` is incremented by the machinery while a tool's measurement runs on this
#: thread (see ``warn_once``).
MEASURING = _Measuring()

#: The idents of the threads holding warnings back now: a wrapper that ends a measurement without
#: counting it in ``MEASURING`` (see :func:`slot_measuring`) tests this set, not the thread-local.
HOLDING: set[int] = set()


def _no_slot_held() -> bool:
    return False


#: Whether one of our profiler slots is held on this thread (set by ``profiler_slot`` when imported).
#: A tool whose measurement holds a slot exclusively on its thread from its start to its end
#: (``profileit``) need not count it in ``MEASURING`` on its hottest paths: a thread-local read costs
#: about 700 machine instructions, a tenth of what the machinery adds to a call on 3.11.
slot_measuring = _no_slot_held


def warn_once(category: str, key: str, message: str) -> None:
    """Issue ``message`` as a ``RuntimeWarning`` once per ``(category, key)``, at the user's line.

    Used for every fault that must never reach user code: a raising reporter,
    an unwritable directory, a profiler slot held by another tool. The warning
    points at the first frame outside profiletools (never at a line of ours),
    and while a measurement runs on this thread it is held back until the last
    one ends (:func:`issue_held`): formatting a warning reads the source file,
    which would otherwise show up in the user's profile.
    """
    with _warned_lock:
        if (category, key) in _warned:
            return
        _warned.add((category, key))
    from profiletools.core.frames import user_frame  # warnings are rare: import on the first

    frame = user_frame(sys._getframe(1))
    where = None if frame is None else (frame.f_code.co_filename, frame.f_lineno, frame.f_globals)
    warning: Deferred = (f"profiletools: {message}", where)
    measuring = MEASURING.now
    if measuring.depth or slot_measuring():
        if measuring.held is None:
            measuring.held = []
            HOLDING.add(threading.get_ident())
        measuring.held.append(warning)
        return
    _issue(warning)


def issue_held() -> None:
    """Issue the warnings held back on this thread, unless a measurement still runs on it (the machinery calls this).

    Called when a measurement ends; another one may still run on this
    thread (an outer profile), which keeps them held until it ends.
    """
    measuring = MEASURING.now
    if measuring.held is None or measuring.depth or slot_measuring():
        return
    held, measuring.held = measuring.held, None
    HOLDING.discard(threading.get_ident())
    for warning in held:
        _issue(warning)


def _issue(warning: Deferred) -> None:
    message, where = warning
    if where is None:
        warnings.warn(message, RuntimeWarning, stacklevel=2)
        return
    filename, lineno, module_globals = where
    registry = module_globals.setdefault("__warningregistry__", {})
    # (no module_globals: warnings would ask the module's loader for its source, which fails for ``-c``)
    warnings.warn_explicit(
        message, RuntimeWarning, filename, lineno, module=module_globals.get("__name__"), registry=registry,
    )


def reset_warnings() -> None:
    """Forget which warnings were issued (for tests and long-running services)."""
    with _warned_lock:
        _warned.clear()


def _after_fork_in_child() -> None:
    global _warned_lock
    STATE.pid = os.getpid()
    _warned_lock = threading.Lock()
    MEASURING.now.held = None  # the parent's to issue
    HOLDING.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
