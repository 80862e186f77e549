"""The payload of ``lineprofile``: line_profiler's counters turned into a record's ``LineStats``.

line_profiler's counters only grow, so what one call (or aggregate) counted is
a difference of two readings of them. A *reading* is line_profiler's
``c_code_map``: ``{line hash: {line: {"nhits": ..., "total_time": ...}}}``.
A call keeps the entries of its functions from two readings (cheap), or the
two readings themselves when they hold little else (cheaper), and the rows
are worked out when the table is first read (:func:`lazy_stats_class`);
an aggregate keeps a :class:`Tally`: *counts*, ``{label: {line: [hits,
ticks]}}``, and the run of readings its calls spanned since they were last
added to them.

>>> counts: Counts = {}
>>> before = {7: {3: {"nhits": 1, "total_time": 10}}}
>>> after = {7: {3: {"nhits": 4, "total_time": 70}, 4: {"nhits": 2, "total_time": 5}}}
>>> accumulate(counts, ((("f.py", 2, "f"), (7,)),), before, after)
>>> counts
{('f.py', 2, 'f'): {3: [3, 60], 4: [2, 5]}}
>>> keys = ((("f.py", 2, "f"), (7,)),)
>>> rows(keys, [extract(keys, before, after)]) == rows(keys, [(before, after)])
True
>>> rows(keys, [(before, after)])
{('f.py', 2, 'f'): [(3, 3, 60), (4, 2, 5)]}
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "Counts", "Keys", "Label", "Parts", "Picked", "Reading", "Tally", "accumulate", "extract", "lazy_stats_class",
    "merge", "rows", "timings",
]

#: ``(file, first line, qualified name)``: how line_profiler names a function in its stats.
Label = tuple[str, int, str]
#: Per function label, the line hashes under which line_profiler counts its lines.
Keys = tuple[tuple[Label, tuple[int, ...]], ...]
#: A reading of line_profiler's counters: ``{line hash: {line: {"nhits": ..., "total_time": ...}}}``.
Reading = dict[int, dict[int, dict[str, Any]]]
#: Accumulated rows of a record: ``{label: {line: [hits, ticks]}}``.
Counts = dict[Label, dict[int, list[int]]]
#: One step's share of two readings, per function: ``(label, [(entries after, entries before or None)])``.
Picked = list[tuple[Label, list[tuple[dict[int, dict[str, Any]], dict[int, dict[str, Any]] | None]]]]
#: What a call keeps of a step: its share (:func:`extract`), or the two readings, ``(before,
#: after)``, when they are small (its share is picked out when the table is read).
Parts = Picked | tuple[Reading, Reading]


def accumulate(counts: Counts, keys: Keys, before: Reading, after: Reading) -> None:
    """Add ``after - before`` for the lines of ``keys`` to ``counts``."""
    for key, hashes in keys:
        lines = counts.get(key)
        if lines is None:
            lines = counts[key] = {}
        for line_hash in hashes:
            now = after.get(line_hash)
            if now:
                _add_difference(lines, now, before.get(line_hash))


def extract(keys: Keys, before: Reading, after: Reading) -> Picked:
    """The entries of ``keys``'s lines in two readings, kept for a later difference (cheap now)."""
    parts: Picked = []
    for key, hashes in keys:
        pairs = []
        for line_hash in hashes:
            now = after.get(line_hash)
            if now:
                pairs.append((now, before.get(line_hash)))
        parts.append((key, pairs))
    return parts


def rows(keys: Keys, steps: list[Parts]) -> dict[Label, list[tuple[int, int, int]]]:
    """line_profiler's ``timings`` from the parts of a call's steps (``keys``: the call's functions)."""
    counts: Counts = {}
    for step in steps:
        parts = extract(keys, *step) if isinstance(step, tuple) else step  # (two whole readings)
        for key, pairs in parts:
            lines = counts.setdefault(key, {})
            for now, old in pairs:
                _add_difference(lines, now, old)
    return {key: [(lineno, row[0], row[1]) for lineno, row in sorted(lines.items())] for key, lines in counts.items()}


def merge(aggregate: Counts | None, payload: Counts) -> Counts:
    """Add one call's counts to an aggregate's (``None`` before the first); the call's rows are reused."""
    if aggregate is None:
        return payload
    for key, lines in payload.items():
        mine = aggregate.get(key)
        if mine is None:
            aggregate[key] = lines
            continue
        for lineno, row in lines.items():
            total = mine.get(lineno)
            if total is None:
                mine[lineno] = row
            else:
                total[0] += row[0]
                total[1] += row[1]
    return aggregate


class Tally:
    """An aggregate's rows: ``counts``, and a run of readings not yet added to them.

    The calls of an aggregate usually follow one another with nothing else
    counted in between, and each starts from the very reading the one before
    it ended with (the engine keeps that reading as the next start). Their
    differences then add up to one, from the first call's start to the last
    call's end, and only the run's two ends are kept: a call costs an
    identity test, where adding its difference cost 18,000 machine
    instructions for a one-line function on 3.11 and 40,000 for a five-line
    loop. A call that starts from another reading (another probe counted in
    between) adds the run to ``counts`` and starts a new one; so does
    reading the rows (:meth:`settle`).
    """

    __slots__ = ("counts", "first", "last")

    def __init__(self) -> None:
        self.counts: Counts = {}
        self.first: Reading | None = None
        self.last: Reading | None = None

    def add(self, keys: Keys, before: Reading, after: Reading) -> None:
        """Count what ``keys``'s lines did from reading ``before`` to ``after``."""
        if before is self.last:
            self.last = after  # (the run goes on)
            return
        self.settle(keys)
        self.first, self.last = before, after

    def settle(self, keys: Keys) -> Counts:
        """Add the run to ``counts`` and return them."""
        first = self.first
        if first is not None:
            accumulate(self.counts, keys, first, self.last)  # type: ignore[arg-type]
            self.first = self.last = None
        return self.counts

    def absorb(self, keys: Keys, other: Tally) -> None:
        """Add ``other``'s rows and run (a later call's) to this tally's."""
        if other.counts:
            merge(self.counts, other.counts)
        if other.first is not None:
            self.add(keys, other.first, other.last)  # type: ignore[arg-type]


def timings(keys: Keys, counts: Counts) -> dict[Label, list[tuple[int, int, int]]]:
    """line_profiler's ``timings`` of ``counts``: every function of ``keys``, rows sorted by line."""
    found = {}
    for key, _hashes in keys:
        lines = counts.get(key)
        found[key] = [(lineno, row[0], row[1]) for lineno, row in sorted(lines.items())] if lines else []
    return found


def _add_difference(
    lines: dict[int, list[int]], now: dict[int, dict[str, Any]], old: dict[int, dict[str, Any]] | None
) -> None:
    """Add one code block's per-line ``now - old`` hits and time to ``lines`` (``old`` may be ``None``)."""
    for lineno, entry in now.items():
        hits = entry["nhits"]
        ticks = entry["total_time"]
        if old:
            previous = old.get(lineno)
            if previous is not None:
                hits -= previous["nhits"]
                ticks -= previous["total_time"]
        if hits or ticks:
            row = lines.get(lineno)
            if row is None:
                lines[lineno] = [hits, ticks]
            else:
                row[0] += hits
                row[1] += ticks


def lazy_stats_class(line_stats: type) -> type:
    """A ``LineStats`` subclass whose rows are worked out on first read (made once, lazily)."""

    class LazyLineStats(line_stats):  # type: ignore[misc,valid-type]
        """line_profiler's ``LineStats``; pickles (``.lprof``) as a plain one.

        Made without ``__init__`` (``cls.__new__(cls)``, by the backend on every
        call) and given ``_steps``, ``(keys, steps)`` as :func:`rows` takes them,
        and ``unit``.
        """

        @property
        def timings(self) -> dict[Label, list[tuple[int, int, int]]]:
            found: dict[Label, list[tuple[int, int, int]]] | None = self.__dict__.get("_timings")
            if found is None:
                found = self.__dict__["_timings"] = rows(*self.__dict__["_steps"])
            return found

        @timings.setter
        def timings(self, value: dict[Label, list[tuple[int, int, int]]]) -> None:
            self.__dict__["_timings"] = value

        def __reduce__(self) -> tuple[type, tuple[Any, float]]:
            return line_stats, (self.timings, self.unit)

    return LazyLineStats
