"""``profiletools convert``: a ``.prof`` for KCacheGrind (callgrind) or speedscope."""

from __future__ import annotations

import argparse
import json
import os
from typing import IO, Any

from profiletools.formats.convert import to_callgrind, to_speedscope
from profiletools.formats.dumps import DumpError, kind_of, load_pstats
from profiletools.reporters.files import atomic_write


def convert(args: argparse.Namespace, out: IO[str]) -> int:
    """Convert a ``.prof`` to callgrind or speedscope; an existing file is replaced only with ``--force``."""
    if kind_of(args.file) != "prof":
        raise DumpError(f"{args.file}: only pstats profiles (.prof) can be converted")
    stats = load_pstats(args.file)
    stem = os.path.splitext(os.path.basename(args.file))[0]
    if args.to == "callgrind":
        default = os.path.join(os.path.dirname(args.file), f"callgrind.out.{stem}")
    else:
        default = os.path.join(os.path.dirname(args.file), f"{stem}.speedscope.json")
    target = args.output or default
    if target != "-" and os.path.exists(target) and not args.force:
        raise DumpError(f"{target}: exists; add --force to replace it, or choose another file with -o")
    text = to_callgrind(stats) if args.to == "callgrind" else json.dumps(to_speedscope(stats, name=stem))
    if target == "-":
        out.write(text)
        return 0
    if not atomic_write(target, lambda stream: stream.write(text.encode("utf-8"))):
        raise DumpError(f"{target}: could not be written")
    opener = "kcachegrind or qcachegrind" if args.to == "callgrind" else "https://www.speedscope.app (drag the file in)"
    out.write(f"wrote {target} (open it with {opener})\n")
    return 0


def add_parser(commands: Any) -> None:
    """The ``convert`` sub-command."""
    parser = commands.add_parser("convert", help="convert a .prof for KCacheGrind or speedscope")
    parser.add_argument("file", metavar="FILE", help="a pstats profile (.prof), as profileit's Dump writes it")
    parser.add_argument("--to", required=True, choices=("callgrind", "speedscope"),
                        help="callgrind: for KCacheGrind/QCacheGrind; speedscope: for https://www.speedscope.app")
    parser.add_argument("-o", "--output", metavar="OUT",
                        help="output file ('-' for stdout; default: callgrind.out.NAME or NAME.speedscope.json "
                             "next to FILE)")
    parser.add_argument("--force", action="store_true", help="replace the output file if it exists")
    parser.set_defaults(handler=convert)
