"""An RSS timeline as an ``mprof`` ``.dat`` file, so ``mprof plot FILE`` and ``mprof peak FILE`` read it.

The format, as memory_profiler 0.61's ``mprof`` reads it (one record per line,
the keyword split from the rest at the first space)::

    CMDLINE <free text to the end of the line>
    MEM <MiB> <seconds since the epoch>                  one per sample, in time order
    FUNC <name> <MiB> <epoch start> <MiB> <epoch end> <stack level>

MiB are 2**20 bytes; the function name must hold no space (``FUNC`` is split
on single spaces); the file must not be empty (``mprof`` reads an empty line
as "sampling time was too short"). ``mprof peak`` prints the largest ``MEM``
value; ``mprof plot`` draws the ``MEM`` points and a bracket per ``FUNC``.

Samples are points in time, so a spike that rose and fell between two of them
is invisible in RSS samples alone. Where the kernel's high-water mark was
folded at each sample (:class:`profiletools.tools.memprofile.rss.Sample`'s
``peak``), the interval's peak is written as an extra ``MEM`` point halfway
through the interval whenever it exceeds both samples around it: the height
is exact, its time known to half an interval.
"""

from __future__ import annotations

from typing import IO, Any

from profiletools.tools.memprofile.rss import Timeline

_MIB = float(1 << 20)


def points(timeline: Timeline) -> list[tuple[float, int]]:
    """``(seconds since the call started, RSS bytes)`` to plot: each sample, plus interval peaks above both ends.

    >>> from profiletools.tools.memprofile.rss import Sample, Timeline
    >>> timeline = Timeline(0.1, [Sample(0.0, 100, None, None), Sample(0.1, 120, 5.0, None, 900)])
    >>> points(timeline)
    [(0.0, 100), (0.05, 900), (0.1, 120)]
    """
    out: list[tuple[float, int]] = []
    previous: Any = None
    for sample in timeline:
        if sample.rss is None:
            continue
        if previous is not None and sample.peak is not None and sample.peak > max(previous.rss, sample.rss):
            out.append(((previous.t + sample.t) / 2, sample.peak))
        out.append((sample.t, sample.rss))
        previous = sample
    return out


def write_dat(record: Any, stream: IO[bytes]) -> None:
    """Write ``record``'s timeline (``record.samples``) to ``stream`` in mprof's ``.dat`` format."""
    timeline: Timeline = record.samples
    started = timeline.started if timeline.started is not None else record.started
    found = points(timeline)
    lines = [f"CMDLINE profiletools {record.tool} {' '.join(str(record.name).split())}\n"]
    lines += [f"MEM {rss / _MIB:.6f} {started + t:.4f}\n" for t, rss in found]
    if found:
        where = f"{record.module}.{record.qualname}" if record.module else str(record.qualname or record.name)
        name = "".join(where.split()) or "call"
        (t0, first), (t1, last) = found[0], found[-1]
        lines.append(
            f"FUNC {name} {first / _MIB:.4f} {started + t0:.4f} {last / _MIB:.4f} {started + t1:.4f} 1\n"
        )
    stream.write("".join(lines).encode("utf-8"))
