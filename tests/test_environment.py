"""``PROFILETOOLS_REPORTERS`` set wrong on a host never takes the program down.

A typo, an unknown option or a missing argument is one warning that names the
variable, the bad value and what is allowed; then the default reporter.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from profiletools.core.config import parse_reporters
from tests.conftest import run_python

PROGRAM = """
import warnings
warnings.simplefilter("default")
from profiletools import timed, profileit, memprofile

@timed
def a():
    return 1

@profileit(limit=3)
def b():
    return 2

@memprofile
def c():
    return 3

with timed("block"):
    pass
print(a() + b() + c() + a())
"""


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("foo", "'foo'"),
        ("log,bogus", "'bogus'"),
        ("summary:x", "'x'"),
        ("log:LOUD", "'LOUD'"),
        ("jsonl", "'jsonl'"),
        ("collect:3", "'3'"),
        ("stream:nowhere", "'nowhere'"),
    ],
)
def test_a_bad_value_is_one_warning_then_the_defaults(value: str, named: str) -> None:
    result = run_python(PROGRAM, env={"PROFILETOOLS_REPORTERS": value})
    assert result.returncode == 0, result.stderr
    assert result.stdout == "7\n"  # the program ran, unchanged
    warnings = [line for line in result.stderr.splitlines() if "Warning" in line]
    assert len(warnings) == 1, result.stderr
    (warning,) = warnings
    assert "PROFILETOOLS_REPORTERS" in warning and repr(value) in warning and named in warning
    assert "allowed:" in warning and "plot" in warning and "jsonl:PATH" in warning
    assert "Traceback" not in result.stderr
    # then the default reporter: one line per record on stderr
    assert "[profiletools] timed a: " in result.stderr and "[profiletools] memprofile c: " in result.stderr


def test_plot_is_a_reporter_name(tmp_path: Path) -> None:
    code = (
        "from profiletools import memprofile\n"
        "with memprofile('fill', interval=0.002):\n"
        "    data = [bytearray(1000) for _ in range(3000)]\n"
        "    import time; time.sleep(0.02)\n"
    )
    result = run_python(code, env={"PROFILETOOLS_REPORTERS": f"plot:{tmp_path}"})
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert [path.suffix for path in tmp_path.iterdir()] == [".png"]


@pytest.mark.parametrize(
    ("spec", "owners"),
    [
        ("summary:peak", ["Summary"]),
        ("stream:stdout, log:debug", ["Stream", "Log"]),
        ("dump:out, none", ["Dump"]),
    ],
)
def test_good_options_are_taken(spec: str, owners: list[str]) -> None:
    assert [type(report.__self__).__name__ for report in parse_reporters(spec).reports] == owners


@pytest.mark.parametrize("spec", ["summary:x", "log:LOUD", "collect:3", "otel:yes", "budget:1ms", "stream:nowhere"])
def test_bad_options_are_rejected_naming_them(spec: str) -> None:
    with pytest.raises(ValueError, match=r"^PROFILETOOLS_REPORTERS=") as caught:
        parse_reporters(spec)
    assert repr(spec.partition(":")[2]) in str(caught.value)


@pytest.mark.parametrize("value", ["", " ", ","])
def test_an_empty_value_means_the_default(value: str) -> None:
    result = run_python(PROGRAM, env={"PROFILETOOLS_REPORTERS": value})
    assert result.returncode == 0, result.stderr
    assert "[profiletools] timed a: " in result.stderr  # not silently nowhere
