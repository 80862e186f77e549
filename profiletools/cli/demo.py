"""The bundled demo workload: build an inverted index over generated text and search it.

The search has a deliberately slow path (a list membership test inside a
loop), the classic profiling-tutorial bug, so the tools have something to find.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import random
import shutil
import warnings
from typing import IO, Any

_WORDS = (
    "profile time memory line call stack frame record report dump table index search "
    "query token python function thread process sample budget summary wall cpu"
).split()


def generate_documents(count: int = 400, length: int = 60, seed: int = 7) -> list[str]:
    """Make ``count`` pseudo-random documents of ``length`` words (deterministic)."""
    rng = random.Random(seed)
    return [" ".join(rng.choice(_WORDS) for _ in range(length)) for _ in range(count)]


def tokenize(document: str) -> list[str]:
    """Split a document into lower-case words."""
    return document.lower().split()


def build_index(documents: list[str]) -> dict[str, list[int]]:
    """Map each word to the ids of the documents containing it (the slow way: list lookups)."""
    index: dict[str, list[int]] = {}
    for doc_id, document in enumerate(documents):
        for word in tokenize(document):
            postings = index.setdefault(word, [])
            if doc_id not in postings:  # O(n) membership test: the deliberate hot spot
                postings.append(doc_id)
    return index


def search(index: dict[str, list[int]], query: str) -> list[int]:
    """Ids of the documents containing every word of ``query``."""
    words = tokenize(query)
    if not words:
        return []
    matches = set(index.get(words[0], []))
    for word in words[1:]:
        matches &= set(index.get(word, []))
    return sorted(matches)


def index_words(documents: list[str], rounds: int = 3) -> int:
    """Build the index ``rounds`` times and search it (the workload ``sampleprofile`` watches)."""
    found = 0
    for _ in range(rounds):
        index = build_index(documents)
        found += sum(len(search(index, query)) for query in ("profile time", "memory line call", "python thread"))
    return found


# -- the demo itself ------------------------------------------------------------------------

#: The hidden file in the output folder listing what the last run wrote (removed by the next run).
_MANIFEST = ".profiletools-demo-files"


def _remove_previous_run(out_dir: str) -> None:
    """Delete the files the previous demo run listed in its manifest (never anything else)."""
    manifest = os.path.join(out_dir, _MANIFEST)
    try:
        with open(manifest, encoding="utf-8") as stream:
            names = stream.read().splitlines()
    except FileNotFoundError:
        names = []
    for name in names:
        if name and os.path.basename(name) == name and not name.startswith("."):
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(out_dir, name))
    with contextlib.suppress(FileNotFoundError):
        os.remove(manifest)


def _installed(module: str) -> bool:
    return shutil.which(module) is not None or importlib.util.find_spec(module) is not None


def _opener(name: str, path: str) -> str:
    """The command or program that opens a file the demo wrote (saying how to get one that is not installed)."""
    show = f"python -m profiletools show {path}"
    if name.endswith(".speedscope.json"):
        return "https://www.speedscope.app (drag the file in)"
    suffix = os.path.splitext(name)[1]
    if suffix == ".prof":
        snakeviz = f"snakeviz {path}" if _installed("snakeviz") else "snakeviz (not installed: pip install snakeviz)"
        return f"{show}  (or {snakeviz})"
    if suffix == ".pyisession":
        return f"{show}  (or pyinstrument --load {path})"
    return {
        ".lprof": f"python -m line_profiler {path}",
        ".png": "any image viewer",
        ".html": "a web browser",
        ".txt": "any text viewer",
    }.get(suffix, show)


def run_demo(out_dir: str, out: IO[str]) -> int:
    """Run the workload through every tool, write the files into ``out_dir``, and say how to open each.

    File names are fixed, and the previous run's files (listed in a hidden
    manifest) are removed first, so a rerun replaces the last run's files
    instead of piling up; other files in ``out_dir`` are left alone.
    """
    from profiletools.core.extras import install_hint
    from profiletools.formats.dumps import DumpError
    from profiletools.reporters import Dump, JsonLines, Stream, Summary
    from profiletools.tools.lineprofile.api import lineprofile
    from profiletools.tools.memprofile.api import memprofile
    from profiletools.tools.profileit.api import profileit
    from profiletools.tools.timed.api import timed

    try:
        os.makedirs(out_dir, exist_ok=True)
        _remove_previous_run(out_dir)
        with open(os.path.join(out_dir, _MANIFEST), "w", encoding="utf-8"):
            pass
    except OSError as exc:
        raise DumpError(f"{out_dir}: the demo cannot write its files there ({exc.strerror or exc})") from None
    summary, stream, dump = Summary(), Stream(out), Dump(out_dir, pattern="{name}{suffix}")
    times_path = os.path.join(out_dir, "times.jsonl")
    times = JsonLines(times_path)
    try:
        from profiletools.reporters.plot import Plot

        plot: Plot | None = Plot(out_dir, pattern="{name}{suffix}")
    except ImportError:
        plot = None

    out.write("1. timed: each step, and 60 searches into a Summary\n")
    with timed("demo.generate", reporters=[stream, summary, times]):
        documents = generate_documents()
    find = timed("demo.search", reporters=[summary, times])(search)

    out.write("\n2. profileit: where build_index spends its time (cProfile)\n")
    profiled = profileit("demo.build_index", sort="tottime", limit=6, strip_dirs=True, reporters=[stream, dump])
    index = profiled(build_index)(documents)

    out.write("\n3. lineprofile: which line of build_index is slow (line_profiler, times in µs)\n")
    lined = lineprofile(build_index, name="demo.lines", reporters=[stream, dump])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a run under another profiler only skips, with a note
        lined(documents[:150])

    out.write("\n4. memprofile: peak, net and RSS of the index, with a timeline\n")
    with memprofile("demo.memory", interval=0.005, reporters=[stream, dump, *([plot] if plot else [])]):
        batches = [[tokenize(document) for document in documents] for _ in range(40)]  # ~25 MB of words
        del batches[::2]  # drop half of it: the timeline falls, net stays up
        index = build_index(documents)

    out.write("\n5. sampleprofile: the call tree of indexing and searching, sampled (pyinstrument)\n")
    try:
        from profiletools.tools.sampleprofile.api import sampleprofile

        sampled = sampleprofile("demo.sample", interval=0.001, reporters=[stream, dump])(index_words)
    except ImportError:
        out.write(f"   skipped: sampleprofile needs pyinstrument, which is not installed: {install_hint('sample')}\n")
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sampled(documents)

    hits = [len(find(index, query)) for query in ("profile time", "memory line call", "python thread") * 20]
    out.write(f"\nindexed {len(documents)} documents, {len(index)} words; {len(hits)} searches, {sum(hits)} hits\n\n")
    summary.print(out)
    times.close()

    written = sorted({os.path.basename(path) for path in [*dump.written, *(plot.written if plot else ())]}
                     | {os.path.basename(times_path)})
    with contextlib.suppress(OSError), open(os.path.join(out_dir, _MANIFEST), "w", encoding="utf-8") as stream_out:
        stream_out.write("".join(f"{name}\n" for name in written))
    out.write(f"\nfiles written to {out_dir}/ (a rerun replaces them; all at once: python -m profiletools show "
              f"{out_dir}):\n")
    for name in written:
        out.write(f"  {name:28s} {_opener(name, os.path.join(out_dir, name))}\n")
    if plot is None:
        out.write(f"  (no memory PNG: it needs matplotlib: {install_hint('plot')})\n")
    return 0


def add_parser(commands: Any) -> None:
    """The ``demo`` sub-command."""
    parser = commands.add_parser("demo", help="run the bundled workload through every tool")
    parser.add_argument(
        "--out", default="profiletools-demo", metavar="DIR",
        help="folder for the files it writes (default: ./profiletools-demo; a rerun replaces its last run's files)",
    )
    parser.set_defaults(handler=lambda args, out: run_demo(args.out, out))
