"""Naming the functions profilers count: ``module:qualname`` from a ``(file, first line, name)`` key.

cProfile (``pstats``) and line_profiler key a function by three fields of its
code object: ``co_filename``, ``co_firstlineno`` and ``co_name``. That is not
the name a person writes: ``co_name`` of a method is ``"query"``, not
``"Index.query"``, and there is no module at all. Budgets and baselines name
functions as ``module:qualname`` (``"inverted:Index.query"``), so the key is
mapped here:

**module**: the module of ``sys.modules`` whose ``__file__`` is the key's
file: the name the running program imported it under (a script run as a
program is ``__main__``). A file no loaded module comes from (a dump read by
another process) is named from its path, as the import system would: the
file's stem, prefixed by each enclosing folder that holds an ``__init__.py``
(``app/search.py`` in a package ``app`` is ``app.search``); a path that does
not exist on this machine keeps what follows ``site-packages`` or, failing
that, its stem. Pseudo-files (``<string>``, ``<doctest ...>``) keep their name.

**qualname**: the qualified name the compiler gives the code object
(``co_qualname`` on 3.11+, ``__qualname__`` of its function), computed from the
source with the compiler's own rule, because neither cProfile nor
line_profiler keeps the code object: a class body adds ``Class.``, a function
adds ``function.<locals>.``, a name declared ``global`` in its enclosing scope
starts afresh, and a code object's first line is the line of its first
decorator. The source is read through ``linecache``, so files on disk,
doctests and IPython cells all work. Where the source is missing or has
changed since the function was compiled (no code object of that name starts
on that line), the qualname is ``co_name``.

Built-in functions are keyed ``("~", 0, label)`` by cProfile:
``<built-in method time.sleep>`` is ``time:sleep``, ``<method 'append' of
'list' objects>`` is ``builtins:list.append``; other labels are kept whole,
without a module.

>>> import inspect
>>> key = (inspect.getsourcefile(function_name), function_name.__code__.co_firstlineno, "function_name")
>>> str(function_name(key))
'profiletools.core.functions:function_name'
>>> str(function_name(("~", 0, "<method 'append' of 'list' objects>")))
'builtins:list.append'
"""

from __future__ import annotations

import ast
import fnmatch
import linecache
import os
import re
import sys
import threading
from typing import NamedTuple

#: A function as profilers key it: ``(co_filename, co_firstlineno, co_name)``.
FuncKey = tuple[str, int, str]

_BUILTIN_FUNCTION = re.compile(r"^<built-in method (?P<module>[\w.]+)\.(?P<name>\w+)>$")
_METHOD_DESCRIPTOR = re.compile(r"^<method '(?P<name>\w+)' of '(?P<type>[\w.]+)' objects>$")
#: Code objects of comprehensions (before 3.12, which inlines list, set and dict comprehensions).
_COMPREHENSIONS: dict[type[ast.AST], str] = {ast.GeneratorExp: "<genexpr>"}
if sys.version_info < (3, 12):
    _COMPREHENSIONS.update({ast.ListComp: "<listcomp>", ast.SetComp: "<setcomp>", ast.DictComp: "<dictcomp>"})
#: ``type X = ...`` (3.12+): its value is a code object named ``X``.
_TYPE_ALIAS: tuple[type[ast.AST], ...] = (ast.TypeAlias,) if sys.version_info >= (3, 12) else ()  # type: ignore[attr-defined]
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda, *_COMPREHENSIONS)


class FunctionName(NamedTuple):
    """A function's ``module`` and ``qualname``; ``str()`` is ``module:qualname`` (the qualname without a module)."""

    module: str
    qualname: str

    def __str__(self) -> str:
        return f"{self.module}:{self.qualname}" if self.module else self.qualname


def function_name(key: FuncKey) -> FunctionName:
    """The ``module:qualname`` of a profiler's function key (see the module docstring for the rule)."""
    filename, first_line, name = key
    if filename == "~" or (first_line == 0 and name.startswith("<")):
        return builtin_name(name)
    return FunctionName(module_of(filename), qualname_of(filename, first_line, name))


def builtin_name(label: str) -> FunctionName:
    """The name of a built-in as cProfile labels it.

    >>> str(builtin_name("<built-in method time.sleep>")), str(builtin_name("<built-in method builtins.len>"))
    ('time:sleep', 'builtins:len')
    >>> str(builtin_name("<method 'read' of '_io.BufferedReader' objects>"))
    '_io:BufferedReader.read'
    """
    match = _BUILTIN_FUNCTION.match(label)
    if match is not None:
        return FunctionName(match["module"], match["name"])
    match = _METHOD_DESCRIPTOR.match(label)
    if match is not None:
        module, _, type_name = match["type"].rpartition(".")
        return FunctionName(module or "builtins", f"{type_name}.{match['name']}")
    return FunctionName("", label)


# -- modules ----------------------------------------------------------------------------------

_lock = threading.Lock()
_loaded: dict[str, str] = {}  # file (as given and absolute) -> module name, from sys.modules
_loaded_from = 0  # len(sys.modules) when _loaded was built
_by_path: dict[str, str] = {}


def module_of(filename: str) -> str:
    """The module ``filename`` is (see the module docstring): from ``sys.modules``, else from the path."""
    global _loaded, _loaded_from
    if filename.startswith("<") and filename.endswith(">"):
        return filename
    found = _loaded.get(filename)
    if found is None and len(sys.modules) != _loaded_from:
        with _lock:
            _loaded, _loaded_from = _modules_by_file(), len(sys.modules)
        found = _loaded.get(filename) or _loaded.get(os.path.abspath(filename))
    if found is not None:
        return found
    named = _by_path.get(filename)
    if named is None:
        named = _by_path[filename] = module_from_path(filename)
    return named


def _modules_by_file() -> dict[str, str]:
    """Every loaded module's file (as given and absolute) -> its name; a module's own name wins over ``__main__``."""
    found: dict[str, str] = {}
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if not isinstance(file, str) or not file.endswith(".py"):
            continue
        for path in {file, os.path.abspath(file)}:
            if path not in found or found[path] == "__main__":
                found[path] = name
    return found


def module_from_path(filename: str) -> str:
    """A module name from a file's path alone: the import system's rule for packages (``__init__.py``).

    >>> module_from_path("/nowhere/lib/python3.12/site-packages/requests/api.py")
    'requests.api'
    >>> module_from_path(__file__)
    'profiletools.core.functions'
    """
    path = os.path.abspath(filename)
    folder, base = os.path.split(path)
    stem = os.path.splitext(base)[0]
    if not os.path.exists(path):
        parts = filename.replace("\\", "/").split("/")
        for marker in ("site-packages", "dist-packages"):
            if marker in parts:
                tail = parts[len(parts) - parts[::-1].index(marker):]
                tail[-1] = os.path.splitext(tail[-1])[0]
                return ".".join(part for part in tail if part != "__init__") or stem
        return stem
    parts = [] if stem == "__init__" else [stem]
    while os.path.exists(os.path.join(folder, "__init__.py")):
        folder, package = os.path.split(folder)
        parts.insert(0, package)
        if not package:
            break
    return ".".join(parts) or stem


# -- qualified names ------------------------------------------------------------------------------

_qualnames: dict[str, tuple[list[str], dict[tuple[int, str], str]]] = {}


def qualname_of(filename: str, first_line: int, name: str) -> str:
    """The qualified name of the code object ``name`` starting at ``first_line`` of ``filename`` (else ``name``)."""
    lines = linecache.getlines(filename)
    cached = _qualnames.get(filename)
    if cached is None or cached[0] is not lines:
        cached = _qualnames[filename] = (lines, qualnames_in("".join(lines)))
    return cached[1].get((first_line, name), name)


def qualnames_in(source: str) -> dict[tuple[int, str], str]:
    """``(first line, co_name) -> qualname`` of every code object ``source`` compiles to (``{}`` if it does not parse).

    >>> names = qualnames_in("class A:\\n    @staticmethod\\n    def f():\\n        return lambda: 1\\n")
    >>> names[(1, "A")], names[(2, "f")], names[(4, "<lambda>")]
    ('A', 'A.f', 'A.f.<locals>.<lambda>')
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return {}
    found: dict[tuple[int, str], str] = {(1, "<module>"): "<module>"}
    _collect(tree, "", found)
    return found


def _collect(node: ast.AST, prefix: str, found: dict[tuple[int, str], str]) -> None:
    """Name the code objects inside ``node``'s own code; ``prefix`` is what their qualnames start with there."""
    declared_global = _globals_of(node) if isinstance(node, _DEFINITIONS) else set()
    for child in _scopes_inside(node):
        if isinstance(child, _DEFINITIONS):
            name = child.name
            first = child.decorator_list[0].lineno if child.decorator_list else child.lineno
        elif isinstance(child, ast.Lambda):
            name, first = "<lambda>", child.lineno
        elif isinstance(child, _TYPE_ALIAS):
            name, first = child.name.id, child.lineno  # type: ignore[attr-defined]
        else:
            name, first = _COMPREHENSIONS[type(child)], child.lineno  # type: ignore[attr-defined]
        qualname = name if name in declared_global else prefix + name
        found.setdefault((first, name), qualname)
        _type_parameters(child, name, first, prefix, found)
        local = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, *_TYPE_ALIAS))
        _collect(child, qualname + (".<locals>." if local else "."), found)


def _type_parameters(node: ast.AST, name: str, first: int, prefix: str, found: dict[tuple[int, str], str]) -> None:
    """3.12+ (PEP 695): the code objects of ``node``'s type parameters and their bounds."""
    parameters = getattr(node, "type_params", None)
    if not parameters:
        return
    found.setdefault((first, f"<generic parameters of {name}>"), f"{prefix}<generic parameters of {name}>")
    for parameter in parameters:
        if getattr(parameter, "bound", None) is not None:
            found.setdefault((parameter.lineno, parameter.name), prefix + parameter.name)


def _inner(node: ast.AST) -> list[ast.AST]:
    """The parts of ``node`` that run in its own code object (for a module, everything)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return list(node.body)
    if isinstance(node, ast.Lambda):
        return [node.body]
    if isinstance(node, _TYPE_ALIAS):
        return [node.value]  # type: ignore[attr-defined]
    if isinstance(node, (ast.GeneratorExp, ast.ListComp, ast.SetComp, ast.DictComp)) and type(node) in _COMPREHENSIONS:
        parts: list[ast.AST] = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
        for index, generator in enumerate(node.generators):
            parts += [generator.target, *generator.ifs, *([generator.iter] if index else [])]
        return parts
    return list(ast.iter_child_nodes(node))


def _outer(node: ast.AST) -> list[ast.AST]:
    """The parts of a scope that run in the enclosing code: decorators, defaults, annotations, bases, first iterable."""
    if isinstance(node, tuple(_COMPREHENSIONS)):
        return [node.generators[0].iter]  # type: ignore[attr-defined]
    inner = set(map(id, _inner(node)))
    return [child for child in ast.iter_child_nodes(node) if id(child) not in inner]


def _scopes_inside(node: ast.AST) -> list[ast.AST]:
    """The scopes (functions, classes, lambdas, comprehensions) directly inside ``node``'s own code, in order."""
    found: list[ast.AST] = []
    stack = list(reversed(_inner(node)))
    while stack:
        child = stack.pop()
        if isinstance(child, _SCOPES):
            found.append(child)
            stack.extend(reversed(_outer(child)))
        elif isinstance(child, _TYPE_ALIAS):
            found.append(child)
        else:
            stack.extend(reversed(list(ast.iter_child_nodes(child))))
    return found


def _globals_of(scope: ast.AST) -> set[str]:
    """The names ``scope`` declares ``global`` (in its own code, not in nested scopes)."""
    names: set[str] = set()
    stack = list(ast.iter_child_nodes(scope))
    while stack:
        child = stack.pop()
        if isinstance(child, ast.Global):
            names.update(child.names)
        elif not isinstance(child, _SCOPES):
            stack.extend(ast.iter_child_nodes(child))
    return names


# -- patterns ---------------------------------------------------------------------------------------


class NamePattern(NamedTuple):
    """A pattern naming functions: ``module:qualname``, a bare ``qualname``, or a glob of either.

    >>> pattern = NamePattern.parse("inverted:*Offset*", "budget_calls")
    >>> pattern.matches(FunctionName("inverted", "getOffsetUpToWord"))
    True
    >>> pattern.matches(FunctionName("other", "getOffset"))
    False
    >>> NamePattern.parse("Index.query", "budget_calls").matches(FunctionName("app.index", "Index.query"))
    True
    """

    text: str
    qualified: bool
    glob: bool

    @classmethod
    def parse(cls, text: object, argument: str) -> NamePattern:
        """Validate a pattern; errors name ``argument`` and what is allowed."""
        if not isinstance(text, str) or not text.strip():
            raise TypeError(
                f"{argument}: {text!r:.60} names no function; a pattern is 'module:qualname', 'qualname' or a "
                f"glob of either, such as 'app.index:Index.*'"
            )
        return cls(text, ":" in text, any(char in text for char in "*?["))

    def matches(self, name: FunctionName) -> bool:
        """Whether the function called ``name`` is one this pattern names."""
        subject = str(name) if self.qualified else name.qualname
        return fnmatch.fnmatchcase(subject, self.text) if self.glob else subject == self.text
