"""``python -m profiletools``: the command line (``demo`` for now)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from profiletools import demo as workload
from profiletools.reporters import Collect, Stream, Summary
from profiletools.timing import timed


def run_demo(out: str) -> int:
    """Time the bundled index-and-search workload and print what was measured."""
    summary = Summary()
    collect = Collect()
    reporters = [Stream(sys.stdout), summary, collect]
    with timed("demo.generate", reporters=reporters):
        documents = workload.generate_documents()
    build = timed("demo.build_index", reporters=reporters)(workload.build_index)
    search = timed("demo.search", reporters=[summary, collect])(workload.search)
    index = build(documents)
    hits = [len(search(index, query)) for query in ("profile time", "memory line call", "python thread") * 20]
    print(f"\nindexed {len(documents)} documents, {len(index)} words; {len(hits)} searches, {sum(hits)} hits")
    summary.print(sys.stdout)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m profiletools``."""
    parser = argparse.ArgumentParser(prog="profiletools", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run the bundled workload through the tools")
    demo.add_argument("--out", default="profiletools-demo", help="directory for the files the demo writes")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``profiletools`` command."""
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        return run_demo(args.out)
    return 2  # pragma: no cover - argparse rejects unknown commands
