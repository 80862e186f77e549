"""Module-level decorated functions for the pickling and multiprocessing tests.

They must live in an importable module: ``spawn`` children import it by name.
"""

from __future__ import annotations

from profiletools import reporters, timed

collected = reporters.Collect()


@timed(reporters=[collected], cpu=False)
def square(x: int) -> int:
    """Return ``x * x``."""
    return x * x


@timed("named.cube", reporters=[collected])
def cube(x: int) -> int:
    """Return ``x ** 3``."""
    return x**3


@timed(reporters=[collected])
async def async_double(x: int) -> int:
    """Return ``2 * x`` from a coroutine."""
    return 2 * x


@timed(reporters=[collected])
def countdown(n: int):  # type: ignore[no-untyped-def]
    """Yield n, n-1, ..., 1."""
    while n:
        yield n
        n -= 1


def pid_and_square(x: int) -> tuple[int, int, int]:
    """Call ``square`` in a worker; report the worker's pid, the result and how many records it made there."""
    import os

    before = len(collected)
    result = square(x)
    return os.getpid(), result, len(collected) - before
