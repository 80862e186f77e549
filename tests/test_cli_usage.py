"""The command line behaves the same way everywhere: ``--version``, help for every argument,
``profiletools: error: ...`` on one line, exit 2 for usage errors and 1 for files that cannot be used."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from profiletools import __version__
from profiletools.cli import build_parser


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "profiletools", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd, check=False)


def one_error_line(result: subprocess.CompletedProcess[str], status: int) -> str:
    assert result.returncode == status, (result.returncode, result.stderr)
    assert result.stderr.startswith("profiletools: error: "), result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    return result.stderr


def test_version() -> None:
    result = cli("--version")
    assert result.returncode == 0
    assert result.stdout == f"profiletools {__version__}\n"


def test_every_argument_has_help() -> None:
    parser = build_parser()
    (commands,) = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    missing = [
        f"{name} {action.metavar or action.dest}"
        for name, sub in commands.choices.items()
        for action in sub._actions
        if not action.help
    ]
    assert missing == []


@pytest.mark.parametrize(
    "args",
    [
        ["show"],                                  # a required argument missing
        ["convert", "x.prof", "--to", "png"],      # a bad choice
        ["nonsense"],                              # an unknown command
        ["show", "--limit", "many", "x.prof"],     # a bad number
        ["merge", "a.prof"],                       # -o missing
    ],
)
def test_usage_errors_are_one_line_and_exit_2(args: list[str]) -> None:
    error = one_error_line(cli(*args), 2)
    assert "--help" in error  # and where to read more


def test_compare_reports_an_unreadable_file_like_show(tmp_path: Path) -> None:
    shown = one_error_line(cli("show", str(tmp_path / "missing.jsonl")), 1)
    compared = one_error_line(cli("compare", str(tmp_path / "missing.jsonl"), str(tmp_path / "other.jsonl")), 1)
    assert "missing.jsonl" in shown and "missing.jsonl" in compared


def test_demo_into_an_unwritable_place_is_one_line() -> None:
    error = one_error_line(cli("demo", "--out", "/proc/nope"), 1)
    assert "/proc/nope" in error


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    """A ``.prof`` written by raw cProfile in another process."""
    path = tmp_path / "run.prof"
    made = subprocess.run(
        [sys.executable, "-c", "import cProfile, sys; cProfile.run('sum(range(1000))', sys.argv[1])", str(path)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert made.returncode == 0, made.stderr
    return path


def test_convert_refuses_to_overwrite_without_force(tmp_path: Path, profile: Path) -> None:
    target = tmp_path / "run.speedscope.json"
    target.write_text("mine")
    error = one_error_line(cli("convert", str(profile), "--to", "speedscope"), 1)
    assert str(target) in error and "--force" in error
    assert target.read_text() == "mine"
    result = cli("convert", str(profile), "--to", "speedscope", "--force")
    assert result.returncode == 0, result.stderr
    assert target.read_text().startswith("{")


def test_merge_refuses_to_overwrite_without_force(tmp_path: Path, profile: Path) -> None:
    target = tmp_path / "all.prof"
    target.write_text("mine")
    error = one_error_line(cli("merge", str(profile), str(profile), "-o", str(target)), 1)
    assert str(target) in error and "--force" in error
    assert target.read_text() == "mine"
    result = cli("merge", str(profile), str(profile), "-o", str(target), "--force")
    assert result.returncode == 0, result.stderr
    assert target.read_bytes() != b"mine"
