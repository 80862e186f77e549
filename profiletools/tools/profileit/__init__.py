"""The ``profileit`` tool."""

from profiletools.tools.profileit.api import ProfileRecord, ProfileStats, profileit

__all__ = ["ProfileRecord", "ProfileStats", "profileit"]
