"""The ``sampleprofile`` tool: stack samples on a timer, shown and saved as a pyinstrument session.

Importing this package loads only the declaration below; the tool itself
(:mod:`.api`) loads on first use of one of its names.
"""

from __future__ import annotations

from profiletools.core.registry import Tool, lazy_exports

TYPE_CHECKING = False
if TYPE_CHECKING:
    from profiletools.tools.sampleprofile.api import SampleRecord, sampleprofile

#: This tool's declaration (see :mod:`profiletools.core.registry`).
TOOL = Tool(
    "sampleprofile",
    "profiletools.tools.sampleprofile.api:sampleprofile",
    hook="setprofile",  # held only by sampler="pyinstrument"; the timer sampler uses no interpreter hook
    record="profiletools.tools.sampleprofile.api:SampleRecord",
    views=((".pyisession", "profiletools.tools.sampleprofile.views:from_session"),),
)

__getattr__ = lazy_exports(__name__, "profiletools.tools.sampleprofile.api", ('SampleRecord', 'sampleprofile'))

__all__ = ["TOOL", "SampleRecord", "sampleprofile"]
