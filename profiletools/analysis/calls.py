"""Differential counts: what a change did to how often each function is called (or each line runs).

Counts are exact and the same on every run of the same code with the same
input, so two sides are compared number by number, without statistics: a
count that changed by one changed. The sides are

- two ``.prof`` files (pstats: calls per function) or two ``.lprof`` files
  (line_profiler: hits per line), or two folders of them (each folder's files
  added up, as ``profiletools merge`` adds them: compare folders holding the
  same runs);
- two record sets of the pytest plugin (``--profiletools-calls``, or tests
  with ``@pytest.mark.budget(calls=...)``), which keep each test's calls per
  function: compared test by test.

Functions are named ``module:qualname`` (:mod:`profiletools.core.functions`),
without paths or line numbers, so checkouts in different folders and edits
above a function still pair up; lines are ``module:qualname:line``, paired by
line number (an edit that moves lines shows them as removed and added).

A count *grows beyond* a threshold when it is on both sides and ``new >
base * (1 + threshold)``; the total grows beyond it the same way. A function
only on the new side is listed as added, and counts in the total.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, NamedTuple

from profiletools.core import registry
from profiletools.core.counts import Count
from profiletools.core.records import format_seconds
from profiletools.formats import dumps

#: How the files of each counted kind are loaded before their tool's counts read them.
_LOADERS = {"prof": dumps.load_pstats, "lprof": dumps.load_line_stats}
#: Where the pytest plugin keeps a test's calls per function, in the payload of the test's record.
CALL_COUNTS = "call_counts"


class CountsError(Exception):
    """Inputs whose counts cannot be compared (no counts, mixed kinds)."""


@dataclass
class Side:
    """One side: what is counted (``"calls"``, ``"hits"``); per label, the count and its seconds; the total time."""

    unit: str
    counts: dict[str, tuple[int, float]]
    seconds: float | None = None


class Change(NamedTuple):
    """One function (or line) on both sides; ``None`` where a side does not have it."""

    name: str
    base: int | None
    new: int | None
    base_seconds: float | None = None
    new_seconds: float | None = None

    @property
    def growth(self) -> float | None:
        """``new / base - 1`` (``0.5``: half as many again), or ``None`` when a side lacks it."""
        if self.base is None or self.new is None or self.base == 0:
            return None
        return self.new / self.base - 1

    @property
    def delta(self) -> int:
        """How many more (fewer, negative) on the new side; a missing side counts 0."""
        return (self.new or 0) - (self.base or 0)

    def grew_beyond(self, threshold: float) -> bool:
        """Whether the count is on both sides and grew by more than ``threshold`` (a fraction).

        Exact, as the counts are: 10 -> 11 is not more than 10 %.

        >>> Change("f", 10, 11).grew_beyond(0.1), Change("f", 10, 11).grew_beyond(0.095)
        (False, True)
        """
        if self.base is None or self.new is None or self.base == 0:
            return False
        return self.new - self.base > self.base * Fraction(threshold).limit_denominator(10**9)

    def describe(self) -> str:
        """``name base → new (+x%)``."""
        return f"{self.name} {_count(self.base)} → {_count(self.new)} ({_change(self)})"


@dataclass
class CountDiff:
    """Two sides compared: every change, largest first, and the totals."""

    unit: str
    changes: list[Change]
    total: Change

    def changed(self) -> list[Change]:
        """The functions (lines) whose count differs."""
        return [change for change in self.changes if change.delta]

    def grown(self, threshold: float) -> list[Change]:
        """The counts (and the total, last) that grew by more than ``threshold``."""
        grown = [change for change in self.changes if change.grew_beyond(threshold)]
        return grown + ([self.total] if self.total.grew_beyond(threshold) else [])

    def table(self, top: int | None = None, threshold: float | None = None) -> str:
        """The changes as a table: counts and times old → new, largest count change first, and the total."""
        rows = self.changes
        if top is not None and len(rows) > top:
            keep = {change.name for change in rows[:top]}
            if threshold is not None:
                keep.update(change.name for change in self.grown(threshold))
            rows = [change for change in rows if change.name in keep]
        time_label = "cumulative time" if self.unit == "calls" else "time"
        header = ("function" if self.unit == "calls" else "line", self.unit, "change", time_label, "change")
        lines = [header] + [_cells(change) for change in [*rows, self.total]]
        widths = [max(len(line[column]) for line in lines) for column in range(len(header))]
        text = [
            "  ".join(cell.ljust(widths[i]) if i in (0, 1, 3) else cell.rjust(widths[i]) for i, cell in enumerate(line))
            .rstrip()
            for line in lines
        ]
        hidden = len(self.changes) - len(rows)
        same = sum(1 for change in self.changes if not change.delta)
        text.append(
            f"{len(self.changed())} of {len(self.changes)} {'functions' if self.unit == 'calls' else 'lines'} "
            f"changed their {self.unit} ({same} the same)" + (f"; {hidden} not shown" if hidden else "")
        )
        if threshold is not None:
            text.append(verdict(self.grown(threshold), threshold, self.unit))
        return "\n".join(text)

    def to_dict(self, threshold: float | None = None) -> dict[str, Any]:
        """JSON-ready: the unit, every change, the total and what grew beyond ``threshold``."""
        return {
            "unit": self.unit,
            "fail_calls": threshold,
            "failed": None if threshold is None else [change.name for change in self.grown(threshold)],
            "total": _row(self.total),
            "rows": [_row(change) for change in self.changes],
        }


def _row(change: Change) -> dict[str, Any]:
    return {**change._asdict(), "growth": change.growth}


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


def _change(change: Change) -> str:
    if change.base is None:
        return "added"
    if change.new is None:
        return "removed"
    growth = change.growth
    if growth is None:
        return "+inf%" if change.new else "+0.0%"
    return f"{growth * 100:+.1f}%"


def _time_change(change: Change) -> str:
    base, new = change.base_seconds, change.new_seconds
    if base is None or new is None:
        return ""
    if base <= 0:
        return "+inf%" if new > 0 else "+0.0%"
    return f"{(new / base - 1) * 100:+.1f}%"


def _cells(change: Change) -> tuple[str, str, str, str, str]:
    return (
        change.name, f"{_count(change.base)} → {_count(change.new)}", _change(change),
        f"{format_seconds(change.base_seconds)} → {format_seconds(change.new_seconds)}", _time_change(change),
    )


def verdict(grown: list[Change], threshold: float, unit: str = "calls") -> str:
    """One line: ``FAIL: ...`` naming what grew beyond ``threshold``, or ``ok: ...``."""
    limit = f"{threshold * 100:+.1f}%"
    if not grown:
        return f"ok: no {unit.rstrip('s')} count grew by more than {limit}"
    return f"FAIL: {unit} grew by more than {limit}: " + ", ".join(change.describe() for change in grown)


def diff(base: Side, new: Side) -> CountDiff:
    """Compare two sides label by label; largest count changes first, then largest time changes."""
    if base.unit != new.unit:
        raise CountsError(f"cannot compare {base.unit} with {new.unit}: give two .prof or two .lprof sides")
    changes = []
    for name in set(base.counts) | set(new.counts):
        old, now = base.counts.get(name), new.counts.get(name)
        changes.append(Change(
            name, None if old is None else old[0], None if now is None else now[0],
            None if old is None else old[1], None if now is None else now[1],
        ))
    changes.sort(key=lambda change: (
        -abs(change.delta), -abs((change.new_seconds or 0.0) - (change.base_seconds or 0.0)), change.name,
    ))
    total = Change(
        "total", sum(count for count, _ in base.counts.values()), sum(count for count, _ in new.counts.values()),
        base.seconds, new.seconds,
    )
    return CountDiff(base.unit, changes, total)


# -- reading profiles ------------------------------------------------------------------------------


def counted_suffixes() -> tuple[str, ...]:
    """The dump file suffixes whose tool declares counts (``.prof``, ``.pstats``, ``.lprof``)."""
    return tuple(
        suffix for suffix, kind in dumps.KINDS.items()
        if kind in _LOADERS and registry.counts_for(suffix) is not None
    )


def _files(path: str) -> list[str]:
    if not os.path.isdir(path):
        return [path]
    suffixes = counted_suffixes()
    found = []
    for root, directories, names in os.walk(path):
        directories[:] = sorted(d for d in directories if not d.startswith("."))
        found += [os.path.join(root, name) for name in sorted(names) if name.lower().endswith(suffixes)]
    if not found:
        raise CountsError(f"{path}: no profiles ({', '.join(suffixes)}) in this folder")
    return found


def read_side(path: str) -> Side:
    """The counts of a ``.prof``/``.lprof`` file, or of a folder of them added up; labels are ``module:qualname``."""
    counts: dict[str, tuple[int, float]] = {}
    seconds = 0.0
    unit = None
    for file_path in _files(path):
        suffix = dumps.suffix_of(file_path)
        declared = registry.counts_for(suffix)
        kind = dumps.KINDS.get(suffix)
        if declared is None or kind not in _LOADERS:
            raise CountsError(f"{file_path}: not a profile with counts ({', '.join(counted_suffixes())})")
        if unit is not None and declared.unit != unit:
            raise CountsError(f"{path}: holds both {unit} and {declared.unit} counts; compare one kind at a time")
        unit = declared.unit
        items: list[Count] = declared.read(_LOADERS[kind](file_path))
        for item in items:
            label = item.label()
            times, before = counts.get(label, (0, 0.0))
            counts[label] = (times + item.times, before + item.seconds)
            seconds += item.own
    return Side(unit or "calls", counts, seconds)


def is_counted(path: str) -> bool:
    """Whether ``path`` is a profile with counts, or a folder holding such profiles and no record files."""
    if not os.path.isdir(path):
        return dumps.suffix_of(path) in counted_suffixes()
    suffixes = {dumps.suffix_of(name) for _, _, files in os.walk(path) for name in files}
    records = {suffix for suffix, kind in dumps.KINDS.items() if kind == "records"}
    return bool(suffixes & set(counted_suffixes())) and not suffixes & records


# -- reading the pytest plugin's records ---------------------------------------------------------------


def read_test_counts(path: str) -> dict[str, dict[str, int]]:
    """Each test's calls per function from record files (a file or a folder; later files win).

    Records of tests that failed are left out: their counts stop where they failed.
    """
    from profiletools.analysis.compare import _RECORD_SUFFIXES, _files_under

    paths = _files_under(path, _RECORD_SUFFIXES) if os.path.isdir(path) else [path]
    found: dict[str, dict[str, int]] = {}
    for file_path in paths:
        for record in dumps.load_records(file_path):
            payload = record.get("payload")
            counts = payload.get(CALL_COUNTS) if isinstance(payload, Mapping) else None
            if record.get("error") is None and isinstance(counts, Mapping):
                found[record["name"]] = {str(name): int(count) for name, count in counts.items()}
    return found


@dataclass
class TestDiffs:
    """Test by test, how call counts changed between two record sets."""

    diffs: dict[str, CountDiff]
    same: int
    only_base: int
    only_new: int

    def grown(self, threshold: float) -> dict[str, list[Change]]:
        """Per test, the counts that grew by more than ``threshold``."""
        found = {test: diff.grown(threshold) for test, diff in self.diffs.items()}
        return {test: grown for test, grown in found.items() if grown}

    def lines(self, threshold: float | None = None, top: int = 10) -> list[str]:
        """What changed, test by test (``top`` functions each), and the verdict of ``threshold``."""
        lines = []
        for test, found in self.diffs.items():
            total = found.total
            lines.append(f"{test}: total calls {total.base} → {total.new} ({_change(total)})")
            shown = [(change.name, f"{_count(change.base)} → {_count(change.new)}", _change(change))
                     for change in found.changed()[:top]]
            widths = [max(len(row[column]) for row in shown) for column in range(3)]
            lines += [f"  {name.ljust(widths[0])}  {counts.ljust(widths[1])}  {change.rjust(widths[2])}"
                      for name, counts, change in shown]
            if len(found.changed()) > top:
                lines.append(f"  ... and {len(found.changed()) - top} more functions")
        changed = len(self.diffs)
        notes = [f"{changed} test{'' if changed == 1 else 's'} with changed calls", f"{self.same} unchanged"]
        if self.only_base or self.only_new:
            notes.append(f"{self.only_base} only in the baseline, {self.only_new} only in this run")
        lines.append(", ".join(notes) + " (exact counts)")
        if threshold is not None:
            grown = self.grown(threshold)
            limit = f"{threshold * 100:+.1f}%"
            if grown:
                lines.append(f"FAIL: calls grew by more than {limit}:")
                lines += [f"  {test}: " + ", ".join(change.describe() for change in changes)
                          for test, changes in grown.items()]
            else:
                lines.append(f"ok: no call count grew by more than {limit}")
        return lines

    def to_dict(self, threshold: float | None = None) -> dict[str, Any]:
        """JSON-ready, per test."""
        return {
            "fail_calls": threshold,
            "failed": None if threshold is None else {
                test: [change.name for change in changes] for test, changes in self.grown(threshold).items()
            },
            "same": self.same, "only_base": self.only_base, "only_new": self.only_new,
            "tests": {test: found.to_dict(threshold) for test, found in self.diffs.items()},
        }


def diff_tests(base: Mapping[str, Mapping[str, int]], new: Mapping[str, Mapping[str, int]]) -> TestDiffs:
    """Compare the tests on both sides; the tests whose counts differ, in the new side's order."""
    diffs: dict[str, CountDiff] = {}
    same = 0
    for test, counts in new.items():
        if test not in base:
            continue
        found = diff(_counts_side(base[test]), _counts_side(counts))
        if found.changed():
            diffs[test] = found
        else:
            same += 1
    return TestDiffs(diffs, same, len(set(base) - set(new)), len(set(new) - set(base)))


def _counts_side(counts: Mapping[str, int]) -> Side:
    return Side("calls", {name: (count, 0.0) for name, count in counts.items()})


def compare_tests(base: str, new: str, required: bool) -> TestDiffs | None:
    """The tests' call counts of two record sets compared; ``None`` when a side has none and none are ``required``.

    Raises :class:`CountsError` when they are required and a side has none.
    """
    base_counts, new_counts = read_test_counts(base), read_test_counts(new)
    if base_counts and new_counts:
        return diff_tests(base_counts, new_counts)
    if required:
        empty = base if not base_counts else new
        raise CountsError(f"{empty}: no call counts of tests (pytest --profiletools-calls records them)")
    return None
