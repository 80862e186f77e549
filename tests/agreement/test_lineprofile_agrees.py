"""``lineprofile`` against line_profiler's own ``LineProfiler`` on real stdlib workloads.

Same process, same input, one after the other (the two cannot hold the hook at once).
"""

from __future__ import annotations

from typing import Any

import pytest
from line_profiler import LineProfiler

from profiletools import lineprofile
from tests.agreement.readers import Key
from tests.agreement.workloads import FORMS, LINE_TARGETS, WORKLOADS, prepared, run_under

#: (file, first line, function) -> {line: hits}
Hits = dict[Key, dict[int, int]]


def hits(timings: dict[Any, Any]) -> Hits:
    """Hits per line of each function, from line_profiler's ``LineStats.timings``."""
    return {key: {line: count for line, count, _ in rows} for key, rows in timings.items() if rows}


def raw_hits(form: str, name: str) -> Hits:
    """A plain ``LineProfiler`` on the workload (and its targets): ``runcall`` for a call, ``with`` for a block."""
    workload, data = prepared(name)
    if form == "decorator":
        profiler = LineProfiler(workload, *LINE_TARGETS[name])
        profiler.runcall(workload, data)
    else:
        profiler = LineProfiler(*LINE_TARGETS[name])
        with profiler:
            workload(data)
    return hits(profiler.get_stats().timings)


def profiled_hits(form: str, name: str) -> Hits:
    """What ``lineprofile`` records for the same functions, as a decorator (with ``also=``) or as a block."""
    return hits(run_under(lineprofile, form, name, *LINE_TARGETS[name]).stats.timings)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("name", list(WORKLOADS))
def test_line_hits_equal_line_profiler(name: str, form: str) -> None:
    expected, got = raw_hits(form, name), profiled_hits(form, name)
    timed = len(LINE_TARGETS[name]) + (form == "decorator")
    assert len(expected) == timed, sorted(expected)  # every function ran
    assert sorted(got) == sorted(expected)
    differing = {
        (key[2], line): (got[key].get(line), count)
        for key, lines in expected.items()
        for line, count in lines.items()
        if got[key].get(line) != count
    }
    assert differing == {}
    assert {key: sorted(lines) for key, lines in got.items()} == {key: sorted(lines) for key, lines in expected.items()}
