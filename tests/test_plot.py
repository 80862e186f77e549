"""reporters.Plot: real PNGs from memprofile timelines, the missing-extra error, failures that only warn."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from profiletools import reporters, timed
from profiletools.core import settings
from profiletools.reporters.plot import Plot
from profiletools.tools.memprofile.api import memprofile

MIB = 1 << 20


def _sawtooth():
    held = []
    for step in range(12):
        held.append(bytearray(2 * MIB))
        if step == 7:
            held.clear()
        time.sleep(0.004)
    return len(held)


def _near(image, rgb, tolerance=0.08):
    """How many pixels are close to the colour ``rgb`` (0-255 values)."""
    import numpy

    target = numpy.array(rgb) / 255.0
    return int((numpy.abs(image[:, :, :3] - target).max(axis=2) < tolerance).sum())


def test_png_is_written_atomically_and_shows_memory_and_cpu(tmp_path):
    from matplotlib.image import imread

    plot = Plot(tmp_path / "plots")
    seen = reporters.Collect()
    train = memprofile(interval=0.003, reporters=[plot, seen])(_sawtooth)
    assert train() == 4
    (path,) = plot.written
    assert os.path.basename(path).startswith("sawtooth-") and path.endswith(".png")
    with open(path, "rb") as stream:
        assert stream.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.path.getsize(path) > 5000
    assert os.listdir(tmp_path / "plots") == [os.path.basename(path)]  # no temporary file left
    image = imread(path)
    assert image.shape[0] > 300 and image.shape[1] > 500
    assert _near(image, (31, 119, 180)) > 100  # the RSS line (tab:blue)
    assert _near(image, (44, 160, 44)) > 100  # the traced-memory line (tab:green)
    assert _near(image, (222, 82, 83)) > 30  # the CPU line (tab:red at alpha 0.8 over white)
    assert len(seen.records[0].samples) >= 3


def test_records_without_a_timeline_are_passed_over(tmp_path):
    plot = Plot(tmp_path)

    @memprofile(reporters=[plot])
    def plain():
        return 1

    with pytest.warns(RuntimeWarning) as caught:
        with timed("t", reporters=[plot]):
            pass
        plain()
    assert len(caught) == 2 and all("gets no PNG" in str(item.message) for item in caught)
    assert list(plot.written) == []
    assert os.listdir(tmp_path) == []


def test_missing_matplotlib_names_the_extra():
    script = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'matplotlib':\n"
        "            raise ModuleNotFoundError('No module named ' + repr(name), name=name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from profiletools.reporters.plot import Plot\n"  # importing the module itself must work
        "try:\n"
        "    Plot('plots')\n"
        "except ImportError as exc:\n"
        "    print('ImportError:', exc)\n"
        "    print('cause:', type(exc.__cause__).__name__)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "pip install 'matplotlib>=3.7'" in result.stdout
    assert "cause: ModuleNotFoundError" in result.stdout


def test_unwritable_directory_is_one_warning_not_an_error(tmp_path):
    settings.reset_warnings()
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    plot = Plot(blocker)

    @memprofile(interval=0.002, reporters=[plot])
    def work():
        time.sleep(0.005)
        return "result"

    with pytest.warns(RuntimeWarning, match="could not write"):
        assert work() == "result"
    assert list(plot.written) == []


@pytest.mark.parametrize(
    ("options", "word"),
    [
        ({"size": (0, 3)}, "size="),
        ({"size": "big"}, "size="),
        ({"dpi": 3}, "dpi="),
        ({"pattern": "{name}"}, "pattern="),
    ],
)
def test_bad_arguments_name_the_argument(tmp_path, options, word):
    with pytest.raises((TypeError, ValueError), match=word):
        Plot(tmp_path, **options)
