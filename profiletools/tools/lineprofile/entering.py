"""Whether a call's result is entered by a ``with`` right away: only asked when profiling is off at import.

With ``PROFILETOOLS=0`` a decorator must give back the function itself (no
cost at all), yet ``with lineprofile(f):`` must still run its block. The one
place that can tell the two uses apart is the caller's next instruction: a
``with`` statement enters the call's result (``BEFORE_WITH`` and its
relatives), a decorator does not. Unknown bytecode counts as a decorator
(the function itself is returned). With profiling on at import, nothing
here runs: ``lineprofile(f)`` is both things at once (:mod:`.block`).

>>> import sys
>>> def entered():
...     with ProbeLike():
...         pass
...     return ProbeLike.entered
>>> class ProbeLike:
...     entered = None
...     def __init__(self):
...         ProbeLike.entered = caller_enters_with(sys._getframe(1))
...     def __enter__(self):
...         return self
...     def __exit__(self, *exc):
...         return None
>>> entered()
True
>>> ProbeLike() and ProbeLike.entered
False
"""

from __future__ import annotations

import dis
import types

__all__ = ["caller_enters_with"]

_WITH_OPCODES = frozenset({"BEFORE_WITH", "SETUP_WITH", "BEFORE_ASYNC_WITH", "SETUP_ASYNC_WITH"})


def caller_enters_with(frame: types.FrameType | None) -> bool:
    """Whether ``frame``'s next instruction enters a ``with`` block with the value just returned to it."""
    if frame is None:
        return False
    try:
        raw = frame.f_code.co_code
        offset = frame.f_lasti + 2
        cache = dis.opmap.get("CACHE")
        while offset < len(raw) and raw[offset] == cache:
            offset += 2
        if offset >= len(raw):
            return False
        name = dis.opname[raw[offset]]
        if name == "COPY" and offset + 2 < len(raw):  # 3.14: COPY 1; LOAD_SPECIAL __exit__
            return dis.opname[raw[offset + 2]] == "LOAD_SPECIAL"
        return name in _WITH_OPCODES
    except Exception:  # noqa: BLE001 - unknown bytecode: assume a decorator
        return False
