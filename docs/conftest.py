"""The doctests of these pages import the examples they show (``docs/examples``), as a project imports its modules."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

EXAMPLES = str(Path(__file__).parent / "examples")
if EXAMPLES not in sys.path:
    sys.path.insert(0, EXAMPLES)


@pytest.fixture(autouse=True)
def _no_foreign_gc_callbacks() -> Iterator[None]:
    """The pages' profiles count calls exactly; a garbage collection in one runs every ``gc.callbacks`` entry.

    The test suite imports hypothesis, which registers a callback that reads the clock: run by a collection
    inside a profiled block, its calls would be counted too (raw cProfile counts them as well). A reader's
    interpreter has no such callback; the pages run without the ones the suite registered.
    """
    saved = gc.callbacks[:]
    gc.callbacks.clear()
    try:
        yield
    finally:
        gc.callbacks[:] = saved
