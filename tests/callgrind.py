"""Readers of callgrind files for the tests: a small parser of the format, and valgrind's ``callgrind_annotate``."""

from __future__ import annotations

import re
import subprocess
from collections import defaultdict
from pathlib import Path

Function = tuple[str, str]  # (file, name): how a callgrind reader identifies a function

_COMPRESSED = re.compile(r"^\((\d+)\)(?: (.*))?$")


def read_callgrind(text: str) -> tuple[dict[Function, int], dict[tuple[Function, Function], tuple[int, int]]]:
    """Self cost per function and (calls, inclusive cost) per call edge, as KCacheGrind reads the file.

    A function is identified by its file and its name (names may be
    compressed: ``(3) name`` defines id 3, ``(3)`` refers to it; files and
    functions have separate tables). Costs of one function or edge add up.
    """
    tables: dict[str, dict[str, str]] = {"file": {}, "function": {}}

    def resolve(kind: str, value: str) -> str:
        match = _COMPRESSED.match(value)
        if match is None:
            return value
        number, name = match.groups()
        if name is not None:
            assert tables[kind].get(number, name) == name, f"id ({number}) redefined"
            tables[kind][number] = name
        return tables[kind][number]

    own: dict[Function, int] = defaultdict(int)
    edges: dict[tuple[Function, Function], tuple[int, int]] = {}
    file = callee_file = ""
    current: Function = ("", "")
    callee: Function | None = None
    calls: int | None = None
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key == "fl":
            file = callee_file = resolve("file", value)
        elif key in ("fi", "fe"):
            resolve("file", value)
        elif key == "fn":
            current = (file, resolve("function", value))
            own[current] += 0
        elif key in ("cfl", "cfi"):
            callee_file = resolve("file", value)
        elif key == "cfn":
            callee = (callee_file, resolve("function", value))
        elif key == "calls":
            calls = int(value.split()[0])
        elif line[:1].isdigit():
            cost = int(line.split()[1])
            if calls is None:
                own[current] += cost
            else:
                assert callee is not None
                before = edges.get((current, callee), (0, 0))
                edges[(current, callee)] = (before[0] + calls, before[1] + cost)
                calls, callee, callee_file = None, None, file
    return dict(own), edges


ANNOTATED_FUNCTION = re.compile(r"^\s*([\d,]+) \(\s*[\d.]+%\)\s+\*\s+(.+)$")
ANNOTATED_CALL = re.compile(r"^\s*([\d,]+) \(\s*[\d.]+%\)\s+>\s+(.+) \(([\d,]+)x\) \[.*\]$")
ANNOTATED_TOTAL = re.compile(r"^\s*([\d,]+) \(100\.0%\)\s+PROGRAM TOTALS$")


def callgrind_annotate(path: Path) -> tuple[int, dict[str, int], dict[tuple[str, str], tuple[int, int]]]:
    """valgrind's reader: program total, self cost per ``file:function``, (calls, inclusive) per edge."""
    done = subprocess.run(["callgrind_annotate", "--threshold=100", "--auto=no", "--tree=calling", str(path)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0 and not done.stderr, done.stderr
    total = 0
    functions: dict[str, int] = {}
    edges: dict[tuple[str, str], tuple[int, int]] = {}
    current = ""
    for line in done.stdout.splitlines():
        if match := ANNOTATED_TOTAL.match(line):
            total = int(match.group(1).replace(",", ""))
        elif match := ANNOTATED_CALL.match(line):
            edges[(current, match.group(2))] = (int(match.group(3).replace(",", "")),
                                                int(match.group(1).replace(",", "")))
        elif match := ANNOTATED_FUNCTION.match(line):
            current = match.group(2)
            assert current not in functions, f"{current} listed twice"
            functions[current] = int(match.group(1).replace(",", ""))
    return total, functions, edges
