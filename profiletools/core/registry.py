"""The tools, each declared once: name, interpreter hook, record type, figures with units.

Everything that works across tools (budgets, ``Summary``, ``compare``,
OpenTelemetry, ``show``, ``Plot``, the pytest fixture, the profiler slot) asks
this registry instead of naming a tool. Built-in tools declare themselves in
their package's ``__init__`` (``TOOL = Tool(...)``) and are listed once in
:data:`profiletools.tools.BUILTIN`; any other tool is one :func:`register` call.

>>> figure("wall").format(0.25), figure("peak").unit
('250 ms', 'By')
>>> sorted(tools())
['lineprofile', 'memprofile', 'profileit', 'sampleprofile', 'timed']
"""

from __future__ import annotations

import importlib
import math
import threading
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from profiletools.core.records import format_bytes, format_seconds


class Figure(NamedTuple):
    """One number a record carries: its name (record field or payload key), unit and label.

    ``unit`` is a UCUM-style unit as OpenTelemetry uses them: ``"s"`` (seconds)
    and ``"By"`` (bytes) have readable formats; other units print as numbers.
    ``metric``, when set, is the name of the OpenTelemetry histogram that
    records it.
    """

    name: str
    unit: str
    label: str
    metric: str | None = None
    description: str = ""

    def value(self, record: Any) -> float | None:
        """This figure of ``record`` (a record, or a record's dict), or ``None`` when it has none."""
        if isinstance(record, Mapping):
            value = record.get(self.name)
            payload = record.get("payload")
        else:
            value = getattr(record, self.name, None)
            payload = getattr(record, "payload", None)
        if value is None and isinstance(payload, Mapping):
            value = payload.get(self.name)
        elif value is None and payload is not None and hasattr(record, "payload_dict"):
            value = (record.payload_dict() or {}).get(self.name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return None
        return value

    def format(self, value: float | None) -> str:
        """``value`` for people: seconds and bytes with a unit that fits."""
        if self.unit == "s":
            return format_seconds(value)
        if self.unit == "By":
            return format_bytes(value)
        return "-" if value is None else f"{value:g} {self.unit}".rstrip()


#: Every record carries these two.
WALL = Figure(
    "wall", "s", "wall time", "profiletools.duration", "Wall time of calls and blocks measured by profiletools"
)
CPU = Figure("cpu", "s", "cpu time")


class Counts(NamedTuple):
    """What a tool counts exactly: the same on every run of the same code with the same input.

    ``unit`` is ``"calls"`` (how many times each function was called: call
    budgets take it) or ``"hits"`` (how many times each line ran). ``reader`` is
    ``"module:function"`` taking the tool's payload, or a dump file of one of
    its ``views`` as :mod:`profiletools.formats.dumps` loads it, and returning
    :class:`profiletools.core.counts.Count` items.
    """

    unit: str
    reader: str

    def read(self, content: Any) -> list[Any]:
        """The counts in ``content`` (the tool's payload, or one of its dump files loaded)."""
        return list(_resolve(self.reader)(content))


class Tool(NamedTuple):
    """A tool's declaration.

    ``entry`` is the public decorator-and-context-manager, or ``"module:name"``
    where it lives (imported on first use). ``hook`` is the interpreter hook its
    measurement holds (``"setprofile"``, ``"settrace"``, ``"monitoring"``; see
    :mod:`profiletools.core.profiler_slot`), ``None`` for none. ``record`` names
    its record type. ``figures`` are what its records carry beyond wall and CPU.

    How ``profiletools show`` prints the tool's files as its live records print:
    ``views`` maps a dump file suffix (``".prof"``) to ``"module:function"``,
    a :data:`View` that makes a record of the file's loaded content
    (:mod:`profiletools.formats.dumps` loads it); ``from_dict`` is
    ``"module:function"`` rebuilding one of its records from ``record.to_dict()``
    (a ``.json`` dump), ``None`` for the common fields only.

    ``counts`` declares what the tool counts exactly per function or line
    (:class:`Counts`), for call budgets, the pytest plugin's baselines and
    ``compare``; ``None`` for a tool that counts nothing.
    """

    name: str
    entry: str | Callable[..., Any]
    hook: str | None = None
    record: str = "profiletools.core.records:TimingRecord"
    figures: tuple[Figure, ...] = ()
    views: tuple[tuple[str, str], ...] = ()
    from_dict: str | None = None
    counts: Counts | None = None

    def function(self) -> Callable[..., Any]:
        """The tool's public callable."""
        return _resolve(self.entry)


#: Makes a record of a dump file's loaded content, for ``profiletools show``: called with the
#: content, a name for the record (the file's) and the options of ``show`` (``sort``, ``limit``,
#: ``strip_dirs``, ``unit``); the record's ``text()`` after its headline is what ``show`` prints.
View = Callable[[Any, str, Mapping[str, Any]], Any]


def _resolve(target: str | Callable[..., Any]) -> Callable[..., Any]:
    """``target`` itself, or the object a ``"module:name"`` string names (imported now)."""
    if callable(target):
        return target
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


_tools: dict[str, Tool] = {}
_lock = threading.Lock()
_loaded = False


def register(tool: Tool) -> Tool:
    """Add ``tool`` (its name must be new); returns it."""
    _load_builtin()
    if not isinstance(tool, Tool):
        raise TypeError(f"register() takes a Tool; got {type(tool).__name__}")
    with _lock:
        if tool.name in _tools:
            raise ValueError(f"a tool named {tool.name!r} is already registered")
        _tools[tool.name] = tool
    return tool


def unregister(name: str) -> None:
    """Remove the tool ``name`` (for tests that define a tool of their own)."""
    with _lock:
        _tools.pop(name, None)


def _load_builtin() -> None:
    global _loaded
    if _loaded:
        return
    from profiletools.tools import BUILTIN

    declared = [importlib.import_module(f"profiletools.tools.{name}").TOOL for name in BUILTIN]
    with _lock:
        if not _loaded:
            for tool in declared:
                _tools.setdefault(tool.name, tool)
            _loaded = True


def load_declarations() -> None:
    """Import the built-in tools' declarations, if not done yet (a probe with a backend does it when made)."""
    if not _loaded:
        _load_builtin()


def tools() -> dict[str, Tool]:
    """Every registered tool by name (a copy)."""
    _load_builtin()
    with _lock:
        return dict(_tools)


def tool(name: str) -> Tool | None:
    """The tool called ``name``, or ``None``."""
    return tools().get(name)


def figures() -> dict[str, Figure]:
    """Every figure a record may carry, by name: wall, cpu, then the tools' (first declaration wins)."""
    found = {WALL.name: WALL, CPU.name: CPU}
    for declared in tools().values():
        for item in declared.figures:
            found.setdefault(item.name, item)
    return found


def figure(name: str) -> Figure | None:
    """The figure called ``name``, or ``None``."""
    return figures().get(name)


def figures_of(tool_name: str) -> tuple[Figure, ...]:
    """The figures ``tool_name``'s records carry beyond wall and CPU (none for an unknown tool)."""
    declared = tool(tool_name)
    return () if declared is None else declared.figures


def figure_in(tool_name: str, unit: str) -> Figure | None:
    """The figure of ``tool_name`` a budget in ``unit`` limits: wall for seconds, else its first in that unit."""
    if unit == WALL.unit:
        return WALL
    return next((item for item in figures_of(tool_name) if item.unit == unit), None)


def tools_with(unit: str) -> list[str]:
    """The names of the tools that declare a figure in ``unit``."""
    return [name for name, declared in tools().items() if any(item.unit == unit for item in declared.figures)]


def view_for(suffix: str) -> View | None:
    """The declared view of dump files ending in ``suffix`` (lower case, with its dot), or ``None``."""
    for declared in tools().values():
        for known, target in declared.views:
            if known == suffix:
                return _resolve(target)
    return None


def view_suffixes() -> list[str]:
    """Every dump file suffix a tool declares a view of."""
    return [suffix for declared in tools().values() for suffix, _ in declared.views]


def record_from_dict(data: Mapping[str, Any]) -> Any:
    """A record rebuilt from ``record.to_dict()`` output by its tool's ``from_dict`` (common fields otherwise)."""
    declared = tool(str(data.get("tool")))
    if declared is not None and declared.from_dict is not None:
        return _resolve(declared.from_dict)(data)
    from profiletools.core.records import Record

    return Record.from_dict(data)


def counts_of(tool_name: str) -> Counts | None:
    """What ``tool_name`` counts, or ``None``."""
    declared = tool(tool_name)
    return None if declared is None else declared.counts


def counting(unit: str) -> list[str]:
    """The names of the tools that count ``unit`` (``"calls"``, ``"hits"``)."""
    return [name for name, declared in tools().items() if declared.counts is not None and declared.counts.unit == unit]


def counts_for(suffix: str) -> Counts | None:
    """What the dump files ending in ``suffix`` count: the counts of the tool declaring a view of them."""
    for declared in tools().values():
        if declared.counts is not None and any(known == suffix for known, _ in declared.views):
            return declared.counts
    return None


def hook_of(tool_name: str, default: str) -> str:
    """The interpreter hook ``tool_name`` holds (``default`` for a tool that declares none).

    Asked on every profiled call (``profiler_slot.claim``/``release``): one dict
    read, no copy of the registry, no lock (a dict read is atomic).
    """
    if not _loaded:
        _load_builtin()
    declared = _tools.get(tool_name)
    return default if declared is None or declared.hook is None else declared.hook


def lazy_exports(package: str, module: str, names: tuple[str, ...]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` that imports ``names`` from ``module`` on first access."""

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        import sys

        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
