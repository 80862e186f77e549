"""``profiletools show`` of a ``.prof``: the table the live record prints, from the file."""

from __future__ import annotations

import pstats
from collections.abc import Mapping
from typing import Any

from profiletools.core.counts import Count
from profiletools.tools.profileit.api import TOOL, ProfileRecord, ProfileStats, summary_options


def from_stats(stats: pstats.Stats, name: str, options: Mapping[str, Any]) -> ProfileRecord:
    """A record of the profile in ``stats``, summarized with ``show``'s ``sort``, ``limit`` and ``strip_dirs``."""
    summary = summary_options(
        options.get("sort") or "cumulative", options.get("limit", 20), bool(options.get("strip_dirs")), None,
    )
    payload = ProfileStats.from_dict(stats.stats, summary)  # type: ignore[attr-defined]
    return ProfileRecord(TOOL, name, name, None, 0.0, payload.total_tt, None, 0, 0, None, payload)


def call_counts(stats: pstats.Stats) -> list[Count]:
    """Every function's calls in a profile (a record's payload or a loaded ``.prof``), with its times.

    The count is pstats' ``ncalls`` (recursive calls included), the times its
    ``cumtime`` and ``tottime``.
    """
    return [
        Count(key, None, calls, cumulative, own)
        for key, (_primitive, calls, own, cumulative, _callers) in stats.stats.items()  # type: ignore[attr-defined]
    ]
