"""Formatting helpers of records: units chosen after rounding, never '1e+03 µs'."""

from __future__ import annotations

import pytest

from profiletools.core.records import format_bytes, format_seconds


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.000999999, "1 ms"),
        (0.9999999, "1 s"),
        (9.999e-7, "1 µs"),
        (1.2345e-3, "1.23 ms"),
        (250e-9, "250 ns"),
        (0.0, "0 ns"),
        (None, "-"),
        (-0.0125, "-12.5 ms"),
    ],
)
def test_format_seconds(seconds: float | None, text: str) -> None:
    assert format_seconds(seconds) == text


@pytest.mark.parametrize(
    ("count", "text"),
    [(1023.9, "1 KiB"), (1024**2 - 1, "1 MiB"), (52428800, "50 MiB"), (-1536, "-1.5 KiB"), (12, "12 B")],
)
def test_format_bytes(count: float, text: str) -> None:
    assert format_bytes(count) == text
