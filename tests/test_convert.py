"""``convert``: callgrind and speedscope files checked against independent readers on real profiles.

callgrind is compared function by function and edge by edge with
pyprof2calltree's file for the same ``.prof``, and read back by valgrind's own
``callgrind_annotate``. speedscope is checked against pstats' own figures: the
weights sum to ``total_tt`` and each function's self weight is its ``tottime``,
on recursive code too.
"""

from __future__ import annotations

import ast
import itertools
import marshal
import pstats
import re
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from profiletools import profileit, reporters
from profiletools.formats import convert
from tests.callgrind import callgrind_annotate, read_callgrind

FunctionKey = tuple[str, int, str]


def dump_profile(function: Any, folder: Path) -> Path:
    """``function`` run under ``profileit``; the ``.prof`` it wrote."""
    dump = reporters.Dump(folder)
    profileit(reporters=[dump])(function)()
    (path,) = dump.written
    return Path(path)


def parse_and_unparse_ast() -> str:
    """The agreement workload: ast parse and unparse of a stdlib module (ast itself)."""
    return ast.unparse(ast.parse(Path(ast.__file__).read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def ast_prof(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return dump_profile(parse_and_unparse_ast, tmp_path_factory.mktemp("ast"))


def raw_stats(path: Path) -> dict[FunctionKey, Any]:
    return pstats.Stats(str(path)).stats  # type: ignore[attr-defined,no-any-return]


# -- callgrind ---------------------------------------------------------------------------------------------

def test_callgrind_keeps_every_function_and_edge_of_a_real_profile_like_pyprof2calltree(
    ast_prof: Path, tmp_path: Path
) -> None:
    """Function by function and edge by edge against pyprof2calltree on ast parse+unparse.

    The workload has same-named functions in one file (two ``visit``,
    ``<lambda>`` s, ``__init__`` of several classes) and recursive call edges.
    """
    pytest.importorskip("pyprof2calltree")
    raw = raw_stats(ast_prof)
    same_named = Counter((key[0], key[2]) for key in raw)
    assert max(same_named.values()) > 1  # the case that must not merge
    ours = tmp_path / "ours.callgrind"
    done = subprocess.run([sys.executable, "-m", "profiletools", "convert", str(ast_prof), "--to", "callgrind",
                           "-o", str(ours)], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    reference = tmp_path / "reference.callgrind"
    subprocess.run([sys.executable, "-m", "pyprof2calltree", "-i", str(ast_prof), "-o", str(reference)],
                   check=True, capture_output=True, timeout=120)
    own, edges = read_callgrind(ours.read_text())
    ref_own, ref_edges = read_callgrind(reference.read_text())
    pstats_edges = sum(len(entry[4]) for entry in raw.values())
    assert (len(ref_own), len(ref_edges)) == (len(raw), pstats_edges)  # the reference keeps them all
    assert (len(own), len(edges)) == (len(raw), pstats_edges)
    assert own.keys() == ref_own.keys()
    assert edges.keys() == ref_edges.keys()
    # pyprof2calltree truncates nanoseconds, profiletools rounds them: at most 1 ns apart
    assert {f: cost for f, cost in own.items() if abs(cost - ref_own[f]) > 1} == {}
    assert {e: (calls, cost) for e, (calls, cost) in edges.items()
            if calls != ref_edges[e][0] or abs(cost - ref_edges[e][1]) > 1} == {}
    total = int(re.search(r"^summary: (\d+)$", ours.read_text(), re.M).group(1))  # type: ignore[union-attr]
    assert total == sum(own.values()) == sum(round(entry[2] * 1e9) for entry in raw.values())


def test_callgrind_calls_are_all_calls_of_a_recursive_edge(tmp_path: Path) -> None:
    """``calls=`` counts every call of an edge, recursive ones included (pstats' first caller figure)."""

    def fib(n: int) -> int:
        return n if n < 2 else fib(n - 1) + fib(n - 2)

    prof = dump_profile(lambda: fib(10), tmp_path)
    ((key, entry),) = [(key, entry) for key, entry in raw_stats(prof).items() if key[2] == "fib"]
    _, edges = read_callgrind(convert.to_callgrind(pstats.Stats(str(prof))))
    fib_function = (key[0], "fib")
    assert entry[1] == 177 and entry[4][key][0] == 176  # cProfile: 177 calls, 176 of them from fib itself
    assert edges[(fib_function, fib_function)][0] == 176


@pytest.mark.skipif(shutil.which("callgrind_annotate") is None, reason="valgrind's callgrind_annotate is not installed")
def test_callgrind_annotate_reads_every_function_and_call_with_pstats_figures(ast_prof: Path, tmp_path: Path) -> None:
    """valgrind's callgrind_annotate parses the file: pstats' total, functions, self times, calls and edges."""
    raw = raw_stats(ast_prof)
    out = tmp_path / "callgrind.out.ast"
    out.write_text(convert.to_callgrind(pstats.Stats(str(ast_prof))))
    total, functions, edges = callgrind_annotate(out)
    assert total == sum(round(entry[2] * 1e9) for entry in raw.values())
    shown = {key: round(entry[2] * 1e9) for key, entry in raw.items() if round(entry[2] * 1e9) > 0}
    assert len(functions) == len(shown)  # distinct functions stay distinct
    assert sorted(functions.values()) == sorted(shown.values())
    calls = sorted((entry[0], round(entry[3] * 1e9)) for callee in raw.values() for entry in callee[4].values()
                   if round(entry[3] * 1e9) > 0)
    assert sorted(edges.values()) == calls


# -- speedscope ---------------------------------------------------------------------------------------------


def speedscope_stacks(stats: pstats.Stats) -> list[tuple[tuple[FunctionKey, ...], float]]:
    """The weighted stacks of the speedscope document, frames as pstats keys."""
    document = convert.to_speedscope(stats)
    frames = document["shared"]["frames"]
    (profile,) = document["profiles"]
    assert profile["endValue"] == pytest.approx(sum(profile["weights"]), rel=1e-12)
    keys = [(frame.get("file", "~"), frame.get("line", 0), frame["name"]) for frame in frames]
    return [(tuple(keys[i] for i in sample), weight) for sample, weight in zip(profile["samples"], profile["weights"])]


def check_speedscope_against_pstats(stats: pstats.Stats) -> list[tuple[tuple[FunctionKey, ...], float]]:
    """Assert what the converter guarantees; the stacks for more checks.

    The weights sum to ``total_tt``; each function's self weight (the stacks
    it ends) is its ``tottime``; every stack is a path of pstats' call graph
    from a function called by no profiled function, with no function twice.
    """
    raw = stats.stats  # type: ignore[attr-defined]
    stacks = speedscope_stacks(stats)
    assert sum(weight for _, weight in stacks) == pytest.approx(stats.total_tt, rel=1e-9)  # type: ignore[attr-defined]
    self_weight: dict[FunctionKey, float] = defaultdict(float)
    for stack, weight in stacks:
        self_weight[stack[-1]] += weight
        assert weight > 0 and len(set(stack)) == len(stack), stack
        root = raw[stack[0]]
        assert not root[4] or root[1] > sum(entry[0] for entry in root[4].values()), stack  # called from outside
        for caller, callee in itertools.pairwise(stack):
            assert caller in raw[callee][4], (caller, callee)
    wrong = {key: (self_weight.get(key, 0.0), entry[2]) for key, entry in raw.items()
             if self_weight.get(key, 0.0) != pytest.approx(entry[2], rel=1e-9, abs=1e-12)}
    assert wrong == {}
    return stacks


def test_speedscope_of_ast_parse_and_unparse_keeps_pstats_totals(ast_prof: Path) -> None:
    """Mutual recursion through shared callees (traverse, visit, visit_*): totals and self times exact."""
    check_speedscope_against_pstats(pstats.Stats(str(ast_prof)))


def is_even(n: int) -> bool:
    return True if n == 0 else is_odd(shared(n) - 1)


def is_odd(n: int) -> bool:
    return False if n == 0 else is_even(shared(n) - 1)


def shared(n: int) -> int:
    return sum(range(n)) * 0 + n


def parity() -> bool:
    """A cycle entered from two places, with a callee both sides share."""
    return is_even(40) and is_odd(41) and not is_even(39)


def test_speedscope_of_mutual_recursion_with_a_shared_callee(tmp_path: Path) -> None:
    stats = pstats.Stats(str(dump_profile(parity, tmp_path)))
    stacks = check_speedscope_against_pstats(stats)
    names = {tuple(key[2] for key in stack) for stack, _ in stacks}
    assert ("parity", "is_even", "shared") in names and ("parity", "is_odd", "is_even") in names


def write_prof(path: Path, stats: dict[FunctionKey, Any]) -> pstats.Stats:
    path.write_bytes(marshal.dumps(stats))
    return pstats.Stats(str(path))


def key(name: str) -> FunctionKey:
    return ("cycle.py", {"main": 1, "a": 10, "b": 20, "s": 30}[name], name)


#: What cProfile records for this run (self times in seconds, S a callee both A and B call):
#: main(1) -> A1(2) -> B1(4) -> A2(3) -> S(30);  main -> B2(5) -> A3(6) -> S(10)
HAND_BUILT_CYCLE = {
    key("main"): (1, 1, 1.0, 61.0, {}),
    key("a"): (2, 3, 11.0, 55.0, {key("main"): (1, 1, 2.0, 39.0), key("b"): (2, 2, 9.0, 49.0)}),
    key("b"): (2, 2, 9.0, 58.0, {key("a"): (1, 1, 4.0, 37.0), key("main"): (1, 1, 5.0, 21.0)}),
    key("s"): (2, 2, 40.0, 40.0, {key("a"): (2, 2, 40.0, 40.0)}),
}


def test_speedscope_of_a_hand_built_cycle(tmp_path: Path) -> None:
    """A cycle entered from two places: the stacks carry exactly each function's self time.

    The old converter gave A 11.35 s, B 7.33 s and S 41.27 s for 11, 9 and 40.
    """
    stacks = dict(check_speedscope_against_pstats(write_prof(tmp_path / "cycle.prof", HAND_BUILT_CYCLE)))
    named = {tuple(key[2] for key in stack): weight for stack, weight in stacks.items()}
    assert named[("main",)] == 1.0
    # S is only called by A, from both of A's places (under main, and under main -> B)
    assert named[("main", "a", "s")] + named[("main", "b", "a", "s")] == pytest.approx(40.0, rel=1e-12)
    assert named[("main", "a", "s")] > named[("main", "b", "a", "s")] > 0


def test_speedscope_of_a_dense_call_graph_is_bounded_and_keeps_totals(tmp_path: Path) -> None:
    """Every function calls every later one: 2**18 call paths to the last one, a bounded file, no second lost."""
    count = 20
    functions = [("dense.py", index + 1, f"f{index}") for index in range(count)]
    stats: dict[FunctionKey, Any] = {}
    for index, function in enumerate(functions):
        callers = {caller: (1, 1, 0.001, 0.001 * (count - index) / index) for caller in functions[:index]}
        stats[function] = (index or 1, index or 1, 0.001 * max(index, 1), 0.001 * (count - index), callers)
    stacks = check_speedscope_against_pstats(write_prof(tmp_path / "dense.prof", stats))
    assert len(stacks) <= convert.MAX_STACKS
