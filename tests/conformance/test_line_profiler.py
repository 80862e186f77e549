"""line_profiler's own tests (pyutils/line_profiler ``tests/``), ported to ``lineprofile``.

A line_profiler ``LineProfiler`` object collects every call of the functions it
wraps until it is printed. The profiletools equivalent of "one profiler" is one
reporter that receives the records of the decorated functions (one record per
call), or ``aggregate=True`` (one record per decorated function, on flush). The
hit counts are line_profiler's, read as its tests read them: from the printed
table (``line.split()[1]``), which ``record.text()`` prints unchanged.

Not ported (line_profiler internals or tools profiletools does not claim):
``test_init``, ``test_last_time``, ``test_enable_disable`` (the profiler's
enable count), ``test_show_func_column_formatting``, ``test_sys_trace.py`` and
``test_sys_monitoring.py`` (callback chaining inside line_profiler),
``test_autoprofile.py``, ``test_kernprof.py``, ``test_cli.py``,
``test_toml_config.py``, ``test_eager_preimports.py``, ``test_child_procs.py``,
``test_complex_case.py`` and the environment/kernprof cases of
``test_explicit_profile.py`` (profiletools has no ``kernprof``), ``test_cython.py``,
``test_ipython.py``, ``test_import.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import inspect
import linecache
import operator
import os
import re
import subprocess
import sys
import textwrap
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from line_profiler import LineStats

import profiletools
from profiletools import lineprofile, reporters
from tests.conformance.support import all_text, hits_by_offset, hits_in_table

# -- the peers' module-level functions -----------------------------------------------------------


def f(x: int) -> int:
    """A docstring."""
    y = x + 10
    return y


def g(x: int) -> Iterator[int]:
    y = yield x + 10
    yield y + 20


async def ag(delay: float, start: Any = ()) -> Any:
    i = 0
    for x in start:
        yield i
        i += x
    while True:
        received = await asyncio.sleep(delay, (yield i))
        if received is None:
            return
        i += received


@contextlib.contextmanager
def code_references_unchanged(*functions: Callable[..., Any]) -> Iterator[None]:
    """line_profiler's ``check_timings_and_mem``: profiling leaks no reference to the code objects."""
    codes = [inspect.unwrap(function).__code__ for function in functions]
    gc.collect()
    before = [sys.getrefcount(code) for code in codes]
    yield
    gc.collect()
    assert [sys.getrefcount(code) for code in codes] == before


def total_hits(collect: reporters.Collect, ending: str) -> int:
    """Hits of the line ending with ``ending`` over every record (one profiler's printed stats)."""
    return sum(hits_in_table(all_text(collect), ending))


# -- tests/test_line_profiler.py ---------------------------------------------------------------------


def hook_free() -> bool:
    """No line profiler holds the interpreter's hook (``sys.monitoring``'s PROFILER_ID on 3.12+, else the trace)."""
    if sys.version_info >= (3, 12):
        return sys.monitoring.get_tool(sys.monitoring.PROFILER_ID) is None  # type: ignore[attr-defined]
    return sys.gettrace() is None


def test_enable_disable(collect: reporters.Collect) -> None:
    """Port of line_profiler tests/test_line_profiler.py::test_enable_disable.

    line_profiler counts ``enable()`` and ``disable()`` and is off again when
    the count is back to 0, also after an exception in a ``with`` block.
    Nested blocks of one probe, and a block that raises, leave the hook free;
    the nested entry counts in the outer block's record, as recursion does.
    """
    probe = lineprofile(f, reporters=[collect])
    assert hook_free()
    with probe:
        with probe:
            f(1)
        assert not hook_free()
        f(2)
    assert hook_free()
    with pytest.raises(RuntimeError), probe:
        f(3)
        raise RuntimeError()
    assert hook_free()
    outer, raised = collect.records
    assert [sum(hits for hits, _time in record.lines(f).values()) for record in collect.records] == [4, 2]
    assert outer.error is None and raised.error == "RuntimeError"


def test_double_decoration(collect: reporters.Collect) -> None:
    """Port of line_profiler tests/test_line_profiler.py::test_double_decoration.

    The same profiler wrapping an already wrapped function adds nothing: one
    call, one set of timings, each line counted once.
    """
    profile = lineprofile(reporters=[collect])
    f_wrapped = profile(f)
    f_double_wrapped = profile(f_wrapped)
    assert f_double_wrapped(10) == f(10)
    (record,) = collect.records
    assert len(record.stats.timings) == 1
    assert hits_by_offset(record, f) == {2: 1, 3: 1}


def test_function_decorator(collect: reporters.Collect) -> None:
    """Port of line_profiler tests/test_line_profiler.py::test_function_decorator."""
    f_wrapped = lineprofile(reporters=[collect])(f)
    assert f_wrapped.__name__ == "f"
    with code_references_unchanged(f):
        assert f_wrapped(10) == f(10)
    (record,) = collect.records
    assert hits_by_offset(record, f) == {2: 1, 3: 1}  # y = x + 10 / return y


def test_gen_decorator(collect: reporters.Collect) -> None:
    """Port of line_profiler tests/test_line_profiler.py::test_gen_decorator."""
    g_wrapped = lineprofile(reporters=[collect])(g)
    assert inspect.isgeneratorfunction(g_wrapped)
    assert g_wrapped.__name__ == "g"
    with code_references_unchanged(g):
        i = g_wrapped(10)
        assert next(i) == 20
        assert i.send(30) == 50
        with pytest.raises(StopIteration):
            next(i)
    (record,) = collect.records
    assert hits_by_offset(record, g) == {1: 1, 2: 1}


def test_coroutine_decorator(collect: reporters.Collect) -> None:
    """Port of line_profiler tests/test_line_profiler.py::test_coroutine_decorator."""

    async def coro(delay: float = 0.015625) -> int:
        return await asyncio.sleep(delay, 1)

    coro_wrapped = lineprofile(reporters=[collect])(coro)
    assert inspect.iscoroutinefunction(coro_wrapped)
    with code_references_unchanged(coro):
        assert asyncio.run(coro_wrapped()) == 1
    (record,) = collect.records
    assert hits_by_offset(record, coro) == {1: 1}


def test_async_gen_decorator(collect: reporters.Collect) -> None:
    """Port of line_profiler tests/test_line_profiler.py::test_async_gen_decorator (its ``gc=True`` case)."""
    delay = 0.001
    ag_wrapped = lineprofile(reporters=[collect])(ag)
    assert inspect.isasyncgenfunction(ag_wrapped)

    async def use_agen_simple(*args: int) -> list[int]:
        return [i async for i in ag_wrapped(delay, args)]

    async def use_agen_complex(*args: int | None) -> list[int]:
        results = []
        agen = ag_wrapped(delay)
        results.append(await agen.asend(None))  # start the generator
        for send in args:
            if send is None:
                with pytest.raises(StopAsyncIteration):
                    await agen.asend(send)
                break
            results.append(await agen.asend(send))
        return results

    with code_references_unchanged(ag):
        assert asyncio.run(use_agen_simple()) == [0]
        assert asyncio.run(use_agen_simple(1, 2, 3)) == [0, 1, 3, 6]
        assert asyncio.run(use_agen_complex(1, 2, 3)) == [0, 1, 3, 6]
        assert asyncio.run(use_agen_complex(1, 2, 3, None, 4)) == [0, 1, 3, 6]
    assert len(collect.records) == 4
    assert all(record.lines(ag) and record.skipped is None for record in collect.records)


def test_classmethod_decorator(collect: reporters.Collect) -> None:
    """Port of line_profiler tests/test_line_profiler.py::test_classmethod_decorator."""

    class Object:
        @lineprofile(reporters=[collect])
        @classmethod
        def foo(cls) -> str:
            return cls.__name__ * 2

    assert isinstance(inspect.getattr_static(Object, "foo"), classmethod)
    assert Object.foo() == Object().foo() == "ObjectObject"
    assert all_text(collect).rstrip().endswith("* 2")
    assert total_hits(collect, "* 2") == 2  # run twice


def test_staticmethod_decorator(collect: reporters.Collect) -> None:
    """Port of line_profiler tests/test_line_profiler.py::test_staticmethod_decorator."""

    class Object:
        @lineprofile(reporters=[collect])
        @staticmethod
        def foo(x: int) -> int:
            return x * 2

    assert isinstance(inspect.getattr_static(Object, "foo"), staticmethod)
    assert Object.foo(3) == Object().foo(3) == 6
    assert total_hits(collect, "* 2") == 2


def test_boundmethod_decorator(collect: reporters.Collect) -> None:
    """Port of line_profiler tests/test_line_profiler.py::test_boundmethod_decorator."""

    class Object:
        def foo(self, x: int) -> int:
            return id(self) * x

    obj = Object()
    profile = lineprofile(reporters=[collect])
    profiled_foo_1 = profile(obj.foo)
    profiled_foo_2 = profile(obj.foo)
    assert isinstance(profiled_foo_1, types.MethodType)
    assert isinstance(profiled_foo_2, types.MethodType)
    assert profiled_foo_1(2) == profiled_foo_2(2) == obj.foo(2) == id(obj) * 2
    assert total_hits(collect, "* x") == 2  # both wrappers, one line each


def test_partialmethod_decorator(collect: reporters.Collect) -> None:
    """Port of line_profiler tests/test_line_profiler.py::test_partialmethod_decorator."""

    class Object:
        def foo(self, x: int) -> int:
            return id(self) * x

        bar = lineprofile(reporters=[collect])(functools.partialmethod(foo, 1))

    assert isinstance(inspect.getattr_static(Object, "bar"), functools.partialmethod)
    obj = Object()
    assert obj.foo(1) == obj.bar() == id(obj)
    assert total_hits(collect, "* x") == 1  # through .bar() only


def test_partial_decorator(collect: reporters.Collect) -> None:
    """Port of line_profiler tests/test_line_profiler.py::test_partial_decorator."""

    def foo(x: int, y: int) -> int:
        return x + y

    bar = functools.partial(foo, 2)
    profile = lineprofile(reporters=[collect])
    profiled_bar_1 = profile(bar)
    profiled_bar_2 = profile(bar)
    assert isinstance(profiled_bar_1, functools.partial)
    assert isinstance(profiled_bar_2, functools.partial)
    assert profiled_bar_1(3) == profiled_bar_2(3) == bar(3) == foo(2, 3) == 5
    assert total_hits(collect, "x + y") == 2


def test_property_decorator(collect: reporters.Collect) -> None:
    """Port of line_profiler tests/test_line_profiler.py::test_property_decorator."""

    class Object:
        def __init__(self, x: int) -> None:
            self.x = x

        @lineprofile(reporters=[collect])
        @property
        def foo(self) -> int:
            return self.x * 2

        @lineprofile(reporters=[collect])
        @foo.setter
        def foo(self, foo: int) -> None:
            self.x = foo // 2

    assert isinstance(Object.foo, property)
    obj = Object(3)
    assert obj.foo == 6  # getter
    obj.foo = 10  # setter
    assert obj.x == 5
    assert obj.foo == 10  # getter
    assert total_hits(collect, "* 2") == 2
    assert total_hits(collect, "// 2") == 1
    assert len(collect.records) == 3  # one per access


def test_cached_property_decorator(collect: reporters.Collect) -> None:
    """Port of line_profiler tests/test_line_profiler.py::test_cached_property_decorator."""

    class Object:
        def __init__(self, x: int) -> None:
            self.x = x

        @lineprofile(reporters=[collect])
        @functools.cached_property
        def foo(self) -> int:
            return self.x * 2

    assert isinstance(Object.foo, functools.cached_property)
    obj = Object(3)
    assert obj.foo == 6  # getter
    assert obj.foo == 6  # cached: the getter does not run
    assert total_hits(collect, "* 2") == 1


def _unrelated(x: Any) -> str:
    return str(x)


class _Profiled:
    """line_profiler's ``test_class_decorator`` class (module level: its methods have sources)."""

    def __init__(self, x: Any) -> None:
        self.x = self.convert(x)

    @property
    def id(self) -> int:
        return id(self)

    @classmethod
    def class_method(cls, n: int) -> str:
        return cls.__name__ * n

    # unrelated to the class: line_profiler does not profile it
    convert = staticmethod(_unrelated)


def test_class_decorator_is_refused_name_the_class_in_also() -> None:
    """Port of line_profiler tests/test_line_profiler.py::test_class_decorator: the deliberate difference.

    line_profiler's ``@profile`` on a class wraps its methods and returns the
    class. ``@lineprofile`` on a class fails at decoration, naming the way to
    time a class's methods (``also=[cls]`` or a block), because a decorated
    class would have to be measured per call of what?
    """
    with pytest.raises(TypeError, match=r"a class cannot be decorated .*also="):
        lineprofile(_Profiled)


def test_class_decorator(collect: reporters.Collect) -> None:
    """Port of line_profiler tests/test_line_profiler.py::test_class_decorator, as a block over the class."""
    with lineprofile(also=[_Profiled], reporters=[collect]) as lp:
        obj = _Profiled(1)
        assert obj.x == "1"
        assert id(obj) == obj.id
        assert obj.class_method(3) == "_Profiled_Profiled_Profiled"
    timings = lp.record.stats.timings
    assert {name.rpartition(".")[2] for (_file, _line, name) in timings} == {"__init__", "id", "class_method"}
    entries = sorted(row for rows in timings.values() for row in rows)
    assert len(entries) == 3
    assert all(hits == 1 for (_line, hits, _time) in entries)


def test_add_class_wrapper(collect: reporters.Collect) -> None:
    """Port of line_profiler tests/test_line_profiler.py::test_add_class_wrapper."""

    class Object:
        @classmethod  # type: ignore[misc]
        class method:
            def __init__(self, cls: type, x: int) -> None:
                self.cls = cls
                self.x = x

            def __repr__(self) -> str:
                fmt = "{.__name__}.{.__name__}({!r})".format
                return fmt(self.cls, type(self), self.x)

    with lineprofile(also=[Object], reporters=[collect]) as lp:
        obj = Object.method(1)
        assert obj.cls == Object
        assert obj.x == 1
        assert repr(obj) == "Object.method(1)"
    nhits = {
        name.rpartition(".")[2]: sum(hits for (_line, hits, _time) in entries)
        for (_file, _line, name), entries in lp.record.stats.timings.items()
    }
    assert nhits["__init__"] == nhits["__repr__"] == 2


@pytest.mark.parametrize(
    "func",
    [len, "string".split, vars(int)["from_bytes"], str.split, (1).__str__, int.__repr__],
    ids=["builtin", "builtin-method", "classmethod-descriptor", "method-descriptor", "method-wrapper",
         "wrapper-descriptor"],
)
def test_profiler_c_callable_no_op(func: Any) -> None:
    """Port of line_profiler tests/test_line_profiler.py::test_profiler_c_callable_no_op: the deliberate difference.

    line_profiler returns a C callable unchanged (decorating it is a no-op).
    profiletools fails at decoration instead (bad arguments fail early), with a
    ``TypeError`` saying C functions have no lines to time.
    """
    with pytest.raises(TypeError, match="C functions and builtins have no lines to time"):
        lineprofile(func)
    with pytest.raises(TypeError, match="C functions and builtins have no lines to time"):
        lineprofile(also=[func])


@pytest.mark.skipif(sys.version_info < (3, 12), reason="sys.monitoring is new in 3.12")
def test_sys_monitoring(collect: reporters.Collect) -> None:
    """Port of line_profiler tests/test_line_profiler.py::test_sys_monitoring."""

    def get_profiling_tool_name() -> str | None:
        return sys.monitoring.get_tool(sys.monitoring.PROFILER_ID)  # type: ignore[attr-defined,no-any-return]

    wrapped = lineprofile(reporters=[collect])(get_profiling_tool_name)
    assert get_profiling_tool_name() is None
    assert wrapped() == "line_profiler"
    assert get_profiling_tool_name() is None


def test_profile_generated_code(collect: reporters.Collect) -> None:
    """Port of line_profiler tests/test_line_profiler.py::test_profile_generated_code."""
    generated_code_name = "<generated: 'test_fn'>"
    code_lines = ["def test_fn():", "    return 42"]
    linecache.cache[generated_code_name] = (0, None, [line + "\n" for line in code_lines], generated_code_name)
    namespace: dict[str, Any] = {}
    exec(compile("".join(line + "\n" for line in code_lines), generated_code_name, "exec"), namespace)
    profiled_fn = lineprofile(reporters=[collect])(namespace["test_fn"])
    assert profiled_fn() == 42
    output = collect.records[-1].text()
    for line in code_lines:
        assert line in output
    assert generated_code_name in output


def test_multiple_profilers_usage() -> None:
    """Port of line_profiler tests/test_line_profiler.py::test_multiple_profilers_usage."""
    seen1, seen2 = reporters.Collect(), reporters.Collect()
    prof1 = lineprofile(reporters=[seen1], aggregate=True)
    prof2 = lineprofile(reporters=[seen2], aggregate=True)

    def sum_n(n: int) -> int:
        x = 0
        for n in range(1, n + 1):
            x += n
        return x

    @prof1
    def sum_n_sq(n: int) -> int:
        x = 0
        for n in range(1, n + 1):
            x += n**2
        return x

    @prof2
    def sum_n_cb(n: int) -> int:
        x = 0
        for n in range(1, n + 1):
            x += n**3
        return x

    sum_n_wrapper_1 = prof1(sum_n)
    sum_n_wrapper_2 = prof2(sum_n_wrapper_1)
    assert sum_n_wrapper_2 is not sum_n_wrapper_1
    n = 400
    assert sum_n_wrapper_1(n) == 0.5 * n * (n + 1)
    assert sum_n_wrapper_2(n) == 0.5 * n * (n + 1)
    assert 6 * sum_n_sq(n) == n * (n + 1) * (2 * n + 1)
    assert sum_n_cb(n) == 0.25 * (n * (n + 1)) ** 2
    profiletools.flush()

    def timings(collect: reporters.Collect) -> dict[str, Any]:
        return {
            name.rpartition(".")[2]: entries
            for record in collect.records
            for (_file, _line, name), entries in record.stats.timings.items()
        }

    t1, t2 = timings(seen1), timings(seen2)
    assert set(t1) == {"sum_n_sq", "sum_n"}
    assert set(t2) == {"sum_n_cb", "sum_n"}
    # prof1 is active when either wrapper is called, prof2 only in sum_n_wrapper_2()
    assert t1["sum_n"][2][1] == 2 * n
    assert t2["sum_n"][2][1] == n
    assert t1["sum_n_sq"][2][1] == n
    assert t2["sum_n_cb"][2][1] == n


def test_duplicate_code_objects(collect: reporters.Collect) -> None:
    """Port of line_profiler tests/test_line_profiler.py::test_duplicate_code_objects.

    Two executions of one source give two functions with equal code: their
    data meet under one key when the records' ``LineStats`` are added.
    """
    code = textwrap.dedent("""
        @profile
        def func(n):
            x = 0
            for n in range(1, n + 1):
                x += n
            return x
    """).strip("\n")
    profile = lineprofile(reporters=[collect], aggregate=True)
    namespace_1: dict[str, Any] = {"profile": profile}
    exec(code, namespace_1)
    assert namespace_1["func"](10) == 10 * 11 // 2
    namespace_2: dict[str, Any] = {"profile": profile}
    exec(code, namespace_2)
    assert namespace_2["func"](20) == 20 * 21 // 2
    profiletools.flush()
    combined = functools.reduce(operator.add, (record.stats for record in collect.records))
    (entries,) = combined.timings.values()
    assert entries[-2][1] == 10 + 20


_CLASHING_TEMPLATE = """
def {}(n):  # Any function using this compiles to the same bytecode
    x = 0
    for n in range(1, n + 1):
        x += n
    return x
"""


def test_nonprofiled_clashing_bytecodes(tmp_path: Path) -> None:
    """Port of line_profiler tests/test_line_profiler.py::test_nonprofiled_clashing_bytecodes.

    A block naming an imported function that is not called, around a call of a
    function with the same bytecode and line numbers: the table has the named
    function, without data. In a fresh interpreter, as the peer runs it.
    """
    syspath = tmp_path / "syspath"
    syspath.mkdir()
    (syspath / "my_module.py").write_text(
        "'''\nThis docstring is fluff to make the function definitions overlap in\nline numbers.\n'''\n\n\n"
        + _CLASHING_TEMPLATE.strip("\n").format("profiled_func") + "\n"
    )
    script = tmp_path / "my-script.py"
    script.write_text(
        "from profiletools import lineprofile, reporters\nfrom my_module import profiled_func\n\n\n"
        + _CLASHING_TEMPLATE.strip("\n").format("nonprofiled_func")
        + "\n\n\nif __name__ == '__main__':\n"
        + "    dump = reporters.Dump('out')\n"
        + "    with lineprofile(profiled_func, reporters=[dump]):\n"
        + "        nonprofiled_func(10)\n"
        + "    print(dump.written[-1])\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(syspath), os.getcwd()])}
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    stats = LineStats.from_files(str(tmp_path / done.stdout.strip()))
    (((_file, _line, func_name), data),) = stats.timings.items()
    assert func_name == "profiled_func"
    assert not data


_BYTECODE_OPS = [
    # replication of the problematic case of line_profiler issue #350
    "func1:prof_all-func2:prof_some:prof_all-func3:prof_all-func4:prof_some:prof_all",
    # the order of decoration inverted
    "func1:prof_all-func2:prof_all:prof_some-func3:prof_all-func4:prof_all:prof_some",
    # more profiler stacks
    "func1:p1:p2-func2:p2:p3-func3:p3:p4-func4:p4:p1",
    "func1:p1:p2:p3-func2:p2:p3:p4-func3:p3:p4:p1-func4:p4:p1:p2",
    "func1:p1:p2:p3-func2:p4:p3:p2-func3:p3:p4:p1-func4:p2:p1:p4",
    # naive padding would give func1 and func2 the same bytecode
    "func1:p1:p2-func2:p3-func1:p4:p3",
    # double decoration
    "func1:p1:p2-func2:p2:p3-func3:p3:p4-func4:p4:p1-func1:p1",
]

_NUMBERED_FUNC = """
def func{0}():
    result = []
    for _ in range({0}):
        result.append({0})
    return result
"""


def _numbered_functions(tmp_path: Path, same_line_numbers: bool) -> dict[str, Any]:
    """func1 ... func4: each alone in its own file (all at line 1), or one after another in one file."""
    sources = {f"func{i}.py": _NUMBERED_FUNC.strip("\n").format(i) for i in (1, 2, 3, 4)}
    if not same_line_numbers:
        sources = {"funcs.py": "\n\n".join(sources.values())}
    funcs: dict[str, Any] = {}
    for name, source in sources.items():
        filename = tmp_path / name
        filename.write_text(source + "\n")
        exec(compile(source, str(filename), "exec"), funcs)
    return funcs


@pytest.mark.parametrize("force_same_line_numbers", [True, False])
@pytest.mark.parametrize("ops", _BYTECODE_OPS)
def test_multiple_profilers_identical_bytecode(tmp_path: Path, ops: str, force_same_line_numbers: bool) -> None:
    """Port of line_profiler tests/test_line_profiler.py::test_multiple_profilers_identical_bytecode."""
    funcs = _numbered_functions(tmp_path, force_same_line_numbers)
    decorated_by: dict[str, set[str]] = {f"func{i}": set() for i in (1, 2, 3, 4)}
    profilers: dict[str, tuple[Any, reporters.Collect]] = {}
    for op in ops.split("-"):
        func_id, *names = op.split(":")
        decorated_by[func_id].update(names)
        for name in names:
            if name not in profilers:
                seen = reporters.Collect()
                profilers[name] = (lineprofile(reporters=[seen], aggregate=True), seen)
            funcs[func_id] = profilers[name][0](funcs[func_id])
    assert funcs["func1"]() == [1]
    assert funcs["func2"]() == [2, 2]
    assert funcs["func3"]() == [3, 3, 3]
    assert funcs["func4"]() == [4, 4, 4, 4]
    profiletools.flush()
    for name, (_probe, seen) in sorted(profilers.items()):
        output = all_text(seen)
        for func_id, names in decorated_by.items():
            profiled = name in names
            headers = [line for line in output.splitlines() if line.startswith("Function: ")]
            assert any(func_id in line for line in headers) == profiled, (name, func_id)
            nloops = func_id[len("func"):]
            rows = [line for line in output.splitlines() if line.endswith(f"result.append({nloops})")]
            assert bool(rows) == profiled, (name, func_id)
            if profiled:
                assert rows[0].split()[1] == nloops, (name, func_id, rows)


def test_aggregate_profiling_data_between_code_versions() -> None:
    """Port of line_profiler tests/test_line_profiler.py::test_aggregate_profiling_data_between_code_versions."""

    def func(n: int) -> int:
        x = 0
        for n in range(1, n + 1):
            x += n
        return x

    seen1, seen2 = reporters.Collect(), reporters.Collect()
    wrapper1 = lineprofile(reporters=[seen1], aggregate=True)(func)
    assert wrapper1(10) == 10 * 11 // 2
    wrapper2 = lineprofile(reporters=[seen2], aggregate=True)(wrapper1)
    assert wrapper2(15) == 15 * 16 // 2
    profiletools.flush()
    for seen, count in (seen1, 25), (seen2, 15):
        loop_body = next(line for line in all_text(seen).splitlines() if line.endswith("x += n"))
        assert loop_body.split()[1] == str(count)


class MyException(Exception):
    pass


def test_profiling_exception(collect: reporters.Collect) -> None:
    """Port of line_profiler tests/test_line_profiler.py::test_profiling_exception."""
    prof = lineprofile(reporters=[collect], aggregate=True)
    appended: list[int] = []

    @prof
    def func_raise() -> None:
        pass
        raise MyException  # Raise: raise
        appended.append(0)

    @prof
    def func_try_finally() -> None:
        try:
            raise MyException  # Try-finally: try
        finally:
            appended.append(1)  # Try-finally: finally

    @prof
    def func_try_except_finally(reraise: bool) -> None:
        try:
            raise MyException  # Try-except-finally: try
        except MyException:
            appended.append(2)  # Try-except-finally: except
            if reraise:
                raise
        finally:
            appended.append(3)  # Try-except-finally: finally

    for func in [
        func_raise,
        func_try_finally,
        functools.partial(func_try_except_finally, True),
        functools.partial(func_try_except_finally, False),
    ]:
        with contextlib.suppress(MyException):
            func()
    profiletools.flush()
    result = all_text(collect)
    assert appended == [1, 2, 3, 2, 3]
    for stmt, nhits in [("raise", 1), ("try-finally", 1), ("try-except-finally", 2)]:
        for step in stmt.split("-"):
            comment = f"# {stmt.capitalize()}: {step}"
            line = next(line for line in result.splitlines() if line.endswith(comment))
            assert line.split()[1] == str(nhits), comment


def _summed(n: int) -> int:
    x = 0
    for i in range(n):
        x += i
    return x


@pytest.mark.parametrize("n", [1, 2])
def test_load_stats_files(tmp_path: Path, n: int) -> None:
    """Port of line_profiler tests/test_line_profiler.py::test_load_stats_files (its ``legacy=False`` case).

    The ``.lprof`` files ``Dump`` writes load with ``LineStats.from_files``,
    one or several at once, into the sum of the records' stats; with two,
    ``profiletools merge`` gives the same sum.
    """
    seen = reporters.Collect()
    dump = reporters.Dump(tmp_path)
    profiled = lineprofile(reporters=[dump, seen])(_summed)
    for size in (3, 4)[:n]:
        profiled(size)
    files = list(dump.written)
    assert len(files) == n and all(name.endswith(".lprof") for name in files)
    combined = functools.reduce(operator.add, (record.stats for record in seen.records))
    assert LineStats.from_files(*files) == combined
    if n == 2:
        merged = tmp_path / "merged.lprof"
        done = subprocess.run(
            [sys.executable, "-m", "profiletools", "merge", *files, "-o", str(merged)],
            capture_output=True, text=True, timeout=60, check=False,
        )
        assert done.returncode == 0, done.stderr
        assert LineStats.from_files(str(merged)) == combined


# -- tests/test_duplicate_functions.py, tests/test_explicit_profile.py -------------------------------


def test_duplicate_function(collect: reporters.Collect) -> None:
    """Port of line_profiler tests/test_duplicate_functions.py::test_duplicate_function.

    Three methods with the same bytecode (line_profiler issue #232) are told apart.
    """

    class C:
        def f1(self) -> None:
            pass

        def f2(self) -> None:
            pass

        def f3(self) -> None:
            pass

    with lineprofile(C.f1, C.f2, C.f3, reporters=[collect]) as lp:
        C().f1()
        C().f3()
        C().f3()
    timings = lp.record.stats.timings
    hits = {name.rpartition(".")[2]: [row[1] for row in rows] for (_file, _line, name), rows in timings.items()}
    assert hits == {"f1": [1], "f2": [], "f3": [2]}


def test_simple_explicit_nonglobal_usage(collect: reporters.Collect) -> None:
    """Port of line_profiler tests/test_explicit_profile.py::test_simple_explicit_nonglobal_usage."""

    def func(a: int) -> int:
        return a + 1

    profiled_func = lineprofile(reporters=[collect])(func)
    assert profiled_func(1) == 2
    (record,) = collect.records
    assert hits_by_offset(record, func) == {1: 1}
    assert "return a + 1" in record.text()


def test_explicit_profile_with_duplicate_functions(tmp_path: Path) -> None:
    """Port of line_profiler tests/test_explicit_profile.py::test_explicit_profile_with_duplicate_functions.

    Four decorated functions with identical bytecode each print their own
    table (with the default reporter, to stderr), in a fresh interpreter.
    """
    code = textwrap.dedent("""
        from profiletools import lineprofile

        @lineprofile
        def func1(a):
            return a + 1

        @lineprofile
        def func2(a):
            return a + 1

        @lineprofile
        def func3(a):
            return a + 1

        @lineprofile
        def func4(a):
            return a + 1

        func1(1)
        func2(1)
        func3(1)
        func4(1)
    """)
    script = tmp_path / "script.py"
    script.write_text(code)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    for name in ("func1", "func2", "func3", "func4"):
        assert f"Function: {name} at line" in done.stderr
    assert done.stderr.count("return a + 1") == 4


def test_profiler_add_class_recursion_guard(collect: reporters.Collect) -> None:
    """Port of line_profiler tests/test_explicit_profile.py::test_profiler_add_class_recursion_guard: a difference.

    Classes referring to each other (and to themselves) are followed once,
    without recursing forever. ``also=[Class1]`` times what line_profiler's
    decorator of a class (its ``add_callable(cls)``) times: the methods
    defined in ``Class1`` and in the classes nested in it. line_profiler's
    ``add_class``, which the peer test calls, also times the classes
    ``Class1`` merely refers to when they come from the same module
    (``Class2`` here); ``lineprofile`` has one rule for a class, the
    decorator's, and documents it (docs/lineprofile.md).
    """
    from line_profiler import LineProfiler

    class Class1:
        def method1(self) -> None:
            pass

        class ChildClass1:
            def child_method_1(self) -> None:
                pass

    class Class2:
        def method2(self) -> None:
            pass

        class ChildClass2:
            def child_method_2(self) -> None:
                pass

        OtherClass = Class1
        YetAnotherClass = Class1  # a duplicate reference changes nothing

    Class1.ThisClass = Class1  # type: ignore[attr-defined]
    Class1.OtherClass = Class2  # type: ignore[attr-defined]

    with lineprofile(also=[Class1], reporters=[collect]) as lp:
        pass
    names = sorted(name.rpartition(".")[2] for (_file, _line, name) in lp.record.stats.timings)
    assert names == ["child_method_1", "method1"]
    decorator = LineProfiler()
    decorator.add_callable(Class1)  # what @profile on Class1 times
    assert sorted(function.__name__ for function in decorator.functions) == names
    add_class = LineProfiler()
    add_class.add_class(Class1)  # the peer test's call: the referred-to Class2 too
    expected = sorted([*names, "child_method_2", "method2"])
    assert sorted(function.__name__ for function in add_class.functions) == expected


def test_async_func_autoprofile(collect: reporters.Collect) -> None:
    """Port of line_profiler tests/test_autoprofile.py::test_async_func_autoprofile, decorated by hand.

    Six concurrent calls of a coroutine on one event loop: each gets its own
    record with each line run once; the functions all have their tables.
    """
    profile = lineprofile(reporters=[collect])

    @profile
    async def foo(finished: list[int], x: int, delay: float = 0.0625) -> int:
        delay *= x
        result = await asyncio.sleep(delay, result=x)
        finished.append(result)
        return result

    @profile
    async def bar() -> tuple[list[int], list[int]]:
        finished: list[int] = []
        coroutines = [foo(finished, x) for x in range(5, -1, -1)]
        return (await asyncio.gather(*coroutines)), finished

    @profile
    def main() -> tuple[list[int], list[int]]:
        return asyncio.run(bar())

    in_scheduling_order, in_finishing_order = main()
    assert in_scheduling_order == [5, 4, 3, 2, 1, 0]
    assert in_finishing_order == [0, 1, 2, 3, 4, 5]
    output = all_text(collect)
    for name in ("main", "foo", "bar"):  # qualified names from 3.11 (co_qualname)
        assert re.search(rf"^Function: (\S+\.)?{name} at line", output, re.MULTILINE), name
    foo_records = [record for record in collect.records if record.name.endswith("foo")]
    assert len(foo_records) == 6
    assert all(hits_by_offset(record, foo) == {2: 1, 3: 1, 4: 1, 5: 1} for record in foo_records)
