"""The recipes in docs/examples run, and the docs site builds without warnings."""

from __future__ import annotations

import os
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
