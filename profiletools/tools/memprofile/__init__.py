"""The ``memprofile`` tool."""

from profiletools.tools.memprofile.api import MemoryRecord, memprofile

__all__ = ["MemoryRecord", "memprofile"]
