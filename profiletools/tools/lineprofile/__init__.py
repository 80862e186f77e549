"""The ``lineprofile`` tool: line_profiler.

Importing this package loads only the declaration below; the tool itself
(:mod:`.api`) loads on first use of one of its names.
"""

from __future__ import annotations

import sys

from profiletools.core.registry import Counts, Tool, lazy_exports

TYPE_CHECKING = False
if TYPE_CHECKING:
    from profiletools.tools.lineprofile.api import BACKEND, ENGINE, LineRecord, lineprofile

#: CPython 3.12+ profiles through ``sys.monitoring``.
MONITORING = sys.version_info >= (3, 12)

#: This tool's declaration (see :mod:`profiletools.core.registry`).
TOOL = Tool(
    "lineprofile",
    "profiletools.tools.lineprofile.api:lineprofile",
    hook="monitoring" if MONITORING else "settrace",
    record="profiletools.tools.lineprofile.record:LineRecord",
    views=((".lprof", "profiletools.tools.lineprofile.views:from_line_stats"),),
    counts=Counts("hits", "profiletools.tools.lineprofile.views:line_hits"),
)

__getattr__ = lazy_exports(
    __name__, "profiletools.tools.lineprofile.api", ('BACKEND', 'ENGINE', 'LineRecord', 'lineprofile')
)

__all__ = ["BACKEND", "ENGINE", "TOOL", "LineRecord", "lineprofile"]
