"""``profiletools compare`` as a differential profile: calls (or line hits) and times old -> new, ``--fail-calls``.

The two sides are real dumps of the docs' inverted index before and after a
change that made it quadratic, each written by its own process (cProfile's
``dump_stats``, and ``lineprofile`` with ``reporters.Dump``).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from profiletools.analysis.calls import Change, Side, diff, read_side

EXAMPLES = Path(__file__).parent.parent / "docs" / "examples"
LINEAR = (EXAMPLES / "inverted_index.py").read_text()
#: The same module after a change: ``build_index`` asks ``getOffsetUpToWord`` for every word.
QUADRATIC = LINEAR.replace("def build_index(", "def build_index_linear(").replace(
    "def build_index_quadratic(", "def build_index("
)
#: Raw cProfile around one call, as a program would take it.
MAIN = '''
import cProfile, sys
from inverted_index import build_index, sample_text
text = sample_text(1000)
profiler = cProfile.Profile()
profiler.runcall(build_index, text)
profiler.dump_stats(sys.argv[1])
'''
LINES = '''
import sys
from profiletools import lineprofile, reporters
from inverted_index import build_index, getOffsetUpToWord, sample_text
with lineprofile(build_index, getOffsetUpToWord, reporters=[reporters.Dump(sys.argv[1])]):
    build_index(sample_text(200))
'''


def version(folder: Path, source: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "inverted_index.py").write_text(source)
    (folder / "main.py").write_text(MAIN)
    (folder / "lines.py").write_text(LINES)
    return folder


def python(folder: Path, *args: str) -> None:
    done = subprocess.run([sys.executable, *args], cwd=folder, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr


def compare(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "profiletools", "compare", *args], capture_output=True, text=True, timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def dumps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``.prof`` dumps of the linear version (twice) and the quadratic one, each from its own process."""
    root = tmp_path_factory.mktemp("versions")
    found = {}
    for name, source in (("linear", LINEAR), ("again", LINEAR), ("quadratic", QUADRATIC)):
        folder = version(root / name, source)
        python(folder, "main.py", str(root / f"{name}.prof"))
        found[name] = root / f"{name}.prof"
    return found


def test_compare_names_the_function_whose_calls_grew_with_both_counts(dumps: dict[str, Path]) -> None:
    done = compare(str(dumps["linear"]), str(dumps["quadratic"]))
    assert done.returncode == 0, done.stderr  # no threshold: a report, not a verdict
    lines = done.stdout.splitlines()
    assert re.match(r"function +calls +change +cumulative time +change$", lines[0])
    assert re.match(r"builtins:len +1000 → 499500 +\+49850\.0% +\S+ \S+ → \S+ \S+ +\+", lines[1]), lines[1]
    assert re.match(r"inverted_index:getOffsetUpToWord +- → 1000 +added", lines[2]), lines[2]
    assert any(re.match(r"inverted_index:build_index +1 → 1 +\+0\.0% ", line) for line in lines)
    (total,) = [line for line in lines if line.startswith("total ")]
    assert re.match(r"total +\d+ → \d+ +\+\d+\.\d%", total)


def test_fail_calls_exits_1_on_the_regression_and_0_on_two_runs_of_one_version(dumps: dict[str, Path]) -> None:
    grown = compare(str(dumps["linear"]), str(dumps["quadratic"]), "--fail-calls", "10%")
    assert grown.returncode == 1
    assert grown.stdout.splitlines()[-1].startswith("FAIL: calls grew by more than +10.0%: builtins:len 1000 → 499500")
    same = compare(str(dumps["linear"]), str(dumps["again"]), "--fail-calls", "0%")
    assert same.returncode == 0, same.stdout
    assert same.stdout.splitlines()[-1] == "ok: no call count grew by more than +0.0%"
    assert "\n0 of 6 functions changed their calls (6 the same)\n" in same.stdout


def test_json_holds_the_differential_beside_the_time_comparison(dumps: dict[str, Path]) -> None:
    done = compare(str(dumps["linear"]), str(dumps["quadratic"]), "--json", "--fail-calls", "50%")
    assert done.returncode == 1
    data = json.loads(done.stdout)
    assert data["kind"] == "prof" and data["counts"]["unit"] == "calls"
    assert data["counts"]["failed"] == ["builtins:len", "total"]
    first = data["counts"]["rows"][0]
    assert (first["name"], first["base"], first["new"], first["growth"]) == ("builtins:len", 1000, 499500, 498.5)


def test_folders_of_dumps_are_added_up(dumps: dict[str, Path], tmp_path: Path) -> None:
    for side, names in (("before", ("linear", "again")), ("after", ("linear", "quadratic"))):
        (tmp_path / side).mkdir()
        for name in names:
            (tmp_path / side / f"{name}.prof").write_bytes(dumps[name].read_bytes())
    done = compare(str(tmp_path / "before"), str(tmp_path / "after"), "--top", "1")
    assert re.search(r"builtins:len +2000 → 500500 ", done.stdout), done.stdout
    assert "not shown" in done.stdout


def test_line_hits_of_two_lprof_files(tmp_path: Path) -> None:
    for name, source in (("linear", LINEAR), ("quadratic", QUADRATIC)):
        python(version(tmp_path / name, source), "lines.py", str(tmp_path / f"{name}-dumps"))
    (before,) = (tmp_path / "linear-dumps").glob("*.lprof")
    (after,) = (tmp_path / "quadratic-dumps").glob("*.lprof")
    done = compare(str(before), str(after), "--fail-calls", "10%")
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert re.match(r"line +hits +change +time +change$", lines[0])
    source = QUADRATIC.splitlines()
    scan = source.index("    for word in words[:position]:") + 1
    assert re.match(rf"inverted_index:getOffsetUpToWord:{scan} +- → 20100 +added", lines[1]), lines[1]
    assert re.search(rf"inverted_index:getOffsetUpToWord:{scan + 1} +- → 19900 +added", done.stdout)
    append = source.index("        index.setdefault(word, []).append(getOffsetUpToWord(words, position))") + 1
    assert re.search(rf"inverted_index:build_index:{append} +- → 200 +added", done.stdout)
    assert "FAIL: hits grew by more than +10.0%:" in lines[-1]
    fail_over = compare(str(before), str(after), "--fail-over", "10%")
    assert fail_over.returncode == 2 and "judge line hits with --fail-calls" in fail_over.stderr


def test_mixed_and_unreadable_sides_are_one_line_errors(dumps: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "broken.prof").write_bytes(b"not a profile")
    broken = compare(str(dumps["linear"]), str(tmp_path / "broken.prof"))
    assert broken.returncode == 1 and broken.stderr.count("\n") == 1
    assert "broken.prof: not a pstats profile" in broken.stderr
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("")
    assert compare(str(dumps["linear"]), str(tmp_path / "empty")).returncode == 1


def test_growth_is_judged_exactly() -> None:
    assert not Change("f", 10, 11).grew_beyond(0.10) and Change("f", 10, 11).grew_beyond(0.0999)
    assert Change("f", 3, 4).grew_beyond(0.333) and not Change("f", 3, 4).grew_beyond(1 / 3)
    assert not Change("f", None, 5).grew_beyond(0.0)  # a new function counts in the total only
    found = diff(Side("calls", {"f": (3, 0.0), "g": (5, 0.0)}), Side("calls", {"f": (3, 0.0), "h": (5, 0.0)}))
    assert [change.name for change in found.changed()] == ["g", "h"] and found.grown(0.0) == []
    assert found.total == Change("total", 8, 8, None, None)


def test_a_side_holds_calls_per_function_and_the_total_time(dumps: dict[str, Path]) -> None:
    side = read_side(str(dumps["quadratic"]))
    assert side.unit == "calls" and side.counts["builtins:len"][0] == 499500
    assert side.counts["inverted_index:getOffsetUpToWord"][0] == 1000
    assert side.seconds is not None and side.seconds > 0
