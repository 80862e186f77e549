"""``python -m profiletools``: show, merge, convert and demo, end to end on dumps the tools wrote."""

from __future__ import annotations

import io
import json
import pstats
import re
import subprocess
import sys
from pathlib import Path

import pytest

from profiletools.cli.progress import progress
from tests.callgrind import read_callgrind

WORKLOAD = """
import sys
from profiletools import profileit, lineprofile, timed, reporters

def leaf(i):
    return i * i

def branch(n):
    return sum(leaf(i) for i in range(n))

out = sys.argv[1]
dump = reporters.Dump(out)

@profileit(reporters=[dump])
def root(n):
    return [branch(n) for _ in range(3)]

@lineprofile(reporters=[dump])
def lines(n):
    total = 0
    for i in range(n):
        total += i
    return total

root(int(sys.argv[2]))
lines(int(sys.argv[2]))
sink = reporters.JsonLines(out + "/times.jsonl")
for i in range(5):
    with timed("step", reporters=[sink]):
        pass
with timed("other", reporters=[sink]):
    pass
"""


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "profiletools", *args], capture_output=True, text=True, timeout=120, cwd=cwd,
        check=False,
    )


@pytest.fixture(scope="module")
def dumps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """Dumps written by the tools themselves in two separate processes (two pids)."""
    out = tmp_path_factory.mktemp("dumps")
    script = tmp_path_factory.mktemp("workload") / "workload.py"
    script.write_text(WORKLOAD)
    for n in ("10", "20"):
        run = subprocess.run([sys.executable, str(script), str(out), n], capture_output=True, text=True,
                             timeout=120, check=False)
        assert run.returncode == 0, run.stderr
    found: dict[str, list[Path]] = {"prof": [], "lprof": [], "jsonl": []}
    for path in sorted(out.iterdir()):
        key = path.suffix.lstrip(".")
        if key in found:
            found[key].append(path)
    assert len(found["prof"]) == 2 and len(found["lprof"]) == 2 and len(found["jsonl"]) == 1
    return found


def test_show_prof_sorted_and_limited(dumps: dict[str, list[Path]]) -> None:
    result = cli("show", str(dumps["prof"][0]), "--sort", "tottime", "--limit", "2", "--strip-dirs")
    assert result.returncode == 0, result.stderr
    assert "function calls in " in result.stdout
    assert re.search(r"\n2 of \d+ functions by internal time\n", result.stdout)  # profileit's table, with units
    table = result.stdout.split("function\n")[1].strip().splitlines()
    assert len(table) == 2 and "/" not in "".join(table)  # directories stripped
    wide = cli("show", str(dumps["prof"][0]), "--limit", "50")
    assert "leaf" in wide.stdout and "branch" in wide.stdout


def test_show_callers_and_callees(dumps: dict[str, list[Path]]) -> None:
    callers = cli("show", str(dumps["prof"][0]), "--callers")
    callees = cli("show", str(dumps["prof"][0]), "--callees")
    assert callers.returncode == callees.returncode == 0
    assert "was called by" in callers.stdout
    assert "called..." in callees.stdout


def test_show_lprof_prints_line_tables(dumps: dict[str, list[Path]]) -> None:
    result = cli("show", str(dumps["lprof"][0]))
    assert result.returncode == 0, result.stderr
    assert "Line #" in result.stdout and "Hits" in result.stdout
    assert "total += i" in result.stdout


def test_show_records_summarizes_per_name(dumps: dict[str, list[Path]]) -> None:
    result = cli("show", str(dumps["jsonl"][0]))
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line[:4] in ("step", "othe")}
    assert rows["step"][1] == "10" and rows["other"][1] == "2"  # two runs appended to one file
    assert "p95" in result.stdout


def test_merge_prof_adds_call_counts(dumps: dict[str, list[Path]], tmp_path: Path) -> None:
    target = tmp_path / "merged.prof"
    result = cli("merge", *map(str, dumps["prof"]), "-o", str(target))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # piped: no progress bar
    merged = pstats.Stats(str(target))
    leaf_calls = [v[1] for k, v in merged.stats.items() if k[2] == "leaf"]  # type: ignore[attr-defined]
    assert leaf_calls == [3 * 10 + 3 * 20]


def test_merge_lprof_adds_hits(dumps: dict[str, list[Path]], tmp_path: Path) -> None:
    from line_profiler import load_stats

    target = tmp_path / "merged.lprof"
    result = cli("merge", *map(str, dumps["lprof"]), "-o", str(target))
    assert result.returncode == 0, result.stderr
    stats = load_stats(str(target))
    (timings,) = [v for k, v in stats.timings.items() if k[2] == "lines"]
    hits = {line: count for line, count, _ in timings}
    assert max(hits.values()) >= 10 + 20  # the loop body ran 10 and 20 times


def test_merge_refuses_mixed_kinds_and_writes_nothing(dumps: dict[str, list[Path]], tmp_path: Path) -> None:
    target = tmp_path / "mixed.prof"
    result = cli("merge", str(dumps["prof"][0]), str(dumps["lprof"][0]), "-o", str(target))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "cannot merge different kinds" in result.stderr
    assert not target.exists()


def test_merge_stops_at_a_bad_file_without_writing(dumps: dict[str, list[Path]], tmp_path: Path) -> None:
    broken = tmp_path / "broken.prof"
    broken.write_bytes(dumps["prof"][0].read_bytes()[:40])
    target = tmp_path / "out.prof"
    result = cli("merge", str(dumps["prof"][0]), str(broken), "-o", str(target))
    assert result.returncode == 1 and str(broken) in result.stderr
    assert not target.exists() and list(tmp_path.iterdir()) == [broken]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.prof", None, "no such file"),
        ("truncated.prof", b"\xfb\x02", "not a pstats profile"),
        ("garbage.lprof", b"not a pickle", "not a line_profiler .lprof file"),
        ("empty.prof", b"", "empty file"),
        ("bad.jsonl", b'{"name": "a", "wall": 1}\n{oops\n', "bad.jsonl:2: not a JSON line"),
        ("notes.txt", b"hello", "unknown file type '.txt'"),
    ],
)
def test_bad_files_give_one_line_naming_the_file(tmp_path: Path, name: str, content: bytes | None,
                                                 message: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    result = cli("show", str(path))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"profiletools: error: {path}") and message in result.stderr


def test_convert_callgrind_matches_pyprof2calltree(dumps: dict[str, list[Path]], tmp_path: Path) -> None:
    pytest.importorskip("pyprof2calltree")
    ours = tmp_path / "callgrind.out.ours"
    result = cli("convert", str(dumps["prof"][0]), "--to", "callgrind", "-o", str(ours))
    assert result.returncode == 0, result.stderr
    text = ours.read_text()
    assert text.startswith("# callgrind format\nversion: 1\n") and "events: ns" in text
    reference = tmp_path / "callgrind.out.reference"
    subprocess.run([sys.executable, "-m", "pyprof2calltree", "-i", str(dumps["prof"][0]), "-o", str(reference)],
                   check=True, capture_output=True, timeout=60)
    own, edges = read_callgrind(text)
    ref_own, ref_edges = read_callgrind(reference.read_text())
    assert own.keys() == ref_own.keys() and edges.keys() == ref_edges.keys()
    # pyprof2calltree truncates nanoseconds, profiletools rounds them
    assert all(abs(cost - ref_own[function]) <= 1 for function, cost in own.items())
    assert all(calls == ref_edges[edge][0] and abs(cost - ref_edges[edge][1]) <= 1
               for edge, (calls, cost) in edges.items())
    total = int(re.search(r"^summary: (\d+)$", text, re.M).group(1))  # type: ignore[union-attr]
    assert total == sum(own.values())


def test_convert_speedscope_follows_the_file_format(dumps: dict[str, list[Path]], tmp_path: Path) -> None:
    result = cli("convert", str(dumps["prof"][0]), "--to", "speedscope")
    assert result.returncode == 0, result.stderr
    path = dumps["prof"][0].with_name(dumps["prof"][0].stem + ".speedscope.json")
    assert str(path) in result.stdout
    document = json.loads(path.read_text())
    path.unlink()
    assert document["$schema"] == "https://www.speedscope.app/file-format-schema.json"
    frames = document["shared"]["frames"]
    (profile,) = document["profiles"]
    assert profile["type"] == "sampled" and profile["unit"] == "seconds"
    assert len(profile["samples"]) == len(profile["weights"]) > 0
    assert all(0 <= index < len(frames) for sample in profile["samples"] for index in sample)
    assert all(isinstance(frame["name"], str) for frame in frames)
    assert profile["endValue"] == pytest.approx(sum(profile["weights"]))
    stats = pstats.Stats(str(dumps["prof"][0]))
    tottime = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
    assert sum(profile["weights"]) == pytest.approx(tottime, rel=0.01)  # every second lands on some stack
    names = {frames[i]["name"] for sample in profile["samples"] for i in sample}
    assert {"root", "branch", "leaf"} <= names


def test_convert_to_stdout(dumps: dict[str, list[Path]]) -> None:
    result = cli("convert", str(dumps["prof"][0]), "--to", "callgrind", "-o", "-")
    assert result.returncode == 0 and result.stdout.startswith("# callgrind format")


def test_convert_refuses_line_profiles(dumps: dict[str, list[Path]]) -> None:
    result = cli("convert", str(dumps["lprof"][0]), "--to", "callgrind")
    assert result.returncode == 1 and "only pstats profiles" in result.stderr


def test_usage_errors_exit_2() -> None:
    assert cli("show").returncode == 2
    assert cli("convert", "x.prof", "--to", "png").returncode == 2


def test_progress_draws_on_a_terminal_only() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal, pipe = Terminal(), io.StringIO()
    assert list(progress(range(5), 5, "merging", stream=terminal)) == list(range(5))
    assert list(progress(range(5), 5, "merging", stream=pipe)) == list(range(5))
    assert "merging [" in terminal.getvalue() and "5/5" in terminal.getvalue()
    assert pipe.getvalue() == ""


def test_console_script_is_declared() -> None:
    from importlib.metadata import entry_points

    (script,) = [point for point in entry_points(group="console_scripts") if point.name == "profiletools"]
    assert script.value == "profiletools.cli:main"


def test_demo_runs_every_tool_and_says_what_it_wrote(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = cli("demo", "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    suffixes = {path.suffix for path in out.iterdir() if not path.name.startswith(".")}
    assert {".json", ".jsonl", ".lprof", ".png", ".prof"} <= suffixes
    for path in out.iterdir():
        if not path.name.startswith("."):
            assert path.name in result.stdout  # every file is listed with the command that opens it
    assert "python -m line_profiler" in result.stdout and "profiletools show" in result.stdout
    assert "build_index" in result.stdout and "doc_id not in postings" in result.stdout  # the hot line
    (prof,) = out.glob("*.prof")
    assert any(key[2] == "build_index" for key in pstats.Stats(str(prof)).stats)  # type: ignore[attr-defined]
