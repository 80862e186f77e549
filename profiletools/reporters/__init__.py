"""Where records go. A reporter is anything with ``report(record)``, or a callable.

Built-ins: :class:`Stream` (the default), :class:`Log`, :class:`Collect`,
:class:`JsonLines`, :class:`Summary`, :class:`Dump`.
"""

from profiletools.reporters.base import Reporter
from profiletools.reporters.collect import Collect
from profiletools.reporters.dump import Dump
from profiletools.reporters.jsonlines import JsonLines
from profiletools.reporters.log import Log
from profiletools.reporters.stream import Stream
from profiletools.reporters.summary import Summary

__all__ = ["Collect", "Dump", "JsonLines", "Log", "Reporter", "Stream", "Summary"]
