"""Real stdlib workloads for the agreement suite, and the inputs they run on.

Each workload is a plain function of one argument that returns what it built, so
memory measurements see a result of realistic size. Inputs are built once, outside
any measurement, and are the same on every run of a process (no randomness, no clock).
"""

from __future__ import annotations

import ast
import difflib
import email
import email.feedparser
import email.headerregistry
import email.message
import email.policy
import importlib
import io
import json
import json.encoder
import zlib
from collections.abc import Callable
from email.message import EmailMessage
from functools import cache
from pathlib import Path
from typing import Any

#: A stdlib module whose source is parsed and unparsed: 3,400+ lines with classes,
#: decorators, lambdas, comprehensions, f-strings, nested functions and docstrings. What
#: the workload keeps (tree and text, 3.5 MB) dwarfs the 5-10 KB by which CPython's
#: method cache (it holds the ``"visit_" + name`` strings of the last lookups) makes one
#: run's net differ from the next; a 1,000-line module would make that 0.8 %.
AST_MODULE = "typing"
#: The stdlib module byte-compiled by :func:`archive_sources` (long compiles).
ARCHIVE_MODULE = "typing"
#: The stdlib module whose source is the text that difflib compares.
DIFF_MODULE = "argparse"
#: Rounds of :func:`archive_sources` (each about 30 ms unprofiled), the bytes of source
#: it compresses and the copies of :func:`json_input` it decodes per round.
SAMPLING_ROUNDS = 6
COMPRESSED_BYTES = 60_000
INDEX_COPIES = 6
#: Unmeasured runs of a workload before its first measured one.
WARM_UP_RUNS = 2
#: The two ways every tool is used: ``@tool`` on the workload, ``with tool():`` around its call.
FORMS = ("decorator", "block")


def stdlib_source(module: str) -> str:
    """The source text of a stdlib module (read from its file, not imported code)."""
    path = importlib.import_module(module).__file__
    assert path is not None
    return Path(path).read_text(encoding="utf-8")


# -- the workloads ----------------------------------------------------------------------


def ast_roundtrip(source: str) -> tuple[ast.Module, str]:
    """Parse Python source into an AST and unparse it back to source; return both.

    ``ast.unparse`` recurses through ``_Unparser.traverse``/``visit`` and many
    ``visit_*`` methods (mutual, indirect recursion), and ``ast.py`` has many
    same-named functions (every ``<lambda>``, several ``visit``, ``__init__``,
    ``__enter__``/``__exit__`` of different classes).
    """
    tree = ast.parse(source)
    return tree, ast.unparse(tree)


def json_encode(records: list[dict[str, Any]]) -> list[str]:
    """Write each record as indented JSON to a text stream, as ``json.dump`` to a file does.

    ``json.dump`` streams through the pure-Python encoder (``_make_iterencode``'s
    recursive ``_iterencode_dict``/``_iterencode_list``) on every version; ``json.dumps``
    uses the C encoder when it can (3.13: also with ``indent``).
    """
    written = []
    for record in records:
        stream = io.StringIO()
        json.dump(record, stream, indent=2, sort_keys=True)
        written.append(stream.getvalue())
    return written


def diff_texts(texts: tuple[list[str], list[str]]) -> tuple[list[str], difflib.SequenceMatcher[str]]:
    """A unified diff of two versions of a text, plus the similarity ratio of each changed line; and the matcher."""
    old, new = texts
    lines = list(difflib.unified_diff(old, new, "old.py", "new.py", n=2))
    matcher = difflib.SequenceMatcher(None, old, new)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "replace":
            for a, b in zip(old[i1:i2], new[j1:j2]):
                lines.append(f"{difflib.SequenceMatcher(None, a, b).ratio():.3f}")
    return lines, matcher


def parse_emails(messages: list[bytes]) -> list[tuple[EmailMessage, str, str, str | bytes]]:
    """Parse multipart messages with the modern policy; read every part's headers and decoded content."""
    seen = []
    for raw in messages:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        for part in message.walk():
            if not part.is_multipart():
                seen.append((message, str(message["subject"]), part.get_content_type(), part.get_content()))
    return seen


def archive_sources(inputs: tuple[str, bytes, str]) -> list[tuple[Any, bytes, Any]]:
    """Byte-compile, compress and index a source file, in rounds: ``compile``, ``zlib.compress``, ``json.loads``.

    Each step is one long call that makes no Python call inside, so a sampling profiler
    charges its wall time to one function: ``compile`` about three times as much as
    ``compress`` or ``raw_decode``, and any other function less than a fiftieth of
    those. The hottest function and the hottest three stand out even on a loaded
    machine. Results are kept (returned), so freeing them is not part of the work.
    """
    source, blob, index = inputs
    return [
        (compile(source, ARCHIVE_MODULE + ".py", "exec"), zlib.compress(blob, 9), json.loads(index))
        for _ in range(SAMPLING_ROUNDS)
    ]


# -- their inputs -----------------------------------------------------------------------


@cache
def ast_input() -> str:
    """The source of :data:`AST_MODULE`."""
    return stdlib_source(AST_MODULE)


@cache
def json_input() -> list[dict[str, Any]]:
    """300 nested records: strings, numbers, floats, booleans, ``None``, lists and dicts."""
    return [
        {
            "id": i,
            "name": f"item-{i:04d}",
            "price": round(i * 1.37, 2),
            "active": i % 3 == 0,
            "note": None if i % 5 else "needs \"review\"\n",
            "tags": [f"t{j}" for j in range(i % 7)],
            "dimensions": {"w": i % 11, "h": i % 13, "unit": "cm"},
            "history": [{"at": 1_700_000_000 + k, "qty": k * i % 17} for k in range(i % 4)],
        }
        for i in range(300)
    ]


@cache
def diff_input() -> tuple[list[str], list[str]]:
    """The source of :data:`DIFF_MODULE`, and a version with lines edited, removed and added."""
    old = stdlib_source(DIFF_MODULE).splitlines(keepends=True)[:1200]
    new = []
    for number, line in enumerate(old):
        if number % 23 == 0:
            continue  # removed
        if number % 17 == 0:
            line = line.replace("self", "this").replace("_", "-")  # edited
        new.append(line)
        if number % 41 == 0:
            new.append(f"# added after line {number}\n")
    return old, new


@cache
def email_input() -> list[bytes]:
    """12 multipart messages: text and HTML alternatives, an attachment, encoded headers.

    The HTML part is a newsletter-sized page (about 250 KB in 900-character lines),
    so what the workload keeps (messages and decoded parts, about 7 MB) dwarfs the
    few KB CPython's internal tables may grow by in one run and not the next.
    """
    messages = []
    for i in range(12):
        message = EmailMessage()
        message["From"] = f"Zoë Müller <zoe.{i}@example.org>"
        message["To"] = ", ".join(f"Person {k} <p{k}@example.com>" for k in range(1 + i % 4))
        message["Subject"] = f"Rapport n°{i}: état des lieux – {'ünïcödé ' * (1 + i % 3)}"
        message["Message-ID"] = f"<{i}.agreement@example.org>"
        body = "\n".join(f"Line {k} of message {i}: the quick brown fox jumps over the lazy dog." for k in range(30))
        message.set_content(body)
        row = f"<tr><td>{i}</td><td>{'the quick brown fox jumps over the lazy dog ' * 20}</td></tr>"
        page = "\n".join([f"<p>{body.replace(chr(10), '<br>')}</p>", *[row] * 280])
        message.add_alternative(f"<html><body>{page}</body></html>", subtype="html", cte="8bit")
        message.add_attachment(bytes(range(256)) * (64 + 16 * (i % 5)), maintype="application", subtype="octet-stream",
                               filename=f"data-{i}.bin")
        messages.append(message.as_bytes())
    return messages



@cache
def archive_input() -> tuple[str, bytes, str]:
    """The source of :data:`ARCHIVE_MODULE`, a slice of it to compress, and a JSON index."""
    source = stdlib_source(ARCHIVE_MODULE)
    return source, source.encode()[:COMPRESSED_BYTES], json.dumps(json_input() * INDEX_COPIES)


#: name → (workload, input builder)
WORKLOADS: dict[str, tuple[Callable[[Any], Any], Callable[[], Any]]] = {
    "ast": (ast_roundtrip, ast_input),
    "json": (json_encode, json_input),
    "difflib": (diff_texts, diff_input),
    "email": (parse_emails, email_input),
}
#: The same, with the workload made for sampling (see :func:`archive_sources`).
ALL_WORKLOADS = {**WORKLOADS, "archive": (archive_sources, archive_input)}


#: name → functions of that workload's call tree to time line by line (methods, plain
#: functions, generators), in addition to the workload function itself.
LINE_TARGETS: dict[str, list[Callable[..., Any]]] = {
    "ast": [
        ast.parse,
        ast.NodeVisitor.visit,
        ast._Unparser.traverse,  # type: ignore[attr-defined]
        ast._Unparser.visit_Name,  # type: ignore[attr-defined]
        ast._Unparser.visit_Call,  # type: ignore[attr-defined]
        ast._Unparser.write,  # type: ignore[attr-defined]
    ],
    "json": [
        json.dump,
        json.encoder.JSONEncoder.__init__,
        json.encoder.JSONEncoder.iterencode,
        json.encoder._make_iterencode,  # type: ignore[attr-defined]
    ],
    "difflib": [
        difflib.unified_diff,
        difflib.SequenceMatcher.find_longest_match,
        difflib.SequenceMatcher.get_matching_blocks,
        difflib.SequenceMatcher.get_opcodes,
        difflib.SequenceMatcher.get_grouped_opcodes,
        difflib.SequenceMatcher.ratio,
    ],
    "email": [
        email.feedparser.FeedParser._parsegen,  # type: ignore[attr-defined]
        email.feedparser.BufferedSubFile.readline,
        email.headerregistry.HeaderRegistry.__getitem__,
        email.message.Message.get_content_type,
        email.message.Message.walk,
    ],
}



@cache
def prepared(name: str) -> tuple[Callable[[Any], Any], Any]:
    """The workload called ``name`` and its input, after :data:`WARM_UP_RUNS` unmeasured runs.

    The first run fills what a first call fills (compiled regular expressions, lazily
    built tables, caches), so every measured run after it calls the same functions.
    """
    workload, build = ALL_WORKLOADS[name]
    data = build()
    for _ in range(WARM_UP_RUNS):
        workload(data)
    return workload, data


def run_under(tool: Callable[..., Any], form: str, name: str, *functions: Callable[..., Any]) -> Any:
    """Run the workload ``name`` once under a profiletools tool, in one of :data:`FORMS`; its record.

    ``functions`` are more functions to time (``lineprofile``): ``also=`` for the
    decorator, the block's arguments for the block. The workload's result is dropped
    before returning, as its caller would drop it.
    """
    from profiletools import reporters

    workload, data = prepared(name)
    seen = reporters.Collect()
    if form == "decorator":
        options = {"also": list(functions)} if functions else {}
        result = tool(reporters=[seen], **options)(workload)(data)
        (record,) = seen.records
    else:
        with tool(*functions, reporters=[seen]) as probe:
            result = workload(data)
        record = probe.record
    del result
    assert record.skipped is None, record.skipped
    return record
