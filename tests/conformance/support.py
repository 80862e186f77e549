"""Helpers shared by the ported peer tests: reading tables the way the peers read them, a fake clock."""

from __future__ import annotations

import contextlib
import functools
import inspect
import random
import sys
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

from profiletools import reporters
from profiletools.tools.sampleprofile.testing import manual_clock, tick


def hits_in_table(text: str, ending: str) -> list[int]:
    """The hits column of every row of a line_profiler table whose source ends with ``ending``.

    This is how line_profiler's own tests read ``print_stats`` output
    (``line.split()[1]``); profiletools' ``record.text()`` prints the same table.
    """
    return [int(line.split()[1]) for line in text.splitlines() if line.endswith(ending)]


def hits_by_offset(record: Any, function: Callable[..., Any]) -> dict[int, int]:
    """``{line number - the ``def`` line: hits}`` of ``function`` in a ``lineprofile`` record."""
    first = inspect.unwrap(function).__code__.co_firstlineno
    return {line - first: hits for line, (hits, _seconds) in record.lines(function).items()}


def all_text(collect: reporters.Collect) -> str:
    """Every collected record's text, one after the other (like one profiler's ``print_stats``)."""
    return "\n".join(record.text() for record in collect.records)


# -- pyinstrument's fake clock -------------------------------------------------------------------
#
# pyinstrument's own tests replace the sampler's clock and ``time.sleep`` so that a
# "0.25 s" sleep is instantaneous and is charged exactly 0.25 s: the expected values
# of its tests are exact. The ports do the same for both of sampleprofile's samplers:
# pyinstrument's (``sampler="pyinstrument"``) reads the fake clock at every call and
# return; profiletools' timer sampler runs on its manual clock (the documented test hook
# ``profiletools.tools.sampleprofile.testing``), which ticks where the fake clock moves,
# in the fake ``sleep`` (so its frame is the ``sleep`` pyinstrument's figures name).
# The profilers, the samples and profiletools are all real.


class FakeClock:
    """A clock that only moves when something sleeps (or the event loop waits)."""

    def __init__(self) -> None:
        self.time = random.random() * 1e6

    def get_time(self) -> float:
        return self.time

    def sleep(self, duration: float) -> None:
        self.time += duration
        tick(sys._getframe(0))

    def select(self, real_select: Callable[[float | None], Any], timeout: float | None) -> Any:
        """An event loop's wait: advance by the timeout, then poll without blocking."""
        self.time += timeout or 0.0
        tick(sys._getframe(0))
        return real_select(0)


@contextlib.contextmanager
def fake_time(clock: FakeClock | None = None) -> Iterator[FakeClock]:
    """Both samplers read ``clock``; ``time.sleep`` advances it instead of sleeping."""
    from pyinstrument import stack_sampler

    clock = clock or FakeClock()
    sampler = stack_sampler.get_stack_sampler()
    sampler.timer_func = clock.get_time
    try:
        with manual_clock(clock.get_time), mock.patch("time.sleep", new=clock.sleep):
            yield clock
    finally:
        sampler.timer_func = None


@contextlib.contextmanager
def fake_time_asyncio(loop: Any) -> Iterator[FakeClock]:
    """:func:`fake_time`, plus ``loop`` waiting on the same clock (``asyncio.sleep`` is instant)."""
    clock = FakeClock()
    selector = loop._selector
    with (
        mock.patch.object(selector, "select", new=functools.partial(clock.select, selector.select)),
        mock.patch.object(loop, "time", new=clock.get_time),
        fake_time(clock),
    ):
        yield clock
