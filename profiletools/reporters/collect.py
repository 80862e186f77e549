"""``Collect``: keep records in memory, for tests and programs that read them back."""

from __future__ import annotations

import collections
from typing import Any


class Collect:
    """Append every record to ``.records`` (thread-safe; optionally only the last ``maxlen``).

    ```python
    >>> from profiletools import timed
    >>> seen = Collect()
    >>> with timed("step", reporters=[seen]):
    ...     pass
    >>> [record.name for record in seen.records]
    ['step']

    ```
    """

    def __init__(self, maxlen: int | None = None) -> None:
        if maxlen is not None and (type(maxlen) is not int or maxlen < 1):
            raise ValueError(f"Collect(maxlen=) must be None or a whole number >= 1; got {maxlen!r}")
        self._records: collections.deque[Any] = collections.deque(maxlen=maxlen)
        self.report = self._records.append  # type: ignore[method-assign,assignment]

    def report(self, record: Any) -> None:  # replaced per instance by deque.append (atomic)
        """Keep ``record``."""
        self._records.append(record)

    @property
    def records(self) -> list[Any]:
        """The records kept so far, oldest first (a copy)."""
        return list(self._records)

    def clear(self) -> None:
        """Forget the records kept so far."""
        self._records.clear()

    def __len__(self) -> int:
        return len(self._records)
