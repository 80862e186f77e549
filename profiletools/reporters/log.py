"""``Log``: records as messages of the standard ``logging`` module."""

from __future__ import annotations

import logging
from typing import Any


class Log:
    """Log each record's text on logger ``profiletools`` (or ``logger=``) at ``level``.

    The record itself travels in the log record's ``extra`` as ``profile_record``,
    so a logging handler can read its fields.
    """

    def __init__(self, level: int | str = logging.INFO, *, logger: str | logging.Logger = "profiletools") -> None:
        if isinstance(level, str):
            resolved = logging.getLevelName(level.upper())
            if not isinstance(resolved, int):
                raise ValueError(f"Log(level=) must be a logging level name or number; got {level!r}")
            level = resolved
        elif not isinstance(level, int) or isinstance(level, bool):
            raise TypeError(f"Log(level=) must be a logging level name or number; got {level!r}")
        if isinstance(logger, str):
            logger = logging.getLogger(logger)
        elif not isinstance(logger, logging.Logger):
            raise TypeError(f"Log(logger=) must be a logger name or a logging.Logger; got {type(logger).__name__}")
        self.level = level
        self.logger = logger

    def report(self, record: Any) -> None:
        """Log the record's text (formatted only when the level is enabled)."""
        if self.logger.isEnabledFor(self.level):
            self.logger.log(self.level, "%s", record.text(), extra={"profile_record": record})
