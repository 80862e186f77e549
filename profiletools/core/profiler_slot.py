"""The profiler slot: which profiler may hook into the interpreter right now.

A tool asks :func:`claim` before it switches its profiler on and calls
:func:`release` after switching it off. ``claim`` answers ``None`` (go ahead,
the slot is yours) or a short reason why not, which the tool puts in its
record's ``skipped`` field; the user's call then runs unprofiled and nothing
raises. The slot knows our own holders (a claim is one atomic
``dict.setdefault``: of threads racing for it, exactly one wins) and looks for
foreign holders in the interpreter itself.

What actually competes (measured with CPython 3.11.7 and 3.12.1, line_profiler
5.1; not assumed):

* **3.12+**: ``cProfile`` and ``line_profiler`` both take the one
  ``sys.monitoring.PROFILER_ID``, which is process-wide: an enabled
  ``cProfile.Profile`` records the calls of *every* thread, and only one can
  be enabled per process. Enabling ``cProfile`` while line_profiler (or
  coverage, a debugger, another ``cProfile`` such as ``python -m cProfile``)
  holds the id raises ``ValueError: Another profiling tool is already
  active``. The other order does not raise but is worse: line_profiler
  finding the id held piggybacks on it, re-registers the holder's
  ``PY_RETURN``/``PY_YIELD``/``RAISE`` callbacks behind its own, and the
  cProfile stats come out wrong (5 calls of a leaf reported as 1 primitive
  call of 5). So on 3.12 the two tools share one process-wide slot, and
  ``sys.monitoring.get_tool(PROFILER_ID)`` names a foreign holder.
  ``sys.settrace``/``sys.setprofile`` use separate (legacy) tool ids on 3.12
  and compete with neither.
* **3.11**: ``cProfile`` installs itself with the C equivalent of
  ``sys.setprofile`` and line_profiler with that of ``sys.settrace``: they
  use different hooks and both work at once (stats checked exact). Both
  hooks are per thread: a profiler enabled on one thread sees nothing of
  the others, and two threads may each run their own. Enabling a second
  ``cProfile`` on the same thread silently disconnects the first (no error,
  the first one's stats just stop), which is why a foreign
  ``sys.getprofile()`` makes ``profileit`` step aside. line_profiler 5.1
  (``wrap_trace`` off, its default) silences a foreign ``sys.settrace``
  tracer (a debugger, coverage) for as long as it is enabled and restores it
  afterwards, so a foreign ``sys.gettrace()`` makes ``lineprofile`` step
  aside.

Hence a *hook* per tool (declared with the tool, see :mod:`profiletools.core.registry`): on 3.12 ``profileit`` and
``lineprofile`` share ``"monitoring"`` (one holder per process); on 3.11
``profileit`` uses ``"setprofile"`` and ``lineprofile`` ``"settrace"`` (one
holder per hook and thread). ``memprofile``'s line mode claims
``"settrace"`` when it follows lines with ``sys.settrace`` (before 3.12; on 3.12+
it uses ``sys.monitoring`` tool ids of its own, which compete with nothing).
A tool not listed uses the profiler hook of the running version.

A tool whose own trace function may be installed while it holds no claim on
the current thread (a C callable left as the global trace function, say)
declares it with :func:`own_tracer`, so the slot names that tool instead of
taking it for a debugger.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

from profiletools.core import registry, settings

#: True when profilers hook in through ``sys.monitoring`` (CPython 3.12+).
MONITORING = sys.version_info >= (3, 12)

_DEFAULT_HOOK = "monitoring" if MONITORING else "setprofile"
#: ``sys.monitoring`` is process-wide; the legacy hooks are per thread.
_PROCESS_WIDE = frozenset({"monitoring"})

#: Per hook, ``key -> (tool, thread ident of the holder, owner)``, the key being the holder's thread
#: ident for a per-thread hook and :data:`_PROCESS` for a process-wide one, the owner what the
#: holder passed to its claim (see :func:`bind`). Claims and releases are single dict operations
#: (``setdefault``, ``pop``) on an int key, atomic without a lock of ours.
_held: dict[str, dict[int, tuple[str, int, Any]]] = {"monitoring": {}, "setprofile": {}, "settrace": {}}
#: The key of a process-wide hook's holder (thread idents are never negative).
_PROCESS = -1
_get_ident = threading.get_ident
_monitoring: Any = getattr(sys, "monitoring", None)


def _key(hook: str) -> int:
    return _PROCESS if hook in _PROCESS_WIDE else _get_ident()


def _monitoring_holder() -> str | None:
    owner = _monitoring.get_tool(_monitoring.PROFILER_ID)
    return None if owner is None else f"sys.monitoring PROFILER_ID is held by {owner!r}"


def _profile_holder() -> str | None:
    profiler = sys.getprofile()
    if profiler is None:
        return None
    return f"another profiler is installed with sys.setprofile ({type(profiler).__name__})"


#: Trace functions that are our tools' own (by identity), with the tool's name.
_own_tracers: dict[int, tuple[object, str]] = {}


def own_tracer(tracer: object, tool: str) -> None:
    """Declare ``tracer`` (a ``sys.settrace`` function) as ``tool``'s own, so it is never taken for a foreign one."""
    _own_tracers[id(tracer)] = (tracer, tool)


def foreign_trace_reason(tracer: object) -> str:
    """Why a tool stepped aside for ``tracer``, the installed ``sys.settrace`` function."""
    own = _own_tracers.get(id(tracer))
    if own is not None and own[0] is tracer:
        return f"{own[1]} is already tracing on thread {_get_ident()}"
    kind = getattr(tracer, "__qualname__", None) or type(tracer).__name__
    return f"a tracer (debugger or coverage?) is installed with sys.settrace ({kind})"


def _trace_holder() -> str | None:
    tracer = sys.gettrace()
    return None if tracer is None else foreign_trace_reason(tracer)


#: Per hook: why a profiler that is not ours holds it now, or ``None``.
_FOREIGN = {"monitoring": _monitoring_holder, "setprofile": _profile_holder, "settrace": _trace_holder}


def claim(tool: str, hook: str | None = None) -> str | None:
    """Take the slot ``tool`` needs; ``None`` on success, else why it is taken.

    The reason names our own holder (``"profileit is already profiling on
    thread 1234"``) or a foreign one (``"sys.monitoring PROFILER_ID is held by
    'coverage'"``). A successful claim must be paired with :func:`release`
    (on the same thread: the legacy hooks of 3.11 are per thread). ``hook``:
    the tool's declared hook, when the caller has it at hand. A tool claiming
    on every call takes the pair once from :func:`bind`.
    """
    return bind(tool, registry.hook_of(tool, _DEFAULT_HOOK) if hook is None else hook)[0]()


def release(tool: str, hook: str | None = None) -> None:
    """Give the slot back; only has an effect when ``tool`` holds it (in this thread's scope)."""
    bind(tool, registry.hook_of(tool, _DEFAULT_HOOK) if hook is None else hook)[1]()


#: The inexpensive look at each hook: ``None`` when nothing holds it (then no reason is needed).
_FOREIGN_PEEK: dict[str, Any] = {
    "monitoring": (lambda: None) if _monitoring is None else functools.partial(
        _monitoring.get_tool, _monitoring.PROFILER_ID
    ),
    "setprofile": sys.getprofile,
    "settrace": sys.gettrace,
}
#: The functions :func:`bind` gives: claim (with an owner), release, and the owner of this thread's claim.
Bound = tuple[Callable[..., "str | None"], Callable[..., None], Callable[[], Any]]
_bound: dict[tuple[str, str], Bound] = {}
_FREE = ("",)


def bind(tool: str, hook: str) -> Bound:
    """:func:`claim` and :func:`release` of ``tool`` on ``hook`` as functions, and who holds the claim.

    ``claim(owner=None, ident=None)`` takes the slot as :func:`claim` does and keeps
    ``owner`` (anything the tool wants to find again: what it is profiling
    now) with it; ``release(ident=None)`` gives it back (``ident``: this
    thread's ``threading.get_ident()``, when the caller has it at hand); ``owner()`` is the owner of
    ``tool``'s claim made on this thread, ``None`` when there is none. What a
    profiled call pays for the slot: a thread ident, one ``setdefault``, one
    look at the interpreter's hook and one ``get`` and ``pop``, with nothing
    looked up by name and no thread-local state. (One set per tool and hook.)
    """
    bound = _bound.get((tool, hook))
    if bound is not None:
        return bound
    process_wide = hook in _PROCESS_WIDE
    peek, get_ident, slots = _FOREIGN_PEEK[hook], _get_ident, _held[hook]
    setdefault, get, pop = slots.setdefault, slots.get, slots.pop

    def claim_slot(owner: Any = None, ident: int | None = None) -> str | None:
        if ident is None:
            ident = get_ident()
        mine = (tool, ident, owner)
        taken = setdefault(_PROCESS if process_wide else ident, mine)
        if taken is mine:
            if peek() is None:
                return None
            return foreign()
        return f"{taken[0]} is already profiling on thread {taken[1]}"

    def foreign() -> str | None:  # something holds the hook: ask who (looked up now, as claim() does)
        reason = _FOREIGN[hook]()
        if reason is not None:
            release_slot()
        return reason

    def release_slot(ident: int | None = None) -> None:
        key = _PROCESS if process_wide else get_ident() if ident is None else ident
        if get(key, _FREE)[0] == tool:
            pop(key, None)

    def owner_of_claim() -> Any:
        ident = get_ident()
        taken = get(_PROCESS if process_wide else ident)
        return taken[2] if taken is not None and taken[0] == tool and taken[1] == ident else None

    bound = _bound[(tool, hook)] = (claim_slot, release_slot, owner_of_claim)
    return bound


#: What :func:`bind_direct` gives: ``take``, ``give``, ``peek``, and the key of a process-wide hook (else ``None``).
Direct = tuple[Callable[[int, Any], Any], Callable[[int, None], Any], Callable[[], object], "int | None"]


def bind_direct(hook: str) -> Direct:
    """The slot's own dictionary operations on ``hook``, for a tool that claims on every call with no frame of ours.

    The protocol is :func:`bind`'s claim without its look-ups and without
    the reason: ``entry = (tool, ident, owner)``, ``ident`` being this
    thread's ``threading.get_ident()``, and ``key`` the process-wide key
    given here or else ``ident``. The claim is made when
    ``take(key, entry) is entry`` and ``peek()`` is ``None`` (no foreign
    holder); otherwise give back what was taken and ask ``claim`` why.
    ``give(key, None)`` releases a claim the caller holds (the caller makes
    sure it still does: after a fork its claim may be gone). ``take`` and
    ``give`` are the dictionary's ``setdefault`` and ``pop``: atomic, and
    about two Python calls cheaper per call than ``claim`` and ``release``.
    """
    slots = _held[hook]
    return slots.setdefault, slots.pop, _FOREIGN_PEEK[hook], _PROCESS if hook in _PROCESS_WIDE else None


def holder(tool: str | None = None) -> str | None:
    """Which of our tools holds a slot now (our bookkeeping only; foreign holders are not named).

    With ``tool``, the holder of the slot that tool would need; without, the
    holder of any slot visible from this thread (process-wide ones first).
    """
    if tool is not None:
        hook = registry.hook_of(tool, _DEFAULT_HOOK)
        held = _held.get(hook, {}).get(_key(hook))
        return None if held is None else held[0]
    ident = _get_ident()
    visible = [(key != _PROCESS, taken[0]) for slots in list(_held.values()) for key, taken in list(slots.items())
               if key == _PROCESS or key == ident]
    return min(visible)[1] if visible else None


#: The tools whose slot, held for a thread, says that a measurement of theirs runs on it (``held_here``).
_MARKING: set[str] = set()


def marks_measurement(tool: str) -> None:
    """Declare that ``tool`` holds its slot for a thread exactly while one of its measurements runs there.

    Called for a backend class that says ``slot_marks_measurement``: its
    tool's claims then count in :func:`held_here`. (A tool that keeps its slot
    while its call is suspended, as the pyinstrument sampler does, must not:
    warnings would be held for code that is not measured.)
    """
    _MARKING.add(tool)


def held_here() -> bool:
    """Whether a slot is held for this thread by a tool whose slot marks its measurements (one runs here)."""
    ident = _get_ident()
    for hook, slots in _held.items():
        taken = slots.get(_PROCESS if hook in _PROCESS_WIDE else ident)
        if taken is not None and taken[1] == ident and taken[0] in _MARKING:
            return True
    return False


settings.slot_measuring = held_here


def _after_fork_in_child() -> None:
    """Only the forking thread exists in a child: the other threads' holds are gone with them."""
    ident = _get_ident()
    for slots in list(_held.values()):
        for key, taken in list(slots.items()):
            if taken[1] != ident:
                slots.pop(key, None)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
