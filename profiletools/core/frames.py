"""Which code is profiletools' own: the one place that tells the user's frames from ours.

Nothing in profiletools counts frames (``sys._getframe(2)`` breaks as soon as
a wrapper gains or loses a level). A frame is profiletools' own when its code
lives in the package (the bundled demo workload excepted: it is user code),
the frames of the machinery that call the user's callable are listed by
the machinery itself in :data:`USER_CALLERS`, and those that begin and end a
measurement in :data:`BOOKKEEPING`.

>>> is_own_file(__file__)
True
>>> import json
>>> is_own_file(json.__file__)
False
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from typing import Any, TypeVar

from profiletools.core import DEMO_FILE, PACKAGE_DIR

F = TypeVar("F", bound=Callable[..., Any])

#: Code objects of the machinery's functions that call the user's callable itself: what
#: they call is the user's (a decorated built-in runs right under one of them).
USER_CALLERS: set[types.CodeType] = set()

#: Code objects of the machinery's functions that begin, step or end a measurement: code of the user's that
#: runs under one of them (a finalizer or weakref callback a collection set off, a reporter's handler) runs
#: for profiletools, not for the measured callable.
BOOKKEEPING: set[types.CodeType] = set()


def is_own_file(filename: str) -> bool:
    """Whether code from ``filename`` is profiletools' own (not the user's)."""
    return filename.startswith(PACKAGE_DIR) and filename != DEMO_FILE


def calls_user(func: F) -> F:
    """Mark a machinery function as one that calls the user's callable (see :data:`USER_CALLERS`)."""
    USER_CALLERS.add(func.__code__)
    return func


def bookkeeping(func: F) -> F:
    """Mark a machinery function as one that begins, steps or ends a measurement (see :data:`BOOKKEEPING`)."""
    BOOKKEEPING.add(func.__code__)
    return func


def user_frame(frame: types.FrameType | None = None) -> types.FrameType | None:
    """The first frame, from ``frame`` (default: the caller's) outwards, that is not profiletools' own.

    ``None`` when every frame on the stack is ours (at interpreter exit, say).
    """
    if frame is None:
        frame = sys._getframe(1)
    while frame is not None and is_own_file(frame.f_code.co_filename):
        frame = frame.f_back
    return frame
