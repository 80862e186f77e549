"""What ``lineprofile(f)`` returns for one function: the decorated ``f``, and a ``with`` block timing ``f``.

For a function (or any callable), a :class:`LineFunction`: a thin proxy of
the decorated function that calls it, binds as a method like it, answers
``inspect`` and ``isinstance`` like it (its ``__class__`` is the function's),
pickles by reference like it, and enters a block probe timing ``f`` in
``with``. wrapt is not involved: a plain function stays free of it.

For a class method, static method, property, ``cached_property`` or
``partialmethod``: the same kind of object (a subclass of it, so
``isinstance`` and ``inspect.getattr_static`` answer as before) that is also
a block.
"""

from __future__ import annotations

import functools
from typing import Any

from profiletools.core.machinery import Probe, Run

__all__ = ["LineFunction", "is_block", "with_block"]

_BLOCK = "_profiletools_block"


class _Block:
    """``with`` on a decorated object: the block probe timing its functions (kept in ``_BLOCK``)."""

    __slots__ = ()

    def __enter__(self) -> Probe | Run:
        return _block_of(self).__enter__()

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        _block_of(self).__exit__(exc_type, exc, tb)

    async def __aenter__(self) -> Probe | Run:
        return _block_of(self).__enter__()

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        _block_of(self).__exit__(exc_type, exc, tb)


def _block_of(obj: object) -> Probe:
    block: Probe | None = getattr(obj, _BLOCK, None)
    if block is None:  # a copy made by property.setter & co. without lineprofile
        raise TypeError(f"this {type(obj).__mro__[2].__name__} was not made by lineprofile(...): it is no block")
    return block


def _forward(name: str) -> Any:
    """An attribute every class has of its own (``__module__``, ``__doc__``...): the decorated one's instead."""
    return property(
        lambda self: getattr(self._decorated, name),
        lambda self, value: setattr(self._decorated, name, value),
        doc=f"The decorated function's ``{name}``.",
    )


class LineFunction(_Block):
    """``lineprofile(f)`` for a function or other callable: the decorated ``f``, and a block timing ``f``.

    (On an instance, ``__doc__``, ``__module__`` and ``__class__`` are the
    decorated function's, as every other attribute.)
    """

    __slots__ = ("__weakref__", "_decorated", "_profiletools_block")

    def __init__(self, decorated: Any, block: Probe) -> None:
        object.__setattr__(self, "_decorated", decorated)
        object.__setattr__(self, _BLOCK, block)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._decorated(*args, **kwargs)

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        return self._decorated.__get__(instance, owner)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._decorated, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._decorated, name, value)

    def __delattr__(self, name: str) -> None:
        delattr(self._decorated, name)

    def __dir__(self) -> list[str]:
        return dir(self._decorated)

    def __repr__(self) -> str:
        return repr(self._decorated)

    def __reduce_ex__(self, protocol: Any) -> str:
        # Pickle by reference, like the function it stands for.
        return str(self.__qualname__)

    # Last: in the class body these names would otherwise describe the class itself.
    __doc__ = _forward("__doc__")
    __module__ = _forward("__module__")
    __class__ = _forward("__class__")


class LineClassMethod(_Block, classmethod):  # type: ignore[type-arg]
    """``lineprofile(classmethod)``: the decorated class method, also a block timing it."""


class LineStaticMethod(_Block, staticmethod):  # type: ignore[type-arg]
    """``lineprofile(staticmethod)``: the decorated static method, also a block timing it."""


class LineProperty(_Block, property):
    """``lineprofile(property)``: the property with each accessor decorated, also a block timing them."""


class LineCachedProperty(_Block, functools.cached_property):  # type: ignore[type-arg]
    """``lineprofile(cached_property)``: its function decorated, also a block timing it."""


class LinePartialMethod(_Block, functools.partialmethod):  # type: ignore[type-arg]
    """``lineprofile(partialmethod)``: its function decorated, also a block timing it."""


#: The block-carrying subclass of each kind of descriptor ``lineprofile`` decorates.
SUBCLASS: dict[type, type] = {
    classmethod: LineClassMethod, staticmethod: LineStaticMethod, property: LineProperty,
    functools.cached_property: LineCachedProperty, functools.partialmethod: LinePartialMethod,
}
#: Ours back to the standard kind.
STANDARD: dict[type, type] = {ours: standard for standard, ours in SUBCLASS.items()}


def is_block(obj: object) -> bool:
    """Whether ``obj`` was made by ``lineprofile(f)`` (it is a block too)."""
    return getattr(obj, _BLOCK, None) is not None


def with_block(decorated: Any, block: Probe) -> Any:
    """``decorated`` (what the ``lineprofile`` decorator made) as an object that is also ``block``."""
    ours = SUBCLASS.get(type(decorated))
    if ours is None:
        return LineFunction(decorated, block)
    if isinstance(decorated, (classmethod, staticmethod)):
        made = ours(decorated.__func__)
    elif isinstance(decorated, property):
        made = ours(decorated.fget, decorated.fset, decorated.fdel, decorated.__doc__)
    elif isinstance(decorated, functools.cached_property):
        made = ours(decorated.func)
        made.attrname = decorated.attrname
    else:
        made = ours(decorated.func, *decorated.args, **decorated.keywords)
    setattr(made, _BLOCK, block)
    return made
