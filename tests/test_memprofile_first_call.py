"""The interpreter's bookkeeping of profiletools' own code is never in a call's figures, first call included.

The interpreter makes per-code-object data the first time it runs a code
object in some state (3.10: the frame kept for its next call; 3.11 under a
trace function: its line array; 3.12: its monitoring data once any tool used
``sys.monitoring``). Each check runs in a fresh interpreter, where those
caches are still empty: in the test process earlier tests made them long ago.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

FIRST_CALL = """
import json, sys
from profiletools import memprofile, reporters
seen = reporters.Collect()

def nothing():
    return None

def steps():
    yield None

def run():
    if "{kind}" == "call":
        memprofile(lines={lines}, top=3, reporters=[seen])(nothing)()
    elif "{kind}" == "generator":
        for _ in memprofile(lines={lines}, top=3, reporters=[seen])(steps)():
            pass
    else:
        with memprofile(lines={lines}, reporters=[seen]):
            nothing()

user_bytes = sum(len(function.__code__.co_code) for function in (nothing, steps, run))
for _ in range(3):
    run()
first, last = seen.records[0], seen.records[-1]
rows = first.lines.to_dict()["rows"] if first.lines is not None else []
print(json.dumps([
    [first.net, first.peak], [last.net, last.peak], [site.line for site in first.top or []],
    [row["increment"] for row in rows], user_bytes,
]))
"""


def run_fresh(tmp_path: Path, code: str) -> list:
    path = tmp_path / "first.py"
    path.write_text(code, encoding="utf-8")
    result = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr  # no warning either
    return json.loads(result.stdout.splitlines()[-1])  # type: ignore[no-any-return]


_OPEN = {
    ("generator", True): (sys.version_info < (3, 11), "3.10: each later step-wise call reads net +168 B, the first 0"),
}


def _case(lines: bool, kind: str) -> object:
    condition, reason = _OPEN.get((kind, lines), (False, ""))
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if condition else []
    return pytest.param(lines, kind, marks=marks, id=f"{'lines=True' if lines else 'figures'}-{kind}")


@pytest.mark.parametrize(
    ("lines", "kind"), [_case(lines, kind) for lines in (False, True) for kind in ("call", "generator", "block")],
)
def test_a_first_call_reads_what_later_calls_read(tmp_path: Path, lines: bool, kind: str) -> None:
    """Before the warm-up, first calls of ``nothing`` read net +3,328 B (3.10: our frames), +2.2 KB (3.11, lines:
    our code's line arrays); and on 3.10 our trace function's frame was an allocation site on the user's line."""
    first, last, sites, increments, user_bytes = run_fresh(tmp_path, FIRST_CALL.format(lines=lines, kind=kind))
    # What a first call may add is the interpreter's for the user's own code, as raw tracemalloc sees it too: on
    # 3.11 under a trace function the line arrays of the code that runs traced (as many bytes as its bytecode).
    extra = user_bytes if lines and sys.version_info[:2] == (3, 11) else 0
    assert last[0] <= first[0] <= last[0] + extra, (first, last)
    assert first[1] <= last[1] + extra, (first, last)
    assert sites == []
    assert all(0 <= increment <= extra for increment in increments), increments
    if kind == "call":  # and a function that allocates nothing reads nothing (its frame: 256 B of peak at most)
        assert last == [0, 0] if not lines else (last[0] == 0 and last[1] < 256), last


AFTER_CPROFILE = """
import cProfile, json
from profiletools import memprofile, reporters
seen = reporters.Collect()

def nothing():
    value = None
    return value

measured = memprofile(lines=True, reporters=[seen])(nothing)
measured()
profile = cProfile.Profile()  # a tool that uses sys.monitoring globally, then stops
profile.enable()
profile.disable()
measured()
print(json.dumps([[row["increment"], row["peak"]] for row in seen.records[-1].lines.to_dict()["rows"]]))
"""


@pytest.mark.skipif(sys.version_info < (3, 12), reason="sys.monitoring (line events before 3.12 use sys.settrace)")
def test_after_another_tool_used_sys_monitoring_no_line_is_charged_for_our_event_handlers(tmp_path: Path) -> None:
    """Without bringing the handlers' instrumentation up to date first, ``return value`` read +216 B."""
    rows = run_fresh(tmp_path, AFTER_CPROFILE)
    assert rows == [[0, 0], [0, 0]]
