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
        (-0.0009999, "-1 ms"),
        (999.6e-9, "1 µs"),
        (1e-15, "1e-06 ns"),
        (1234.5, "1.23e+03 s"),
    ],
)
def test_format_seconds(seconds: float | None, text: str) -> None:
    assert format_seconds(seconds) == text


def test_format_seconds_reads_as_rounding_to_three_digits_first() -> None:
    """One formatting per call, as the reference's two formattings and a parse would read, on values spread
    over sixteen decades (they differ only on exact decimal ties at the fourth digit, none of which these are)."""
    import random

    def reference(seconds: float) -> str:
        seconds = float(f"{seconds:.3g}")
        for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
            if abs(seconds) >= scale:
                return f"{seconds / scale:.3g} {unit}"
        return f"{seconds / 1e-9:.3g} ns"

    rng = random.Random(15)
    values = [rng.choice((1, -1)) * 10 ** rng.uniform(-12, 4) for _ in range(20000)]
    values += [k * 10.0**e for k in (0.99949, 0.99951, 0.9999999, 1.0, 1.0005) for e in range(-12, 4)]
    assert [format_seconds(v) for v in values] == [reference(v) for v in values]


@pytest.mark.parametrize(
    ("count", "text"),
    [(1023.9, "1 KiB"), (1024**2 - 1, "1 MiB"), (52428800, "50 MiB"), (-1536, "-1.5 KiB"), (12, "12 B")],
)
def test_format_bytes(count: float, text: str) -> None:
    assert format_bytes(count) == text
