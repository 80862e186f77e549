"""``profiletools show`` of a ``.prof``: the table the live record prints, from the file."""

from __future__ import annotations

import pstats
from collections.abc import Mapping
from typing import Any

from profiletools.tools.profileit.api import TOOL, ProfileRecord, ProfileStats, summary_options


def from_stats(stats: pstats.Stats, name: str, options: Mapping[str, Any]) -> ProfileRecord:
    """A record of the profile in ``stats``, summarized with ``show``'s ``sort``, ``limit`` and ``strip_dirs``."""
    summary = summary_options(
        options.get("sort") or "cumulative", options.get("limit", 20), bool(options.get("strip_dirs")), None,
    )
    payload = ProfileStats.from_dict(stats.stats, summary)  # type: ignore[attr-defined]
    return ProfileRecord(TOOL, name, name, None, 0.0, payload.total_tt, None, 0, 0, None, payload)
