"""``sampleprofile``'s own options, checked when decorating; and its one dependency, pyinstrument."""

from __future__ import annotations

import math
from typing import Any, Literal, NamedTuple

TOOL = "sampleprofile"
#: Who takes the samples: profiletools' timer-driven sampler, or pyinstrument's own (a hook on every call).
SAMPLERS = ("timer", "pyinstrument")
#: What ticks the timer sampler on the main thread: a timer signal when it can, or always the sampling thread.
CLOCKS = ("auto", "thread")


def require_pyinstrument() -> Any:
    """The ``pyinstrument`` module, or an ``ImportError`` that names the extra to install."""
    try:
        import pyinstrument
    except ImportError as exc:
        from profiletools.core.extras import install_hint

        hint = install_hint("sample")
        raise ImportError(f"sampleprofile() needs pyinstrument, which is not installed: {hint}") from exc
    return pyinstrument


class SampleOptions(NamedTuple):
    """How samples are taken and the tree is trimmed (``sampleprofile``'s arguments)."""

    interval: float = 0.001
    min_share: float = 0.01
    sampler: Literal["timer", "pyinstrument"] = "timer"
    clock: Literal["auto", "thread"] = "auto"


def sample_options(
    interval: object, min_share: object, sampler: object = "timer", clock: object = "auto"
) -> SampleOptions:
    """Validate the options; errors name the argument and what is allowed."""
    for argument, value in (("interval", interval), ("min_share", min_share)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"sampleprofile(): {argument}= must be a number; got {type(value).__name__} {value!r:.60}")
    if not (math.isfinite(interval) and interval > 0):  # type: ignore[arg-type,operator]
        raise ValueError(f"sampleprofile(): interval= is seconds between samples and must be > 0; got {interval}")
    if not 0.0 <= min_share < 1.0:  # type: ignore[operator]
        raise ValueError(
            "sampleprofile(): min_share= is the smallest share of the total time a frame needs to be "
            f"shown in the text summary, from 0 (show all) up to but not including 1; got {min_share}"
        )
    if sampler not in SAMPLERS:
        raise ValueError(
            f"sampleprofile(): sampler= is 'timer' (profiletools' sampler, the default) or 'pyinstrument' "
            f"(pyinstrument's, which hooks every call); got {sampler!r:.60}"
        )
    if clock not in CLOCKS:
        raise ValueError(
            f"sampleprofile(): clock= is 'auto' (a timer signal for the main thread, the default) or 'thread' "
            f"(a sampling thread for every thread: no signal interrupts the program); got {clock!r:.60}"
        )
    if sampler == "pyinstrument" and clock != "auto":
        raise ValueError("sampleprofile(): clock= chooses the timer sampler's clock; sampler='pyinstrument' has none")
    return SampleOptions(float(interval), float(min_share), sampler, clock)  # type: ignore[arg-type]
