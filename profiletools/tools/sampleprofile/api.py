"""``sampleprofile``: statistical profiling of a call or a block with pyinstrument.

pyinstrument (the optional ``sample`` extra) looks at the call
stack of the profiled thread every ``interval`` seconds and records where the
time went; the record carries the resulting ``pyinstrument.session.Session``
and shows it as a call tree with time shares.

How a profile is taken
----------------------

The backend starts a ``pyinstrument.Profiler`` right before the user's code
and stops it right after. Every sample is a stack from the thread's first
frame down to the running one; before the session reaches the record each
sample is cut to start at the profiled function (or, for a block, the
function holding the ``with``), profiletools' own frames are spliced out, and
samples of the profiler switching itself on and off are dropped, so the tree,
the HTML page, the speedscope file and the session file all show the user's
code alone.

pyinstrument takes a sample at the first call or return after each interval:
it hooks every call and return of the thread (with ``sys.setprofile``'s C
interface), so its cost grows with the number of calls the code makes, not
with the sampling rate (measured in benchmarks/bench_sampleprofile.py: a
10 ms interval costs the same as 1 ms; on 3.11 any profile function also
takes the interpreter off its fast path for all code).

Coroutines, generators, nesting and threads
-------------------------------------------

* Coroutines are sampled in pyinstrument's async mode: while the coroutine
  awaits, the time goes to an ``[await]`` entry under it, and whatever other
  tasks run meanwhile is not in the profile. (The machinery drives a
  coroutine step by step, which hides from pyinstrument *where* it awaits;
  ``async with sampleprofile():`` blocks keep that detail.)
* Generators and async generators are sampled from the first step to the
  end, and only samples taken while the generator itself runs are kept; the
  consumer's work between two steps is not in the profile (nor is the time
  an async generator awaits inside a step: it cannot be told apart from the
  consumer's awaits).
* A profiled call or block starting inside another ``sampleprofile``
  measurement in the same thread (recursion, nested decorated functions)
  makes no record: its time is in the outer profile. Each thread samples
  only itself, so calls on different threads are profiled independently.
* The one-profiler rule (:mod:`profiletools.core.profiler_slot`): pyinstrument
  installs a per-thread profile function (the legacy ``sys.setprofile``
  hook). On Python 3.11 ``cProfile`` uses that same hook, so ``sampleprofile``
  and ``profileit`` cannot run at once in one thread (whichever comes second
  runs unprofiled and its record says why in ``skipped``); ``lineprofile``
  uses ``sys.settrace`` and coexists. On 3.12+ ``cProfile`` and
  ``line_profiler`` use ``sys.monitoring`` and coexist with
  ``sampleprofile``. A foreign ``sys.setprofile`` function (another
  profiler, ``pyinstrument`` run from the command line) makes
  ``sampleprofile`` step aside on both versions.
"""

from __future__ import annotations

import contextvars
import inspect
import json
import math
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, Literal, NamedTuple, overload

from profiletools.core import profiler_slot, settings
from profiletools.core.backend import SUPPRESS, Backend, Skip
from profiletools.core.frames import is_own_file, user_frame
from profiletools.core.machinery import F, Probe, make_probe, split_target
from profiletools.core.records import Record, format_seconds

if TYPE_CHECKING:
    from pyinstrument.frame import Frame
    from pyinstrument.session import Session

TOOL = "sampleprofile"

# pyinstrument hooks in with the per-thread profile function on every Python
# version (measured: on 3.12 it coexists with cProfile and line_profiler,
# which use sys.monitoring; on 3.11 it displaces cProfile and cProfile it).

_get_ident = threading.get_ident
_claim = profiler_slot.claim
_release = profiler_slot.release

#: One sample: the stack (frame descriptions, outermost first) and the seconds it stands for.
Sample = tuple[list[str], float]


def require_pyinstrument() -> Any:
    """The ``pyinstrument`` module, or an ``ImportError`` that names the extra to install."""
    try:
        import pyinstrument
    except ImportError as exc:
        from profiletools.core.extras import install_hint

        hint = install_hint("sample")
        raise ImportError(f"sampleprofile() needs pyinstrument, which is not installed: {hint}") from exc
    return pyinstrument


# -- options ------------------------------------------------------------------------------


class SampleOptions(NamedTuple):
    """How samples are taken and the tree is trimmed (``sampleprofile``'s arguments)."""

    interval: float = 0.001
    min_share: float = 0.01


def sample_options(interval: object, min_share: object) -> SampleOptions:
    """Validate ``interval`` and ``min_share``; errors name the argument and what is allowed."""
    for argument, value in (("interval", interval), ("min_share", min_share)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"sampleprofile(): {argument}= must be a number; got {type(value).__name__} {value!r:.60}")
    if not (math.isfinite(interval) and interval > 0):  # type: ignore[arg-type,operator]
        raise ValueError(f"sampleprofile(): interval= is seconds between samples and must be > 0; got {interval}")
    if not 0.0 <= min_share < 1.0:  # type: ignore[operator]
        raise ValueError(
            "sampleprofile(): min_share= is the smallest share of the total time a frame needs to be "
            f"shown in the text summary, from 0 (show all) up to but not including 1; got {min_share}"
        )
    return SampleOptions(float(interval), float(min_share))  # type: ignore[arg-type]


# -- cleaning the samples ------------------------------------------------------------------

_USER, _OURS, _PROFILER = 0, 1, 2
#: pyinstrument's entry for time spent awaiting (the leaf of an awaiting coroutine's stack).
AWAIT = "[await]"
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


def make_session(raw: Session, samples: list[Sample], root: str | None) -> Session:
    """A session like ``raw`` holding ``samples`` (the renderers trim their tree at ``root``)."""
    from pyinstrument.session import Session

    if samples:
        root = samples[0][0][0]
    return Session(
        frame_records=samples,
        start_time=raw.start_time,
        duration=raw.duration,
        min_interval=raw.min_interval,
        max_interval=raw.max_interval,
        sample_count=len(samples),
        start_call_stack=[root or "[root]"],
        target_description=raw.target_description,
        cpu_time=raw.cpu_time,
        sys_path=list(raw.sys_path),
        sys_prefixes=raw.sys_prefixes,
    )


# -- reading a session -------------------------------------------------------------------------


def _processed_root(session: Session, processors_in_order: Iterable[Any], min_share: float) -> Frame | None:
    frame = session.root_frame()
    options = {"filter_threshold": min_share}
    for processor in processors_in_order:
        frame = processor(frame, options=options)
    return frame


def merged_root(session: Session) -> Frame | None:
    """The session's call tree, repeated calls from one caller merged into one node (nothing hidden)."""
    from pyinstrument import processors

    return _processed_root(session, (processors.merge_consecutive_self_time, processors.aggregate_repeated_calls), 0.0)


def _trimmed_root(session: Session, min_share: float) -> Frame | None:
    """The session's call tree, trimmed as the text summary shows it."""
    from pyinstrument import processors

    return _processed_root(session, (
        processors.remove_importlib,
        processors.remove_tracebackhide,
        processors.merge_consecutive_self_time,
        processors.aggregate_repeated_calls,
        processors.remove_irrelevant_nodes,
        processors.remove_unnecessary_self_time_nodes,
    ), min_share)


def _label(frame: Frame) -> str:
    name = frame.function
    if frame.class_name:
        name = f"{frame.class_name}.{name}"
    where = frame.code_position_short() if not frame.is_synthetic else None
    return f"{name}  {where}" if where else name


def _tree_lines(frame: Frame, total: float, prefix: str, child_prefix: str, lines: list[str]) -> None:
    share = frame.time / total * 100 if total > 0 else 100.0
    lines.append(f"{share:5.1f}%  {format_seconds(frame.time):>9}  {prefix}{_label(frame)}")
    children = frame.children
    for position, child in enumerate(children):
        last = position == len(children) - 1
        _tree_lines(
            child, total, child_prefix + ("└─ " if last else "├─ "), child_prefix + ("   " if last else "│  "), lines,
        )


def _tree_dict(frame: Frame, total: float) -> dict[str, Any]:
    return {
        "function": frame.function,
        "class": frame.class_name,
        "file": frame.file_path,
        "line": frame.line_no,
        "time": frame.time,
        "share": frame.time / total if total > 0 else 1.0,
        "children": [_tree_dict(child, total) for child in frame.children],
    }


def _key(identifier: str) -> tuple[str, int, str]:
    """A pstats-like key ``(file, first line, function)`` for a pyinstrument frame identifier."""
    parts = identifier.split("\x00")
    if len(parts) < 3:
        return ("~", 0, identifier)
    return (parts[1], int(parts[2]) if parts[2].isdigit() else 0, parts[0])


def function_times(session: Session) -> dict[tuple[str, int, str], tuple[float, float]]:
    """Per function: ``(self seconds, total seconds)`` over the samples.

    Keys are ``(file, first line, function)`` as in pstats (built-ins and
    ``[await]`` get the file ``<built-in>`` or ``~``). A function on the stack
    twice (recursion) counts once per sample in its total.
    """
    times: dict[tuple[str, int, str], list[float]] = {}
    for stack, seconds in session.frame_records:
        seen = set()
        for info in stack:
            key = _key(_identifier(info))
            if key in seen:
                continue
            seen.add(key)
            times.setdefault(key, [0.0, 0.0])[1] += seconds
        times[_key(_identifier(stack[-1]))][0] += seconds
    return {key: (own, total) for key, (own, total) in times.items()}


# -- the record ------------------------------------------------------------------------


class SampleRecord(Record):
    """The record of ``sampleprofile``: ``payload`` (also ``session``) is a pyinstrument ``Session``.

    ``session`` is ``None`` when the call ran unsampled; ``skipped`` says why.
    """

    __slots__ = ()

    @property
    def session(self) -> Session | None:
        """The pyinstrument session (``Session.save``/``load``, any pyinstrument renderer)."""
        return self.payload  # type: ignore[no-any-return]

    @property
    def root(self) -> Frame | None:
        """The call tree (a pyinstrument ``Frame``: ``function``, ``time``, ``children``...), or ``None``.

        Nothing is hidden; the calls of one function from one caller are merged into one node.
        """
        session = self.payload
        return None if session is None else merged_root(session)

    @property
    def min_share(self) -> float:
        """The smallest share of the total a frame needs to be shown in ``text()``."""
        default: float = SampleOptions._field_defaults["min_share"]  # a file's session has no attribute
        return getattr(self.payload, "profiletools_min_share", default)

    def function_times(self) -> dict[tuple[str, int, str], tuple[float, float]]:
        """Per function ``(self seconds, total seconds)``; see :func:`function_times`."""
        return {} if self.payload is None else function_times(self.payload)

    def hottest(self, count: int = 3) -> list[tuple[str, int, str]]:
        """The ``count`` functions with the most self time, hottest first."""
        times = self.function_times()
        return sorted(times, key=lambda key: times[key][0], reverse=True)[:count]

    def text(self) -> str:
        """The headline with the sample count, then the trimmed call tree with time shares."""
        session = self.payload
        if session is None:
            return self.headline()
        first = (
            f"{self.headline()}: {session.sample_count:,} samples every {format_seconds(session.min_interval)}"
        )
        root = _trimmed_root(session, self.min_share)
        if root is None:
            return first + ", no samples recorded"
        lines = [first + f", {format_seconds(root.time)} sampled"]
        _tree_lines(root, root.time, "", "", lines)
        if self.min_share > 0:
            lines.append(f"(frames under {self.min_share:.1%} of the total are hidden)")
        return "\n".join(lines)

    def payload_dict(self) -> dict[str, Any] | None:
        """Sample count, interval and the trimmed tree as JSON-ready data."""
        session = self.payload
        if session is None:
            return None
        root = _trimmed_root(session, self.min_share)
        return {
            "samples": session.sample_count,
            "interval": session.min_interval,
            "duration": session.duration,
            "sampled": 0.0 if root is None else root.time,
            "tree": None if root is None else _tree_dict(root, root.time),
        }

    def dump_suffix(self) -> str:
        """``.pyisession``: pyinstrument's session file (``pyinstrument --load``, ``Session.load``)."""
        return ".pyisession"

    def write_dump(self, stream: IO[bytes]) -> None:
        """Write the session as ``Session.save`` does."""
        stream.write(json.dumps(self._session_or_fail().to_json()).encode("utf-8"))

    def write_html(self, stream: IO[bytes]) -> None:
        """Write pyinstrument's interactive HTML page (self-contained: opens offline)."""
        from pyinstrument.renderers import HTMLRenderer

        stream.write(HTMLRenderer().render(self._session_or_fail()).encode("utf-8"))

    def write_speedscope(self, stream: IO[bytes]) -> None:
        """Write the profile in speedscope's JSON format (https://www.speedscope.app)."""
        from pyinstrument.renderers import SpeedscopeRenderer

        stream.write(SpeedscopeRenderer().render(self._session_or_fail()).encode("utf-8"))

    def dump_files(self) -> list[tuple[str, Callable[[IO[bytes]], None]]]:
        """Speedscope JSON, the HTML page and the session file; none when the call was not sampled."""
        if self.payload is None:
            return []
        return [
            (".speedscope.json", self.write_speedscope), (".html", self.write_html), (".pyisession", self.write_dump),
        ]

    def _session_or_fail(self) -> Session:
        if self.payload is None:
            raise ValueError("this call was not sampled; there is no profile to write")
        return self.payload  # type: ignore[no-any-return]


# -- the backend ------------------------------------------------------------------------


class _Call:
    """The token of one sampled call or block."""

    __slots__ = ("anchor", "base", "live", "profiler", "running", "thread")

    def __init__(self, anchor: str | None, base: int) -> None:
        self.anchor = anchor
        self.base = base
        self.thread = _get_ident()
        self.live = True
        self.running = True
        self.profiler: Any = None


#: The measurement running in this context (its thread checked too: ``asyncio.to_thread`` copies contexts).
_active: contextvars.ContextVar[_Call | None] = contextvars.ContextVar("profiletools-sampleprofile", default=None)


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


class _Samples:
    """An aggregate (``aggregate=True``): the stacks of its calls merged, with pyinstrument's figures summed."""

    __slots__ = ("cpu", "duration", "first", "max_interval", "min_interval", "root", "sample_count", "samples")

    def __init__(self, first: Session, root: str | None) -> None:
        self.samples: dict[tuple[str, ...], float] = {}
        self.first = first
        self.root = root
        self.duration = 0.0
        self.cpu = 0.0
        self.sample_count = 0
        self.min_interval = math.inf
        self.max_interval = 0.0


class SampleBackend(Backend):
    """pyinstrument around each call (or block)."""

    tool = TOOL
    record_type = SampleRecord
    not_measured = "not sampled"
    aggregate_skipped = "{skipped} of {calls} calls unsampled: {reason}"

    def __init__(self, target: Callable[..., Any] | None, probe: Probe, options: SampleOptions) -> None:
        super().__init__(target, probe)
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
        active = _active.get()
        if active is not None:
            if active.live and active.running and active.thread == _get_ident():
                return SUPPRESS
            if self.async_mode == "enabled":
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
        _active.set(call)
        try:
            profiler.start(caller_frame=caller, target_description=self.probe.name)
        except RuntimeError as exc:  # an async-aware pyinstrument profiler already runs in this context
            call.live = False
            _active.set(None)
            _give_hook()
            return Skip(f"pyinstrument refused to start: {exc}")
        return call

    def pause(self, token: Any) -> None:
        """A generator or coroutine is suspended: calls in between are not nested in it."""
        token.running = False

    def resume(self, token: Any) -> None:
        """The generator or coroutine runs again."""
        token.running = True

    def end(self, token: Any, error: BaseException | None) -> Any:
        """Stop sampling (first) and hand over the cleaned session (or, to aggregate, the samples)."""
        if token.thread != _get_ident():
            # pyinstrument's hook belongs to the thread that started it; it cannot be stopped from here
            token.live = False
            return Skip("finished on another thread than it started on; the samples are lost")
        raw = token.profiler.stop()
        token.live = False
        if _active.get() is token:
            _active.set(None)
        _give_hook()
        samples = clean_samples(raw.frame_records, token.anchor, token.base, self.awaits)
        if self.aggregated:
            return raw, samples, token.anchor
        session = make_session(raw, samples, token.anchor)
        session.profiletools_min_share = self.options.min_share  # type: ignore[attr-defined]
        return session

    # -- aggregate ---------------------------------------------------------

    def merge(self, aggregate: _Samples | None, payload: tuple[Session, list[Sample], str | None]) -> _Samples:
        """Add one call's samples (stacks merged) and pyinstrument's figures."""
        raw, samples, anchor = payload
        if aggregate is None:
            aggregate = _Samples(raw, anchor)
        merged = aggregate.samples
        for stack, seconds in samples:
            key = tuple(stack)
            merged[key] = merged.get(key, 0.0) + seconds
        aggregate.duration += raw.duration
        aggregate.cpu += raw.cpu_time
        aggregate.sample_count += len(samples)
        aggregate.min_interval = min(aggregate.min_interval, raw.min_interval)
        aggregate.max_interval = max(aggregate.max_interval, raw.max_interval)
        return aggregate

    def finish(self, aggregate: _Samples) -> Session:
        """One pyinstrument session of all the aggregate's samples."""
        from pyinstrument.session import Session

        first = aggregate.first
        samples = [(list(stack), seconds) for stack, seconds in sorted(aggregate.samples.items())]
        session = Session(
            frame_records=samples,
            start_time=first.start_time,
            duration=aggregate.duration,
            min_interval=aggregate.min_interval,
            max_interval=aggregate.max_interval,
            sample_count=aggregate.sample_count,
            start_call_stack=[samples[0][0][0] if samples else aggregate.root or "[root]"],
            target_description=first.target_description,
            cpu_time=aggregate.cpu,
            sys_path=list(first.sys_path),
            sys_prefixes=first.sys_prefixes,
        )
        session.profiletools_min_share = self.options.min_share  # type: ignore[attr-defined]
        return session


@dataclass(frozen=True)
class _Factory:
    """Makes a probe's backend; equal for equal options (inline aggregate blocks share one aggregate)."""

    options: SampleOptions

    def __call__(self, target: Callable[..., Any] | None, probe: Probe) -> Backend:
        return SampleBackend(target, probe, self.options)


# -- the public function ------------------------------------------------------------------


@overload
def sampleprofile(target: F, /) -> F: ...
@overload
def sampleprofile(
    target: str | None = None,
    /,
    *,
    name: str | None = None,
    interval: float = 0.001,
    min_share: float = 0.01,
    aggregate: bool = False,
    reporters: Any = None,
    enabled: bool | Callable[[], object] = True,
    every: int = 1,
    cpu: bool = True,
) -> Probe: ...


def sampleprofile(
    target: Any = None,
    /,
    *,
    name: str | None = None,
    interval: float = 0.001,
    min_share: float = 0.01,
    aggregate: bool = False,
    reporters: Any = None,
    enabled: bool | Callable[[], object] = True,
    every: int = 1,
    cpu: bool = True,
) -> Any:
    """Sample the call stack during each call (or block) with pyinstrument; report the call tree.

    Use it bare (``@sampleprofile``), named (``@sampleprofile("ingest")``),
    with options, or as a block (``with sampleprofile("batch") as s: ...``
    then ``s.record``). The record's ``session`` (its payload) is a
    pyinstrument ``Session`` holding the user's frames only; its text is the
    call tree with time shares; ``Dump`` writes speedscope JSON, pyinstrument's
    HTML page and the ``.pyisession`` file. Needs pyinstrument (the ``sample`` extra).

    - ``interval``: seconds between samples (pyinstrument's default 0.001).
    - ``min_share``: frames with less than this share of the total time are
      left out of the text summary and the JSON tree (the files keep all).
    - ``aggregate``: one profile over all calls, reported on ``flush()`` (of
      the decorated function or ``profiletools.flush()``) and at exit.
    - ``name``, ``reporters``, ``enabled``, ``every``, ``cpu``: as for ``timed``.

    Coroutines are sampled async-aware: time spent awaiting is shown as
    ``[await]`` under the coroutine, and other tasks do not appear.
    Calls nested inside a running ``sampleprofile`` make no record of their
    own. A call that finds the profile hook held by another profiler runs
    unsampled; its record's ``skipped`` says why.

    >>> import time
    >>> from profiletools import reporters
    >>> seen = reporters.Collect()
    >>> @sampleprofile(reporters=[seen])
    ... def nap(seconds):
    ...     time.sleep(seconds)
    ...     return seconds
    >>> nap(0.005)
    0.005
    >>> root = seen.records[0].root
    >>> root.function, [child.function for child in root.children]
    ('nap', ['sleep'])
    """
    func, given_name = split_target(TOOL, target, name)
    options = sample_options(interval, min_share)
    probe = make_probe(
        TOOL, _Factory(options), name=given_name, reporters=reporters, enabled=enabled, every=every, cpu=cpu,
        aggregate=aggregate,
    )
    if settings.STATE.enabled_at_import:
        require_pyinstrument()
    return probe if func is None else probe(func)


__all__ = [
    "SampleBackend",
    "SampleOptions",
    "SampleRecord",
    "clean_samples",
    "function_times",
    "sampleprofile",
]
