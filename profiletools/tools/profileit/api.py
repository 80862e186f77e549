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
  profile (recursion, nested decorated functions, blocks inside calls).
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

import inspect
import marshal
import os
import pstats
import re
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from cProfile import Profile
from typing import IO, Any, NamedTuple, overload

from profiletools.core import PACKAGE_DIR, delivery, machinery, profiler_slot, settings
from profiletools.core.machinery import SUPPRESS, Backend, F, Probe, make_probe, split_target
from profiletools.core.records import Record, format_seconds

TOOL = "profileit"

#: A pstats key: ``(filename, line number, function name)``.
FuncKey = tuple[str, int, str]
#: One function's figures: ``(primitive calls, calls, tottime, cumtime, callers)``.
FuncStat = tuple[int, int, float, float, dict[FuncKey, Any]]

#: The bundled demo workload lives in the package but is user code, not measuring code.
_DEMO_FILE = os.path.join(PACKAGE_DIR, "cli", "demo.py")
_PROFILER_METHODS = frozenset(
    ("~", 0, f"<method '{method}' of '_lsprof.Profiler' objects>") for method in ("enable", "disable")
)
#: Every sort key pstats accepts (with its unique abbreviations) -> (columns, description).
_SORT_KEYS: dict[str, tuple[tuple[tuple[int, int], ...], str]] = pstats.Stats().get_sort_arg_defs()
_perf = time.perf_counter
_thread_time = time.thread_time
_get_ident = threading.get_ident
_claim = profiler_slot.claim
_release = profiler_slot.release


# -- options ------------------------------------------------------------------------------


class SummaryOptions(NamedTuple):
    """How a profile's text summary is made (``profileit``'s ``sort``, ``limit``, ... arguments)."""

    sort: tuple[str, ...] = ("cumulative",)
    limit: int | float | None = 20
    strip_dirs: bool = False
    restrict: tuple[str | int | float, ...] = ()


def _check_sort(sort: object) -> tuple[str, ...]:
    words = [sort] if isinstance(sort, (str, pstats.SortKey)) else sort
    if not isinstance(words, (list, tuple)) or not words:
        raise TypeError(
            f"profileit(): sort= takes a pstats sort key or a list of them; got {type(sort).__name__} {sort!r:.60}"
        )
    keys = []
    for word in words:
        key = word.value if isinstance(word, pstats.SortKey) else word
        if not isinstance(key, str) or key not in _SORT_KEYS:
            allowed = ", ".join(sorted(pstats.Stats.sort_arg_dict_default))
            raise ValueError(
                f"profileit(): sort= must be a pstats sort key ({allowed}, or an unambiguous abbreviation); "
                f"got {word!r:.60}"
            )
        keys.append(key)
    return tuple(keys)


def _check_amount(argument: str, value: object) -> int | float | str:
    """One ``print_stats``-style restriction: a count, a fraction, or a regular expression."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(
            f"profileit(): {argument} takes a whole number of rows, a fraction between 0 and 1, or a "
            f"regular expression (str); got {type(value).__name__} {value!r:.60}"
        )
    if isinstance(value, str):
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"profileit(): {argument} has an invalid regular expression {value!r}: {exc}") from None
    elif isinstance(value, int):
        if value < 0:
            raise ValueError(f"profileit(): {argument} counts rows and must be >= 0; got {value}")
    elif not 0.0 <= value <= 1.0:
        raise ValueError(f"profileit(): {argument} as a fraction must be between 0 and 1; got {value}")
    return value


def summary_options(sort: object, limit: object, strip_dirs: object, restrict: object) -> SummaryOptions:
    """Validate the summary arguments; errors name the argument and what is allowed."""
    keys = _check_sort(sort)
    if limit is not None:
        if isinstance(limit, str):
            raise TypeError("profileit(): limit= takes a number of rows or a fraction; use restrict= for a regex")
        _check_amount("limit=", limit)
    if strip_dirs is not True and strip_dirs is not False:
        raise TypeError(f"profileit(): strip_dirs= must be True or False; got {strip_dirs!r:.60}")
    if restrict is None:
        restrictions: tuple[str | int | float, ...] = ()
    elif isinstance(restrict, (str, int, float)):
        restrictions = (_check_amount("restrict=", restrict),)
    elif isinstance(restrict, (list, tuple)):
        restrictions = tuple(_check_amount("restrict=", item) for item in restrict)
    else:
        raise TypeError(
            "profileit(): restrict= takes a regular expression, a count, a fraction, or a list of them "
            f"(applied in order, as pstats' print_stats does); got {type(restrict).__name__}"
        )
    return SummaryOptions(keys, limit, strip_dirs, restrictions)  # type: ignore[arg-type]


# -- cleaning the profiler's figures ---------------------------------------------------


def _code_key(function: Any) -> FuncKey | None:
    code = getattr(function, "__code__", None)
    return None if code is None else (code.co_filename, code.co_firstlineno, code.co_name)


#: The machinery's frame that calls the decorated callable: a built-in it calls is the user's target.
_INVOKERS = frozenset(key for key in (_code_key(getattr(machinery, "_call_measured", None)),) if key is not None)


def _internal(func: FuncKey) -> bool:
    return (func[0].startswith(PACKAGE_DIR) and func[0] != _DEMO_FILE) or func in _PROFILER_METHODS


def _split(count: int, fractions: list[tuple[FuncKey, float]]) -> dict[FuncKey, int]:
    """Split a whole count by fractions, rounding so the parts add up (largest remainder)."""
    shares = {key: count * fraction for key, fraction in fractions}
    parts = {key: int(share) for key, share in shares.items()}
    left = round(sum(shares.values())) - sum(parts.values())
    for key in sorted(shares, key=lambda key: parts[key] - shares[key])[:max(0, left)]:
        parts[key] += 1
    return parts


def clean_stats(raw: dict[FuncKey, FuncStat], stepwise: bool) -> dict[FuncKey, FuncStat]:
    """The user's part of a profile taken by profiletools (see the module docstring).

    ``raw`` is a cProfile snapshot (``Profile.snapshot_stats()``). With
    ``stepwise`` (a generator or coroutine profiled step by step), the only
    code at the top level of a step is the generator's own frame, resumed by
    the machinery, so built-in calls at the top level (the machinery's
    ``send``, its clock reads) go too.
    """
    removed = {func for func in raw if _internal(func)}
    ours = removed - _INVOKERS  # frames whose calls of built-ins are profiletools' own business
    kept: dict[FuncKey, FuncStat] = {}
    for func, stat in raw.items():
        if func in removed:
            continue
        cc, nc, tt, ct, callers = stat
        if func[0] == "~" and (stepwise or not ours.isdisjoint(callers)):
            if stepwise:  # keep only what user code called
                cc = nc = 0
                tt = ct = 0.0
                for caller, (enc, ecc, ett, ect) in callers.items():
                    if caller not in ours:
                        nc, cc, tt, ct = nc + enc, cc + ecc, tt + ett, ct + ect
            else:  # take away what profiletools called
                for caller, (enc, ecc, ett, ect) in callers.items():
                    if caller in ours:
                        nc, cc, tt, ct = nc - enc, cc - ecc, tt - ett, ct - ect
            if nc <= 0:
                removed.add(func)
                continue
            callers = {caller: edge for caller, edge in callers.items() if caller not in ours}
        kept[func] = (cc, nc, tt, ct, callers)

    origins: dict[FuncKey, list[tuple[FuncKey, float]]] = {}

    def origin(func: FuncKey, visiting: set[FuncKey]) -> list[tuple[FuncKey, float]]:
        """The kept callers that reached removed ``func``, with the fraction of its calls from each."""
        if func in origins:
            return origins[func]
        if func in visiting:
            return []
        visiting.add(func)
        _cc, nc, _tt, _ct, callers = raw[func]
        shares: dict[FuncKey, float] = {}
        for caller, edge in callers.items():
            weight = edge[0] / nc if nc else 0.0
            sources = origin(caller, visiting) if caller in removed else [(caller, 1.0)]
            for source, fraction in sources:
                shares[source] = shares.get(source, 0.0) + weight * fraction
        visiting.discard(func)
        found = origins[func] = list(shares.items())
        return found

    for func, (cc, nc, tt, ct, callers) in kept.items():
        if removed.isdisjoint(callers):
            continue
        relinked: dict[FuncKey, Any] = {caller: edge for caller, edge in callers.items() if caller not in removed}
        for caller, (enc, ecc, ett, ect) in callers.items():
            if caller not in removed:
                continue
            sources = origin(caller, set())
            calls, primitive = _split(enc, sources), _split(ecc, sources)
            for source, fraction in sources:
                previous = relinked.get(source, (0, 0, 0.0, 0.0))
                relinked[source] = (
                    previous[0] + calls[source], previous[1] + primitive[source],
                    previous[2] + ett * fraction, previous[3] + ect * fraction,
                )
        kept[func] = (cc, nc, tt, ct, {caller: edge for caller, edge in relinked.items() if edge[0] > 0})
    return kept


def _snapshot(profilers: Iterable[Profile], stepwise: bool) -> dict[FuncKey, FuncStat]:
    """The cleaned statistics of one or more finished profilers, merged."""
    merged: dict[FuncKey, FuncStat] = {}
    for profiler in profilers:
        profiler.snapshot_stats()
        cleaned = clean_stats(profiler.stats, stepwise)  # type: ignore[attr-defined,arg-type]
        del profiler.stats  # type: ignore[attr-defined]
        if not merged:
            merged = cleaned
            continue
        for func, stat in cleaned.items():
            merged[func] = pstats.add_func_stats(merged[func], stat) if func in merged else stat  # type: ignore[attr-defined]
    return merged


# -- the statistics object ---------------------------------------------------------------

_fill_lock = threading.RLock()
_new_object = object.__new__


class ProfileStats(pstats.Stats):
    """A ``pstats.Stats`` whose figures are read from the profiler on first use.

    Everything ``pstats.Stats`` does works (``sort_stats``, ``print_stats``,
    ``print_callers``, ``dump_stats``, ``add``...); the figures are gathered,
    and profiletools' own frames removed, the first time any of it is used.
    ``calls`` is the number of profiled calls the figures cover (more than one
    for ``aggregate=True``); ``summary_options`` shapes the record's text.
    """

    calls: int = 1
    summary_options: SummaryOptions = SummaryOptions()

    @classmethod
    def from_dict(cls, figures: dict[FuncKey, FuncStat], options: SummaryOptions | None = None) -> ProfileStats:
        """Statistics made from a pstats dictionary (copied)."""
        return deferred(dict(figures), False, options or SummaryOptions())

    def _fill(self) -> None:
        state = self.__dict__
        with _fill_lock:
            read = state.pop("_read", None)
            if read is None:
                return
            figures = read if type(read) is dict else _snapshot(read, state.pop("_mode"))
            state.setdefault("stream", sys.stdout)
            self.init(None)  # pstats' own reset of every attribute
            self.stats = figures
            self.get_top_level_stats()

    def __getattr__(self, name: str) -> Any:
        # Only reached for attributes not set yet: fill them from the profiler, once.
        if name.startswith("__") or "_read" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        self._fill()
        return object.__getattribute__(self, name)

    @property  # type: ignore[override]
    def stats(self) -> dict[FuncKey, FuncStat]:
        """The pstats dictionary: ``{(file, line, function): (cc, nc, tt, ct, callers)}``."""
        state = self.__dict__
        if "_read" in state:
            self._fill()
        if state.get("_lending"):
            return dict(state["_figures"])
        return state["_figures"]  # type: ignore[no-any-return]

    @stats.setter
    def stats(self, figures: dict[FuncKey, FuncStat]) -> None:
        state = self.__dict__
        if state.pop("_lending", False):  # pstats.Stats(self) empties its source afterwards: keep ours
            return
        state["_figures"] = figures

    def create_stats(self) -> None:
        """pstats' loading protocol: lets ``pstats.Stats(x)`` and ``other.add(x)`` copy these figures."""
        if "_read" in self.__dict__:
            self._fill()
        self.__dict__["_lending"] = True

    def add(self, *arg_list: Any) -> ProfileStats:
        """Add other statistics (``pstats.Stats`` objects, profilers or ``.prof`` paths) into these."""
        if "_read" in self.__dict__:
            self._fill()
        items = [
            ProfileStats.from_dict(item.stats)  # type: ignore[attr-defined]
            if isinstance(item, pstats.Stats) and type(item) is not type(self) else item
            for item in arg_list
        ]
        return super().add(*items)  # type: ignore[no-any-return]

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (dict(self.stats), self.summary_options, self.calls))

    def __repr__(self) -> str:
        if "_read" in self.__dict__:
            return f"<ProfileStats of {self.calls} call(s), not read yet>"
        return f"<ProfileStats of {self.calls} call(s): {self.total_calls} function calls in {self.total_tt:.6f} s>"


def deferred(
    read: tuple[Profile, ...] | dict[FuncKey, FuncStat], stepwise: bool, options: SummaryOptions, calls: int = 1,
) -> ProfileStats:
    """Statistics read on first use from finished profilers (cleaned, see :func:`clean_stats`) or a dict."""
    stats: ProfileStats = _new_object(ProfileStats)
    state = stats.__dict__
    state["_read"] = read
    state["_mode"] = stepwise
    state["summary_options"] = options
    if calls != 1:
        state["calls"] = calls
    return stats


def _rebuild(figures: dict[FuncKey, FuncStat], options: SummaryOptions, calls: int) -> ProfileStats:
    stats = ProfileStats.from_dict(figures, options)
    stats.calls = calls
    return stats


# -- the record ------------------------------------------------------------------------


class _Row(NamedTuple):
    cc: int
    nc: int
    tt: float
    ct: float
    file: str
    line: int
    name: str
    label: str


def _rows(stats: ProfileStats) -> tuple[list[_Row], int]:
    """The rows the summary shows (sorted, restricted, limited) and how many there were."""
    options = stats.summary_options
    rows = []
    for func, (cc, nc, tt, ct, _callers) in stats.stats.items():
        if options.strip_dirs:
            func = pstats.func_strip_path(func)  # type: ignore[attr-defined]
        label = pstats.func_std_string(func)  # type: ignore[attr-defined]
        rows.append(_Row(cc, nc, tt, ct, func[0], func[1], func[2], label))
    columns = [column for key in options.sort for column in _SORT_KEYS[key][0]]
    rows.sort(key=lambda row: tuple(-row[i] if direction < 0 else row[i] for i, direction in columns))  # type: ignore[operator]
    total = len(rows)
    for amount in (*options.restrict, options.limit):
        if amount is None:
            continue
        if isinstance(amount, str):
            pattern = re.compile(amount)
            rows = [row for row in rows if pattern.search(row.label)]
        elif isinstance(amount, float):
            rows = rows[: int(len(rows) * amount + 0.5)]
        else:
            rows = rows[:amount]
    return rows, total


def _calls(row: _Row) -> str:
    return f"{row.nc}" if row.nc == row.cc else f"{row.nc}/{row.cc}"


class ProfileRecord(Record):
    """The record of ``profileit``: ``payload`` (also ``stats``) is a ``pstats.Stats``.

    ``stats`` is ``None`` when the call ran unprofiled; ``skipped`` says why.
    """

    __slots__ = ()

    @property
    def stats(self) -> ProfileStats | None:
        """The profile (a ``pstats.Stats``), or ``None`` when the call was not profiled."""
        return self.payload  # type: ignore[no-any-return]

    def text(self) -> str:
        """First line: the headline with call count and total time; then the top rows."""
        stats = self.payload
        if stats is None:
            return self.headline()
        options = stats.summary_options
        rows, total = _rows(stats)
        first = f"{self.headline()}: {stats.total_calls:,} function calls"
        if stats.prim_calls != stats.total_calls:
            first += f" ({stats.prim_calls:,} primitive)"
        first += f" in {format_seconds(stats.total_tt)}"
        if stats.calls != 1:
            first += f" over {stats.calls:,} profiled calls"
        order = ", ".join(_SORT_KEYS[key][1] for key in options.sort)
        second = f"{len(rows)} of {total} functions by {order}"
        if options.restrict:
            second += ", restricted to " + ", ".join(
                f"'{item}'" if isinstance(item, str) else str(item) for item in options.restrict
            )
        table = [("ncalls", "tottime", "percall", "cumtime", "percall", "function")] + [
            (
                _calls(row), format_seconds(row.tt), format_seconds(row.tt / row.nc if row.nc else 0.0),
                format_seconds(row.ct), format_seconds(row.ct / row.cc if row.cc else 0.0), row.label,
            )
            for row in rows
        ]
        widths = [max(len(line[i]) for line in table) for i in range(5)]
        lines = [first, second] + [
            "  ".join(cell.rjust(widths[i]) for i, cell in enumerate(line[:5])) + "  " + line[5] for line in table
        ]
        return "\n".join(lines)

    def payload_dict(self) -> dict[str, Any] | None:
        """Totals and the summary's rows as JSON-ready data."""
        stats = self.payload
        if stats is None:
            return None
        rows, total = _rows(stats)
        return {
            "calls": stats.calls,
            "function_calls": stats.total_calls,
            "primitive_calls": stats.prim_calls,
            "total_time": stats.total_tt,
            "functions": total,
            "top": [
                {"file": row.file, "line": row.line, "function": row.name, "ncalls": row.nc,
                 "primitive_calls": row.cc, "tottime": row.tt, "cumtime": row.ct}
                for row in rows
            ],
        }

    def dump_suffix(self) -> str:
        """``.prof``: pstats' marshal format (``pstats.Stats(path)``, snakeviz, tuna, gprof2dot)."""
        return ".prof"

    def write_dump(self, stream: IO[bytes]) -> None:
        """Write the profile as ``pstats.Stats.dump_stats`` does."""
        stats = self.payload
        if stats is None:
            raise ValueError("this call was not profiled; there is no profile to write")
        stream.write(marshal.dumps(stats.stats))

    def dump_files(self) -> list[tuple[str, Callable[[IO[bytes]], None]]]:
        """One ``.prof`` file, or none when the call was not profiled."""
        if self.payload is None:
            return []
        return [(".prof", self.write_dump)]


# -- the backend ------------------------------------------------------------------------


class _Local(threading.local):
    #: The profiler running on this thread now (``None``: none of ours).
    active: Profile | None = None


_local = _Local()
_DIGITS = re.compile(r"\d+")


def _after_fork_in_child() -> None:
    """A child forked during a profiled call (``multiprocessing`` started inside it) profiles nothing
    it would never report: switch the inherited profiler off and give the hook back, so the child's
    own profiled calls are profiled and reported there."""
    active = _local.active
    if active is not None:
        active.disable()
        _local.active = None
        _release(TOOL)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class _Skip:
    """The token of a call that runs unprofiled, with the reason."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


class _Steps:
    """The token of a generator or coroutine call: its profiler and what happened per step."""

    __slots__ = ("c0", "cpu", "on", "profiled", "profiler", "reason", "skipped", "t0")

    def __init__(self) -> None:
        self.profiler: Profile | None = None
        self.on = False
        self.profiled = 0
        self.skipped = 0
        self.reason: str | None = None
        self.t0 = 0.0
        self.c0 = 0.0
        self.cpu = 0.0


class _Aggregate:
    """What ``aggregate=True`` accumulates between two flushes."""

    __slots__ = ("calls", "cpu", "idle", "reason", "skipped", "started", "wall")

    def __init__(self) -> None:
        #: Per thread, the accumulating profiler not in use right now.
        self.idle: dict[int, Profile] = {}
        self.calls = 0
        self.skipped = 0
        self.reason: str | None = None
        self.wall = 0.0
        self.cpu = 0.0
        self.started: float | None = None


class CpuBackend(Backend):
    """cProfile around each call (or block): a fresh profiler per call.

    ``begin`` and ``end`` stay small on purpose: on 3.12 switching cProfile
    on or off instruments every code object on the stack, so their size is
    paid on every call.
    """

    tool = TOOL
    record_type = ProfileRecord

    def __init__(self, target: Callable[..., Any] | None, probe: Probe, options: SummaryOptions) -> None:
        super().__init__(target, probe)
        self.options = options
        self.stepwise = False

    def begin(self) -> Any:
        """Claim the profiler hook and switch a profiler on (or say why not)."""
        if _local.active is not None:
            return SUPPRESS
        reason = _claim(TOOL)
        if reason is not None:
            return self.skip(reason)
        profiler = _local.active = Profile()
        try:
            profiler.enable()
        except ValueError as exc:  # the hook was taken between our check and now
            return self.failed(profiler, exc)
        return profiler

    def end(self, token: Any, error: BaseException | None) -> tuple[Any, str | None] | None:
        """Switch the profiler off (first) and hand over the profile."""
        if token.__class__ is _Skip:
            return None, token.reason
        token.disable()
        _local.active = None
        _release(TOOL)
        return deferred((token,), self.stepwise, self.options), None

    def flush(self) -> None:
        """Nothing to report: without ``aggregate=True`` every call is reported as it ends."""

    # -- the rare paths -----------------------------------------------------

    def skip(self, reason: str) -> _Skip:
        """This call runs unprofiled: warn once per kind of reason, and say why in the record."""
        settings.warn_once(
            TOOL, _DIGITS.sub("N", reason),
            f"profileit {self.probe.name}: not profiled: {reason} (the code runs as usual; the record says why)",
        )
        return _Skip(reason)

    def failed(self, profiler: Profile, exc: ValueError) -> _Skip:
        """``enable()`` refused (a foreign tool took the hook since the slot looked)."""
        _local.active = None
        _release(TOOL)
        return self.skip(str(exc))


class AggregateBackend(CpuBackend):
    """cProfile accumulating over calls (``aggregate=True``): one profiler per thread, merged on flush."""

    def __init__(self, target: Callable[..., Any] | None, probe: Probe, options: SummaryOptions) -> None:
        super().__init__(target, probe, options)
        self.aggregate = _Aggregate()
        self._lock = threading.Lock()
        self._pid = settings.STATE.pid
        delivery.fork_safe(self)
        ref = weakref.WeakMethod(self.flush)
        delivery.on_flush(lambda: _call_if_alive(ref))

    def _own_process(self) -> None:
        """In a forked child, forget the parent's calls: they are the parent's to report."""
        if self._pid != settings.STATE.pid:
            self._pid = settings.STATE.pid
            self.aggregate = _Aggregate()

    def begin(self) -> Any:
        """Claim the hook and switch this thread's accumulating profiler on."""
        self._own_process()
        if _local.active is not None:
            return SUPPRESS
        reason = _claim(TOOL)
        if reason is not None:
            return self.skip(reason)
        profiler = _local.active = self.take()
        token = [profiler, _perf(), _thread_time()]
        try:
            profiler.enable()
        except ValueError as exc:
            return self.failed(profiler, exc)
        return token

    def end(self, token: Any, error: BaseException | None) -> tuple[Any, str | None] | None:
        """Switch the profiler off (first) and count the call; the record comes on flush."""
        if token.__class__ is _Skip:
            return None
        profiler, t0, c0 = token
        profiler.disable()
        cpu = _thread_time() - c0
        wall = _perf() - t0
        _local.active = None
        _release(TOOL)
        with self._lock:
            aggregate = self.aggregate
            aggregate.idle[_get_ident()] = profiler
            aggregate.calls += 1
            aggregate.wall += wall
            aggregate.cpu += cpu
            if aggregate.started is None:
                aggregate.started = t0
        return None

    def skip(self, reason: str) -> _Skip:
        """Count the unprofiled call for the aggregate's record, and warn once."""
        with self._lock:
            self.aggregate.skipped += 1
            self.aggregate.reason = reason
        return super().skip(reason)

    def failed(self, profiler: Profile, exc: ValueError) -> _Skip:
        """``enable()`` refused: put the profiler back for the next call."""
        self.give(profiler)
        return super().failed(profiler, exc)

    def take(self) -> Profile:
        """This thread's accumulating profiler (a new one after a flush)."""
        with self._lock:
            return self.aggregate.idle.pop(_get_ident(), None) or Profile()

    def give(self, profiler: Profile) -> None:
        """Put this thread's profiler back (it is reported on the next flush)."""
        with self._lock:
            self.aggregate.idle[_get_ident()] = profiler

    def flush(self) -> None:
        """Report the profile accumulated since the last flush (nothing when there were no calls)."""
        self._own_process()
        with self._lock:
            aggregate = self.aggregate
            if not aggregate.calls and not aggregate.skipped:
                return
            self.aggregate = _Aggregate()
        payload = None
        if aggregate.calls:
            payload = deferred(tuple(aggregate.idle.values()), self.stepwise, self.options, aggregate.calls)
        skipped = None
        if aggregate.skipped:
            runs = aggregate.skipped + aggregate.calls
            skipped = f"{aggregate.skipped} of {runs} calls unprofiled: {aggregate.reason}"
        started = aggregate.started if aggregate.started is not None else _perf()
        self.probe.emit(started, aggregate.wall, aggregate.cpu if self.probe.cpu else None, None, payload, skipped)


def _call_if_alive(ref: weakref.WeakMethod[Callable[[], None]]) -> None:
    method = ref()
    if method is not None:
        method()


class StepBackend(AggregateBackend):
    """cProfile around each step of a generator, coroutine or async generator call.

    The profiler runs only while the call's own code runs; it is off while
    the call is suspended (other tasks, the consumer of a generator). With
    ``aggregate=False`` each call has its own profiler; with ``True`` each step
    uses its thread's accumulating one.
    """

    def __init__(
        self, target: Callable[..., Any] | None, probe: Probe, options: SummaryOptions, aggregated: bool,
    ) -> None:
        if aggregated:
            super().__init__(target, probe, options)
        else:
            CpuBackend.__init__(self, target, probe, options)
        self.aggregated = aggregated
        self.stepwise = True

    def begin(self) -> Any:
        """Start a call; the profiler is switched on by each ``resume``."""
        if _local.active is not None:
            return SUPPRESS
        token = _Steps()
        token.t0 = _perf()
        return token

    def resume(self, token: Any) -> None:
        """Claim the hook and switch the call's profiler on for one step."""
        if token is SUPPRESS or _local.active is not None:
            return
        reason = _claim(TOOL)
        if reason is not None:
            self.step_skipped(token, reason)
            return
        if self.aggregated:
            profiler = token.profiler = self.take()
            token.c0 = _thread_time()
        else:
            profiler = token.profiler
            if profiler is None:
                profiler = token.profiler = Profile()
        _local.active = profiler
        token.on = True
        try:
            profiler.enable()
        except ValueError as exc:
            token.on = False
            _local.active = None
            _release(TOOL)
            if self.aggregated:
                self.give(profiler)
            self.step_skipped(token, str(exc))

    def pause(self, token: Any) -> None:
        """Switch the profiler off (first) as the call is suspended."""
        if token is SUPPRESS or not token.on:
            return
        token.profiler.disable()
        token.on = False
        token.profiled += 1
        _local.active = None
        _release(TOOL)
        if self.aggregated:
            token.cpu += _thread_time() - token.c0
            self.give(token.profiler)

    def end(self, token: Any, error: BaseException | None) -> tuple[Any, str | None] | None:
        """Hand over the profile of the profiled steps (each step switched the profiler off)."""
        if token.on:  # ended without a pause (not expected from the machinery): stop anyway
            self.pause(token)
        if self.aggregated:
            wall = _perf() - token.t0
            with self._lock:
                aggregate = self.aggregate
                if token.profiled:
                    aggregate.calls += 1
                    aggregate.wall += wall
                    aggregate.cpu += token.cpu
                    if aggregate.started is None:
                        aggregate.started = token.t0
                if token.skipped:
                    aggregate.skipped += 1
                    aggregate.reason = token.reason
            return None
        if not token.profiled:
            if token.reason is None:
                return None  # every step ran inside an outer profile
            return None, token.reason
        skipped = None
        if token.skipped:
            skipped = f"{token.skipped} of {token.skipped + token.profiled} steps unprofiled: {token.reason}"
        return deferred((token.profiler,), self.stepwise, self.options), skipped

    def flush(self) -> None:
        """Report the accumulated profile (``aggregate=True``; else nothing)."""
        if self.aggregated:
            super().flush()

    def step_skipped(self, token: _Steps, reason: str) -> None:
        """One step runs unprofiled; the record says how many and why (one warning per kind)."""
        token.skipped += 1
        token.reason = reason
        CpuBackend.skip(self, reason)


def _stepwise(target: Callable[..., Any] | None) -> bool:
    return target is not None and (
        inspect.isgeneratorfunction(target) or inspect.iscoroutinefunction(target)
        or inspect.isasyncgenfunction(target)
    )


def _factory(options: SummaryOptions, aggregate: bool) -> Callable[[Callable[..., Any] | None, Probe], Backend]:
    def make(target: Callable[..., Any] | None, probe: Probe) -> Backend:
        if _stepwise(target):
            return StepBackend(target, probe, options, aggregate)
        return (AggregateBackend if aggregate else CpuBackend)(target, probe, options)
    return make


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
    their own. A call that finds the profiler hook held by another profiler
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
    if aggregate is not True and aggregate is not False:
        raise TypeError(f"profileit(): aggregate= must be True or False; got {aggregate!r:.60}")
    probe = make_probe(
        TOOL, _factory(options, aggregate), name=given_name, reporters=reporters, enabled=enabled, every=every,
        cpu=cpu, budget=budget, budget_p95=budget_p95, budget_calls=budget_calls,
        budget_total_calls=budget_total_calls,
    )
    return probe if func is None else probe(func)


__all__ = [
    "AggregateBackend", "CpuBackend", "ProfileRecord", "ProfileStats", "StepBackend", "SummaryOptions",
    "clean_stats", "deferred", "profileit",
]
