"""``profiletools show`` of a ``.prof``: the table the live record prints, from the file."""

from __future__ import annotations

import pstats
from collections.abc import Mapping
from typing import Any

from profiletools.core.counts import Count
from profiletools.core.records import make_record
from profiletools.tools.profileit.backend import TOOL
from profiletools.tools.profileit.options import summary_options
from profiletools.tools.profileit.record import ProfileRecord
from profiletools.tools.profileit.stats import ProfileStats


def from_stats(stats: pstats.Stats, name: str, options: Mapping[str, Any]) -> ProfileRecord:
    """A record of the profile in ``stats``, summarized with ``show``'s ``sort``, ``limit`` and ``strip_dirs``."""
    summary = summary_options(
        options.get("sort") or "cumulative", options.get("limit", 20), bool(options.get("strip_dirs")), None,
    )
    payload = ProfileStats.from_dict(stats.stats, summary)  # type: ignore[attr-defined]
    record: ProfileRecord = make_record(
        ProfileRecord, TOOL, name, name, None, 0.0, payload.total_tt, None, None, payload,
    )
    return record


def call_counts(stats: pstats.Stats) -> list[Count]:
    """Every function's calls in a profile (a record's payload or a loaded ``.prof``), with its times.

    The count is pstats' ``ncalls`` (recursive calls included), the times its
    ``cumtime`` and ``tottime``.
    """
    return [
        Count(key, None, calls, cumulative, own)
        for key, (_primitive, calls, own, cumulative, _callers) in stats.stats.items()  # type: ignore[attr-defined]
    ]
