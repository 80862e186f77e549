"""What to tell a user whose optional dependency is missing: a command that installs it.

The name ``profiletools`` on the public package index belongs to an unrelated
project, so a hint never installs the bare name with an extra. It gives
the dependency itself (always right), and, when the installed package records
where it came from (PEP 610 ``direct_url.json``: a checkout, a path, a wheel,
a git URL), the command that reinstalls *this* package with the extra from
there.

>>> hint = install_hint("plot")
>>> hint.startswith("pip install 'matplotlib>=3.7'")
True
"""

from __future__ import annotations

import json
from urllib.parse import unquote, urlparse

#: Each optional extra and what it installs (as in pyproject.toml; a test keeps them equal).
EXTRAS = {
    "plot": "matplotlib>=3.7",
    "sample": "pyinstrument>=5.0",
    "otel": "opentelemetry-api>=1.20",
}


def _origin() -> dict[str, object] | None:
    """The installed package's ``direct_url.json`` (PEP 610), or ``None`` (from an index, or not installed)."""
    try:
        from importlib.metadata import PackageNotFoundError, distribution

        from profiletools.core.version import __version__

        dist = distribution("profiletools")
        if dist.version != __version__:  # another project of that name: its origin is not ours
            return None
        text = dist.read_text("direct_url.json")
    except (PackageNotFoundError, OSError):
        return None
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) and isinstance(data.get("url"), str) else None


def reinstall_command(extra: str) -> str | None:
    """The command that reinstalls this package with ``extra`` from where it was installed, or ``None``.

    A checkout installed with ``pip install -e .`` gives ``pip install -e '/path[extra]'``; one
    installed with ``pip install .`` gives ``pip install '/path[extra]'``; a wheel, an archive or a
    git URL gives a direct reference, ``pip install 'profiletools[extra] @ URL'``.
    """
    origin = _origin()
    if origin is None:
        return None
    url = str(origin["url"])
    dir_info = origin.get("dir_info")
    if isinstance(dir_info, dict) and urlparse(url).scheme == "file":
        path = unquote(urlparse(url).path)
        editable = "-e " if dir_info.get("editable") else ""
        return f"pip install {editable}'{path}[{extra}]'"
    vcs_info = origin.get("vcs_info")
    if isinstance(vcs_info, dict) and isinstance(vcs_info.get("vcs"), str):
        revision = vcs_info.get("requested_revision") or vcs_info.get("commit_id")
        url = f"{vcs_info['vcs']}+{url}" + (f"@{revision}" if revision else "")
    return f"pip install 'profiletools[{extra}] @ {url}'"


def install_hint(extra: str) -> str:
    """How to install what ``extra`` needs: the dependency, and how to reinstall this package with it.

    Never the bare name ``profiletools``: on the package index that is someone else's project.
    """
    requirement = EXTRAS[extra]
    hint = f"pip install '{requirement}'"
    again = reinstall_command(extra)
    if again is not None:
        hint += f" (or reinstall profiletools with its {extra} extra: {again})"
    return hint
