"""Records as HTML (``Record._repr_html_``, profiletools.formats.html): real records of every tool."""

from __future__ import annotations

import html
import io
import re
import time

import pytest

from profiletools import lineprofile, memprofile, profileit, reporters, sampleprofile, timed
from tests.conftest import run_python


def rows_of(page: str, table: int = 0) -> list[str]:
    """The body rows of the ``table``-th ``pt-table`` of ``page``."""
    body = page.split('class="pt-table"')[table + 1].split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return re.findall(r"<tr[^>]*>.*?</tr>", body)


def test_every_record_starts_with_its_tool_name_and_figures() -> None:
    with timed("<script>alert(1)</script>", reporters=[]) as probe:
        pass
    page = probe.record._repr_html_()
    assert page.startswith('<div class="profiletools">') and page.endswith("</div>")
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "wall time" in page and "cpu time" in page


def test_an_error_and_a_skipped_measurement_are_said() -> None:
    with pytest.raises(KeyError), profileit("fails", reporters=[]) as probe:
        raise KeyError("x")
    assert "raised</span> KeyError" in probe.record._repr_html_()
    with pytest.warns(RuntimeWarning, match="no functions to time"), lineprofile("empty", reporters=[]) as probe:
        pass
    assert probe.record.skipped is not None
    assert "not measured</span> " + html.escape(probe.record.skipped) in probe.record._repr_html_()


def test_the_profile_table_has_the_rows_of_the_text_report() -> None:
    seen = reporters.Collect()

    @profileit(sort="ncalls", limit=3, reporters=[seen])
    def work() -> int:
        return sum(len(str(i)) for i in range(100))

    work()
    record = seen.records[0]
    page = record._repr_html_()
    labels = [html.unescape(row.rsplit(">", 3)[-3].rsplit("<", 1)[0]) for row in rows_of(page)]
    assert labels == [line.split("  ")[-1] for line in record.text().splitlines()[3:]]
    assert len(labels) == 3 and "3 of " in page and "by call count" in page


def test_the_line_table_marks_the_hot_lines() -> None:
    seen = reporters.Collect()

    @lineprofile(reporters=[seen])
    def loop(n: int) -> float:
        total = 0.0
        for i in range(n):
            total += i ** 0.5
        time.sleep(0.02)
        return total

    loop(2000)
    rows = rows_of(seen.records[0]._repr_html_())
    hot = [row for row in rows if 'class="pt-hot"' in row]
    assert any("time.sleep(0.02)" in row for row in hot)
    assert not any("return total" in row for row in hot)
    assert any("def loop(n: int) -&gt; float:" in row for row in rows)  # every source line, escaped


def test_the_memory_tables_and_the_timeline() -> None:
    seen = reporters.Collect()

    @memprofile(lines=True, top=2, interval=0.002, reporters=[seen])
    def build() -> int:
        small = [1] * 10
        big = [bytearray(1000) for _ in range(2000)]
        time.sleep(0.01)
        return len(big) + len(small)

    build()
    page = seen.records[0]._repr_html_()
    assert "peak memory" in page and "RSS" in page and "allocated and still alive at the end" in page
    line_rows = rows_of(page, table=1)
    (hot,) = [row for row in line_rows if 'class="pt-hot"' in row and "bytearray" in row]
    assert "small = [1] * 10" not in hot
    image = page.split('src="data:image/png;base64,', 1)[1].split('"', 1)[0]
    import base64

    assert base64.b64decode(image).startswith(b"\x89PNG")


def test_without_matplotlib_the_timeline_is_a_line_saying_why() -> None:
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "from profiletools import memprofile, reporters\n"
        "seen = reporters.Collect()\n"
        "with memprofile('m', interval=0.002, reporters=[seen]):\n"
        "    data = [bytearray(100) for _ in range(1000)]\n"
        "print(seen.records[0]._repr_html_())\n"
    )
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    assert "drawing it needs matplotlib (the plot extra)" in done.stdout and "<img" not in done.stdout


def test_a_sampled_profile_embeds_pyinstruments_page() -> None:
    seen = reporters.Collect()

    @sampleprofile(interval=0.0005, reporters=[seen])
    def spin() -> int:
        return sum(i * i for i in range(200_000))

    spin()
    record = seen.records[0]
    page = record._repr_html_()
    srcdoc = page.split('srcdoc="', 1)[1].split('"', 1)[0]
    stream = io.BytesIO()
    record.write_html(stream)
    assert html.unescape(srcdoc) == stream.getvalue().decode("utf-8")
    assert "<details><summary>text</summary><pre>" in page and html.escape(record.text()) in page


def test_ipython_shows_the_text_in_a_terminal() -> None:
    pretty = pytest.importorskip("IPython.lib.pretty")
    with timed("step", reporters=[]) as probe:
        pass
    assert pretty.pretty(probe.record) == probe.record.text()
