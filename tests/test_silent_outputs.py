"""Nothing a user asked for vanishes without a line saying why and what to do.

``reporters.Log`` in a program that never configured ``logging`` (the usual
script) and ``reporters.Plot`` given records without a timeline used to write
nothing, silently.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import pytest

from profiletools import memprofile, reporters, timed
from tests.conftest import run_python

SCRIPT = """
import sys
from profiletools import timed, reporters
{setup}
{decorate}
def step():
    return 42
assert step() == 42
assert step() == 42
print("done")
"""


def _script(setup: str = "", decorate: str = "@timed") -> str:
    return SCRIPT.format(setup=setup, decorate=decorate)


@pytest.mark.parametrize(
    ("code", "env"),
    [
        (_script(), {"PROFILETOOLS_REPORTERS": "log"}),
        (_script(decorate="@timed(reporters=[reporters.Log()])"), {}),
    ],
    ids=["environment", "reporters.Log()"],
)
def test_log_without_logging_configured_still_shows_every_record(code: str, env: dict[str, str]) -> None:
    result = run_python(code, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "done\n"
    records = [line for line in result.stderr.splitlines() if "timed step: " in line]
    assert len(records) == 2, result.stderr  # each record is one line on stderr
    # and one warning says why they are there and what to do
    assert result.stderr.count("logging is not configured") == 1, result.stderr
    assert "logging.basicConfig" in result.stderr


def test_log_with_logging_configured_goes_to_logging_only() -> None:
    result = run_python(_script(
        setup="import logging\nlogging.basicConfig(level=logging.INFO, format='LOGGED %(name)s %(message)s')",
        decorate="@timed(reporters=[reporters.Log()])",
    ))
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 2 and all(line.startswith("LOGGED profiletools timed step: ") for line in lines), lines


def test_log_filtered_by_the_programs_own_level_stays_quiet() -> None:
    """A handler and a level the program chose: INFO records are dropped on purpose, as logging does."""
    result = run_python(_script(
        setup="import logging\nlogging.basicConfig(level=logging.WARNING)",
        decorate="@timed(reporters=[reporters.Log()])",
    ))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_log_fallback_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    logger = logging.getLogger("profiletools.test.unconfigured")
    logger.propagate = False  # no handler anywhere up its hierarchy
    try:
        log = reporters.Log(logger=logger)
        with pytest.warns(RuntimeWarning, match="logging is not configured"):
            with timed("fallback", reporters=[log]):
                pass
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the second record: no second warning
            with timed("fallback", reporters=[log]):
                pass
        assert capsys.readouterr().err.count("timed fallback: ") == 2
        handler = logging.Handler()
        seen: list[logging.LogRecord] = []
        handler.emit = seen.append  # type: ignore[method-assign]
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        with timed("handled", reporters=[log]):
            pass
        assert [record.getMessage().split(":")[0] for record in seen] == ["timed handled"]
        assert "handled" not in capsys.readouterr().err
    finally:
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(logging.NOTSET)


def test_plot_says_once_why_a_record_has_no_png(tmp_path: Path) -> None:
    plot = reporters.Plot(tmp_path)
    with pytest.warns(RuntimeWarning) as caught:
        for _ in range(2):
            with timed("quick", reporters=[plot]):
                pass
            with memprofile("nointerval", reporters=[plot]):
                data = bytearray(1000)
    messages = [str(item.message) for item in caught]
    assert len(messages) == 2, messages  # one per reason, not one per record
    timed_line = next(message for message in messages if "timed" in message)
    memory_line = next(message for message in messages if "nointerval" in message)
    assert "no timeline" in timed_line and "memprofile(interval=" in timed_line
    assert "interval=" in memory_line
    assert list(tmp_path.iterdir()) == []
    del data
