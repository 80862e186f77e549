"""The ``timed`` tool."""

from profiletools.tools.timed.api import timed

__all__ = ["timed"]
