"""What ``profiletools run`` runs: a script, a module or a code string, set up as ``python`` would.

A :class:`Program` is the compiled code and the ``__main__`` namespace it runs
in, with the ``sys.argv`` and ``sys.path[0]`` Python would give it:

==============  ===================  =====================  ==============
form            ``sys.argv[0]``      ``sys.path[0]``        ``__file__``
==============  ===================  =====================  ==============
``script.py``   as given             the script's folder    absolute path
``-m module``   the module's file    the current folder     the module's file
``-c code``     ``-c``               ``''``                 (none)
==============  ===================  =====================  ==============

The code runs as a function made from the module's code object (a code object
without ``CO_NEWLOCALS`` runs with its globals as locals, exactly as ``exec``
runs it), so each tool measures it the way it measures any decorated
function, and the program's own top-level frame is the root of every profile.
"""

from __future__ import annotations

import builtins
import os
import sys
import types
from collections.abc import Callable
from importlib.machinery import BuiltinImporter, SourceFileLoader
from typing import Any


class ProgramError(Exception):
    """The program cannot be found or named as given (a usage error: one line, exit status 2)."""


class Program:
    """A program ready to run as ``__main__``: its code, namespace, ``sys.argv`` and ``sys.path[0]``."""

    def __init__(
        self, name: str, code: types.CodeType, namespace: dict[str, Any], argv: list[str], path0: str,
        source: str | bytes | None, module: str | None = None,
    ) -> None:
        #: The name of the run's record: the script's file name, the module, or ``<string>``.
        self.name = name
        self.code = code
        self.namespace = namespace
        self.argv = argv
        self.path0 = path0
        #: The source (``None`` when the loader has none), for rewriting ``-f`` targets.
        self.source = source
        #: The module name given with ``-m`` (``None`` for scripts and code strings).
        self.module = module

    @property
    def filename(self) -> str:
        """The file name the code was compiled with (``<string>`` for ``-c``)."""
        return self.code.co_filename

    def function(self, code: types.CodeType | None = None) -> Callable[[], Any]:
        """The program's top-level code (or ``code``, a rewritten version of it) as a function to call."""
        return types.FunctionType(code or self.code, self.namespace, "<module>")

    def install(self) -> None:
        """Make this program ``__main__``: a fresh module, its ``sys.argv`` and ``sys.path[0]``."""
        main = types.ModuleType("__main__")
        main.__dict__.update(self.namespace)
        self.namespace = main.__dict__
        sys.modules["__main__"] = main
        sys.argv = list(self.argv)
        set_path0(self.path0)


def set_path0(path0: str) -> None:
    """Put ``path0`` first on ``sys.path`` where Python put this process's own entry (not with ``-P``)."""
    if getattr(sys.flags, "safe_path", False):
        return
    if sys.path:
        sys.path[0] = path0
    else:
        sys.path.insert(0, path0)


def _namespace(**fields: Any) -> dict[str, Any]:
    namespace: dict[str, Any] = {
        "__name__": "__main__", "__doc__": None, "__package__": None, "__loader__": None, "__spec__": None,
        "__annotations__": {}, "__builtins__": builtins,
    }
    namespace.update(fields)
    return namespace


def script(path: str, args: list[str]) -> Program:
    """``python path args...``: raises :class:`ProgramError` when there is no such file."""
    if not os.path.exists(path):
        raise ProgramError(f"can't open file {path!r}: no such file")
    if os.path.isdir(path):
        raise ProgramError(f"{path!r} is a directory: name the script in it, or run a package with -m")
    full = os.path.abspath(path)
    try:
        with open(full, "rb") as stream:
            source = stream.read()
    except OSError as exc:
        raise ProgramError(f"can't open file {path!r}: {exc.strerror or exc}") from None
    code = compile(source, full, "exec", dont_inherit=True)
    namespace = _namespace(__file__=full, __cached__=None, __loader__=SourceFileLoader("__main__", full))
    return Program(os.path.basename(path), code, namespace, [path, *args], os.path.dirname(os.path.realpath(full)),
                   source)


def module(name: str, args: list[str]) -> Program:
    """``python -m name args...``: finds the module (importing its parent packages, as Python does)."""
    set_path0(os.getcwd())  # found from the current folder first, as with python -m
    from runpy import _get_module_details  # type: ignore[attr-defined]  # what pdb and python -m use

    try:
        found, spec, code = _get_module_details(name)
    except ImportError as exc:
        raise ProgramError(str(exc)) from None
    namespace = _namespace(
        __file__=spec.origin, __cached__=spec.cached, __loader__=spec.loader, __package__=spec.parent,
        __spec__=spec,
    )
    source = None
    get_source = getattr(spec.loader, "get_source", None)
    if get_source is not None:
        try:
            source = get_source(found)
        except (ImportError, OSError):
            source = None
    return Program(name, code, namespace, [spec.origin or name, *args], os.getcwd(), source, module=found)


def command(text: str, args: list[str]) -> Program:
    """``python -c text args...``."""
    code = compile(text, "<string>", "exec", dont_inherit=True)
    namespace = _namespace(__loader__=BuiltinImporter)
    return Program("<string>", code, namespace, ["-c", *args], "", text)


def report_exception(exc: BaseException, code: types.CodeType) -> None:
    """Print ``exc`` as Python would for an uncaught exception (``sys.excepthook``), starting at the
    program's own frames: the frames of profiletools that ran the program are left out."""
    tb = exc.__traceback__
    own = tb
    while own is not None and own.tb_frame.f_code is not code:
        own = own.tb_next
    if own is not None:
        exc.__traceback__ = own  # the default hook prints the exception's own traceback, not its argument
    sys.excepthook(type(exc), exc, exc.__traceback__)


def exit_status(exc: SystemExit) -> int:
    """The exit status Python gives ``SystemExit(code)``; a message is printed to stderr, as Python does."""
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return int(code)
    try:
        sys.stderr.write(f"{code}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    return 1
