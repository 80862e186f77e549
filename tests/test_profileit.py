"""``profileit``: fidelity of the profile, nesting, threads, the one-profiler rule, summaries, dumps."""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import io
import json
import os
import pickle
import pstats
import sys
import textwrap
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from line_profiler import LineProfiler

import profiletools
from profiletools import profileit, reporters
from profiletools.core import profiler_slot
from profiletools.reporters import Collect
from profiletools.tools.profileit.api import ProfileRecord, ProfileStats
from tests.conftest import Scoped, run_python

MONITORING = sys.version_info >= (3, 12)
PACKAGE_DIR = os.path.dirname(profiletools.__file__)
LSPROF = "_lsprof.Profiler"


# -- a known call tree ------------------------------------------------------------------


def leaf(x: int) -> int:
    return x + 1


def branch(n: int) -> int:
    total = 0
    for i in range(n):
        total += leaf(i)
    return total + len([n])


def tree(n: int) -> int:
    """1 call of tree, n calls of branch, n*(n-1)/2 calls of leaf, n calls of len."""
    return sum(branch(i) for i in range(n))


def fib(n: int) -> int:
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def mine(stats: pstats.Stats) -> ProfileStats:
    """The entries of this file's code, and built-ins as called from it.

    On 3.12 cProfile also records what other threads run meanwhile (an exporter
    thread left by another test, say); this is the part of a profile they cannot touch.
    """
    here = __file__

    def ours(func: tuple[str, int, str]) -> bool:
        return func[0] == here

    kept = {}
    for func, (cc, nc, tt, ct, callers) in stats.stats.items():  # type: ignore[attr-defined]
        own_callers = {caller: edge for caller, edge in callers.items() if ours(caller)}
        if ours(func):
            kept[func] = (cc, nc, tt, ct, callers)
        elif func[0] == "~" and own_callers:
            nc = sum(edge[0] for edge in own_callers.values())
            cc = sum(edge[1] for edge in own_callers.values())
            kept[func] = (cc, nc, tt, ct, own_callers)
    for func, (cc, nc, tt, ct, callers) in kept.items():
        kept[func] = (cc, nc, tt, ct, {caller: edge for caller, edge in callers.items() if caller in kept})
    return ProfileStats.from_dict(kept, getattr(stats, "summary_options", None))


def shape(stats: pstats.Stats) -> dict[tuple[str, int, str], tuple[int, int, frozenset[str]]]:
    """Per function: primitive calls, calls, and the names of its callers."""
    return {
        func: (cc, nc, frozenset(caller[2] for caller in callers))
        for func, (cc, nc, _tt, _ct, callers) in stats.stats.items()  # type: ignore[attr-defined]
    }


def raw_stats(func: Callable[..., Any], *args: Any) -> pstats.Stats:
    """What plain cProfile records for ``func(*args)``."""
    profiler = cProfile.Profile()
    profiler.enable()
    func(*args)
    profiler.disable()
    return pstats.Stats(profiler)


def raw_shape(func: Callable[..., Any], *args: Any) -> dict[tuple[str, int, str], tuple[int, int, frozenset[str]]]:
    """What plain cProfile records for ``func(*args)``, without its own disable entry."""
    profiler = cProfile.Profile()
    profiler.enable()
    func(*args)
    profiler.disable()
    stats = pstats.Stats(profiler)
    return {func: value for func, value in shape(stats).items() if LSPROF not in func[2]}


def assert_no_internal_frames(stats: pstats.Stats) -> None:
    for func, (_cc, _nc, _tt, _ct, callers) in stats.stats.items():  # type: ignore[attr-defined]
        for key in (func, *callers):
            assert not key[0].startswith(PACKAGE_DIR), key
            assert LSPROF not in key[2], key


def named(stats: pstats.Stats) -> dict[str, tuple[int, int, frozenset[str]]]:
    return {func[2]: value for func, value in shape(stats).items()}


@pytest.fixture(autouse=True)
def _slot_released() -> Iterator[None]:
    yield
    assert profiler_slot.holder() is None


# -- forms and the record ------------------------------------------------------------------


def test_bare_decorator_keeps_behaviour_and_reports_a_profile_record(collect: Collect) -> None:
    profiletools.configure(reporters=[collect])
    profiled = profileit(tree)
    assert profiled(5) == tree(5)
    (record,) = collect.records
    assert isinstance(record, ProfileRecord) and record.tool == "profileit"
    assert record.name == "tree" and record.skipped is None and record.error is None
    assert isinstance(record.stats, pstats.Stats) and record.stats is record.payload


def test_profile_matches_plain_cprofile_exactly_and_holds_no_internal_frame(collect: Collect) -> None:
    profiled = profileit(reporters=[collect])(tree)
    profiled(6)
    stats = collect.records[0].stats
    assert_no_internal_frames(stats)
    assert shape(mine(stats)) == shape(mine(raw_stats(tree, 6)))
    assert shape(mine(stats)) == shape(stats) or MONITORING  # 3.11: nothing else can be in it
    counts = {name: value[1] for name, value in named(stats).items()}
    assert counts["tree"] == 1 and counts["branch"] == 6 and counts["leaf"] == 15
    assert counts["<built-in method builtins.len>"] == 6
    assert named(stats)["tree"][2] == frozenset()  # the user's function is the root


def test_block_profiles_the_block_body_only(collect: Collect) -> None:
    with profileit("startup", reporters=[collect]) as p:
        tree(4)
        divmod(7, 2)
    assert p.record is collect.records[0] and p.stats is p.record.stats
    stats = p.stats
    assert_no_internal_frames(stats)
    counts = {name: value[1] for name, value in named(stats).items()}
    assert counts["tree"] == 1 and counts["leaf"] == 6
    assert counts["<built-in method builtins.len>"] >= 4  # from branch (more on 3.12 if another thread ran)
    assert counts["<built-in method builtins.divmod>"] == 1  # called by the block itself
    assert p.record.name == "startup"


def test_exception_passes_through_unchanged_and_the_profile_is_kept(collect: Collect) -> None:
    error = KeyError("missing")

    @profileit(reporters=[collect])
    def fail() -> None:
        leaf(1)
        raise error

    with pytest.raises(KeyError) as caught:
        fail()
    assert caught.value is error
    (record,) = collect.records
    assert record.error == "KeyError"
    assert named(record.stats)["leaf"][1] == 1


@pytest.mark.parametrize("alone", [True, False], ids=["scoped alone", "beside a plain reporter"])
@pytest.mark.parametrize("raising", [False, True], ids=["returns", "raises"])
def test_a_decorated_call_with_a_scoped_reporter_gets_its_profile_through_the_scope(
    collect: Collect, alone: bool, raising: bool,
) -> None:
    """(On 3.12+ such a call leaves the switching wrapper's usual path for the one that opens scopes.)"""
    scoped = Scoped()

    @profileit(reporters=[scoped] if alone else [collect, scoped])
    def work(n: int) -> int:
        tree(n)
        if raising:
            raise KeyError(n)
        return n

    if raising:
        with pytest.raises(KeyError):
            work(4)
    else:
        assert work(4) == 4
    (record,) = scoped.closed
    assert scoped.opened == [record.name] and collect.records == ([] if alone else [record])
    assert record.skipped is None and record.error == ("KeyError" if raising else None)
    assert_no_internal_frames(record.stats)
    counts = {name: value[1] for name, value in named(record.stats).items()}
    assert counts["work"] == counts["tree"] == 1 and counts["leaf"] == 6
    assert profiler_slot.holder("profileit") is None


def test_a_call_reports_to_the_reporters_configured_when_it_started(collect: Collect) -> None:
    later = Collect()

    @profileit
    def work() -> int:
        profiletools.configure(reporters=[later])
        return 1

    profiletools.configure(reporters=[collect])
    assert work() == 1
    assert len(collect.records) == 1 and later.records == []
    assert work() == 1
    assert len(collect.records) == 1 and len(later.records) == 1


@pytest.mark.parametrize("cpu", [True, False])
def test_cpu_false_leaves_the_cpu_time_out_of_the_record(collect: Collect, cpu: bool) -> None:
    profiled = profileit(reporters=[collect], cpu=cpu)(tree)
    assert profiled(3) == tree(3)
    (record,) = collect.records
    assert (record.cpu is None) is not cpu and record.wall > 0
    assert cpu is False or 0 <= record.cpu <= record.wall * 1.5 + 0.01  # (thread CPU time, at clock resolution)


def test_a_builtin_target_is_the_root_of_its_profile(collect: Collect) -> None:
    profiled = profileit(reporters=[collect])(sorted)
    assert profiled([3, -1, 2], key=lambda x: x * x) == [-1, 2, 3]
    stats = named(collect.records[0].stats)
    assert stats["<built-in method builtins.sorted>"] == (1, 1, frozenset())
    assert stats["<lambda>"][1:] == (3, frozenset({"<built-in method builtins.sorted>"}))
    assert_no_internal_frames(collect.records[0].stats)


def test_methods_profile_the_method(collect: Collect) -> None:
    class Parser:
        @profileit(reporters=[collect])
        def parse(self, n: int) -> int:
            return tree(n)

    assert Parser().parse(3) == tree(3)
    assert named(collect.records[0].stats)["parse"][1] == 1


# -- nesting and recursion ---------------------------------------------------------------


def test_recursion_makes_one_record_with_cprofiles_recursive_counts(collect: Collect) -> None:
    global fib
    plain = fib
    fib = profileit(reporters=[collect])(plain)
    try:
        assert fib(10) == 55
    finally:
        fib = plain
    (record,) = collect.records
    cc, nc, callers = named(record.stats)["fib"]
    assert (cc, nc) == (1, 177)  # 177 calls, one of them not recursive
    assert callers == frozenset({"fib"})  # recursive calls link to fib, not to a wrapper
    assert_no_internal_frames(record.stats)


def test_decorated_function_inside_a_profiled_call_is_part_of_the_outer_record(collect: Collect) -> None:
    @profileit(reporters=[collect])
    def inner(n: int) -> int:
        return branch(n)

    @profileit(reporters=[collect])
    def outer() -> int:
        return sum(inner(i) for i in range(4))

    assert outer() == sum(branch(i) for i in range(4))
    (record,) = collect.records
    assert record.name.endswith("outer")
    stats = named(record.stats)
    assert stats["inner"][1] == 4 and stats["inner"][2] == frozenset({"<genexpr>"})  # re-linked past the wrapper
    assert stats["branch"][1] == 4 and stats["leaf"][1] == 6
    assert_no_internal_frames(record.stats)
    # and none of the inner wrapper's own built-in calls (making its run, say): the same built-ins as raw cProfile
    raw = cProfile.Profile()
    raw.runcall(lambda: sum(branch(i) for i in range(4)))
    built_ins = {func[2] for func in pstats.Stats(raw).stats if func[0] == "~"}  # type: ignore[attr-defined]
    built_ins.discard("<method 'disable' of '_lsprof.Profiler' objects>")
    assert {func[2] for func in record.stats.stats if func[0] == "~"} == built_ins  # type: ignore[attr-defined]


def test_function_reached_through_another_tools_wrapper_links_to_its_real_caller(collect: Collect) -> None:
    timed_branch = profiletools.timed(reporters=[lambda record: None])(branch)

    @profileit(reporters=[collect])
    def outer() -> int:
        return timed_branch(3) + timed_branch(4)

    assert outer() == branch(3) + branch(4)
    stats = named(collect.records[0].stats)
    assert stats["branch"][1:] == (2, frozenset({"outer"}))
    assert_no_internal_frames(collect.records[0].stats)


def _profiled_from_two_callers(collect: Collect, first: Callable[[int], Any], second: Callable[[int], Any]) -> Any:
    """The profile of a call making 3 calls of ``first`` from ``three``, then 5 of ``second`` from ``five``."""

    def three() -> None:
        for i in range(3):
            first(i)

    def five() -> None:
        for i in range(5):
            second(i)

    @profileit(reporters=[collect])
    def outer() -> None:
        three()
        five()

    outer()
    return collect.records[0].stats


@pytest.mark.parametrize("configured", [False, True])
def test_functions_reached_through_one_shared_wrapper_get_no_caller_that_never_called_them(
    collect: Collect, configured: bool,
) -> None:
    """Every function ``timed`` decorates runs in a wrapper of one code object, so cProfile has one entry for
    all of them: it says who called the wrapper, and what the wrapper called, not which caller reached which
    function. Split in proportion, ``leaf`` (3 calls, all from ``three``) was linked to ``five`` for 2 of
    them. Where the split is not certain the wrapper stays in the profile, as in raw cProfile's."""
    sink = reporters.Collect()
    if configured:  # the fast path for one configured reporter; else the general one
        profiletools.configure(reporters=[sink])
    decorate = profiletools.timed if configured else profiletools.timed(reporters=[sink])
    timed_leaf, timed_branch = (decorate(func) for func in (leaf, branch))
    stats = _profiled_from_two_callers(collect, timed_leaf, timed_branch).stats  # type: ignore[attr-defined]
    by_name = {func[2]: (func, stat) for func, stat in stats.items()}
    wrapper = timed_leaf.__code__
    assert timed_branch.__code__ is wrapper
    key = cProfile.label(wrapper)
    assert {caller[2]: edge[0] for caller, edge in by_name["leaf"][1][4].items()} == {
        "branch": 10, wrapper.co_name: 3}
    assert {caller[2]: edge[0] for caller, edge in by_name["branch"][1][4].items()} == {wrapper.co_name: 5}
    assert {caller[2]: edge[0] for caller, edge in stats[key][4].items()} == {"three": 3, "five": 5}
    assert stats[key][1] == 8
    assert len(sink) == 8


def test_standard_library_functions_timed_from_several_callers_get_only_real_callers(collect: Collect) -> None:
    """Real code: ``json.dumps``, ``json.loads`` and ``textwrap.fill`` through ``timed``, each called from its own
    places. Every function's calls equal raw cProfile's on the same program, and no function is linked to a
    caller that did not call it (split in proportion, ``fill`` was linked to ``writer`` and ``reader``, and
    ``loads`` to ``writer`` and ``formatter``: 9 wrong edges in all)."""
    text = "the quick brown fox jumps over the lazy dog " * 20
    doc = {"a": [1, 2, {"b": "c" * 10}], "d": list(range(30))}
    sink = reporters.Collect()
    decorate = profiletools.timed(reporters=[sink])
    dumps, loads, fill = (decorate(func) for func in (json.dumps, json.loads, textwrap.fill))

    def writer() -> None:
        for _ in range(4):
            dumps(doc)

    def reader(serialized: str) -> None:
        for _ in range(2):
            loads(serialized)

    def formatter() -> None:
        for width in (30, 40, 50):
            fill(text, width)
        reader(json.dumps(doc))

    def program() -> None:
        writer()
        reader(json.dumps(doc))
        formatter()

    profileit(reporters=[collect])(program)()
    raw = cProfile.Profile()
    raw.runcall(program)
    raw_stats = pstats.Stats(raw).stats  # type: ignore[attr-defined]
    stats = collect.records[0].stats.stats
    wrapper = dumps.__code__
    direct = {json.dumps: {"program", "formatter"}, json.loads: set(), textwrap.fill: set()}  # without the wrapper
    for func, callers_seen in direct.items():
        _cc, calls, _tt, _ct, callers = stats[cProfile.label(func.__code__)]
        assert calls == raw_stats[cProfile.label(func.__code__)][1], func
        assert {caller[2] for caller in callers} <= callers_seen | {wrapper.co_name}, (func, callers)
    assert {caller[2]: edge[0] for caller, edge in stats[cProfile.label(wrapper)][4].items()} == {
        "writer": 4, "reader": 4, "formatter": 3}


class _Tally:
    """A reporter object: two of them are two reporters whose ``report`` is one function to cProfile."""

    def report(self, record: Any) -> None:
        pass


@pytest.mark.parametrize(("decorate", "gate"), [
    pytest.param(lambda: profiletools.timed(reporters=[_Tally(), _Tally()]), None, id="two reporters of one class"),
    pytest.param(lambda: profiletools.timed(reporters=[_Tally()], every=2), "wrapper", id="timed every=2"),
    pytest.param(lambda: profiletools.lineprofile(reporters=[_Tally()], every=2), "gated", id="lineprofile every=2"),
])
def test_one_decorated_function_from_two_callers_links_to_both_through_any_wrapper(
    collect: Collect, decorate: Callable[[], Any], gate: str | None,
) -> None:
    """One decorated function called from two places: each call of the wrapper makes one call of the function
    (a gate's wrapper makes it itself or through the backend: some calls each way), so its calls are put down
    to the real callers. Ungated, each reporter is called the same number of times for each call, and no frame
    of ours stays; with ``every=2`` which caller's calls were measured is not in the profile, and the reports
    stay under the frame of ours that applies the gate (``timed``'s wrapper; ``lineprofile``'s gate is a layer
    of its own around its wrapper, which makes one report per call and goes)."""
    wrapped = decorate()(leaf)
    profile = _profiled_from_two_callers(collect, wrapped, wrapped)
    stats = named(profile)
    assert stats["leaf"][1:] == (8, frozenset({"three", "five"}))
    callers = {
        caller[2]: edge[0] for func, stat in profile.stats.items() if func[2] == "leaf"  # type: ignore[attr-defined]
        for caller, edge in stat[4].items()
    }
    assert callers == {"three": 3, "five": 5}
    if gate is None:
        assert_no_internal_frames(profile)
    else:
        assert stats["report"][1:] == (4, frozenset({gate}))


def test_block_and_generator_inside_a_profiled_call_make_no_records_of_their_own(collect: Collect) -> None:
    @profileit(reporters=[collect])
    def numbers(n: int) -> Iterator[int]:
        for i in range(n):
            yield leaf(i)

    @profileit(reporters=[collect])
    def outer() -> int:
        with profileit("inner block", reporters=[collect]):
            total = sum(numbers(3))
        return total

    assert outer() == 6
    (record,) = collect.records
    stats = named(record.stats)
    assert stats["numbers"][1] == 4 and stats["leaf"][1] == 3
    assert_no_internal_frames(record.stats)


# -- threads and the one-profiler rule ------------------------------------------------------


def test_eight_threads_never_raise_and_never_mix_up_records(collect: Collect) -> None:
    barrier = threading.Barrier(8)

    @profileit(reporters=[collect])
    def work(i: int) -> int:
        total = sum(leaf(j) for j in range(i + 1))
        barrier.wait()  # all eight calls are running at once
        return total

    results: dict[int, int] = {}
    thread_of: dict[int, int] = {}
    errors: list[BaseException] = []

    def run(i: int) -> None:
        thread_of[threading.get_ident()] = i
        try:
            results[i] = work(i)
        except BaseException as exc:
            errors.append(exc)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not errors
    assert results == {i: sum(j + 1 for j in range(i + 1)) for i in range(8)}
    records = collect.records
    assert len(records) == 8 and {record.thread for record in records} == set(thread_of)
    profiled = [record for record in records if record.skipped is None]
    for record in profiled:
        i = thread_of[record.thread]
        stats = named(record.stats)
        if MONITORING:  # cProfile sees every thread on 3.12: the other threads' calls are in it too
            assert stats["work"][1] >= 1 and stats["leaf"][1] >= i + 1
        else:  # each thread's profile holds exactly its own calls
            assert stats["work"][1] == 1 and stats["leaf"][1] == i + 1
    if MONITORING:  # one profiler per process: the first call holds it, the others run unprofiled
        assert len(profiled) == 1
        for record in records:
            if record.skipped is not None:
                assert record.skipped == f"profileit is already profiling on thread {profiled[0].thread}"
                assert record.stats is None
        assert len([w for w in caught if "profileit" in str(w.message)]) == 1
    else:
        assert len(profiled) == 8 and not caught


def test_foreign_cprofile_keeps_running_and_our_call_says_why_it_was_skipped(collect: Collect) -> None:
    """As under ``python -m cProfile``: enabling ours would raise (3.12) or silently cut theirs (3.11)."""
    profiled = profileit(reporters=[collect])(tree)
    theirs = cProfile.Profile()
    with pytest.warns(RuntimeWarning, match="not profiled") as caught:
        theirs.enable()
        try:
            results = [profiled(4) for _ in range(3)]
        finally:
            theirs.disable()
    assert results == [tree(4)] * 3
    assert len(caught) == 1  # one warning for three skipped calls
    skipped = {record.skipped for record in collect.records}
    expected = "sys.monitoring PROFILER_ID is held by 'cProfile'" if MONITORING else (
        "another profiler is installed with sys.setprofile (Profile)"
    )
    assert skipped == {expected} and all(record.stats is None for record in collect.records)
    assert collect.records[0].text().endswith(f"[not measured: {expected}]")
    foreign = named(pstats.Stats(theirs))
    assert foreign["tree"][1] == 3 and foreign["leaf"][1] == 18  # their profile saw every call


def test_line_profiler_holding_the_hook(collect: Collect) -> None:
    """3.12: line_profiler takes PROFILER_ID, so the call is skipped; 3.11: both profile at once."""
    profiled = profileit(reporters=[collect])(tree)
    lines = LineProfiler(branch)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lines.enable_by_count()
        try:
            assert profiled(5) == tree(5)
        finally:
            lines.disable_by_count()
    (record,) = collect.records
    line_hits = sum(hit for timings in lines.get_stats().timings.values() for _line, hit, _t in timings)
    assert line_hits > 0
    if MONITORING:
        assert record.skipped == "sys.monitoring PROFILER_ID is held by 'line_profiler'" and record.stats is None
        assert len(caught) == 1
    else:
        assert record.skipped is None and named(record.stats)["branch"][1] == 5
        assert not caught


def test_our_own_lineprofile_slot_is_respected(collect: Collect) -> None:
    assert profiler_slot.claim("lineprofile") is None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert profileit(reporters=[collect])(tree)(3) == tree(3)
    finally:
        profiler_slot.release("lineprofile")
    (record,) = collect.records
    if MONITORING:
        assert record.skipped == f"lineprofile is already profiling on thread {threading.get_ident()}"
    else:
        assert record.skipped is None and named(record.stats)["tree"][1] == 1


FORK_POOL = """
import multiprocessing, sys
from profiletools import profileit, reporters
seen = reporters.Collect()
def leaf(x):
    return x + 1
@profileit(reporters=[seen])
def work(n):
    return sum(leaf(i) for i in range(n))
def job(n):
    seen.clear()
    value = work(n)
    (record,) = seen.records
    leaf_calls = {func[2]: stat[1] for func, stat in record.stats.stats.items()}["leaf"]
    return value, leaf_calls, sys.getprofile() is None
@profileit(reporters=[seen])
def main():
    with multiprocessing.get_context("fork").Pool(2) as pool:
        return pool.map(job, [3, 4])
print(main(), [record.name for record in seen.records])
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork")
def test_workers_forked_during_a_profiled_call_profile_their_own_calls() -> None:
    result = run_python(FORK_POOL)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[(6, 3, True), (10, 4, True)] ['main']"


FORK_THEN_THREAD = """
import json, os, threading
from profiletools import profileit, reporters
from profiletools.core import profiler_slot

seen = reporters.Collect()
claimed, finish = threading.Event(), threading.Event()

@profileit(reporters=[seen])
def in_thread():
    claimed.set()
    finish.wait(20)

@profileit(reporters=[seen])
def outer():
    pid = os.fork()
    if pid:
        return pid
    worker = threading.Thread(target=in_thread)  # the child's own call, holding the slot
    worker.start()
    claimed.wait(20)
    return worker

result = outer()  # in the child this ends the inherited call while the thread's call runs
if isinstance(result, int):
    print(json.dumps({"child": os.waitstatus_to_exitcode(os.waitpid(result, 0)[1])}))
else:
    still = [entry[:2] for entry in profiler_slot._held[HOOK].values()]
    finish.set()
    result.join()
    print(json.dumps({"still": [tool for tool, ident in still if ident == result.ident],
                      "records": [[r.name.rsplit(".", 1)[-1], r.skipped] for r in seen.records],
                      "after": len(profiler_slot._held[HOOK])}), flush=True)
    os._exit(0)
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork")
def test_a_forked_child_ending_the_inherited_call_leaves_the_slot_to_its_own_holder() -> None:
    """The inherited call's claim was given back at the fork; its end must not take the child thread's claim."""
    from profiletools.tools.profileit import TOOL as DECLARATION

    result = run_python(FORK_THEN_THREAD.replace("HOOK", repr(DECLARATION.hook)))
    assert result.returncode == 0, result.stderr
    child, parent = (json.loads(line) for line in result.stdout.splitlines())
    assert parent == {"child": 0}
    assert child["still"] == ["profileit"]  # the thread's claim outlived the inherited call's end
    assert child["records"] == [["outer", None], ["in_thread", None]]  # the inherited call's record, then the thread's
    assert child["after"] == 0  # and the thread's call gave its claim back


# -- aggregate and every ---------------------------------------------------------------


def test_aggregate_reports_one_profile_on_flush(collect: Collect) -> None:
    @profileit(aggregate=True, reporters=[collect])
    def hot(n: int) -> int:
        return branch(n)

    assert [hot(i) for i in range(5)] == [branch(i) for i in range(5)]
    assert collect.records == []
    hot.flush()  # type: ignore[attr-defined]
    (record,) = collect.records
    assert record.stats.calls == 5
    stats = named(record.stats)
    assert stats["hot"][1] == 5 and stats["leaf"][1] == 10
    assert record.wall > 0 and record.cpu is not None
    assert "over 5 profiled calls" in record.text().splitlines()[0]
    profiletools.flush()  # nothing new since the last flush
    hot(2)
    profiletools.flush()
    assert len(collect.records) == 2 and named(collect.records[1].stats)["hot"][1] == 1


def test_aggregate_over_threads_counts_every_call_once(collect: Collect) -> None:
    @profileit(aggregate=True, reporters=[collect])
    def hot(n: int) -> int:
        return branch(n)

    def run() -> None:
        for _ in range(25):
            hot(3)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        threads = [threading.Thread(target=run) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    hot.flush()  # type: ignore[attr-defined]
    (record,) = collect.records
    profiled = record.stats.calls if record.stats is not None else 0
    unprofiled = int(record.skipped.split()[0]) if record.skipped else 0
    assert profiled + unprofiled == 100
    if not MONITORING:
        assert profiled == 100 and record.skipped is None
    if record.stats is not None:
        calls = named(record.stats)
        if MONITORING:
            # 3.12+: cProfile's sys.monitoring events are process-wide, so a profiled call also
            # counts the other threads' calls that ran meanwhile (documented in docs/profileit.md).
            assert calls["hot"][1] >= profiled and calls["leaf"][1] == 3 * calls["hot"][1]
        else:
            assert calls["hot"][1] == profiled and calls["leaf"][1] == 3 * profiled


def test_aggregate_is_reported_at_interpreter_exit() -> None:
    result = run_python(
        "from profiletools import profileit\n"
        "@profileit(aggregate=True)\n"
        "def hot(n):\n"
        "    return sum(range(n))\n"
        "for i in range(7):\n"
        "    hot(i)\n"
    )
    assert result.returncode == 0, result.stderr
    assert "profileit hot:" in result.stderr and "over 7 profiled calls" in result.stderr


def test_every_profiles_every_nth_call(collect: Collect) -> None:
    profiled = profileit(every=3, reporters=[collect])(branch)
    assert [profiled(i) for i in range(7)] == [branch(i) for i in range(7)]
    assert len(collect.records) == 3  # calls 1, 4 and 7
    assert [named(record.stats)["branch"][1] for record in collect.records] == [1, 1, 1]
    assert [named(record.stats).get("leaf", (0, 0))[1] for record in collect.records] == [0, 3, 6]


def test_enabled_callable_profiles_only_the_calls_it_lets_through(collect: Collect) -> None:
    switch = {"on": False}
    profiled = profileit(enabled=lambda: switch["on"], reporters=[collect])(branch)
    results = [profiled(1)]
    switch["on"] = True
    results.append(profiled(4))
    switch["on"] = False
    results.append(profiled(7))
    assert results == [branch(1), branch(4), branch(7)]
    (record,) = collect.records
    assert named(record.stats)["branch"][1] == 1 and named(record.stats)["leaf"][1] == 4  # branch(4) alone


def test_while_measuring_is_off_the_gate_is_not_asked_and_every_does_not_count(collect: Collect) -> None:
    asked: list[int] = []

    def gate() -> bool:
        asked.append(1)
        return True

    gated = profileit(enabled=gate, reporters=[collect])(branch)
    every_second = profileit(every=2, reporters=[collect])(leaf)
    profiletools.disable()
    try:
        assert gated(2) == branch(2) and [every_second(i) for i in range(3)] == [1, 2, 3]
    finally:
        profiletools.enable()
    assert asked == [] and collect.records == []
    assert [every_second(i) for i in range(4)] == [1, 2, 3, 4]
    assert len(collect.records) == 2  # calls 1 and 3 since measuring came back on


# -- generators and coroutines ------------------------------------------------------------


def test_generator_profile_equals_plain_cprofile_of_its_consumption(collect: Collect) -> None:
    def numbers(n: int) -> Iterator[int]:
        for i in range(n):
            yield leaf(i)

    profiled = profileit(reporters=[collect])(numbers)
    assert list(profiled(4)) == [1, 2, 3, 4]
    stats = collect.records[0].stats
    assert_no_internal_frames(stats)
    expected = shape(mine(raw_stats(lambda: list(numbers(4)))))
    expected = {func: value for func, value in expected.items() if func[2] != "<lambda>"}
    ours = named(mine(stats))
    assert ours["numbers"][:2] == (5, 5) and ours["leaf"][:2] == (4, 4)  # resumptions count, as in cProfile
    assert {func[2]: value[:2] for func, value in expected.items()} == {name: v[:2] for name, v in ours.items()}


def test_generator_closed_early_and_consumer_work_is_not_profiled(collect: Collect) -> None:
    @profileit(reporters=[collect])
    def numbers() -> Iterator[int]:
        i = 0
        while True:
            yield leaf(i)
            i += 1

    consumed = []
    gen = numbers()
    for value in gen:
        consumed.append(branch(3))  # the consumer's work, between steps
        if value == 3:
            break
    gen.close()
    (record,) = collect.records
    stats = named(record.stats)
    assert stats["leaf"][1] == 3 and "branch" not in stats


def test_coroutine_profile_holds_its_own_steps_not_other_tasks(collect: Collect) -> None:
    @profileit(reporters=[collect])
    async def handler() -> str:
        leaf(1)
        await asyncio.sleep(0.01)
        leaf(2)
        return "done"

    async def neighbour() -> None:
        for _ in range(3):
            branch(4)
            await asyncio.sleep(0)

    async def main() -> list[Any]:
        return await asyncio.gather(handler(), neighbour())

    assert asyncio.run(main()) == ["done", None]
    (record,) = collect.records
    stats = named(record.stats)
    assert stats["leaf"][1] == 2 and "branch" not in stats and "neighbour" not in stats
    assert stats["handler"][2] == frozenset()  # root: the driver's send() is gone
    assert record.wall >= 0.009
    assert_no_internal_frames(record.stats)


def test_async_generator_is_profiled_step_by_step(collect: Collect) -> None:
    @profileit(reporters=[collect])
    async def ticks(n: int) -> Any:
        for i in range(n):
            await asyncio.sleep(0)
            yield leaf(i)

    async def main() -> list[int]:
        return [value async for value in ticks(3)]

    assert asyncio.run(main()) == [1, 2, 3]
    stats = named(collect.records[0].stats)
    assert stats["leaf"][1] == 3
    assert_no_internal_frames(collect.records[0].stats)


def test_nested_coroutines_give_one_record_linked_to_the_outer(collect: Collect) -> None:
    @profileit(reporters=[collect])
    async def inner() -> int:
        await asyncio.sleep(0)
        return leaf(1)

    @profileit(reporters=[collect])
    async def outer() -> int:
        return await inner() + await inner()

    assert asyncio.run(outer()) == 4
    (record,) = collect.records
    stats = named(record.stats)
    assert stats["leaf"][1] == 2 and stats["inner"][2] == frozenset({"outer"})
    assert_no_internal_frames(record.stats)


# -- the summary ----------------------------------------------------------------------------


def summary(**options: Any) -> list[str]:
    seen = Collect()
    profileit(reporters=[seen], **options)(tree)(6)
    record = seen.records[0]
    return record._replace(payload=mine(record.stats)).text().splitlines()


def test_summary_first_line_has_call_count_and_total_time() -> None:
    first, second, header, *rows = summary()
    assert first.startswith("profileit tree: ")
    assert " function calls in " in first
    calls = int(first.split(": ")[-1].split(" function calls")[0].replace(",", ""))
    assert calls == 1 + 6 + 15 + 6 + 7 + 1  # tree, branch, leaf, len, the generator's 7 steps, sum
    assert second == "6 of 6 functions by cumulative time"
    assert header.split() == ["ncalls", "tottime", "percall", "cumtime", "percall", "function"]
    assert rows[0].split()[-1].endswith("(tree)")  # highest cumulative time first


def test_summary_sort_limit_fraction_restrict_and_strip_dirs() -> None:
    rows = summary(sort="ncalls", limit=2)[3:]
    assert [row.split()[0] for row in rows] == ["15", "7"]
    assert summary(sort="ncalls", limit=0.5)[1] == "3 of 6 functions by call count"
    restricted = summary(restrict=r"\(leaf|\(branch", sort=("calls", "name"))
    assert restricted[1] == "2 of 6 functions by call count, function name, restricted to '\\(leaf|\\(branch'"
    assert [row.split()[-1].rsplit("(", 1)[1] for row in restricted[3:]] == ["leaf)", "branch)"]
    stripped = summary(strip_dirs=True, limit=None)[3:]
    assert len(stripped) == 6 and all("/" not in row.split()[-1] for row in stripped)
    assert any(row.split()[-1] == f"test_profileit.py:{tree.__code__.co_firstlineno}(tree)" for row in stripped)


def test_summary_shows_recursive_call_counts_like_pstats(collect: Collect) -> None:
    profileit(reporters=[collect], sort="ncalls")(fib)(8)
    row = collect.records[0].text().splitlines()[3]
    assert row.split()[0] == "67/1" and row.endswith("(fib)")


def test_json_payload_lists_the_summary_rows(collect: Collect) -> None:
    profileit(reporters=[collect], limit=2, sort="ncalls")(tree)(4)
    record = collect.records[0]
    record = record._replace(payload=mine(record.stats))
    data = json.loads(json.dumps(record.to_dict()))
    payload = data["payload"]
    assert payload["calls"] == 1 and payload["functions"] == 6
    assert [row["function"] for row in payload["top"]] == ["leaf", "<genexpr>"]
    assert payload["function_calls"] == record.stats.total_calls


# -- the payload is a working pstats.Stats ---------------------------------------------------


def test_payload_supports_the_pstats_api(collect: Collect) -> None:
    profiled = profileit(reporters=[collect])(tree)
    profiled(4)
    profiled(5)
    first, second = (record.stats for record in collect.records)
    out = io.StringIO()
    first.stream = out
    first.sort_stats("ncalls").print_stats(1)
    assert "21 function calls in" in out.getvalue() and "(leaf)" in out.getvalue()
    copy = pstats.Stats(first)  # pstats' loading protocol must not empty the record's stats
    assert named(copy) == named(first) and named(first)["leaf"][1] == 6
    plain = pstats.Stats(second)
    first.add(plain)
    assert named(first)["leaf"][1] == 6 + 10 and named(second)["leaf"][1] == 10
    restored = pickle.loads(pickle.dumps(second))
    assert isinstance(restored, ProfileStats) and named(restored) == named(second)


def test_empty_block_gives_an_empty_but_usable_profile(collect: Collect) -> None:
    with profileit(reporters=[collect]) as p:
        pass
    assert p.stats.stats == {} and p.stats.total_calls == 0
    assert "0 function calls" in p.record.text()


# -- dumps --------------------------------------------------------------------------------


def test_dump_writes_prof_files_that_pstats_loads(tmp_path: Any) -> None:
    dump = reporters.Dump(tmp_path)
    seen = Collect()
    profiled = profileit("ingest", reporters=[dump, seen])(tree)
    profiled(5)
    profiled(3)
    paths = sorted(dump.written)
    assert len(paths) == 2 and all(path.endswith(".prof") for path in paths)
    assert len(set(paths)) == 2 and all(os.path.basename(path).startswith("ingest-") for path in paths)
    loaded = [shape(pstats.Stats(path)) for path in dump.written]
    assert loaded == [shape(record.stats) for record in seen.records]
    assert not [name for name in os.listdir(tmp_path) if not name.endswith(".prof")]


def test_unwritable_directory_warns_once_and_the_function_still_returns(tmp_path: Any) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the directory should be")
    profiled = profileit(reporters=[reporters.Dump(blocker / "profiles")])(tree)
    with pytest.warns(RuntimeWarning, match="could not write") as caught:
        results = [profiled(3) for _ in range(3)]
    assert results == [tree(3)] * 3
    assert len(caught) == 1


def test_skipped_records_write_no_dump(tmp_path: Any) -> None:
    dump = reporters.Dump(tmp_path)
    theirs = cProfile.Profile()
    theirs.enable()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            profileit(reporters=[dump])(leaf)(1)
    finally:
        theirs.disable()
    assert list(dump.written) == [] and os.listdir(tmp_path) == []


# -- switches and validation -----------------------------------------------------------------


def test_disabled_runs_the_function_without_a_record(collect: Collect) -> None:
    profiled = profileit(reporters=[collect])(tree)
    profiletools.disable()
    assert profiled(3) == tree(3)
    profiletools.enable()
    assert collect.records == []
    assert sys.getprofile() is None


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"sort": "speed"}, ValueError, "sort= must be a pstats sort key"),
        ({"sort": 3}, TypeError, "sort= takes a pstats sort key"),
        ({"sort": []}, TypeError, "sort= takes a pstats sort key"),
        ({"limit": -1}, ValueError, "limit= counts rows"),
        ({"limit": 1.5}, ValueError, "limit= as a fraction"),
        ({"limit": "leaf"}, TypeError, "use restrict= for a regex"),
        ({"limit": True}, TypeError, "limit= takes a whole number"),
        ({"restrict": "(unclosed"}, ValueError, "restrict= has an invalid regular expression"),
        ({"restrict": {"a": 1}}, TypeError, "restrict= takes a regular expression"),
        ({"restrict": [None]}, TypeError, "restrict= takes a whole number"),
        ({"strip_dirs": 1}, TypeError, "strip_dirs= must be True or False"),
        ({"aggregate": "yes"}, TypeError, "aggregate= must be True or False"),
        ({"every": 0}, ValueError, "every= must be a whole number"),
    ],
)
def test_bad_options_fail_at_decoration_time(options: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message.replace("(", r"\(")):
        profileit(**options)


@pytest.mark.parametrize("limit", [20.0, 20.5, -20])
def test_a_limit_equal_or_close_to_the_default_is_still_checked(limit: float) -> None:
    """The defaults are recognised by identity (made once): a float equal to the default count is a fraction."""
    with pytest.raises(ValueError, match="limit="):
        profileit("x", limit=limit)


def test_the_default_options_are_made_once_and_equal_to_given_ones() -> None:
    from profiletools.tools.profileit.options import DEFAULTS, SummaryOptions, summary_options

    assert DEFAULTS == SummaryOptions() and summary_options("cumulative", 20, False, None) is DEFAULTS
    built = "".join(["cumul", "ative"])  # an equal str, not the interned one: checked, and equal
    assert summary_options(built, 20, False, None) == DEFAULTS
    assert profileit("x").factory is profileit("y").factory  # (a block made per use makes no factory)
    assert profileit("x", sort="tottime").factory.options.sort == ("tottime",)


def test_sort_accepts_sort_keys_and_abbreviations() -> None:
    assert summary(sort=pstats.SortKey.TIME)[1] == "6 of 6 functions by internal time"
    assert summary(sort="cumu")[1] == "6 of 6 functions by cumulative time"


def test_budget_is_carried_by_the_record(collect: Collect) -> None:
    profileit(reporters=[collect], budget="1ns")(tree)(4)
    profileit(reporters=[collect], budget=60.0)(tree)(4)
    over, within = collect.records
    assert over.over_budget is not None and over.over_budget.startswith("wall ")
    assert within.over_budget is None
    with pytest.raises((TypeError, ValueError), match="budget"):
        profileit(budget="fast")


def test_generator_step_that_finds_the_hook_taken_is_reported_as_partly_unprofiled(collect: Collect) -> None:
    @profileit(reporters=[collect])
    def numbers() -> Iterator[int]:
        for i in range(3):
            yield leaf(i)

    gen = numbers()
    assert next(gen) == 1
    theirs = cProfile.Profile()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        theirs.enable()
        try:
            assert next(gen) == 2  # this step runs while a foreign profiler holds the hook
        finally:
            theirs.disable()
    assert list(gen) == [3]
    (record,) = collect.records
    assert record.skipped is not None and record.skipped.startswith("1 of 4 steps unprofiled: ")
    assert named(record.stats)["leaf"][1] == 2  # the two profiled steps' calls
    assert named(pstats.Stats(theirs))["leaf"][1] == 1  # and theirs saw the other one
    assert len(caught) == 1


def test_aggregate_counts_calls_that_ran_unprofiled(collect: Collect) -> None:
    @profileit(aggregate=True, reporters=[collect])
    def hot(n: int) -> int:
        return branch(n)

    hot(2)
    theirs = cProfile.Profile()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs.enable()
        try:
            hot(2)
            hot(2)
        finally:
            theirs.disable()
    hot(2)
    hot.flush()  # type: ignore[attr-defined]
    (record,) = collect.records
    assert record.stats.calls == 2 and named(record.stats)["hot"][1] == 2
    assert record.skipped is not None and record.skipped.startswith("2 of 4 calls unprofiled: ")


def test_the_bundled_demo_workload_is_profiled_as_user_code() -> None:
    from profiletools.cli import demo
    from profiletools.reporters import Collect

    seen = Collect()
    index = profileit(reporters=[seen])(demo.build_index)(demo.generate_documents(5, 10))
    assert index
    functions = {key[2] for key in seen.records[0].stats.stats}
    assert {"build_index", "tokenize"} <= functions


@pytest.fixture
def hook_taken_after_the_check(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The slot sees PROFILER_ID free (its check ran before the tool came), but a foreign tool holds it."""
    if sys.version_info < (3, 12):
        pytest.skip("cProfile.enable() refuses only with sys.monitoring")
    monkeypatch.setitem(profiler_slot._FOREIGN, "monitoring", lambda: None)
    monitoring = sys.monitoring  # type: ignore[attr-defined]
    monitoring.use_tool_id(monitoring.PROFILER_ID, "foreign")
    try:
        yield
    finally:
        monitoring.free_tool_id(monitoring.PROFILER_ID)


@pytest.mark.parametrize("raising", [False, True], ids=["returns", "raises"])
@pytest.mark.usefixtures("hook_taken_after_the_check")
def test_a_hook_taken_between_the_check_and_the_call_leaves_the_call_unprofiled(
    collect: Collect, raising: bool,
) -> None:
    """The slot saw PROFILER_ID free, a foreign tool took it before ``enable()``: the call runs as usual."""

    @profileit(reporters=[collect])
    def work(n: int) -> int:
        if raising:
            raise KeyError(n)
        return n + 1

    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        if raising:
            with pytest.raises(KeyError) as caught:
                work(1)
            assert caught.value.__context__ is None  # not chained to the refusal
        else:
            assert work(1) == 2
    (record,) = collect.records
    assert record.skipped is not None and "Another profiling tool is already active" in record.skipped
    assert record.error == ("KeyError" if raising else None)
    assert profiler_slot.holder("profileit") is None  # the slot was given back


@pytest.mark.parametrize("raising", [False, True], ids=["ends", "raises"])
@pytest.mark.usefixtures("hook_taken_after_the_check")
def test_a_hook_taken_between_the_check_and_the_block_leaves_the_block_unprofiled(
    collect: Collect, raising: bool,
) -> None:
    """As for a call: the slot saw PROFILER_ID free, a foreign tool took it before ``__enter__`` switched on."""
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        with pytest.raises(KeyError) if raising else contextlib.nullcontext():
            with profileit("block", reporters=[collect]):
                leaf(1)
                if raising:
                    raise KeyError(1)
    (record,) = collect.records
    assert record.skipped is not None and "Another profiling tool is already active" in record.skipped
    assert record.error == ("KeyError" if raising else None)
    assert profiler_slot.holder("profileit") is None


def test_a_blocks_profiler_is_switched_on_and_off_in_enter_and_exit(collect: Collect) -> None:
    """Each function called while cProfile is on costs (on 3.12+ each frame on the stack too): the raw profile
    (before profiletools' frames are cut out) holds no function of ours but ``__exit__``, which switches it off.
    Before 3.12 too (where ``begin`` and ``end`` switched a block's profiler, a block's raw profile held
    ``Run.end_call``, ``end`` and the clocks' reads, and cost 48,800 machine instructions, now 36,300)."""
    from profiletools.core.frames import is_own_file

    with profileit("block", reporters=[collect]):
        leaf(1)
    (record,) = collect.records
    raw = pstats.Stats(record.stats._read[0])
    ours = sorted(func[2] for func in raw.stats if is_own_file(func[0]))  # type: ignore[attr-defined]
    assert ours == ["__exit__"]
    assert named(record.stats)["leaf"][1] == 1 and record.skipped is None


@pytest.mark.skipif(sys.version_info < (3, 12), reason="3.11 runs the call from the backend's call(): no instrumenting")
def test_while_the_profiler_is_on_one_frame_of_ours_is_on_the_stack(collect: Collect) -> None:
    """On 3.12+ cProfile instruments every frame on the stack when it is switched on and off: only the wrapper."""
    from profiletools.core.frames import is_own_file

    seen: list[list[str]] = []
    caller = sys._getframe().f_code

    @profileit(reporters=[collect])
    def work() -> int:
        frame = sys._getframe(1)
        own = []
        while frame is not None and frame.f_code is not caller:
            if is_own_file(frame.f_code.co_filename):
                own.append(frame.f_code.co_qualname)
            frame = frame.f_back
        seen.append(own)
        return 1

    assert work() + work() == 2
    assert seen == [["_switching_function.<locals>.wrapper"]] * 2
    assert len(collect.records) == 2 and all(record.skipped is None for record in collect.records)


def test_cleaning_a_profile_with_nothing_of_ours_in_it_changes_no_figure() -> None:
    """A raw cProfile snapshot of real code (``json``, ``textwrap``) comes out of ``clean_stats`` with every
    entry but the profiler's own ``disable`` unchanged: callers, counts and times, as raw pstats reads them."""
    from profiletools.tools.profileit.stats import clean_stats

    data = {f"key{i}": [i, str(i), {"nested": i / 3}] for i in range(300)}
    profiler = cProfile.Profile()
    profiler.enable()
    json.loads(json.dumps(data, sort_keys=True))
    textwrap.fill("word " * 400, width=60)
    profiler.disable()
    raw = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    cleaned = clean_stats(raw, False)
    disable = [func for func in raw if func[2] == "<method 'disable' of '_lsprof.Profiler' objects>"]
    assert len(disable) == 1 and len(raw) > 20
    assert cleaned == {func: stat for func, stat in raw.items() if func not in disable}


def test_a_builtin_called_by_a_builtin_the_profiler_called_goes_to_the_user_code_that_reached_them() -> None:
    """A built-in that only ``disable()`` called goes (its calls were the profiler's); what it called in turn
    stays, put down to the user's function that reached it. (Cleaning must not let the built-ins it removes
    on the way count as profiletools' own callers.)"""
    from profiletools.tools.profileit.stats import clean_stats

    disable = ("~", 0, "<method 'disable' of '_lsprof.Profiler' objects>")
    user, first, second = ("app.py", 1, "user"), ("~", 0, "<built-in method x>"), ("~", 0, "<built-in method y>")
    raw = {
        user: (1, 1, 0.1, 0.5, {}),
        disable: (1, 1, 0.0, 0.0, {user: (1, 1, 0.0, 0.0)}),
        first: (1, 1, 0.01, 0.02, {disable: (1, 1, 0.01, 0.02)}),
        second: (2, 2, 0.01, 0.01, {first: (2, 2, 0.01, 0.01)}),
    }
    assert clean_stats(raw, False) == {
        user: (1, 1, 0.1, 0.5, {}), second: (2, 2, 0.01, 0.01, {user: (2, 2, 0.01, 0.01)}),
    }
