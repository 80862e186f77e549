"""``python -m profiletools`` (also the ``profiletools`` command): run a program under a tool,
view, merge, convert and compare dump files, and run the demo. One module per sub-command.

Errors are one line, ``profiletools: error: ...``, on stderr. Exit status: 0 on
success; 1 when a file cannot be used (the message names it) or, for
``compare --fail-over``, when something got slower; 2 for wrong usage.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from profiletools.core.version import __version__
from profiletools.formats.dumps import DumpError


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, ``profiletools: error: ...``, exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"profiletools: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m profiletools``."""
    from profiletools.cli import compare, convert, demo, merge, run, show

    parser = _Parser(
        prog="profiletools",
        description="Run a program under a profiler; view, merge, convert and compare profiletools dumps.",
    )
    parser.add_argument("--version", action="version", version=f"profiletools {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run.add_parser(commands)
    show.add_parser(commands)
    merge.add_parser(commands)
    convert.add_parser(commands)
    compare.add_parser(commands)
    demo.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``profiletools`` command."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args, sys.stdout))
    except DumpError as exc:
        sys.stdout.flush()
        sys.stderr.write(f"profiletools: error: {exc}\n")
        return 1
    except BrokenPipeError:  # `profiletools show big.prof | head`
        sys.stderr.close()
        return 0
