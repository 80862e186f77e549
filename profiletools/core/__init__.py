"""The core: records, global settings, the wrapper machinery, the profiler slot, budgets
and configuration. Everything here is shared by every tool; nothing here names a tool."""

from __future__ import annotations

import os

#: The folder of the ``profiletools`` package (with a trailing separator): frames and
#: allocations whose file lies under it are profiletools' own, never the user's.
PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep

#: The bundled demo workload (``profiletools demo``): inside the package, but the user's code to every tool.
DEMO_FILE = os.path.join(PACKAGE_DIR, "cli", "demo.py")
