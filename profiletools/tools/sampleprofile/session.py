"""Samples as a pyinstrument ``Session``: the call tree text, HTML page, speedscope and session files stay.

pyinstrument 5 keeps a profile as *frame records*, ``(stack, seconds)`` with
the stack listed from the root, each frame a string::

    "<function>\\x00<file>\\x00<first line>" + attributes

where each attribute is ``"\\x01"`` and a letter: ``c<class>``, ``l<line>``,
``h1`` (the code hides itself from tracebacks). Its tree, renderers and file
format work on these alone, so samples taken by :mod:`.clock` become a real
``pyinstrument.session.Session`` and everything pyinstrument shows or saves
works unchanged (``pyinstrument --load`` reads the ``.pyisession`` file).

Names and lines are worked out after the call from the ``(code, offset)``
pairs a tick kept, with three differences from pyinstrument's own capture:

* the class of a method comes from its qualified name when its first
  parameter is ``self`` or ``cls`` (the class that defines it, where
  pyinstrument shows the class of the instance): reading ``self`` from a
  running frame would copy its locals and keep them alive longer;
* a C function shows only as the leaf, named from the call instruction the
  leaf frame stands at (``time.sleep(x)`` shows as ``sleep``);
* time a coroutine spends suspended ends in ``[await]`` under the innermost
  frame it waits in (``sleep`` of asyncio), as pyinstrument's blocks show it.

profiletools' own frames are spliced out of every stack.
"""

from __future__ import annotations

import bisect
import dis
import sys
import time
from types import CodeType
from typing import TYPE_CHECKING, Any

from profiletools.tools.sampleprofile.capture import Site
from profiletools.tools.sampleprofile.sampler import is_own

if TYPE_CHECKING:
    from pyinstrument.session import Session

    from profiletools.tools.sampleprofile.capture import Measurement

#: pyinstrument's leaf for time spent suspended.
AWAIT = "[await]"
#: A call that ran for fewer intervals than this gets a note instead of passing for a profile.
SHORT_CALL_INTERVALS = 5

#: One frame record: the stack of frame strings, root first, and its seconds.
Record = tuple[list[str], float]

_CALLS = frozenset({
    "CALL", "CALL_KW", "CALL_FUNCTION", "CALL_FUNCTION_KW", "CALL_FUNCTION_EX", "CALL_METHOD", "PRECALL",
})
_SKIPPED = frozenset({"KW_NAMES", "NOP", "EXTENDED_ARG", "CACHE"})
#: Caches hold this many code objects at most (then start over).
_CACHE_LIMIT = 50_000


class _Code:
    """What is known of one code object: whose it is, its frame string, its line table, names at offsets."""

    __slots__ = ("callees", "code", "infos", "lines", "own", "prefix", "starts")

    def __init__(self, code: CodeType) -> None:
        self.code = code
        self.own = is_own(code.co_filename)
        self.prefix = _prefix(code)
        self.infos: dict[int, str] = {}
        self.callees: dict[int, str | None] = {}
        self.starts: list[int] = []
        self.lines: list[int] = []
        for start, _end, line in code.co_lines():
            self.starts.append(start)
            self.lines.append(-1 if line is None else line)


# Keyed by id(code) with the code kept to check identity: hashing a code object hashes its
# bytecode and constants, which made the conversion cost ~25 µs per sample.
_codes: dict[int, _Code] = {}


def _known(code: CodeType) -> _Code:
    known = _codes.get(id(code))
    if known is None or known.code is not code:
        if len(_codes) >= _CACHE_LIMIT:
            _codes.clear()
        known = _codes[id(code)] = _Code(code)
    return known


def _prefix(code: CodeType) -> str:
    """The frame string's identifier and its attributes that do not depend on the line."""
    prefix = f"{code.co_name}\x00{code.co_filename}\x00{code.co_firstlineno}"
    qualname: str = getattr(code, "co_qualname", "")  # 3.11+
    parts = qualname.split(".")
    first = code.co_varnames[0] if code.co_argcount and code.co_varnames else None
    if first in ("self", "cls") and len(parts) >= 2 and parts[-2] != "<locals>":
        prefix += f"\x01c{parts[-2]}"
    if "__tracebackhide__" in code.co_varnames or "__tracebackhide__" in code.co_cellvars:
        prefix += "\x01h1"
    return prefix


def line_of(code: CodeType, offset: int) -> int | None:
    """The source line of the instruction at byte ``offset`` of ``code`` (what ``f_lineno`` says there)."""
    known = _known(code)
    index = bisect.bisect_right(known.starts, max(offset, 0)) - 1
    if index < 0:
        return code.co_firstlineno
    line = known.lines[index]
    return None if line < 0 else line


def frame_info(site: Site) -> str:
    """pyinstrument's string for a frame of ``code`` standing at ``offset``."""
    code, offset = site
    known = _known(code)
    info = known.infos.get(offset)
    if info is None:
        line = line_of(code, offset)
        info = known.infos[offset] = known.prefix if line is None else f"{known.prefix}\x01l{line}"
    return info


def callee(code: CodeType, offset: int) -> str | None:
    """The name of what the call instruction at ``offset`` calls (``time.sleep(x)``: ``sleep``), or ``None``.

    Asked of a sample's leaf frame only: a leaf standing at a call is in a C
    function (a Python callee would be the leaf itself). The instruction that
    put the callable on the stack is found by walking back over the
    arguments' stack effects; a call whose callable is computed
    (``funcs[0](x)``) has no name.
    """
    known = _known(code)
    if offset in known.callees:
        return known.callees[offset]
    name: str | None = None
    try:
        name = _callee(code, offset)
    except Exception:  # noqa: BLE001 - a name is a nicety; a bytecode this does not know gets none
        name = None
    known.callees[offset] = name
    return name


def _callee(code: CodeType, offset: int) -> str | None:
    instructions = [i for i in dis.get_instructions(code) if i.opname != "CACHE"]
    at = bisect.bisect_right([i.offset for i in instructions], offset) - 1
    if at < 0 or instructions[at].opname not in _CALLS:
        return None
    call = instructions[at]
    if call.opname == "PRECALL" and at + 1 < len(instructions):  # 3.11: PRECALL then CALL, one call
        call = instructions[at + 1]
    elif call.opname == "CALL" and at > 0 and instructions[at - 1].opname == "PRECALL":
        at -= 1
    # the items above the callable's slot: the arguments (and the tuple of keyword names)
    above = call.arg or 0
    if call.opname == "CALL_FUNCTION_EX":
        above = 1 + ((call.arg or 0) & 1)
    elif call.opname in ("CALL_KW", "CALL_FUNCTION_KW"):
        above += 1
    depth = 0
    for instruction in reversed(instructions[:at]):
        if instruction.opname in _SKIPPED:
            continue
        if instruction.is_jump_target and depth != above:
            return None  # control flow inside the arguments
        if depth == above:
            if instruction.opname == "PUSH_NULL":  # 3.13: [callable, NULL, args...]
                above += 1
            else:
                argval = instruction.argval
                return argval if isinstance(argval, str) and instruction.opname.startswith("LOAD") else None
        if instruction.opcode >= dis.HAVE_ARGUMENT:
            depth += dis.stack_effect(instruction.opcode, instruction.arg, jump=False)
        else:
            depth += dis.stack_effect(instruction.opcode)
        if depth > above:
            return None
    return None


def stack_strings(leaf_first: list[Site]) -> list[str]:
    """A sampled stack as pyinstrument frame strings, root first, without profiletools' frames.

    A leaf standing at a call gets the C function it is in as a leaf of its
    own (unless the leaf is profiletools' frame: then the time was ours, and
    stays with the user's frame that called it).
    """
    strings: list[str] = []
    append = strings.append
    for code, offset in reversed(leaf_first):
        known = _codes.get(id(code))
        if known is None or known.code is not code:
            known = _known(code)
        if known.own:
            continue
        info = known.infos.get(offset)
        append(info if info is not None else frame_info((code, offset)))
    if strings:
        code, offset = leaf_first[0]
        if not _known(code).own:
            name = callee(code, offset)
            if name is not None:
                append(f"{name}\x00<built-in>\x000")
    return strings


def wait_strings(outermost_first: tuple[Site, ...]) -> list[str]:
    """Where a coroutine waited, as frame strings ending in ``[await]``."""
    return [frame_info(site) for site in outermost_first if not _known(site[0]).own] + [AWAIT]


class Samples:
    """One call's samples as frame records (in the order taken), or many calls' merged, with their figures."""

    __slots__ = (
        "awaited", "calls", "clocks", "count", "cpu", "duration", "fallback", "interval", "lost", "merged", "records",
        "start_time",
    )

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.records: list[Record] = []
        #: An aggregate's records: each distinct stack once, its seconds summed.
        self.merged: dict[tuple[str, ...], float] | None = None
        self.count = 0
        self.lost = 0
        self.calls = 0
        self.duration = 0.0
        self.awaited = 0.0
        self.cpu = 0.0
        self.start_time = 0.0
        self.clocks: set[str] = set()
        self.fallback: str | None = None

    def add(self, other: Samples) -> None:
        """Fold ``other`` in (an aggregate: stacks merged, figures summed)."""
        merged = self.merged
        if merged is None:
            merged = self.merged = {}
            self.start_time = other.start_time
            for stack, seconds in self.records:
                key = tuple(stack)
                merged[key] = merged.get(key, 0.0) + seconds
            self.records = []
        for stack, seconds in other.records:
            key = tuple(stack)
            merged[key] = merged.get(key, 0.0) + seconds
        self.count += other.count
        self.lost += other.lost
        self.calls += other.calls
        self.duration += other.duration
        self.awaited += other.awaited
        self.cpu += other.cpu
        self.clocks |= other.clocks
        self.fallback = self.fallback or other.fallback

    def session(self, description: str) -> Session:
        """A pyinstrument session of these samples, carrying the effective interval and the short-call note."""
        from pyinstrument.session import Session

        records = self.records if self.merged is None else [(list(k), s) for k, s in sorted(self.merged.items())]
        session = Session(
            frame_records=records,
            start_time=self.start_time,
            duration=self.duration,
            min_interval=self.interval,
            max_interval=self.interval,
            sample_count=self.count,
            start_call_stack=[records[0][0][0]] if records and records[0][0] else ["[root]"],
            target_description=description,
            cpu_time=self.cpu,
            sys_path=list(sys.path),
            sys_prefixes=Session.current_sys_prefixes(),
        )
        running = self.duration - self.awaited
        session.profiletools_effective_interval = running / self.count if self.count else None  # type: ignore[attr-defined]
        session.profiletools_note = self.note(running)  # type: ignore[attr-defined]
        session.profiletools_clocks = sorted(self.clocks)  # type: ignore[attr-defined]
        return session

    def note(self, running: float) -> str | None:
        """Why these samples are not a profile, or ``None``."""
        interval = self.interval
        calls = f" over {self.calls:,} calls" if self.calls > 1 else ""
        if running < SHORT_CALL_INTERVALS * interval:
            return (
                f"ran {_ms(running)}{calls}, shorter than {SHORT_CALL_INTERVALS} intervals of {_ms(interval)}: "
                f"{self.count} samples are not a profile"
            )
        if self.count < SHORT_CALL_INTERVALS:
            return f"only {self.count} samples in {_ms(running)}{calls}: too few for a profile"
        return None


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3g} ms"


def samples_of(m: Measurement) -> Samples:
    """The samples of a finished measurement as frame records (profiletools' frames spliced out)."""
    samples = Samples(m.interval)
    records = samples.records
    dropped = 0
    for stack, seconds in m.samples:
        if stack.__class__ is tuple:
            records.append((wait_strings(stack), seconds))
            continue
        strings = stack_strings(stack)
        if strings:
            records.append((strings, seconds))
        else:  # the tick found only profiletools' frames: our time, not the user's
            dropped += 1
    samples.count = m.ticks - m.lost - dropped
    samples.lost = m.lost + dropped
    samples.calls = 1
    samples.duration = m.t1 - m.t0
    samples.awaited = m.awaited
    samples.cpu = m.cpu
    samples.start_time = time.time() - (m.t1 - m.t0)
    samples.clocks = m.clocks
    samples.fallback = m.fallback
    return samples


def effective_interval(session: Any) -> float | None:
    """Running seconds per sample: what the clock achieved (the interval asked for is ``min_interval``)."""
    found = getattr(session, "profiletools_effective_interval", ...)
    if found is not ...:
        return found  # type: ignore[no-any-return]
    if not session.sample_count:  # a session file: the running time is what was not spent awaiting
        return None
    awaited = sum(seconds for stack, seconds in session.frame_records if stack and stack[-1] == AWAIT)
    return max(session.duration - awaited, 0.0) / session.sample_count  # type: ignore[no-any-return]
