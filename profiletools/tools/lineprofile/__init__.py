"""The ``lineprofile`` tool."""

from profiletools.tools.lineprofile.api import BACKEND, ENGINE, LineRecord, lineprofile

__all__ = ["BACKEND", "ENGINE", "LineRecord", "lineprofile"]
