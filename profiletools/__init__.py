"""profiletools: a profiler around one function or one block, in one line.

>>> from profiletools import timed, reporters
>>> seen = reporters.Collect()
>>> with timed("load", reporters=[seen]) as t:
...     total = sum(range(1000))
>>> t.elapsed == seen.records[0].wall
True
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from profiletools import reporters
from profiletools.core.config import configure, disable, enable, is_enabled
from profiletools.core.machinery import Probe
from profiletools.core.records import Record, TimingRecord
from profiletools.core.settings import flush
from profiletools.tools.timed.api import timed

__version__ = "0.1.0"

# The heavier tools load their profilers on first use, so ``import profiletools``
# stays cheap for code that only uses ``timed``.
_LAZY = {
    "profileit": "profiletools.tools.profileit",
    "lineprofile": "profiletools.tools.lineprofile",
    "memprofile": "profiletools.tools.memprofile",
    "sampleprofile": "profiletools.tools.sampleprofile",
}

if TYPE_CHECKING:
    from profiletools.tools.lineprofile.api import lineprofile
    from profiletools.tools.memprofile.api import memprofile
    from profiletools.tools.profileit.api import profileit
    from profiletools.tools.sampleprofile.api import sampleprofile

def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'profiletools' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "Probe",
    "Record",
    "TimingRecord",
    "__version__",
    "configure",
    "disable",
    "enable",
    "flush",
    "is_enabled",
    "lineprofile",
    "memprofile",
    "profileit",
    "reporters",
    "sampleprofile",
    "timed",
]
