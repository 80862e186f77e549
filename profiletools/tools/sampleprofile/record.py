"""The record of ``sampleprofile`` and how it reads its pyinstrument ``Session``: tree, text, JSON, files."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import IO, TYPE_CHECKING, Any

from profiletools.core.records import Record, format_seconds
from profiletools.tools.sampleprofile.options import SampleOptions
from profiletools.tools.sampleprofile.session import effective_interval

if TYPE_CHECKING:
    from pyinstrument.frame import Frame
    from pyinstrument.session import Session

#: How deep the JSON tree goes (``record.to_dict()``): deeper frames are left out, the files keep them.
#: A JSON encoder nests two levels per frame and stops at the recursion limit.
JSON_TREE_DEPTH = 100


def _processed_root(session: Session, processors_in_order: Iterable[Any], min_share: float) -> Frame | None:
    frame = session.root_frame()
    options = {"filter_threshold": min_share}
    for processor in processors_in_order:
        frame = processor(frame, options=options)
    return frame


def merged_root(session: Session) -> Frame | None:
    """The session's call tree, repeated calls from one caller merged into one node (nothing hidden)."""
    from pyinstrument import processors

    return _processed_root(session, (processors.merge_consecutive_self_time, processors.aggregate_repeated_calls), 0.0)


def trimmed_root(session: Session, min_share: float) -> Frame | None:
    """The session's call tree, trimmed as the text summary shows it."""
    from pyinstrument import processors

    return _processed_root(session, (
        processors.remove_importlib,
        processors.remove_tracebackhide,
        processors.merge_consecutive_self_time,
        processors.aggregate_repeated_calls,
        processors.remove_irrelevant_nodes,
        processors.remove_unnecessary_self_time_nodes,
    ), min_share)


def _label(frame: Frame) -> str:
    name = frame.function
    if frame.class_name:
        name = f"{frame.class_name}.{name}"
    where = frame.code_position_short() if not frame.is_synthetic else None
    return f"{name}  {where}" if where else name


def tree_lines(root: Frame) -> list[str]:
    """The tree as text lines, each frame with its share of the root's time and its time (any depth)."""
    total = root.time
    lines: list[str] = []
    pending: list[tuple[Frame, str, str]] = [(root, "", "")]
    while pending:
        frame, prefix, child_prefix = pending.pop()
        share = frame.time / total * 100 if total > 0 else 100.0
        lines.append(f"{share:5.1f}%  {format_seconds(frame.time):>9}  {prefix}{_label(frame)}")
        children = frame.children
        for position in range(len(children) - 1, -1, -1):  # pushed last first: popped in order
            last = position == len(children) - 1
            branch, under = ("└─ ", "   ") if last else ("├─ ", "│  ")
            pending.append((children[position], child_prefix + branch, child_prefix + under))
    return lines


def tree_dict(root: Frame, depth: int = JSON_TREE_DEPTH) -> dict[str, Any]:
    """The tree as JSON-ready nested dicts, ``depth`` levels deep (below, ``"children_left_out"`` counts them)."""
    total = root.time

    def node(frame: Frame) -> dict[str, Any]:
        return {
            "function": frame.function,
            "class": frame.class_name,
            "file": frame.file_path,
            "line": frame.line_no,
            "time": frame.time,
            "share": frame.time / total if total > 0 else 1.0,
            "children": [],
        }

    top = node(root)
    pending = [(root, top, 1)]
    while pending:
        frame, made, level = pending.pop()
        if level >= depth and frame.children:
            made["children_left_out"] = len(frame.children)
            continue
        for child in frame.children:
            child_node = node(child)
            made["children"].append(child_node)
            pending.append((child, child_node, level + 1))
    return top


def _identifier(info: str) -> str:
    return info.partition("\x01")[0]


def _key(identifier: str) -> tuple[str, int, str]:
    """A pstats-like key ``(file, first line, function)`` for a pyinstrument frame identifier."""
    parts = identifier.split("\x00")
    if len(parts) < 3:
        return ("~", 0, identifier)
    return (parts[1], int(parts[2]) if parts[2].isdigit() else 0, parts[0])


def function_times(session: Session) -> dict[tuple[str, int, str], tuple[float, float]]:
    """Per function: ``(self seconds, total seconds)`` over the samples.

    Keys are ``(file, first line, function)`` as in pstats (built-ins and
    ``[await]`` get the file ``<built-in>`` or ``~``). A function on the stack
    twice (recursion) counts once per sample in its total.
    """
    times: dict[tuple[str, int, str], list[float]] = {}
    for stack, seconds in session.frame_records:
        if not stack:
            continue
        seen = set()
        for info in stack:
            key = _key(_identifier(info))
            if key in seen:
                continue
            seen.add(key)
            times.setdefault(key, [0.0, 0.0])[1] += seconds
        times[_key(_identifier(stack[-1]))][0] += seconds
    return {key: (own, total) for key, (own, total) in times.items()}


def sampling_line(session: Session) -> str:
    """``"54 samples every 1 ms (effective 1.1 ms)"``: what the clock was asked and what it did."""
    text = f"{session.sample_count:,} samples every {format_seconds(session.min_interval)}"
    effective = effective_interval(session)
    if effective is not None:
        text += f" (effective {format_seconds(effective)})"
    return text


class SampleRecord(Record):
    """The record of ``sampleprofile``: ``payload`` (also ``session``) is a pyinstrument ``Session``.

    ``session`` is ``None`` when the call ran unsampled; ``skipped`` says why.
    """

    __slots__ = ()

    @property
    def session(self) -> Session | None:
        """The pyinstrument session (``Session.save``/``load``, any pyinstrument renderer)."""
        return self.payload  # type: ignore[no-any-return]

    @property
    def root(self) -> Frame | None:
        """The call tree (a pyinstrument ``Frame``: ``function``, ``time``, ``children``...), or ``None``.

        Nothing is hidden; the calls of one function from one caller are merged into one node.
        """
        session = self.payload
        return None if session is None else merged_root(session)

    @property
    def min_share(self) -> float:
        """The smallest share of the total a frame needs to be shown in ``text()``."""
        default: float = SampleOptions._field_defaults["min_share"]  # a file's session has no attribute
        return getattr(self.payload, "profiletools_min_share", default)

    @property
    def sample_count(self) -> int:
        """How many samples the profile holds (0 when the call was not sampled)."""
        return 0 if self.payload is None else int(self.payload.sample_count)

    @property
    def effective_interval(self) -> float | None:
        """Seconds of running time per sample: the interval the clock achieved (``None`` without samples)."""
        return None if self.payload is None else effective_interval(self.payload)

    @property
    def note(self) -> str | None:
        """Why the samples are not a profile (a call shorter than a few intervals), else ``None``."""
        return getattr(self.payload, "profiletools_note", None)

    def function_times(self) -> dict[tuple[str, int, str], tuple[float, float]]:
        """Per function ``(self seconds, total seconds)``; see :func:`function_times`."""
        return {} if self.payload is None else function_times(self.payload)

    def hottest(self, count: int = 3) -> list[tuple[str, int, str]]:
        """The ``count`` functions with the most self time, hottest first."""
        times = self.function_times()
        return sorted(times, key=lambda key: times[key][0], reverse=True)[:count]

    def text(self) -> str:
        """The headline with the samples and the interval, a note when they are too few, the trimmed tree."""
        session = self.payload
        if session is None:
            return self.headline()
        first = f"{self.headline()}: {sampling_line(session)}"
        root = trimmed_root(session, self.min_share)
        lines = [first + (", no samples recorded" if root is None else f", {format_seconds(root.time)} sampled")]
        note = self.note
        if note:
            lines.append(f"({note})")
        if root is None:
            return "\n".join(lines)
        lines.extend(tree_lines(root))
        if self.min_share > 0:
            lines.append(f"(frames under {self.min_share:.1%} of the total are hidden)")
        return "\n".join(lines)

    def payload_dict(self) -> dict[str, Any] | None:
        """Samples, intervals, the note and the trimmed tree (``JSON_TREE_DEPTH`` levels) as JSON-ready data."""
        session = self.payload
        if session is None:
            return None
        root = trimmed_root(session, self.min_share)
        return {
            "samples": session.sample_count,
            "interval": session.min_interval,
            "effective_interval": effective_interval(session),
            "duration": session.duration,
            "sampled": 0.0 if root is None else root.time,
            "note": self.note,
            "tree": None if root is None else tree_dict(root),
        }

    def dump_suffix(self) -> str:
        """``.pyisession``: pyinstrument's session file (``pyinstrument --load``, ``Session.load``)."""
        return ".pyisession"

    def write_dump(self, stream: IO[bytes]) -> None:
        """Write the session as ``Session.save`` does."""
        stream.write(json.dumps(self._session_or_fail().to_json()).encode("utf-8"))

    def write_html(self, stream: IO[bytes]) -> None:
        """Write pyinstrument's interactive HTML page (self-contained: opens offline)."""
        from pyinstrument.renderers import HTMLRenderer

        stream.write(HTMLRenderer().render(self._session_or_fail()).encode("utf-8"))

    def write_speedscope(self, stream: IO[bytes]) -> None:
        """Write the profile in speedscope's JSON format (https://www.speedscope.app)."""
        from pyinstrument.renderers import SpeedscopeRenderer

        stream.write(SpeedscopeRenderer().render(self._session_or_fail()).encode("utf-8"))

    def dump_files(self) -> list[tuple[str, Callable[[IO[bytes]], None]]]:
        """Speedscope JSON, the HTML page and the session file; none when the call was not sampled."""
        if self.payload is None:
            return []
        return [
            (".speedscope.json", self.write_speedscope), (".html", self.write_html), (".pyisession", self.write_dump),
        ]

    def _session_or_fail(self) -> Session:
        if self.payload is None:
            raise ValueError("this call was not sampled; there is no profile to write")
        return self.payload  # type: ignore[no-any-return]
