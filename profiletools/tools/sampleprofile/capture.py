"""What one tick of a clock records for one measured call or block.

A *measurement* is one sampled call (or block) on one thread. It names a
*marker* frame: for a call, the profiletools frame that calls the user's
function (not part of the sample); for a block, the user's frame that holds
the ``with`` (part of it). A tick walks ``f_back`` from the frame the thread
is running down to the marker and keeps ``(code, offset of the instruction)``
pairs: no frame object outlives the tick, and names and line numbers are
worked out after the call (:mod:`.session`).

Each tick weighs the time since the clock's previous tick. ``taken`` and
``weights`` hold the key of each tick's (or suspension's) stack and its
seconds, in the order they came; each distinct stack is kept once, in
``stacks`` under its key (the ids and offsets of its frames: hashing a code
object would hash its bytecode), so a sample costs 16 bytes:

* a sampled stack's sites are leaf first;
* a wait's (where the measured coroutine was suspended) are outermost first,
  and its key starts with :data:`WAIT` (its time is shown as ``[await]`` under
  the last frame).

A tick that finds the thread outside the measured code (in profiletools' own
frames, or a generator's consumer between two steps) is counted in ``lost``.
"""

from __future__ import annotations

import threading
from array import array
from types import CodeType, FrameType
from typing import Any

#: One captured frame: its code and the offset of the instruction it stood at.
Site = tuple[CodeType, int]
#: A stack's key: the ids of its codes and their offsets, in turn (a wait's starts with ``WAIT``).
Key = tuple[int, ...]
#: The first item of a wait's key.
WAIT = -1

_get_ident = threading.get_ident
#: How far an await chain is followed (a cycle cannot happen; a bound is cheap insurance).
_AWAIT_DEPTH = 256


class Measurement:
    """The samples of one call or block, and the state the clocks need to take them."""

    __slots__ = (
        "awaited", "canonical", "clock", "clocks", "cpu", "cpu_mark", "fallback", "include_marker", "interval", "lost",
        "marker", "pending", "previous", "running", "since", "stacks", "suspended", "suspended_at", "t0", "t1", "taken",
        "task", "thread", "ticks", "weights",
    )

    def __init__(self, marker: FrameType | None, include_marker: bool, interval: float) -> None:
        #: The frame the samples end at (``None`` until a stepped call first runs).
        self.marker = marker
        self.include_marker = include_marker
        self.interval = interval
        self.thread = _get_ident()
        #: The key of each sample's stack (or wait), and its seconds, in the order taken.
        self.taken: list[Key] = []
        self.weights = array("d")
        #: The latest ticks' stacks (codes and offsets in turn, leaf first), not yet in ``taken`` (see settle).
        self.pending: list[list[Any]] = []
        #: Each distinct stack's sites, under its key; and the one copy of each key that ``taken`` shares.
        self.stacks: dict[Key, tuple[Site, ...]] = {}
        self.canonical: dict[Key, Key] = {}
        self.lost = 0
        self.ticks = 0
        #: Between ``start`` and ``stop`` on a clock (a stepped call is not running between steps).
        self.running = False
        #: The measurement that was active in this context before this one (restored at the end).
        self.previous: Any = None
        #: The asyncio task of a block written in a coroutine: its waits are found through it.
        self.task: Any = None
        #: The key of where a stepped coroutine waits while suspended, and since when.
        self.suspended: Key | None = None
        self.suspended_at = 0.0
        #: Seconds spent suspended between steps (not sampled, measured).
        self.awaited = 0.0
        #: When the current stretch of sampling began (the manual clock: the start of the next tick's weight).
        self.since = 0.0
        self.t0 = 0.0
        self.t1 = 0.0
        #: CPU seconds of the thread while sampled, and where the current stretch began.
        self.cpu = 0.0
        self.cpu_mark = 0.0
        #: Names of the clocks that sampled it (more than one when its steps ran on different threads).
        self.clocks: set[str] = set()
        #: The clock sampling it now (or last).
        self.clock: Any = None
        #: Why the main thread was sampled by the thread clock, when it was not by choice.
        self.fallback: str | None = None


#: How many ticks' stacks wait in ``pending`` before they are settled (see :func:`settle`).
SETTLE_EVERY = 32


def sample(frame: FrameType | None, m: Measurement, weight: float, now: float) -> None:
    """Record one tick of ``weight`` seconds (since the clock's previous tick) at ``now`` for ``m``.

    The stack from ``frame`` (the thread's running frame) down to the marker
    when the marker is on it; else, for a block in a coroutine, where that
    coroutine waits; else a lost tick. A weight reaching back more than one
    interval before the measurement (or its step) started is cut there: time
    before it is not its time (a tick that came late, a descheduled process).

    A tick does as little as it can: it keeps the stack's codes and offsets as
    they are, and :func:`settle` makes keys of them every ``SETTLE_EVERY``
    ticks. Code run from a timer signal runs with cold caches (each step
    measured 10-20 times slower than warm on a virtual machine), so the work
    left for a batch costs a fraction of what it costs in each tick.
    """
    m.ticks += 1
    if weight > now - m.since + m.interval:
        weight = now - m.since + m.interval
    marker = m.marker
    sites: list[Any] = []
    append = sites.append
    while frame is not None:
        if frame is marker:
            if m.include_marker:
                append(frame.f_code)
                append(frame.f_lasti)
            if not sites:
                m.lost += 1
                return
            pending = m.pending
            pending.append(sites)
            m.weights.append(weight)
            if len(pending) >= SETTLE_EVERY:
                settle(m)
            return
        append(frame.f_code)
        append(frame.f_lasti)
        frame = frame.f_back
    if m.task is not None:
        waiting = task_waits_at(m.task, marker)
        if waiting:
            settle(m)
            m.taken.append(wait_key(m, waiting))
            m.weights.append(weight)
            return
    m.lost += 1


def settle(m: Measurement) -> None:
    """Move the stacks of the latest ticks from ``pending`` to ``taken`` as keys (each stack's sites kept once).

    Called by :func:`sample` every ``SETTLE_EVERY`` ticks, before anything else
    is added to ``taken``, and before ``taken`` is read.
    """
    pending = m.pending
    count = len(pending)
    if not count:
        return
    canonical, stacks, add = m.canonical, m.stacks, m.taken.append
    for flat in pending[:count]:
        key = tuple([id(item) if index % 2 == 0 else item for index, item in enumerate(flat)])
        known = canonical.get(key)
        if known is None:
            stacks[key] = tuple(zip(flat[0::2], flat[1::2], strict=True))
            known = canonical[key] = key
        add(known)  # the first copy of the key: the others are freed now
    del pending[:count]


def wait_key(m: Measurement, sites: tuple[Site, ...]) -> Key:
    """The key of a wait at ``sites`` (outermost first), its sites kept in ``m.stacks``."""
    key = (WAIT, *[number for code, offset in sites for number in (id(code), offset)])
    known = m.canonical.get(key)
    if known is None:
        m.stacks[key] = sites
        known = m.canonical[key] = key
    return known


def _frame_of(awaitable: Any) -> FrameType | None:
    frame: FrameType | None = getattr(awaitable, "cr_frame", None)
    if frame is None:
        frame = getattr(awaitable, "gi_frame", None) or getattr(awaitable, "ag_frame", None)
    return frame


def _awaiting(awaitable: Any) -> Any:
    """What ``awaitable`` (a coroutine, generator or async generator) is suspended in, or ``None``."""
    for name in ("cr_await", "gi_yieldfrom", "ag_await"):
        inner = getattr(awaitable, name, None)
        if inner is not None:
            return inner
    return None


def suspended_at(awaitable: Any) -> tuple[Site, ...]:
    """Where a suspended coroutine waits: its frame at the ``await``, then what it awaits, outermost first.

    Empty when it is not suspended (finished, or not a coroutine).
    """
    stack: list[Site] = []
    for _ in range(_AWAIT_DEPTH):
        frame = _frame_of(awaitable)
        if frame is None:
            break
        stack.append((frame.f_code, frame.f_lasti))
        awaitable = _awaiting(awaitable)
        if awaitable is None:
            break
    return tuple(stack)


def task_waits_at(task: Any, marker: FrameType | None) -> tuple[Site, ...] | None:
    """Where ``task`` waits, from the frame ``marker`` outwards-in; ``None`` when ``marker`` is not waiting in it."""
    try:
        awaitable = task.get_coro()
    except Exception:  # noqa: BLE001 - a task of another event loop library: no wait to show
        return None
    for _ in range(_AWAIT_DEPTH):
        frame = _frame_of(awaitable)
        if frame is None:
            return None
        if frame is marker:
            return suspended_at(awaitable)
        awaitable = _awaiting(awaitable)
        if awaitable is None:
            return None
    return None
