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
import builtins
import dis
import sys
import types
from time import time as _wall_clock
from types import CodeType
from typing import TYPE_CHECKING, Any

from profiletools.core.frames import BOOKKEEPING, USER_CALLERS, is_own_file
from profiletools.core.functions import qualname_of
from profiletools.core.records import format_seconds
from profiletools.tools.sampleprofile.capture import WAIT, Key, Site, settle

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

    __slots__ = ("bookkeeping", "callees", "code", "infos", "lines", "own", "prefix", "starts")

    def __init__(self, code: CodeType) -> None:
        self.code = code
        self.own = is_own_file(code.co_filename)
        self.bookkeeping = code in BOOKKEEPING
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
    # 3.10 has no co_qualname: the compiler's rule gives it from the source (once per code object)
    name, filename, first_line = code.co_name, code.co_filename, code.co_firstlineno
    qualname: str = getattr(code, "co_qualname", None) or qualname_of(filename, first_line, name)
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
    """The C function the call instruction at ``offset`` calls (``time.sleep(x)``: ``sleep``), or ``None``.

    Asked of a sample's leaf frame only: a leaf standing at a call is in a
    callable implemented in C (a Python callee would be the leaf itself).
    The name comes from the instruction that put the callable on the stack,
    found by walking back over the arguments' stack effects. Like cProfile
    and pyinstrument, only C *functions and methods* are named: a name no
    loaded C function or method has (a C object called, ``self.scan_once()``
    in ``json``), a class, or a computed callable (``funcs[0](x)``) leave the
    time to the calling frame.
    """
    known = _known(code)
    if offset in known.callees:
        return known.callees[offset]
    name: str | None = None
    try:
        found = _callee(code, offset)
        if found is not None and _is_c_function(*found):
            name = found[1]
    except Exception:  # noqa: BLE001 - a name is a nicety; a bytecode this does not know gets none
        name = None
    known.callees[offset] = name
    return name


def _callee(code: CodeType, offset: int) -> tuple[str, str, str | None] | None:
    """``(how it was loaded, name, the global it is an attribute of)`` of the callable called at ``offset``."""
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
    for index in range(at - 1, -1, -1):
        instruction = instructions[index]
        if instruction.opname in _SKIPPED:
            continue
        if instruction.is_jump_target and depth != above:
            return None  # control flow inside the arguments
        if depth == above:
            if instruction.opname == "PUSH_NULL":  # 3.13: [callable, NULL, args...]
                above += 1
            else:
                argval = instruction.argval
                if not isinstance(argval, str) or not instruction.opname.startswith("LOAD"):
                    return None
                owner = None
                if instruction.opname.startswith(("LOAD_ATTR", "LOAD_METHOD")):
                    before = instructions[index - 1] if index else None
                    if before is not None and before.opname in ("LOAD_GLOBAL", "LOAD_NAME"):
                        owner = str(before.argval)
                return instruction.opname, argval, owner
        if instruction.opcode >= dis.HAVE_ARGUMENT:
            depth += dis.stack_effect(instruction.opcode, instruction.arg, jump=False)
        else:
            depth += dis.stack_effect(instruction.opcode)
        if depth > above:
            return None
    return None


_BUILTIN_KINDS = (types.BuiltinFunctionType, types.MethodDescriptorType, types.ClassMethodDescriptorType)
#: Names of the C functions and methods of the process (modules' and types'), and the module count they are of.
_c_names: set[str] = set()
_c_names_of = -1


def _is_c_function(how: str, name: str, owner: str | None) -> bool:
    """Whether the callable loaded by ``how`` as ``name`` is (very likely) a C function or method."""
    if how in ("LOAD_GLOBAL", "LOAD_NAME"):
        found = builtins.__dict__.get(name)
        if found is not None:
            return isinstance(found, types.BuiltinFunctionType)
    elif owner is not None:
        module = sys.modules.get(owner)
        if isinstance(module, types.ModuleType):  # ``time.sleep``: look it up
            return isinstance(getattr(module, name, None), types.BuiltinFunctionType)
    if name not in _c_names and len(sys.modules) != _c_names_of:
        _find_c_names()
    return name in _c_names


def _find_c_names() -> None:
    """Collect the names of every C function of a loaded module and every method of a C type."""
    global _c_names_of
    _c_names_of = len(sys.modules)
    names = _c_names
    for module in list(sys.modules.values()):
        for value in list(getattr(module, "__dict__", {}).values()):
            if type(value) is types.BuiltinFunctionType:
                names.add(value.__name__)
    seen: set[type] = set()
    pending: list[type] = [object]
    while pending:
        klass = pending.pop()
        try:
            subclasses: list[type] = type.__subclasses__(klass)
        except TypeError:
            subclasses = []
        for subclass in subclasses:
            if subclass not in seen:
                seen.add(subclass)
                pending.append(subclass)
        for key, value in list(vars(klass).items()):
            if isinstance(value, _BUILTIN_KINDS):
                names.add(key)


def stack_strings(leaf_first: list[Site], target: str | None = None) -> list[str]:
    """A sampled stack as pyinstrument frame strings, root first, without profiletools' frames.

    A leaf standing at a call gets the C function it is in as a leaf of its
    own (unless the leaf is profiletools' frame: then the time was ours, and
    stays with the user's frame that called it). A stack that reaches a frame
    of ours beginning or ending the measurement
    (:data:`~profiletools.core.frames.BOOKKEEPING`) before any frame of the
    user's is no sample of a call: what runs there (a finalizer a collection
    set off) runs for us, and would be a second root beside the callable. (In
    a block, or under the user's frames, it shows where it ran.) ``target``:
    the frame string of a decorated callable that is not Python code (a
    built-in), for the samples taken while the machinery's frame calls it.
    """
    strings: list[str] = []
    append = strings.append
    for code, offset in reversed(leaf_first):
        known = _codes.get(id(code))
        if known is None or known.code is not code:
            known = _known(code)
        if known.own:
            if known.bookkeeping and not strings:
                return strings
            continue
        info = known.infos.get(offset)
        append(info if info is not None else frame_info((code, offset)))
    if strings:
        code, offset = leaf_first[0]
        if not _known(code).own:
            name = callee(code, offset)
            if name is not None:
                append(f"{name}\x00<built-in>\x000")
    elif target is not None and leaf_first and leaf_first[0][0] in USER_CALLERS:
        strings.append(target)
    return strings


def builtin_frame(target: object) -> str | None:
    """The frame string samples of a decorated callable get when it is not Python code, else ``None``."""
    if getattr(target, "__code__", None) is not None or getattr(target, "func", None) is not None:
        return None
    name = getattr(target, "__name__", None) or type(target).__name__
    return f"{name}\x00<built-in>\x000"


def wait_strings(outermost_first: tuple[Site, ...]) -> list[str]:
    """Where a coroutine waited, as frame strings ending in ``[await]``."""
    return [frame_info(site) for site in outermost_first if not _known(site[0]).own] + [AWAIT]


class Samples:
    """A profile's samples and figures: one call's (in the order taken), or many calls' merged.

    Nothing is converted to frame strings until the session is read: the
    sampled call pays for the ticks only, and a ``profileit`` profile around
    it sees no code of the standard library or of pyinstrument. ``taken`` and
    ``weights`` are what :mod:`.capture` recorded, a key per sample with its
    seconds, each key's sites in ``stacks`` (or, with ``converted``,
    ``entries`` are frame records already); an
    aggregate sums the seconds and samples of each key in ``merged``, keeping
    the code objects of its stacks until it is read.
    """

    __slots__ = (
        "awaited", "calls", "clocks", "converted", "cpu", "duration", "entries", "fallback", "interval", "lost",
        "merged", "stacks", "start_time", "taken", "target", "ticks", "weights",
    )

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.entries: list[Any] = []
        self.taken: list[Key] = []
        self.weights: Any = ()
        self.stacks: dict[Key, tuple[Site, ...] | None] = {}
        self.converted = False
        #: An aggregate's stacks: ``key -> [seconds, samples]`` (a key of frame strings has no sites).
        self.merged: dict[tuple[Any, ...], list[float]] | None = None
        self.ticks = 0
        self.lost = 0
        self.calls = 0
        self.duration = 0.0
        self.awaited = 0.0
        self.cpu = 0.0
        self.start_time = 0.0
        self.clocks: set[str] = set()
        self.fallback: str | None = None
        #: The frame string of a decorated built-in (see :func:`stack_strings`).
        self.target: str | None = None

    def add(self, other: Samples) -> None:
        """Fold ``other`` in (an aggregate: identical stacks summed, figures summed)."""
        merged = self.merged
        if merged is None:
            merged = self.merged = {}
            self.start_time = other.start_time
        stacks = self.stacks
        if other.merged is not None:
            stacks.update(other.stacks)
            for key, (seconds, count) in other.merged.items():
                cell = merged.get(key)
                if cell is None:
                    merged[key] = [seconds, count]
                else:
                    cell[0] += seconds
                    cell[1] += count
        else:
            for key, seconds in other.pairs():
                if other.converted:
                    key = tuple(key)
                    stacks[key] = None
                elif key not in stacks:
                    stacks[key] = other.stacks[key]
                cell = merged.get(key)
                if cell is None:
                    merged[key] = [seconds, 1]
                else:
                    cell[0] += seconds
                    cell[1] += 1
        self.ticks += other.ticks
        self.lost += other.lost
        self.calls += other.calls
        self.duration += other.duration
        self.awaited += other.awaited
        self.cpu += other.cpu
        self.clocks |= other.clocks
        self.fallback = self.fallback or other.fallback
        self.target = self.target or other.target

    def pairs(self) -> Any:
        """One call's ``(key, seconds)`` per sample, in order (with ``converted``, ``(frame strings, seconds)``)."""
        return self.entries if self.converted else zip(self.taken, self.weights, strict=True)

    def _strings(self, key: tuple[Any, ...]) -> list[str]:
        sites = self.stacks[key]
        if sites is None:  # already frame strings
            return list(key)
        if key and key[0] == WAIT:
            return wait_strings(sites)
        return stack_strings(list(sites), self.target)

    def records(self) -> tuple[list[Record], int]:
        """The frame records (identical stacks of an aggregate merged) and how many ticks found only our frames."""
        dropped = 0
        if self.merged is None:
            if self.converted:
                return self.entries, 0
            records: list[Record] = []
            made: dict[Key, list[str]] = {}
            for key, seconds in self.pairs():
                strings = made.get(key)
                if strings is None:
                    strings = made[key] = self._strings(key)
                if strings:
                    records.append((strings, seconds))
                else:  # the tick found only profiletools' frames: our time, not the user's
                    dropped += 1
            return records, dropped
        summed: dict[tuple[str, ...], float] = {}
        for key, (seconds, count) in self.merged.items():
            strings = self._strings(key)
            if not strings:
                dropped += int(count)
                continue
            stack = tuple(strings)
            summed[stack] = summed.get(stack, 0.0) + seconds
        return [(list(stack), seconds) for stack, seconds in sorted(summed.items())], dropped

    def session(self, description: str, min_share: float) -> Session:
        """A pyinstrument session of these samples, made when first read (see the class docstring)."""
        session: Session = _lazy_session_type()(self, description, min_share)
        return session

    def figures(self) -> dict[str, Any]:
        """Everything a session needs that takes converting the samples: its frame records, count and note."""
        records, dropped = self.records()
        count = self.ticks - self.lost - dropped
        running = self.duration - self.awaited
        return {
            "frame_records": records,
            "sample_count": count,
            "start_call_stack": [records[0][0][0]] if records and records[0][0] else ["[root]"],
            "sys_path": list(sys.path),
            "sys_prefixes": [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix],
            "_short_file_path_cache": {},
            "profiletools_effective_interval": running / count if count > 0 else None,
            "profiletools_note": self.note(running, count),
            "profiletools_lost": self.lost + dropped,
        }

    def note(self, running: float, count: int) -> str | None:
        """Why ``count`` samples of ``running`` seconds are not a profile, or ``None``."""
        interval = self.interval
        calls = f" over {self.calls:,} calls" if self.calls > 1 else ""
        if running < SHORT_CALL_INTERVALS * interval:
            return (
                f"ran {format_seconds(running)}{calls}, shorter than {SHORT_CALL_INTERVALS} intervals of "
                f"{format_seconds(interval)}: {count} samples are not a profile"
            )
        if count < SHORT_CALL_INTERVALS:
            return f"only {count} samples in {format_seconds(running)}{calls}: too few for a profile"
        return None


_lazy_type: Any = None


def _lazy_session_type() -> Any:
    """pyinstrument's ``Session`` made lazy (a class made on first use: pyinstrument is imported only then)."""
    global _lazy_type
    if _lazy_type is None:
        from pyinstrument.session import Session

        class LazySession(Session):  # type: ignore[misc]
            """A pyinstrument ``Session`` whose frame records are made from the samples when first read."""

            def __init__(self, samples: Samples, description: str, min_share: float) -> None:
                # no Session.__init__: what it sets that needs the samples converted is made on first read
                self.start_time = samples.start_time
                self.duration = samples.duration
                self.min_interval = self.max_interval = samples.interval
                self.target_description = description
                self.cpu_time = samples.cpu
                self.profiletools_min_share = min_share
                self.profiletools_clocks = sorted(samples.clocks)
                self._profiletools_samples = samples

            def __getattr__(self, name: str) -> Any:
                samples = self.__dict__.pop("_profiletools_samples", None)
                if samples is None:
                    raise AttributeError(name)
                self.__dict__.update(samples.figures())
                return getattr(self, name)

            def __reduce__(self) -> Any:
                self.frame_records  # noqa: B018 - made now, if it was not yet
                extras = {key: value for key, value in self.__dict__.items() if key.startswith("profiletools_")}
                return _restore, (self.to_json(), extras)

        LazySession.__module__ = __name__
        _lazy_type = LazySession
    return _lazy_type


def _restore(data: dict[str, Any], extras: dict[str, Any]) -> Any:
    """A pickled session, back (a plain pyinstrument ``Session`` with profiletools' attributes)."""
    from pyinstrument.session import Session

    session = Session.from_json(data)
    session.__dict__.update(extras)
    return session


def samples_of(m: Measurement, target: str | None = None) -> Samples:
    """A finished measurement's samples (nothing converted yet); ``target``: see :func:`builtin_frame`."""
    settle(m)
    samples = Samples(m.interval)
    samples.target = target
    samples.taken = m.taken
    samples.weights = m.weights
    samples.stacks = m.stacks  # type: ignore[assignment]
    samples.ticks = m.ticks
    samples.lost = m.lost
    samples.calls = 1
    samples.duration = m.t1 - m.t0
    samples.awaited = m.awaited
    samples.cpu = m.cpu
    samples.start_time = _wall_clock() - samples.duration
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
