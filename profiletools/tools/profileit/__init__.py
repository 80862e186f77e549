"""The ``profileit`` tool: cProfile.

Importing this package loads only the declaration below; the tool itself
(:mod:`.api`) loads on first use of one of its names.
"""

from __future__ import annotations

import sys

from profiletools.core.registry import Counts, Tool, lazy_exports

TYPE_CHECKING = False
if TYPE_CHECKING:
    from profiletools.tools.profileit.api import ProfileRecord, ProfileStats, profileit

#: CPython 3.12+ profiles through ``sys.monitoring``.
MONITORING = sys.version_info >= (3, 12)

#: This tool's declaration (see :mod:`profiletools.core.registry`).
TOOL = Tool(
    "profileit",
    "profiletools.tools.profileit.api:profileit",
    hook="monitoring" if MONITORING else "setprofile",
    record="profiletools.tools.profileit.record:ProfileRecord",
    views=((".prof", "profiletools.tools.profileit.views:from_stats"),
           (".pstats", "profiletools.tools.profileit.views:from_stats")),
    counts=Counts("calls", "profiletools.tools.profileit.views:call_counts"),
)

__getattr__ = lazy_exports(__name__, "profiletools.tools.profileit.api", ('ProfileRecord', 'ProfileStats', 'profileit'))

__all__ = ["TOOL", "ProfileRecord", "ProfileStats", "profileit"]
