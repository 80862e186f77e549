"""``profiletools demo``: every tool, a readable line table, and a rerun that does not pile up."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HAS_PYINSTRUMENT = importlib.util.find_spec("pyinstrument") is not None


def demo(out: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "profiletools", "demo", "--out", str(out)], capture_output=True,
                          text=True, timeout=600, cwd=cwd, check=False)


def listed(stdout: str) -> set[str]:
    """The file names the demo says it wrote."""
    section = stdout[stdout.index("files written to"):]
    lines = section.splitlines()[1:]
    return {line.split()[0] for line in lines if line.startswith("  ") and not line.startswith("  (")}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[subprocess.CompletedProcess[str]]]:
    cwd = tmp_path_factory.mktemp("demo")
    out = cwd / "profiletools-demo"
    out.mkdir()
    (out / "notes.md").write_text("mine")  # a file of the user's: never touched
    results = [demo(out, cwd), demo(out, cwd)]
    for result in results:
        assert result.returncode == 0, result.stderr
    return out, results


def test_a_rerun_replaces_the_earlier_run_and_lists_only_its_own_files(
    runs: tuple[Path, list[subprocess.CompletedProcess[str]]],
) -> None:
    out, (first, second) = runs
    assert listed(first.stdout) == listed(second.stdout)
    on_disk = {path.name for path in out.iterdir() if not path.name.startswith(".")}
    assert on_disk == listed(second.stdout) | {"notes.md"}
    assert (out / "notes.md").read_text() == "mine"
    assert len((out / "times.jsonl").read_text().splitlines()) == 61  # this run's records only


@pytest.mark.skipif(not HAS_PYINSTRUMENT, reason="pyinstrument is not installed")
def test_every_tool_runs_sampleprofile_too(runs: tuple[Path, list[subprocess.CompletedProcess[str]]]) -> None:
    _, (_, result) = runs
    for tool in ("timed", "profileit", "lineprofile", "memprofile", "sampleprofile"):
        assert f"[profiletools] {tool} " in result.stdout, tool
    suffixes = {Path(name).suffix for name in listed(result.stdout)}
    assert {".prof", ".lprof", ".json", ".jsonl", ".pyisession", ".html"} <= suffixes


def test_the_line_table_per_hit_is_readable(runs: tuple[Path, list[subprocess.CompletedProcess[str]]]) -> None:
    _, (_, result) = runs
    assert "Timer unit: 1e-06 s" in result.stdout
    hot = next(line for line in result.stdout.splitlines() if "doc_id not in postings" in line and "  " in line)
    per_hit = float(re.split(r"\s+", hot.split("if doc_id")[0].strip())[3])
    assert per_hit >= 0.1  # in µs; at 1 ms it read 0.0


def test_no_tool_is_suggested_without_how_to_get_it(runs: tuple[Path, list[subprocess.CompletedProcess[str]]]) -> None:
    _, (_, result) = runs
    if shutil.which("snakeviz") is None and importlib.util.find_spec("snakeviz") is None:
        line = next(line for line in result.stdout.splitlines() if "snakeviz" in line)
        assert "pip install snakeviz" in line
    assert "kcachegrind" not in result.stdout or "desktop" in result.stdout


def test_without_pyinstrument_the_demo_says_how_to_get_sampleprofile(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'pyinstrument':\n"
        "            raise ModuleNotFoundError('No module named ' + repr(name), name=name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from profiletools.cli import main\n"
        "sys.exit(main(['demo', '--out', sys.argv[1]]))\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path / "d")], capture_output=True, text=True,
                            timeout=600, check=False)
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("5. sampleprofile"))
    assert "pip install 'pyinstrument>=5.0'" in result.stdout[result.stdout.index(line):]
