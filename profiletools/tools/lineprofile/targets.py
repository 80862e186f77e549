"""Which Python functions an object stands for: what ``lineprofile`` times for it.

Functions, methods (bound or not), class and static methods, properties (each
accessor), ``functools.cached_property``, ``functools.partial`` and
``partialmethod`` objects, callable objects (their ``__call__``) and classes.
Decorator wrappers are looked through (``inspect.unwrap``): the function the
user wrote is timed.

A class stands for what line_profiler times when it decorates a class (its
``add_callable(cls)``): the functions *defined in* the class body and in the
classes nested in it, told by their qualified names (``Cls.method``,
``Cls.Inner.method``, also behind ``classmethod(class)``). A function the
class merely refers to (``convert = staticmethod(helper)``) and a class it
merely refers to (``Other = SomeClass``) are not timed; line_profiler's
``add_class`` (not its decorator) times those too when they come from the
same module.

>>> class Shape:
...     def area(self):
...         return 1
...     @property
...     def sides(self):
...         return 4
...     helper = staticmethod(len)
>>> [f.__qualname__ for f in python_functions(Shape, "also= items")]
['Shape.area', 'Shape.sides']
"""

from __future__ import annotations

import functools
import inspect
import types

__all__ = ["describe", "python_functions"]

#: Wrappers whose function is in ``.func`` (timing them means timing it).
_FUNC_HOLDERS = (functools.partial, functools.partialmethod, functools.cached_property)


def python_functions(obj: object, argument: str) -> list[types.FunctionType]:
    """The Python functions whose lines timing ``obj`` means, decorator wrappers looked through.

    Raises ``TypeError`` naming ``argument`` when there is no Python code to
    time (builtins, C functions, a class without methods of its own).
    """
    found: list[types.FunctionType] = []
    if isinstance(obj, type):
        _members(obj, found, set())
    else:
        _collect(obj, found, set())
    if not found:
        raise TypeError(
            f"lineprofile(): {argument} must be Python functions, methods, properties or classes "
            f"(C functions and builtins have no lines to time); got {type(obj).__name__} {obj!r:.60}"
        )
    return found


def describe(obj: object) -> str:
    """A short name of ``obj`` for a message: its qualified name, or its type's name."""
    return getattr(obj, "__qualname__", None) or type(obj).__name__


def _collect(obj: object, found: list[types.FunctionType], seen: set[int], within: type | None = None) -> None:
    """Add the functions of ``obj`` to ``found``; inside class ``within``, only those defined in it."""
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, property):
        for accessor in (obj.fget, obj.fset, obj.fdel):
            if accessor is not None:
                _collect(accessor, found, seen, within)
        return
    if isinstance(obj, (classmethod, staticmethod, types.MethodType)):
        _collect(obj.__func__, found, seen, within)
        return
    if isinstance(obj, _FUNC_HOLDERS):
        _collect(obj.func, found, seen, within)
        return
    if isinstance(obj, type):
        if within is not None and _defined_in(within, obj):  # a nested class (or classmethod(class))
            _members(obj, found, seen)
        return
    try:
        inner = inspect.unwrap(obj)  # type: ignore[arg-type]
    except ValueError:  # a __wrapped__ cycle
        inner = obj
    if inner is not obj:
        _collect(inner, found, seen, within)
        return
    if isinstance(obj, types.FunctionType):
        if (within is None or _defined_in(within, obj)) and obj not in found:
            found.append(obj)
        return
    if callable(obj) and not isinstance(obj, (types.BuiltinFunctionType, types.BuiltinMethodType)):
        call = getattr(type(obj), "__call__", None)  # noqa: B004 - the class's method, not a check
        if isinstance(call, types.FunctionType):
            _collect(call, found, seen, within)


def _members(cls: type, found: list[types.FunctionType], seen: set[int]) -> None:
    """The functions defined in the body of ``cls`` and of the classes nested in it."""
    seen.add(id(cls))
    for member in vars(cls).values():
        _collect(member, found, seen, cls)


def _defined_in(cls: type, obj: types.FunctionType | type) -> bool:
    """Whether ``obj`` was defined in the body of ``cls`` (line_profiler's "child" scoping)."""
    return obj.__module__ == cls.__module__ and obj.__qualname__ == f"{cls.__qualname__}.{obj.__name__}"
