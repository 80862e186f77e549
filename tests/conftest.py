"""Shared fixtures: every test starts from the default configuration."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

import profiletools
from profiletools.core import settings
from profiletools.reporters import Collect

# On a loaded machine (CI runners, several suites at once) generating an example can take
# longer than Hypothesis' health check allows; the properties, not the speed, are under test.
hypothesis_settings.register_profile("profiletools", deadline=None, suppress_health_check=[HealthCheck.too_slow])
hypothesis_settings.load_profile("profiletools")


@pytest.fixture(autouse=True)
def _default_configuration() -> Iterator[None]:
    profiletools.configure(reporters=None)
    profiletools.enable()
    settings.reset_warnings()
    yield
    profiletools.configure(reporters=None)
    profiletools.enable()


@pytest.fixture
def collect() -> Collect:
    """A fresh in-memory reporter."""
    return Collect()


class Scoped:
    """A scoped reporter (``open`` gives each call a closer): the names its scopes opened for, what they closed with."""

    def __init__(self) -> None:
        self.opened: list[Any] = []
        self.closed: list[Any] = []

    def report(self, record: Any) -> None:
        raise AssertionError("a measured call's record goes to its scope, not to report()")

    def open(self, probe: Any) -> Any:
        self.opened.append(probe.name)
        return self.closed.append


def run_python(
    code: str, *, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter (this one), with extra environment variables."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=full_env, timeout=timeout, check=False
    )


def default_sigint() -> None:
    """``preexec_fn`` for a child that must get Ctrl-C as a program started from a terminal does.

    A shell that runs the suite in the background (``cmd &``, nohup) starts it with
    SIGINT ignored, children inherit that, and Python then installs no KeyboardInterrupt
    handler: a SIGINT would do nothing.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
