"""``lineprofile``: line_profiler's per-line timings around functions and blocks.

The public function and its options. The parts, each in its own module:
:mod:`.targets` (which Python functions an object stands for),
:mod:`.engine` (the one ``LineProfiler`` and who counts with it),
:mod:`.hooks` (switching its counting on and off: one strategy per
interpreter hook), :mod:`.backend` (one call), :mod:`.stats` (the payload),
:mod:`.record` (the record and its table), :mod:`.block` (``lineprofile(f)``
as both the decorated ``f`` and a block).
"""

from __future__ import annotations

import sys
import weakref
from collections.abc import Callable, Hashable, Iterable
from typing import Any, overload

from profiletools.core.machinery import F, Probe, make_probe
from profiletools.core.settings import STATE
from profiletools.tools.lineprofile.backend import Spec
from profiletools.tools.lineprofile.engine import BACKEND, ENGINE
from profiletools.tools.lineprofile.record import LineRecord, parse_unit, record_type_for
from profiletools.tools.lineprofile.targets import python_functions

__all__ = ["BACKEND", "ENGINE", "LineRecord", "lineprofile"]

_TOOL = "lineprofile"
#: What ``lineprofile`` decorates besides callables: descriptors holding functions.
_DESCRIPTORS = (classmethod, staticmethod, property)


@overload
def lineprofile(target: F, /) -> F: ...
@overload
def lineprofile(
    *functions: Any,
    also: Iterable[Any] = (),
    name: str | None = None,
    reporters: Any = None,
    enabled: bool | Callable[[], object] = True,
    every: int = 1,
    cpu: bool = True,
    aggregate: bool = False,
    unit: str | float = "us",
) -> Any: ...


def lineprofile(
    *functions: Any,
    also: Iterable[Any] = (),
    name: str | None = None,
    reporters: Any = None,
    enabled: bool | Callable[[], object] = True,
    every: int = 1,
    cpu: bool = True,
    aggregate: bool = False,
    unit: str | float = "us",
) -> Any:
    """Time each line of functions with line_profiler, per call or over a block.

    - ``@lineprofile`` on a function (method, class or static method,
      property, ``functools.cached_property`` or ``partialmethod``, coroutine
      or generator function): one record per call with that call's line
      table. Decorator wrappers underneath are looked through
      (``inspect.unwrap``): the real function's lines are timed. Applied
      again with the same settings (same options, same reporters) it changes
      nothing: one record per call, each line counted once.
    - ``@lineprofile(also=[tokenize, Model.predict])``: the functions it calls too.
    - ``with lineprofile(tokenize, Model.predict) as lp:``: those functions'
      lines while the block runs; ``lp.stats`` is the ``LineStats``. With one
      function (or descriptor), ``lineprofile(f)`` is both the decorated ``f``
      and a block timing ``f``: ``with lineprofile(f):`` works too.
    - A class (in ``also=`` or a block) stands for the functions defined in
      its body and in the classes nested in it, as line_profiler's decorator
      of a class counts them.
    - ``name``: the record's name (or give it first: ``lineprofile("load", f, g)``).
    - ``aggregate=True``: accumulate all calls into one record, reported on
      ``flush()`` (of the function, or ``profiletools.flush()``) and at exit.
    - ``unit``: time unit of the text table, ``"s"``, ``"ms"``, ``"us"``, ``"ns"``.
    - ``reporters``, ``enabled``, ``every``, ``cpu``: as for every tool.

    When line profiling cannot run (cProfile, a debugger or coverage holds
    the interpreter hook), the call runs unprofiled and the record's
    ``skipped`` says why. See :data:`BACKEND` for the hook in use.

    >>> from profiletools import reporters
    >>> seen = reporters.Collect()
    >>> @lineprofile(reporters=[seen])
    ... def total(n):
    ...     s = 0
    ...     for i in range(n):
    ...         s += i
    ...     return s
    >>> total(10)
    45
    >>> sorted(hits for hits, _seconds in seen.records[0].lines(total).values())
    [1, 1, 10, 11]
    """
    targets = list(functions)
    if targets and isinstance(targets[0], str):
        if name is not None:
            raise TypeError("lineprofile(): the name is given twice (positionally and as name=)")
        name = targets.pop(0)
    for item in targets:
        if isinstance(item, str):
            raise TypeError(f"lineprofile(): only the first positional argument may be a name; got {item!r:.60}")
        if not (callable(item) or isinstance(item, _DESCRIPTORS) or _holds_function(item)):
            raise TypeError(
                "lineprofile(): positional arguments are the functions to time (or decorate); "
                f"got {type(item).__name__} {item!r:.60}"
            )
    record_type = record_type_for(parse_unit(unit))
    also_functions = _check_also(also)
    options: dict[str, Any] = {
        "name": name, "reporters": reporters, "enabled": enabled, "every": every, "cpu": cpu, "aggregate": aggregate,
    }

    if len(targets) != 1:
        named = [function for item in targets for function in python_functions(item, "positional arguments")]
        return _probe(Spec(tuple(named + also_functions), record_type), options)

    target = targets[0]
    if isinstance(target, type):
        raise TypeError(
            f"lineprofile(): a class cannot be decorated ({target.__qualname__}); to time its methods "
            "name them, or pass the class in also=[...]"
        )
    own = python_functions(target, "the decorated callable")
    if not STATE.enabled_at_import:
        from profiletools.tools.lineprofile.entering import caller_enters_with

        if caller_enters_with(sys._getframe(1)):
            return _probe(Spec(tuple(own + also_functions), record_type), options)
        return target
    from profiletools.tools.lineprofile.block import is_block, with_block

    decorator = _probe(Spec(tuple(also_functions), record_type), options)
    decorated = decorator(target)
    if decorated is target and is_block(target):
        return target  # lineprofile(lineprofile(f)) with the same settings: nothing changes
    made = with_block(decorated, _probe(Spec(tuple(own + also_functions), record_type), options))
    _made.add(made, decorator.settings())
    return made


def _holds_function(obj: object) -> bool:
    """Whether ``obj`` is a ``cached_property`` or ``partialmethod`` (not callable, but holding a function)."""
    import functools

    return isinstance(obj, (functools.cached_property, functools.partialmethod))


class LineProbe(Probe):
    """A ``lineprofile`` probe: the machinery's, plus what only line profiling decorates.

    Properties (each accessor), ``functools.cached_property`` and
    ``partialmethod`` (their function) are decorated as the same kind of
    object. A callable this probe, or one with the same settings, decorated
    already is returned unchanged (line_profiler's "already a wrapper of this
    profiler"): stacked above ``@property`` and ``@x.setter`` (which copies
    the decorated getter), or applied twice, each line is counted once and
    each call makes one record. Probes with other settings (other reporters)
    each count: each is its own profiler.
    """

    __slots__ = ()

    def settings(self) -> Hashable:
        """What makes two ``lineprofile`` probes the same profiler: every option, the same reporters."""
        return (self.aggregation_key(), self.enabled, self.every, self.aggregating)

    def __call__(self, func: F) -> F:
        """Decorate ``func`` (once per settings; descriptors by their functions)."""
        if not STATE.enabled_at_import:
            return func
        settings = self.settings()
        if _made.settings_of(func) == settings:
            return func
        decorated = self._decorate(func)
        _made.add(decorated, settings)
        return decorated  # type: ignore[no-any-return]

    def _decorate(self, func: Any) -> Any:
        import functools

        from profiletools.tools.lineprofile.block import STANDARD

        kind = STANDARD.get(type(func), type(func))
        if isinstance(func, (classmethod, staticmethod)):
            return kind(self(func.__func__))
        if isinstance(func, property):
            accessors = (func.fget, func.fset, func.fdel)
            return kind(*(None if accessor is None else self(accessor) for accessor in accessors), func.__doc__)
        if isinstance(func, functools.cached_property):
            made = kind(self(func.func))
            made.attrname = func.attrname
            return made
        if isinstance(func, functools.partialmethod):
            return kind(self(func.func), *func.args, **func.keywords)
        return Probe.__call__(self, func)


class _Made:
    """Which settings made each decorated object (by identity, held weakly; see ``LineProbe``)."""

    def __init__(self) -> None:
        self._by_id: dict[int, tuple[weakref.ref[Any], Hashable]] = {}

    def add(self, obj: object, settings: Hashable) -> None:
        """Remember that a probe with ``settings`` made ``obj`` (objects without weak references are not kept)."""
        key = id(obj)
        by_id = self._by_id

        def forget(ref: weakref.ref[Any]) -> None:
            entry = by_id.get(key)
            if entry is not None and entry[0] is ref:
                del by_id[key]

        try:
            by_id[key] = (weakref.ref(obj, forget), settings)
        except TypeError:  # classmethod, property...: their functions are remembered
            pass

    def settings_of(self, obj: object) -> Hashable | None:
        """The settings of the probe that made ``obj``, or ``None``."""
        entry = self._by_id.get(id(obj))
        if entry is None or entry[0]() is not obj:
            return None
        return entry[1]


_made = _Made()


def _probe(spec: Spec, options: dict[str, Any]) -> LineProbe:
    """A validated probe (``make_probe``) of ``spec``."""
    return make_probe(_TOOL, spec, kind=LineProbe, **options)  # type: ignore[return-value]


def _check_also(also: object) -> list[Any]:
    """Validate ``also=``: a list of functions, methods, properties or classes."""
    if callable(also) or isinstance(also, (str, bytes, *_DESCRIPTORS)) or _holds_function(also):
        raise TypeError(
            "lineprofile(): also= takes a list of functions to time as well; "
            f"got a single {type(also).__name__}: wrap it in a list"
        )
    if not isinstance(also, Iterable):
        raise TypeError(f"lineprofile(): also= takes a list of functions; got {type(also).__name__}")
    functions: list[Any] = []
    for item in also:
        for function in python_functions(item, "also= items"):
            if function not in functions:
                functions.append(function)
    return functions
