"""``profiletools convert`` against independent readers, on the ``.prof`` of real workloads.

callgrind: the file is read as KCacheGrind reads it (a function is its object, file and
name) and compared with what pyprof2calltree writes for the same ``.prof``. speedscope:
the samples' weights are compared with pstats' own ``total_tt`` and per-function ``tottime``.
"""

from __future__ import annotations

import io
import json
import pstats
import subprocess
import sys
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from profiletools import profileit, reporters
from tests.agreement.readers import Callgrind, Key, read_callgrind, speedscope_self_weights
from tests.agreement.workloads import WORKLOADS, prepared

pyprof2calltree = pytest.importorskip("pyprof2calltree")

#: pyprof2calltree truncates nanoseconds (``int``), profiletools rounds them.
NS = 1


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where this module's ``.prof`` files and their conversions go."""
    return tmp_path_factory.mktemp("convert")


@pytest.fixture(scope="module")
def profiles(folder: Path) -> dict[str, Path]:
    """One ``.prof`` per workload, written by ``profileit`` with ``reporters.Dump``."""
    paths = {}
    for name in WORKLOADS:
        workload, data = prepared(name)
        profileit(name, reporters=[reporters.Dump(folder / name)])(workload)(data)
        (paths[name],) = (folder / name).glob("*.prof")
    return paths


@pytest.fixture(scope="module")
def converted(profiles: dict[str, Path]) -> dict[tuple[str, str], str]:
    """``python -m profiletools convert`` of each profile to speedscope, and of the ast one to callgrind."""
    jobs = [(name, "speedscope") for name in profiles] + [("ast", "callgrind")]
    running = {}
    for name, kind in jobs:
        out = profiles[name].with_suffix(f".{kind}")
        command = [sys.executable, "-m", "profiletools", "convert", str(profiles[name]), "--to", kind, "-o", str(out)]
        running[(name, kind)] = (out, subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    texts = {}
    for job, (out, process) in running.items():
        _, error = process.communicate(timeout=120)
        assert process.returncode == 0, error
        texts[job] = out.read_text(encoding="utf-8")
    return texts


@cache
def stats_of(path: Path) -> Any:
    """The ``.prof`` file as pstats reads it."""
    return pstats.Stats(str(path))


# -- callgrind ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def callgrind(converted: dict[tuple[str, str], str]) -> Callgrind:
    """profiletools' callgrind file of the ast workload, read back."""
    return read_callgrind(converted[("ast", "callgrind")])


@pytest.fixture(scope="module")
def reference(profiles: dict[str, Path]) -> Callgrind:
    """pyprof2calltree's callgrind file of the same profile, read back."""
    out = io.StringIO()
    pyprof2calltree.CalltreeConverter(str(profiles["ast"])).output(out)
    return read_callgrind(out.getvalue())


def function_keys(read: Callgrind, stats: Any) -> dict[tuple[str, str, str], list[Key]]:
    """For each function of a callgrind file, the pstats functions it stands for.

    A pstats function belongs to a callgrind function of its file whose cost is at
    its first line and whose name starts with its name (converters may add to a name
    to tell functions apart, as pyprof2calltree's ``visit:403``).
    """
    return {
        identity: sorted(
            key
            for key in stats.stats
            if key[0] == identity[1] and key[1] in function.self_cost and identity[2].startswith(key[2])
        )
        for identity, function in read.functions.items()
    }


def test_callgrind_reader_sees_every_pstats_function_in_pyprof2calltree(reference: Callgrind, profiles: Any) -> None:
    stats = stats_of(profiles["ast"])
    keys = function_keys(reference, stats)
    assert sorted(k for ks in keys.values() for k in ks) == sorted(stats.stats)
    assert all(len(ks) == 1 for ks in keys.values())


def test_callgrind_keeps_same_named_functions_distinct(
    callgrind: Callgrind, reference: Callgrind, profiles: Any
) -> None:
    stats = stats_of(profiles["ast"])
    same_named = Counter((key[0], key[2]) for key in stats.stats)
    assert any(count > 1 for count in same_named.values())  # what makes this workload a test of it
    merged = {identity[2]: ks for identity, ks in function_keys(callgrind, stats).items() if len(ks) != 1}
    assert merged == {}
    assert len(callgrind.functions) == len(reference.functions) == len(stats.stats)
    assert sum(map(len, (f.calls for f in callgrind.functions.values()))) == sum(
        map(len, (f.calls for f in reference.functions.values()))
    )


def by_key(read: Callgrind, stats: Any) -> tuple[dict[Key, int], dict[tuple[Key, Key], tuple[int, int]]]:
    """Self cost per pstats function, and (count, inclusive cost) per call edge, of a callgrind file."""
    keys = function_keys(read, stats)
    merged = {identity[2]: [key[1] for key in found] for identity, found in keys.items() if len(found) != 1}
    assert merged == {}, "callgrind functions standing for several pstats functions (first lines)"
    own = {}
    edges = {}
    for identity, function in read.functions.items():
        (key,) = keys[identity]
        own[key] = sum(function.self_cost.values())
        for callee, (count, cost) in function.calls.items():
            (callee_key,) = keys[callee]
            edges[(key, callee_key)] = (count, cost)
    return own, edges


def close(got: int, expected: int) -> bool:
    """Equal to the nanosecond (one converter truncates, the other rounds)."""
    return abs(got - expected) <= NS


def test_callgrind_equals_pyprof2calltree_function_by_function_and_edge_by_edge(
    callgrind: Callgrind, reference: Callgrind, profiles: Any
) -> None:
    stats = stats_of(profiles["ast"])
    expected_own, expected_edges = by_key(reference, stats)
    own, edges = by_key(callgrind, stats)
    assert own.keys() == expected_own.keys()
    assert {key: (own[key], cost) for key, cost in expected_own.items() if not close(own[key], cost)} == {}
    assert edges.keys() == expected_edges.keys()
    differing = {
        (caller[2], callee[2]): (edges[(caller, callee)], value)
        for (caller, callee), value in expected_edges.items()
        if edges[(caller, callee)][0] != value[0] or not close(edges[(caller, callee)][1], value[1])
    }
    assert differing == {}


def test_callgrind_costs_equal_pyprof2calltree_position_by_position(
    callgrind: Callgrind, reference: Callgrind, profiles: Any
) -> None:
    """Self and inclusive costs keyed by file and line: what holds whatever the function names."""
    stats = stats_of(profiles["ast"])
    # Functions sharing a position (built-ins: ~:0) may each differ by NS.
    at = Counter({where: count * NS for where, count in Counter((key[0], key[1]) for key in stats.stats).items()})

    def own(read: Callgrind) -> dict[tuple[str, int], int]:
        costs: dict[tuple[str, int], int] = {}
        for (_, file, _), function in read.functions.items():
            for line, cost in function.self_cost.items():
                costs[(file, line)] = costs.get((file, line), 0) + cost
        return costs

    expected, got = own(reference), own(callgrind)
    assert got.keys() == expected.keys()
    differing = {where: (got[where], cost) for where, cost in expected.items() if abs(got[where] - cost) > at[where]}
    assert differing == {}
    ours, theirs = callgrind.calls_by_position, reference.calls_by_position
    assert ours.keys() == theirs.keys()
    inclusive = {
        where: (ours[where][1], cost)
        for where, (_, cost) in theirs.items()
        if abs(ours[where][1] - cost) > at[where[:2]] * at[where[2:]]
    }
    assert inclusive == {}


def test_callgrind_call_counts_equal_pyprof2calltree_position_by_position(
    callgrind: Callgrind, reference: Callgrind
) -> None:
    differing = {
        where: (callgrind.calls_by_position[where][0], count)
        for where, (count, _) in reference.calls_by_position.items()
        if callgrind.calls_by_position[where][0] != count
    }
    assert differing == {}


def test_callgrind_total_is_pstats_total_tt(callgrind: Callgrind, profiles: Any) -> None:
    stats = stats_of(profiles["ast"])
    total = sum(cost for function in callgrind.functions.values() for cost in function.self_cost.values())
    assert abs(total - stats.total_tt * 1e9) <= len(stats.stats) * NS
    assert callgrind.summary == total


# -- speedscope ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", WORKLOADS)
def test_speedscope_weights_sum_to_pstats_total_tt(name: str, converted: Any, profiles: Any) -> None:
    document = json.loads(converted[(name, "speedscope")])
    (profile,) = document["profiles"]
    stats = stats_of(profiles[name])
    assert sum(profile["weights"]) == pytest.approx(stats.total_tt, rel=1e-9)


@pytest.mark.parametrize("name", WORKLOADS)
def test_speedscope_self_weight_of_each_function_is_its_tottime(name: str, converted: Any, profiles: Any) -> None:
    weights = speedscope_self_weights(json.loads(converted[(name, "speedscope")]))
    stats = stats_of(profiles[name])
    expected = {key: entry[2] for key, entry in stats.stats.items() if entry[2] > 0}
    assert weights.keys() - expected.keys() == set()
    differing = {
        key[2]: (weights.get(key, 0.0), tottime)
        for key, tottime in expected.items()
        if weights.get(key, 0.0) != pytest.approx(tottime, rel=1e-9, abs=1e-12)
    }
    assert differing == {}
