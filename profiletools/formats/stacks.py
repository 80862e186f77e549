"""Weighted call stacks rebuilt from pstats' call graph (for flame-graph viewers such as speedscope).

A pstats profile keeps, per function, its figures and the figures of each
caller edge; it keeps no stacks. :func:`weighted_stacks` rebuilds them so that
the totals stay pstats' own:

* Each function's self time (``tottime``) is split over its callers as pstats
  itself splits it (the per-caller ``tottime`` of ``print_callers``); the time
  of calls that came from outside the profiled code (no caller) goes to the
  stack that is the function alone.
* The part of caller ``C`` is split over the stacks that reach ``C`` in
  proportion to their *reach*: the product, along the stack, of each call
  edge's share of the callee's time (the edge's cumulative time over the sum
  of the cumulative times of every edge into that callee).
* A stack never holds a function twice: a recursive call is folded into the
  outermost frame of the function, as cProfile's own cumulative times fold it.
  When the caller's stack already holds the function, that part of its self
  time goes to the stack ending at that outer frame.

So the weights of the stacks ending in a function sum to its ``tottime``, and
all weights sum to pstats' ``total_tt``, on recursive code too. How the time
of one caller is spread over the caller's own stacks is an estimate (pstats
cannot say which stack a call came through); the totals are not.

The number of stacks is bounded: stacks are explored heaviest reach first, up
to :data:`MAX_STACKS`; a function the exploration did not reach keeps its
heaviest stack found, or its shortest path from a root, so no time is lost.
"""

from __future__ import annotations

import heapq
from collections import defaultdict, deque
from typing import Any, NamedTuple

FunctionKey = tuple[str, int, str]
Stack = tuple[FunctionKey, ...]

#: About this many stacks at most (more only if the call graph has more call edges).
MAX_STACKS = 50_000


class Edge(NamedTuple):
    """One caller → callee edge of pstats' graph: all calls, the callee's self and cumulative seconds."""

    calls: int
    tottime: float
    cumtime: float


def caller_edges(raw: dict[FunctionKey, Any]) -> dict[FunctionKey, dict[FunctionKey, Edge]]:
    """Per function, its profiled callers' edges.

    cProfile stores ``(calls, primitive calls, tottime, cumtime)`` per caller;
    the pure-Python ``profile`` module only a call count (no times).
    """
    edges: dict[FunctionKey, dict[FunctionKey, Edge]] = {}
    for callee, entry in raw.items():
        edges[callee] = {
            caller: Edge(figures[0], figures[2], figures[3]) if isinstance(figures, tuple) else Edge(figures, 0.0, 0.0)
            for caller, figures in entry[4].items()
        }
    return edges


def _normalized(weights: dict[Any, float], fallback: dict[Any, float]) -> dict[Any, float]:
    """``weights`` scaled to sum to 1 (``fallback`` when they are all zero, equal shares when both are)."""
    for candidate in (weights, fallback):
        total = sum(value for value in candidate.values() if value > 0)
        if total > 0:
            return {key: value / total for key, value in candidate.items() if value > 0}
    return {key: 1 / len(weights) for key in weights} if weights else {}


_OUTSIDE: FunctionKey = ("", 0, "")  # calls that came from no profiled function


class _CallGraph:
    """pstats' graph with each function's self time and reach split over its callers."""

    def __init__(self, raw: dict[FunctionKey, Any]) -> None:
        self.raw = raw
        self.callers = caller_edges(raw)
        self.callees: dict[FunctionKey, list[FunctionKey]] = defaultdict(list)
        for callee, edges in self.callers.items():
            for caller in edges:
                self.callees[caller].append(callee)
        self.self_parts: dict[FunctionKey, dict[FunctionKey, float]] = {}
        self.reach: dict[FunctionKey, dict[FunctionKey, float]] = {}  # callee -> caller -> share
        for function, entry in raw.items():
            self._split(function, entry)
        self.roots = [function for function in raw if _OUTSIDE in self.self_parts[function]]

    def _split(self, function: FunctionKey, entry: Any) -> None:
        calls, tottime, cumtime = entry[1], entry[2], entry[3]
        edges = {caller: edge for caller, edge in self.callers[function].items() if caller in self.raw}
        by_calls: dict[FunctionKey, float] = {caller: edge.calls for caller, edge in edges.items()}
        own = {caller: edge.tottime for caller, edge in edges.items()}
        reach = {caller: edge.cumtime for caller, edge in edges.items()}
        outside_calls = calls - sum(by_calls.values())
        if not edges:
            by_calls, own, reach = {_OUTSIDE: 1}, {_OUTSIDE: tottime}, {_OUTSIDE: 1.0}
        elif outside_calls > 0:
            by_calls[_OUTSIDE] = outside_calls
            own[_OUTSIDE] = max(tottime - sum(own.values()), 0.0)
            left = cumtime - sum(reach.values())  # exact without recursion; with it, edges overlap
            reach[_OUTSIDE] = left if left > 0 else cumtime * outside_calls / calls
        parts = _normalized(own, by_calls)
        self.self_parts[function] = {caller: parts.get(caller, 0.0) * tottime for caller in by_calls}
        self.reach[function] = _normalized(reach, by_calls)

    def shortest_paths(self) -> dict[FunctionKey, Stack]:
        """One stack per function reachable from a root: its shortest path from one."""
        found: dict[FunctionKey, Stack] = {root: (root,) for root in self.roots}
        queue = deque(self.roots)
        while queue:
            caller = queue.popleft()
            for callee in self.callees.get(caller, ()):
                if callee not in found:
                    found[callee] = (*found[caller], callee)
                    queue.append(callee)
        return found

    def explore(self, budget: int) -> dict[FunctionKey, list[tuple[Stack, float]]]:
        """The stacks reaching each calling function, with their reach, heaviest first.

        Only functions that call others need their stacks (a callee's stack is
        its caller's plus itself). Exploring a stack costs one per callee of its
        last function, up to ``budget`` in all. A calling function the budget
        did not cover keeps the heaviest stack seen for it, or else its shortest
        path from a root (or itself alone if no root leads to it, which only a
        hand-made profile can do).
        """
        explored: dict[FunctionKey, list[tuple[Stack, float]]] = defaultdict(list)
        heaviest_pending: dict[FunctionKey, tuple[float, Stack]] = {}
        heap: list[tuple[float, int, Stack]] = [
            (-self.reach[root].get(_OUTSIDE, 0.0), order, (root,)) for order, root in enumerate(self.roots)
        ]
        order = len(heap)
        heapq.heapify(heap)
        spent = 0
        while heap:
            negative, _, stack = heapq.heappop(heap)
            function = stack[-1]
            callees = self.callees.get(function)
            if not callees:
                continue
            if spent + len(callees) > budget:
                heaviest_pending.setdefault(function, (-negative, stack))
                continue
            spent += len(callees)
            explored[function].append((stack, -negative))
            for callee in callees:
                if callee not in stack:
                    deeper: Stack = (*stack, callee)
                    heapq.heappush(heap, (negative * self.reach[callee].get(function, 0.0), order, deeper))
                    order += 1
        missing = [function for function in self.raw if self.callees.get(function) and function not in explored]
        shortest = self.shortest_paths() if missing else {}
        for function in missing:
            reach, path = heaviest_pending.get(function, (1.0, shortest.get(function, (function,))))
            explored[function].append((path, reach))
        return explored


def weighted_stacks(raw: dict[FunctionKey, Any], max_stacks: int = MAX_STACKS) -> dict[Stack, float]:
    """Stacks (outermost frame first) and the seconds of self time of their last frame.

    ``raw`` is a ``pstats.Stats.stats`` dictionary. The weights of the stacks
    ending in a function sum to its ``tottime``; see the module's docstring.
    """
    graph = _CallGraph(raw)
    budget = max(max_stacks - sum(len(edges) for edges in graph.callers.values()) - len(raw), len(raw))
    explored = graph.explore(budget)
    stacks: dict[Stack, float] = defaultdict(float)
    for function, parts in graph.self_parts.items():
        for caller, seconds in parts.items():
            if seconds <= 0:
                continue
            if caller == _OUTSIDE:
                stacks[(function,)] += seconds
                continue
            reaching = explored[caller]
            total = sum(reach for _, reach in reaching)
            for stack, reach in reaching:
                share = reach / total if total > 0 else 1 / len(reaching)
                if share <= 0:
                    continue
                if function in stack:  # recursion: fold into the outermost frame of ``function``
                    leaf = stack[: stack.index(function) + 1]
                else:
                    leaf = (*stack, function)
                stacks[leaf] += seconds * share
    return dict(stacks)
