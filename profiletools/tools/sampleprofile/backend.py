"""The timer sampler as a backend of the machinery: one measurement per call, step or block.

``begin`` finds where the samples end (the marker, see :mod:`.capture`) and
starts a clock; ``end`` stops it and turns the samples into a pyinstrument
``Session`` (or, for ``aggregate=True``, into frame records that ``merge``
folds together and ``finish`` makes a session of). A generator or coroutine
is sampled between ``resume`` and ``pause``; ``pause`` gets the suspended
coroutine to see where it waits.

A call or block starting inside another ``sampleprofile`` measurement on the
same thread (recursion, decorated functions calling each other) makes no
record: its time is in the outer profile.
"""

from __future__ import annotations

import contextvars
import inspect
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from profiletools.core import settings
from profiletools.core.backend import SUPPRESS, Backend
from profiletools.core.frames import user_frame
from profiletools.tools.sampleprofile.capture import Measurement
from profiletools.tools.sampleprofile.clock import prepare
from profiletools.tools.sampleprofile.options import TOOL, SampleOptions
from profiletools.tools.sampleprofile.record import SampleRecord
from profiletools.tools.sampleprofile.sampler import Sampler, calling_marker
from profiletools.tools.sampleprofile.session import Samples, builtin_frame, samples_of

if TYPE_CHECKING:
    from pyinstrument.session import Session

    from profiletools.core.machinery import Probe

_get_ident = threading.get_ident

#: The measurement of either sampler running in this context (its ``running`` and ``thread`` say whether a
#: call starting now is nested in it: ``asyncio.to_thread`` copies contexts to other threads).
ACTIVE: contextvars.ContextVar[Any] = contextvars.ContextVar("profiletools-sampleprofile", default=None)


def stepped(target: Callable[..., Any] | None) -> bool:
    """Whether the machinery runs ``target`` step by step (a generator, coroutine or async generator function)."""
    return target is not None and (
        inspect.iscoroutinefunction(target) or inspect.isgeneratorfunction(target) or inspect.isasyncgenfunction(target)
    )


class SampleBackend(Backend):
    """Samples each call (or block) with profiletools' timer sampler (see :mod:`.clock`)."""

    tool = TOOL
    record_type = SampleRecord
    not_measured = "not sampled"
    aggregate_skipped = "{skipped} of {calls} calls unsampled: {reason}"

    def __init__(self, target: Callable[..., Any] | None, probe: Probe, options: SampleOptions) -> None:
        super().__init__(target, probe)
        self.options = options
        self.aggregated = probe.aggregating
        self.stepwise = stepped(target)
        self.sampler = Sampler(options.interval, options.clock)
        self.builtin = None if target is None else builtin_frame(target)
        if options.clock == "auto":
            prepare()  # the C library's timer functions, looked up now rather than inside a sampled call

    # -- one call -----------------------------------------------------------

    def begin(self) -> Any:
        """Start sampling (a stepped call: at its first step), or ``SUPPRESS`` inside an outer measurement."""
        active = ACTIVE.get()
        if active is not None and active.running and active.thread == _get_ident():
            return SUPPRESS
        if self.stepwise:
            m = self.sampler.begin(None, stepwise=True)
        elif self.target is None:  # a block: the samples end at (and include) the frame holding the ``with``
            m = self.sampler.begin(user_frame(sys._getframe(1)), block=True)
        else:  # a call: they end at the frame of ours that calls the user's callable
            m = self.sampler.begin(calling_marker(sys._getframe(1)))
        m.previous = active
        ACTIVE.set(m)
        return m

    def resume(self, token: Measurement) -> None:
        """A stepped call runs again: sample it (the first step finds where its samples end)."""
        self.sampler.resume(token, None if token.marker is not None else calling_marker(sys._getframe(1)))

    def pause(self, token: Measurement, suspended: Any = None) -> None:
        """A stepped call is suspended: stop sampling; a coroutine's time until it resumes is a wait."""
        self.sampler.pause(token, suspended)

    def end(self, token: Measurement, error: BaseException | None) -> Any:
        """Stop sampling first; hand over the session (or, to aggregate, the frame records)."""
        m = self.sampler.end(token)
        if ACTIVE.get() is m:
            ACTIVE.set(m.previous)
        m.previous = None
        if m.fallback is not None:
            settings.warn_once(
                TOOL, "fallback " + m.fallback,
                f"sampleprofile {self.probe.name}: the main thread is sampled by the sampling thread, which "
                f"samples less often than the timer signal would: {m.fallback}",
            )
        samples = samples_of(m, self.builtin)
        return samples if self.aggregated else self.finish(samples)

    # -- aggregate ----------------------------------------------------------

    def merge(self, aggregate: Samples | None, payload: Samples) -> Samples:
        """Fold one call's frame records into the aggregate (identical stacks summed)."""
        if aggregate is None:
            aggregate = Samples(payload.interval)
        aggregate.add(payload)
        return aggregate

    def finish(self, aggregate: Samples) -> Session:
        """The pyinstrument session of the samples (of one call, or of an aggregate)."""
        return aggregate.session(self.probe.name or "", self.options.min_share)
