"""Where records go. A reporter is anything with ``report(record)``, or a callable.

Built-ins: :class:`Stream` (the default), :class:`Log`, :class:`Collect`,
:class:`JsonLines`, :class:`Summary`, :class:`Dump`, :class:`Background`; and,
loaded on first use because they need optional packages or are rarely used,
``Plot`` (the ``plot`` extra), ``OpenTelemetry`` (the ``otel`` extra),
``Budget`` and ``BudgetExceeded``.
"""

from __future__ import annotations

import importlib
from typing import Any

from profiletools.reporters.background import Background
from profiletools.reporters.base import Reporter
from profiletools.reporters.collect import Collect
from profiletools.reporters.dump import Dump
from profiletools.reporters.jsonlines import JsonLines
from profiletools.reporters.log import Log
from profiletools.reporters.stream import Stream
from profiletools.reporters.summary import Summary

_LAZY = {
    "Plot": "profiletools.reporters.plot",
    "OpenTelemetry": "profiletools.reporters.otel",
    "Budget": "profiletools.reporters.budget",
    "BudgetExceeded": "profiletools.reporters.budget",
}

__all__ = [
    "Background",
    "Budget",
    "BudgetExceeded",
    "Collect",
    "Dump",
    "JsonLines",
    "Log",
    "OpenTelemetry",
    "Plot",
    "Reporter",
    "Stream",
    "Summary",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'profiletools.reporters' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
