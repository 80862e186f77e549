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
    """Time the workload's steps and print each call and a summary table."""
    from profiletools.reporters import Collect, Stream, Summary
    from profiletools.timing import timed

    summary = Summary()
    stream = Stream(out)
    with timed("demo.generate", reporters=[stream, summary]):
        documents = generate_documents()
    build = timed("demo.build_index", reporters=[stream, summary])(build_index)
    find = timed("demo.search", reporters=[summary, Collect()])(search)
    index = build(documents)
    hits = [len(find(index, query)) for query in ("profile time", "memory line call", "python thread") * 20]
    out.write(f"\nindexed {len(documents)} documents, {len(index)} words; {len(hits)} searches, {sum(hits)} hits\n")
    summary.print(out)
    return 0
