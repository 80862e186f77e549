"""One throwaway measured run per path and process, so the interpreter's caches of profiletools' code are made
before any real call's window opens.

The interpreter keeps bookkeeping of its own per code object, made the first
time it runs that code in some state, and kept for the code's lifetime:

- 3.10: the frame it keeps for the code's next call (the "zombie" frame),
  allocated at the code's first call;
- 3.11: under a trace function, the line array of each code object that runs
  (two bytes per instruction), allocated at its first traced instruction;
- 3.12+: each code object's monitoring data, allocated the first time it runs
  once any tool used ``sys.monitoring``.

``tracemalloc`` counts these where they are made. Made inside a measured
window for profiletools' own code (what runs between a window's opening and
its closing: the end of ``begin``, the trace functions, ``end``, the
machinery's frames around them), they were the first call's figures: a first
call of ``keep_then_drop`` with ``lines=True`` read net +2,290 B on 3.11 (the
line arrays of five of our code objects), a first call with ``lines=False``
on 3.10 read +3,328 B, and on 3.10 the frame of our trace function, first
called from the user's ``return`` line, was an allocation site on that line.
Running each path (a call, a generator's steps, a coroutine, a block) once
when the first callable of its kind is decorated (a block: first entered)
makes them there, outside any window (or, when that happens inside another
measured call, in that call's window, which the first real call would have
charged anyway).

The user's own code gets such bookkeeping too on its first measured call; that
is the interpreter's, and raw ``tracemalloc`` read around the same call sees it
as well (3.10: the function's frame; 3.11 under a tracer: its line array).
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Iterator
from typing import Any

from profiletools.tools.memprofile.lines import without_source

#: The paths warmed in this process: ``(lines, kind)``.
_warmed: set[tuple[bool, str]] = set()


def _nothing() -> None:
    """The throwaway call."""


def _steps() -> Iterator[None]:
    """The throwaway generator: a step, a suspension, a last step."""
    yield


async def _awaited() -> None:
    """The throwaway coroutine."""


def _kind(target: Callable[..., Any] | None) -> str:
    """Which path the machinery takes for ``target``: ``"call"``, ``"steps"``, ``"coroutine"`` or ``"block"``."""
    if target is None:
        return "block"
    if inspect.isgeneratorfunction(target) or inspect.isasyncgenfunction(target):
        return "steps"
    return "coroutine" if inspect.iscoroutinefunction(target) else "call"


def _run(kind: str, probe: Any, lines: bool, made: list[Any]) -> None:
    if kind == "call":
        probe(_nothing)()
    elif kind == "steps":
        for _ in probe(_steps)():
            pass
    elif kind == "coroutine":
        coroutine = probe(_awaited)()
        try:
            coroutine.send(None)
        except StopIteration:
            pass
    else:
        from profiletools.tools.memprofile.api import memprofile

        with memprofile(lines=lines, reporters=[made.append]):
            pass


#: The first line of :func:`_far_function` (past 256: its line numbers are new integers).
_FAR_LINE = 301


def _far_function() -> Callable[[], int]:
    """A function that allocates nothing, on lines 301 to 441 of a file of its own: 140 lines binding a small integer.

    Longer than 128 instructions, so that a trace function reads its lines as
    ``frame.f_lineno`` (see ``line_events._frame_tracer``).
    """
    source = "\n" * (_FAR_LINE - 2) + "def far():\n" + "    x = 0\n" * 140 + "    return x\n"
    namespace: dict[str, Any] = {}
    exec(compile(source, "<profiletools: a line event's integer>", "exec"), namespace)
    without_source(namespace["far"].__code__)
    return namespace["far"]  # type: ignore[no-any-return]


def measure_event_numbers() -> None:
    """Measure what a line event's new integer adds to a traced reading, for the delivery sessions get now (once).

    A line number past 256 is a new integer, alive while a line event reads
    the memory: ``sys.monitoring`` passes it (and each start or return
    event's offset past 256), a trace function reads ``frame.f_lineno``.
    ``tracemalloc`` counts it: 28 or 32 B depending on how CPython made it.
    Three throwaway calls of :func:`_far_function`, whose first line reads the
    integer as memory left after it (nothing is taken off yet); the median is
    what sessions take off from then on. Nothing is set if nothing was measured
    (profiletools disabled), or a figure above 64 B (other threads allocated).
    """
    from profiletools.tools.memprofile import line_events
    from profiletools.tools.memprofile.api import memprofile

    serving = line_events.delivery()
    if serving.number_bytes is not None:
        return
    made: list[Any] = []
    measured = memprofile(lines=True, reporters=[made.append])(_far_function())
    if serving.number_bytes is not None:  # measured by the warm-up of that decoration (a first call's)
        return
    for _ in range(3):
        measured()
    afters = sorted(record.lines.rows[_FAR_LINE][0] for record in made if record.lines is not None)
    if len(afters) == 3 and 0 <= afters[1] <= 64:
        serving.number_bytes = float(afters[1])


def warm_up(target: Callable[..., Any] | None, lines: bool) -> None:
    """Run one throwaway call of ``target``'s kind under ``memprofile(lines=lines)``, once per process; no record kept.

    ``target``: the decorated callable (``None``: a block). Done again later
    if nothing was measured now (profiletools disabled, a debugger's tracer
    installed while ``lines=True`` follows lines with ``sys.settrace``).
    """
    key = (lines, _kind(target))
    if key in _warmed or (lines and sys.version_info < (3, 12) and sys.gettrace() is not None):
        return
    from profiletools.tools.memprofile.api import memprofile

    _warmed.add(key)  # before the probes below are made: they warm nothing again
    made: list[Any] = []
    try:
        _run(key[1], memprofile(lines=lines, reporters=[made.append]), lines, made)
        if lines:
            measure_event_numbers()
    except Exception as exc:  # noqa: BLE001 - never into the user's decoration
        from profiletools.core.settings import warn_once

        warn_once("memprofile", "warm-up", f"memprofile: the warm-up call failed ({type(exc).__qualname__}: {exc}); "
                  "a first call may count a few KiB of the interpreter's caches of profiletools' code")
    if len(made) != 1 or made[0].skipped:
        _warmed.discard(key)
