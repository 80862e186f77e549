"""``python -m profiletools`` (also the ``profiletools`` command): view, merge and convert
dump files, and run the demo.

Exit status: 0 on success, 1 when a file cannot be used (the message names it,
on one line), 2 for wrong usage.
"""

from __future__ import annotations

import argparse
import json
import marshal
import os
import pickle
import pstats
import sys
from collections.abc import Sequence
from types import SimpleNamespace
from typing import IO, Any

from profiletools.cli.progress import progress
from profiletools.core import registry
from profiletools.formats.convert import to_callgrind, to_speedscope
from profiletools.formats.dumps import DumpError, kind_of, load_line_stats, load_pstats, load_records
from profiletools.reporters.files import atomic_write
from profiletools.reporters.summary import Summary

_SORT_KEYS = sorted(pstats.Stats.sort_arg_dict_default)  # type: ignore[attr-defined]


# -- show -------------------------------------------------------------------------------


def show(args: argparse.Namespace, out: IO[str]) -> int:
    """Print each file: pstats table, line tables, or a summary of records."""
    for index, path in enumerate(args.files):
        if len(args.files) > 1:
            out.write(("\n" if index else "") + f"==> {path} <==\n")
        kind = kind_of(path)
        if kind == "prof":
            _show_pstats(load_pstats(path), args, out)
        elif kind == "lprof":
            load_line_stats(path).print(stream=out, output_unit=args.unit)
        else:
            _show_records(load_records(path), out)
    return 0


def _show_pstats(stats: pstats.Stats, args: argparse.Namespace, out: IO[str]) -> None:
    stats.stream = out  # type: ignore[attr-defined]
    if args.strip_dirs:
        stats.strip_dirs()
    stats.sort_stats(args.sort)
    if args.callers:
        stats.print_callers(args.limit)
    elif args.callees:
        stats.print_callees(args.limit)
    else:
        stats.print_stats(args.limit)


def _show_records(records: list[dict[str, Any]], out: IO[str]) -> None:
    wall = Summary(field="wall")
    # every figure a tool declares beyond wall and cpu (memprofile's peak), each in its own table
    extra = [Summary(field=name) for name in registry.figures() if name not in ("wall", "cpu")]
    for data in records:
        record = SimpleNamespace(**{**data, "name": data["name"], "error": data.get("error")})
        wall.report(record)
        for summary in extra:
            summary.report(record)
    out.write(f"{len(records)} records\n\nwall time\n{wall.table()}\n")
    for summary in extra:
        if summary.stats():
            out.write(f"\n{registry.figure(summary.field).label}\n{summary.table()}\n")  # type: ignore[union-attr]


# -- merge ------------------------------------------------------------------------------


def merge(args: argparse.Namespace, out: IO[str]) -> int:
    """Combine dumps of one kind into one file; nothing is written unless all load."""
    kinds = {path: kind_of(path) for path in args.files}
    if len(set(kinds.values())) > 1:
        listing = ", ".join(f"{path} ({kind})" for path, kind in kinds.items())
        raise DumpError(f"cannot merge different kinds of files: {listing}")
    kind = kinds[args.files[0]]
    expected = {"prof": (".prof", ".pstats"), "lprof": (".lprof",), "records": (".jsonl",)}[kind]
    if not args.output.lower().endswith(expected):
        raise DumpError(f"{args.output}: the merge of {kind} files must be written as {' or '.join(expected)}")
    files = progress(args.files, len(args.files), "merging", stream=sys.stderr)
    if kind == "prof":
        merged = None
        for path in files:
            stats = load_pstats(path)
            merged = stats if merged is None else merged.add(stats)
        data = marshal.dumps(merged.stats)  # type: ignore[union-attr]
    elif kind == "lprof":
        from line_profiler.line_profiler import LineStats

        data = pickle.dumps(LineStats.from_stats_objects(*[load_line_stats(path) for path in files]))
    else:
        lines = [json.dumps(record) for path in files for record in load_records(path)]
        data = ("\n".join(lines) + "\n").encode("utf-8")
    if not atomic_write(args.output, lambda stream: stream.write(data)):
        raise DumpError(f"{args.output}: could not be written")
    out.write(f"merged {len(args.files)} {kind} files into {args.output}\n")
    return 0


# -- convert ----------------------------------------------------------------------------


def convert(args: argparse.Namespace, out: IO[str]) -> int:
    """Convert a ``.prof`` to callgrind or speedscope."""
    if kind_of(args.file) != "prof":
        raise DumpError(f"{args.file}: only pstats profiles (.prof) can be converted")
    stats = load_pstats(args.file)
    stem = os.path.splitext(os.path.basename(args.file))[0]
    if args.to == "callgrind":
        text = to_callgrind(stats)
        default = os.path.join(os.path.dirname(args.file), f"callgrind.out.{stem}")
    else:
        text = json.dumps(to_speedscope(stats, name=stem))
        default = os.path.join(os.path.dirname(args.file), f"{stem}.speedscope.json")
    target = args.output or default
    if target == "-":
        out.write(text)
        return 0
    if not atomic_write(target, lambda stream: stream.write(text.encode("utf-8"))):
        raise DumpError(f"{target}: could not be written")
    opener = "kcachegrind or qcachegrind" if args.to == "callgrind" else "https://www.speedscope.app (drag the file in)"
    out.write(f"wrote {target} (open it with {opener})\n")
    return 0


# -- demo -------------------------------------------------------------------------------


def demo(args: argparse.Namespace, out: IO[str]) -> int:
    """Run the bundled workload through the tools."""
    from profiletools.cli.demo import run_demo

    return run_demo(args.out, out)


# -- parser -----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m profiletools``."""
    parser = argparse.ArgumentParser(prog="profiletools", description="View, merge and convert profiletools dumps.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    show_parser = commands.add_parser("show", help="print .prof, .lprof, .json and .jsonl files")
    show_parser.add_argument("files", nargs="+", metavar="FILE")
    show_parser.add_argument("--sort", default="cumulative", choices=_SORT_KEYS, help="pstats sort key")
    show_parser.add_argument("--limit", type=int, default=25, help="rows of a pstats table (default 25)")
    show_parser.add_argument("--strip-dirs", action="store_true", help="drop directories from file names")
    which = show_parser.add_mutually_exclusive_group()
    which.add_argument("--callers", action="store_true", help="who called each function")
    which.add_argument("--callees", action="store_true", help="what each function called")
    show_parser.add_argument("--unit", type=float, default=None, help="time unit of line tables, e.g. 1e-3 for ms")
    show_parser.set_defaults(handler=show)

    merge_parser = commands.add_parser("merge", help="combine dumps of one kind (worker processes) into one")
    merge_parser.add_argument("files", nargs="+", metavar="FILE")
    merge_parser.add_argument("-o", "--output", required=True, metavar="OUT")
    merge_parser.set_defaults(handler=merge)

    convert_parser = commands.add_parser("convert", help="convert a .prof for KCacheGrind or speedscope")
    convert_parser.add_argument("file", metavar="FILE")
    convert_parser.add_argument("--to", required=True, choices=("callgrind", "speedscope"))
    convert_parser.add_argument("-o", "--output", metavar="OUT", help="output file ('-' for stdout)")
    convert_parser.set_defaults(handler=convert)

    from profiletools.cli import compare

    compare_parser = commands.add_parser(
        "compare", help="compare two record or profile sets with a confidence test (exit 1 on regression)"
    )
    compare.add_arguments(compare_parser)
    compare_parser.set_defaults(handler=lambda args, out: compare.run(args))

    demo_parser = commands.add_parser("demo", help="run the bundled workload through the tools")
    demo_parser.add_argument("--out", default="profiletools-demo", help="directory for the files it writes")
    demo_parser.set_defaults(handler=demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``profiletools`` command."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args, sys.stdout))
    except DumpError as exc:
        sys.stderr.write(f"profiletools: error: {exc}\n")
        return 1
    except BrokenPipeError:  # `profiletools show big.prof | head`
        sys.stderr.close()
        return 0
