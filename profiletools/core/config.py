"""Process-wide configuration: ``configure``, ``enable``/``disable``, environment variables.

Precedence, highest first: a tool's own ``reporters=``; ``configure(reporters=...)``;
``PROFILETOOLS_REPORTERS``; the built-in default (``Stream`` to stderr).

Environment:

- ``PROFILETOOLS=0`` (or ``false``/``no``/``off``) at import: decorators return
  the function itself and blocks measure nothing.
- ``PROFILETOOLS_REPORTERS``: comma-separated reporters, e.g. ``log,jsonl:times.jsonl``.
  Names: ``stream``, ``log`` (``log:DEBUG``), ``jsonl:PATH``, ``summary``
  (printed at exit), ``dump`` (``dump:DIR``), ``collect``, ``budget``, ``otel`` (the global
  OpenTelemetry providers), ``none``.
- ``PROFILETOOLS_DIR``: the default directory of ``Dump``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from profiletools.core import delivery, settings
from profiletools.core.delivery import Targets, check_reporters
from profiletools.core.settings import STATE

_ENV_REPORTERS = "PROFILETOOLS_REPORTERS"

def _reporters() -> Any:
    """The reporters package, imported when a reporter is first built (not at ``import profiletools``)."""
    from profiletools import reporters

    return reporters


_REPORTER_NAMES: dict[str, Callable[[str | None], Any]] = {
    "stream": lambda arg: _reporters().Stream(),
    "log": lambda arg: _reporters().Log(arg or "INFO"),
    "jsonl": lambda arg: _reporters().JsonLines(arg) if arg else _missing_argument("jsonl", "a file path"),
    "summary": lambda arg: _reporters().Summary(at_exit=True),
    "dump": lambda arg: _reporters().Dump(arg or None),
    "collect": lambda arg: _reporters().Collect(),
    "otel": lambda arg: _reporters().OpenTelemetry(),
    "budget": lambda arg: _reporters().Budget(),
}
_UNSET: Any = object()
_configured: Targets | None = None


def _missing_argument(name: str, what: str) -> Any:
    raise ValueError(f"{_ENV_REPORTERS}: '{name}' needs {what}, as in '{name}:...'")


def parse_reporters(spec: str) -> Targets:
    """Build reporters from a ``PROFILETOOLS_REPORTERS`` value such as ``log,jsonl:t.jsonl``.

    >>> [type(r.__self__).__name__ for r in parse_reporters("stream, log:DEBUG").reports]
    ['Stream', 'Log']
    """
    reporters: list[Any] = []
    for item in spec.split(","):
        item = item.strip()
        if not item or item == "none":
            continue
        key, _, argument = item.partition(":")
        factory = _REPORTER_NAMES.get(key.strip().lower())
        if factory is None:
            allowed = ", ".join([*sorted(_REPORTER_NAMES), "none"])
            raise ValueError(f"{_ENV_REPORTERS}: unknown reporter {key.strip()!r}; allowed: {allowed}")
        reporters.append(factory(argument.strip() or None))
    return check_reporters(reporters) or Targets()


def _environment_reporters() -> Targets | None:
    spec = os.environ.get(_ENV_REPORTERS)
    return None if spec is None else parse_reporters(spec)


def environment_error() -> ValueError | None:
    """The error in ``PROFILETOOLS_REPORTERS``, if its value cannot be used."""
    try:
        _environment_reporters()
    except ValueError as exc:
        return exc
    return None


def _default_reporters() -> Targets:
    if _configured is not None:
        return _configured
    try:
        from_environment = _environment_reporters()
    except ValueError as exc:
        settings.warn_once("environment", _ENV_REPORTERS, f"{exc}; using the default Stream reporter")
        from_environment = None
    if from_environment is not None:
        return from_environment
    return check_reporters([_reporters().Stream()]) or Targets()


delivery.set_default_reporter_factory(_default_reporters)
settings.environment_problem = environment_error()


def configure(*, reporters: Iterable[Any] | None = _UNSET) -> None:
    """Set process-wide defaults for every probe that names no reporters of its own.

    ``configure(reporters=[...])`` replaces the default reporters (also for
    functions decorated earlier); ``configure(reporters=None)`` returns to
    ``PROFILETOOLS_REPORTERS`` or the built-in default.
    """
    global _configured
    if reporters is not _UNSET:
        _configured = check_reporters(reporters)
        STATE.default_reporters = None
        STATE.generation += 1


def enable() -> None:
    """Switch measuring on at run time (after ``disable()``, or for blocks after ``PROFILETOOLS=0``)."""
    STATE.enabled = True


def disable() -> None:
    """Switch measuring off at run time: decorated functions and blocks run unmeasured."""
    STATE.enabled = False


def is_enabled() -> bool:
    """Whether measuring is on now."""
    return STATE.enabled
