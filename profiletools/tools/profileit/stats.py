"""A profile's figures: profiletools' own frames cut out (:func:`clean_stats`), read lazily (:class:`ProfileStats`).

A call's statistics stay in its profiler until something reads them (a
reporter formatting text, a dump, the user's ``record.stats``): that keeps the
fixed cost per call close to cProfile's own.
"""

from __future__ import annotations

import pstats
import sys
import threading
from collections.abc import Callable, Iterable
from cProfile import Profile
from typing import Any

from profiletools.core.frames import USER_CALLERS, is_own_file
from profiletools.tools.profileit.options import SummaryOptions

#: A pstats key: ``(filename, line number, function name)``.
FuncKey = tuple[str, int, str]
#: One function's figures: ``(primitive calls, calls, tottime, cumtime, callers)``.
FuncStat = tuple[int, int, float, float, dict[FuncKey, Any]]

_PROFILER_METHODS = frozenset(
    ("~", 0, f"<method '{method}' of '_lsprof.Profiler' objects>") for method in ("enable", "disable")
)


def _invokers() -> frozenset[FuncKey]:
    """The machinery's frames that call the user's callable: a built-in they call is the user's target."""
    return frozenset((code.co_filename, code.co_firstlineno, code.co_name) for code in USER_CALLERS)


def _internal(func: FuncKey) -> bool:
    return is_own_file(func[0]) or func in _PROFILER_METHODS


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
    # frames whose calls of built-ins are profiletools' own business (the profiler's methods call nothing;
    # a copy either way: the loop below adds the built-ins it removes to ``removed``, not to ``ours``)
    ours = removed - _invokers() if not removed <= _PROFILER_METHODS else set(removed)
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
    if all(removed.isdisjoint(stat[4]) for stat in kept.values()):
        return kept  # no kept function was called by a removed frame: nothing to re-attach (the usual profile)

    origins: dict[FuncKey, list[tuple[FuncKey, float]]] = {}
    # One code object runs the wrapper of every function a tool decorates, so cProfile has one entry for all
    # of them: who called the wrapper and what it called, not which caller reached which function. Calls a
    # removed frame reached from several callers made a varying number of times per call of its own (a share
    # of its calls to one function, the rest to another) cannot be put down to those callers in proportion
    # without inventing some: that frame stays in the profile as their caller, as in raw cProfile's.
    # (A frame that calls one function only, and fewer times than it was called, lost the rest to the
    # profile: on 3.12+ a thread's call begun before profiling shows its end alone. Nothing is divided there.)
    staying: set[FuncKey] = set()
    callees: dict[FuncKey, set[FuncKey]] = {}
    for func, (_cc, _nc, _tt, _ct, callers) in raw.items():
        if func[0] != "~":
            for caller in removed.intersection(callers):
                callees.setdefault(caller, set()).add(func)

    reaching: dict[FuncKey, bool] = {}

    def reaches_kept(func: FuncKey) -> bool:
        """Whether ``func`` is kept, or a removed frame under which a kept function was called."""
        if func not in removed:
            return True
        if func not in reaching:
            reaching[func] = False  # (a cycle of removed frames reaches nothing through itself)
            reaching[func] = any(reaches_kept(callee) for callee in callees.get(func, ()))
        return reaching[func]

    def uncertain(caller: FuncKey, calls: int, visiting: set[FuncKey]) -> bool:
        if _evenly(raw, caller, calls):  # (a proportional split holds)
            return False
        if sum(reaches_kept(callee) for callee in callees.get(caller, ())) < 2:  # nothing divided
            return False
        return sum(share > 0 for _, share in origin(caller, visiting)) > 1

    def sources(caller: FuncKey, calls: int, visiting: set[FuncKey]) -> list[tuple[FuncKey, float]]:
        """Whom ``calls`` calls made by ``caller`` are put down to, with the fraction of them each."""
        if caller not in removed:
            return [(caller, 1.0)]
        if uncertain(caller, calls, visiting):
            staying.add(caller)
            return [(caller, 1.0)]
        return origin(caller, visiting)

    def origin(func: FuncKey, visiting: set[FuncKey]) -> list[tuple[FuncKey, float]]:
        """The kept (or staying) callers that reached removed ``func``, with the fraction of its calls from each."""
        if func in origins:
            return origins[func]
        if func in visiting:
            return []
        visiting.add(func)
        _cc, nc, _tt, _ct, callers = raw[func]
        shares: dict[FuncKey, float] = {}
        for caller, edge in callers.items():
            weight = edge[0] / nc if nc else 0.0
            for source, fraction in sources(caller, edge[0], visiting):
                shares[source] = shares.get(source, 0.0) + weight * fraction
        visiting.discard(func)
        found = origins[func] = list(shares.items())
        return found

    def relinked(stat: FuncStat) -> FuncStat:
        """``stat`` with each removed caller replaced by the callers its calls are put down to."""
        cc, nc, tt, ct, callers = stat
        if removed.isdisjoint(callers):
            return stat
        edges: dict[FuncKey, Any] = {caller: edge for caller, edge in callers.items() if caller not in removed}
        for caller, edge in callers.items():
            if caller in removed:
                _put_down(edges, edge, sources(caller, edge[0], set()))
        return cc, nc, tt, ct, {caller: edge for caller, edge in edges.items() if edge[0] > 0}

    for func, stat in kept.items():
        kept[func] = relinked(stat)
    while not staying <= kept.keys():  # a frame that stays has its own callers put down the same way
        for func in staying - kept.keys():
            kept[func] = relinked(raw[func])
    return _without_needless(kept, staying, raw, origin) if staying else kept


def _evenly(raw: dict[FuncKey, FuncStat], caller: FuncKey, calls: int) -> bool:
    """Whether ``calls`` calls made by ``caller`` could be the same number for each of its own (or it made none)."""
    made = raw[caller][1]
    return not made or calls % made == 0


def _without_needless(
    kept: dict[FuncKey, FuncStat], staying: set[FuncKey], raw: dict[FuncKey, FuncStat],
    origin: Callable[[FuncKey, set[FuncKey]], list[tuple[FuncKey, float]]],
) -> dict[FuncKey, FuncStat]:
    """``kept`` with calls put down to a staying frame split among its callers after all where, summed over
    every path, they were the same number for each of its calls (a gate's wrapper calls the function either
    itself or through the backend's ``call``: half the calls each way, but one call for each of its own);
    and without the staying frames no kept function is called by any more."""
    for func, (cc, nc, tt, ct, callers) in kept.items():
        if func in staying or staying.isdisjoint(callers):
            continue
        edges: dict[FuncKey, Any] = {}
        for caller, edge in callers.items():
            split = caller in staying and raw[caller][1] and _evenly(raw, caller, edge[0])
            _put_down(edges, edge, origin(caller, set()) if split else [(caller, 1.0)])
        kept[func] = (cc, nc, tt, ct, {caller: edge for caller, edge in edges.items() if edge[0] > 0})
    needed = {caller for func, stat in kept.items() if func not in staying for caller in stat[4]} & staying
    while True:  # (a staying frame called only by another one that is not needed is not needed either)
        reached = needed | {caller for func in needed for caller in kept[func][4]} & staying
        if reached == needed:
            break
        needed = reached
    return {func: stat for func, stat in kept.items() if func not in staying or func in needed}


def _put_down(edges: dict[FuncKey, Any], edge: Any, sources: list[tuple[FuncKey, float]]) -> None:
    """Add the calls of ``edge`` (calls, primitive calls, times) to ``edges``, split among ``sources`` by fraction."""
    enc, ecc, ett, ect = edge
    calls, primitive = _split(enc, sources), _split(ecc, sources)
    for source, fraction in sources:
        previous = edges.get(source, (0, 0, 0.0, 0.0))
        edges[source] = (
            previous[0] + calls[source], previous[1] + primitive[source],
            previous[2] + ett * fraction, previous[3] + ect * fraction,
        )


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

