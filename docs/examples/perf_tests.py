"""Performance tests with the pytest plugin: a budget per test, and a budget per function.

Run: pytest perf_tests.py --profiletools
"""

from __future__ import annotations

import time

import pytest

from profiletools import timed


@timed("lookup", budget="2ms")
def lookup(key: str) -> str:
    time.sleep(0.005)  # too slow for its budget: listed under "over budget"
    return key.upper()


@pytest.mark.budget("500ms")
def test_lookup_is_quick() -> None:
    assert lookup("a") == "A"


def test_index_build() -> None:
    time.sleep(0.12)


def test_search() -> None:
    time.sleep(0.03)
