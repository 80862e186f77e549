"""The profiler slot: our bookkeeping, foreign holders, and what really competes on 3.11 and 3.12."""

from __future__ import annotations

import cProfile
import os
import sys
import threading
from collections.abc import Iterator

import pytest
from line_profiler import LineProfiler

from profiletools.core import profiler_slot
from tests.conftest import run_python

MONITORING = sys.version_info >= (3, 12)


def leaf() -> int:
    return 1


def caller() -> int:
    return leaf() + leaf()


@pytest.fixture(autouse=True)
def _slot_is_free() -> Iterator[None]:
    assert profiler_slot.holder("profileit") is None and profiler_slot.holder("lineprofile") is None
    yield
    for tool in ("profileit", "lineprofile", "memprofile"):
        profiler_slot.release(tool)


def in_thread(func):  # type: ignore[no-untyped-def]
    """Run ``func`` on another thread and return its result."""
    result = []
    thread = threading.Thread(target=lambda: result.append(func()))
    thread.start()
    thread.join()
    return result[0]


def test_claim_holder_release_round_trip() -> None:
    assert profiler_slot.claim("profileit") is None
    assert profiler_slot.holder() == "profileit"
    assert profiler_slot.holder("profileit") == "profileit"
    reason = profiler_slot.claim("profileit")
    assert reason == f"profileit is already profiling on thread {threading.get_ident()}"
    profiler_slot.release("profileit")
    assert profiler_slot.holder() is None
    assert profiler_slot.claim("profileit") is None


def test_only_the_holder_releases() -> None:
    assert profiler_slot.claim("lineprofile") is None
    profiler_slot.release("profileit")  # shares the hook on 3.12, not the holder
    assert profiler_slot.holder("lineprofile") == "lineprofile"
    profiler_slot.release("lineprofile")
    assert profiler_slot.holder("lineprofile") is None


def test_profileit_and_lineprofile_share_the_slot_exactly_when_their_profilers_compete() -> None:
    assert profiler_slot.claim("profileit") is None
    reason = profiler_slot.claim("lineprofile")
    if MONITORING:
        assert reason is not None and reason.startswith("profileit is already profiling on thread")
    else:
        assert reason is None
        assert profiler_slot.holder("lineprofile") == "lineprofile"


@pytest.mark.skipif(not MONITORING, reason="3.12+: sys.monitoring")
def test_312_real_cprofile_cannot_start_while_line_profiler_holds_the_tool_id() -> None:
    lines = LineProfiler(leaf)
    lines.enable_by_count()
    try:
        assert sys.monitoring.get_tool(sys.monitoring.PROFILER_ID) == "line_profiler"
        with pytest.raises(ValueError, match="Another profiling tool is already active"):
            cProfile.Profile().enable()
        assert profiler_slot.claim("profileit") == "sys.monitoring PROFILER_ID is held by 'line_profiler'"
        assert profiler_slot.claim("lineprofile") == "sys.monitoring PROFILER_ID is held by 'line_profiler'"
    finally:
        lines.disable_by_count()
    assert profiler_slot.claim("profileit") is None


@pytest.mark.skipif(not MONITORING, reason="3.12+: sys.monitoring")
def test_312_line_profiler_started_inside_cprofile_corrupts_its_counts() -> None:
    """Why the slot must keep lineprofile out while profileit runs (it would not raise, just lie)."""

    def counts(with_lines: bool) -> tuple[int, int]:
        profiler = cProfile.Profile()
        profiler.enable()
        lines = LineProfiler(leaf)
        if with_lines:
            lines.enable_by_count()
        for _ in range(5):
            caller()
        if with_lines:
            lines.disable_by_count()
        profiler.disable()
        profiler.create_stats()
        (cc, nc, *_rest) = next(stat for func, stat in profiler.stats.items() if func[2] == "caller")  # type: ignore[attr-defined]
        return cc, nc

    assert counts(False) == (5, 5)
    assert counts(True) != (5, 5)


@pytest.mark.skipif(MONITORING, reason="3.11: legacy hooks")
def test_311_cprofile_and_line_profiler_use_different_hooks_and_both_stay_exact() -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    lines = LineProfiler(caller)
    lines.enable_by_count()
    assert sys.getprofile() is profiler and sys.gettrace() is not None
    for _ in range(5):
        caller()
    lines.disable_by_count()
    profiler.disable()
    profiler.create_stats()
    stats = {func[2]: stat[:2] for func, stat in profiler.stats.items()}  # type: ignore[attr-defined]
    assert stats["caller"] == (5, 5) and stats["leaf"] == (10, 10)
    hits = [sum(hit for _line, hit, _time in timings) for timings in lines.get_stats().timings.values()]
    assert hits == [5]  # caller's one body line ran once per call, all 5 seen


@pytest.mark.skipif(MONITORING, reason="3.11: legacy hooks")
def test_311_foreign_profile_and_trace_functions_are_named() -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        reason = profiler_slot.claim("profileit")
    finally:
        profiler.disable()
    assert reason == "another profiler is installed with sys.setprofile (Profile)"

    def tracer(frame, event, arg):  # type: ignore[no-untyped-def]
        return None

    sys.settrace(tracer)
    try:
        reason = profiler_slot.claim("lineprofile")
        profileit_reason = profiler_slot.claim("profileit")
    finally:
        sys.settrace(None)
    assert reason is not None and "sys.settrace" in reason and "tracer" in reason
    assert profileit_reason is None  # a tracer does not compete with cProfile


def test_foreign_cprofile_is_seen_on_every_version() -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        reason = profiler_slot.claim("profileit")
    finally:
        profiler.disable()
    if MONITORING:
        assert reason == "sys.monitoring PROFILER_ID is held by 'cProfile'"
    else:
        assert reason is not None and "sys.setprofile" in reason
    assert profiler_slot.holder() is None


def test_scope_follows_the_hook_process_wide_on_312_per_thread_on_311() -> None:
    assert profiler_slot.claim("profileit") is None
    other = in_thread(lambda: (profiler_slot.claim("profileit"), profiler_slot.release("profileit"))[0])
    if MONITORING:
        assert other == f"profileit is already profiling on thread {threading.get_ident()}"
    else:
        assert other is None


def test_concurrent_claims_have_exactly_one_winner_per_scope() -> None:
    barrier = threading.Barrier(8)
    results: list[str | None] = []
    lock = threading.Lock()

    def contend() -> None:
        barrier.wait()
        reason = profiler_slot.claim("profileit")
        with lock:
            results.append(reason)
        barrier.wait()  # everybody has tried before anybody releases
        if reason is None:
            profiler_slot.release("profileit")

    threads = [threading.Thread(target=contend) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = results.count(None)
    assert winners == (1 if MONITORING else 8)
    assert all(reason is None or "is already profiling on thread" in reason for reason in results)
    assert profiler_slot.holder() is None


FORK_WHILE_ANOTHER_THREAD_HOLDS = """
import os, threading
from profiletools.core import profiler_slot
from tests.conftest import run_python
held, done = threading.Event(), threading.Event()
def hold():
    profiler_slot.claim("profileit")
    held.set()
    done.wait()
    profiler_slot.release("profileit")
thread = threading.Thread(target=hold)
thread.start()
held.wait()
pid = os.fork()
if pid == 0:  # the holding thread does not exist here: its hold must not block the child
    os._exit(0 if profiler_slot.claim("profileit") is None else 1)
_, status = os.waitpid(pid, 0)
done.set()
thread.join()
print(os.waitstatus_to_exitcode(status))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork")
def test_a_forked_child_forgets_holds_of_threads_it_does_not_have() -> None:
    result = run_python(FORK_WHILE_ANOTHER_THREAD_HOLDS)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0"
