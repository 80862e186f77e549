"""``Plot``: a PNG of memory and CPU over time for each record that carries a timeline.

Records of ``memprofile(interval=...)`` carry RSS, traced memory and CPU %
samples; ``Plot`` draws them (memory on the left axis, CPU on the right, as
``psrecord`` and ``mprof plot`` do). Other records get no PNG, and one warning
per tool and reason says why and what to do (``memprofile(interval=...)``). Drawing
needs matplotlib (the ``plot`` extra of this package).
"""

from __future__ import annotations

import os
from typing import IO, Any

from profiletools.core import registry
from profiletools.core.records import format_seconds
from profiletools.core.settings import warn_once
from profiletools.reporters.dump import DEFAULT_PATTERN, Dump

_MIB = float(1 << 20)


def missing_matplotlib() -> str:
    """The message of a ``Plot`` made without matplotlib: what is missing and the command that installs it."""
    from profiletools.core.extras import install_hint

    return f"reporters.Plot draws with matplotlib, which is not installed: {install_hint('plot')}"


def _matplotlib() -> tuple[Any, Any]:
    """matplotlib's ``Figure`` and Agg canvas (no pyplot: no global state, no GUI backend)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(missing_matplotlib()) from exc
    return Figure, FigureCanvasAgg


def _why_no_timeline(record: Any, samples: Any) -> None:
    """One warning per tool and reason: a record ``Plot`` cannot draw, and what to do for one it can."""
    tool, name = record.tool, record.name
    if not hasattr(type(record), "samples"):
        warn_once(
            "plot", tool,
            f"reporters.Plot draws memory and CPU timelines; {tool} records have no timeline, so {tool} {name!r} "
            "gets no PNG: measure it with memprofile(interval=0.01) to get one",
        )
    elif record.skipped is not None:
        warn_once("plot", f"{tool}:skipped", f"reporters.Plot: {tool} {name!r} was not measured "
                  f"({record.skipped}), so it gets no PNG")
    elif samples is None:
        warn_once(
            "plot", f"{tool}:no-interval",
            f"reporters.Plot: {tool} {name!r} has no timeline, so it gets no PNG: give {tool} interval= "
            "(seconds between samples, e.g. interval=0.01) to record one",
        )
    else:
        warn_once(
            "plot", f"{tool}:no-samples",
            f"reporters.Plot: {tool} {name!r} ended before its first sample, so it gets no PNG: "
            "give it a smaller interval=",
        )


class Plot(Dump):
    """Write a PNG per record with a timeline into ``directory`` (a :class:`Dump` that draws).

    File names follow ``pattern``, and ``max_files`` / ``max_bytes`` bound the
    directory, as for ``Dump`` (suffix ``.png``); files are
    written atomically, and a failure is one warning, never an exception in the
    profiled code. Raises ``ImportError`` with the command that installs
    matplotlib when it is missing.

    ```python
    >>> import tempfile, os
    >>> from profiletools import memprofile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     plot = Plot(tmp)
    ...     with memprofile("fill", interval=0.005, reporters=[plot]):
    ...         data = [bytearray(1024) for _ in range(2000)]
    ...     [os.path.basename(path).endswith(".png") for path in plot.written]
    [True]

    ```
    """

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        pattern: str = DEFAULT_PATTERN,
        size: tuple[float, float] = (8.0, 4.5),
        dpi: int = 100,
        max_files: int | None = None,
        max_bytes: int | None = None,
    ) -> None:
        self._figure, self._canvas = _matplotlib()
        super().__init__(directory, pattern=pattern, max_files=max_files, max_bytes=max_bytes)
        if (
            not isinstance(size, tuple) or len(size) != 2
            or not all(isinstance(side, (int, float)) and side > 0 for side in size)
        ):
            raise ValueError(f"Plot(size=) must be (width, height) in inches, both > 0; got {size!r}")
        if type(dpi) is not int or dpi < 10:
            raise ValueError(f"Plot(dpi=) must be a whole number >= 10; got {dpi!r}")
        self.size = (float(size[0]), float(size[1]))
        self.dpi = dpi

    def report(self, record: Any) -> None:
        """Draw the record's timeline and write the PNG; without a timeline, say once per reason why not."""
        samples = getattr(record, "samples", None)
        if not samples:
            _why_no_timeline(record, samples)
            return
        self.write(record, [(".png", lambda stream: self.draw(record, stream))])

    def draw(self, record: Any, stream: IO[bytes]) -> None:
        """Render ``record``'s timeline as PNG into ``stream``."""
        figure = self._figure(figsize=self.size, dpi=self.dpi)
        self._canvas(figure)
        memory = figure.add_subplot()
        samples = list(record.samples)
        times = [sample.t for sample in samples]
        rss = [(sample.t, sample.rss / _MIB) for sample in samples if sample.rss is not None]
        traced = [(sample.t, sample.traced / _MIB) for sample in samples if sample.traced is not None]
        cpu = [(sample.t, sample.cpu) for sample in samples if sample.cpu is not None]
        handles = []
        if rss:
            handles += memory.plot(*zip(*rss, strict=True), color="tab:blue", label="RSS (MiB)")
        if traced:
            handles += memory.plot(*zip(*traced, strict=True), color="tab:green", linestyle="--", label="traced (MiB)")
        memory.set_xlabel("time since the call started (s)")
        memory.set_ylabel("memory (MiB)")
        memory.set_xlim(0, max(times[-1], 1e-6))
        memory.grid(True, alpha=0.3)
        if cpu:
            load = memory.twinx()
            handles += load.plot(*zip(*cpu, strict=True), color="tab:red", alpha=0.8, label="CPU (%)")
            load.set_ylabel("CPU (% of one core)")
            load.set_ylim(bottom=0)
        if handles:
            memory.legend(
                handles, [handle.get_label() for handle in handles], loc="upper center",
                bbox_to_anchor=(0.5, -0.14), ncol=len(handles), fontsize="small", frameon=False,
            )
        title = f"{record.name}: {format_seconds(record.wall)}"
        for declared in registry.figures_of(record.tool):  # peak, net, RSS change: what the tool declares
            value = declared.value(record)
            if value is not None:
                title += f", {declared.label} {declared.format(value)}"
        memory.set_title(title, fontsize="medium")
        figure.savefig(stream, format="png", bbox_inches="tight")
