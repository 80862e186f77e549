"""``profileit`` against raw cProfile on real stdlib workloads, in the same process, one after the other."""

from __future__ import annotations

import cProfile
import gc
import pstats
import sys
import threading
import time
from functools import cache
from typing import Any

import pytest

from profiletools import profileit
from tests.agreement.readers import call_counts, call_edges, own_frames
from tests.agreement.workloads import FORMS, WORKLOADS, prepared, run_under

#: cProfile's entry for its own ``disable()``, in every raw profile and never in profileit's.
DISABLE = ("~", 0, "<method 'disable' of '_lsprof.Profiler' objects>")


def raw_profile(form: str, name: str) -> tuple[pstats.Stats, float]:
    """The workload under a plain ``cProfile.Profile``: ``runcall`` for a call, enable/disable for a block."""
    workload, data = prepared(name)
    gc.collect()  # what earlier tests left for the collector is finalized now, not inside the profile
    profiler = cProfile.Profile()
    start = time.perf_counter()
    if form == "decorator":
        profiler.runcall(workload, data)
    else:
        profiler.enable()
        workload(data)
        profiler.disable()
    wall = time.perf_counter() - start
    stats = pstats.Stats(profiler)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    entry = raw.pop(DISABLE)
    stats.total_calls -= entry[1]  # type: ignore[attr-defined]
    stats.prim_calls -= entry[0]  # type: ignore[attr-defined]
    stats.total_tt -= entry[2]  # type: ignore[attr-defined]
    for other in raw.values():
        other[4].pop(DISABLE, None)
    return stats, wall


def paired_runs(form: str, name: str) -> tuple[pstats.Stats, float, Any]:
    """Raw cProfile's profile and wall time, then profileit's record, of one workload run each.

    With the collector off: a collection inside one profile and not the
    other would put different calls in them (a ``gc.callbacks`` entry that
    another test's library left, such as hypothesis', is profiled too).
    """
    gc.collect()
    gc.disable()
    try:
        raw, wall = raw_profile(form, name)
        gc.collect()
        return raw, wall, run_under(profileit, form, name)
    finally:
        gc.enable()


@cache
def measured(form: str, name: str) -> tuple[pstats.Stats, float, Any]:
    """The first paired run of a workload (shared by the tests below)."""
    return paired_runs(form, name)


def other_threads() -> str:
    """A note for failure messages: on 3.12 cProfile also records other threads' calls."""
    others = [thread.name for thread in threading.enumerate() if thread is not threading.current_thread()]
    if sys.version_info >= (3, 12) and others:
        return f" (threads running meanwhile, whose calls 3.12's cProfile records too: {others})"
    return ""


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("name", list(WORKLOADS))
def test_every_function_and_call_count_equals_raw_cprofile(name: str, form: str) -> None:
    raw, _, record = measured(form, name)
    ours = record.stats
    assert own_frames(ours.stats) == []
    expected, got = call_counts(raw), call_counts(ours)
    assert len(expected) > 10
    assert got.keys() - expected.keys() == set(), other_threads()
    assert expected.keys() - got.keys() == set(), other_threads()
    differing = {key: (got[key], expected[key]) for key in expected if got[key] != expected[key]}
    assert differing == {}, other_threads()
    expected_edges, got_edges = call_edges(raw), call_edges(ours)
    assert {edge: got_edges.get(edge) for edge in expected_edges if got_edges.get(edge) != expected_edges[edge]} == {}
    assert got_edges.keys() == expected_edges.keys()


#: Paired runs allowed for the profiled times to agree: they are wall times, and on a
#: loaded machine one run can be descheduled for longer than the whole workload takes.
ATTEMPTS = 5
#: How far the two runs' profiled times may be apart, and how much of its own call's
#: wall time each profile must cover (the rest is starting and stopping the profiler).
RATIO, COVERED = 1.5, 0.8


def times_agree(raw: pstats.Stats, raw_wall: float, record: Any) -> bool:
    """Whether one pair of runs has close profiled times, each covering most of its wall time."""
    ours = record.stats
    assert raw.total_tt <= raw_wall  # type: ignore[attr-defined]
    assert ours.total_tt <= record.wall  # a profile never holds more than its call took
    return (
        raw.total_tt >= COVERED * raw_wall  # type: ignore[attr-defined]
        and ours.total_tt >= COVERED * record.wall
        and 1 / RATIO <= ours.total_tt / raw.total_tt <= RATIO  # type: ignore[attr-defined]
    )


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("name", list(WORKLOADS))
def test_pstats_totals_equal_raw_cprofile(name: str, form: str) -> None:
    raw, raw_wall, record = measured(form, name)
    ours = record.stats
    assert (ours.total_calls, ours.prim_calls) == (raw.total_calls, raw.prim_calls)
    assert ours.total_calls == sum(calls for _, calls in call_counts(ours).values())
    runs = [(raw, raw_wall, record)]
    while not times_agree(*runs[-1]) and len(runs) < ATTEMPTS:
        runs.append(paired_runs(form, name))
    seen = [(raw.total_tt, raw_wall, record.stats.total_tt, record.wall) for raw, raw_wall, record in runs]
    assert times_agree(*runs[-1]), f"(raw total_tt, raw wall, profileit total_tt, wall) per run: {seen}"


def test_a_call_that_raises_has_the_same_profile_as_raw_cprofile_and_none_of_our_frames() -> None:
    """The user's exception ends the profile as ``runcall``'s ``finally`` does: nothing of ours is in it."""
    import json

    text = json.dumps([{"n": i, "s": str(i)} for i in range(200)])

    def parse_then_fail(source: str) -> None:
        json.loads(source)
        raise LookupError("after the work")

    raw = cProfile.Profile()
    with pytest.raises(LookupError):
        raw.runcall(parse_then_fail, text)
    stats: dict[Any, Any] = pstats.Stats(raw).stats  # type: ignore[attr-defined]
    stats.pop(DISABLE)
    expected = {key: value[:2] for key, value in stats.items()}

    seen: list[Any] = []
    with pytest.raises(LookupError) as caught:
        profileit(reporters=[seen.append])(parse_then_fail)(text)
    assert caught.value.__context__ is None
    (record,) = seen
    assert record.error == "LookupError"
    assert own_frames(record.stats.stats) == []
    got = {key: value[:2] for key, value in record.stats.stats.items()}
    assert got == expected, other_threads()
