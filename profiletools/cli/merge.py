"""``profiletools merge``: dumps of one kind (worker processes) into one file."""

from __future__ import annotations

import argparse
import json
import marshal
import os
import pickle
import sys
from typing import IO, Any

from profiletools.cli.progress import progress
from profiletools.formats.dumps import DumpError, kind_of, load_line_stats, load_pstats, load_records
from profiletools.reporters.files import atomic_write


def merge(args: argparse.Namespace, out: IO[str]) -> int:
    """Combine dumps of one kind into one file; nothing is written unless all load.

    An existing output file is replaced only with ``--force``.
    """
    if os.path.exists(args.output) and not args.force:
        raise DumpError(f"{args.output}: exists; add --force to replace it, or choose another file with -o")
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
        merged: Any = None
        for path in files:
            stats = load_pstats(path)
            merged = stats if merged is None else merged.add(stats)
        data = marshal.dumps(merged.stats)
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


def add_parser(commands: Any) -> None:
    """The ``merge`` sub-command."""
    parser = commands.add_parser("merge", help="combine dumps of one kind (worker processes) into one")
    parser.add_argument("files", nargs="+", metavar="FILE",
                        help="files of one kind: .prof/.pstats, .lprof, or record files (.json, .jsonl)")
    parser.add_argument("-o", "--output", required=True, metavar="OUT",
                        help="the merged file: .prof for profiles, .lprof for line profiles, .jsonl for records")
    parser.add_argument("--force", action="store_true", help="replace the output file if it exists")
    parser.set_defaults(handler=merge)
