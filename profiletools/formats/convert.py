"""Converting pstats profiles for other viewers.

* **callgrind** (KCacheGrind, QCacheGrind, ``callgrind_annotate``): the text
  format of valgrind's callgrind, with one event, ``ns``. Each function's
  block gives its own (self) cost on its line, then one ``calls=`` line per
  callee (all calls, recursive ones included) followed by the inclusive cost
  of those calls. A reader identifies a function by its file and name, so a
  name shared by several functions of one file (two ``visit`` methods, every
  ``<lambda>``) gets its line appended, ``visit:403``, as pyprof2calltree
  does. File and function names use the format's name compression
  (``fl=(1) name`` once, ``fl=(1)`` after).
* **speedscope**: speedscope's JSON file format, as a ``sampled`` profile
  whose samples are call stacks weighted by seconds. pstats keeps a call
  graph, not stacks: :mod:`profiletools.formats.stacks` rebuilds them so that
  each function's self weight is its ``tottime`` and the weights sum to
  pstats' ``total_tt`` (recursion is folded into the outermost frame).
"""

from __future__ import annotations

import pstats
from collections import Counter
from typing import Any

from profiletools import __version__
from profiletools.formats.stacks import MAX_STACKS, FunctionKey, caller_edges, weighted_stacks

__all__ = ["MAX_STACKS", "to_callgrind", "to_speedscope"]


def _callgrind_names(functions: list[FunctionKey]) -> dict[FunctionKey, str]:
    """The name a callgrind reader shows: ``name``, or ``name:line`` where the file has two of that name."""
    shared = Counter((filename, name) for filename, _, name in functions)
    return {key: f"{key[2]}:{key[1]}" if shared[(key[0], key[2])] > 1 else key[2] for key in functions}


def to_callgrind(stats: pstats.Stats) -> str:
    """The profile in callgrind's text format (cost unit: nanoseconds, rounded)."""
    raw: dict[FunctionKey, Any] = stats.stats  # type: ignore[attr-defined]
    callees: dict[FunctionKey, list[tuple[FunctionKey, int, float]]] = {key: [] for key in raw}
    for callee, edges in caller_edges(raw).items():
        for caller, edge in edges.items():
            callees.setdefault(caller, []).append((callee, edge.calls, edge.cumtime))
    functions = sorted(callees)  # the profiled functions and any caller pstats lists without figures
    shown = _callgrind_names(functions)
    total = sum(round(entry[2] * 1e9) for entry in raw.values())
    files: dict[str, int] = {}
    names: dict[FunctionKey, int] = {}

    def file_ref(filename: str) -> str:
        if filename in files:
            return f"({files[filename]})"
        files[filename] = len(files) + 1
        return f"({files[filename]}) {filename}"

    def name_ref(key: FunctionKey) -> str:
        if key in names:
            return f"({names[key]})"
        names[key] = len(names) + 1
        return f"({names[key]}) {shown[key]}"

    lines = [
        "# callgrind format",
        "version: 1",
        f"creator: profiletools {__version__}",
        "positions: line",
        "event: ns : Nanoseconds",
        "events: ns",
        f"summary: {total}",
        "",
    ]
    for key in functions:
        filename, line, _ = key
        tottime = raw[key][2] if key in raw else 0.0
        lines.append(f"fl={file_ref(filename)}")
        lines.append(f"fn={name_ref(key)}")
        lines.append(f"{line} {round(tottime * 1e9)}")
        for callee, calls, cumtime in sorted(callees[key]):
            lines.append(f"cfl={file_ref(callee[0])}")
            lines.append(f"cfn={name_ref(callee)}")
            lines.append(f"calls={calls} {callee[1]}")
            lines.append(f"{line} {round(cumtime * 1e9)}")
        lines.append("")
    return "\n".join(lines)


def to_speedscope(stats: pstats.Stats, name: str = "profile") -> dict[str, Any]:
    """The profile as a speedscope JSON document (a ``sampled`` profile in seconds).

    The samples are the stacks of :func:`profiletools.formats.stacks.weighted_stacks`,
    heaviest first; their weights sum to pstats' ``total_tt``.
    """
    raw: dict[FunctionKey, Any] = stats.stats  # type: ignore[attr-defined]
    stacks = sorted(weighted_stacks(raw).items(), key=lambda item: -item[1])
    frame_index: dict[FunctionKey, int] = {}
    frames: list[dict[str, Any]] = []
    samples: list[list[int]] = []
    weights: list[float] = []
    for path, weight in stacks:
        indices = []
        for key in path:
            if key not in frame_index:
                frame_index[key] = len(frames)
                frame: dict[str, Any] = {"name": key[2]}
                if key[0] != "~":
                    frame["file"], frame["line"] = key[0], key[1]
                frames.append(frame)
            indices.append(frame_index[key])
        samples.append(indices)
        weights.append(weight)
    total = sum(weights)
    return {
        "$schema": "https://www.speedscope.app/file-format-schema.json",
        "shared": {"frames": frames},
        "profiles": [
            {
                "type": "sampled",
                "name": name,
                "unit": "seconds",
                "startValue": 0,
                "endValue": total,
                "samples": samples,
                "weights": weights,
            }
        ],
        "name": name,
        "activeProfileIndex": 0,
        "exporter": f"profiletools {__version__}",
    }
