"""The IPython magics in a real IPython shell (``InteractiveShell``, in a subprocess): every magic and option."""

from __future__ import annotations

import json
import pickle
import pstats
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import profiletools
from tests.conftest import run_python

pytest.importorskip("IPython")

#: Runs each cell of ``sys.argv[1]`` (a JSON list) in a fresh IPython shell; prints what each cell gave.
SHELL = """
import json, sys
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

shell = InteractiveShell.instance()
shell.run_line_magic("colors", "nocolor")
results = []
for cell in json.loads(sys.argv[1]):
    with capture_output() as captured:
        outcome = shell.run_cell(cell)
    error = outcome.error_in_exec or outcome.error_before_exec
    results.append({
        "cell": cell,
        "error": None if error is None else type(error).__name__,
        "message": None if error is None else str(error),
        "stdout": captured.stdout,
        "stderr": captured.stderr,
        "outputs": [output.data for output in captured.outputs],
    })
print(json.dumps(results))
"""

DEFINITIONS = """\
def f(n):
    s = 0
    for i in range(n):
        s += i
    return s

def g(n):
    data = [bytearray(100) for _ in range(n)]
    return len(data)

class Box:
    def fill(self, n):
        return [bytearray(1000) for _ in range(n)]
"""


def cells(folder: Path) -> dict[str, str]:
    """The cells by key, in the order they run."""
    return {
        "load": "%load_ext profiletools",
        "define": DEFINITIONS,
        "timed_assign": "%timed x = f(100)",
        "x": "x",
        "timed_value": "%timed f(10)",
        "timed_cell": "%%timed\ny = f(10)\ny2 = y + 1",
        "y2": "y2",
        "profileit": "%profileit -s tottime -l 1 f(1000)",
        "profileit_cell": "%%profileit\nz = f(100)",
        "lineprofile": "%lineprofile -f f f(50)",
        "lineprofile_cell": "%%lineprofile -f f\nw = f(20) + f(30)",
        "lineprofile_defined": "%%lineprofile\ndef h(k):\n    return [i for i in range(k)]\nv = h(5)",
        "memprofile": "%memprofile g(10000)",
        "memprofile_lines": "%memprofile --lines -f g g(1000)",
        "memprofile_cell_lines": "%%memprofile --lines\nbuf = bytearray(10**6)\nsmall = 1",
        "memprofile_method": "original = Box.__dict__['fill']\n%memprofile -f Box.fill Box().fill(100)",
        "restored": "Box.__dict__['fill'] is original",
        "memprofile_interval": "%memprofile --interval 0.002 g(30000)",
        "sampleprofile": "%sampleprofile --interval 0.0005 f(100000)",
        "sampleprofile_cell": "%%sampleprofile\nu = f(100000)",
        "returned": "rec = %profileit -r f(10)",
        "returned_type": "type(rec).__name__, rec.stats.total_calls > 0",
        "files": f"%profileit -D {folder}/p.prof -T {folder}/p.txt f(10)",
        "lprof_file": f"%lineprofile -D {folder}/l.lprof -f f f(10)",
        "raises": "%timed 1/0",
        "last_value": "from profiletools import profileit\nwith profileit('blk', reporters=[]) as p:\n    f(10)\n"
                      "data, _ = get_ipython().display_formatter.format(p.record)\nsorted(data)",
        "last_value_html": "'<table class=\"pt-table\"' in data['text/html']",
        "rebound": "%%memprofile -f g\ng(10)\ndef g(n):\n    return -n",
        "rebound_kept": "g(5)",
        "never_called": "%timed -f g f(1)",
        "error_option": "%timed -s tottime f(1)",
        "error_name": "%lineprofile -f nope f(1)",
        "error_empty": "%profileit",
        "error_cell_line": "%%timed f(1)\npass",
        "error_limit": "%profileit -l many f(1)",
        "error_expression": "%memprofile -f [f][0] f(1)",
        "error_nothing_to_time": "%lineprofile x = 1",
    }


@pytest.fixture(scope="module")
def shell(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict[str, Any]]]:
    folder = tmp_path_factory.mktemp("ipython")
    chosen = cells(folder)
    done = subprocess.run([sys.executable, "-c", SHELL, json.dumps(list(chosen.values()))], capture_output=True,
                          text=True, timeout=180, cwd=folder, check=False)
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    return folder, dict(zip(chosen, results, strict=True))


def result(shell: tuple[Path, dict[str, dict[str, Any]]], key: str) -> dict[str, Any]:
    found = shell[1][key]
    return found


def shown(shell: tuple[Path, dict[str, dict[str, Any]]], key: str) -> tuple[str, str]:
    """The one record a cell displayed: its plain text and its HTML."""
    found = result(shell, key)
    assert found["error"] is None, found
    (output,) = found["outputs"]
    return output["text/plain"], output["text/html"]


def test_the_extension_loads_without_a_word(shell: Any) -> None:
    loaded = result(shell, "load")
    assert loaded["error"] is None and loaded["stdout"] == "" and loaded["outputs"] == []


def test_timed_runs_the_statement_in_the_users_namespace(shell: Any) -> None:
    text, page = shown(shell, "timed_assign")
    assert text.startswith("timed x = f(100): ") and "(cpu " in text
    assert '<div class="profiletools">' in page and "wall time" in page
    assert "4950" in result(shell, "x")["stdout"]


def test_a_line_magic_on_an_expression_returns_its_value(shell: Any) -> None:
    found = result(shell, "timed_value")
    assert "Out[" in found["stdout"] and "45" in found["stdout"]
    assert found["outputs"][0]["text/plain"].startswith("timed f(10): ")


def test_a_cell_magic_runs_the_cell_and_keeps_its_names(shell: Any) -> None:
    text, _page = shown(shell, "timed_cell")
    assert text.startswith("timed In [")
    assert "46" in result(shell, "y2")["stdout"]


def test_profileit_sorts_and_limits_as_told(shell: Any) -> None:
    text, page = shown(shell, "profileit")
    assert "1 of 2 functions by internal time" in text
    assert "1 of 2 functions by internal time" in page
    assert page.split('class="pt-table"')[1].count("<tr>") == 1 + 1  # the head row and one row
    assert ":1(f)" in page and "(&lt;module&gt;)" not in page


def test_profileit_as_a_cell_magic(shell: Any) -> None:
    text, page = shown(shell, "profileit_cell")
    assert "profileit In [" in text and "(f)" in text and '<table class="pt-table"' in page


def test_lineprofile_times_the_named_function_and_marks_the_hot_lines(shell: Any) -> None:
    text, page = shown(shell, "lineprofile")
    assert "Function: f at line 1" in text
    assert "51" in text.split("for i in range(n):")[0].splitlines()[-1]  # the loop line's hits
    assert 'class="pt-hot"' in page and "for i in range(n):" in page


def test_lineprofile_cell_counts_every_call_in_the_cell(shell: Any) -> None:
    text, _page = shown(shell, "lineprofile_cell")
    loop_line = text.split("s += i")[0].splitlines()[-1]
    assert loop_line.split()[1] == "50"  # 20 + 30 additions


def test_lineprofile_times_the_functions_a_cell_defines(shell: Any) -> None:
    text, _page = shown(shell, "lineprofile_defined")
    assert "Function: h at line 1" in text and "return [i for i in range(k)]" in text


def test_memprofile_measures_the_statement(shell: Any) -> None:
    text, page = shown(shell, "memprofile")
    assert text.startswith("memprofile g(10000): peak ")
    assert "peak memory" in page and "RSS" in page


def test_memprofile_lines_of_a_named_function(shell: Any) -> None:
    text, page = shown(shell, "memprofile_lines")
    assert text.startswith("memprofile g: peak ") and "data = [bytearray(100) for _ in range(n)]" in text
    assert "Mem after" in page and 'class="pt-hot"' in page


def test_memprofile_lines_of_the_cell_itself(shell: Any) -> None:
    text, _page = shown(shell, "memprofile_cell_lines")
    buffer_line = [line for line in text.splitlines() if "buf = bytearray(10**6)" in line]
    assert buffer_line and "+977 KiB" in buffer_line[0]  # 10**6 bytes


def test_memprofile_of_a_method_puts_the_method_back(shell: Any) -> None:
    text, _page = shown(shell, "memprofile_method")
    assert text.startswith("memprofile Box.fill: peak ")
    assert "True" in result(shell, "restored")["stdout"]


def test_memprofile_interval_draws_the_timeline_inline(shell: Any) -> None:
    _text, page = shown(shell, "memprofile_interval")
    assert '<img class="pt-timeline"' in page and "data:image/png;base64," in page


def test_sampleprofile_shows_pyinstruments_page_inline(shell: Any) -> None:
    for key in ("sampleprofile", "sampleprofile_cell"):
        text, page = shown(shell, key)
        assert text.startswith("sampleprofile ") and " samples every " in text
        assert '<iframe class="pt-page" srcdoc="' in page and "&lt;html" in page and "<details>" in page


def test_r_returns_the_record_without_showing_it(shell: Any) -> None:
    assert result(shell, "returned")["outputs"] == []
    assert "('ProfileRecord', True)" in result(shell, "returned_type")["stdout"]


def test_d_and_t_write_the_dump_and_the_text(shell: Any) -> None:
    folder = shell[0]
    found = result(shell, "files")
    assert f"prof dump written to {folder}/p.prof" in found["stdout"]
    assert f"text written to {folder}/p.txt" in found["stdout"]
    assert pstats.Stats(str(folder / "p.prof")).total_calls > 0  # type: ignore[attr-defined]
    assert (folder / "p.txt").read_text().startswith("profileit f(10): ")
    with open(folder / "l.lprof", "rb") as stream:
        assert [name for _file, _line, name in pickle.load(stream).timings] == ["f"]


def test_an_exception_shows_the_record_then_the_statements_traceback(shell: Any) -> None:
    found = result(shell, "raises")
    assert found["error"] == "ZeroDivisionError"
    assert found["outputs"][0]["text/plain"].startswith("timed 1/0: ") and "raised ZeroDivisionError" in \
        found["outputs"][0]["text/plain"]
    package = str(Path(profiletools.__file__).parent)  # no frame of ours (site-packages may be under any path)
    assert "----> 1 1/0" in found["stdout"] and package not in found["stdout"], found["stdout"]


def test_a_record_as_the_last_value_renders_the_same(shell: Any) -> None:
    assert "['text/html', 'text/plain']" in result(shell, "last_value")["stdout"]
    assert "True" in result(shell, "last_value_html")["stdout"]


def test_a_name_the_cell_binds_again_is_left_to_the_cell(shell: Any) -> None:
    text, _page = shown(shell, "rebound")
    assert text.startswith("memprofile g: ")
    assert "-5" in result(shell, "rebound_kept")["stdout"]


def test_a_function_never_called_is_said(shell: Any) -> None:
    found = result(shell, "never_called")
    assert found["outputs"] == [] and found["stdout"].startswith("%timed: g never called: nothing measured\nOut[")


@pytest.mark.parametrize(("key", "message"), [
    ("error_option", "-s does not apply to timed (it applies to profileit)"),
    ("error_name", "-f nope: NameError: name 'nope' is not defined"),
    ("error_empty", "%profileit needs a statement to run"),
    ("error_cell_line", "%%timed takes options on its line and the code in the cell"),
    ("error_limit", "-l takes a number of rows or a fraction; got 'many'"),
    ("error_expression", "-f [f][0]: %memprofile measures each call of a function it replaces"),
    ("error_nothing_to_time", "%lineprofile: no function to time: name some with -f func"),
])
def test_usage_errors_are_one_line(shell: Any, key: str, message: str) -> None:
    found = result(shell, key)
    assert found["error"] == "UsageError" and found["outputs"] == []
    assert found["message"].startswith(message)


def test_importing_profiletools_does_not_import_ipython() -> None:
    done = run_python("import sys, profiletools\nprint('IPython' in sys.modules)")
    assert done.stdout == "False\n", done.stderr
