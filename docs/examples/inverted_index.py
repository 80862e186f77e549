"""An inverted index: each word of a text -> the character offsets where it starts.

``build_index`` walks the text once. ``build_index_quadratic`` is the same
index with a classic regression: for every word it asks ``getOffsetUpToWord``
where that word starts, and that function re-scans every word before it, so
``n`` words cost ``n * (n - 1) / 2`` calls of ``len``.
"""

from __future__ import annotations


def build_index(text: str) -> dict[str, list[int]]:
    """Word -> offsets, in one pass: one ``len`` per word."""
    index: dict[str, list[int]] = {}
    offset = 0
    for word in text.split(" "):
        index.setdefault(word, []).append(offset)
        offset += len(word) + 1
    return index


def getOffsetUpToWord(words: list[str], position: int) -> int:
    """Where ``words[position]`` starts: re-scans every word before it."""
    offset = 0
    for word in words[:position]:
        offset += len(word) + 1
    return offset


def build_index_quadratic(text: str) -> dict[str, list[int]]:
    """The same index, asking ``getOffsetUpToWord`` for every word: quadratic."""
    index: dict[str, list[int]] = {}
    words = text.split(" ")
    for position, word in enumerate(words):
        index.setdefault(word, []).append(getOffsetUpToWord(words, position))
    return index


def sample_text(words: int) -> str:
    """``words`` words of a made-up text, the same on every call."""
    vocabulary = ("the", "index", "maps", "each", "word", "to", "its", "offsets", "in", "text")
    return " ".join(vocabulary[(i * 7) % len(vocabulary)] for i in range(words))
