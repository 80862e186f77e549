"""Records: what one measured call or block produced.

A record is an immutable named tuple (not a dataclass: a frozen dataclass costs
about 2 µs to build, a tuple 0.15 µs, and one record is built per call). The
common fields come first; the tool's result is in ``payload``. Tools subclass
:class:`Record` to add readable accessors and their own dump format.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import IO, Any, NamedTuple

from profiletools.core.settings import STATE

#: Time units by name, in seconds: what ``lineprofile(unit=...)`` and ``profiletools show --unit`` take.
TIME_UNITS: dict[str, float] = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}

#: ``Record.started`` is derived from the monotonic clock: one clock read per call instead of two.
#: ``record.started - EPOCH_ANCHOR`` is the ``time.perf_counter()`` reading the call started at.
EPOCH_ANCHOR = time.time() - time.perf_counter()


def format_seconds(seconds: float | None) -> str:
    """Render a duration with a unit that keeps three significant digits.

    >>> format_seconds(0.0123)
    '12.3 ms'
    >>> format_seconds(2.5e-7)
    '250 ns'
    """
    if seconds is None:
        return "-"
    # One float formatting (each costs 300-500 ns; the default reporter formats a record per call).
    magnitude = abs(seconds)
    if magnitude >= 1.0:
        return f"{seconds:.3g} s"
    if magnitude >= 1e-3:
        unit, scale, larger = "ms", 1e-3, "s"
    elif magnitude >= 1e-6:
        unit, scale, larger = "µs", 1e-6, "ms"
    else:
        unit, scale, larger = "ns", 1e-9, "µs"
    text = f"{seconds / scale:.3g}"
    if "e+" in text:  # rounded up to 1000: the next unit, so 0.000999999 is "1 ms", not "1e+03 µs"
        return f"{seconds / scale / 1000:.3g} {larger}"
    return f"{text} {unit}"


def format_bytes(count: float | None) -> str:
    """Render a byte count in binary units with three significant digits.

    >>> format_bytes(52428800)
    '50 MiB'
    >>> format_bytes(-1536)
    '-1.5 KiB'
    """
    if count is None:
        return "-"
    magnitude = abs(count)
    for scale in (1 << 30, 1 << 20, 1 << 10):
        if magnitude < scale and float(f"{magnitude / scale:.3g}") >= 1:
            magnitude = count = scale if count > 0 else -scale  # 1023.9 B rounds up to "1 KiB"
            break
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if magnitude >= scale:
            return f"{count / scale:.3g} {unit}"
    return f"{count:.0f} B"


def _json_ready(value: Any) -> Any:
    """Turn a payload value into something ``json.dumps`` accepts."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return _json_ready(to_dict())
    if isinstance(value, dict):
        return {str(key): _json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(item) for item in value]
    return repr(value)


class Record(NamedTuple):
    """One measurement of one call or block.

    ``wall`` and ``cpu`` are seconds; ``cpu`` is the calling thread's CPU time
    (``None`` when measured with ``cpu=False``). ``started`` is epoch seconds.
    ``thread`` is the thread's ident. ``error`` names the exception type the
    call raised, or is ``None``. ``skipped`` says why the tool's measurement
    was not taken (the call itself still ran), or is ``None``. ``budget`` is
    the :class:`profiletools.core.budgets.Budget` the call was given, or ``None``.
    """

    tool: str
    name: str
    qualname: str
    module: str | None
    started: float
    wall: float
    cpu: float | None
    pid: int
    thread: int
    error: str | None
    payload: Any = None
    skipped: str | None = None
    budget: Any = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the common fields and the payload's figures."""
        data: dict[str, Any] = {
            "tool": self.tool,
            "name": self.name,
            "qualname": self.qualname,
            "module": self.module,
            "started": self.started,
            "wall": self.wall,
            "cpu": self.cpu,
            "pid": self.pid,
            "thread": self.thread,
            "error": self.error,
        }
        if self.skipped is not None:
            data["skipped"] = self.skipped
        over = self.over_budget
        if self.budget is not None:
            data["budget"] = {"limit": self.budget.limit, "p95": self.budget.p95, "over": over}
            if getattr(self.budget, "counted", False):
                data["budget"]["calls"] = {entry.pattern.text: entry.limit for entry in self.budget.calls}
                data["budget"]["total_calls"] = self.budget.total_calls
        payload = self.payload_dict()
        if payload:
            data["payload"] = payload
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], payload: Any = None) -> Any:
        """A record of this type rebuilt from ``to_dict()`` output: the common fields, and ``payload`` as given.

        A tool whose text reads its payload rebuilds the payload and passes it
        (see ``Tool.from_dict`` in :mod:`profiletools.core.registry`). Raises
        ``ValueError`` when a common field is missing or of the wrong type.

        >>> record = TimingRecord("timed", "load", "load", None, 0.0, 0.25, 0.125, 1, 1, None)
        >>> TimingRecord.from_dict(record.to_dict()).text() == record.text()
        True
        """
        try:
            cpu = data.get("cpu")
            budget = data.get("budget")
            return cls(
                str(data["tool"]), str(data["name"]), str(data.get("qualname") or data["name"]), data.get("module"),
                float(data.get("started") or 0.0), float(data["wall"]), None if cpu is None else float(cpu),
                int(data.get("pid") or 0), int(data.get("thread") or 0), data.get("error"), payload,
                data.get("skipped"), _StoredBudget(budget) if isinstance(budget, Mapping) else None,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a record ({type(exc).__name__}: {exc})") from None

    def payload_dict(self) -> dict[str, Any] | None:
        """The payload as JSON-ready data; tools override this for rich payloads."""
        if self.payload is None:
            return None
        ready = _json_ready(self.payload)
        return ready if isinstance(ready, dict) else {"value": ready}

    @property
    def over_budget(self) -> str | None:
        """How this record exceeds its per-call budget (e.g. ``wall 25 ms > budget 20 ms``), or ``None``."""
        return None if self.budget is None else self.budget.exceeded_by(self)  # type: ignore[no-any-return]

    def headline(self) -> str:
        """One human line: tool, name, wall and CPU time, error and skip reason."""
        line = f"{self.tool} {self.name}: {format_seconds(self.wall)}"
        if self.cpu is not None:
            line += f" (cpu {format_seconds(self.cpu)})"
        if self.error is not None:
            line += f" raised {self.error}"
        if self.skipped is not None:
            line += f" [not measured: {self.skipped}]"
        if self.budget is not None:  # (the property's call only when there is a budget)
            over = self.over_budget
            if over is not None:
                line += f" [over budget: {over}]"
        return line

    def text(self) -> str:
        """The full human report; a tool with a table (profiles, lines) overrides it."""
        return self.headline()

    def _repr_html_(self) -> str:
        """The record as HTML: what Jupyter shows (see :mod:`profiletools.formats.html`)."""
        from profiletools.formats.html import record_html  # on first display only

        return record_html(self)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython's plain-text display: the report, as ``text()`` gives it."""
        printer.text(self.text())

    def dump_suffix(self) -> str:
        """The file suffix of this record's native dump format."""
        return ".json"

    def write_dump(self, stream: IO[bytes]) -> None:
        """Write this record in its native dump format (JSON for plain records)."""
        import json  # on first dump, not at import

        stream.write(json.dumps(self.to_dict(), indent=2).encode("utf-8"))

    def dump_files(self) -> list[tuple[str, Callable[[IO[bytes]], None]]]:
        """The files ``Dump`` writes for this record: ``(suffix, writer)`` pairs."""
        return [(self.dump_suffix(), self.write_dump)]


class _StoredBudget:
    """The budget of a record read back from a file: its limits, and the verdict it was given."""

    __slots__ = ("limit", "over", "p95")

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.limit = data.get("limit")
        self.p95 = data.get("p95")
        self.over = data.get("over")

    def exceeded_by(self, record: Any) -> str | None:
        """How the record exceeded its per-call budget when it was made, or ``None``."""
        return self.over if isinstance(self.over, str) else None


_new_record = tuple.__new__
_get_ident = threading.get_ident


def make_record(
    record_type: type[Record],
    tool: str,
    name: str,
    qualname: str,
    module: str | None,
    started: float,
    wall: float,
    cpu: float | None,
    error: str | None,
    payload: Any = None,
    skipped: str | None = None,
    budget: Any = None,
) -> Any:
    """Build a record of this process and thread: the one place a record is made.

    ``started`` is epoch seconds; ``error`` the name of the exception type
    raised, or ``None``. (The two fast-path closures of ``timed`` in
    :mod:`profiletools.core.fastpath` inline this, and a test holds them to it.)

    >>> record = make_record(TimingRecord, "timed", "load", "load", None, 0.0, 0.25, None, None)
    >>> record.headline()
    'timed load: 250 ms'
    """
    return _new_record(record_type, (
        tool, name, qualname, module, started, wall, cpu, STATE.pid, _get_ident(), error, payload, skipped, budget,
    ))


class TimingRecord(Record):
    """The record of ``timed``: wall and CPU time, no payload."""

    __slots__ = ()

    @property
    def elapsed(self) -> float:
        """Wall-clock seconds, the same as ``wall``."""
        return self.wall
