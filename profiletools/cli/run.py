"""``profiletools run``: any tool around a whole program, without editing it.

::

    profiletools run [-t TOOL] [-f TARGET]... [-o DIR] [--interval S] [-s SORT] [-l LIMIT] [--lines]
                     (script.py | -m module | -c code) [args...]

The program runs as ``python`` would run it (see :mod:`profiletools.cli.program`):
its output is its own, its exit status is kept, its traceback is printed as
Python prints it. The tool's report goes to stderr and its dump files into
``-o`` (default ``$PROFILETOOLS_DIR`` or ``./profiles``), each named on a line.

Without ``-f`` the tool measures the whole program as one call, except
``lineprofile``, which times every function and method the program defines.
With ``-f`` the tool measures the named functions instead: a tool that times
functions (``lineprofile``) times their lines over the whole run; any other
tool measures each of their calls, as if it decorated them (see
:mod:`profiletools.cli.targets`).

Which option applies to which tool is read from the tool's own signature:
``-s`` is ``sort=``, ``-l`` is ``limit=``, ``--interval`` is ``interval=``,
``--lines`` is ``lines=``.
"""

from __future__ import annotations

import argparse
import collections
import inspect
import sys
import threading
from collections.abc import Callable
from typing import Any

from profiletools.cli import program as programs
from profiletools.cli import targets as found
from profiletools.cli.program import Program, ProgramError
from profiletools.core import registry
from profiletools.core.settings import STATE

#: The tool's keyword argument each option of ``profiletools run`` sets -> the option.
KEYWORDS = {"sort": "-s/--sort", "limit": "-l/--limit", "interval": "--interval", "lines": "--lines"}
#: Exit status of a program stopped by Ctrl-C (as a shell reports it: 128 + SIGINT).
INTERRUPTED = 130
#: More dump files than this are summed up in one line instead of one line each.
_LISTED = 10


def amount(text: str) -> int | float:
    """``-l``: a number of rows, or a fraction of them (``ValueError`` for anything else)."""
    try:
        return int(text)
    except ValueError:
        return float(text)


def add_parser(commands: Any) -> None:
    """The ``run`` sub-command (``commands`` is the sub-parsers object of ``profiletools``)."""
    parser = commands.add_parser("run", help="run a script, module or code string under a tool, unedited")
    add_arguments(parser)
    parser.set_defaults(handler=lambda args, out: run(args))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``profiletools run`` (everything after the program goes to the program)."""
    tools = sorted(registry.tools())
    parser.add_argument("-t", "--tool", default="profileit", choices=tools, metavar="TOOL",
                        help=f"the tool to run the program under: {', '.join(tools)} "
                             "(default: profileit, as python -m cProfile)")
    parser.add_argument("-f", "--function", action="append", default=[], metavar="TARGET",
                        help="a function to measure: module:qualname, file.py:qualname, or a qualname of the "
                             "program (repeatable)")
    parser.add_argument("-o", "--output", metavar="DIR",
                        help="folder for the dump files (default: $PROFILETOOLS_DIR or ./profiles)")
    parser.add_argument("--interval", type=float, metavar="S",
                        help="seconds between samples (sampleprofile) or timeline readings (memprofile)")
    parser.add_argument("-s", "--sort", metavar="KEY", help="pstats sort key of the table (profileit)")
    parser.add_argument("-l", "--limit", type=amount, metavar="N", help="rows of the table (profileit)")
    parser.add_argument("--lines", action="store_true", help="line-by-line memory (memprofile)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("-m", dest="module", nargs=argparse.REMAINDER, metavar="MODULE",
                       help="run a module as python -m does (the rest of the line is its arguments)")
    which.add_argument("-c", dest="command", nargs=argparse.REMAINDER, metavar="CODE",
                       help="run a code string as python -c does (the rest of the line is its arguments)")
    parser.add_argument("program", nargs=argparse.REMAINDER, metavar="script.py [args ...]",
                        help="the script and its arguments")


def run(args: argparse.Namespace) -> int:
    """Run the program under the tool; its exit status (2 for a usage error)."""
    try:
        program = _load(args)
        tool = registry.tool(args.tool)
        if tool is None:  # the parser's choices are the registry's: only a tool unregistered since
            raise ProgramError(f"no tool named {args.tool!r}")
        function = tool.function()
        options = _options(args, function)
        program.install()
        dump, reporters = _reporters(args)
        counted: collections.Counter[str] = collections.Counter()
        reporters.append(lambda record: counted.update((record.name,)))
        execute, per_call = _measurement(program, function, options, args.function, reporters)
    except ProgramError as exc:
        sys.stderr.write(f"profiletools: error: {exc}\n")
        return 2
    except SyntaxError as exc:  # the program does not compile: printed as Python prints it
        sys.excepthook(type(exc), exc, None)
        return 1
    if not STATE.enabled_at_import:
        sys.stderr.write("profiletools run: PROFILETOOLS=0 switches measuring off: the program runs unmeasured\n")
    status = _execute(program, execute)
    for name in per_call:
        if not counted[name] and STATE.enabled_at_import:
            sys.stderr.write(f"profiletools run: {name} was never called: nothing measured\n")
    _list_written(dump)
    return status


def _load(args: argparse.Namespace) -> Program:
    if args.module is not None:
        if not args.module:
            raise ProgramError("-m needs a module name")
        return programs.module(args.module[0], args.module[1:])
    if args.command is not None:
        if not args.command:
            raise ProgramError("-c needs the code to run")
        return programs.command(args.command[0], args.command[1:])
    words = args.program[1:] if args.program[:1] == ["--"] else args.program
    if not words:
        raise ProgramError("name the program: a script, -m module or -c code")
    return programs.script(words[0], words[1:])


def _options(args: argparse.Namespace, function: Callable[..., Any]) -> dict[str, Any]:
    """The tool's keyword arguments from the command line; an option the tool has not is a usage error."""
    given = {keyword: getattr(args, keyword) for keyword in KEYWORDS}
    try:
        return check_options(args.tool, function, given, KEYWORDS)
    except ValueError as exc:
        raise ProgramError(str(exc)) from None


def check_options(
    tool: str, function: Callable[..., Any], given: dict[str, Any], flags: dict[str, str],
) -> dict[str, Any]:
    """The options given (``None``/``False``: not given) that ``function`` takes as keywords.

    Raises ``ValueError`` for one it does not take, naming the flag (from
    ``flags``) and the tools that do take it.
    """
    chosen = {keyword: value for keyword, value in given.items() if value is not None and value is not False}
    accepted = inspect.signature(function).parameters
    for keyword in chosen:
        if keyword not in accepted:
            users = [name for name, declared in registry.tools().items()
                     if keyword in inspect.signature(declared.function()).parameters]
            raise ValueError(f"{flags[keyword]} does not apply to {tool} (it applies to {', '.join(users) or 'none'})")
    return chosen


def takes_functions(function: Callable[..., Any]) -> bool:
    """Whether a tool takes the functions it times as arguments (``lineprofile(f, g)``)."""
    parameters = inspect.signature(function).parameters.values()
    return any(parameter.kind is inspect.Parameter.VAR_POSITIONAL for parameter in parameters)


class _Reporting(threading.local):
    active = False


_reporting = _Reporting()


def _not_reporting() -> bool:
    """The ``enabled=`` of measured targets: not while a report is written (``-f json:dumps`` would
    measure the JSON dump of its own record, and so on without end)."""
    return not _reporting.active


def _reporting_one(reporter: Any) -> Callable[[Any], None]:
    report = reporter.report

    def reporting(record: Any) -> None:
        _reporting.active = True
        try:
            report(record)
        finally:
            _reporting.active = False

    return reporting


def _reporters(args: argparse.Namespace) -> tuple[Any, list[Any]]:
    """The text report on stderr and the dump files (with a plot of timelines when matplotlib is there)."""
    from profiletools import reporters

    dump = reporters.Dump(args.output)
    chosen: list[Any] = [reporters.Stream(), dump]
    if args.interval is not None:
        try:
            chosen.append(reporters.Plot(dump.directory))
        except ImportError:
            pass  # the timeline is in the JSON dump; drawing it needs profiletools[plot]
    return dump, [_reporting_one(reporter) for reporter in chosen]


def _tool(function: Callable[..., Any], *positional: Any, **options: Any) -> Any:
    """The tool's probe; a bad option value is a usage error naming it."""
    try:
        return function(*positional, **options)
    except (TypeError, ValueError, ImportError) as exc:
        raise ProgramError(str(exc)) from None


def _measurement(
    program: Program, function: Callable[..., Any], options: dict[str, Any], specs: list[str], reporters: list[Any],
) -> tuple[Callable[[], Any], list[str]]:
    """What to call to run the program measured as asked (targets resolved now, before it starts), and
    the names of the functions measured at each call."""
    targets = [found.parse(spec, program) for spec in specs]
    own = [target for target in targets if target.module is None]
    others = [target for target in targets if target.module is not None]
    if takes_functions(function):
        return _timed_by_code(program, function, options, targets, own, others, reporters), []
    if not targets:
        return _tool(function, name=program.name, reporters=reporters, **options)(program.function()), []
    each_call = {"reporters": reporters, "enabled": _not_reporting, **options}
    for target in others:
        owner, attribute, raw = found.find(target)
        setattr(owner, attribute, _tool(_tool(function, name=target.qualname, **each_call), raw))
    names = list(dict.fromkeys(target.qualname for target in targets))
    if not own:
        return program.function(), names
    found.select(program, own)  # each names a function of the program
    for target in own:
        found.DECORATORS[target.qualname] = _tool(function, name=target.qualname, **each_call)
    program.code = found.decorated_code(program, {target.qualname for target in own})
    return program.function(), names


def _timed_by_code(
    program: Program, function: Callable[..., Any], options: dict[str, Any], targets: list[found.Target],
    own: list[found.Target], others: list[found.Target], reporters: list[Any],
) -> Callable[[], Any]:
    """A tool given the functions it times (``lineprofile(f, g)``): one measurement over the whole run."""
    if targets:
        chosen = found.select(program, own)
    else:  # every function and method the program defines
        chosen = [code for codes in found.defined_functions(program.code).values() for code in codes]
    objects = [found.find(target)[2] for target in others]
    if not chosen and not objects:
        sys.stderr.write(
            f"profiletools run: {program.name} defines no function to time; name some with -f module:function\n"
        )
        return program.function()

    def take(stand_ins: list[Any]) -> None:
        with _tool(function, *stand_ins, reporters=[]):  # the tool settles on their code objects now
            pass

    program.code, stand_ins = found.timed_by_code(program.code, chosen, take)
    stand_ins.sort(key=lambda stand_in: stand_in.__code__.co_firstlineno)  # the report in source order
    probe = _tool(function, *stand_ins, *objects, name=program.name, reporters=reporters, **options)
    top = program.function()

    def execute() -> Any:
        with probe:
            return top()

    return execute


def _execute(program: Program, execute: Callable[[], Any]) -> int:
    """Call the program; its exit status, with its uncaught exception printed as Python prints it."""
    try:
        execute()
    except SystemExit as exc:
        return programs.exit_status(exc)
    except KeyboardInterrupt as exc:
        programs.report_exception(exc, program.code)
        return INTERRUPTED
    except BaseException as exc:  # noqa: BLE001 - the program's own failure, reported as Python would
        programs.report_exception(exc, program.code)
        return 1
    return 0


def _list_written(dump: Any) -> None:
    written = list(dump.written)
    if len(written) > _LISTED:
        sys.stderr.write(f"[profiletools] wrote {len(written)} files into {dump.directory}\n")
        return
    for path in written:
        sys.stderr.write(f"[profiletools] wrote {path}\n")
