"""The ``sampleprofile`` tool."""

from profiletools.tools.sampleprofile.api import SampleRecord, sampleprofile

__all__ = ["SampleRecord", "sampleprofile"]
