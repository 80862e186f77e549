"""``sampleprofile``: where the time of a call or a block goes, sampled on a timer.

A clock ticks every ``interval`` (1 ms by default) of wall time while the
call runs, and each tick looks at the stack of the thread running it: the
cost is a cost per sample, whatever the code does (no hook runs at calls and
returns). The samples become a pyinstrument ``Session``, so the record shows
pyinstrument's call tree and writes its HTML page, speedscope JSON and session
file.

* :mod:`.clock`: the clocks (a timer signal for the main thread, a sampling
  thread for the others) and what they cost;
* :mod:`.capture`: what one tick records; :mod:`.sampler`: which clock samples
  a measurement, and its steps;
* :mod:`.session`: samples to pyinstrument frame records;
  :mod:`.record`: the record;
* :mod:`.backend`: the sampler as the machinery's backend;
  :mod:`.pyinstrument_hook`: pyinstrument's own sampler (``sampler="pyinstrument"``);
* :mod:`.testing`: a clock tests drive by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, overload

from profiletools.core import settings
from profiletools.core.backend import Backend
from profiletools.core.machinery import F, Probe, make_probe, split_target
from profiletools.tools.sampleprofile.backend import SampleBackend
from profiletools.tools.sampleprofile.options import TOOL, SampleOptions, require_pyinstrument, sample_options
from profiletools.tools.sampleprofile.record import SampleRecord, function_times


@dataclass(frozen=True)
class _Factory:
    """Makes a probe's backend; equal for equal options (inline aggregate blocks share one aggregate)."""

    options: SampleOptions

    def __call__(self, target: Callable[..., Any] | None, probe: Probe) -> Backend:
        if self.options.sampler == "pyinstrument":
            from profiletools.tools.sampleprofile.pyinstrument_hook import PyinstrumentBackend

            return PyinstrumentBackend(target, probe, self.options)
        return SampleBackend(target, probe, self.options)


# -- the public function ------------------------------------------------------------------


@overload
def sampleprofile(target: F, /) -> F: ...
@overload
def sampleprofile(
    target: str | None = None,
    /,
    *,
    name: str | None = None,
    interval: float = 0.001,
    min_share: float = 0.01,
    sampler: str = "timer",
    clock: str = "auto",
    aggregate: bool = False,
    reporters: Any = None,
    enabled: bool | Callable[[], object] = True,
    every: int = 1,
    cpu: bool = True,
) -> Probe: ...


def sampleprofile(
    target: Any = None,
    /,
    *,
    name: str | None = None,
    interval: float = 0.001,
    min_share: float = 0.01,
    sampler: str = "timer",
    clock: str = "auto",
    aggregate: bool = False,
    reporters: Any = None,
    enabled: bool | Callable[[], object] = True,
    every: int = 1,
    cpu: bool = True,
) -> Any:
    """Sample the call stack during each call (or block) on a timer; report the call tree.

    Use it bare (``@sampleprofile``), named (``@sampleprofile("ingest")``),
    with options, or as a block (``with sampleprofile("batch") as s: ...``
    then ``s.record``). The record's ``session`` (its payload) is a
    pyinstrument ``Session`` holding the user's frames only; its text is the
    call tree with time shares; ``Dump`` writes speedscope JSON, pyinstrument's
    HTML page and the ``.pyisession`` file. Needs pyinstrument (the ``sample`` extra).

    - ``interval``: seconds between samples (default 1 ms). The record says
      how many samples it holds and the interval achieved; a call shorter
      than a few intervals gets a note instead of passing for a profile.
    - ``min_share``: frames with less than this share of the total time are
      left out of the text summary and the JSON tree (the files keep all).
    - ``clock``: ``"auto"`` samples the main thread from a timer signal and
      other threads from a sampling thread; ``"thread"`` uses the sampling
      thread everywhere (no signal interrupts the program; fewer samples).
    - ``sampler``: ``"timer"`` (the default, see above) or ``"pyinstrument"``:
      pyinstrument's own profiler, which hooks every call and return.
    - ``aggregate``: one profile over all calls, reported on ``flush()`` (of
      the decorated function or ``profiletools.flush()``) and at exit; calls
      shorter than the interval get samples in proportion to their time.
    - ``name``, ``reporters``, ``enabled``, ``every``, ``cpu``: as for ``timed``.

    Coroutines are sampled while they run; the time they spend suspended goes
    to ``[await]`` under the frame they wait in, and other tasks do not
    appear. Calls nested inside a running ``sampleprofile`` make no record of
    their own.

    >>> import time
    >>> from profiletools import reporters
    >>> seen = reporters.Collect()
    >>> @sampleprofile(reporters=[seen])
    ... def nap(seconds):
    ...     time.sleep(seconds)
    ...     return seconds
    >>> nap(0.02)
    0.02
    >>> root = seen.records[0].root
    >>> root.function, max(root.children, key=lambda child: child.time).function  # where most of its time went
    ('nap', 'sleep')
    """
    func, given_name = split_target(TOOL, target, name)
    options = sample_options(interval, min_share, sampler, clock)
    probe = make_probe(
        TOOL, _Factory(options), name=given_name, reporters=reporters, enabled=enabled, every=every, cpu=cpu,
        aggregate=aggregate,
    )
    if settings.STATE.enabled_at_import:
        require_pyinstrument()
    return probe if func is None else probe(func)


__all__ = [
    "TOOL",
    "SampleBackend",
    "SampleOptions",
    "SampleRecord",
    "function_times",
    "require_pyinstrument",
    "sampleprofile",
]
