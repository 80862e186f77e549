"""The pytest plugin on call counts: ``@pytest.mark.budget(calls=, total_calls=, peak=)``, count baselines."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.test_pytest_plugin import _no_autoload, run  # noqa: F401 - _no_autoload: an autouse fixture

pytest_plugins = ["pytester"]


STORE = '''
def lookup(key):
    return len(key)

def handle(keys, extra=0):
    for key in keys:
        lookup(key)
    for _ in range(extra):
        lookup("x")
    return len(keys)
'''

MARKED = '''
import unittest
import pytest
from store import handle, lookup

@pytest.mark.budget(calls={"store:lookup": 3})
def test_at_budget():
    handle(["a", "b", "c"])

@pytest.mark.budget(calls={"store:lookup": 3})
def test_one_more():
    handle(["a", "b", "c"], extra=1)

@pytest.mark.budget(total_calls=6)
def test_total():
    handle(["a"], extra=1)      # the test, handle, lookup x2, len x3 (range() is a type: not counted): 7

@pytest.mark.budget("30s", calls={"store:*": 3, "builtins:len": 10})
def test_glob_with_time():
    handle(["a", "b"], extra=1)   # handle 1 + lookup 3: over 3

@pytest.mark.budget(peak="10 KB")
def test_peak():
    data = [bytearray(1000) for _ in range(50)]

@pytest.mark.budget(peak="1 MB", calls={"lookup": 1})
def test_peak_and_calls_within():
    data = bytearray(1000)
    lookup("a")

@pytest.mark.budget(calls={"store:lokup": 2})
def test_typo():
    handle(["a"])

def test_unbudgeted():
    handle(["a"] * 100)

class Case(unittest.TestCase):
    @pytest.mark.budget(calls={"lookup": 1})
    def test_method(self):
        lookup("a")

class TestClass:
    @pytest.mark.budget(calls={"lookup": 1})
    def test_method(self):
        lookup("a")
'''


def test_the_marker_fails_tests_over_their_count_and_peak_budgets_with_one_message(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(store=STORE, test_marked=MARKED)
    result = run(pytester, "-rA")
    outcomes = {line.split(" ")[1]: line.split(" ")[0] for line in result.stdout.lines
                if line.startswith(("PASSED ", "FAILED "))}
    assert outcomes == {
        "test_marked.py::test_at_budget": "PASSED",
        "test_marked.py::test_one_more": "FAILED",
        "test_marked.py::test_total": "FAILED",
        "test_marked.py::test_glob_with_time": "FAILED",
        "test_marked.py::test_peak": "FAILED",
        "test_marked.py::test_peak_and_calls_within": "PASSED",
        "test_marked.py::test_typo": "PASSED",
        "test_marked.py::test_unbudgeted": "PASSED",
        "test_marked.py::Case::test_method": "FAILED",
        "test_marked.py::TestClass::test_method": "PASSED",
    }
    output = result.stdout.str()
    over = "is over its budget (@pytest.mark.budget):\n"
    assert f"test_marked.py::test_one_more {over}  store:lookup 4 calls > budget 3" in output
    assert f"test_marked.py::test_total {over}  total 7 calls > budget 6" in output
    assert "  store:* 4 calls > budget 3 (store:lookup 3, store:handle 1)" in output
    assert f"test_marked.py::test_peak {over}  peak 5" in output
    assert " KB > budget 10 KB" in output
    assert f"Case::test_method {over}  could not be measured: only test" in output
    assert "pattern 'store:lokup' matched no function the test called" in output  # a warning, not a failure


def test_marker_mistakes_are_errors_at_setup_naming_the_argument(pytester: pytest.Pytester) -> None:
    pytester.makepyfile('''
        import pytest

        @pytest.mark.budget(calls={"store:lookup": -1})
        def test_negative():
            pass

        @pytest.mark.budget(calls=["store:lookup"])
        def test_not_a_dict():
            pass

        @pytest.mark.budget(total_calls=1.5)
        def test_fraction():
            pass

        @pytest.mark.budget(peak=20_000_000)
        def test_peak_number():
            pass

        @pytest.mark.budget(callz={"f": 1})
        def test_unknown():
            pass
    ''')
    result = run(pytester)
    result.assert_outcomes(errors=5)
    result.stdout.fnmatch_lines([
        "@pytest.mark.budget calls['store:lookup'] takes a whole number of calls (>= 0); got -1",
        "@pytest.mark.budget calls= takes a dict of function pattern -> most calls*",
        "@pytest.mark.budget total_calls= takes a whole number of calls (>= 0); got float 1.5",
        "@pytest.mark.budget peak= takes a memory size such as '20 MB'; got 20000000",
        "@pytest.mark.budget takes unknown argument 'callz'; *",
    ], consecutive=False)


def test_a_passing_count_budget_writes_the_tests_counts_and_peak_into_the_session(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(store=STORE, test_marked=MARKED)
    out = pytester.path / "s.jsonl"
    run(pytester, "-k", "at_budget or peak_and_calls or unbudgeted", "--profiletools", f"--profiletools-out={out}")
    tests = {line["name"]: line for line in map(json.loads, out.read_text().splitlines()) if line["tool"] == "pytest"}
    at_budget = tests["test_marked.py::test_at_budget"]["payload"]
    assert at_budget == {"call_counts": {
        "test_marked:test_at_budget": 1, "store:handle": 1, "store:lookup": 3, "builtins:len": 4,
    }}
    both = tests["test_marked.py::test_peak_and_calls_within"]["payload"]
    assert both["call_counts"]["store:lookup"] == 1 and both["peak"] >= 1000
    assert "payload" not in tests["test_marked.py::test_unbudgeted"]  # not measured without --profiletools-calls


BASE_TESTS = '''
from store import handle

def test_same():
    handle(["a", "b"])

def test_grows():
    handle(["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"], extra=EXTRA)

def test_fails():
    handle(["a"])
    assert False
'''


def test_a_baseline_of_counts_and_the_tests_whose_counts_changed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(store=STORE, test_base=BASE_TESTS.replace("EXTRA", "0"))
    base = pytester.path / "base.jsonl"
    result = run(pytester, "--profiletools-calls", f"--profiletools-out={base}")  # implies --profiletools
    result.assert_outcomes(passed=2, failed=1)
    lines = [json.loads(line) for line in base.read_text().splitlines()]
    counts = {line["name"]: line.get("payload", {}).get("call_counts") for line in lines}
    assert counts["test_base.py::test_grows"]["store:lookup"] == 10  # type: ignore[index]
    assert counts["test_base.py::test_fails"] is None  # a failing test's counts stop where it failed

    pytester.makepyfile(test_base=BASE_TESTS.replace("EXTRA", "1"))  # one more call of lookup: +10 %
    compare = ("-k", "not fails", f"--profiletools-compare={base}")
    result = run(pytester, *compare, "--profiletools-fail-calls=10%")
    assert result.ret == pytest.ExitCode.OK  # +10 % is not more than 10 %
    result.stdout.fnmatch_lines([
        f"call counts compared with {base}:",
        "test_base.py::test_grows: total calls 23 → 25 (+8.7%)",
        "  builtins:len  11 → 12   +9.1%",
        "  store:lookup  10 → 11  +10.0%",
        "1 test with changed calls, 1 unchanged (exact counts)",
        "ok: no call count grew by more than +10.0%",
    ])
    result = run(pytester, *compare, "--profiletools-fail-calls=9.5%")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([
        "FAIL: calls grew by more than +9.5%:",
        "  test_base.py::test_grows: store:lookup 10 → 11 (+10.0%)",
    ])


def test_count_baseline_option_mistakes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_one():\n    pass\n")
    result = run(pytester, "--profiletools-fail-calls=10%")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--profiletools-fail-calls needs --profiletools-compare BASE*"])
    run(pytester, "--profiletools", "--profiletools-out=times.jsonl")
    result = run(pytester, "--profiletools-compare=times.jsonl", "--profiletools-fail-calls=10%")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*times.jsonl holds no call counts of tests (record them with --profiletools-calls)*"])
    result = run(pytester, "--profiletools-compare=times.jsonl", "--profiletools-fail-calls=lots")
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_the_compare_command_judges_the_counts_of_two_sessions(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(store=STORE, test_base=BASE_TESTS.replace("EXTRA", "0"))
    run(pytester, "--profiletools-calls", "--profiletools-out=base.jsonl")
    pytester.makepyfile(test_base=BASE_TESTS.replace("EXTRA", "5"))
    run(pytester, "--profiletools-calls", "--profiletools-out=new.jsonl")
    command = [sys.executable, "-m", "profiletools", "compare", "base.jsonl", "new.jsonl"]
    done = subprocess.run([*command, "--fail-calls", "20%"], capture_output=True, text=True, cwd=pytester.path,
                          timeout=60, check=False)
    assert done.returncode == 1, done.stderr
    assert "call counts per test:" in done.stdout
    assert "FAIL: calls grew by more than +20.0%:" in done.stdout
    assert "test_base.py::test_grows: builtins:len 11 → 16 (+45.5%), store:lookup 10 → 15 (+50.0%)" in done.stdout
    same = subprocess.run([*command[:-1], "base.jsonl", "--fail-calls", "0%", "--json"], capture_output=True,
                          text=True, cwd=pytester.path, timeout=60, check=False)
    assert same.returncode == 0, same.stderr
    assert json.loads(same.stdout)["counts"]["failed"] == {}


def test_xdist_workers_profile_the_tests_of_the_baseline(pytester: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    pytester.makepyfile(store=STORE, test_base=BASE_TESTS.replace("EXTRA", "0"))
    run(pytester, "--profiletools-calls", "--profiletools-out=base.jsonl")
    pytester.makepyfile(test_base=BASE_TESTS.replace("EXTRA", "3"))
    result = pytester.runpytest_subprocess(
        "-p", "xdist", "-p", "profiletools.integrations.pytest_plugin", "-p", "no:cacheprovider", "-n", "2",
        "--profiletools-compare=base.jsonl", "--profiletools-fail-calls=10%",
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*test_base.py::test_grows: *store:lookup 10 → 13 (+30.0%)*"])


def test_a_test_that_cannot_be_profiled_for_the_baseline_says_so(pytester: pytest.Pytester) -> None:
    pytester.makepyfile('''
        import unittest

        class Case(unittest.TestCase):
            def test_method(self):
                pass

        def test_function():
            pass
    ''')
    out = pytester.path / "s.jsonl"
    result = run(pytester, "--profiletools-calls", f"--profiletools-out={out}")
    result.assert_outcomes(passed=2, warnings=1)
    result.stdout.fnmatch_lines(["*profiletools: *Case::test_method: no call counts recorded: could not be measured*"])
    payloads = {line["name"]: line.get("payload") for line in map(json.loads, out.read_text().splitlines())}
    assert payloads["test_a_test_that_cannot_be_profiled_for_the_baseline_says_so.py::Case::test_method"] is None
    assert payloads["test_a_test_that_cannot_be_profiled_for_the_baseline_says_so.py::test_function"] == {
        "call_counts": {"test_a_test_that_cannot_be_profiled_for_the_baseline_says_so:test_function": 1},
    }


def test_the_fixture_binds_profileit_with_call_budgets(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(store=STORE)
    pytester.makepyfile(test_fixture='''
        from store import handle

        def test_over(profiletools):
            checked = profiletools.profileit(budget_calls={"store:lookup": 2})(handle)
            assert checked(["a", "b", "c"]) == 3   # the body runs on; the failure comes after it
    ''')
    result = run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "profiletools fixture: 1 over budget:",
        "  handle: 1 of 1 call over budget (worst: store:lookup 3 calls > budget 2)",
    ])
