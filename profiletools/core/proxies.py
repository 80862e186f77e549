"""Wrappers for everything but plain functions: coroutine, generator and async generator
functions and other callables, as ``wrapt.FunctionWrapper`` proxies.

wrapt forwards ``__code__`` and ``__class__``, so ``inspect.iscoroutinefunction``
and friends keep answering as for the original. This module (and so wrapt, which
pulls in asyncio) is imported the first time such a callable is decorated.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable, Coroutine, Generator
from typing import Any

import wrapt

from profiletools.core.machinery import Probe, Run, measured_call


class ProxyWrapper(wrapt.FunctionWrapper):  # type: ignore[misc,type-arg]
    """wrapt's transparent function proxy, plus pickling by reference and ``flush``."""

    def __init__(self, wrapped: Any, wrapper: Any, probe: Probe) -> None:
        super().__init__(wrapped, wrapper)
        self._self_probe = probe

    def __reduce_ex__(self, protocol: Any) -> str:
        # Pickle by reference, as for a plain function: the name is looked up
        # in the module on load and must resolve to this same object.
        return str(self.__qualname__)

    def flush(self) -> None:
        """Report the accumulated measurement now (tools with ``aggregate=True``)."""
        self._self_probe.flush()


def proxy_call(func: Any, probe: Probe) -> Callable[[Any, Any, Any, Any], Any]:
    """The wrapt wrapper function for the kind of callable ``func`` is."""
    if inspect.iscoroutinefunction(func):
        def call_coroutine(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
            coro = wrapped(*args, **kwargs)
            if not probe.measuring():
                return coro
            return _measure_coroutine(coro, Run(probe))
        return call_coroutine
    if inspect.isasyncgenfunction(func):
        def call_async_generator(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
            agen = wrapped(*args, **kwargs)
            if not probe.measuring():
                return agen
            return _measure_async_generator(agen, Run(probe))
        return call_async_generator
    if inspect.isgeneratorfunction(func):
        def call_generator(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
            gen = wrapped(*args, **kwargs)
            if not probe.measuring():
                return gen
            return _measure_generator(gen, Run(probe))
        return call_generator

    call = measured_call(probe)

    def call_other(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        if not probe.measuring():
            return wrapped(*args, **kwargs)
        return call(probe, wrapped, args, kwargs)
    return call_other


def _steps(inner: Any, run: Run) -> Generator[Any, Any, Any]:
    """Drive ``inner`` (generator or awaitable iterator) step by step, measuring only its steps.

    Values sent and exceptions thrown in are passed through unchanged; closing
    this generator closes ``inner``. Nothing is held across a suspension: the
    item yielded, the value sent and the exception thrown each live only until
    they are passed on, as without the driver (a consumer that drops an item
    frees it before the next step).
    """
    value: Any = None
    thrown: BaseException | None = None
    while True:
        run.resume()
        try:
            item = inner.send(value) if thrown is None else inner.throw(thrown)
        except StopIteration as stop:
            return stop.value
        finally:
            run.pause(inner)
        value = thrown = None
        try:
            # `item` is set to None before the yield suspends this frame, so while the consumer holds
            # the item only the consumer holds it (cheaper than any container handing it over)
            value = yield (item, item := None)[0]
        except GeneratorExit:
            inner.close()
            raise
        except BaseException as exc:  # noqa: BLE001 - passed into the measured code
            thrown = exc


@types.coroutine
def _await_steps(awaitable: Any, run: Run) -> Generator[Any, Any, Any]:
    """``_steps`` usable with ``await`` (a generator-based coroutine)."""
    return (yield from _steps(awaitable, run))


def _measure_generator(gen: Generator[Any, Any, Any], run: Run) -> Generator[Any, Any, Any]:
    """Iterate ``gen`` as the caller does; the record covers first ``next`` to exhaustion or close."""
    run.start(True)
    failure: BaseException | None = None
    try:
        return (yield from _steps(gen, run))
    except GeneratorExit:
        raise
    except BaseException as exc:
        failure = exc
        raise
    finally:
        run.finish(failure)


async def _measure_coroutine(coro: Coroutine[Any, Any, Any], run: Run) -> Any:
    """Await ``coro``; wall time from first step to completion, CPU only while it runs."""
    run.start(True)
    failure: BaseException | None = None
    try:
        return await _await_steps(coro, run)
    except BaseException as exc:
        failure = exc
        raise
    finally:
        run.finish(failure)


async def _measure_async_generator(agen: Any, run: Run) -> Any:
    """Iterate ``agen`` for the caller; each ``asend``/``athrow`` is measured step by step.

    As in :func:`_steps`, no item, sent value or thrown exception is held across a suspension.
    """
    run.start(True)
    failure: BaseException | None = None
    try:
        value: Any = None
        thrown: BaseException | None = None
        while True:
            step = agen.asend(value) if thrown is None else agen.athrow(thrown)
            value = thrown = None
            try:
                item = await _await_steps(step, run)
            except StopAsyncIteration:
                return
            finally:
                step = None
            try:
                value = yield (item, item := None)[0]  # nothing of ours holds the item while suspended
            except GeneratorExit:
                await agen.aclose()
                raise
            except BaseException as exc:  # noqa: BLE001 - passed into the measured code
                thrown = exc
    except GeneratorExit:
        raise
    except BaseException as exc:
        failure = exc
        raise
    finally:
        run.finish(failure)
