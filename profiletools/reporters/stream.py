"""``Stream``: one human line (or a tool's table) per record to a text stream."""

from __future__ import annotations

import sys
import threading
from typing import IO, Any

from profiletools.core.delivery import fork_safe


class Stream:
    """Write each record's text to ``stream`` (default: ``sys.stderr`` at report time).

    >>> import io
    >>> from profiletools import timed
    >>> out = io.StringIO()
    >>> with timed("load", reporters=[Stream(out)]):
    ...     pass
    >>> out.getvalue().startswith("[profiletools] timed load: ")
    True
    """

    def __init__(self, stream: IO[str] | None = None, *, prefix: str = "[profiletools] ") -> None:
        if stream is not None and not callable(getattr(stream, "write", None)):
            raise TypeError(f"Stream(stream=) needs an object with write(str); got {type(stream).__name__}")
        if not isinstance(prefix, str):
            raise TypeError(f"Stream(prefix=) must be a string; got {type(prefix).__name__}")
        self.stream = stream
        self.prefix = prefix
        self._lock = threading.Lock()
        fork_safe(self)

    def report(self, record: Any) -> None:
        """Write the record's text, prefixed, as whole lines, and flush them to the stream's file."""
        text = record.text()
        if "\n" in text:  # a table: its lines after the first under the first's text
            text = text.replace("\n", "\n" + " " * len(self.prefix))
        text = self.prefix + text + "\n"
        stream = self.stream if self.stream is not None else sys.stderr
        with self._lock:
            stream.write(text)
            if not getattr(stream, "line_buffering", False):  # (a line-buffered stream flushed on the newline)
                stream.flush()
