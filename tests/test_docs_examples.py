"""The recipes in docs/examples run, and the docs site builds without warnings."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "docs" / "examples"


def run_example(name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True, timeout=120,
        env={**os.environ, **(env or {})}, check=False,
    )


def test_web_handler_recipe() -> None:
    result = run_example("web_handler.py")
    assert result.returncode == 0, result.stderr
    assert "GET /items" in result.stdout


def test_worker_pool_recipe(tmp_path: Path) -> None:
    result = run_example("worker_pool.py", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "merged 8 prof files" in result.stdout
    assert "crunch" in result.stdout and (tmp_path / "all.prof").exists()


def test_production_recipe_enabled_and_disabled() -> None:
    enabled = run_example("production.py")
    assert enabled.returncode == 0, enabled.stderr
    assert enabled.stderr.count("orders.total") == 10  # every=100 over 1000 calls
    disabled = run_example("production.py", env={"PROFILETOOLS": "0"})
    assert disabled.returncode == 0, disabled.stderr
    assert "orders.total" not in disabled.stderr and "undecorated" in disabled.stdout


def test_every_recipe_is_included_in_the_docs() -> None:
    pages = "".join(path.read_text() for path in (ROOT / "docs").glob("*.md"))
    for example in EXAMPLES.glob("*.py"):
        assert f'--8<-- "examples/{example.name}"' in pages, example.name


def test_docs_site_builds_strict(tmp_path: Path) -> None:
    if shutil.which("mkdocs") is None and not (Path(sys.executable).parent / "mkdocs").exists():
        pytest.skip("mkdocs is not installed (pip install -e '.[docs]')")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        capture_output=True, text=True, timeout=300, cwd=ROOT, check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "site" / "index.html").exists()


# -- the getting-started page shows what a real run prints ---------------------------------------------


def _normal(line: str) -> str:
    """A line of output without what changes from run to run: times, sizes, counts, ids, folders."""
    line = re.sub(r"\S*/(\.profiletools|profiles)/", r"\1/", line)
    line = re.sub(r"\b([\w.]+?)-\d[\w-]*(\.(?:prof|json|jsonl|lprof))\b", r"\1\2", line)  # dump names
    line = re.sub(r"[-+]?\d[\d,.]*(?:e[-+]?\d+)?\s*(?:ns|µs|ms|s|B|KiB|MiB|GiB)\b", "Q", line)
    line = re.sub(r"\d+", "N", line)
    return re.sub(r"\s+", " ", line).strip()


def _transcripts(page: Path) -> list[tuple[str, list[str]]]:
    """Each ``$ command`` of the page's console blocks, with the output shown under it."""
    found: list[tuple[str, list[str]]] = []
    for block in re.findall(r"```console\n(.*?)```", page.read_text(encoding="utf-8"), re.S):
        for line in block.splitlines():
            if line.startswith("$ "):
                found.append((line[2:], []))
            elif found:
                found[-1][1].append(line)
    return found


def test_the_getting_started_page_shows_what_a_real_run_prints(tmp_path: Path) -> None:
    for example in ("first_steps.py", "perf_tests.py"):
        shutil.copy(EXAMPLES / example, tmp_path / example)
    transcripts = _transcripts(ROOT / "docs" / "index.md")
    assert [command.split()[0] for command, _ in transcripts][:2] == ["python", "PROFILETOOLS_REPORTERS=dump"]
    python = shlex.quote(sys.executable)
    env = {key: value for key, value in os.environ.items() if not key.startswith("PROFILETOOLS")}
    for command, shown in transcripts:
        runnable = re.sub(r"(^|\s)python\s", rf"\1{python} ", command)
        runnable = re.sub(r"^profiletools\s", f"{python} -m profiletools ", runnable)
        runnable = re.sub(r"^pytest\s", f"{python} -m pytest -p no:cacheprovider ", runnable)
        result = subprocess.run(runnable, shell=True, cwd=tmp_path, capture_output=True, text=True, timeout=300,
                                env=env, check=False)
        assert result.returncode == 0, (command, result.stdout, result.stderr)
        real = [_normal(line) for line in (result.stderr + result.stdout).splitlines()]
        for line in shown:
            if line.strip() in ("", "..."):
                continue
            assert _normal(line) in real, (command, line, real)
            real.remove(_normal(line))
