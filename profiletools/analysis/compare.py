"""The statistics of ``profiletools compare BASE NEW``: did it get slower, and is the change real?

BASE and NEW are sets of measurements: JSON-lines record files (as written by
``reporters.JsonLines`` or the pytest plugin), ``.json`` record dumps, or
folders of them; or ``.prof`` files (pstats), or folders of them. Per name
(per function for ``.prof``) the comparison shows count, median and p95 on
both sides, the change of the median in %, a confidence interval of that
change, and a verdict.

The test: a bootstrap confidence interval of the ratio of medians
------------------------------------------------------------------

Timings on a shared or virtual machine are noisy in one direction: another
process, a page fault or a frequency drop only ever adds time, so a few calls
come out much slower than the rest. The median ignores those spikes where a
mean follows them, and a ratio ("30 % slower") is what a threshold such as
``--fail-over 10%`` is about. So the statistic is ``median(NEW) /
median(BASE)``, and its uncertainty comes from the bootstrap: resample each
side with replacement, take the ratio of the resampled medians, repeat
``resamples`` times; the central ``confidence`` share of those ratios is the
interval. The bootstrap assumes nothing about the shape of the distribution
(timings are skewed and often bimodal, far from normal), and unlike a rank
test such as Mann-Whitney U, which only answers "is there a shift", it gives
the size of the change with error bars, so "slower by more than 10 % with 95 %
confidence" is simply "the lower end of the interval is above +10 %".

The resampling is exact and cheap: the median of a resample of ``n`` sorted
values is the value at index ``floor(n * U)`` where ``U`` is the middle order
statistic of ``n`` uniform numbers, which follows ``Beta(m, n - m + 1)``; so
one Beta draw replaces drawing and sorting ``n`` values (for even ``n`` a
second draw gives the next order statistic). The draws depend only on the
counts and ``seed`` (fixed by default), so the same inputs always give the
same verdicts.

A name needs ``min_count`` values on both sides (5 by default) for a verdict;
with fewer, the change is shown but never called real. One ``.prof`` file is
one sample per function; a folder of them (one per run or call) gives several.
"""

from __future__ import annotations

import math
import os
import random
import statistics
import sys
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from profiletools.core import registry
from profiletools.core.quantiles import quantile
from profiletools.core.records import format_seconds
from profiletools.formats.dumps import KINDS, load_pstats, load_records


def figure_names() -> list[str]:
    """The figures a comparison can use: wall and cpu seconds, and every tool's declared figure."""
    return list(registry.figures())


#: Verdicts, in the order the summary line counts them.
VERDICTS = ("slower", "faster", "unchanged", "too few", "added", "removed")

_RECORD_SUFFIXES = tuple(suffix for suffix, kind in KINDS.items() if kind == "records")
_PROF_SUFFIXES = tuple(suffix for suffix, kind in KINDS.items() if kind == "prof")


class CompareError(Exception):
    """Inputs that cannot be compared (nothing found, mixed kinds, unknown field)."""


# -- reading measurement sets ---------------------------------------------------------------


@dataclass
class Samples:
    """The values of one side of a comparison, per name.

    ``kind`` is ``"records"`` or ``"prof"``; ``values[name]`` holds one figure
    per record (records) or per profile file (cumulative seconds, ``.prof``);
    ``calls[name]`` the call counts per profile file (``.prof`` only).
    """

    kind: str
    values: dict[str, list[float]] = field(default_factory=dict)
    calls: dict[str, list[int]] = field(default_factory=dict)


def _files_under(path: str, suffixes: tuple[str, ...]) -> list[str]:
    """The files below directory ``path`` whose suffix is one of ``suffixes``, sorted."""
    found: list[str] = []
    for root, directories, names in os.walk(path):
        directories[:] = sorted(d for d in directories if not d.startswith("."))
        found.extend(
            os.path.join(root, name) for name in sorted(names)
            if name.lower().endswith(suffixes) and not name.startswith(".")
        )
    return found


def detect_kind(path: str) -> str:
    """``"records"`` or ``"prof"``: from a file's suffix, or from what a folder holds (records first)."""
    if os.path.isdir(path):
        if _files_under(path, _RECORD_SUFFIXES):
            return "records"
        if _files_under(path, _PROF_SUFFIXES):
            return "prof"
        raise CompareError(f"{path}: no record files (.jsonl, .json) or profiles (.prof) in this folder")
    if not os.path.exists(path):
        raise CompareError(f"{path}: no such file or folder")
    lowered = path.lower()
    if lowered.endswith(_RECORD_SUFFIXES):
        return "records"
    if lowered.endswith(_PROF_SUFFIXES):
        return "prof"
    raise CompareError(f"{path}: not a record file (.jsonl, .json) or a profile (.prof, .pstats)")


def _record_value(record: Mapping[str, Any], figure: str) -> float | None:
    """The compared figure of one record dict, or ``None`` (failed call, figure not measured)."""
    if record.get("error") is not None:
        return None
    declared = registry.figure(figure)
    value = None if declared is None else declared.value(record)
    return None if value is None else float(value)


def read_records(path: str, figure: str = "wall") -> Samples:
    """Read a record file or a folder of them; calls that raised are left out.

    >>> import json, os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> with open(os.path.join(folder, "run.jsonl"), "w") as out:
    ...     for wall in (0.010, 0.012, 0.011):
    ...         _ = out.write(json.dumps({"name": "search", "wall": wall}) + "\\n")
    >>> read_records(folder).values
    {'search': [0.01, 0.012, 0.011]}
    >>> import shutil; shutil.rmtree(folder)
    """
    if registry.figure(figure) is None:
        raise CompareError(f"field must be one of {', '.join(registry.figures())}; got {figure!r}")
    paths = _files_under(path, _RECORD_SUFFIXES) if os.path.isdir(path) else [path]
    samples = Samples("records")
    for file_path in paths:
        for record in load_records(file_path):
            value = _record_value(record, figure)
            if value is not None:
                samples.values.setdefault(record["name"], []).append(value)
    if not samples.values:
        raise CompareError(f"{path}: no records with a {figure!r} figure")
    return samples


def function_label(filename: str, funcname: str) -> str:
    """A name for a profiled function that survives moved checkouts and edited line numbers.

    >>> function_label("/home/ci/venv/lib/python3.12/site-packages/pkg/mod.py", "run")
    'pkg/mod.py:run'
    >>> function_label("~", "<built-in method time.sleep>")
    '<built-in method time.sleep>'
    """
    if filename == "~":
        return funcname
    parts = filename.replace("\\", "/").split("/")
    for marker in ("site-packages", "dist-packages"):
        if marker in parts:
            parts = parts[len(parts) - parts[::-1].index(marker):]
            break
    else:
        parts = parts[-2:]
    return f"{'/'.join(parts)}:{funcname}"


def read_profiles(path: str) -> Samples:
    """Read a ``.prof`` file or a folder of them: per function, calls and cumulative seconds per file.

    Functions are named by :func:`function_label` (file and function, without
    the line number, so an edit above a function does not break the pairing);
    functions sharing a label within one file are added up.
    """
    paths = _files_under(path, _PROF_SUFFIXES) if os.path.isdir(path) else [path]
    samples = Samples("prof")
    for file_path in paths:
        per_file: dict[str, list[float]] = {}
        for (filename, _line, funcname), (_primitive, calls, _own, cumulative, _callers) in load_pstats(
            file_path
        ).stats.items():  # type: ignore[attr-defined]
            totals = per_file.setdefault(function_label(filename, funcname), [0, 0.0])
            totals[0] += calls
            totals[1] += cumulative
        for label, (calls, cumulative) in per_file.items():
            samples.values.setdefault(label, []).append(cumulative)
            samples.calls.setdefault(label, []).append(int(calls))
    if not samples.values:
        raise CompareError(f"{path}: the profiles hold no functions")
    return samples


def read_samples(path: str, kind: str = "auto", figure: str = "wall") -> Samples:
    """Read one side: ``kind`` is ``"records"``, ``"prof"`` or ``"auto"`` (from the suffixes)."""
    if kind not in ("auto", "records", "prof"):
        raise CompareError(f"kind must be 'auto', 'records' or 'prof'; got {kind!r}")
    if not os.path.exists(path):
        raise CompareError(f"{path}: no such file or folder")
    if kind == "auto":
        kind = detect_kind(path)
    return read_records(path, figure) if kind == "records" else read_profiles(path)


# -- statistics -------------------------------------------------------------------------------


def _median_draws(n: int, resamples: int, rng: random.Random) -> list[tuple[int, int]]:
    """Index pairs ``(i, j)``: the median of one resample of ``n`` sorted values is ``(v[i] + v[j]) / 2``.

    The middle order statistic of ``n`` uniform numbers is ``Beta(m, n - m + 1)``
    distributed (``m = (n + 1) // 2``); for even ``n`` the next one lies above it,
    as the smallest of the ``n - m`` uniforms left in the rest of the interval.
    """
    m = (n + 1) // 2
    draws = []
    for _ in range(resamples):
        lower = rng.betavariate(m, n - m + 1)
        i = min(int(lower * n), n - 1)
        if n % 2:
            draws.append((i, i))
            continue
        upper = lower + (1.0 - lower) * (1.0 - rng.random() ** (1.0 / (n - m)))
        draws.append((i, min(int(upper * n), n - 1)))
    return draws


class _Draws:
    """Resample draws per ``(side, n)``, made once per comparison from a fixed seed."""

    def __init__(self, seed: int, resamples: int) -> None:
        self.seed = seed
        self.resamples = resamples
        self._cache: dict[tuple[str, int], list[tuple[int, int]]] = {}

    def get(self, side: str, n: int) -> list[tuple[int, int]]:
        key = (side, n)
        draws = self._cache.get(key)
        if draws is None:
            rng = random.Random(zlib.crc32(f"{self.seed}:{side}:{n}".encode()))
            draws = self._cache[key] = _median_draws(n, self.resamples, rng)
        return draws


def median_ratio_interval(
    base: Sequence[float],
    new: Sequence[float],
    *,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
    _draws: _Draws | None = None,
) -> tuple[float, float]:
    """The bootstrap ``confidence`` interval of ``median(new) / median(base)``.

    >>> base = [1.0, 1.1, 0.9, 1.05, 0.95, 1.0, 3.0, 1.02, 0.98]
    >>> low, high = median_ratio_interval(base, [value * 2 for value in base])
    >>> low < 2.0 < high
    True
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1; got {confidence!r}")
    if not base or not new:
        raise ValueError("both sides need at least one value")
    draws = _draws if _draws is not None else _Draws(seed, resamples)
    base_sorted, new_sorted = sorted(base), sorted(new)
    ratios = []
    for (bi, bj), (ni, nj) in zip(
        draws.get("base", len(base_sorted)), draws.get("new", len(new_sorted)), strict=True
    ):
        base_median = base_sorted[bi] + base_sorted[bj]
        new_median = new_sorted[ni] + new_sorted[nj]
        if base_median > 0:
            ratios.append(new_median / base_median)
        else:
            ratios.append(math.inf if new_median > 0 else 1.0)
    ratios.sort()
    tail = (1 - confidence) / 2
    count = len(ratios)
    return ratios[min(int(tail * count), count - 1)], ratios[max(math.ceil((1 - tail) * count) - 1, 0)]


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile of unsorted ``values``, as :func:`profiletools.core.quantiles.quantile` defines it."""
    return quantile(sorted(values), q)


@dataclass(frozen=True)
class Row:
    """One name in a comparison. ``change``, ``low`` and ``high`` are fractions (``0.3`` = +30 %)."""

    name: str
    verdict: str
    base_count: int
    new_count: int
    base_median: float | None = None
    new_median: float | None = None
    base_p95: float | None = None
    new_p95: float | None = None
    change: float | None = None
    low: float | None = None
    high: float | None = None
    base_calls: int | None = None
    new_calls: int | None = None

    def slower_beyond(self, threshold: float) -> bool:
        """Whether this name is slower by more than ``threshold`` (a fraction) with confidence."""
        return self.verdict == "slower" and self.low is not None and self.low > threshold


@dataclass
class Comparison:
    """The result of comparing two measurement sets, row per name (sorted by name)."""

    kind: str
    figure: str
    confidence: float
    resamples: int
    seed: int
    min_count: int
    rows: list[Row]

    def regressions(self, threshold: float) -> list[Row]:
        """The rows slower than ``threshold`` (a fraction, ``0.1`` for 10 %) with confidence."""
        return [row for row in self.rows if row.slower_beyond(threshold)]

    def counts(self) -> dict[str, int]:
        """How many names got each verdict."""
        return {verdict: sum(row.verdict == verdict for row in self.rows) for verdict in VERDICTS}

    def to_dict(self, threshold: float | None = None) -> dict[str, Any]:
        """JSON-ready: the settings, one dict per row, and the names failing ``threshold``."""
        return {
            "kind": self.kind,
            "field": self.figure,
            "method": "bootstrap confidence interval of the ratio of medians",
            "confidence": self.confidence,
            "resamples": self.resamples,
            "seed": self.seed,
            "min_count": self.min_count,
            "fail_over": threshold,
            "failed": None if threshold is None else [row.name for row in self.regressions(threshold)],
            "counts": self.counts(),
            "rows": [asdict(row) for row in self.rows],
        }

    def table(self, threshold: float | None = None, top: int | None = None) -> str:
        """The comparison as a text table with a summary line (and the verdict of ``threshold``).

        ``top`` keeps the ``top`` names with the largest median on either side
        (names failing ``threshold`` are always shown).
        """
        rows = self.rows
        if top is not None and len(rows) > top:
            largest = sorted(rows, key=lambda row: -max(row.base_median or 0.0, row.new_median or 0.0))[:top]
            keep = {row.name for row in largest}
            if threshold is not None:
                keep.update(row.name for row in self.regressions(threshold))
            rows = [row for row in rows if row.name in keep]
        declared = registry.figure(self.figure)
        show = declared.format if declared is not None else format_seconds
        percent = f"{self.confidence * 100:g}% CI"
        header = ["name", "base n", "new n"]
        if self.kind == "prof":
            header += ["base calls", "new calls"]
        header += ["base median", "new median", "base p95", "new p95", "change", percent, "verdict"]
        lines = [header]
        for row in rows:
            cells = [row.name, str(row.base_count), str(row.new_count)]
            if self.kind == "prof":
                cells += [_optional(row.base_calls), _optional(row.new_calls)]
            interval = "-" if row.low is None or row.high is None else f"{_signed(row.low)} .. {_signed(row.high)}"
            cells += [
                show(row.base_median), show(row.new_median), show(row.base_p95), show(row.new_p95),
                "-" if row.change is None else _signed(row.change), interval, row.verdict,
            ]
            lines.append(cells)
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        text = [
            "  ".join(cell.ljust(widths[i]) if i in (0, len(header) - 1) else cell.rjust(widths[i])
                      for i, cell in enumerate(line)).rstrip()
            for line in lines
        ]
        if len(rows) < len(self.rows):
            text.append(f"({len(self.rows) - len(rows)} more names not shown)")
        text.append(self.summary(threshold))
        return "\n".join(text)

    def summary(self, threshold: float | None = None) -> str:
        """One line: verdict counts, and whether ``threshold`` is exceeded."""
        counts = self.counts()
        what = "cumulative time per profile" if self.kind == "prof" else f"{self.figure}"
        parts = [f"{count} {verdict}" for verdict, count in counts.items() if count]
        line = (
            f"compared {what}: {', '.join(parts) or 'no names'} "
            f"(bootstrap {self.confidence * 100:g}% CI of the ratio of medians; verdicts need "
            f"{self.min_count}+ values per side)"
        )
        if threshold is not None:
            failed = self.regressions(threshold)
            if failed:
                names = ", ".join(f"{row.name} {_signed(row.change or 0.0)} (at least {_signed(row.low or 0.0)})"
                                  for row in failed)
                line += f"\nFAIL: slower by more than {_signed(threshold)} with confidence: {names}"
            else:
                line += f"\nok: nothing slower by more than {_signed(threshold)} with confidence"
        return line


def _signed(fraction: float) -> str:
    return "+inf%" if math.isinf(fraction) else f"{fraction * 100:+.1f}%"


def _optional(value: int | None) -> str:
    return "-" if value is None else str(value)


def compare_samples(
    base: Samples,
    new: Samples,
    *,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
    min_count: int = 5,
    figure: str = "wall",
) -> Comparison:
    """Compare two sides name by name (see the module docstring for the test).

    ``figure`` names what the values are (``wall``, ``cpu``, ``peak``) for the table.
    """
    if base.kind != new.kind:
        raise CompareError(f"cannot compare {base.kind} with {new.kind}: give two record sets or two profile sets")
    if not 0 < confidence < 1:
        raise CompareError(f"confidence must be between 0 and 1 (e.g. 0.95); got {confidence!r}")
    if type(resamples) is not int or resamples < 100:
        raise CompareError(f"resamples must be a whole number >= 100; got {resamples!r}")
    if type(min_count) is not int or min_count < 2:
        raise CompareError(f"min_count must be a whole number >= 2; got {min_count!r}")
    draws = _Draws(seed, resamples)
    rows = []
    for name in sorted(set(base.values) | set(new.values)):
        old_values, new_values = base.values.get(name, []), new.values.get(name, [])
        (old_median, old_p95), (new_median, new_p95) = _figures(old_values), _figures(new_values)
        change = low = high = None
        if not old_values or not new_values:
            verdict = "added" if new_values else "removed"
        else:
            verdict = "too few"
            change = (new_median / old_median - 1) if old_median else None  # type: ignore[operator]
            if min(len(old_values), len(new_values)) >= min_count and change is not None:
                ratio_low, ratio_high = median_ratio_interval(
                    old_values, new_values, confidence=confidence, _draws=draws,
                )
                low, high = ratio_low - 1, ratio_high - 1
                verdict = "slower" if low > 0 else "faster" if high < 0 else "unchanged"
        rows.append(Row(
            name, verdict, len(old_values), len(new_values), old_median, new_median, old_p95, new_p95,
            change, low, high, _median_int(base.calls.get(name)), _median_int(new.calls.get(name)),
        ))
    figure = "cumulative" if base.kind == "prof" else figure
    return Comparison(base.kind, figure, confidence, resamples, seed, min_count, rows)


def _figures(values: list[float]) -> tuple[float | None, float | None]:
    """Median and p95 of one side's values (``None`` for a side without the name)."""
    if not values:
        return None, None
    ordered = sorted(values)
    return quantile(ordered, 0.5), quantile(ordered, 0.95)


def _median_int(values: list[int] | None) -> int | None:
    return None if not values else int(statistics.median_low(values))


def compare_paths(
    base: str,
    new: str,
    *,
    kind: str = "auto",
    figure: str = "wall",
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
    min_count: int = 5,
) -> Comparison:
    """Read both sides (files or folders) and compare them; raises ``CompareError`` or ``DumpError``."""
    if kind == "auto":
        base_kind, new_kind = detect_kind(base), detect_kind(new)
        if base_kind != new_kind:
            raise CompareError(f"{base} holds {base_kind} but {new} holds {new_kind}; compare like with like")
        kind = base_kind
    base_samples = read_samples(base, kind, figure)
    new_samples = read_samples(new, kind, figure)
    return compare_samples(
        base_samples, new_samples, confidence=confidence, resamples=resamples, seed=seed, min_count=min_count,
        figure=figure,
    )


if __name__ == "__main__":  # ``python -m profiletools.analysis.compare`` (the command lives in the cli layer)
    from profiletools.cli.compare import main

    sys.exit(main())
