"""The ``memprofile`` tool: tracemalloc, RSS (with the kernel's peak), line tables, timelines.

Importing this package loads only the declaration below; the tool itself
(:mod:`.api`) loads on first use of one of its names.
"""

from __future__ import annotations

from profiletools.core.registry import Figure, Tool, lazy_exports

TYPE_CHECKING = False
if TYPE_CHECKING:
    from profiletools.tools.memprofile.api import MemoryRecord, memprofile

#: The highest traced memory during a call (also the figure of memory budgets).
PEAK = Figure("peak", "By", "peak memory", "profiletools.memory.peak",
              "Peak memory of calls and blocks measured by memprofile")

#: Traced memory left at the end of a call above its start (negative: freed).
NET = Figure("net", "By", "net memory")
#: The highest resident set size during a call above its value at the start (``traced=False``, ``interval=``;
#: the figure of memory budgets with ``traced=False``).
RSS_PEAK = Figure("rss_peak", "By", "peak RSS", "profiletools.memory.rss_peak",
                  "Peak resident set size of calls and blocks measured by memprofile, above the start")
#: The change of the resident set size over a call.
RSS_CHANGE = Figure("rss_delta", "By", "RSS change")

#: This tool's declaration (see :mod:`profiletools.core.registry`).
TOOL = Tool(
    "memprofile",
    "profiletools.tools.memprofile.api:memprofile",
    hook="settrace",
    record="profiletools.tools.memprofile.api:MemoryRecord",
    figures=(PEAK, NET, RSS_PEAK, RSS_CHANGE),
    from_dict="profiletools.tools.memprofile.views:from_dict",
)

__getattr__ = lazy_exports(__name__, "profiletools.tools.memprofile.api", ('MemoryRecord', 'memprofile'))

__all__ = ["TOOL", "MemoryRecord", "memprofile"]
