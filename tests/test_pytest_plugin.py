"""The pytest plugin, run in real pytest sessions (``pytester``) in temporary directories."""

from __future__ import annotations

import json
import random
from importlib import metadata
from pathlib import Path

import pytest

from profiletools.core import delivery as settings

pytest_plugins = ["pytester"]


ENTRY_POINT_INSTALLED = any(entry.name == "profiletools" for entry in metadata.entry_points(group="pytest11"))


@pytest.fixture(autouse=True)
def _no_autoload(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inner sessions load only this plugin: fast (other installed plugins cost ~0.8 s a session)."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("-p", "profiletools.integrations.pytest_plugin", "-p", "no:cacheprovider", *args)


def read_lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


SAMPLE_TESTS = '''
import time
import profiletools
from profiletools import timed

@timed("module.work")
def work():
    return sum(range(100))

def test_calls_work():
    assert work() == 4950

def test_after_configure():
    profiletools.configure(reporters=[])   # the session file still gets the records
    try:
        with timed("block"):
            time.sleep(0.001)
    finally:
        profiletools.configure(reporters=None)

def test_fails():
    assert work() == 0
'''


def test_inert_without_options(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(SAMPLE_TESTS)
    factory = settings.default_reporter_factory
    result = run(pytester)
    result.assert_outcomes(passed=2, failed=1)
    assert "- profiletools -" not in result.stdout.str() and "records written" not in result.stdout.str()
    assert not (pytester.path / ".profiletools").exists()
    assert settings.default_reporter_factory is factory


def test_records_every_test_and_decorated_functions(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_sample=SAMPLE_TESTS)
    out = pytester.path / "perf" / "session.jsonl"
    out.parent.mkdir()
    out.write_text("stale line from an earlier run\n")
    factory = settings.default_reporter_factory
    result = run(pytester, "--profiletools", f"--profiletools-out={out}")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*- profiletools -*", f"* records written to {out}"])
    lines = read_lines(out)  # truncated first: the stale line is gone
    tests = {line["name"]: line for line in lines if line["tool"] == "pytest"}
    names = ("test_calls_work", "test_after_configure", "test_fails")
    assert set(tests) == {f"test_sample.py::{name}" for name in names}
    assert tests["test_sample.py::test_fails"]["error"] == "AssertionError"
    assert tests["test_sample.py::test_calls_work"]["error"] is None
    assert all(line["test"] == name and line["wall"] > 0 for name, line in tests.items())
    functions = [(line["name"], line["test"]) for line in lines if line["tool"] == "timed"]
    assert functions == [
        ("module.work", "test_sample.py::test_calls_work"),
        ("block", "test_sample.py::test_after_configure"),
        ("module.work", "test_sample.py::test_fails"),
    ]
    assert settings.default_reporter_factory is factory  # the tap is removed at the end


def test_default_output_is_a_new_file_per_session(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_one():\n    pass\n")
    run(pytester, "--profiletools").assert_outcomes(passed=1)
    run(pytester, "--profiletools").assert_outcomes(passed=1)
    sessions = sorted((pytester.path / ".profiletools").glob("session-*.jsonl"))
    assert len(sessions) == 2
    (line,) = read_lines(sessions[0])
    assert line["name"] == "test_default_output_is_a_new_file_per_session.py::test_one"


# -- the budget marker ---------------------------------------------------------------------------------


def test_budget_marker_fails_a_slow_test_with_the_measured_time(pytester: pytest.Pytester) -> None:
    pytester.makepyfile('''
        import time
        import pytest

        @pytest.mark.budget("5ms")
        def test_slow():
            time.sleep(0.05)

        @pytest.mark.budget(limit=30)
        def test_quick():
            pass

        @pytest.mark.budget("1ms")
        def test_own_failure():
            time.sleep(0.01)
            assert False, "its own failure"

        @pytest.mark.budget("5parsecs")
        def test_bad_unit():
            pass

        @pytest.mark.budget("50MB")
        def test_memory_unit():
            pass
    ''')
    result = run(pytester)
    result.assert_outcomes(passed=1, failed=2, errors=2)
    output = result.stdout.str()
    result.stdout.fnmatch_lines([
        "*ERROR at setup of test_bad_unit*",
        "@pytest.mark.budget='5parsecs' is not a number with a unit; units: ns, us, *",
        "*ERROR at setup of test_memory_unit*",
        "@pytest.mark.budget takes a time such as '50ms'; got the memory size '50MB' (peak= limits memory)",
        "*_ test_slow _*",
        "test_budget_marker_*.py::test_slow took * ms, over its budget of 5 ms (@pytest.mark.budget)",
    ])
    assert "its own failure" in output and "test_own_failure took" not in output
    assert "During handling" not in output


def test_budget_marker_works_with_recording(pytester: pytest.Pytester) -> None:
    pytester.makepyfile('''
        import pytest
        @pytest.mark.budget("20s")
        def test_quick():
            pass
    ''')
    out = pytester.path / "s.jsonl"
    run(pytester, "--profiletools", f"--profiletools-out={out}").assert_outcomes(passed=1)
    (line,) = read_lines(out)
    assert line["budget"] == {"limit": 20.0, "p95": None, "over": None}


# -- the fixture ------------------------------------------------------------------------------------------


FIXTURE_TESTS = '''
import time

def test_within(profiletools):
    search = profiletools.timed("search", budget="10s")(lambda q: q.upper())
    assert [search(q) for q in "ab"] == ["A", "B"]
    with profiletools.timed("block"):
        pass
    assert [r.name for r in profiletools.records] == ["search", "search", "block"]

def test_over(profiletools):
    @profiletools.timed(budget="1ms")
    def slow():
        time.sleep(0.01)
        return 7
    assert slow() == 7            # the test body runs on; the failure comes after it

def test_p95(profiletools):
    nap = profiletools.timed("nap", budget_p95="1ms")(lambda: time.sleep(0.002))
    for _ in range(3):
        nap()

def test_memory(profiletools):
    with profiletools.memprofile("alloc") as probe:
        data = bytearray(1 << 20)
    assert probe.record.peak >= 1 << 20
    assert profiletools.records == [probe.record]
'''


def test_fixture_binds_the_tools_and_checks_budgets_after_the_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_fix=FIXTURE_TESTS)
    out = pytester.path / "s.jsonl"
    result = run(pytester, "-rf", "--profiletools", f"--profiletools-out={out}")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines([
        "FAILED test_fix.py::test_over - Failed: profiletools fixture: 1 over budget:",
        "FAILED test_fix.py::test_p95 - Failed: profiletools fixture: 1 over budget:",
    ])
    assert "slow: 1 of 1 call over budget (worst: wall " in result.stdout.str()
    assert "nap: p95 " in result.stdout.str()
    by_test = [(line["name"], line["test"]) for line in read_lines(out) if line["tool"] != "pytest"]
    assert ("search", "test_fix.py::test_within") in by_test and ("alloc", "test_fix.py::test_memory") in by_test
    assert len([1 for name, _ in by_test if name == "nap"]) == 3


def test_fixture_without_recording_keeps_records_in_memory(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_fix=FIXTURE_TESTS)
    run(pytester, "-k", "within or memory").assert_outcomes(passed=2)
    assert not (pytester.path / ".profiletools").exists()


# -- compare at the end of the session -----------------------------------------------------------------


COMPARED_TESTS = '''
import time

def test_work(profiletools):
    work = profiletools.timed("work")(lambda: time.sleep(0.004))
    for _ in range(12):
        work()
'''


def write_baseline(path: Path, wall: float) -> None:
    rng = random.Random(1)
    with path.open("w") as out:
        for _ in range(12):
            out.write(json.dumps({"name": "work", "wall": wall * rng.uniform(0.95, 1.05)}) + "\n")


def test_compare_fails_the_session_on_a_confident_regression(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(COMPARED_TESTS)
    write_baseline(pytester.path / "baseline.jsonl", 0.0005)  # the baseline did the work in 0.5 ms
    result = run(pytester, "--profiletools-compare=baseline.jsonl", "--profiletools-fail-over=10%")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([
        "compared with baseline.jsonl:",
        "name * verdict",
        "work * 12 * 12 *slower",
        "FAIL: slower by more than +10.0% with confidence: work +*",
    ])


def test_compare_passes_when_not_slower(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(COMPARED_TESTS)
    write_baseline(pytester.path / "baseline.jsonl", 1.0)  # the baseline took a second per call
    result = run(pytester, "--profiletools-compare=baseline.jsonl", "--profiletools-fail-over=10%")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["work * faster", "ok: nothing slower by more than +10.0% with confidence"])


def test_a_baseline_folder_of_earlier_sessions(pytester: pytest.Pytester) -> None:
    """The default folder as the baseline: the earlier session is the base, this session is not part of it."""
    pytester.makepyfile(COMPARED_TESTS)
    run(pytester, "--profiletools").assert_outcomes(passed=1)
    result = run(pytester, "--profiletools-compare=.profiletools", "--profiletools-fail-over=300%")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.re_match_lines([r"work\s+12\s+12\s"])  # 12 calls each side: not 24 in the base
    assert len(list((pytester.path / ".profiletools").glob("*.jsonl"))) == 2


def test_option_mistakes_are_usage_errors(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_one():\n    pass\n")
    result = run(pytester, "--profiletools-fail-over=10%")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--profiletools-fail-over needs --profiletools-compare BASE*"])
    result = run(pytester, "--profiletools-compare=missing.jsonl")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--profiletools-compare: missing.jsonl: no such file or folder*"])
    write_baseline(pytester.path / "base.jsonl", 1.0)
    result = run(pytester, "--profiletools-compare=base.jsonl", f"--profiletools-out={pytester.path / 'base.jsonl'}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*would overwrite the baseline it is compared with*"])
    assert len(read_lines(pytester.path / "base.jsonl")) == 12
    result = run(pytester, "--profiletools-compare=b.jsonl", "--profiletools-fail-over=lots")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*expected a percentage such as 10% or 2.5*"])


def test_this_projects_own_tests_pass_with_the_plugin_recording(pytester: pytest.Pytester) -> None:
    """The plugin (with --profiletools) under a real suite that reconfigures reporters in every test."""
    root = Path(__file__).resolve().parent.parent
    out = pytester.path / "own.jsonl"
    result = pytester.runpytest_subprocess(
        "-p", "profiletools.integrations.pytest_plugin", "-p", "no:cacheprovider", "-q",
        f"--rootdir={root}", "-c", str(root / "pyproject.toml"), str(root / "tests" / "test_reporters.py"),
        "--profiletools", f"--profiletools-out={out}",
    )
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()[-2000:]
    assert sum(line["tool"] == "pytest" for line in read_lines(out)) >= 20


@pytest.mark.skipif(not ENTRY_POINT_INSTALLED, reason="the pytest11 entry point is not installed yet")
def test_the_entry_point_loads_the_plugin(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    pytester.makepyfile("def test_one():\n    pass\n")
    out = pytester.path / "s.jsonl"
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--profiletools", f"--profiletools-out={out}")
    assert result.ret == pytest.ExitCode.OK
    assert [line["tool"] for line in read_lines(out)] == ["pytest"]


def test_xdist_workers_write_to_the_controllers_file(pytester: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    pytester.makepyfile(test_fix=FIXTURE_TESTS)
    out = pytester.path / "s.jsonl"
    result = pytester.runpytest_subprocess(
        "-p", "xdist", "-p", "profiletools.integrations.pytest_plugin", "-p", "no:cacheprovider", "-n", "2",
        "-k", "within or memory", "--profiletools", f"--profiletools-out={out}",
    )
    assert result.ret == pytest.ExitCode.OK
    lines = read_lines(out)
    assert {line["name"] for line in lines if line["tool"] == "pytest"} == {
        "test_fix.py::test_within", "test_fix.py::test_memory",
    }
    result.stdout.fnmatch_lines([f"{len(lines)} records written to {out}"])


# -- what a new user expects of the plugin -------------------------------------------------------------


def test_out_without_recording_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_one():\n    pass\n")
    result = run(pytester, "--profiletools-out=perf.jsonl")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--profiletools-out needs --profiletools*"])
    assert not (pytester.path / "perf.jsonl").exists()


SLOW_TESTS = '''
import time
import pytest
from profiletools import timed

@timed("fetch", budget="1ms")
def fetch():
    time.sleep(0.02)

def test_quick():
    pass

def test_slowest():
    time.sleep(0.3)

def test_middle():
    time.sleep(0.1)

def test_calls_over_budget():
    fetch()

@pytest.mark.budget("5ms")
def test_marked_over():
    time.sleep(0.05)
'''


def test_terminal_summary_lists_the_slowest_tests_and_the_overruns(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_speed=SLOW_TESTS)
    out = pytester.path / "s.jsonl"
    # in a fresh process, as a user runs it: profiletools is first imported by the test module
    result = pytester.runpytest_subprocess(
        "-p", "profiletools.integrations.pytest_plugin", "-p", "no:cacheprovider",
        "--profiletools", f"--profiletools-out={out}", "-W", "ignore::RuntimeWarning",
    )
    result.assert_outcomes(passed=4, failed=1)
    text = result.stdout.str()
    summary = text[text.index("- profiletools -"):]
    slowest = summary.index("slowest tests")
    assert summary.index("test_speed.py::test_slowest") < summary.index("test_speed.py::test_middle")
    assert slowest < summary.index("test_speed.py::test_slowest")
    assert "over budget" in summary
    assert "  fetch in test_speed.py::test_calls_over_budget: wall " in summary  # the record, and its test
    assert "> budget 1 ms" in summary
    assert "test_speed.py::test_marked_over" in summary and "budget 5 ms" in summary
    assert f"records written to {out}" in summary


def test_fixture_budget_failure_is_reported_once(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_fix=FIXTURE_TESTS)
    result = run(pytester, "-k", "p95")
    result.assert_outcomes(failed=1)
    text = result.stdout.str()
    assert "During handling of the above exception" not in text
    # the failures section only: with CI set, pytest repeats whole messages in its short summary
    failures = text[text.index("= FAILURES ="):text.index("short test summary info")]
    assert failures.count("nap: p95 ") == 1, failures


def test_fixture_has_every_registered_tool(pytester: pytest.Pytester) -> None:
    pytester.makepyfile('''
import time
from profiletools.core import registry

def test_all(profiletools):
    for name in registry.tools():
        assert callable(getattr(profiletools, name)), name
        assert name in dir(profiletools)
    busy = profiletools.sampleprofile("busy", interval=0.001)
    with busy:
        end = time.perf_counter() + 0.02
        while time.perf_counter() < end:
            pass
    assert [record.tool for record in profiletools.records] == ["sampleprofile"]
''')
    run(pytester).assert_outcomes(passed=1)
