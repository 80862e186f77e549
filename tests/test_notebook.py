"""docs/notebooks.md, cell by cell, executed by a real Jupyter kernel (nbclient + ipykernel): the HTML it shows."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("nbclient")
pytest.importorskip("nbformat")
pytest.importorskip("ipykernel")

PAGE = Path(__file__).parent.parent / "docs" / "notebooks.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)

#: Builds a notebook of the cells in ``sys.argv[1]`` (JSON), runs it in the ``python3`` kernel, saves it.
EXECUTE = """
import json, sys
import nbclient, nbformat
cells = [nbformat.v4.new_code_cell(source) for source in json.loads(sys.argv[1])]
notebook = nbformat.v4.new_notebook(cells=cells)
client = nbclient.NotebookClient(notebook, kernel_name="python3", timeout=180, allow_errors=False,
                                 resources={"metadata": {"path": "."}})
client.execute()
nbformat.write(notebook, sys.argv[2])
"""
#: The last cell, not in the docs: which interpreter the kernel runs.
WHICH = "import sys\nprint(sys.executable)"


def cells() -> list[str]:
    """The page's notebook cells: every ```python block, in order."""
    return [block.strip() for block in _BLOCK.findall(PAGE.read_text())]


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    folder = tmp_path_factory.mktemp("notebook")
    sources = [*cells(), WHICH]
    done = subprocess.run([sys.executable, "-c", EXECUTE, json.dumps(sources), "run.ipynb"], cwd=folder,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    notebook = json.loads((folder / "run.ipynb").read_text())
    return folder, notebook["cells"]


def joined(value: str | list[str]) -> str:
    """A notebook file keeps multi-line strings as lists of lines."""
    return value if isinstance(value, str) else "".join(value)


def html(cell: dict[str, Any]) -> str:
    return "".join(joined(output.get("data", {}).get("text/html", "")) for output in cell["outputs"])


def cell_starting(executed: tuple[Path, list[dict[str, Any]]], start: str) -> dict[str, Any]:
    (found,) = [cell for cell in executed[1] if "".join(cell["source"]).startswith(start)]
    return found


def test_the_kernel_is_this_interpreter(executed: tuple[Path, list[dict[str, Any]]]) -> None:
    last = executed[1][-1]
    assert joined(last["outputs"][0]["text"]).strip() == sys.executable


def test_every_cell_runs_without_error(executed: tuple[Path, list[dict[str, Any]]]) -> None:
    assert len(executed[1]) == len(cells()) + 1 >= 14
    for cell in executed[1]:
        assert all(output["output_type"] != "error" for output in cell["outputs"]), cell


def test_lineprofile_shows_the_line_table_with_hot_lines(executed: tuple[Path, list[dict[str, Any]]]) -> None:
    cell = cell_starting(executed, "%lineprofile -f is_prime")
    page = html(cell)
    assert '<table class="pt-table"' in page and 'class="pt-hot"' in page
    assert "for divisor in range(2, int(n**0.5) + 1):" in page
    (value,) = [output for output in cell["outputs"] if output["output_type"] == "execute_result"]
    assert joined(value["data"]["text/plain"]) == "1229"  # the statement's value is the cell's


def test_a_cell_magic_times_the_functions_the_cell_defines(executed: tuple[Path, list[dict[str, Any]]]) -> None:
    page = html(cell_starting(executed, "%%lineprofile"))
    assert "squares" in page and "return [i * i for i in range(n)]" in page


def test_profileit_shows_the_stats_table(executed: tuple[Path, list[dict[str, Any]]]) -> None:
    page = html(cell_starting(executed, "%%profileit"))
    assert "5 of " in page and "by internal time" in page and "(is_prime)" in page
    assert page.split('class="pt-table"')[1].count("<tr") == 1 + 5


def test_memprofile_shows_the_memory_tables_and_the_timeline(executed: tuple[Path, list[dict[str, Any]]]) -> None:
    lines = html(cell_starting(executed, "%memprofile --lines"))
    assert "Mem after" in lines and "rows = [bytearray(100) for _ in range(count)]" in lines
    timeline = html(cell_starting(executed, "%memprofile --interval"))
    assert '<img class="pt-timeline"' in timeline and "data:image/png;base64," in timeline


def test_sampleprofile_shows_pyinstruments_page_inline(executed: tuple[Path, list[dict[str, Any]]]) -> None:
    page = html(cell_starting(executed, "%sampleprofile"))
    assert '<iframe class="pt-page" srcdoc="' in page and "is_prime" in page


def test_records_as_values_render_as_html(executed: tuple[Path, list[dict[str, Any]]]) -> None:
    for start in ("record\n", "from profiletools import profileit"):
        source_cells = [cell for cell in executed[1] if ("".join(cell["source"]) + "\n").startswith(start)]
        (cell,) = source_cells
        (value,) = [output for output in cell["outputs"] if output["output_type"] == "execute_result"]
        assert '<table class="pt-table"' in joined(value["data"]["text/html"])
        assert joined(value["data"]["text/plain"]).startswith("profileit ")


def test_dump_and_text_files_are_written(executed: tuple[Path, list[dict[str, Any]]]) -> None:
    folder = executed[0]
    assert (folder / "primes.prof").stat().st_size > 0
    assert (folder / "primes.txt").read_text().startswith("profileit count_primes(1_000): ")
