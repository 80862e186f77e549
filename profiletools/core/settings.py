"""Process-wide state shared by every tool: on/off, the pid, warnings given once.

All global state of profiletools lives here and in :mod:`profiletools.core.delivery`
(reporters, flush hooks); it is written through functions (``configure``,
``enable``, ``disable``, ``set_default_reporter_factory``), and the wrapper
machinery reads it on every call, so everything here is a plain attribute read.
"""

from __future__ import annotations

import os
import threading
import warnings

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


def _after_fork_in_child() -> None:
    global _warned_lock
    STATE.pid = os.getpid()
    _warned_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
