"""``profiletools show`` of a ``.pyisession``: the call tree as the live record prints it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from profiletools.core.records import make_record
from profiletools.tools.sampleprofile.api import TOOL, SampleRecord


def from_session(session: Any, name: str, options: Mapping[str, Any]) -> SampleRecord:
    """A record of a pyinstrument ``Session`` (``Session.load`` of the file)."""
    record: SampleRecord = make_record(
        SampleRecord, TOOL, name, name, None, session.start_time, session.duration, None, None, session,
    )
    return record
