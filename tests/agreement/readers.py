"""Independent readers for the agreement suite: what a viewer would see in each file or profile.

Written from the file formats' own documentation (callgrind's format spec, speedscope's
schema, pyinstrument's frame identifiers, pstats' tuples), not from profiletools' code, so
they judge profiletools' output instead of repeating it.
"""

from __future__ import annotations

import os
import pstats
import re
from dataclasses import dataclass, field
from typing import Any

import profiletools

#: (file, first line, function), as pstats keys functions.
Key = tuple[str, int, str]
#: The folder of profiletools' own code: no frame from it belongs in a user's profile.
PACKAGE_DIR = os.path.join(os.path.dirname(profiletools.__file__), "")


# -- pstats -----------------------------------------------------------------------------


def call_counts(stats: pstats.Stats) -> dict[Key, tuple[int, int]]:
    """Per function: ``(primitive calls, all calls)``."""
    raw: dict[Key, Any] = stats.stats  # type: ignore[attr-defined]
    return {key: (entry[0], entry[1]) for key, entry in raw.items()}


def call_edges(stats: pstats.Stats) -> dict[tuple[Key, Key], tuple[int, int]]:
    """Per ``(caller, callee)``: ``(all calls, primitive calls)`` (pstats' callers tuples lead with all calls)."""
    raw: dict[Key, Any] = stats.stats  # type: ignore[attr-defined]
    return {
        (caller, callee): (edge[0], edge[1]) for callee, entry in raw.items() for caller, edge in entry[4].items()
    }


def own_frames(keys: Any) -> list[Key]:
    """The keys whose code lives in profiletools' package."""
    return [key for key in keys if key[0].startswith(PACKAGE_DIR)]


# -- callgrind --------------------------------------------------------------------------


@dataclass
class CallgrindFunction:
    """One function as a callgrind reader sees it: identified by object, file and name."""

    self_cost: dict[int, int] = field(default_factory=dict)  # position (line) -> cost
    calls: dict[tuple[str, str, str], list[int]] = field(default_factory=dict)  # callee -> [count, inclusive]


@dataclass
class Callgrind:
    """A callgrind file read back: its functions, and its calls position by position."""

    functions: dict[tuple[str, str, str], CallgrindFunction]
    #: (caller file, caller line, callee file, callee line) -> [count, inclusive cost]
    calls_by_position: dict[tuple[str, int, str, int], list[int]]
    summary: int | None


def read_callgrind(text: str) -> Callgrind:
    """Read callgrind's text format (one event, ``positions: line``) as KCacheGrind does.

    A function is identified by its object (``ob=``), file (``fl=``) and name (``fn=``);
    names may be compressed (``(id) name`` defines, ``(id)`` refers back; files, functions
    and objects have separate id spaces). Positions may be absolute, ``+N``/``-N``
    relative to the previous one, or ``*`` (the same).
    """
    spaces: dict[str, dict[str, str]] = {"file": {}, "fn": {}, "ob": {}}

    def name(space: str, value: str) -> str:
        match = re.match(r"\((\d+)\)(?: (.*))?$", value.strip())
        if not match:
            return value.strip()
        if match.group(2) is not None:
            spaces[space][match.group(1)] = match.group(2)
        return spaces[space][match.group(1)]

    kinds = {"fl": "file", "fi": "file", "fe": "file", "cfl": "file", "cfi": "file", "fn": "fn", "cfn": "fn",
             "ob": "ob", "cob": "ob"}
    functions: dict[tuple[str, str, str], CallgrindFunction] = {}
    by_position: dict[tuple[str, int, str, int], list[int]] = {}
    summary = None
    ob = fl = fn = ""
    cob = cfl = cfn = None
    pending: tuple[int, int] | None = None  # (count, callee position) of a calls= line
    last = 0

    def position(token: str) -> int:
        nonlocal last
        if token == "*":
            return last
        last = last + int(token) if token[0] in "+-" else int(token)
        return last

    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        spec = re.match(r"(\w+)=(.*)$", line)
        if spec and spec.group(1) in kinds:
            key, value = spec.group(1), name(kinds[spec.group(1)], spec.group(2))
            if key == "ob":
                ob = value
            elif key == "fl":
                fl = value
            elif key == "fn":
                fn = value
                functions.setdefault((ob, fl, fn), CallgrindFunction())
            elif key == "cob":
                cob = value
            elif key in ("cfl", "cfi"):
                cfl = value
            elif key == "cfn":
                cfn = value
            continue
        if spec and spec.group(1) == "calls":
            count, target = spec.group(2).split()[:2]
            pending = (int(count), last + int(target) if target[0] in "+-" else int(target))
            continue
        if line.startswith("summary:"):
            summary = int(line.split(":", 1)[1])
            continue
        if re.match(r"[0-9+\-*]", line[0]):
            token, *costs = line.split()
            where = position(token)
            cost = int(costs[0]) if costs else 0
            function = functions.setdefault((ob, fl, fn), CallgrindFunction())
            if pending is None:
                function.self_cost[where] = function.self_cost.get(where, 0) + cost
                continue
            count, target = pending
            callee = (cob if cob is not None else ob, cfl if cfl is not None else fl, cfn if cfn is not None else fn)
            totals = function.calls.setdefault(callee, [0, 0])
            totals[0] += count
            totals[1] += cost
            edge = by_position.setdefault((fl, where, callee[1], target), [0, 0])
            edge[0] += count
            edge[1] += cost
            pending = None
            cob = cfl = cfn = None
    return Callgrind(functions, by_position, summary)


# -- speedscope -------------------------------------------------------------------------


def speedscope_self_weights(document: dict[str, Any]) -> dict[tuple[str, int, str], float]:
    """Per frame ``(file, line, name)``: the weight of the samples whose innermost frame it is.

    Frames without a file (built-ins) get the file ``~`` and line 0, as in pstats.
    Two frames with the same identity are summed, as a viewer merges them.
    """
    frames = document["shared"]["frames"]
    weights: dict[tuple[str, int, str], float] = {}
    for profile in document["profiles"]:
        assert profile["type"] == "sampled", profile["type"]
        for sample, weight in zip(profile["samples"], profile["weights"], strict=True):
            frame = frames[sample[-1]]
            key = (frame.get("file", "~"), frame.get("line", 0), frame["name"])
            weights[key] = weights.get(key, 0.0) + weight
    return weights


# -- pyinstrument -----------------------------------------------------------------------


def pyinstrument_key(identifier: str) -> Key:
    """``(file, first line, function)`` from a pyinstrument frame identifier.

    An identifier is ``function NUL file NUL first line``, optionally followed by
    attributes each introduced by ``\\x01`` (class name, current line).
    """
    function, file, rest = identifier.split("\x00")[:3]
    return (file, int(rest.split("\x01")[0] or 0), function)


def pyinstrument_self_times(session: Any) -> dict[Key, float]:
    """Per function: the seconds of the samples whose innermost frame it is."""
    times: dict[Key, float] = {}
    for stack, seconds in session.frame_records:
        key = pyinstrument_key(stack[-1])
        times[key] = times.get(key, 0.0) + seconds
    return times


def pyinstrument_functions(session: Any) -> set[Key]:
    """Every function on any sampled stack."""
    return {pyinstrument_key(identifier) for stack, _ in session.frame_records for identifier in stack}


def hottest(times: dict[Key, float], count: int = 3) -> list[Key]:
    """The ``count`` functions with the most time, most first."""
    return sorted(times, key=lambda key: -times[key])[:count]
