"""Count the words of a text: the first example of the getting-started page.

Run: python first_steps.py
"""

from __future__ import annotations

from profiletools import memprofile, profileit, timed


def words(text: str) -> list[str]:
    return text.lower().split()


@timed
def load() -> str:
    return "the quick brown fox jumps over the lazy dog " * 20_000


@profileit(limit=4, strip_dirs=True)
def count(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for word in words(text):
        counts[word] = counts.get(word, 0) + 1
    return counts


if __name__ == "__main__":
    text = load()
    with memprofile("index"):
        index = {word: position for position, word in enumerate(words(text))}
    print(count(text)["the"])
