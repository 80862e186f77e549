"""``profileit``: cProfile around a function call or a block, as a ``pstats.Stats``.

How a profile is taken
----------------------

The backend switches a ``cProfile.Profile`` on as the last thing before the
user's code and off as the first thing after it, so the only frames of
profiletools the profiler sees are the few that finish the call (and, for
generators and coroutines, those that drive each step). They are cut out of the
statistics when they are first read (:func:`clean_stats`): every frame from the
profiletools package and the profiler's own ``enable``/``disable`` entries go,
built-in functions called by those frames go, and a user function that a
profiletools wrapper called is re-attached to the user function that called the
wrapper. Call counts of user functions are never changed.

Nesting, threads and the one-profiler rule
-------------------------------------------

* A profiled call (or block) starting on a thread where a ``profileit``
  profile is already running makes no record: its work is in the outer
  profile (recursion, nested decorated functions, blocks inside calls). Unless
  it is a recursion, one warning per function or block says so.
* Otherwise the call asks :mod:`profiletools.core.profiler_slot` for the
  interpreter's profiler hook. When another profiler holds it (``lineprofile``,
  coverage, a debugger, ``python -m cProfile``, or on 3.12+ a ``profileit``
  call on another thread: ``sys.monitoring`` allows one profiler per process),
  the call runs unprofiled, its record says why in ``skipped``, and one warning
  is issued per kind of holder. On 3.11 each thread has its own hook, so
  concurrent calls on different threads are all profiled, each on its own.
* On 3.12+ an enabled cProfile sees every thread (CPython behaviour): what
  other threads run during a profiled call appears in that call's profile.

Generators and coroutines are profiled step by step: the profiler runs while
the generator or coroutine runs and is off while it is suspended, so the
profile holds its own work and nothing of what other tasks ran while it was
awaiting. (As with cProfile anywhere, each resumption of a generator or
coroutine counts as one call of it.) The record's wall time still spans first
step to completion.

Measurement and reading are separate: a call's statistics are kept in the
profiler until something reads them (a reporter formatting text, a dump, the
user's ``record.stats``), which keeps the fixed cost per call close to
cProfile's own.
"""

from __future__ import annotations

import pstats
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, overload

from profiletools.core.machinery import Backend, F, Probe, make_probe, split_target
from profiletools.tools.profileit.backend import TOOL, CpuBackend, StepBackend, stepwise
from profiletools.tools.profileit.options import DEFAULTS, SummaryOptions, summary_options
from profiletools.tools.profileit.record import ProfileRecord
from profiletools.tools.profileit.stats import ProfileStats, clean_stats, deferred


@dataclass(frozen=True)
class _Factory:
    """Makes a probe's backend; equal for equal options (inline aggregate blocks share one aggregate)."""

    options: SummaryOptions

    def __call__(self, target: Callable[..., Any] | None, probe: Probe) -> Backend:
        return (StepBackend if stepwise(target) else CpuBackend)(target, probe, self.options)


#: The factory of the default options, made once (a frozen dataclass costs a microsecond to make).
_DEFAULT_FACTORY = _Factory(DEFAULTS)

# -- the public function ------------------------------------------------------------------


@overload
def profileit(target: F, /) -> F: ...
@overload
def profileit(
    target: str | None = None,
    /,
    *,
    name: str | None = None,
    sort: str | pstats.SortKey | Iterable[str | pstats.SortKey] = "cumulative",
    limit: int | float | None = 20,
    strip_dirs: bool = False,
    restrict: str | int | float | Iterable[str | int | float] | None = None,
    aggregate: bool = False,
    reporters: Any = None,
    enabled: bool | Callable[[], object] = True,
    every: int = 1,
    cpu: bool = True,
    budget: float | str | None = None,
    budget_p95: float | str | None = None,
    budget_calls: Mapping[str, int] | None = None,
    budget_total_calls: int | None = None,
) -> Probe: ...


def profileit(
    target: Any = None,
    /,
    *,
    name: str | None = None,
    sort: Any = "cumulative",
    limit: int | float | None = 20,
    strip_dirs: bool = False,
    restrict: Any = None,
    aggregate: bool = False,
    reporters: Any = None,
    enabled: bool | Callable[[], object] = True,
    every: int = 1,
    cpu: bool = True,
    budget: float | str | None = None,
    budget_p95: float | str | None = None,
    budget_calls: Mapping[str, int] | None = None,
    budget_total_calls: int | None = None,
) -> Any:
    """Run each call (or block) under ``cProfile`` and report a ``pstats.Stats``.

    Use it bare (``@profileit``), named (``@profileit("ingest")``), with
    options, or as a block (``with profileit("startup") as p: ...`` then
    ``p.stats``). The record's ``stats`` (its payload) is a real
    ``pstats.Stats`` without any frame of profiletools; ``Dump`` writes it as a
    ``.prof`` file.

    - ``sort``: pstats sort key(s) of the text summary (``"cumulative"``,
      ``"tottime"``, ``"ncalls"``, ... or ``pstats.SortKey``).
    - ``limit``: rows in the summary: a count, a fraction (``0.1``), or ``None``.
    - ``strip_dirs``: show file names without directories in the summary.
    - ``restrict``: ``print_stats``-style restrictions applied before
      ``limit``, in order: a regex on ``file:line(function)``, a count, a fraction.
    - ``aggregate``: one profile over all calls, reported on ``flush()`` (of
      the decorated function or ``profiletools.flush()``) and at exit.
    - ``budget_calls``: the most calls of named functions in one profiled
      call, ``{"app.db:query": 40}``: a function is named ``module:qualname``,
      a bare ``qualname``, or a glob of either (a pattern matching several
      functions limits the sum of their calls); ``budget_total_calls``: the
      most function calls in all. Counts are exact, so these hold or fail
      the same way on every run (see ``docs/perf-tests.md``).
    - ``name``, ``reporters``, ``enabled``, ``every``, ``cpu``, ``budget``,
      ``budget_p95``: as for ``timed``.

    Calls nested inside a running profile (recursion, decorated functions
    calling each other) are part of the outer profile and make no record of
    their own; a warning says so once per decorated function or block (a
    recursion goes without saying). A call that finds the profiler hook held by another profiler
    runs unprofiled; its record's ``skipped`` says why.

    >>> from profiletools import reporters
    >>> seen = reporters.Collect()
    >>> @profileit(reporters=[seen])
    ... def total(n):
    ...     return sum(range(n))
    >>> total(10)
    45
    >>> stats = seen.records[0].stats
    >>> calls = {func[2]: stat[1] for func, stat in stats.stats.items()}
    >>> calls["total"], calls["<built-in method builtins.sum>"]
    (1, 1)
    """
    func, given_name = split_target(TOOL, target, name)
    options = summary_options(sort, limit, strip_dirs, restrict)
    factory = _DEFAULT_FACTORY if options is DEFAULTS else _Factory(options)
    probe = make_probe(
        TOOL, factory, name=given_name, reporters=reporters, enabled=enabled, every=every,
        cpu=cpu, budget=budget, budget_p95=budget_p95, aggregate=aggregate,
        budget_calls=budget_calls, budget_total_calls=budget_total_calls,
    )
    return probe if func is None else probe(func)


__all__ = [
    "CpuBackend", "ProfileRecord", "ProfileStats", "StepBackend", "SummaryOptions", "clean_stats", "deferred",
    "profileit",
]
