"""The bundled demo workload: build an inverted index over generated text and search it.

The search has a deliberately slow path (a list membership test inside a
loop), the classic profiling-tutorial bug, so the tools have something to find.
"""

from __future__ import annotations

import random
from typing import IO

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


def run_demo(out_dir: str, out: IO[str]) -> int:
    """Run the workload through every tool, write the files, and say how to open each."""
    import os
    import warnings

    from profiletools.reporters import Dump, JsonLines, Stream, Summary
    from profiletools.tools.lineprofile.api import lineprofile
    from profiletools.tools.memprofile.api import memprofile
    from profiletools.tools.profileit.api import profileit
    from profiletools.tools.timed.api import timed

    os.makedirs(out_dir, exist_ok=True)
    summary, stream, dump = Summary(), Stream(out), Dump(out_dir)
    times = JsonLines(os.path.join(out_dir, "times.jsonl"))
    try:
        from profiletools.reporters.plot import Plot

        plots: list[object] = [Plot(out_dir)]
    except ImportError:
        plots = []

    out.write("1. timed: each step, and 60 searches into a Summary\n")
    with timed("demo.generate", reporters=[stream, summary, times]):
        documents = generate_documents()
    find = timed("demo.search", reporters=[summary, times])(search)

    out.write("\n2. profileit: where build_index spends its time (cProfile)\n")
    profiled = profileit("demo.build_index", sort="tottime", limit=6, strip_dirs=True, reporters=[stream, dump])
    index = profiled(build_index)(documents)

    out.write("\n3. lineprofile: which line of build_index is slow\n")
    lined = lineprofile(build_index, reporters=[stream, dump], unit="ms")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a run under another profiler only skips, with a note
        lined(documents[:150])

    out.write("\n4. memprofile: peak, net and RSS of the index, with a timeline\n")
    with memprofile("demo.memory", interval=0.005, reporters=[stream, dump, *plots]):
        batches = [[tokenize(document) for document in documents] for _ in range(40)]  # ~25 MB of words
        del batches[::2]  # drop half of it: the timeline falls, net stays up
        index = build_index(documents)

    hits = [len(find(index, query)) for query in ("profile time", "memory line call", "python thread") * 20]
    out.write(f"\nindexed {len(documents)} documents, {len(index)} words; {len(hits)} searches, {sum(hits)} hits\n\n")
    summary.print(out)

    openers = {
        ".prof": "python -m profiletools show {path}  (or snakeviz; or convert --to callgrind)",
        ".lprof": "python -m line_profiler {path}",
        ".png": "any image viewer",
        ".json": "python -m profiletools show {path}",
        ".txt": "any text viewer",
        ".jsonl": "python -m profiletools show {path}",
    }
    out.write(f"\nfiles written to {out_dir}/:\n")
    for name in sorted(os.listdir(out_dir)):
        path = os.path.join(out_dir, name)
        suffix = ".txt" if name.endswith(".txt") else os.path.splitext(name)[1]
        out.write(f"  {name:40s} {openers.get(suffix, '').format(path=path)}\n")
    if not plots:
        from profiletools.core.extras import install_hint

        out.write(f"  (no memory PNG: it needs matplotlib: {install_hint('plot')})\n")
    return 0
