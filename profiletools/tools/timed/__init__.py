"""The ``timed`` tool: wall and CPU time.

Importing this package loads only the declaration below; the tool itself
(:mod:`.api`) loads on first use of one of its names.
"""

from __future__ import annotations

from profiletools.core.registry import Tool, lazy_exports

TYPE_CHECKING = False
if TYPE_CHECKING:
    from profiletools.tools.timed.api import timed

#: This tool's declaration (see :mod:`profiletools.core.registry`).
TOOL = Tool(
    "timed",
    "profiletools.tools.timed.api:timed",
    hook=None,
    record="profiletools.core.records:TimingRecord",
)

__getattr__ = lazy_exports(__name__, "profiletools.tools.timed.api", ('timed',))

__all__ = ["TOOL", "timed"]
