"""``timed`` and the wrapper machinery: call kinds, transparency, switches, sampling, concurrency."""

from __future__ import annotations

import asyncio
import inspect
import multiprocessing
import pickle
import sys
import threading
import time
import traceback
from typing import Any

import pytest

import profiletools
from profiletools import TimingRecord, timed
from profiletools.reporters import Collect
from tests import workers
from tests.conftest import run_python


def spin(seconds: float) -> None:
    """Burn CPU on this thread for about ``seconds``."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


# -- forms ------------------------------------------------------------------------------


def test_bare_decorator_names_the_record_after_the_function(collect: Collect) -> None:
    profiletools.configure(reporters=[collect])

    @timed
    def parse(doc: str) -> list[str]:
        return doc.split()

    assert parse("a b") == ["a", "b"]
    (record,) = collect.records
    assert isinstance(record, TimingRecord)
    assert record.tool == "timed"
    assert record.name == record.qualname == parse.__qualname__
    assert record.module == __name__
    assert record.wall > 0 and record.cpu is not None and record.error is None


def test_named_and_keyword_forms(collect: Collect) -> None:
    @timed("db.query", reporters=[collect])
    def query() -> int:
        return 1

    @timed(name="db.insert", reporters=[collect], cpu=False)
    def insert() -> int:
        return 2

    assert (query(), insert()) == (1, 2)
    assert [(r.name, r.qualname.rsplit(".", 1)[-1]) for r in collect.records] == [
        ("db.query", "query"),
        ("db.insert", "insert"),
    ]
    assert collect.records[1].cpu is None


def test_block_form_exposes_elapsed_and_record(collect: Collect) -> None:
    with timed("load", reporters=[collect]) as t:
        time.sleep(0.02)
    assert t.record is collect.records[0]
    assert t.elapsed == t.record.wall
    assert 0.015 < t.elapsed < 5
    assert t.record.name == "load" and t.record.module is None


def test_unnamed_block_is_named_after_its_file_and_line(collect: Collect) -> None:
    line = inspect.currentframe().f_lineno + 1  # type: ignore[union-attr]
    with timed(reporters=[collect]):
        pass
    assert collect.records[0].name == f"block at test_timed.py:{line}"
    assert collect.records[0].module == __name__


def test_block_records_the_exception_and_lets_it_through(collect: Collect) -> None:
    with pytest.raises(KeyError), timed("failing", reporters=[collect]):
        raise KeyError("x")
    assert collect.records[0].error == "KeyError"


async def _async_block(collect: Collect) -> float:
    async with timed("async-block", reporters=[collect]) as t:
        await asyncio.sleep(0.01)
    return t.elapsed  # type: ignore[return-value]


def test_async_with_block(collect: Collect) -> None:
    elapsed = asyncio.run(_async_block(collect))
    assert elapsed >= 0.009 and collect.records[0].name == "async-block"


# -- records -----------------------------------------------------------------------------


def test_record_is_immutable_and_json_ready(collect: Collect) -> None:
    import json

    with timed("r", reporters=[collect]):
        pass
    record = collect.records[0]
    with pytest.raises(AttributeError):
        record.wall = 1.0  # type: ignore[misc]
    data = json.loads(json.dumps(record.to_dict()))
    assert data["name"] == "r" and data["tool"] == "timed"
    assert set(data) >= {"tool", "name", "qualname", "module", "started", "wall", "cpu", "pid", "thread", "error"}
    assert abs(data["started"] - time.time()) < 5
    assert data["thread"] == threading.get_ident()
    import os

    assert data["pid"] == os.getpid()


def test_wall_is_at_least_cpu_for_busy_code(collect: Collect) -> None:
    @timed(reporters=[collect])
    def busy() -> None:
        spin(0.02)

    busy()
    record = collect.records[0]
    assert record.cpu is not None
    assert 0.015 < record.cpu <= record.wall


# -- transparency ---------------------------------------------------------------------------


def plain(a: int, b: int = 2, *rest: int, key: str = "k", **extra: Any) -> tuple[Any, ...]:
    """Plain docstring."""
    return (a, b, rest, key, extra)


async def coro_fn(x: int) -> int:
    """Coroutine docstring."""
    await asyncio.sleep(0)
    return x + 1


def gen_fn(n: int):  # type: ignore[no-untyped-def]
    """Generator docstring."""
    yield from range(n)


async def agen_fn(n: int):  # type: ignore[no-untyped-def]
    """Async generator docstring."""
    for i in range(n):
        yield i


@pytest.mark.parametrize("func", [plain, coro_fn, gen_fn, agen_fn], ids=lambda f: f.__name__)
def test_introspection_matches_the_original(func: Any) -> None:
    wrapped = timed(func)
    assert inspect.signature(wrapped) == inspect.signature(func)
    assert wrapped.__name__ == func.__name__
    assert wrapped.__qualname__ == func.__qualname__
    assert wrapped.__doc__ == func.__doc__
    assert wrapped.__wrapped__ is func
    assert wrapped.__module__ == func.__module__
    for check in (
        inspect.iscoroutinefunction,
        inspect.isgeneratorfunction,
        inspect.isasyncgenfunction,
        inspect.isfunction,
    ):
        assert check(wrapped) == check(func), check.__name__
    assert asyncio.iscoroutinefunction(wrapped) == asyncio.iscoroutinefunction(func)


def test_arguments_and_return_value_pass_through(collect: Collect) -> None:
    wrapped = timed(plain, reporters=[collect])
    assert wrapped(1, 3, 4, 5, key="z", other=6) == plain(1, 3, 4, 5, key="z", other=6)
    assert len(collect.records) == 1


def test_exception_is_the_same_object_with_its_traceback(collect: Collect) -> None:
    error = ValueError("boom")

    def fail() -> None:
        raise error

    wrapped = timed(fail, reporters=[collect])
    with pytest.raises(ValueError) as caught:
        wrapped()
    assert caught.value is error
    frames = [frame.name for frame in traceback.extract_tb(caught.value.__traceback__)]
    assert frames[-1] == "fail"
    assert collect.records[0].error == "ValueError"


def test_wrong_arguments_raise_at_call_time_for_every_kind() -> None:
    for func in (plain, coro_fn, gen_fn, agen_fn):
        with pytest.raises(TypeError):
            timed(func, reporters=[])()


# -- kinds of callables -------------------------------------------------------------------------


def test_coroutine_function_measures_until_completion(collect: Collect) -> None:
    @timed(reporters=[collect])
    async def fetch(delay: float) -> str:
        await asyncio.sleep(delay)
        return "done"

    assert asyncio.run(fetch(0.03)) == "done"
    record = collect.records[0]
    assert record.wall >= 0.025
    assert record.cpu is not None and record.cpu < record.wall / 2  # sleeping is not CPU


def test_coroutine_cpu_counts_only_its_own_steps(collect: Collect) -> None:
    @timed(reporters=[collect])
    async def light() -> None:
        for _ in range(5):
            await asyncio.sleep(0.005)

    async def heavy_neighbour() -> None:
        for _ in range(5):
            spin(0.01)
            await asyncio.sleep(0)

    async def main() -> None:
        await asyncio.gather(light(), heavy_neighbour())

    asyncio.run(main())
    record = collect.records[0]
    assert record.wall >= 0.04  # the neighbour's 50 ms of CPU delay the coroutine's completion
    assert record.cpu is not None and record.cpu < 0.02  # but are not the coroutine's CPU


def test_concurrent_tasks_get_separate_records(collect: Collect) -> None:
    @timed(reporters=[collect])
    async def work(delay: float) -> float:
        await asyncio.sleep(delay)
        return delay

    async def main() -> list[float]:
        return await asyncio.gather(work(0.01), work(0.04), work(0.02))

    assert asyncio.run(main()) == [0.01, 0.04, 0.02]
    walls = sorted(record.wall for record in collect.records)
    assert len(walls) == 3
    assert walls[0] >= 0.009 and walls[2] >= 0.039 and walls[2] < 1


def test_coroutine_exception_and_cancellation(collect: Collect) -> None:
    @timed(reporters=[collect])
    async def fail() -> None:
        await asyncio.sleep(0)
        raise LookupError("missing")

    @timed(reporters=[collect])
    async def forever() -> None:
        await asyncio.sleep(10)

    async def main() -> None:
        with pytest.raises(LookupError):
            await fail()
        task = asyncio.ensure_future(forever())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert [r.error for r in collect.records] == ["LookupError", "CancelledError"]


def test_generator_time_covers_the_whole_iteration_cpu_only_its_steps(collect: Collect) -> None:
    @timed(reporters=[collect])
    def items(n: int):  # type: ignore[no-untyped-def]
        yield from range(n)

    gen = items(4)
    assert collect.records == []  # nothing measured before iteration ends
    seen = []
    for item in gen:
        spin(0.01)  # the consumer's work: wall, but not the generator's CPU
        seen.append(item)
    assert seen == [0, 1, 2, 3]
    (record,) = collect.records
    assert record.wall >= 0.035
    assert record.cpu is not None and record.cpu < 0.01


def test_generator_send_throw_close_and_return_value(collect: Collect) -> None:
    @timed(reporters=[collect])
    def echo():  # type: ignore[no-untyped-def]
        received = []
        try:
            while True:
                try:
                    value = yield len(received)
                except KeyError:
                    value = "thrown"
                received.append(value)
                if value == "stop":
                    return received
        finally:
            received.append("cleanup")

    gen = echo()
    assert next(gen) == 0
    assert gen.send("a") == 1
    assert gen.throw(KeyError) == 2
    with pytest.raises(StopIteration) as stop:
        gen.send("stop")
    assert stop.value.value == ["a", "thrown", "stop", "cleanup"]

    closed = echo()
    next(closed)
    closed.close()
    assert [r.error for r in collect.records] == [None, None]


def test_async_generator(collect: Collect) -> None:
    @timed(reporters=[collect])
    async def ticks(n: int):  # type: ignore[no-untyped-def]
        for i in range(n):
            await asyncio.sleep(0.005)
            yield i

    async def main() -> list[int]:
        return [i async for i in ticks(3)]

    assert asyncio.run(main()) == [0, 1, 2]
    (record,) = collect.records
    assert record.wall >= 0.012 and record.name.endswith("ticks")


class Service:
    """A class with every kind of method, decorated in both orders."""

    factor = 10

    @timed
    def method(self, x: int) -> int:
        return x * self.factor

    @classmethod
    @timed
    def class_inner(cls, x: int) -> int:
        return x + cls.factor

    @timed
    @classmethod
    def class_outer(cls, x: int) -> int:
        return x - cls.factor

    @staticmethod
    @timed
    def static_inner(x: int) -> int:
        return -x

    @timed
    @staticmethod
    def static_outer(x: int) -> int:
        return x * 2

    @timed
    async def async_method(self, x: int) -> int:
        return x + self.factor


def test_methods_classmethods_staticmethods(collect: Collect) -> None:
    profiletools.configure(reporters=[collect])
    service = Service()
    assert service.method(2) == 20
    assert Service.class_inner(1) == 11 and service.class_inner(1) == 11
    assert Service.class_outer(15) == 5
    assert Service.static_inner(3) == -3 and service.static_inner(3) == -3
    assert Service.static_outer(4) == 8
    assert asyncio.run(service.async_method(1)) == 11
    names = [record.name.split(".")[-1] for record in collect.records]
    assert names == [
        "method", "class_inner", "class_inner", "class_outer", "static_inner", "static_inner",
        "static_outer", "async_method",
    ]
    assert all(record.qualname.startswith("Service.") for record in collect.records)
    assert inspect.iscoroutinefunction(Service.async_method)


def test_other_callables_are_wrapped_transparently(collect: Collect) -> None:
    import functools

    class Adder:
        def __call__(self, a: int, b: int) -> int:
            return a + b

    adder = Adder()
    wrapped_instance = timed(adder, reporters=[collect])
    partial = timed(functools.partial(pow, 2), reporters=[collect])
    builtin = timed(len, reporters=[collect])
    assert wrapped_instance(2, 3) == 5
    assert isinstance(wrapped_instance, Adder)
    assert partial(5) == 32
    assert builtin([1, 2]) == 2
    assert len(collect.records) == 3
    assert collect.records[2].name == "len"


def test_non_callable_is_rejected_at_decoration_time() -> None:
    with pytest.raises(TypeError, match="first argument is a name"):
        timed(42)  # type: ignore[call-overload]
    probe = timed("x")
    with pytest.raises(TypeError, match="decorates a callable"):
        probe(42)  # type: ignore[type-var]


# -- pickling and processes -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["square", "cube", "async_double", "countdown"])
def test_decorated_functions_pickle_by_reference(name: str) -> None:
    func = getattr(workers, name)
    assert pickle.loads(pickle.dumps(func)) is func


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_multiprocessing_pool_maps_a_decorated_function(method: str) -> None:
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"{method} is not available here")
    context = multiprocessing.get_context(method)
    with context.Pool(2) as pool:
        results = pool.map(workers.pid_and_square, range(6), chunksize=1)
    assert [square for _, square, _ in results] == [x * x for x in range(6)]
    assert all(made == 1 for _, _, made in results)  # measured in the worker
    import os

    assert all(pid != os.getpid() for pid, _, _ in results)


def test_pool_map_of_the_decorated_function_itself() -> None:
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        assert pool.map(workers.square, [1, 2, 3]) == [1, 4, 9]


# -- recursion and concurrency ----------------------------------------------------------------


def test_recursion_gives_one_record_per_level_properly_nested(collect: Collect) -> None:
    @timed(reporters=[collect])
    def fact(n: int) -> int:
        return 1 if n <= 1 else n * fact(n - 1)

    assert fact(6) == 720
    walls = [record.wall for record in collect.records]
    assert len(walls) == 6
    assert walls == sorted(walls)  # innermost finishes (and reports) first, and is shortest


def test_eight_threads_calling_one_function(collect: Collect) -> None:
    @timed(reporters=[collect])
    def work(x: int) -> int:
        time.sleep(0.001)
        return x * 2

    results: dict[int, list[int]] = {}
    barrier = threading.Barrier(8)

    def run(index: int) -> None:
        barrier.wait()
        results[threading.get_ident()] = [work(index * 100 + i) for i in range(50)]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(collect.records) == 400
    per_thread: dict[int, int] = {}
    for record in collect.records:
        per_thread[record.thread] = per_thread.get(record.thread, 0) + 1
    assert sorted(per_thread) == sorted(results)
    assert set(per_thread.values()) == {50}
    assert all(0.0009 < record.wall < 5 for record in collect.records)


def test_one_block_probe_shared_by_threads_and_recursion(collect: Collect) -> None:
    shared = timed("shared", reporters=[collect], cpu=False)
    handles = []

    def nested(depth: int) -> None:
        with shared as handle:
            handles.append(handle)
            time.sleep(0.002)
            if depth:
                nested(depth - 1)

    threads = [threading.Thread(target=nested, args=(2,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(collect.records) == 12
    assert all(record.wall >= 0.0019 for record in collect.records)
    # every entry got a record of its own, and each handle shows its own
    assert all(handle.record is not None for handle in handles[1:] if handle is not shared)


@pytest.mark.parametrize("cpu", [False, True])
def test_one_block_handle_hammered_by_threads_gives_each_block_its_own_times(collect: Collect, cpu: bool) -> None:
    """Thread switches forced every microsecond: a block that took the handle's own slot while another
    thread held it would carry that thread's start. Each record must have a start of its own, inside its
    own thread's block."""
    from profiletools.core.records import EPOCH_ANCHOR

    shared = timed("hammered", reporters=[collect], cpu=cpu)
    windows: dict[int, list[tuple[float, float]]] = {}
    together = threading.Barrier(4)  # alive at once: four distinct thread idents

    def hammer() -> None:
        together.wait()
        mine = windows.setdefault(threading.get_ident(), [])
        for _ in range(1500):
            before = time.perf_counter()
            with shared:
                pass
            mine.append((before, time.perf_counter()))

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(switch)
    assert len(collect.records) == len({record.started for record in collect.records}) == 6000
    for ident, spans in windows.items():
        records = sorted((record for record in collect.records if record.thread == ident), key=lambda r: r.started)
        assert len(records) == len(spans) == 1500
        for (before, after), record in zip(spans, records, strict=True):
            start = record.started - EPOCH_ANCHOR
            assert before <= start and start + record.wall <= after


def test_shared_block_probe_across_interleaved_tasks(collect: Collect) -> None:
    shared = timed("task-block", reporters=[collect], cpu=False)

    async def step(delay: float) -> float:
        async with shared as handle:
            await asyncio.sleep(delay)
        return handle.elapsed  # type: ignore[no-any-return]

    async def main() -> list[float]:
        return await asyncio.gather(step(0.25), step(0.01))

    slow, fast = asyncio.run(main())
    assert slow >= 0.249 and 0.009 <= fast < 0.249  # the exits did not swap their entries


# -- switches -----------------------------------------------------------------------------------


def test_every_n_measures_the_first_and_every_nth(collect: Collect) -> None:
    calls = []

    @timed(reporters=[collect], every=3)
    def f(i: int) -> int:
        calls.append(i)
        return i

    assert [f(i) for i in range(10)] == list(range(10))
    assert calls == list(range(10))  # every call ran exactly once
    assert len(collect.records) == 4  # calls 1, 4, 7, 10


def test_enabled_flag_and_callable(collect: Collect) -> None:
    switch = {"on": False}

    @timed(reporters=[collect], enabled=lambda: switch["on"])
    def f() -> int:
        return 1

    @timed(reporters=[collect], enabled=False)
    def g() -> int:
        return 2

    assert (f(), g()) == (1, 2)
    assert collect.records == []
    switch["on"] = True
    f()
    assert len(collect.records) == 1


def test_runtime_disable_and_enable(collect: Collect) -> None:
    @timed(reporters=[collect])
    def f() -> int:
        return 1

    profiletools.disable()
    assert not profiletools.is_enabled()
    with timed("off", reporters=[collect]) as t:
        pass
    assert f() == 1 and collect.records == [] and t.record is None
    profiletools.enable()
    f()
    assert len(collect.records) == 1


def test_disabled_at_import_returns_the_function_itself() -> None:
    result = run_python(
        "import profiletools\n"
        "from profiletools import timed, reporters\n"
        "def f(): return 1\n"
        "assert timed(f) is f and timed('x')(f) is f\n"
        "c = reporters.Collect()\n"
        "with timed('b', reporters=[c]) as t: pass\n"
        "assert c.records == [] and t.record is None\n"
        "print('ok', profiletools.is_enabled())\n",
        env={"PROFILETOOLS": "0"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["ok", "False"]


# -- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"every": 0}, ValueError, "every= must be a whole number >= 1; got 0"),
        ({"every": -2}, ValueError, "every="),
        ({"every": 1.5}, TypeError, "every= must be a whole number"),
        ({"every": True}, TypeError, "every="),
        ({"reporters": [42]}, TypeError, "reporters= items must have a report"),
        ({"reporters": Collect()}, TypeError, "reporters= takes a list"),
        ({"reporters": "log"}, TypeError, "reporters= takes a list"),
        ({"reporters": 7}, TypeError, "reporters= takes a list"),
        ({"name": 5}, TypeError, "name= must be a string"),
        ({"enabled": "yes"}, TypeError, "enabled= must be True, False or a zero-argument callable"),
        ({"cpu": "no"}, TypeError, "cpu= must be True or False"),
    ],
)
def test_bad_arguments_fail_at_decoration_time(kwargs: dict[str, Any], error: type[Exception], pattern: str) -> None:
    with pytest.raises(error, match=pattern):
        timed(**kwargs)


def test_name_given_twice_is_rejected() -> None:
    with pytest.raises(TypeError, match="name is given twice"):
        timed("a", name="b")


@pytest.mark.parametrize("second", ["b", None, False, 1])
def test_options_are_keyword_only_a_second_positional_argument_is_refused(second: object) -> None:
    # ``timed``'s def takes the options positionally (cheaper to bind); its declared signature does not
    with pytest.raises(TypeError, match="timed\\(\\) takes one positional argument"):
        timed("a", second)
    with pytest.raises(TypeError, match="takes one positional argument"):
        timed(lambda: None, second)


def test_declared_signature_is_one_positional_argument_then_keyword_only_options() -> None:
    parameters = inspect.signature(timed).parameters
    assert list(parameters) == ["target", "name", "reporters", "enabled", "every", "cpu", "budget", "budget_p95"]
    assert parameters["target"].kind is inspect.Parameter.POSITIONAL_ONLY
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for name, p in parameters.items() if name != "target")
    assert parameters["cpu"].default is True and parameters["every"].default == 1
    # and it binds as it reads: the options by keyword only
    with pytest.raises(TypeError):
        inspect.signature(timed).bind("a", "b")


def test_declared_signature_matches_the_def_it_stands_for() -> None:
    # the declared signature is written out beside timed's def: the same names, defaults and annotations
    declared = inspect.signature(timed).parameters
    actual = {name: p for name, p in inspect.signature(timed, follow_wrapped=False).parameters.items()
              if name != "_only_one"}
    assert list(declared) == list(actual)
    for name, parameter in declared.items():
        assert (parameter.default, parameter.annotation) == (actual[name].default, actual[name].annotation), name


def test_version_and_typed_marker() -> None:
    from pathlib import Path

    assert (Path(profiletools.__file__).parent / "py.typed").exists()
    assert profiletools.__version__.count(".") == 2


def test_import_stays_light() -> None:
    result = run_python(
        "import sys, profiletools\n"
        "heavy = [m for m in ('cProfile', 'line_profiler', 'memory_profiler', 'psutil', 'tracemalloc') "
        "if m in sys.modules]\n"
        "print(heavy)\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_python_version_is_supported() -> None:
    assert sys.version_info >= (3, 10)
