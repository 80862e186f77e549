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

**qualname**: neither cProfile nor line_profiler keeps the code object, so
the file's source is compiled again and the code object of that name starting
on that line gives its ``co_qualname`` (3.11+; on 3.10 the qualname is made
by the compiler's rule: ``Class.``, ``function.<locals>.``, see
:func:`code_objects`). The source is read through ``linecache``, so files on
disk, doctests and IPython cells all work. Where the source is missing or has
changed since the function was compiled (no code object of that name starts
on that line), the qualname is ``co_name``. Two code objects with one key
(two lambdas on one line) are one row of a profile too; the first names it.

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

import fnmatch
import inspect
import linecache
import os
import re
import sys
import threading
import types
import warnings
from collections.abc import Iterator
from typing import NamedTuple

#: A function as profilers key it: ``(co_filename, co_firstlineno, co_name)``.
FuncKey = tuple[str, int, str]

_BUILTIN_FUNCTION = re.compile(r"^<built-in method (?P<module>[\w.]+)\.(?P<name>\w+)>$")
_METHOD_DESCRIPTOR = re.compile(r"^<method '(?P<name>\w+)' of '(?P<type>[\w.]+)' objects>$")


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

#: Per file: the ``linecache`` lines the names were made from, and ``(first line, co_name) -> qualname``.
_qualnames: dict[str, tuple[list[str], dict[tuple[int, str], str]]] = {}
_COMPREHENSIONS = frozenset(("<listcomp>", "<setcomp>", "<dictcomp>", "<genexpr>"))


def qualname_of(filename: str, first_line: int, name: str) -> str:
    """The qualified name of the code object ``name`` starting at ``first_line`` of ``filename`` (else ``name``)."""
    lines = linecache.getlines(filename)
    cached = _qualnames.get(filename)
    if cached is None or cached[0] is not lines:
        cached = _qualnames[filename] = (lines, qualnames_in("".join(lines), filename))
    return cached[1].get((first_line, name), name)


def qualnames_in(source: str, filename: str = "<source>") -> dict[tuple[int, str], str]:
    """``(first line, co_name) -> qualname`` of every code object ``source`` compiles to (``{}`` if it does not).

    A key two code objects share (two lambdas on one line) keeps the first's.

    >>> names = qualnames_in("class A:\\n    @staticmethod\\n    def f():\\n        return lambda: 1\\n")
    >>> names[(1, "A")], names[(2, "f")], names[(4, "<lambda>")]
    ('A', 'A.f', 'A.f.<locals>.<lambda>')
    """
    try:
        with warnings.catch_warnings():  # the user's SyntaxWarnings were shown when Python compiled it
            warnings.simplefilter("ignore")
            code = compile(source, filename, "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return {}
    found: dict[tuple[int, str], str] = {(code.co_firstlineno, code.co_name): code.co_name}
    for qualname, child in code_objects(code):
        found.setdefault((child.co_firstlineno, child.co_name), qualname)
    return found


def code_objects(code: types.CodeType, prefix: str = "") -> Iterator[tuple[str, types.CodeType]]:
    """Every code object inside ``code`` (nested ones too, depth first) with its qualified name.

    The name is ``co_qualname`` (3.11+); on 3.10 it is made by the compiler's
    rule from ``prefix``, the name of what encloses it: a class body adds
    ``Class.``, a function or lambda ``name.<locals>.``, a comprehension
    ``<listcomp>.`` (the one case 3.10 cannot tell from the code: a ``def``
    declared ``global`` in its function is named as if it were not).
    """
    for child in code.co_consts:
        if isinstance(child, types.CodeType):
            qualname = getattr(child, "co_qualname", None) or prefix + child.co_name
            yield qualname, child
            local = child.co_flags & inspect.CO_NEWLOCALS and child.co_name not in _COMPREHENSIONS
            yield from code_objects(child, qualname + (".<locals>." if local else "."))


# -- patterns ---------------------------------------------------------------------------------------


class NamePattern(NamedTuple):
    """A pattern naming functions: ``module:qualname``, a bare ``qualname``, or a glob of either.

    Each part matches whole dotted names from the right: ``index:query`` names
    ``app.index:Index.query`` too (the module's and the qualname's last parts),
    but not ``app.reindex:requery``. A pattern matching more functions than
    meant is loud (their calls add up, and the message lists them); one
    matching none would limit nothing.

    >>> pattern = NamePattern.parse("inverted:*Offset*", "budget_calls")
    >>> pattern.matches(FunctionName("inverted", "getOffsetUpToWord"))
    True
    >>> pattern.matches(FunctionName("other", "getOffset"))
    False
    >>> NamePattern.parse("index:query", "budget_calls").matches(FunctionName("app.index", "Index.query"))
    True
    """

    text: str
    module: str | None
    qualname: str

    @classmethod
    def parse(cls, text: object, argument: str) -> NamePattern:
        """Validate a pattern; errors name ``argument`` and what is allowed."""
        module, colon, qualname = text.partition(":") if isinstance(text, str) else ("", "", "")
        if not colon:
            module, qualname = "", module
        if not isinstance(text, str) or not qualname.strip() or (colon and not module.strip()):
            raise TypeError(
                f"{argument}: {text!r:.60} names no function; a pattern is 'module:qualname', 'qualname' or a "
                f"glob of either, such as 'app.index:Index.*'"
            )
        return cls(text, module if colon else None, qualname)

    def matches(self, name: FunctionName) -> bool:
        """Whether the function called ``name`` is one this pattern names."""
        if self.module is not None and not _ends_with(name.module, self.module):
            return False
        return _ends_with(name.qualname, self.qualname)


def _ends_with(dotted: str, pattern: str) -> bool:
    """Whether ``dotted`` is ``pattern`` or ends with ``.`` and ``pattern`` (a glob, maybe)."""
    if any(char in pattern for char in "*?["):
        return fnmatch.fnmatchcase(dotted, pattern) or fnmatch.fnmatchcase(dotted, "*." + pattern)
    return dotted == pattern or dotted.endswith("." + pattern)
