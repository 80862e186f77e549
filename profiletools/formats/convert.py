"""Converting pstats profiles for other viewers.

* **callgrind** (KCacheGrind, QCacheGrind): the text format of valgrind's
  callgrind, with one event, ``ns``. Each function's block gives its own
  (self) cost on its line, then one ``calls=`` line per callee followed by
  the inclusive cost of those calls. File and function names use the
  format's name compression (``fl=(1) name`` once, ``fl=(1)`` after).
* **speedscope**: speedscope's JSON file format, as a ``sampled`` profile
  whose samples are call stacks weighted by seconds. pstats keeps a call
  graph, not stacks, so stacks are rebuilt from the roots down: a function's
  time is split among the paths that reach it in proportion to the time each
  caller spent in it (the usual approach of flame-graph tools for pstats).
"""

from __future__ import annotations

import pstats
from collections.abc import Iterator
from typing import Any

from profiletools import __version__

FunctionKey = tuple[str, int, str]

#: Paths deeper than this are cut (a pathological call graph must not explode).
_MAX_DEPTH = 200
#: At most this many stacks in a speedscope file; the lightest are dropped first.
_MAX_STACKS = 50_000


def to_callgrind(stats: pstats.Stats) -> str:
    """The profile in callgrind's text format (cost unit: nanoseconds)."""
    raw: dict[FunctionKey, Any] = stats.stats  # type: ignore[attr-defined]
    callees: dict[FunctionKey, list[tuple[FunctionKey, Any]]] = {key: [] for key in raw}
    for callee, (_, _, _, _, callers) in raw.items():
        for caller, edge in callers.items():
            callees.setdefault(caller, []).append((callee, edge))
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
        return f"({names[key]}) {key[2]}"

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
    for key in sorted(raw, key=lambda k: (k[0], k[1], k[2])):
        _, _, tottime, _, _ = raw[key]
        filename, line, _ = key
        lines.append(f"fl={file_ref(filename)}")
        lines.append(f"fn={name_ref(key)}")
        lines.append(f"{line} {round(tottime * 1e9)}")
        for callee, (_, total_calls, _, cumtime) in sorted(callees.get(key, []), key=lambda item: item[0]):
            lines.append(f"cfl={file_ref(callee[0])}")
            lines.append(f"cfn={name_ref(callee)}")
            lines.append(f"calls={total_calls} {callee[1]}")
            lines.append(f"{line} {round(cumtime * 1e9)}")
        lines.append("")
    return "\n".join(lines)


def _stacks(raw: dict[FunctionKey, Any]) -> Iterator[tuple[tuple[FunctionKey, ...], float]]:
    """Weighted stacks rebuilt from the call graph, from each root down."""
    callees: dict[FunctionKey, list[tuple[FunctionKey, float]]] = {}
    for callee, (_, _, _, _, callers) in raw.items():
        for caller, (_, _, _, cumtime) in callers.items():
            callees.setdefault(caller, []).append((callee, cumtime))
    roots = [key for key, entry in raw.items() if not entry[4]]

    def walk(path: tuple[FunctionKey, ...], share: float) -> Iterator[tuple[tuple[FunctionKey, ...], float]]:
        key = path[-1]
        tottime = raw[key][2]
        if tottime * share > 0:
            yield path, tottime * share
        if len(path) >= _MAX_DEPTH:
            return
        for callee, edge_time in callees.get(key, []):
            if callee in path or callee not in raw:
                continue  # recursion: its time is already in the outer frame's figures
            callee_cum = raw[callee][3]
            if callee_cum > 0 and edge_time > 0:
                yield from walk((*path, callee), share * edge_time / callee_cum)

    for root in roots:
        yield from walk((root,), 1.0)


def to_speedscope(stats: pstats.Stats, name: str = "profile") -> dict[str, Any]:
    """The profile as a speedscope JSON document (a ``sampled`` profile in seconds)."""
    raw: dict[FunctionKey, Any] = stats.stats  # type: ignore[attr-defined]
    stacks = sorted(_stacks(raw), key=lambda item: -item[1])[:_MAX_STACKS]
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
