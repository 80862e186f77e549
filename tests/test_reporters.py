"""Built-in reporters, failure isolation and the precedence of reporter settings."""

from __future__ import annotations

import io
import json
import logging
import math
import os
import random
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import profiletools
from profiletools import reporters, timed
from profiletools.core.records import TimingRecord
from profiletools.reporters import Collect, Dump, JsonLines, Log, Stream, Summary
from tests.conftest import run_python


def make_record(name: str = "n", wall: float = 0.5, error: str | None = None) -> TimingRecord:
    return TimingRecord("timed", name, name, "m", 1.0, wall, None, 1, 2, error)


# -- Stream and Log -------------------------------------------------------------------------------


def test_stream_writes_one_line_per_record() -> None:
    out = io.StringIO()

    @timed("db.query", reporters=[Stream(out)])
    def query() -> int:
        return 3

    query()
    query()
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("[profiletools] timed db.query: ")
    assert "cpu" in lines[0]


def test_stream_defaults_to_stderr_at_report_time(capsys: pytest.CaptureFixture[str]) -> None:
    with timed("to-stderr"):
        pass
    captured = capsys.readouterr()
    assert "timed to-stderr:" in captured.err and captured.out == ""


def test_stream_marks_errors_and_multiline_text_is_indented() -> None:
    out = io.StringIO()
    Stream(out).report(make_record(error="KeyError"))
    assert out.getvalue().rstrip().endswith("raised KeyError")

    class TwoLines(TimingRecord):
        __slots__ = ()

        def text(self) -> str:
            return "first\nsecond"

    out = io.StringIO()
    Stream(out).report(TwoLines(*make_record()))
    assert out.getvalue() == "[profiletools] first\n               second\n"


class _CountedFlushes(io.TextIOWrapper):
    """A text stream over bytes that counts the flushes asked of it (writing a newline flushes the buffer itself
    when ``line_buffering`` is on, without calling this method)."""

    flushes = 0

    def flush(self) -> None:
        self.flushes += 1
        super().flush()


@pytest.mark.parametrize("line_buffering", [True, False])
def test_stream_makes_each_line_reach_its_file_and_flushes_only_what_is_not_flushed_yet(line_buffering: bool) -> None:
    raw = io.BytesIO()
    stream = _CountedFlushes(raw, encoding="utf-8", line_buffering=line_buffering)
    Stream(stream).report(make_record(name="one"))
    assert raw.getvalue().decode().startswith("[profiletools] timed one: ")  # in the file now, not in a buffer
    assert raw.getvalue().endswith(b"\n")
    assert stream.flushes == (0 if line_buffering else 1)  # (a line-buffered stream flushed on the newline)


def test_log_reporter_uses_the_profiletools_logger(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="profiletools"):
        with timed("logged", reporters=[Log("DEBUG")]):
            pass
    (entry,) = [r for r in caplog.records if r.name == "profiletools"]
    assert entry.levelno == logging.DEBUG
    assert "timed logged:" in entry.getMessage()
    assert entry.profile_record.name == "logged"  # type: ignore[attr-defined]


def test_log_reporter_skips_formatting_below_its_level(caplog: pytest.LogCaptureFixture) -> None:
    class Explosive(TimingRecord):
        __slots__ = ()

        def text(self) -> str:
            raise AssertionError("formatted although the level is off")

    with caplog.at_level(logging.WARNING, logger="profiletools"):
        Log(logging.INFO).report(Explosive(*make_record()))
    assert caplog.records == []


def test_log_rejects_bad_levels() -> None:
    with pytest.raises(ValueError, match="Log\\(level=\\)"):
        Log("LOUD")
    with pytest.raises(TypeError, match="Log\\(level=\\)"):
        Log(2.5)  # type: ignore[arg-type]


# -- Collect ---------------------------------------------------------------------------------------


def test_collect_keeps_records_and_bounds_them() -> None:
    bounded = Collect(maxlen=2)
    for name in "abc":
        bounded.report(make_record(name))
    assert [r.name for r in bounded.records] == ["b", "c"]
    bounded.clear()
    assert len(bounded) == 0
    with pytest.raises(ValueError, match="maxlen"):
        Collect(maxlen=0)


# -- JsonLines --------------------------------------------------------------------------------------


def test_jsonlines_appends_one_object_per_line(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "times.jsonl"
    sink = JsonLines(path)
    assert not path.exists()  # opened on the first record

    @timed("j", reporters=[sink])
    def f(x: int) -> int:
        return x

    for i in range(3):
        f(i)
    lines = path.read_text().splitlines()
    assert [json.loads(line)["name"] for line in lines] == ["j", "j", "j"]
    sink.close()
    f(9)
    assert len(path.read_text().splitlines()) == 4  # reopened after close


def test_jsonlines_threads_write_only_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "threads.jsonl"
    sink = JsonLines(path)
    long_name = "x" * 3000  # lines longer than a pipe buffer still stay whole

    def run() -> None:
        for _ in range(200):
            sink.report(make_record(long_name))

    threads = [threading.Thread(target=run) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = path.read_text().splitlines()
    assert len(lines) == 1200
    assert all(json.loads(line)["name"] == long_name for line in lines)


def test_jsonlines_four_processes_append_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "procs.jsonl"
    code = (
        "import sys\n"
        "from profiletools import timed\n"
        "from profiletools.reporters import JsonLines\n"
        f"sink = JsonLines({str(path)!r})\n"
        "@timed('p' * 2000, reporters=[sink], cpu=False)\n"
        "def f(): return 1\n"
        "for _ in range(300): f()\n"
    )
    import subprocess
    import sys

    processes = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(4)]
    assert [p.wait(timeout=60) for p in processes] == [0, 0, 0, 0]
    lines = path.read_text().splitlines()
    assert len(lines) == 1200
    records = [json.loads(line) for line in lines]
    assert len({r["pid"] for r in records}) == 4
    assert all(r["name"] == "p" * 2000 for r in records)


def test_jsonlines_unwritable_path_warns_once_and_the_call_goes_on(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    sink = JsonLines(blocker / "times.jsonl")

    @timed(reporters=[sink])
    def f() -> int:
        return 7

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert [f() for _ in range(5)] == [7] * 5
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1 and "could not append" in messages[0]


# -- Summary ------------------------------------------------------------------------------------------


def test_summary_exact_figures_and_percentiles_within_two_percent() -> None:
    summary = Summary()
    rng = random.Random(3)
    values = [rng.lognormvariate(-6, 1.0) for _ in range(20_000)]
    for value in values:
        summary.report(make_record("q", value))
    summary.report(make_record("q", 0.01, error="KeyError"))
    values.append(0.01)
    figures = summary.stats()["q"]
    assert figures["count"] == len(values) and figures["errors"] == 1
    assert math.isclose(figures["total"], sum(values), rel_tol=1e-9)
    assert figures["min"] == min(values) and figures["max"] == max(values)
    assert math.isclose(figures["mean"], sum(values) / len(values), rel_tol=1e-9)
    ordered = sorted(values)
    for label, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
        exact = ordered[int(q * (len(ordered) - 1))]
        assert abs(figures[label] - exact) / exact < 0.02, label


def test_summary_memory_does_not_grow_with_calls() -> None:
    summary = Summary()
    for i in range(1000):
        summary.report(make_record("m", 0.001 * (1 + (i % 7))))
    buckets_after_1k = len(summary._series["m"].buckets)
    for i in range(50_000):
        summary.report(make_record("m", 0.001 * (1 + (i % 7))))
    assert len(summary._series["m"].buckets) == buckets_after_1k <= 7


def test_summary_table_and_cpu_field() -> None:
    summary = Summary(field="cpu")
    record = make_record("with-cpu")._replace(cpu=0.25)
    summary.report(record)
    summary.report(make_record("no-cpu"))  # cpu None: not counted
    out = io.StringIO()
    summary.print(out)
    text = out.getvalue()
    assert "(cpu time)" in text and "with-cpu" in text and "no-cpu" not in text
    assert text.splitlines()[1].split()[:3] == ["name", "count", "errors"]
    with pytest.raises(ValueError, match="field="):
        Summary(field="rss")


def test_summary_prints_at_exit_when_asked() -> None:
    result = run_python(
        "from profiletools import timed\n"
        "from profiletools.reporters import Summary\n"
        "s = Summary(at_exit=True)\n"
        "for _ in range(3):\n"
        "    with timed('exit-step', reporters=[s]): pass\n"
    )
    assert result.returncode == 0, result.stderr
    assert "profiletools summary" in result.stderr
    row = next(line for line in result.stderr.splitlines() if line.startswith("exit-step"))
    assert row.split()[1] == "3"


@pytest.mark.parametrize("behind_background", [False, True], ids=["direct", "behind Background"])
def test_summary_at_exit_includes_aggregates_flushed_at_exit(behind_background: bool) -> None:
    """Aggregates report at exit, buffers deliver, and only then the summary prints (it printed nothing)."""
    result = run_python(
        "from profiletools import profileit, reporters\n"
        "s = reporters.Summary(at_exit=True)\n"
        f"target = reporters.Background(s) if {behind_background} else s\n"
        "@profileit(aggregate=True, reporters=[target])\n"
        "def step():\n"
        "    return sum(range(100))\n"
        "for _ in range(5):\n"
        "    step()\n"
    )
    assert result.returncode == 0, result.stderr
    assert "profiletools summary" in result.stderr, result.stderr
    row = next(line for line in result.stderr.splitlines() if line.startswith("step"))
    assert row.split()[1] == "1", row  # one aggregate record of the five calls


# -- Dump -------------------------------------------------------------------------------------------


def test_dump_writes_one_json_file_per_record_atomically(tmp_path: Path) -> None:
    dump = Dump(tmp_path / "out")

    @timed("db/../../query", reporters=[dump])
    def f() -> int:
        return 1

    f()
    f()
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert len(files) == 2
    assert all(name.startswith(f"db_query-{os.getpid()}-") and name.endswith(".json") for name in files)
    assert json.loads((tmp_path / "out" / files[0]).read_text())["name"] == "db/../../query"
    assert list(dump.written) == [str(tmp_path / "out" / name) for name in files]
    assert all((tmp_path / "out" / name).stat().st_mode & 0o777 == 0o644 for name in files)


def test_dump_directory_defaults_to_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PROFILETOOLS_DIR", str(tmp_path / "env-dir"))
    assert Dump().directory == str(tmp_path / "env-dir")
    monkeypatch.delenv("PROFILETOOLS_DIR")
    assert Dump().directory == "profiles"


def test_dump_unwritable_directory_warns_once_and_leaves_nothing(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the directory should be")
    dump = Dump(blocker / "profiles")

    @timed(reporters=[dump])
    def f() -> str:
        return "value"

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert [f() for _ in range(4)] == ["value"] * 4
    assert len(caught) == 1 and "could not write" in str(caught[0].message)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker"]


def test_dump_failing_serializer_leaves_no_partial_file(tmp_path: Path) -> None:
    class Broken(TimingRecord):
        __slots__ = ()

        def write_dump(self, stream) -> None:  # type: ignore[no-untyped-def]
            stream.write(b"half")
            raise RuntimeError("serializer broke")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Dump(tmp_path).report(Broken(*make_record()))
    assert list(tmp_path.iterdir()) == []
    assert "serializer broke" in str(caught[0].message)


@pytest.mark.parametrize(
    "pattern", ["{name}", "../{name}{suffix}", "{name}/{seq}{suffix}", "{nope}{suffix}", ".{name}{suffix}"]
)
def test_dump_rejects_bad_patterns(pattern: str) -> None:
    with pytest.raises(ValueError, match="Dump\\(pattern=\\)"):
        Dump("x", pattern=pattern)


def test_dump_custom_pattern(tmp_path: Path) -> None:
    dump = Dump(tmp_path, pattern="{tool}_{name}_{seq}{suffix}")
    dump.report(make_record("a"))
    (path,) = tmp_path.iterdir()
    assert path.name.startswith("timed_a_") and path.suffix == ".json"


# -- failure isolation ----------------------------------------------------------------------------------


def test_raising_reporter_warns_once_and_never_reaches_user_code(collect: Collect) -> None:
    def broken(record: object) -> None:
        raise ZeroDivisionError("reporter bug")

    @timed(reporters=[broken, collect])
    def f(x: int) -> int:
        return x + 1

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert [f(i) for i in range(5)] == [1, 2, 3, 4, 5]
    assert len(caught) == 1
    assert "ZeroDivisionError" in str(caught[0].message) and "broken" in str(caught[0].message)
    assert len(collect.records) == 5  # the other reporter still got every record


def _lone_reporter_uses() -> list[tuple[str, Callable[[Callable[[object], None]], int]]]:
    """Each path that calls a lone reporter directly (``Targets.single``), as a use returning 7."""

    def block(**options: Any) -> Callable[[Callable[[object], None]], int]:
        def use(report: Callable[[object], None]) -> int:
            with timed("b", reporters=[report], **options):
                return 7

        return use

    def decorated(tool: Callable[..., Any], **options: Any) -> Callable[[Callable[[object], None]], int]:
        return lambda report: tool(reporters=[report], **options)(lambda: 7)()

    return [
        ("with timed()", block()), ("with timed(cpu=False)", block(cpu=False)),
        ("with timed(budget=)", block(budget=1.0)), ("@timed", decorated(timed)),
        ("@timed(cpu=False)", decorated(timed, cpu=False)), ("@profileit", decorated(profiletools.profileit)),
    ]


@pytest.mark.parametrize(("path", "use"), _lone_reporter_uses(), ids=[path for path, _ in _lone_reporter_uses()])
def test_a_lone_reporter_gets_each_record_once_and_its_failure_warns_once(path: str, use: Any) -> None:
    seen: list[object] = []
    assert [use(seen.append) for _ in range(3)] == [7, 7, 7]
    assert len(seen) == 3 and len({id(record) for record in seen}) == 3, path

    def broken(record: object) -> None:
        raise ZeroDivisionError("reporter bug")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert [use(broken) for _ in range(3)] == [7, 7, 7]
    assert [str(w.message).count("ZeroDivisionError") for w in caught] == [1], path


def test_raising_reporter_does_not_mask_the_users_exception() -> None:
    class Bad:
        def report(self, record: object) -> None:
            raise RuntimeError("reporter")

    @timed(reporters=[Bad()])
    def f() -> None:
        raise KeyError("user")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(KeyError, match="user"):
            f()


# -- precedence ---------------------------------------------------------------------------------------


def test_per_use_reporters_beat_configure(collect: Collect) -> None:
    configured = Collect()
    profiletools.configure(reporters=[configured])

    @timed(reporters=[collect])
    def own() -> None:
        pass

    @timed
    def default() -> None:
        pass

    own()
    default()
    assert [r.name.rsplit(".", 1)[-1] for r in collect.records] == ["own"]
    assert [r.name.rsplit(".", 1)[-1] for r in configured.records] == ["default"]


def test_configure_applies_to_functions_decorated_earlier(collect: Collect) -> None:
    @timed
    def early() -> None:
        pass

    profiletools.configure(reporters=[collect])
    early()
    assert len(collect.records) == 1
    profiletools.configure(reporters=[])
    early()
    assert len(collect.records) == 1  # an empty list reports nowhere


def test_environment_reporters_and_their_precedence(tmp_path: Path) -> None:
    path = tmp_path / "env.jsonl"
    result = run_python(
        "import profiletools\n"
        "from profiletools import timed, reporters\n"
        "@timed\n"
        "def from_env(): pass\n"
        "from_env()\n"
        "c = reporters.Collect()\n"
        "profiletools.configure(reporters=[c])\n"
        "from_env()\n"
        "print(len(c.records))\n",
        env={"PROFILETOOLS_REPORTERS": f"jsonl:{path}"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1"  # the second call went to configure()'s reporter
    assert len(path.read_text().splitlines()) == 1  # the first went to the environment's
    assert result.stderr == ""  # and not to the default Stream


def test_unknown_environment_reporter_warns_and_uses_the_default() -> None:
    result = run_python(
        "from profiletools import timed\n"
        "print(timed(lambda: 1)())\n",
        env={"PROFILETOOLS_REPORTERS": "log,bogus"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "1\n"
    assert "PROFILETOOLS_REPORTERS='log,bogus': unknown reporter 'bogus'; allowed:" in result.stderr
    assert "jsonl" in result.stderr and "[profiletools] timed " in result.stderr


def test_environment_reporter_missing_argument() -> None:
    from profiletools.core.config import parse_reporters

    with pytest.raises(ValueError, match="'jsonl' needs a file path"):
        parse_reporters("jsonl")
    targets = parse_reporters("stream, log:DEBUG, summary, none, collect")
    owners = [type(r.__self__).__name__ for r in targets.reports]
    assert owners == ["Stream", "Log", "Summary", "deque"]  # Collect reports through its deque's append


def test_reporters_namespace_exports() -> None:
    assert {"Stream", "Log", "Collect", "JsonLines", "Summary", "Dump"} <= set(reporters.__all__)
    assert isinstance(Collect(), reporters.Reporter)
