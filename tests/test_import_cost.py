"""``import profiletools`` loads nothing heavy; wrapt and asyncio come only when needed."""

from __future__ import annotations

import json

from tests.conftest import run_python

_LOADED = "import sys, json; print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {names!r})))"


def loaded_after(code: str, names: set[str], env: dict[str, str] | None = None) -> list[str]:
    """The modules among ``names`` (top-level packages) that ``code`` leaves imported."""
    done = run_python(code + "\n" + _LOADED.format(names=names), env=env)
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout))


def test_import_profiletools_loads_only_its_top_module() -> None:
    loaded = loaded_after("import profiletools", {"profiletools", "wrapt", "asyncio", "typing", "inspect"})
    assert loaded == ["profiletools", "profiletools.core", "profiletools.core.version"]


def test_import_with_profiletools_off_loads_the_same() -> None:
    loaded = loaded_after("import profiletools", {"profiletools", "wrapt"}, env={"PROFILETOOLS": "0"})
    assert loaded == ["profiletools", "profiletools.core", "profiletools.core.version"]


def test_timing_a_function_needs_neither_wrapt_nor_asyncio() -> None:
    code = "from profiletools import timed\n@timed\ndef f():\n    return 1\nassert f() == 1"
    assert loaded_after(code, {"wrapt", "asyncio", "line_profiler", "psutil", "pyinstrument"}) == []


def test_decorating_a_coroutine_function_loads_wrapt_then() -> None:
    code = "from profiletools import timed\n@timed\nasync def f():\n    return 1"
    assert "wrapt" in loaded_after(code, {"wrapt"})


def test_public_names_resolve_lazily_and_stay() -> None:
    import profiletools

    assert profiletools.timed is profiletools.timed
    assert sorted(set(profiletools.__all__) - set(dir(profiletools))) == []
