"""``sampleprofile(sampler="pyinstrument")``: pyinstrument's own sampler around each call (opt-in).

The backend starts a ``pyinstrument.Profiler`` right before the user's code
and stops it right after. Every sample is a stack from the thread's first
frame down to the running one; before the session reaches the record each
sample is cut to start at the profiled function (or, for a block, the
function holding the ``with``), profiletools' own frames are spliced out, and
samples of the profiler switching itself on and off are dropped.

pyinstrument takes a sample at the first call or return after each interval:
it hooks every call and return of the thread (with ``sys.setprofile``'s C
interface), so its cost grows with the number of calls the code makes, not
with the sampling rate, as a tracing profiler's does; on 3.11 any profile
function also takes the interpreter off its fast path. That hook is why this
sampler is not the default, and why it follows the one-profiler rule
(:mod:`profiletools.core.profiler_slot`): on 3.11 ``cProfile`` uses the same
hook, so it and ``profileit`` cannot run at once in one thread (whichever
comes second runs unprofiled and its record says why); a foreign
``sys.setprofile`` function makes it step aside on every version.

Coroutines are sampled in pyinstrument's async mode: while the coroutine
awaits, the time goes to an ``[await]`` entry directly under it (the
machinery drives a coroutine step by step, which hides from pyinstrument
where it awaits).
"""

from __future__ import annotations

import inspect
import os
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Literal

from profiletools.core import profiler_slot
from profiletools.core.backend import SUPPRESS, Backend, Skip
from profiletools.core.frames import is_own_file, user_frame
from profiletools.tools.sampleprofile.backend import ACTIVE, SampleBackend
from profiletools.tools.sampleprofile.options import TOOL, SampleOptions, require_pyinstrument
from profiletools.tools.sampleprofile.session import AWAIT, Samples

if TYPE_CHECKING:

    from profiletools.core.machinery import Probe

_get_ident = threading.get_ident
_claim = profiler_slot.claim
_release = profiler_slot.release

#: One sample: the stack (frame descriptions, outermost first) and the seconds it stands for.
Sample = tuple[list[str], float]


# -- cleaning the samples ------------------------------------------------------------------

_USER, _OURS, _PROFILER = 0, 1, 2
_kinds: dict[str, int] = {}
_profiler_files: tuple[str, ...] = ()


def _kind(info: str) -> int:
    """Whose frame a sample entry is: the user's, profiletools', or the profiler's (or a built-in)."""
    identifier = info.partition("\x01")[0]
    kind = _kinds.get(identifier)
    if kind is None:
        parts = identifier.split("\x00")
        path = parts[1] if len(parts) > 1 else ""
        if is_own_file(path):
            kind = _OURS
        elif path == "<built-in>" or path.startswith(_profiler_files):
            kind = _PROFILER
        else:
            kind = _USER
        if len(_kinds) > 100_000:
            _kinds.clear()
        _kinds[identifier] = kind
    return kind


def _locate_profiler_files() -> None:
    """Note where pyinstrument lives (its frames are cut off after ours); before any sample is read."""
    global _profiler_files
    if not _profiler_files:
        pyinstrument = require_pyinstrument()
        _profiler_files = (os.path.dirname(os.path.abspath(pyinstrument.__file__)) + os.sep,)
        _kinds.clear()


def _identifier(info: str) -> str:
    return info.partition("\x01")[0]


def code_identifier(code: Any) -> str:
    """How pyinstrument names the frames of ``code`` (function, file, first line)."""
    return f"{code.co_name}\x00{code.co_filename}\x00{code.co_firstlineno}"


def _find(stack: list[str], anchor: str | None, base: int) -> int:
    """Where the profiled code starts in ``stack``: at or after ``base`` first, else anywhere; -1 if absent."""
    size = len(stack)
    if anchor is None:
        return base if base < size else -1
    for index in range(base, size):
        if _identifier(stack[index]) == anchor:
            return index
    for index in range(1, min(base, size)):
        if _identifier(stack[index]) == anchor:
            return index
    return -1


def clean_samples(samples: Iterable[Sample], anchor: str | None, base: int, awaits: bool = False) -> list[Sample]:
    """The user's part of the samples of one measurement.

    Each stack is cut to start at the profiled code (the frame named
    ``anchor``, expected at index ``base``). Frames of profiletools are
    spliced out, and what they call into the profiler or built-ins (switching
    the profiler, reading clocks) is cut off. A sample without the profiled
    code is dropped (a generator's consumer, the profiler starting), except
    with ``awaits`` (a coroutine): the coroutine was suspended, so the sample
    is time it spent awaiting.
    """
    kept: list[Sample] = []
    awaiting = [anchor, AWAIT] if awaits and anchor is not None else None
    for stack, seconds in samples:
        start = _find(stack, anchor, base)
        if start < 0:
            # The machinery drives a coroutine step by step, so pyinstrument's record of what
            # awaits ends at our frames, and tasks created inside inherit its context: either
            # way the coroutine is not on the stack, and the time is time it awaited.
            if awaiting is not None:
                kept.append((list(awaiting), seconds))
            continue
        cleaned: list[str] = []
        after_ours = False
        for info in stack[start:]:
            kind = _kind(info)
            if kind == _OURS:
                after_ours = True
                continue
            if after_ours and kind == _PROFILER:
                break
            after_ours = False
            cleaned.append(info)
        if cleaned:
            kept.append((cleaned, seconds))
    return kept


# -- the backend ------------------------------------------------------------------------


class _Call:
    """The token of one sampled call or block."""

    __slots__ = ("anchor", "base", "previous", "profiler", "running", "thread")

    def __init__(self, anchor: str | None, base: int) -> None:
        self.anchor = anchor
        self.base = base
        self.thread = _get_ident()
        self.running = True
        self.profiler: Any = None
        self.previous: Any = None


class _ThreadUse(threading.local):
    #: Our measurements sampling this thread now (concurrent tasks share the thread's hook).
    count = 0


_use = _ThreadUse()


def _take_hook() -> str | None:
    """Claim the thread's profile hook for the first of our measurements on it; ``None`` or why not."""
    if _use.count == 0:
        reason = _claim(TOOL)
        if reason is not None:
            return reason
    _use.count += 1
    return None


def _give_hook() -> None:
    _use.count -= 1
    if _use.count == 0:
        _release(TOOL)


def _depth(frame: Any) -> int:
    """The index of ``frame`` in a pyinstrument stack of its thread (the thread itself is 0)."""
    depth = 0
    while frame is not None:
        depth += 1
        frame = frame.f_back
    return depth


def _target_anchor(target: Callable[..., Any]) -> str | None:
    """The frame identifier the profiled call of ``target`` runs under (``None``: unknown)."""
    call_method = None
    if not inspect.isroutine(target):  # a callable object: its class's __call__ runs
        owners = (klass.__dict__ for klass in type(target).__mro__)
        call_method = next((owner["__call__"] for owner in owners if "__call__" in owner), None)
    for candidate in (target, getattr(target, "func", None), call_method):
        code = getattr(candidate, "__code__", None)
        if code is not None:
            return code_identifier(code)
    return None


def _forget_inherited(outer: _Call) -> None:
    """In a task created while ``outer`` was sampling, forget that pyinstrument's async-aware mode
    names ``outer``'s profiler as this context's profiler (the copied context says so), so this
    task can be sampled on its own; ``outer`` then sees the task as other work it awaits."""
    from pyinstrument import stack_sampler

    holder = stack_sampler.active_profiler_context_var.get()
    if holder is not None and getattr(holder, "__self__", None) is outer.profiler:
        stack_sampler.active_profiler_context_var.set(None)


class PyinstrumentBackend(SampleBackend):
    """pyinstrument's ``Profiler`` around each call (or block)."""

    def __init__(self, target: Callable[..., Any] | None, probe: Probe, options: SampleOptions) -> None:
        Backend.__init__(self, target, probe)
        from pyinstrument import Profiler

        _locate_profiler_files()
        self._profiler_type = Profiler
        self.options = options
        self.anchor = None if target is None else _target_anchor(target)
        self.awaits = target is not None and inspect.iscoroutinefunction(target)
        # Sync functions and generators never await while they run: pyinstrument's async mode
        # (which would refuse to start in a thread whose context names another profiler) is off.
        self.async_mode: Literal["enabled", "disabled"] = "disabled" if target is not None and not (
            inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target)
        ) else "enabled"
        self.aggregated = probe.aggregating

    # -- one call -----------------------------------------------------------

    def begin(self) -> Any:
        """Start sampling this thread (or say why not; ``SUPPRESS`` inside an outer measurement)."""
        active = ACTIVE.get()
        if active is not None:
            if active.running and active.thread == _get_ident():
                return SUPPRESS
            if self.async_mode == "enabled" and active.__class__ is _Call:
                _forget_inherited(active)
        reason = _take_hook()
        if reason is not None:
            return Skip(reason)
        # The user's frame the measured code runs under: the caller of a decorated callable, or the
        # function holding a ``with`` block (the stack base the samples are cut at).
        caller: Any = user_frame()
        if self.target is None:  # a block: the tree starts at that function
            call = _Call(None if caller is None else code_identifier(caller.f_code), _depth(caller))
        else:
            call = _Call(self.anchor, _depth(caller))
        profiler = call.profiler = self._profiler_type(interval=self.options.interval, async_mode=self.async_mode)
        call.previous = active
        ACTIVE.set(call)
        try:
            profiler.start(caller_frame=caller, target_description=self.probe.name)
        except RuntimeError as exc:  # an async-aware pyinstrument profiler already runs in this context
            call.running = False
            ACTIVE.set(active)
            _give_hook()
            return Skip(f"pyinstrument refused to start: {exc}")
        return call

    def pause(self, token: Any, suspended: Any = None) -> None:
        """A generator or coroutine is suspended: calls in between are not nested in it."""
        token.running = False

    def resume(self, token: Any) -> None:
        """The generator or coroutine runs again."""
        token.running = True

    def end(self, token: Any, error: BaseException | None) -> Any:
        """Stop sampling (first) and hand over the cleaned session (or, to aggregate, the samples)."""
        if token.thread != _get_ident():
            # pyinstrument's hook belongs to the thread that started it; it cannot be stopped from here
            token.running = False
            return Skip("finished on another thread than it started on; the samples are lost")
        raw = token.profiler.stop()
        token.running = False
        if ACTIVE.get() is token:
            ACTIVE.set(token.previous)
        token.previous = None
        _give_hook()
        samples = Samples(self.options.interval)
        samples.entries = clean_samples(raw.frame_records, token.anchor, token.base, self.awaits)
        samples.converted = True
        samples.ticks = len(samples.entries)
        samples.calls = 1
        samples.duration = raw.duration
        samples.cpu = raw.cpu_time
        samples.start_time = raw.start_time
        samples.clocks = {"pyinstrument"}
        return samples if self.aggregated else self.finish(samples)
