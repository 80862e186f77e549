"""A test hook: a clock that ticks only when a test says so, on a time the test keeps.

While :func:`manual_clock` is active, every ``sampleprofile`` measurement that
starts (or resumes a step) uses it instead of the timer signal or the
sampling thread: no sample is taken until :func:`tick` is called, and each
tick weighs exactly the time ``now`` says passed since the measurement's
previous tick (or since it started or resumed). Durations and waits are read
from ``now`` too. A fake clock whose ``sleep`` advances the time and then
ticks at its caller's frame gives exact, repeatable profiles, as
pyinstrument's own tests get from their fake clock::

    with manual_clock(fake.now):
        profiled()        # calls fake.sleep(0.25): fake time += 0.25, then tick(caller's frame)

>>> from profiletools import reporters, sampleprofile
>>> now = [100.0]
>>> def sleep(seconds):
...     now[0] += seconds
...     tick(sys._getframe(1))
>>> def slow():
...     sleep(0.25)
>>> seen = reporters.Collect()
>>> with manual_clock(lambda: now[0]):
...     sampleprofile(reporters=[seen])(slow)()
>>> seen.records[0].root.time, seen.records[0].sample_count
(0.25, 1)
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from types import FrameType

from profiletools.tools.sampleprofile import clock as clocks

__all__ = ["manual_clock", "tick"]


@contextlib.contextmanager
def manual_clock(now: Callable[[], float]) -> Iterator[clocks.ManualClock]:
    """Sample every measurement that starts in the ``with`` on a manual clock reading ``now``."""
    clock = clocks.ManualClock(now)
    previous, clocks.MANUAL = clocks.MANUAL, clock
    try:
        yield clock
    finally:
        clocks.MANUAL = previous


def tick(frame: FrameType | None = None) -> None:
    """Take a sample of this thread's measurements now, as if interrupted in ``frame`` (default: the caller's).

    Does nothing when no manual clock is active.
    """
    clock = clocks.MANUAL
    if clock is not None:
        clock.tick(frame if frame is not None else sys._getframe(1))
