"""``timed``: wall and CPU time of a function call or a block.

Timing needs no backend: the machinery reads the clocks for every tool, so
``timed`` is the machinery with nothing added, and takes its fastest path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, overload

from profiletools.core.delivery import check_reporters, one_report
from profiletools.core.fastpath import OWN_REPORT, TimedBlock, TimedCpuBlock
from profiletools.core.machinery import F, Probe, make_probe, split_target

#: ``every is _ONE``: the int 1 (CPython keeps one), not ``True``, in one identity test.
_ONE = 1
#: The default of ``timed``'s second parameter, which no caller gives: the options are keyword-only in its
#: declared signature (the overloads, ``_declared``), and positional-or-keyword in its ``def``, because
#: a call binds a keyword-only parameter left at its default with a dictionary look-up each (seven here:
#: ~60 ns a call, 700 machine instructions, 7 % of a ``with timed("x"):`` block), a positional one with none.
#: A second positional argument lands here and is refused, as the declared signature would.
_ONLY_ONE: Any = object()


@overload
def timed(target: F, /) -> F: ...
@overload
def timed(
    target: str | None = None,
    /,
    *,
    name: str | None = None,
    reporters: Any = None,
    enabled: bool | Callable[[], object] = True,
    every: int = 1,
    cpu: bool = True,
    budget: float | str | None = None,
    budget_p95: float | str | None = None,
) -> Probe | TimedBlock: ...


def timed(  # the signature is the last overload's (see _ONLY_ONE above)
    target: Any = None,
    _only_one: Any = _ONLY_ONE,
    name: str | None = None,
    reporters: Any = None,
    enabled: bool | Callable[[], object] = True,
    every: int = 1,
    cpu: bool = True,
    budget: float | str | None = None,
    budget_p95: float | str | None = None,
) -> Any:
    """Measure wall time (and the thread's CPU time) of each call or block.

    Use it bare (``@timed``), with a name (``@timed("db.query")``), with options
    (``@timed(every=100, cpu=False)``), or as a block (``with timed("load") as t``).

    - ``name``: the record's name (default: the function's qualified name, or
      the block's file and line).
    - ``reporters``: where records go (default: ``configure(reporters=...)``,
      then ``PROFILETOOLS_REPORTERS``, then one line to stderr).
    - ``enabled``: ``False`` or a zero-argument callable to switch measuring.
    - ``every``: measure only every N-th call (the 1st, N+1-th, ...).
    - ``cpu``: also read the thread's CPU clock (a system call, ~0.8 µs).
    - ``budget``: a per-call limit (seconds, or ``"20ms"``); records over it say
      so in ``record.over_budget``. ``budget_p95``: a limit for the 95th
      percentile, checked by reporters that aggregate (see ``reporters.Budget``).

    >>> from profiletools import reporters
    >>> seen = reporters.Collect()
    >>> @timed(reporters=[seen])
    ... def add(a, b):
    ...     return a + b
    >>> add(2, 3)
    5
    >>> seen.records[0].name, seen.records[0].wall >= 0
    ('add', True)
    """
    if (
        ((type(target) is str and name is None) or (target is None and type(name) is str))
        and _only_one is _ONLY_ONE and enabled is True and budget is None and budget_p95 is None and every is _ONE
        and (cpu is True or cpu is False)
    ):  # ``with timed("name"):`` (or ``name="name"``), perhaps with cpu= and reporters=: no argument parsing
        block: TimedBlock = (TimedCpuBlock if cpu else TimedBlock)()  # (object's __init__: a C call)
        block.name = target if name is None else name  # type: ignore[assignment]  # (one of them is a str)
        if reporters is not None:
            report = one_report(reporters)  # one plain reporter: its function on the block, no Targets made
            if report is None:
                block._reporters = check_reporters(reporters)
            else:
                block._reporters, block._report = OWN_REPORT, report
        else:
            block._reporters = None
        block.record = block._general = None
        block._busy = False
        return block
    if _only_one is not _ONLY_ONE:
        raise TypeError("timed() takes one positional argument (the function or the name); pass the options by keyword")
    func, given_name = split_target("timed", target, name)
    probe = make_probe(
        "timed", None, name=given_name, reporters=reporters, enabled=enabled, every=every, cpu=cpu,
        budget=budget, budget_p95=budget_p95,
    )
    return probe if func is None else probe(func)


def _declared(
    target: Any = None,
    /,
    *,
    name: str | None = None,
    reporters: Any = None,
    enabled: bool | Callable[[], object] = True,
    every: int = 1,
    cpu: bool = True,
    budget: float | str | None = None,
    budget_p95: float | str | None = None,
) -> Any:
    # ``timed``'s declared signature, which ``inspect.signature`` (``help()``, IPython, documentation tools)
    # reaches through ``timed.__wrapped__``: one positional argument, the options keyword-only (see
    # ``_ONLY_ONE``). A ``__signature__`` object would import ``inspect`` with ``timed``.
    raise TypeError("not callable: the declared signature of profiletools.timed")


_declared.__doc__ = timed.__doc__
timed.__wrapped__ = _declared  # type: ignore[attr-defined]
