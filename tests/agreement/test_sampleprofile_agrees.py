"""``sampleprofile`` against raw pyinstrument on real stdlib workloads, same process, one after the other."""

from __future__ import annotations

import cProfile
import pstats
from functools import cache
from typing import Any

import pytest

from profiletools import sampleprofile
from tests.agreement.readers import (
    Key,
    hottest,
    own_frames,
    pyinstrument_functions,
    pyinstrument_key,
    pyinstrument_self_times,
)
from tests.agreement.workloads import FORMS, WORKLOADS, prepared, run_under

pyinstrument = pytest.importorskip("pyinstrument")

#: Paired runs allowed before the top three must agree. Sampling charges wall time, and
#: on a loaded machine one descheduling can land in any frame of one run; a profiletools
#: defect (lost samples, foreign frames, misattributed time) makes every pair disagree.
ATTEMPTS = 3


def raw_session(workload: Any, data: Any) -> Any:
    """A plain pyinstrument ``Profiler`` (its default 1 ms interval, as sampleprofile's) around one run."""
    profiler = pyinstrument.Profiler(interval=0.001)
    profiler.start()
    result = workload(data)
    session = profiler.stop()
    del result
    return session


#: The three functions ``archive_sources`` spends its time in, the first far ahead.
DESIGNED = ("compile", {"compile", "compress", "raw_decode"})


@pytest.mark.parametrize("form", FORMS)
def test_top_three_functions_by_self_time_equal_raw_pyinstrument(form: str) -> None:
    workload, data = prepared("archive")
    tops = []
    for _ in range(ATTEMPTS):
        expected = hottest(pyinstrument_self_times(raw_session(workload, data)))
        record = run_under(sampleprofile, form, "archive")
        got = hottest(pyinstrument_self_times(record.session))
        assert [key[2] for key in record.hottest(3)] == [key[2] for key in got]
        tops.append(([key[2] for key in got], [key[2] for key in expected]))
        if (got[0], set(got)) == (expected[0], set(expected)) and (got[0][2], {key[2] for key in got}) == DESIGNED:
            break
    else:
        pytest.fail(f"(sampleprofile's, raw pyinstrument's) hottest three differ in each of {ATTEMPTS} runs: {tops}")


@cache
def cprofile_functions(name: str) -> set[Key]:
    """Every Python function the workload runs, as cProfile sees them (a complete, deterministic list)."""
    workload, data = prepared(name)
    profiler = cProfile.Profile()
    profiler.runcall(workload, data)
    return {key for key in pstats.Stats(profiler).stats if key[0] != "~"}  # type: ignore[attr-defined]


def key_of(function: Any) -> Key:
    """A Python function's ``(file, first line, name)``."""
    code = function.__code__
    return (code.co_filename, code.co_firstlineno, code.co_name)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("name", list(WORKLOADS))
def test_sampled_frames_are_the_workloads_own(name: str, form: str) -> None:
    workload, _ = prepared(name)
    record = run_under(sampleprofile, form, name)
    frames = pyinstrument_functions(record.session)
    assert own_frames(frames) == []
    # The tree starts at the decorated function, or at the function holding the block.
    root = key_of(workload) if form == "decorator" else key_of(run_under)
    assert {pyinstrument_key(stack[0]) for stack, _ in record.session.frame_records} == {root}
    python = {key for key in frames if key[0] != "<built-in>"}
    assert python - {root} - cprofile_functions(name) == set()
    assert key_of(workload) in python and len(python) > 3
