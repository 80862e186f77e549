"""profilehooks' own tests (mgedmin/profilehooks ``test_profilehooks.py``), ported to ``profileit``,
``timed`` and ``lineprofile``.

profilehooks' ``@profile`` keeps one cProfile profile over all calls and prints
it at exit (``immediate=True``: after each call); ``profileit`` makes a record
per call, or one over all calls with ``aggregate=True`` (reported on
``flush()``, also at exit). ``@timecall`` prints one line per call (or a
summary at exit with ``immediate=False``): ``timed``'s default reporter prints
one line per call, ``reporters.Summary`` the summary. ``@coverage``'s hit
counts per line are what ``lineprofile`` counts.

Deliberate differences, asserted below: the texts differ (profiletools' line
is ``timed NAME: 1.2 ms (cpu ...)``, not ``NAME (file:line):\\n 0.000 seconds``);
``every=N`` measures the 1st, N+1-th, ... call where profilehooks' ``skip=N``
leaves out the first N; profileit has cProfile only (no ``profiler=``).

Not ported: the ``FuncSource`` doctests and coverage without source (profilehooks
internals).
"""

from __future__ import annotations

import functools
import inspect
import io
import logging
import os
import pstats
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import profiletools
from profiletools import lineprofile, profileit, reporters, timed


def calls_of(record: Any, name: str) -> tuple[int, int]:
    """``(primitive calls, all calls)`` of the function ``name`` in a profileit record."""
    ((primitive, total),) = [stat[:2] for func, stat in record.stats.stats.items() if func[2] == name]
    return primitive, total


def sample_fn(x: int, y: int, z: int) -> int:
    print(f"{x} {y} {z}")
    return x + y * z


def plain_fn(x: int, y: int, z: int) -> int:
    return x + y * z


@pytest.fixture
def logger() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """The peer's ``test_profilehooks`` logger, writing to a buffer."""
    logger = logging.getLogger("test_profilehooks")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    logger.addHandler(handler)
    yield logger, buffer
    logger.removeHandler(handler)


# -- profile -----------------------------------------------------------------------------------------


def test_profile(capsys: pytest.CaptureFixture[str], collect: reporters.Collect) -> None:
    """Port of profilehooks test_profilehooks.py::doctest_profile.

    The function works as before, more than once; at exit (here: on flush)
    the profile says it was called 2 times.
    """
    profiled = profileit(aggregate=True, reporters=[collect])(sample_fn)
    r = profiled(1, 2, z=3)
    assert r == 7
    assert profiled(3, 2, 1) == 5
    assert capsys.readouterr().out == "1 2 3\n3 2 1\n"
    assert collect.records == []
    profiletools.flush()
    (record,) = collect.records
    assert record.stats.calls == 2
    assert calls_of(record, "sample_fn") == (2, 2)
    assert "over 2 profiled calls" in record.text().splitlines()[0]


def test_profile_with_args(collect: reporters.Collect) -> None:
    """Port of profilehooks test_profilehooks.py::doctest_profile_with_args: the deliberate difference.

    profilehooks' ``skip=1`` leaves the first call out ("function called 2
    times (1 calls not profiled)"); ``every=2`` measures the 1st call and
    leaves the 2nd out. ``sort='calls'`` is a pstats key for both.
    """
    profiled = profileit(every=2, sort="calls", reporters=[collect])(plain_fn)
    assert profiled(1, 2, z=3) == 7
    assert profiled(3, 2, 1) == 5
    (record,) = collect.records
    assert calls_of(record, "plain_fn") == (1, 1)
    assert "by call count" in record.text().splitlines()[1]
    with pytest.raises(TypeError, match="profiler"):
        profileit(profiler="profile")  # type: ignore[call-overload]


def test_profile_with_stdout_redirect(tmp_path: Path) -> None:
    """Port of profilehooks test_profilehooks.py::doctest_profile_with_stdout_redirect."""
    with (tmp_path / "out.txt").open("w+") as fp:
        profiled = profileit(reporters=[reporters.Stream(fp)])(plain_fn)
        assert profiled(3, 2, 1) == 5
        fp.flush()
        fp.seek(0)
        text = fp.read()
    assert "profileit plain_fn: " in text
    assert "plain_fn)" in text  # its row in the table


def test_profile_with_bad_args() -> None:
    """Port of profilehooks test_profilehooks.py::doctest_profile_with_bad_args.

    A bad choice fails at decoration with a ``ValueError`` listing what is available.
    """
    with pytest.raises(ValueError, match=r"sort= must be a pstats sort key \(.*cumulative.*\)"):

        @profileit(sort="nosuch")
        def sample_fn(x: int, y: int, z: int) -> int:
            return x + y * z


def test_profile_recursive_function(collect: reporters.Collect) -> None:
    """Port of profilehooks test_profilehooks.py::doctest_profile_recursive_function.

    ``immediate=True`` prints after the outermost call: one record, in which
    ``fac`` was called 4 times (1 primitive call).
    """

    @profileit(reporters=[collect])
    def fac(n: int) -> int:
        if n < 1:
            return 1
        return n * fac(n - 1)

    assert fac(3) == 6
    (record,) = collect.records
    assert calls_of(record, "fac") == (1, 4)
    assert "4/1" in record.text()


def test_dump(tmp_path: Path, collect: reporters.Collect) -> None:
    """Port of profilehooks test_profilehooks.py::doctest_dump: the saved stats open with pstats."""

    def f() -> None:
        pass

    profiled = profileit(aggregate=True, reporters=[reporters.Dump(tmp_path)])(f)
    profiled()
    profiled.flush()
    (name,) = os.listdir(tmp_path)
    stats = pstats.Stats(str(tmp_path / name))
    assert isinstance(stats, pstats.Stats)
    ((_file, _line, function),) = [key for key in stats.stats if key[2] == "f"]  # type: ignore[attr-defined]
    assert stats.stats[(_file, _line, function)][:2] == (1, 1)  # type: ignore[attr-defined]


# -- timecall ----------------------------------------------------------------------------------------


def test_timecall(capsys: pytest.CaptureFixture[str]) -> None:
    """Port of profilehooks test_profilehooks.py::doctest_timecall.

    Every call also prints a line to stderr naming the function and its time.
    """
    timed_fn = timed(sample_fn)
    r = timed_fn(1, 2, z=3)
    assert r == 7
    out, err = capsys.readouterr()
    assert out == "1 2 3\n"
    assert err.count("\n") == 1 and err.startswith("[profiletools] timed sample_fn: ")
    assert timed_fn(3, 2, 1) == 5
    out, err = capsys.readouterr()
    assert out == "3 2 1\n" and err.count("\n") == 1 and "timed sample_fn: " in err


def test_timecall_not_immediate(capsys: pytest.CaptureFixture[str]) -> None:
    """Port of profilehooks test_profilehooks.py::doctest_timecall_not_immediate.

    Nothing on stderr per call; at exit (on flush) "2 calls" and the totals.
    """
    summary = reporters.Summary(at_exit=True)
    timed_fn = timed(reporters=[summary])(sample_fn)
    assert timed_fn(1, 2, z=3) == 7
    assert timed_fn(3, 2, 1) == 5
    out, err = capsys.readouterr()
    assert out == "1 2 3\n3 2 1\n" and err == ""
    profiletools.flush()
    err = capsys.readouterr().err
    (row,) = [line for line in err.splitlines() if line.startswith("sample_fn ")]
    assert row.split()[1] == "2"  # count
    assert summary.stats()["sample_fn"]["count"] == 2


def test_timecall_never_called(capsys: pytest.CaptureFixture[str]) -> None:
    """Port of profilehooks test_profilehooks.py::doctest_timecall_never_called: nothing at exit."""
    summary = reporters.Summary(at_exit=True)
    timed(reporters=[summary])(sample_fn)
    profiletools.flush()
    assert capsys.readouterr().err == ""


def test_timecall_on_lru_cache(capsys: pytest.CaptureFixture[str]) -> None:
    """Port of profilehooks test_profilehooks.py::doctest_timecall_on_lru_cache (profilehooks issue #25)."""

    @timed
    @functools.lru_cache
    def sample_fn(x: int, y: int, z: int) -> int:
        print(f"{x} {y} {z}")
        return x + y * z

    r = sample_fn(1, 2, z=3)
    assert r == 7
    out, err = capsys.readouterr()
    assert out == "1 2 3\n"
    assert err.count("\n") == 1 and "timed " in err and "sample_fn: " in err
    assert sample_fn.cache_info().misses == 1  # still the cached function underneath


def test_timecall_to_log_immediate(logger: tuple[logging.Logger, io.StringIO]) -> None:
    """Port of profilehooks test_profilehooks.py::doctest_timecall_to_log_immediate."""
    log, buffer = logger
    timed_fn = timed(reporters=[reporters.Log(logging.DEBUG, logger=log)])(plain_fn)
    assert timed_fn(3, 2, 1) == 5
    (line,) = buffer.getvalue().splitlines()
    assert line.startswith("timed plain_fn: ")


# -- coverage -------------------------------------------------------------------------------------------


def coverage_sample(x: int, y: int, z: int) -> str:
    if x == y == z:
        return f"{x}"
    elif x == y:
        return f"{x} {z}"
    else:
        return f"{x} {y} {z}"


def coverage_sample_2() -> None:
    try:
        os.path.join("a", "b")
    finally:
        x = 5
    del x


def hits_per_source_line(record: Any, function: Any) -> list[tuple[int | None, str]]:
    lines, first = inspect.getsourcelines(function)
    by_line = record.lines(function)
    return [(by_line.get(first + index, (None, 0.0))[0], text.strip()) for index, text in enumerate(lines)]


def test_coverage(collect: reporters.Collect) -> None:
    """Port of profilehooks test_profilehooks.py::TestCoverage::test_coverage: hits per line, over 2 calls."""
    profiled = lineprofile(aggregate=True, reporters=[collect])(coverage_sample)
    profiled(1, 1, 1)
    profiled(1, 2, 3)
    profiled.flush()
    assert [hits for hits, _text in hits_per_source_line(collect.records[0], coverage_sample)] == [
        None,  # def coverage_sample(x, y, z):
        2,  # if x == y == z:
        1,  # return f"{x}"
        1,  # elif x == y:
        None,  # return f"{x} {z}" (not executed)
        None,  # else:
        1,  # return f"{x} {y} {z}"
    ]


def test_coverage_again(collect: reporters.Collect) -> None:
    """Port of profilehooks test_profilehooks.py::TestCoverage::test_coverage_again: try/finally."""
    lineprofile(reporters=[collect])(coverage_sample_2)()
    assert [hits for hits, _text in hits_per_source_line(collect.records[0], coverage_sample_2)] == [
        None,  # def coverage_sample_2():
        1,  # try:
        1,  # os.path.join('a', 'b')
        None,  # finally:
        1,  # x = 5
        1,  # del x
    ]
