"""profiletools: a profiler around one function or one block, in one line.

>>> from profiletools import timed, reporters
>>> seen = reporters.Collect()
>>> with timed("load", reporters=[seen]) as t:
...     total = sum(range(1000))
>>> t.elapsed == seen.records[0].wall
True

``import profiletools`` loads nothing but this file: each public name is
imported on first use (``timed`` loads the machinery; ``profileit`` loads
cProfile's tool; wrapt and asyncio only when a coroutine, generator or other
non-function callable is decorated).
"""

from profiletools.core.version import __version__

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy knows the name)
if TYPE_CHECKING:
    from typing import Any

    from profiletools import reporters
    from profiletools.core.config import configure, disable, enable, is_enabled
    from profiletools.core.delivery import flush
    from profiletools.core.machinery import Probe
    from profiletools.core.records import Record, TimingRecord
    from profiletools.tools.lineprofile import lineprofile
    from profiletools.tools.memprofile import memprofile
    from profiletools.tools.profileit import profileit
    from profiletools.tools.sampleprofile import sampleprofile
    from profiletools.tools.timed import timed

#: Where each public name lives; imported on first access.
_LAZY = {
    "timed": "profiletools.tools.timed",
    "profileit": "profiletools.tools.profileit",
    "lineprofile": "profiletools.tools.lineprofile",
    "memprofile": "profiletools.tools.memprofile",
    "sampleprofile": "profiletools.tools.sampleprofile",
    "configure": "profiletools.core.config",
    "enable": "profiletools.core.config",
    "disable": "profiletools.core.config",
    "is_enabled": "profiletools.core.config",
    "flush": "profiletools.core.delivery",
    "Probe": "profiletools.core.machinery",
    "Record": "profiletools.core.records",
    "TimingRecord": "profiletools.core.records",
    "reporters": "profiletools.reporters",
}


def __getattr__(name: str) -> "Any":
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'profiletools' has no attribute {name!r}")
    import importlib

    module = importlib.import_module(module_name)
    value = module if module_name == f"profiletools.{name}" else getattr(module, name)
    globals()[name] = value
    return value


def load_ipython_extension(ipython: "Any") -> None:
    """``%load_ext profiletools``: the magics ``%timed``, ``%profileit``, ``%lineprofile``,
    ``%memprofile``, ``%sampleprofile`` (line and cell). IPython is imported only now."""
    from profiletools.integrations.ipython import load

    load(ipython)


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "Probe",
    "Record",
    "TimingRecord",
    "__version__",
    "configure",
    "disable",
    "enable",
    "flush",
    "is_enabled",
    "lineprofile",
    "memprofile",
    "profileit",
    "reporters",
    "sampleprofile",
    "timed",
]
