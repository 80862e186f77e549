"""``Log``: records as messages of the standard ``logging`` module."""

from __future__ import annotations

import logging
from typing import Any

from profiletools.core.settings import warn_once
from profiletools.reporters.stream import Stream


class Log:
    """Log each record's text on logger ``profiletools`` (or ``logger=``) at ``level``.

    The record itself travels in the log record's ``extra`` as ``profile_record``,
    so a logging handler can read its fields.

    When the program never configured ``logging`` (no handler on the logger nor
    on any logger above it, the usual script), ``logging`` would drop an INFO
    message without a word. ``Log`` then writes each record as one line on
    stderr instead, as the default ``Stream`` does, and warns once that logging
    is not configured and how to configure it. A level the program set itself
    (``logging.getLogger("profiletools").setLevel(...)``, ``logging.disable``)
    is obeyed as usual.
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
        self._fallback: Stream | None = None

    def report(self, record: Any) -> None:
        """Log the record's text (formatted only when the level is enabled); see the class for the fallback."""
        logger = self.logger
        if logger.hasHandlers():
            if logger.isEnabledFor(self.level):
                logger.log(self.level, "%s", record.text(), extra={"profile_record": record})
        elif self._unconfigured_would_drop():
            self._write_to_stderr(record)

    def _unconfigured_would_drop(self) -> bool:
        """No handler anywhere: whether ``logging`` would lose this record though nobody asked it to."""
        logger = self.logger
        if logger.disabled or logger.manager.disable >= self.level:
            return False  # switched off by the program
        current: logging.Logger | None = logger
        while current is not None and current is not logging.root:
            if current.level:  # a level the program chose for this logger or one above it
                return self.level >= current.level
            current = current.parent
        return True

    def _write_to_stderr(self, record: Any) -> None:
        warn_once(
            "log", self.logger.name,
            f"reporters.Log: logging is not configured (logger {self.logger.name!r} has no handler), so "
            "records are written to stderr instead; to route them through logging, call "
            f"logging.basicConfig(level=logging.{logging.getLevelName(self.level)}) or add a handler",
        )
        if self._fallback is None:
            self._fallback = Stream()
        self._fallback.report(record)
