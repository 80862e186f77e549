"""``memprofile(top=N)`` never lists the decorator line as an allocation site.

Under a tracer (a debugger, coverage, or ``lines=True``'s own before 3.12), the
interpreter allocates its per-code-object bookkeeping for tracing (3.11: the
line array, 3.12: the instrumentation data) at the first traced event of a
call, which tracemalloc charges to the function's first line: the decorator
line. No statement of the function runs there, so it is never the user's
allocation. A function that allocates little shows it plainly.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def run_script(path: Path, code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` from a file (so that tracemalloc's sites have source lines)."""
    path.write_text(code, encoding="utf-8")
    return subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=120, check=False)

SCRIPT = """
import sys
from profiletools import memprofile, reporters
seen = reporters.Collect()
{tracer}

@memprofile(top=3, lines={lines}, reporters=[seen])
def small(n):
    numbers = [n] * 4
    return numbers

kept = [small(i) for i in range(2)]
sys.settrace(None)
for record in seen.records:
    for site in record.top:
        print(site.line, site.contents)
"""

_TRACER = "def tracer(frame, event, arg):\n    return None\nsys.settrace(tracer)\n"


@pytest.mark.parametrize(
    ("tracer", "lines"),
    [(_TRACER, False), ("", True), (_TRACER, True)],
    ids=["under a debugger's tracer", "lines=True", "lines=True under a tracer"],
)
def test_the_decorator_line_is_never_a_site(tmp_path: Path, tracer: str, lines: bool) -> None:
    result = run_script(tmp_path / "small.py", SCRIPT.format(tracer=tracer, lines=lines))
    assert result.returncode == 0, result.stderr
    sites = result.stdout.splitlines()
    assert not [site for site in sites if "@memprofile" in site], sites
    assert sites and all(site.endswith("numbers = [n] * 4") for site in sites), sites


def test_an_allocation_on_the_def_line_itself_is_kept(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from profiletools import memprofile, reporters\n"
        + _TRACER +
        "seen = reporters.Collect()\n"
        "def one_line(): return [0] * 1000\n"
        "kept = memprofile(top=3, reporters=[seen])(one_line)()\n"
        "sys.settrace(None)\n"
        "print([site.contents for site in seen.records[0].top])\n"
    )
    result = run_script(tmp_path / "one_line.py", code)
    assert result.returncode == 0, result.stderr
    assert "def one_line(): return [0] * 1000" in result.stdout
