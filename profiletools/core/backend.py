"""The backend contract: what a tool provides, and nothing else.

A tool's backend measures **one call** (or one block): ``begin()`` right before
the user's code returns a token, ``end(token, error)`` right after it returns
the call's payload (what the tool measured), or a :class:`Skip` saying why the
call was not measured. Generators and coroutines are suspended and resumed
between ``begin`` and ``end``: ``pause(token)`` / ``resume(token)``.

With ``aggregate=True`` a backend also provides ``merge(aggregate, payload)``,
which folds one call's payload into the aggregate so far, and
``finish(aggregate)``, which turns it into the payload of the aggregate's
record.

Everything else is the machinery's (:mod:`profiletools.core.machinery`,
:mod:`profiletools.core.aggregation`): clocks, reporters, record building and
delivery, the aggregate's state per probe (its call counts, locking, fork
reset, flushing), and the warning a skipped call gives (once per reason). A
backend never calls back into the probe or the machinery.

>>> class Calls(Backend):
...     tool = "callcount"
...     def end(self, token, error):
...         return {"items": 1}
...     def merge(self, aggregate, payload):
...         return {"items": (aggregate or {"items": 0})["items"] + payload["items"]}
...     def finish(self, aggregate):
...         return aggregate
>>> backend = Calls(None, None)
>>> backend.finish(backend.merge(backend.merge(None, {"items": 1}), {"items": 1}))
{'items': 2}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from profiletools.core.records import Record

if TYPE_CHECKING:
    from profiletools.core.machinery import Probe

class _Suppress:
    """The type of :data:`SUPPRESS` (one instance)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "SUPPRESS"


#: Returned by :meth:`Backend.begin` or :meth:`Backend.end` when this call makes no record
#: of its own (a recursive call already inside a measurement of the same target, say).
SUPPRESS: Any = _Suppress()


class Skip:
    """Why a call (or part of it) was not measured, returned by ``begin``, ``resume`` or ``end``.

    ``reason`` goes into the warning (one per reason and tool) and, unless
    ``detail`` says more (``"1 of 4 steps unprofiled: ..."``), into the record's
    ``skipped``. ``payload`` is what was measured anyway, if anything.

    (A plain class, not a named tuple: a named tuple's ``__new__`` is compiled
    from a string, and its frame, made inside a user's profile, could not be told
    from the user's code.)
    """

    __slots__ = ("detail", "payload", "reason")

    def __init__(self, reason: str, payload: Any = None, detail: str | None = None) -> None:
        self.reason = reason
        self.payload = payload
        self.detail = detail

    def __eq__(self, other: object) -> bool:
        return type(other) is Skip and (self.reason, self.payload, self.detail) == (
            other.reason, other.payload, other.detail
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Skip({self.reason!r}, payload={self.payload!r}, detail={self.detail!r})"


class Nested:
    """Returned by ``begin`` (or ``end``): the call ran inside another measurement that covers it.

    The call makes no record of its own (its work is in the outer one's); the
    machinery says so once per probe and reason, as a warning.
    """

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __eq__(self, other: object) -> bool:
        return type(other) is Nested and self.reason == other.reason

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Nested({self.reason!r})"


class Backend:
    """One tool's measurement beyond wall and CPU time (see the module docstring).

    The machinery creates one backend per decorated function (or per block
    probe) with the target callable (``None`` for blocks) and the probe, whose
    settings (``name``, ``cpu``, ``aggregating``) the backend may read.
    ``begin`` runs immediately before the user's code and ``end`` immediately
    after it, on the same thread, with nothing of profiletools in between.
    """

    tool: ClassVar[str] = "measure"
    record_type: ClassVar[type[Record]] = Record
    #: What a skipped call was not, in the warning: ``"profileit f: not profiled: <reason>"``.
    not_measured: ClassVar[str] = "not measured"
    #: An aggregate's ``skipped`` when some of its calls were skipped.
    aggregate_skipped: ClassVar[str] = "{skipped} of {calls} calls not measured: {reason}"
    #: With ``call``: a decorated function's wrapper starts and ends the measurement itself, on
    #: its locals (a frame and an object less per call). Chosen per tool, by measuring: on 3.12
    #: cProfile instruments every frame on the stack when it is switched on, and the bigger
    #: wrapper costs ``profileit`` more than it saves.
    inline_run: ClassVar[bool] = False
    #: With ``call``: the type of a token that the machinery switches on (``token.enable()``)
    #: right before the user's code and off (``token.disable()``) right after, in a block's
    #: ``__enter__`` and ``__exit__``, and in a decorated function's wrapper instead of calling
    #: ``call`` (but for an ``inline_run`` backend, whose ``call`` switches it); ``begin`` and
    #: ``end`` switch nothing. ``switch_failed`` when ``enable`` raises ``ValueError``. For a
    #: hook that costs per frame on the stack when switched (cProfile on 3.12+), or that
    #: should see as few frames of ours as it can (cProfile on 3.11).
    switch_type: ClassVar[type | None] = None
    #: A measured synchronous call holds this backend's profiler slot on its thread, exclusively,
    #: from ``begin`` to ``end``: the slot says that a measurement runs there (``warn_once`` holds
    #: warnings back), and the wrappers of such calls (the switching and the inline one) do not
    #: count it in ``settings.MEASURING`` (a thread-local read, about 700 machine instructions).
    slot_marks_measurement: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("slot_marks_measurement"):  # (said here, by the class that claims it)
            from profiletools.core import profiler_slot  # (the slots only for a tool that needs them)

            profiler_slot.marks_measurement(cls.tool)

    def __init__(self, target: Callable[..., Any] | None, probe: Probe) -> None:
        self.target = target
        self.probe = probe

    def begin(self) -> Any:
        """Start measuring one call; return a token for ``end``, or a :class:`Skip`, :class:`Nested`, ``SUPPRESS``."""
        return None

    def pause(self, token: Any, suspended: Any = None) -> None:
        """The measured generator or coroutine is suspended: stop attributing to it.

        ``suspended`` is what the machinery steps (the generator, the coroutine, an
        async generator's step): a suspended coroutine's ``cr_frame`` and
        ``cr_await`` tell where it waits.
        """

    def resume(self, token: Any) -> Skip | None:
        """The measured generator or coroutine runs again; a :class:`Skip` when this step is not measured."""
        return None

    def end(self, token: Any, error: BaseException | None) -> Any:
        """Stop measuring; return the call's payload, or a :class:`Skip`, :class:`Nested`, ``SUPPRESS`` (no record)."""
        return None

    def call(self, token: Any, func: Callable[..., Any], args: Any, kwargs: Any) -> Any:
        """Make a decorated callable's call: ``func(*args, **kwargs)``, between ``begin`` and ``end``.

        A backend whose interpreter hook runs for every line after it is
        switched on (a trace function) overrides this to switch it on and off
        here, in the frame that calls the user's code, so that none of
        profiletools' own code runs under it. Blocks and the steps of
        generators and coroutines never go through ``call``. ``token`` is what
        ``begin`` returned (maybe ``SUPPRESS``, a :class:`Skip`, a
        :class:`Nested`).
        """
        return func(*args, **kwargs)

    def switch_failed(self, token: Any) -> Skip:
        """``token.enable()`` raised the ``ValueError`` being handled: what the call records instead."""
        raise NotImplementedError(f"{type(self).__qualname__} has no switch_type")

    def merge(self, aggregate: Any, payload: Any) -> Any:
        """Fold one call's ``payload`` into ``aggregate`` (``None`` before the first) and return it."""
        raise NotImplementedError(f"{type(self).__qualname__} cannot aggregate")

    def finish(self, aggregate: Any) -> Any:
        """The payload of the record an aggregate is reported as (on flush)."""
        return aggregate


#: The types of what ``begin``/``end`` return when a call is not (fully) measured.
NOT_MEASURED: frozenset[type] = frozenset({Skip, Nested, _Suppress})


def can_aggregate(backend: Backend) -> bool:
    """Whether ``backend`` implements ``merge`` (its tool accepts ``aggregate=True``)."""
    return type(backend).merge is not Backend.merge


def makes_calls(backend: Backend | None) -> bool:
    """Whether ``backend`` makes the calls it measures itself (it overrides ``call``)."""
    return backend is not None and type(backend).call is not Backend.call
