"""``profiletools show`` prints what the live record printed, for every file the tools write.

The dumps and the live texts come from one run of a workload in its own process;
``show`` runs as a user runs it, in a subprocess.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

WORKLOAD = '''
import sys, time
from pathlib import Path
from profiletools import lineprofile, memprofile, profileit, sampleprofile, timed, reporters

out = Path(sys.argv[1])
dump = reporters.Dump(out, pattern="{name}{suffix}")
seen = reporters.Collect()

def leaf(i):
    return i * i

@profileit(reporters=[dump, seen])
def crunch(n):
    return sum(leaf(i) for i in range(n))

@lineprofile(reporters=[dump, seen])
def loop(n):
    total = 0
    for i in range(n):
        total += leaf(i)
    return total

@memprofile(top=3, lines=True, reporters=[dump, seen])
def build(n):
    words = [str(i) * 3 for i in range(n)]
    blob = bytearray(2 * 1024 * 1024)
    return words, blob

@sampleprofile(interval=0.001, reporters=[dump, seen])
def spin():
    # 50 ms of this thread's CPU (the sampler's clock; wall time under load holds fewer samples), mostly in leaf()
    end = time.thread_time() + 0.05
    while time.thread_time() < end:
        for i in range(50):
            leaf(i)

with timed("load", reporters=[dump, seen]):
    time.sleep(0.001)

crunch(2000)
loop(300)
kept = build(2000)
spin()
sink = reporters.JsonLines(out / "many.jsonl")
for _ in range(3):
    with memprofile("alloc", reporters=[sink]):
        data = bytearray(100_000)
for record in seen.records:
    (Path(sys.argv[2]) / (record.name + ".txt")).write_text(record.text(), encoding="utf-8")
'''


def show(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "profiletools", "show", *args], capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dumps")
    texts = out.parent / "live"
    texts.mkdir()
    script = out.parent / "workload_show.py"
    script.write_text(WORKLOAD, encoding="utf-8")
    run = subprocess.run([sys.executable, str(script), str(out), str(texts)], capture_output=True, text=True,
                         timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    return out


def live(files: Path, name: str) -> list[str]:
    """The text the record printed when it was made."""
    return (files.parent / "live" / f"{name}.txt").read_text(encoding="utf-8").splitlines()


def shown_as_live(files: Path, file_name: str, record_name: str) -> str:
    """``show`` of a profile file: the live text, but the headline names the file instead of the call."""
    result = show(str(files / file_name))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.rstrip("\n").splitlines()
    expected = live(files, record_name)
    assert lines[0] == f"{files / file_name}: " + expected[0].split(": ", 2)[2]
    assert lines[1:] == expected[1:]
    return result.stdout


def test_prof_prints_the_records_unit_aware_table(files: Path) -> None:
    assert " 0.000 " not in shown_as_live(files, "crunch.prof", "crunch")


def test_lprof_defaults_to_microseconds_like_line_profiler_and_the_live_text(files: Path) -> None:
    result = show(str(files / "loop.lprof"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.rstrip("\n").splitlines()
    assert lines[0] == str(files / "loop.lprof")
    assert lines[1:] == live(files, "loop")[1:]
    assert "Timer unit: 1e-06 s" in result.stdout


@pytest.mark.parametrize(("unit", "shown"), [("ms", "0.001"), ("1e-3", "0.001"), ("ns", "1e-09"), ("s", "1")])
def test_unit_takes_what_the_api_takes(files: Path, unit: str, shown: str) -> None:
    result = show("--unit", unit, str(files / "loop.lprof"))
    assert result.returncode == 0, result.stderr
    assert f"Timer unit: {shown} s" in result.stdout


def test_a_bad_unit_is_a_usage_error(files: Path) -> None:
    result = show("--unit", "minutes", str(files / "loop.lprof"))
    assert result.returncode == 2
    assert result.stderr.startswith("profiletools: error: ") and result.stderr.count("\n") == 1
    assert "'minutes'" in result.stderr and "ms" in result.stderr


def test_memory_json_shows_every_figure_of_the_live_text(files: Path) -> None:
    result = show(str(files / "build.json"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip("\n").splitlines() == live(files, "build")
    assert "net +" in result.stdout and "RSS " in result.stdout and "Mem after" in result.stdout


def test_memory_line_table_file_is_shown(files: Path) -> None:
    result = show(str(files / "build.lines.txt"))
    assert result.returncode == 0, result.stderr
    assert "Mem after" in result.stdout and "blob = bytearray(2 * 1024 * 1024)" in result.stdout


def test_timed_json_is_the_live_line(files: Path) -> None:
    result = show(str(files / "load.json"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip("\n").splitlines() == live(files, "load")


def test_many_memory_records_get_a_table_per_declared_figure(files: Path) -> None:
    result = show(str(files / "many.jsonl"))
    assert result.returncode == 0, result.stderr
    for label in ("wall time", "peak memory", "net memory", "RSS change"):
        assert f"\n{label}\n" in result.stdout, label


def test_pyinstrument_session_shows_the_live_tree(files: Path) -> None:
    pytest.importorskip("pyinstrument")
    assert "spin" in shown_as_live(files, "spin.pyisession", "spin")


def test_speedscope_file_is_shown_by_function(files: Path) -> None:
    pytest.importorskip("pyinstrument")
    result = show(str(files / "spin.speedscope.json"))
    assert result.returncode == 0, result.stderr
    assert "spin" in result.stdout and "leaf" in result.stdout
    assert "speedscope.app" in result.stdout  # and where to look at it as a flame graph


def test_html_and_png_are_explained(files: Path, tmp_path: Path) -> None:
    pytest.importorskip("pyinstrument")
    result = show(str(files / "spin.html"))
    assert result.returncode == 0, result.stderr
    assert "browser" in result.stdout


def test_a_folder_shows_every_file_inside(files: Path) -> None:
    result = show(str(files))
    assert result.returncode == 0, result.stderr
    shown = {line[4:-4] for line in result.stdout.splitlines() if line.startswith("==> ")}
    expected = {str(path) for path in files.iterdir() if not path.name.startswith(".")}
    assert shown == expected


def test_an_empty_folder_is_one_clear_line(tmp_path: Path) -> None:
    result = show(str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.startswith(f"profiletools: error: {tmp_path}: no profiletools files in this folder")
    assert result.stderr.count("\n") == 1


def test_other_files_in_a_folder_are_passed_over_with_a_note(files: Path, tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("mine")
    (tmp_path / "load.json").write_bytes((files / "load.json").read_bytes())
    result = show(str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "1 other files passed over: notes.md" in result.stdout and "timed load: " in result.stdout


def test_a_json_that_is_not_a_record_names_what_it_is(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"debug": True}))
    result = show(str(path))
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"profiletools: error: {path}: not a profiletools record")
