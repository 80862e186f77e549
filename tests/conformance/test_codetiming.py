"""codetiming's own tests (realpython/codetiming ``tests/test_codetiming.py``), ported to ``timed``.

codetiming's ``Timer`` prints ``text`` (default ``Elapsed time: ... seconds``)
through ``logger`` (default ``print``) at each stop, and accumulates named
timers in ``Timer.timers``. ``timed`` sends a record per call or block to
reporters: the default prints one line on stderr, a callable reporter is a
custom logger, ``reporters=[]`` prints nothing, ``reporters.Summary`` keeps the
per-name statistics.

Deliberate differences, asserted below: no ``text=`` template (a reporter
formats the record; the default line is ``timed NAME: 1.2 ms (cpu ...)`` on
stderr, not stdout); a probe's ``elapsed`` is ``None`` before its first use
(codetiming: ``nan``); no ``start()``/``stop()`` methods (a ``with`` block is
the explicit timer), so codetiming's ``TimerError`` cases have no counterpart.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from profiletools import reporters, timed

TIME_PREFIX = "Wasted time:"
TIME_MESSAGE = f"{TIME_PREFIX} {{:.4f}} seconds"
RE_TIME_MESSAGE = re.compile(TIME_PREFIX + r" 0\.\d{4} seconds")
#: profiletools' default line for a ``timed`` record.
RE_TIMED_LINE = re.compile(r"\[profiletools\] timed (\S+): [\d.]+ (ns|µs|ms|s) \(cpu [\d.]+ (ns|µs|ms|s)\)\n")


def waste_time(num: int = 1000) -> None:
    """Just waste a little bit of time."""
    sum(n**2 for n in range(num))


@timed
def decorated_timewaste(num: int = 1000) -> None:
    """Just waste a little bit of time."""
    sum(n**2 for n in range(num))


@timed("accumulator")
def accumulated_timewaste(num: int = 1000) -> None:
    """Just waste a little bit of time."""
    sum(n**2 for n in range(num))


class CustomLogger:
    """Keeps the messages it is given (codetiming's test logger)."""

    def __init__(self) -> None:
        self.messages = ""

    def __call__(self, message: str) -> None:
        self.messages += message


def wasted_time_text(record: Any) -> str:
    """codetiming's ``TIME_MESSAGE``, formatted from a record by a reporter."""
    return TIME_MESSAGE.format(record.wall)


def test_timer_as_decorator(capsys: pytest.CaptureFixture[str]) -> None:
    """Port of codetiming tests/test_codetiming.py::test_timer_as_decorator (one line per call, on stderr)."""
    decorated_timewaste()
    stdout, stderr = capsys.readouterr()
    match = RE_TIMED_LINE.fullmatch(stderr)
    assert match and match.group(1) == "decorated_timewaste"
    assert stderr.count("\n") == 1
    assert stdout == ""


def test_timer_as_context_manager(capsys: pytest.CaptureFixture[str]) -> None:
    """Port of codetiming tests/test_codetiming.py::test_timer_as_context_manager."""
    with timed("waste"):
        waste_time()
    stdout, stderr = capsys.readouterr()
    assert RE_TIMED_LINE.fullmatch(stderr)
    assert stderr.count("\n") == 1
    assert stdout == ""


def test_access_timer_object_in_context(capsys: pytest.CaptureFixture[str]) -> None:
    """Port of codetiming tests/test_codetiming.py::test_access_timer_object_in_context."""
    with timed("waste") as t:
        assert t.elapsed is None  # still running
    assert t.elapsed == t.record.wall > 0
    assert t.record.name == "waste"
    capsys.readouterr()


def test_custom_logger() -> None:
    """Port of codetiming tests/test_codetiming.py::test_custom_logger: a callable receives each measurement."""
    logger = CustomLogger()
    with timed(reporters=[lambda record: logger(wasted_time_text(record))]):
        waste_time()
    assert RE_TIME_MESSAGE.match(logger.messages)


def test_timer_without_text(capsys: pytest.CaptureFixture[str]) -> None:
    """Port of codetiming tests/test_codetiming.py::test_timer_without_text (``logger=None``: no reporters)."""
    with timed(reporters=[]):
        waste_time()
    stdout, stderr = capsys.readouterr()
    assert stdout == ""
    assert stderr == ""


def test_accumulated_decorator(capsys: pytest.CaptureFixture[str]) -> None:
    """Port of codetiming tests/test_codetiming.py::test_accumulated_decorator."""
    accumulated_timewaste()
    accumulated_timewaste()
    stdout, stderr = capsys.readouterr()
    lines = stderr.splitlines(keepends=True)
    assert len(lines) == 2
    assert all(RE_TIMED_LINE.fullmatch(line).group(1) == "accumulator" for line in lines)  # type: ignore[union-attr]
    assert stdout == ""


def test_accumulated_context_manager(capsys: pytest.CaptureFixture[str]) -> None:
    """Port of codetiming tests/test_codetiming.py::test_accumulated_context_manager (one probe, two blocks)."""
    t = timed("accumulator")
    with t:
        waste_time()
    with t:
        waste_time()
    stdout, stderr = capsys.readouterr()
    lines = stderr.splitlines(keepends=True)
    assert len(lines) == 2
    assert all(RE_TIMED_LINE.fullmatch(line) for line in lines)
    assert stdout == ""


def test_accumulated_explicit_timer() -> None:
    """Port of codetiming tests/test_codetiming.py::test_accumulated_explicit_timer.

    The total of the measurements equals the accumulated timer
    (``Timer.timers[name]``: the ``Summary``'s total for the name).
    """
    seen = reporters.Collect()
    summary = reporters.Summary()
    t = timed("accumulated_explicit_timer", reporters=[seen, summary])
    total = 0.0
    for _ in range(2):
        with t as block:
            waste_time()
        total += block.elapsed
    assert len(seen.records) == 2
    assert total == pytest.approx(summary.stats()["accumulated_explicit_timer"]["total"], rel=1e-12)


def test_last_starts_as_none() -> None:
    """Port of codetiming tests/test_codetiming.py::test_last_starts_as_nan: the difference, ``None`` not ``nan``."""
    t = timed("never", reporters=[])
    assert t.elapsed is None


def test_timer_sets_last() -> None:
    """Port of codetiming tests/test_codetiming.py::test_timer_sets_last."""
    with timed(reporters=[]) as t:
        time.sleep(0.02)
    assert t.elapsed >= 0.02


def test_using_name_in_text(capsys: pytest.CaptureFixture[str]) -> None:
    """Port of codetiming tests/test_codetiming.py::test_using_name_in_text_without_explicit_timer
    and test_using_name_in_text_with_explicit_timer: the name is in the line."""
    name = "NamedTimer"
    with timed(name=name):
        waste_time()
    stdout, stderr = capsys.readouterr()
    match = RE_TIMED_LINE.fullmatch(stderr)
    assert match and match.group(1) == name
    assert stdout == ""


def test_using_milliseconds_in_text(capsys: pytest.CaptureFixture[str]) -> None:
    """Port of codetiming tests/test_codetiming.py::test_using_milliseconds_attribute_in_text
    (and ``minutes``): a reporter formats the record's seconds in any unit."""

    def report(record: Any) -> None:
        print(f"{record.wall * 1000:.0f} {record.wall:.3f} {record.wall / 60:.1f}")

    with timed(reporters=[report]):
        waste_time()
    stdout, stderr = capsys.readouterr()
    milliseconds, seconds, minutes = stdout.split()
    assert int(milliseconds) == round(float(seconds) * 1000)
    assert minutes == "0.0"
    assert stderr == ""


def test_text_formatting_function(capsys: pytest.CaptureFixture[str]) -> None:
    """Port of codetiming tests/test_codetiming.py::test_text_formatting_function (and _class)."""

    def format_text(seconds: float) -> str:
        return f"Function: {seconds + 1:.0f}"

    with timed(reporters=[lambda record: print(format_text(record.wall))]):
        waste_time()
    stdout, stderr = capsys.readouterr()
    assert stdout.strip() == "Function: 1"
    assert not stderr.strip()


def test_timers_cleared() -> None:
    """Port of codetiming tests/test_codetiming.py::test_timers_cleared and test_running_cleared_timers."""
    summary = reporters.Summary()
    with timed("timer_to_be_cleared", reporters=[summary]):
        waste_time()
    assert "timer_to_be_cleared" in summary.stats()
    summary.reset()
    assert not summary.stats()
    accumulated = timed("accumulator", reporters=[summary])(waste_time)
    accumulated()
    with timed("timer_to_be_cleared", reporters=[summary]):
        waste_time()
    assert set(summary.stats()) == {"accumulator", "timer_to_be_cleared"}


def test_timers_stats() -> None:
    """Port of codetiming tests/test_codetiming.py::test_timers_stats (codetiming's ``stdev`` has no counterpart)."""
    name = "timer_with_stats"
    seen = reporters.Collect()
    summary = reporters.Summary()
    t = timed(name, reporters=[summary, seen])
    for num in range(5, 10):
        with t:
            waste_time(num=100 * num)
    stats = summary.stats()[name]
    assert stats["total"] == pytest.approx(sum(record.wall for record in seen.records), rel=1e-12)
    assert stats["count"] == 5
    assert stats["min"] <= stats["p50"] <= stats["max"]
    assert stats["mean"] >= stats["min"]


def test_stats_missing_timers() -> None:
    """Port of codetiming tests/test_codetiming.py::test_stats_missing_timers."""
    with pytest.raises(KeyError):
        reporters.Summary().stats()["non_existent_timer"]


def test_setting_timers_exception() -> None:
    """Port of codetiming tests/test_codetiming.py::test_setting_timers_exception: the figures cannot be set.

    codetiming's ``Timer.timers`` refuses item assignment; ``Summary.stats()``
    returns a copy, so setting an item changes nothing in the summary.
    """
    summary = reporters.Summary()
    stats = summary.stats()
    stats["set_timer"] = {"count": 1}
    assert "set_timer" not in summary.stats()


class StartAndStop:
    """A reporter that also acts when a measurement starts (codetiming's ``initial_text``)."""

    def __init__(self, initial_text: str = "Timer {name} started") -> None:
        self.initial_text = initial_text

    def open(self, probe: Any) -> Any:
        print(self.initial_text.format(name=probe.name))
        return self.report

    def report(self, record: Any) -> None:
        print(wasted_time_text(record))


RE_INITIAL_TEXT_TRUE = re.compile(f"Timer started\n{TIME_PREFIX}" + r" 0\.\d{4} seconds")


def test_timer_as_decorator_with_initial_text(capsys: pytest.CaptureFixture[str]) -> None:
    """Port of codetiming tests/test_codetiming.py::test_timer_as_decorator_with_initial_text_true
    and test_timer_as_context_manager_with_initial_text_true: a reporter's ``open()`` runs at the start."""

    @timed(reporters=[StartAndStop("Timer started")])
    def timewaste() -> None:
        waste_time()

    timewaste()
    with timed(reporters=[StartAndStop("Timer started")]):
        waste_time()
    stdout, stderr = capsys.readouterr()
    first, second = stdout.splitlines()[:2], stdout.splitlines()[2:]
    assert RE_INITIAL_TEXT_TRUE.match("\n".join(first))
    assert RE_INITIAL_TEXT_TRUE.match("\n".join(second))
    assert stdout.count("\n") == 4
    assert stderr == ""


def test_explicit_timer_with_initial_text_with_name(capsys: pytest.CaptureFixture[str]) -> None:
    """Port of codetiming tests/test_codetiming.py::test_explicit_timer_with_initial_text_true_with_name
    and test_explicit_timer_with_initial_text_with_name: the start text names the measurement."""
    with timed("named", reporters=[StartAndStop()]):
        waste_time()
    with timed("the party", reporters=[StartAndStop("Starting {name}")]):
        waste_time()
    stdout, stderr = capsys.readouterr()
    lines = stdout.splitlines()
    assert lines[0] == "Timer named started" and RE_TIME_MESSAGE.fullmatch(lines[1])
    assert lines[2] == "Starting the party" and RE_TIME_MESSAGE.fullmatch(lines[3])
    assert stderr == ""
