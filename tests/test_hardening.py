"""Faults, interrupts, forks, load and hostile input never break the profiled program.

Faults are injected for real where the machine allows it: a full and a
read-only tmpfs (when running as root), directories deleted mid-run, forks
with locks held by other threads, interrupts inside every tool.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import string
import subprocess
import sys
import threading
import time
import tracemalloc
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import profiletools
from profiletools import reporters, timed
from profiletools.core.config import parse_reporters
from profiletools.reporters import Background, Collect, Dump, JsonLines, Stream, Summary
from tests.conftest import default_sigint

# -- the tools, as far as they are installed ---------------------------------------------


def _tools() -> list[str]:
    names = ["timed"]
    for name in ("profileit", "lineprofile", "memprofile"):
        try:
            getattr(profiletools, name)
        except (AttributeError, ImportError):
            continue
        names.append(name)
    return names


TOOLS = _tools()


def make_tool(tool: str, *args: Any, **options: Any) -> Any:
    return getattr(profiletools, tool)(*args, **options)


def hooks_state() -> dict[str, Any]:
    """Everything a tool could leave switched on."""
    state: dict[str, Any] = {
        "profile": sys.getprofile(),
        "trace": sys.gettrace(),
        "tracemalloc": tracemalloc.is_tracing(),
        "threads": threading.active_count(),
    }
    if sys.version_info >= (3, 12):
        state["monitoring"] = [sys.monitoring.get_tool(i) for i in range(6)]
    return state


# -- interrupts -----------------------------------------------------------------------------


@pytest.mark.parametrize("tool", TOOLS)
@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, SystemExit])
def test_interrupt_in_a_call_leaves_nothing_running(tool: str, interrupt: type[BaseException]) -> None:
    collect = Collect()
    before = hooks_state()

    @make_tool(tool, reporters=[collect])
    def interrupted(n: int) -> int:
        total = sum(range(n))
        if n < 0 or total >= 0:
            raise interrupt()
        return total

    @make_tool(tool, reporters=[collect])
    def normal(n: int) -> int:
        return sum(range(n))

    with pytest.raises(interrupt):
        interrupted(100)
    assert hooks_state() == before
    assert normal(100) == 4950
    assert hooks_state() == before
    assert [record.error for record in collect.records] == [interrupt.__name__, None]
    assert collect.records[-1].skipped is None


def _block_target(n: int) -> int:
    return sum(range(n))


@pytest.mark.parametrize("tool", TOOLS)
def test_interrupt_in_a_block_leaves_nothing_running(tool: str) -> None:
    collect = Collect()
    before = hooks_state()
    # lineprofile's block form names the functions it times
    args = (_block_target,) if tool == "lineprofile" else ()
    with pytest.raises(KeyboardInterrupt), make_tool(tool, *args, reporters=[collect]):
        _block_target(10)
        raise KeyboardInterrupt
    assert hooks_state() == before
    with make_tool(tool, *args, reporters=[collect]):
        _block_target(100)
    assert [record.error for record in collect.records] == ["KeyboardInterrupt", None]


@pytest.mark.parametrize("tool", TOOLS)
def test_generator_closed_early_leaves_nothing_running(tool: str) -> None:
    collect = Collect()
    before = hooks_state()

    @make_tool(tool, reporters=[collect])
    def numbers() -> Iterator[int]:
        yield from range(1000)

    gen = numbers()
    assert next(gen) == 0
    gen.close()  # GeneratorExit inside the measured generator
    assert hooks_state() == before
    assert list(numbers())[-1] == 999
    assert len(collect.records) == 2 and all(record.error is None for record in collect.records)


def test_real_sigint_during_a_timed_call() -> None:
    code = (
        "import os, signal, threading, time, sys\n"
        "from profiletools import timed, reporters\n"
        "c = reporters.Collect()\n"
        "@timed(reporters=[c])\n"
        "def wait():\n"
        "    threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGINT)).start()\n"
        "    time.sleep(5)\n"
        "try:\n"
        "    wait()\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted', c.records[0].error, 0.05 <= c.records[0].wall < 4)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False,
        preexec_fn=default_sigint,
    )
    assert result.returncode == 0, result.stderr
    # interrupted after the timer's 0.05 s, long before the 5 s sleep ends (generous: a loaded machine)
    assert result.stdout.split() == ["interrupted", "KeyboardInterrupt", "True"]


# -- fork -------------------------------------------------------------------------------------


def _wait(pid: int, timeout: float) -> int:
    """Exit status of child ``pid``; kills it and fails the test if it hangs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail("the forked child hung")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded")
def test_fork_while_another_thread_holds_a_reporter_lock(tmp_path: Path) -> None:
    entered, release = threading.Event(), threading.Event()

    class BlockingStream:
        def write(self, text: str) -> None:
            entered.set()
            release.wait(10)

        def flush(self) -> None:
            pass

    stream_reporter = Stream(BlockingStream())  # type: ignore[arg-type]
    summary = Summary()
    worker = threading.Thread(target=lambda: stream_reporter.report(Collect and _record("held")))
    worker.start()
    assert entered.wait(5)  # the worker now holds the Stream's lock
    with summary._lock:  # and this thread holds the Summary's
        pid = os.fork()
        if pid == 0:  # child: both reporters must work
            try:
                stream_reporter.stream = open(os.devnull, "w")
                stream_reporter.report(_record("child"))
                summary.report(_record("child"))
                os._exit(0 if summary.stats()["child"]["count"] == 1 else 3)
            except BaseException:
                os._exit(4)
    release.set()
    worker.join()
    assert _wait(pid, 10) == 0


def _record(name: str) -> Any:
    from profiletools.core.records import TimingRecord

    return TimingRecord("timed", name, name, None, 0.0, 0.001, None, os.getpid(), 1, None)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_inside_a_measured_call_gives_the_child_its_own_pid_and_dumps(tmp_path: Path) -> None:
    dump = Dump(tmp_path)

    @timed("forking", reporters=[dump])
    def forking() -> int:
        pid = os.fork()
        if pid == 0:
            return 0
        return pid

    child = forking()
    if child == 0:  # in the child: its call returned; its record is dumped under its own pid
        os._exit(0)
    assert _wait(child, 10) == 0
    owners = sorted(int(path.name.split("-")[1]) for path in tmp_path.iterdir())
    assert owners == sorted([os.getpid(), child])
    for path in tmp_path.iterdir():
        assert json.loads(path.read_text())["pid"] == int(path.name.split("-")[1])


# -- disk faults ---------------------------------------------------------------------------------


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs mounted for the test (root only), unmounted after."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)],
                            capture_output=True, check=False)
    if result.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (not root); the injected-ENOSPC test covers this")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _fill(directory: Path) -> None:
    fd = os.open(directory / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 1024)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)


def _calls_with_warnings(func: Callable[[], Any], count: int) -> tuple[list[Any], list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = [func() for _ in range(count)]
    return results, [str(w.message) for w in caught]


def test_full_disk_real(tiny_tmpfs: Path) -> None:
    _fill(tiny_tmpfs)
    dump = Dump(tiny_tmpfs / "profiles")
    sink = JsonLines(tiny_tmpfs / "times.jsonl")

    @timed(reporters=[dump, sink])
    def f() -> str:
        return "result"

    results, messages = _calls_with_warnings(f, 5)
    assert results == ["result"] * 5
    assert len([m for m in messages if "could not write" in m]) == 1
    assert len([m for m in messages if "could not append" in m]) == 1
    assert all("ENOSPC" in m for m in messages)
    leftovers = [p for p in tiny_tmpfs.rglob("*") if p.is_file() and p.name != "filler" and p.stat().st_size]
    assert leftovers == []  # no partial dumps, no half lines


def test_full_disk_injected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from profiletools.reporters import files

    def no_space(*args: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "replace", no_space)
    dump = Dump(tmp_path)
    results, messages = _calls_with_warnings(lambda: timed(lambda: 7, reporters=[dump])(), 4)
    assert results == [7] * 4
    assert len(messages) == 1 and "ENOSPC" in messages[0]
    assert list(tmp_path.iterdir()) == []  # the temporary files were removed


def test_read_only_directory_real(tiny_tmpfs: Path) -> None:
    (tiny_tmpfs / "profiles").mkdir()
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_tmpfs)], check=True)
    dump = Dump(tiny_tmpfs / "profiles")
    results, messages = _calls_with_warnings(lambda: timed(lambda: 1, reporters=[dump])(), 3)
    assert results == [1, 1, 1]
    assert len(messages) == 1 and "EROFS" in messages[0]
    assert list((tiny_tmpfs / "profiles").iterdir()) == []


def test_directory_deleted_mid_run(tmp_path: Path) -> None:
    import shutil

    directory = tmp_path / "profiles"
    dump = Dump(directory)
    sink = JsonLines(directory / "times.jsonl")
    timed_f = timed(lambda: "ok", reporters=[dump, sink])
    results, messages = _calls_with_warnings(timed_f, 2)
    shutil.rmtree(directory)
    time.sleep(1.05)  # JsonLines checks its file's identity at most once a second
    more, more_messages = _calls_with_warnings(timed_f, 2)
    assert results + more == ["ok"] * 4
    assert messages == more_messages == []
    assert len(list(directory.glob("*.json"))) == 2  # the directory came back with the new dumps
    assert len((directory / "times.jsonl").read_text().splitlines()) == 2  # reopened, not lost


# -- load ---------------------------------------------------------------------------------------------


def test_sixteen_threads_ten_thousand_calls_each(tmp_path: Path) -> None:
    summary, collect, sink = Summary(), Collect(), JsonLines(tmp_path / "load.jsonl")

    @timed("load", reporters=[summary, collect, sink], cpu=False)
    def work(x: int) -> int:
        return x + 1

    barrier = threading.Barrier(16)
    sums: list[int] = []

    def run() -> None:
        barrier.wait()
        sums.append(sum(work(i) for i in range(10_000)))

    threads = [threading.Thread(target=run) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sums == [50_005_000] * 16
    assert len(collect) == 160_000
    assert summary.stats()["load"]["count"] == 160_000
    lines = (tmp_path / "load.jsonl").read_text().splitlines()
    assert len(lines) == 160_000
    per_thread: dict[int, int] = {}
    for line in lines:
        thread_id = json.loads(line)["thread"]
        per_thread[thread_id] = per_thread.get(thread_id, 0) + 1
    assert sorted(per_thread.values()) == [10_000] * 16
    # bounded memory: the aggregate holds buckets, not calls
    assert len(summary._series["load"].buckets) < 1500


def test_summary_memory_does_not_grow_with_calls() -> None:
    summary = Summary()
    record = _record("steady")

    def size_after(calls: int) -> int:
        tracemalloc.start()
        try:
            for i in range(calls):
                summary.report(record._replace(wall=0.001 * (1 + i % 50)))
            return tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()

    size_after(5_000)  # warm up: every bucket exists
    assert size_after(100_000) < 4096


# -- slow reporters -------------------------------------------------------------------------------


def test_slow_reporter_does_not_stretch_the_measured_time() -> None:
    collect = Collect()

    def slow(record: Any) -> None:
        time.sleep(0.3)

    @timed(reporters=[slow, collect])
    def quick() -> int:
        return 1

    start = time.perf_counter()
    quick()
    caller_waited = time.perf_counter() - start
    assert collect.records[0].wall < 0.05  # measurement ended before reporting started
    assert caller_waited >= 0.3  # ...but the caller waited for the reporter (documented)


def test_background_moves_a_slow_reporter_off_the_calling_thread() -> None:
    collect = Collect()

    def slow(record: Any) -> None:
        time.sleep(0.2)
        collect.report(record)

    background = Background(slow)

    @timed(reporters=[background])
    def quick() -> int:
        return 1

    start = time.perf_counter()
    assert [quick() for _ in range(3)] == [1, 1, 1]
    assert time.perf_counter() - start < 0.15
    background.flush()
    assert len(collect.records) == 3 and all(record.wall < 0.05 for record in collect.records)


def test_background_drops_with_one_warning_when_full() -> None:
    release = threading.Event()
    background = Background(lambda record: release.wait(5), maxsize=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(10):
            background.report(_record("burst"))
    release.set()
    background.flush()
    assert 7 <= background.dropped <= 8
    assert len(caught) == 1 and "queue full" in str(caught[0].message)
    with pytest.raises(ValueError, match="maxsize"):
        Background(Collect(), maxsize=0)


# -- hostile input (property-based) ----------------------------------------------------------------

ANY_VALUE = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True), st.text(max_size=20),
    st.lists(st.integers(), max_size=2), st.just(print), st.just(object()),
)
NAMES = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300,
) | st.sampled_from(["", "..", "../../etc/passwd", "a/b\\c", "\0", "CON", ".hidden", "x" * 5000])


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(options=st.dictionaries(st.sampled_from(["name", "reporters", "enabled", "every", "cpu", "budget",
                                                  "budget_p95"]), ANY_VALUE, max_size=4))
def test_timed_accepts_or_names_the_bad_argument(options: dict[str, Any]) -> None:
    options.setdefault("reporters", [])
    try:
        decorated = timed(**options)(lambda: "value")
    except (TypeError, ValueError) as exc:
        assert any(f"{key}=" in str(exc) for key in options), str(exc)
        return
    enabled = options.get("enabled", True)
    if enabled not in (True, False):
        return  # a callable: whatever it returns, the call must still work
    assert decorated() == "value"


@settings(max_examples=150, deadline=None)
@given(name=NAMES)
def test_any_name_is_kept_and_dumped_inside_the_directory(name: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    directory = tmp_path_factory.mktemp("dump")
    collect, dump = Collect(), Dump(directory)
    with timed(name, reporters=[collect, dump]):
        pass
    assert collect.records[0].name == name
    (path,) = list(directory.iterdir())
    assert path.resolve().parent == directory.resolve()
    assert not path.name.startswith(".") and len(path.name) < 200


@settings(max_examples=150, deadline=None)
@given(pattern=st.text(alphabet=string.printable, max_size=40) | st.sampled_from(
    ["{name}{suffix}", "{seq}-{name}{suffix}", "{name}/{suffix}", "../{suffix}", "{0}{suffix}", "{name!r}{suffix}"]))
def test_dump_patterns_are_accepted_safely_or_rejected(pattern: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    directory = tmp_path_factory.mktemp("pattern")
    try:
        dump = Dump(directory, pattern=pattern)
    except ValueError as exc:
        assert "Dump(pattern=)" in str(exc)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dump.report(_record("../escape"))
    for path in directory.rglob("*"):
        assert directory.resolve() in path.resolve().parents


@settings(max_examples=200, deadline=None)
@given(spec=st.text(alphabet=string.ascii_letters + string.digits + ",:/._- ", max_size=40))
def test_environment_reporter_specs_parse_or_name_the_variable(spec: str) -> None:
    try:
        targets = parse_reporters(spec)
    except ValueError as exc:
        assert str(exc).startswith(f"PROFILETOOLS_REPORTERS={spec!r}: ")
        return
    assert all(callable(report) for report in targets.reports)


@pytest.mark.parametrize("value", ["0", "false", "no", "off", "OFF", " 0 ", "1", "yes", "", "garbage"])
def test_profiletools_switch_values(value: str) -> None:
    code = "import profiletools; print(profiletools.is_enabled())"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30,
                            env={**os.environ, "PROFILETOOLS": value}, check=False)
    off = value.strip().lower() in {"0", "false", "no", "off"}
    assert result.stdout.strip() == str(not off)


def test_reporters_namespace_has_background() -> None:
    assert reporters.Background is Background


# -- fork during an aggregate -------------------------------------------------------------------


AGGREGATE_FORK = """
import os, sys, time
from profiletools import reporters
import profiletools
tool = getattr(profiletools, sys.argv[1])
out = sys.argv[2]

def work(n):
    return sum(i * i for i in range(n))

measured = tool(aggregate=True, reporters=[reporters.Dump(out)])(work)
measured(1000)  # the parent's aggregate has one call in it
pid = os.fork()
measured(2000)  # each process adds a call of its own
measured.flush()
if pid == 0:
    os._exit(0)
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status), os.getpid(), pid)
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.parametrize("tool", [name for name in TOOLS if name in ("profileit", "lineprofile")])
def test_fork_with_an_aggregate_active_gives_each_process_its_own_dump(tool: str, tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-c", AGGREGATE_FORK, tool, str(tmp_path)], capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    status, parent, child = map(int, result.stdout.split())
    assert status == 0  # the child neither hung nor failed
    owners = sorted(int(path.name.split("-")[1]) for path in tmp_path.iterdir())
    assert owners == sorted([parent, child])  # one dump each, under each one's own pid
    calls = {int(path.name.split("-")[1]): _calls_of_work(path) for path in tmp_path.iterdir()}
    assert calls == {parent: 2, child: 1}  # the child started clean: merging the dumps counts 3 calls


def _calls_of_work(path: Path) -> int:
    """How many times ``work`` ran according to a .prof or .lprof dump (its most-hit line)."""
    if path.suffix == ".prof":
        import pstats

        return sum(v[1] for k, v in pstats.Stats(str(path)).stats.items() if k[2] == "work")  # type: ignore[attr-defined]
    from line_profiler import load_stats

    timings = [v for k, v in load_stats(str(path)).timings.items() if k[2] == "work"]
    return min(hits for entries in timings for _, hits, _ in entries)
