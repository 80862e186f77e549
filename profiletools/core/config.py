"""Process-wide configuration: ``configure``, ``enable``/``disable``, environment variables.

Precedence, highest first: a tool's own ``reporters=``; ``configure(reporters=...)``;
``PROFILETOOLS_REPORTERS``; the built-in default (``Stream`` to stderr).

Environment:

- ``PROFILETOOLS=0`` (or ``false``/``no``/``off``) at import: decorators return
  the function itself and blocks measure nothing.
- ``PROFILETOOLS_REPORTERS``: comma-separated reporters, e.g. ``log,jsonl:times.jsonl``.
  Names: ``stream`` (``stream:stdout``), ``log`` (``log:DEBUG``), ``jsonl:PATH``,
  ``summary`` (printed at exit; ``summary:peak`` aggregates another figure), ``dump``
  (``dump:DIR``), ``plot`` (``plot:DIR``), ``collect``, ``budget``, ``otel`` (the global
  OpenTelemetry providers), ``none`` (no reporters; an empty value means the default).
  A value that cannot be used (an unknown name,
  a bad option, a missing path) never stops the program: it is one warning naming
  the variable, the value and what is allowed, then the default reporter.
- ``PROFILETOOLS_DIR``: the default directory of ``Dump`` and ``Plot``.
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


class _Option(Exception):
    """An option of one name in ``PROFILETOOLS_REPORTERS`` that cannot be used (the message says why)."""


def _no_option(build: Callable[[], Any]) -> Callable[[str | None], Any]:
    def make(option: str | None) -> Any:
        if option is not None:
            raise _Option(f"takes no option, got {option!r}")
        return build()
    return make


def _needs_option(what: str, build: Callable[[str], Any]) -> Callable[[str | None], Any]:
    def make(option: str | None) -> Any:
        if option is None:
            raise _Option(f"needs {what} after a colon")
        return build(option)
    return make


def _stream(option: str | None) -> Any:
    import sys

    if option not in (None, "stderr", "stdout"):
        raise _Option(f"writes to stderr or stdout, got {option!r}")
    return _reporters().Stream(sys.stdout if option == "stdout" else None)


def _log(option: str | None) -> Any:
    try:
        return _reporters().Log(option or "INFO")
    except ValueError:
        raise _Option(f"takes a logging level (DEBUG, INFO, WARNING, ERROR, CRITICAL), got {option!r}") from None


def _summary(option: str | None) -> Any:
    from profiletools.core import registry

    figures = registry.figures()
    if option is not None and option not in figures:
        raise _Option(f"takes a figure ({', '.join(figures)}), got {option!r}")
    return _reporters().Summary(field=option or "wall", at_exit=True)


#: Each name, how it is written (its option), and how the reporter is made from the option.
_REPORTER_NAMES: dict[str, tuple[str, Callable[[str | None], Any]]] = {
    "stream": ("stream[:stdout]", _stream),
    "log": ("log[:LEVEL]", _log),
    "jsonl": ("jsonl:PATH", _needs_option("a file path", lambda path: _reporters().JsonLines(path))),
    "summary": ("summary[:FIGURE]", _summary),
    "dump": ("dump[:DIR]", lambda option: _reporters().Dump(option)),
    "plot": ("plot[:DIR]", lambda option: _reporters().Plot(option)),
    "collect": ("collect", _no_option(lambda: _reporters().Collect())),
    "otel": ("otel", _no_option(lambda: _reporters().OpenTelemetry())),
    "budget": ("budget", _no_option(lambda: _reporters().Budget())),
}
_UNSET: Any = object()
_configured: Targets | None = None


def parse_reporters(spec: str) -> Targets:
    """Build reporters from a ``PROFILETOOLS_REPORTERS`` value such as ``log,jsonl:t.jsonl``.

    Raises ``ValueError`` naming the variable, the value, the part that cannot
    be used and what is allowed.

    >>> [type(r.__self__).__name__ for r in parse_reporters("stream, log:DEBUG").reports]
    ['Stream', 'Log']
    >>> parse_reporters("sumary")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: PROFILETOOLS_REPORTERS='sumary': unknown reporter 'sumary'; allowed: stream[:stdout], log[:LEVEL], ...
    """
    allowed = ", ".join([usage for usage, _ in _REPORTER_NAMES.values()] + ["none"]) + " (comma-separated)"
    reporters: list[Any] = []
    for item in spec.split(","):
        item = item.strip()
        if not item or item.lower() == "none":
            continue
        key, colon, option = item.partition(":")
        key = key.strip()
        known = _REPORTER_NAMES.get(key.lower())
        if known is None:
            raise ValueError(f"{_ENV_REPORTERS}={spec!r}: unknown reporter {key!r}; allowed: {allowed}")
        make = known[1]
        try:
            reporters.append(make(option.strip() if colon else None))
        except _Option as exc:
            raise ValueError(f"{_ENV_REPORTERS}={spec!r}: {key!r} {exc}; allowed: {allowed}") from None
        except (TypeError, ValueError, ImportError, OSError) as exc:
            raise ValueError(f"{_ENV_REPORTERS}={spec!r}: {item!r} cannot be used: {exc}") from None
    return check_reporters(reporters) or Targets()


def _environment_reporters() -> Targets | None:
    """The reporters ``PROFILETOOLS_REPORTERS`` names; ``None`` when it is unset or empty (``none``: no reporters)."""
    spec = os.environ.get(_ENV_REPORTERS)
    if spec is None or not spec.replace(",", "").strip():
        return None
    return parse_reporters(spec)


def _default_reporters() -> Targets:
    if _configured is not None:
        return _configured
    try:
        from_environment = _environment_reporters()
    except ValueError as exc:  # never stops the program: one warning, then the default
        settings.warn_once(
            "environment", _ENV_REPORTERS, f"{exc}; using the default instead (one line per record on stderr)",
        )
        from_environment = None
    if from_environment is not None:
        return from_environment
    return check_reporters([_reporters().Stream()]) or Targets()


delivery.set_default_reporter_factory(_default_reporters)


def configure(*, reporters: Iterable[Any] | None = _UNSET) -> None:
    """Set process-wide defaults for every probe that names no reporters of its own.

    ``configure(reporters=[...])`` replaces the default reporters (also for
    functions decorated earlier); ``configure(reporters=None)`` returns to
    ``PROFILETOOLS_REPORTERS`` or the built-in default.
    """
    global _configured
    if reporters is not _UNSET:
        _configured = check_reporters(reporters)
        STATE.use_defaults(None)
        STATE.generation += 1


def enable() -> None:
    """Switch measuring on at run time (after ``disable()``, or for blocks after ``PROFILETOOLS=0``)."""
    STATE.switch(True)


def disable() -> None:
    """Switch measuring off at run time: decorated functions and blocks run unmeasured."""
    STATE.switch(False)


def is_enabled() -> bool:
    """Whether measuring is on now."""
    return STATE.enabled
