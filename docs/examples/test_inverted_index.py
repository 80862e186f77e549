"""Performance tests that never flake: budgets on call counts.

Run: pytest test_inverted_index.py
"""

from __future__ import annotations

import pytest
from inverted_index import build_index, sample_text

TEXT = sample_text(1_000)


@pytest.mark.budget(calls={"builtins:len": 1_000}, total_calls=3_003)
def test_index_is_linear() -> None:
    index = build_index(TEXT)
    assert index["the"][:3] == [0, 48, 96]
