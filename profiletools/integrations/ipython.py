"""IPython and Jupyter magics: one line magic and one cell magic per tool, after ``%load_ext profiletools``.

::

    %timed [options] statement          %%timed [options]
    %profileit [-s KEY] [-l N] stmt     %%profileit [-s KEY] [-l N]
    %lineprofile [-f FUNC]... stmt      %%lineprofile [-f FUNC]...
    %memprofile [--lines] [--interval S] [-f FUNC]... stmt
    %sampleprofile [--interval S] stmt

Every registered tool gets its magic (the names are the registry's). Options:
``-f FUNC`` (repeatable; an expression evaluated in the user's namespace, as
``%lprun`` does), ``-D FILE`` write the record's dump file, ``-T FILE`` write
its text, ``-r`` return the record instead of showing it, and the tool's own
options ``-s``, ``-l``, ``--interval``, ``--lines`` where its signature has them.

The statement runs in the user's namespace (assignments stay, as with
``%time``), compiled as IPython compiles a cell, and is measured as one call;
a line magic whose statement is an expression returns its value. In a
terminal the record shows as its text; in Jupyter as HTML
(:mod:`profiletools.formats.html`).

``-f`` with ``lineprofile`` times those functions' lines (and, with or
without ``-f``, those of every function the statement or cell defines);
with any other tool it measures each call of the functions, replacing them,
while the statement runs, where the expression names them (a name, or a
dotted attribute of a module, class or object).
"""

from __future__ import annotations

import ast
import inspect
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, magics_class, no_var_expand
from IPython.display import display as _display

from profiletools.cli import targets as code_targets
from profiletools.cli.run import KEYWORDS, amount, check_options, takes_functions
from profiletools.core import registry
from profiletools.core.settings import STATE
from profiletools.reporters.collect import Collect
from profiletools.reporters.files import atomic_write

display: Callable[..., None] = _display
_SHORT = "rf:D:T:s:l:"
_LONG = ("interval=", "lines")
_NAME_WIDTH = 50
#: Options with a value: option -> (the tool's keyword, how the value is read, what it takes).
_VALUES: dict[str, tuple[str, Callable[[str], Any], str]] = {
    "s": ("sort", str, "a pstats sort key"),
    "l": ("limit", amount, "a number of rows or a fraction"),
    "interval": ("interval", float, "seconds"),
}


@magics_class
class _Parser(Magics):  # type: ignore[misc]
    """IPython's option parser (``parse_options``), as every magic uses it."""


def load(shell: Any) -> None:
    """Register a line-and-cell magic for every tool of the registry in ``shell``."""
    parser = _Parser(shell=shell)
    for name in registry.tools():
        shell.register_magic_function(_magic(parser, name), magic_kind="line_cell", magic_name=name)


def _magic(parser: Magics, tool: str) -> Callable[..., Any]:
    @no_var_expand
    def magic(line: str, cell: str | None = None) -> Any:
        __tracebackhide__ = True  # IPython leaves this frame out of tracebacks
        return Run(parser, tool, line, cell).run()

    magic.__name__ = tool
    magic.__doc__ = f"Run a statement (line magic) or the cell (cell magic) under profiletools' {tool}.\n\n" + __doc__
    return magic


class Run:
    """One use of a magic: options, the compiled statement, the measurement and its display."""

    def __init__(self, parser: Magics, tool: str, line: str, cell: str | None) -> None:
        self.shell: Any = parser.shell
        self.tool = tool
        opts, statement = parser.parse_options(line, _SHORT, *_LONG, list_all=True, posix=False, strict=False,
                                               preserve_non_opts=True)
        if cell is not None and statement.strip():
            raise UsageError(f"%%{tool} takes options on its line and the code in the cell; got {statement!r}")
        self.source = cell if cell is not None else statement
        if not self.source.strip():
            raise UsageError(f"%{tool} needs a statement to run (or use %%{tool} as a cell magic)")
        self.is_cell = cell is not None
        self.opts = opts
        self.functions = [expression for expression in opts.get("f", [])]
        self.give_back = "r" in opts
        self.dump_file = self._last("D")
        self.text_file = self._last("T")
        declared = registry.tool(tool)
        if declared is None:
            raise UsageError(f"no tool named {tool!r}")
        self.function = declared.function()
        given: dict[str, Any] = {"lines": True} if "lines" in opts else {}
        for option, (keyword, parse, expected) in _VALUES.items():
            text = self._last(option)
            if text is not None:
                try:
                    given[keyword] = parse(text)
                except ValueError:
                    raise UsageError(f"{'-' if len(option) == 1 else '--'}{option} takes {expected}; got {text!r}") \
                        from None
        try:
            self.options = check_options(tool, self.function, given, {**KEYWORDS, "sort": "-s", "limit": "-l"})
        except ValueError as exc:
            raise UsageError(str(exc)) from None

    def _last(self, key: str) -> str | None:
        values = self.opts.get(key)
        return values[-1] if values else None

    # -- compiling ----------------------------------------------------------------------------

    def _compile(self) -> tuple[types.CodeType, str]:
        """The statement as IPython compiles a cell (its transforms and ``__future__`` flags); the mode."""
        shell = self.shell
        source = shell.transform_cell(self.source) if self.is_cell else self.source
        tree = shell.transform_ast(shell.compile.ast_parse(source))
        mode = "exec"
        if not self.is_cell and len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr):
            tree = ast.Expression(tree.body[0].value)
            mode = "eval"
        filename = shell.compile.cache(source, shell.execution_count, raw_code=self.source)
        return shell.compile(tree, filename, mode), mode

    @property
    def name(self) -> str:
        """The record's name: the statement, or ``In [N]`` for a cell."""
        if self.is_cell:
            return f"In [{self.shell.execution_count}]"
        text = " ".join(self.source.split())
        return text if len(text) <= _NAME_WIDTH else text[: _NAME_WIDTH - 1] + "…"

    # -- running ------------------------------------------------------------------------------

    def _tool(self, *positional: Any, **options: Any) -> Any:
        try:
            return self.function(*positional, **options)
        except (TypeError, ValueError, ImportError) as exc:
            raise UsageError(str(exc)) from None

    def _evaluate(self, expression: str) -> Any:
        try:
            return eval(expression, self.shell.user_ns)  # the user's own expression, as %lprun -f
        except Exception as exc:  # noqa: BLE001 - said on one line
            raise UsageError(f"-f {expression}: {type(exc).__name__}: {exc}") from None

    def run(self) -> Any:
        """Run the statement under the tool; show (or return, with ``-r``) the records."""
        code, mode = self._compile()
        self.code = code  # the code object that runs (rewritten for a tool that times functions)
        seen = Collect()
        if takes_functions(self.function):
            call = self._timed_by_code(code, seen)
        elif self.functions:
            call = self._each_call(code, seen)
        else:
            top = types.FunctionType(code, self.shell.user_ns, "<module>")
            call = self._tool(name=self.name, reporters=[seen], **self.options)(top)
        __tracebackhide__ = True
        try:
            value = call()
        except BaseException as exc:  # noqa: BLE001 - shown with the records, then raised again
            self._show(seen.records)
            # The same exception, its traceback from the statement's own frame (as IPython shows a cell's).
            raise exc.with_traceback(_from(exc.__traceback__, self.code))  # noqa: B904
        self._show(seen.records)
        if self.give_back:
            records = list(seen.records)
            return records[0] if len(records) == 1 else records
        return value if mode == "eval" else None

    def _timed_by_code(self, code: types.CodeType, seen: Collect) -> Callable[[], Any]:
        objects = [self._evaluate(expression) for expression in self.functions]
        chosen = [child for codes in code_targets.defined_functions(code).values() for child in codes]
        if not chosen and not objects:
            raise UsageError(f"%{self.tool}: no function to time: name some with -f func "
                             "(the statement defines none)")

        def take(stand_ins: list[Any]) -> None:
            with self._tool(*stand_ins, reporters=[]):  # the tool settles on their code objects now
                pass

        code, stand_ins = code_targets.timed_by_code(code, chosen, take)
        self.code = code
        probe = self._tool(*objects, *stand_ins, name=self.name, reporters=[seen], **self.options)
        top = types.FunctionType(code, self.shell.user_ns, "<module>")

        def call() -> Any:
            with probe:
                return top()

        return call

    def _each_call(self, code: types.CodeType, seen: Collect) -> Callable[[], Any]:
        top = types.FunctionType(code, self.shell.user_ns, "<module>")
        replacements = [self._replacement(expression, seen) for expression in self.functions]

        def call() -> Any:
            with _replaced(replacements):
                return top()

        return call

    def _replacement(self, expression: str, seen: Collect) -> tuple[Any, str, Any, Any]:
        """Where ``expression`` names a function, the function, and its measured stand-in."""
        self._evaluate(expression)
        try:
            path = ast.parse(expression.strip(), mode="eval").body
        except SyntaxError:
            path = None
        if isinstance(path, ast.Name):
            owner: Any = self.shell.user_ns
            attribute = path.id
            raw = owner[attribute]
        elif isinstance(path, ast.Attribute):
            owner = self._evaluate(ast.unparse(path.value))
            attribute = path.attr
            raw = inspect.getattr_static(owner, attribute)
        else:
            raise UsageError(
                f"-f {expression}: %{self.tool} measures each call of a function it replaces while the statement "
                "runs: name it (f, module.f, Class.method)"
            )
        label = expression.strip()
        return owner, attribute, raw, self._tool(name=label, reporters=[seen], **self.options)(raw)

    # -- showing ------------------------------------------------------------------------------

    def _show(self, records: list[Any]) -> None:
        if not records:
            if not STATE.enabled_at_import:
                print(f"%{self.tool}: PROFILETOOLS=0 switches measuring off: nothing was measured")
            elif self.functions:
                print(f"%{self.tool}: {', '.join(self.functions)} never called: nothing measured")
            return
        if self.text_file is not None:
            text = "\n\n".join(record.text() for record in records) + "\n"
            if atomic_write(self.text_file, lambda stream: stream.write(text.encode("utf-8"))):
                print(f"text written to {self.text_file}")
        if self.dump_file is not None:
            for path, record in zip(_numbered(self.dump_file, len(records)), records, strict=True):
                _write_dump(path, record)
        if not self.give_back:
            for record in records:
                display(record)


def _from(tb: types.TracebackType | None, code: types.CodeType) -> types.TracebackType | None:
    """``tb`` from the statement's own frame on (all of it when the statement's frame is not in it)."""
    own = tb
    while own is not None and own.tb_frame.f_code is not code:
        own = own.tb_next
    return own if own is not None else tb


def _numbered(path: str, count: int) -> list[str]:
    """``path``, or for several records ``stem-1.ext``, ``stem-2.ext``..."""
    if count == 1:
        return [path]
    stem, dot, extension = path.rpartition(".")
    if not dot or "/" in extension:
        stem, dot, extension = path, "", ""
    return [f"{stem}-{index}{dot}{extension}" for index in range(1, count + 1)]


def _write_dump(path: str, record: Any) -> None:
    """The record's own dump format (``.prof``, ``.lprof``, JSON...) into ``path``; one line either way."""
    if record.skipped is not None and not record.dump_files():
        print(f"{path} not written: not measured ({record.skipped})")
        return
    if atomic_write(path, record.write_dump):
        print(f"{record.dump_suffix().lstrip('.')} dump written to {path}")


@contextmanager
def _replaced(replacements: list[tuple[Any, str, Any, Any]]) -> Iterator[None]:
    """Put the measured stand-ins in place while the statement runs; then what was there before."""
    done: list[tuple[Any, str, Any, Any, bool]] = []
    try:
        for owner, attribute, raw, measured in replacements:
            if isinstance(owner, dict):
                had = attribute in owner
                owner[attribute] = measured
            else:
                had = attribute in getattr(owner, "__dict__", {})
                setattr(owner, attribute, measured)
            done.append((owner, attribute, raw, measured, had))
        yield
    finally:
        for owner, attribute, raw, measured, had in reversed(done):
            if isinstance(owner, dict):
                if owner.get(attribute) is measured:  # unless the statement bound the name again
                    owner[attribute] = raw
            elif inspect.getattr_static(owner, attribute, None) is measured:
                if had:
                    setattr(owner, attribute, raw)
                else:
                    delattr(owner, attribute)
