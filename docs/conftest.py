"""The doctests of these pages import the examples they show (``docs/examples``), as a project imports its modules."""

from __future__ import annotations

import sys
from pathlib import Path

EXAMPLES = str(Path(__file__).parent / "examples")
if EXAMPLES not in sys.path:
    sys.path.insert(0, EXAMPLES)
