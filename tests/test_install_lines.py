"""No page, README line or message of the package gives a command that installs another package.

``profiletools`` on the public package index is an unrelated project: ``pip install profiletools``
and ``pip install 'profiletools[plot]'`` install it. This package is installed from a checkout
(``pip install .``) or as a direct reference (``profiletools[plot] @ git+https://...``, a path, a wheel).
"""

from __future__ import annotations

import json
import re
import shlex
from importlib.metadata import distribution
from pathlib import Path

import pytest

from tests.conftest import run_python

ROOT = Path(__file__).parent.parent

#: The start of an install command, of every installer a reader might copy from.
_INSTALLER = re.compile(
    r"(?:\bpip3?|\bpython[\d.]*\s+-m\s+pip|\buv\s+pip|\bpipx)\s+install\b|\b(?:uv|poetry|pdm|hatch)\s+add\b"
)
#: The bare name, with or without extras or a version: what the package index would resolve.
_BARE = re.compile(r"^profiletools(\[[^\]]*\])?([<>=!~].*)?$", re.IGNORECASE)


def bare_installs(text: str) -> list[str]:
    """The install commands in ``text`` that name ``profiletools`` without a direct reference."""
    found = []
    for line in text.splitlines():
        for match in _INSTALLER.finditer(line):
            rest = line[match.end():]
            rest = re.split(r"[`#;|()]|&&", rest, maxsplit=1)[0]  # the command ends at a comment, prose, a pipe
            try:
                words = shlex.split(rest)
            except ValueError:
                words = rest.split()
            for index, word in enumerate(words):
                word = word.strip("'\"(),.")
                if _BARE.match(word) and (index + 1 >= len(words) or words[index + 1] != "@"):
                    found.append(line.strip())
    return found


def _files() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "mkdocs.yml", *ROOT.glob("benchmarks/*.md"), *ROOT.glob("benchmarks/*.py")]
    files += sorted((ROOT / "docs").rglob("*.md")) + sorted((ROOT / "docs").rglob("*.py"))
    files += sorted((ROOT / "profiletools").rglob("*.py"))
    return [path for path in files if path.is_file()]


@pytest.mark.parametrize(
    ("text", "bad"),
    [
        ("pip install profiletools", True),
        ("pip install 'profiletools[plot]'", True),
        ('python -m pip install "profiletools[plot,sample]>=0.1"', True),
        ("uv add profiletools", True),
        ("``pip install 'profiletools[sample]'``", True),
        ("pip install -U profiletools==0.1.0", True),
        ("pip install .", False),
        ("pip install -e '.[plot]'", False),
        ("pip install 'profiletools[plot] @ git+https://example.org/profiletools.git'", False),
        ("pip install profiletools[plot] @ git+https://example.org/profiletools.git", False),
        ("pip install 'matplotlib>=3.7'", False),
        ("pip install profiletools-fork", False),
        ("the profiletools[plot] extra", False),
        ("pip install 'numpy' (or reinstall profiletools with: pip install -e '/src[plot]')", False),
    ],
)
def test_the_check_finds_bare_installs(text: str, bad: bool) -> None:
    assert bool(bare_installs(text)) is bad


def test_no_file_gives_an_install_command_for_the_bare_name() -> None:
    offenders = {str(path.relative_to(ROOT)): bare_installs(path.read_text(encoding="utf-8")) for path in _files()}
    assert {path: lines for path, lines in offenders.items() if lines} == {}


def test_the_docs_say_how_to_install_this_package() -> None:
    index = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    assert "pip install ." in index  # from a checkout
    assert "profiletools[plot] @ git+https://" in index  # as a dependency of another project
    assert "pip wheel ." in index


def test_the_extras_table_matches_the_package_metadata() -> None:
    from profiletools.core import extras

    declared: dict[str, list[str]] = {}
    for requirement in distribution("profiletools").requires or []:
        match = re.match(r"([^;]+);\s*extra == '(\w+)'$", requirement)
        if match:
            declared.setdefault(match.group(2), []).append(match.group(1).strip())
    for extra, needs in extras.EXTRAS.items():
        assert declared[extra] == [needs], extra


def test_the_hint_reinstalls_from_where_this_package_came_from() -> None:
    from profiletools.core import extras

    hint = extras.install_hint("plot")
    assert "pip install 'matplotlib>=3.7'" in hint
    assert not bare_installs(hint)
    origin = distribution("profiletools").read_text("direct_url.json")
    if origin is not None:  # installed from a checkout, a path or a URL: the hint reinstalls from there
        url = json.loads(origin)["url"]
        assert url.removeprefix("file://") in hint and "[plot]" in hint


_BLOCK = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == {module!r}:
            raise ModuleNotFoundError("No module named " + repr(name), name=name)
sys.meta_path.insert(0, Block())
"""


@pytest.mark.parametrize(
    ("module", "code", "requirement"),
    [
        ("matplotlib", "from profiletools import reporters\nreporters.Plot('plots')", "matplotlib>=3.7"),
        ("pyinstrument", "from profiletools import sampleprofile\nsampleprofile(lambda: 1)", "pyinstrument>=5.0"),
        ("opentelemetry", "from profiletools import reporters\nreporters.OpenTelemetry()", "opentelemetry-api>=1.20"),
    ],
)
def test_missing_extra_messages_give_a_command_that_installs_it(module: str, code: str, requirement: str) -> None:
    script = _BLOCK.format(module=module) + "try:\n" + "".join(f"    {line}\n" for line in code.splitlines())
    script += "except ImportError as exc:\n    print(exc)\n"
    result = run_python(script)
    assert result.returncode == 0, result.stderr
    assert f"pip install '{requirement}'" in result.stdout
    assert not bare_installs(result.stdout), result.stdout


def test_the_demo_without_matplotlib_says_how_to_get_the_plot(tmp_path: Path) -> None:
    script = _BLOCK.format(module="matplotlib") + (
        "import sys\nfrom profiletools.cli import main\nsys.exit(main(['demo', '--out', sys.argv[1]]))\n"
    )
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", script, str(tmp_path / "demo")], capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert "pip install 'matplotlib>=3.7'" in result.stdout
    assert not bare_installs(result.stdout + result.stderr)
