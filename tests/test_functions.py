"""Naming profiled functions ``module:qualname``: the compiler's qualnames, modules from ``sys.modules`` or paths."""

from __future__ import annotations

import cProfile
import importlib
import inspect
import sys
import types
from pathlib import Path

import pytest

import profiletools
from profiletools.core import functions
from profiletools.core.functions import FunctionName, NamePattern, function_name, module_from_path, qualnames_in

#: Every kind of scope the compiler names, nested in every way (definitions and their qualnames must agree).
TRICKY = '''
import functools

def plain():
    return [lambda: 1 for _ in range(2)]

@functools.lru_cache
@staticmethod
def decorated(x=lambda: 0):
    def inner():
        class Local:
            def method(self):
                return (y for y in ())
        return Local
    return inner

class Outer:
    attribute = [z for z in range(3)]

    class Inner:
        async def coroutine(self):
            return {k: v for k, v in {}.items()}

    @property
    def value(self):
        return sorted([], key=lambda item: item)

    def __private(self):
        global promoted

        def promoted():
            return 1
        return {s for s in ()}

def uses_first_iterable():
    return [w for w in (lambda: [1])()]
'''
if sys.version_info >= (3, 12):
    TRICKY += '''
def generic[T: int](value: T) -> T:
    type Alias[U] = list[U]
    return value

class Box[V]:
    def get[W](self) -> W: ...
'''


def code_objects(code: types.CodeType) -> list[types.CodeType]:
    found = [code]
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            found += code_objects(constant)
    return found


def compiled_qualnames(source: str) -> dict[tuple[int, str], str]:
    """What the compiler says (``co_qualname``, 3.11+) for each key it gives one code object."""
    found: dict[tuple[int, str], set[str]] = {}
    for code in code_objects(compile(source, "<tricky>", "exec")):
        found.setdefault((code.co_firstlineno, code.co_name), set()).add(code.co_qualname)  # type: ignore[attr-defined]
    # keys of two code objects (comprehensions nested on one line) are one row in a profile too: no name is right
    return {key: qualnames.pop() for key, qualnames in found.items() if len(qualnames) == 1}


@pytest.mark.skipif(sys.version_info < (3, 11), reason="co_qualname is 3.11+")
@pytest.mark.parametrize("module", ["tricky", "profiletools", "json", "asyncio", "dataclasses", "email", "typing"])
def test_qualnames_from_source_are_the_compilers(module: str) -> None:
    if module == "tricky":
        sources = [TRICKY]
    else:
        root = Path(importlib.import_module(module).__file__)  # type: ignore[arg-type]
        files = sorted(root.parent.rglob("*.py")) if root.name == "__init__.py" else [root]
        sources = [path.read_text(encoding="utf-8") for path in files]
    checked = 0
    for source in sources:
        expected = compiled_qualnames(source)
        found = qualnames_in(source)
        wrong = {key: (qualname, found.get(key)) for key, qualname in expected.items() if found.get(key) != qualname}
        assert not wrong
        checked += len(expected)
    assert checked > 10


def test_qualnames_on_every_version_agree_with_the_functions_made() -> None:
    namespace: dict[str, object] = {}
    exec(compile(TRICKY, "<tricky>", "exec"), namespace)
    names = qualnames_in(TRICKY)
    outer = namespace["Outer"]
    made = [
        namespace["plain"], namespace["uses_first_iterable"], outer.value.fget,  # type: ignore[attr-defined]
        outer.Inner.coroutine, outer._Outer__private,  # type: ignore[attr-defined]
        namespace["decorated"].__wrapped__.__func__,  # type: ignore[attr-defined]
    ]
    for function in made:
        code = function.__code__  # type: ignore[attr-defined]
        assert names[(code.co_firstlineno, code.co_name)] == function.__qualname__  # type: ignore[attr-defined]
    local = namespace["decorated"].__wrapped__.__func__()()  # type: ignore[attr-defined]
    assert names[(local.method.__code__.co_firstlineno, "method")] == local.method.__qualname__
    assert names[(12, "method")] == "decorated.<locals>.inner.<locals>.Local.method"
    if sys.version_info >= (3, 11):  # 3.10 cannot tell a global def from its code (documented)
        assert names[(31, "promoted")] == "promoted"


class Index:
    """A class whose methods the profile below names."""

    def query(self, word: str) -> list[int]:
        return [len(word)]

    @staticmethod
    def tokens(text: str) -> list[str]:
        return text.split()


def search(text: str) -> list[list[int]]:
    index = Index()
    return [index.query(word) for word in Index.tokens(text)]


def test_a_real_profile_names_methods_nested_functions_and_builtins() -> None:
    profiler = cProfile.Profile()
    profiler.runcall(search, "a bb")
    profiler.create_stats()
    names = {str(function_name(key)): stats[1] for key, stats in profiler.stats.items()}  # type: ignore[attr-defined]
    assert names["tests.test_functions:search"] == 1
    assert names["tests.test_functions:Index.query"] == 2
    assert names["tests.test_functions:Index.tokens"] == 1
    assert names["builtins:len"] == 2 and names["builtins:str.split"] == 1
    if sys.version_info < (3, 12):  # 3.12 inlines list comprehensions
        assert names["tests.test_functions:search.<locals>.<listcomp>"] == 1


def test_modules_come_from_sys_modules_then_from_the_path(tmp_path: Path) -> None:
    assert functions.module_of(inspect.getfile(search)) == "tests.test_functions"
    assert functions.module_of(profiletools.__file__) == "profiletools"
    package = tmp_path / "app" / "web"
    package.mkdir(parents=True)
    for folder in (tmp_path / "app", package):
        (folder / "__init__.py").write_text("")
    (package / "views.py").write_text("def index():\n    return 1\n")
    (tmp_path / "script.py").write_text("")
    assert module_from_path(str(package / "views.py")) == "app.web.views"
    assert module_from_path(str(package / "__init__.py")) == "app.web"
    assert module_from_path(str(tmp_path / "script.py")) == "script"
    assert module_from_path("/gone/venv/lib/python3.12/site-packages/requests/api.py") == "requests.api"
    assert module_from_path("/gone/checkout/tool.py") == "tool"
    assert functions.module_of("<string>") == "<string>"
    key = (str(package / "views.py"), 1, "index")
    assert str(function_name(key)) == "app.web.views:index"


def test_the_source_unavailable_or_changed_falls_back_to_the_code_name(tmp_path: Path) -> None:
    assert str(function_name((str(tmp_path / "missing.py"), 3, "run"))) == "missing:run"
    assert str(function_name((inspect.getfile(search), 1, "search"))) == "tests.test_functions:search"


def test_builtin_labels() -> None:
    assert function_name(("~", 0, "<built-in method time.sleep>")) == FunctionName("time", "sleep")
    assert function_name(("~", 0, "<method 'append' of 'list' objects>")) == FunctionName("builtins", "list.append")
    assert function_name(("~", 0, "<method 'read' of '_io.BufferedReader' objects>")) == FunctionName(
        "_io", "BufferedReader.read"
    )
    assert str(function_name(("~", 0, "<something else>"))) == "<something else>"


@pytest.mark.parametrize(("pattern", "module", "qualname", "matches"), [
    ("app.index:Index.query", "app.index", "Index.query", True),
    ("app.index:Index.query", "app.other", "Index.query", False),
    ("Index.query", "anywhere", "Index.query", True),
    ("query", "app.index", "Index.query", True),  # whole dotted parts from the right
    ("index:query", "app.index", "Index.query", True),
    ("index:query", "app.reindex", "requery", False),
    ("ery", "app.index", "Index.query", False),
    ("*.query", "app.index", "Index.query", True),
    ("app.*:*", "app.index", "Index.query", True),
    ("app.*:*", "apps", "f", False),
    ("builtins:len", "builtins", "len", True),
    ("len", "builtins", "len", True),
])
def test_patterns(pattern: str, module: str, qualname: str, matches: bool) -> None:
    assert NamePattern.parse(pattern, "budget_calls").matches(FunctionName(module, qualname)) is matches


@pytest.mark.parametrize("bad", ["", "  ", 3, None, ("a",), "app:", ":query"])
def test_bad_patterns_name_the_argument(bad: object) -> None:
    with pytest.raises(TypeError, match=r"^budget_calls: .* names no function; a pattern is 'module:qualname'"):
        NamePattern.parse(bad, "budget_calls")
