"""The ``-f`` targets of ``profiletools run``: naming, finding and reaching the functions to measure.

A target is ``module:qualname`` (imported before the program starts),
``file.py:qualname`` (the program itself, or a file importable from
``sys.path``), or a bare ``qualname`` of the program. The program's own
functions do not exist before it runs, so they are found in its compiled code
(every code object it defines, by qualified name) and reached in one of two
ways, decided by the tool:

* **timed by code object** (a tool that takes the functions to time, as
  ``lineprofile(f, g)`` does): the tool gets stand-in functions made from the
  program's code objects, and the program runs with the code objects the tool
  settled on (line_profiler gives each timed function bytecode of its own), so
  every function the program makes from them is timed, however it is called;
* **decorated** (every other tool): the program is compiled again with the
  tool's decorator added under each target's other decorators, as if the
  source said ``@tool`` right above ``def``; line numbers are unchanged.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import sys
import types
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from profiletools.cli.program import Program, ProgramError
from profiletools.core.functions import code_objects

#: The decorator each rewritten ``def`` asks for, by qualified name (set by the run before the program starts).
DECORATORS: dict[str, Callable[[Any], Any]] = {}


def decorator(qualname: str) -> Callable[[Any], Any]:
    """The decorator the run chose for the program's function ``qualname`` (called from rewritten code)."""
    return DECORATORS.get(qualname, _unchanged)


def _unchanged(function: Any) -> Any:
    return function


class Target(NamedTuple):
    """One ``-f`` target: ``module`` is ``None`` for a function of the program itself."""

    spec: str
    module: str | None
    qualname: str


# -- naming -----------------------------------------------------------------------------


def parse(spec: str, program: Program) -> Target:
    """Interpret one ``-f`` value (raises :class:`ProgramError` for one that names nothing)."""
    where, colon, qualname = spec.rpartition(":")
    if not colon:
        where, qualname = "", spec
    if not qualname or not all(part.isidentifier() or part == "<locals>" for part in qualname.split(".")):
        raise ProgramError(f"-f {spec}: expected module:function, file.py:function or function (Class.method)")
    if not where or where in ("__main__", program.module):
        return Target(spec, None, qualname)
    if where.endswith(".py") or os.sep in where or "/" in where:
        if _same_file(where, program.filename):
            return Target(spec, None, qualname)
        return Target(spec, _module_of_file(spec, where), qualname)
    return Target(spec, where, qualname)


def _same_file(path: str, other: str) -> bool:
    try:
        return os.path.samefile(path, other)
    except OSError:
        return False


def _module_of_file(spec: str, path: str) -> str:
    """The module name ``path`` is imported as from ``sys.path`` (set up for the program)."""
    if not os.path.isfile(path):
        raise ProgramError(f"-f {spec}: no such file {path!r}")
    full = os.path.realpath(path)
    for entry in sys.path:
        folder = os.path.realpath(entry or os.getcwd())
        if not full.startswith(folder + os.sep):
            continue
        parts = os.path.splitext(os.path.relpath(full, folder))[0].split(os.sep)
        if parts[-1] == "__init__":
            parts.pop()
        if parts and all(part.isidentifier() for part in parts):
            return ".".join(parts)
    raise ProgramError(f"-f {spec}: {path} is not the program and cannot be imported from sys.path")


# -- the program's own functions ------------------------------------------------------------


def _nested(code: types.CodeType) -> Iterator[types.CodeType]:
    return (const for const in code.co_consts if isinstance(const, types.CodeType))


def _is_function(code: types.CodeType) -> bool:
    """A ``def`` (not a class body, lambda, comprehension or other ``<...>`` scope)."""
    return bool(code.co_flags & inspect.CO_NEWLOCALS) and not code.co_name.startswith("<")


def defined_functions(code: types.CodeType) -> dict[str, list[types.CodeType]]:
    """Every function and method ``code`` defines, nested ones included, by qualified name."""
    found: dict[str, list[types.CodeType]] = {}
    for qualname, child in code_objects(code):
        if _is_function(child):
            found.setdefault(qualname, []).append(child)
    return found


def select(program: Program, targets: list[Target]) -> list[types.CodeType]:
    """The code objects of the program's own targets (raises for a target it does not define)."""
    functions = defined_functions(program.code)
    chosen: list[types.CodeType] = []
    for target in targets:
        codes = functions.get(target.qualname)
        if not codes:
            known = ", ".join(sorted(functions)[:8]) or "no functions"
            more = ", ..." if len(functions) > 8 else ""
            raise ProgramError(
                f"-f {target.spec}: {program.name} defines no function {target.qualname!r} (it defines {known}{more})"
            )
        chosen += [code for code in codes if code not in chosen]
    return chosen


# -- functions of other modules ---------------------------------------------------------------


def find(target: Target) -> tuple[Any, str, Any]:
    """Import the target's module; its owner (module or class), attribute name and raw attribute value."""
    module = target.module or "__main__"
    try:
        owner: Any = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            raise ProgramError(f"-f {target.spec}: no module named {exc.name!r}") from None
        raise ProgramError(f"-f {target.spec}: importing {module} failed: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - the module's own code failed: say so on one line
        raise ProgramError(f"-f {target.spec}: importing {module} raised {type(exc).__name__}: {exc}") from None
    *path, attribute = target.qualname.split(".")
    try:
        for part in path:
            owner = getattr(owner, part)
        raw = inspect.getattr_static(owner, attribute)
    except AttributeError:
        raise ProgramError(f"-f {target.spec}: {module} has no {target.qualname!r}") from None
    return owner, attribute, raw


# -- reaching the program's functions -----------------------------------------------------------


def _stand_in(code: types.CodeType, qualname: str) -> types.FunctionType:
    """A function made from ``code`` (never called): what a tool that times functions is given."""
    closure = tuple(types.CellType() for _ in code.co_freevars)
    function = types.FunctionType(code, {}, code.co_name, None, closure)
    function.__qualname__ = qualname
    return function


def _with_consts(code: types.CodeType, final: dict[types.CodeType, types.CodeType]) -> types.CodeType:
    """``code`` with every nested code object replaced by its final version (recursively)."""
    consts = tuple(
        (final.get(const) or _with_consts(const, final)) if isinstance(const, types.CodeType) else const
        for const in code.co_consts
    )
    if all(new is old for new, old in zip(consts, code.co_consts, strict=True)):
        return code
    return code.replace(co_consts=consts)


def timed_by_code(
    code: types.CodeType, chosen: list[types.CodeType], take: Callable[[list[types.FunctionType]], None],
) -> tuple[types.CodeType, list[types.FunctionType]]:
    """The program's code, rewritten to run the code objects a tool settled on for ``chosen``.

    ``take`` hands stand-in functions to the tool, which may give each a new
    code object (line_profiler pads the bytecode). Innermost functions go
    first, so that an outer function's stand-in already holds its inner
    functions' final code objects. Returns the code to run and the stand-ins.
    """
    qualnames = {child: name for name, codes in defined_functions(code).items() for child in codes}
    levels: dict[types.CodeType, int] = {}

    def level(parent: types.CodeType) -> int:
        inner = max((level(child) for child in _nested(parent)), default=-1)
        if parent in chosen:
            levels[parent] = inner + 1
            return inner + 1
        return inner

    level(code)
    final: dict[types.CodeType, types.CodeType] = {}
    stand_ins: list[types.FunctionType] = []
    for depth in range(max(levels.values(), default=-1) + 1):
        batch = [child for child, found in levels.items() if found == depth]
        functions = [_stand_in(_with_consts(child, final), qualnames.get(child, child.co_name)) for child in batch]
        take(functions)
        for child, function in zip(batch, functions, strict=True):
            final[child] = function.__code__
        stand_ins += functions
    return _with_consts(code, final), stand_ins


def decorated_code(program: Program, qualnames: set[str]) -> types.CodeType:
    """The program compiled again with ``@decorator(qualname)`` under the other decorators of each
    function named in ``qualnames`` (raises when there is no source to compile)."""
    if program.source is None:
        raise ProgramError(f"-f: the source of {program.name} is not available to add the tool to its functions")
    tree = ast.parse(program.source, program.filename)
    _Decorate(qualnames).visit(tree)
    return compile(tree, program.filename, "exec", dont_inherit=True)  # type: ignore[no-any-return]


class _Decorate(ast.NodeVisitor):
    """Adds the run's decorator to each ``def`` whose qualified name is wanted (as the compiler names it)."""

    def __init__(self, qualnames: set[str]) -> None:
        self.qualnames = qualnames
        self.prefix = ""

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        qualname = self.prefix + node.name
        if qualname in self.qualnames:
            call = ast.parse(
                f"__import__({__name__!r}, None, None, ('decorator',)).decorator({qualname!r})", mode="eval"
            ).body
            for part in ast.walk(call):
                ast.copy_location(part, node)
            node.decorator_list.append(call)
        self._inside(node, qualname + ".<locals>.")

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._inside(node, self.prefix + node.name + ".")

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._inside(node, self.prefix + "<lambda>.<locals>.")

    def _inside(self, node: ast.AST, prefix: str) -> None:
        outer, self.prefix = self.prefix, prefix
        self.generic_visit(node)
        self.prefix = outer
