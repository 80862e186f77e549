"""Left running in production: rotations, restarts, exits and a bounded disk (issue 20).

Each test runs what a long-lived service does to the reporters that write
files: logrotate cycles under a low open-files limit, restarts that reuse a
process id, interpreter exit with a slow sink behind ``Background``, and a
dump directory that must not grow without end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest

from profiletools.records import TimingRecord
from profiletools.reporters import JsonLines

needs_proc = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts descriptors in /proc/self/fd")


def _record(name: str = "steady", wall: float = 0.001) -> TimingRecord:
    return TimingRecord("timed", name, name, "m", time.time(), wall, None, os.getpid(), 1, None)


def _open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def _python(code: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=timeout,
                          check=False)


# -- 1. JsonLines and log rotation --------------------------------------------------------------------

LOGROTATE = """
import json, os, resource, sys, warnings
from profiletools import timed
from profiletools.reporters import JsonLines

caught = []
warnings.showwarning = lambda message, *args, **kwargs: caught.append(str(message))
path = sys.argv[1]
sink = JsonLines(path)

@timed("rotating", reporters=[sink], cpu=False)
def work(i):
    return i

written = sum(1 for i in range(10) if work(i) == i)  # the sink's file is open now
def fds():
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:  # EMFILE
        return -1

before = fds()
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (before + 8, hard))  # 8 spare descriptors, for 40 rotations
shipped = host_failures = missing = 0
for cycle in range(40):
    written += sum(1 for i in range(50) if work(i) == i)
    try:
        os.rename(path, path + ".1")  # logrotate: move the file away...
    except FileNotFoundError:  # the sink could not reopen its path after the last rotation
        missing += 1
        continue
    sink._next_check = 0.0  # ...and (as after a postrotate signal) the sink looks at its path now
    written += sum(1 for i in range(50) if work(i) == i)  # the first of these reopens the path
    try:  # ship the rotated file with the host's own open(), then delete it
        with open(path + ".1") as rotated:
            shipped += sum(1 for _ in rotated)
        os.unlink(path + ".1")
    except OSError:
        host_failures += 1
after = fds()
try:
    with open(path) as current:
        shipped += sum(1 for _ in current)
except OSError:
    host_failures += 1
print(json.dumps({"before": before, "after": after, "written": written, "shipped": shipped,
                  "host_failures": host_failures, "missing": missing, "warnings": caught}))
"""


@needs_proc
def test_logrotate_cycles_under_a_low_descriptor_limit_hold_no_descriptor_and_lose_nothing(tmp_path: Path) -> None:
    result = _python(LOGROTATE, str(tmp_path / "app.jsonl"))
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["after"] == seen["before"]  # one open file before, one after: nothing held per rotation
    assert seen["host_failures"] == seen["missing"] == 0  # the host's own open() kept working
    assert seen["warnings"] == []
    assert seen["shipped"] == seen["written"] == 4010  # every record reached a file that was shipped
    assert sorted(os.listdir(tmp_path)) == ["app.jsonl"]


@needs_proc
def test_threads_writing_through_rotations_lose_no_line_and_keep_no_descriptor(tmp_path: Path) -> None:
    path = tmp_path / "stress.jsonl"
    sink = JsonLines(path)
    sink.report(_record("first"))
    baseline = _open_descriptors()
    stop = threading.Event()
    rotations = [0]
    peak = [baseline]

    def rotate() -> None:
        while not stop.is_set():
            time.sleep(0.002)
            try:
                os.rename(path, tmp_path / f"stress.jsonl.{rotations[0] + 1}")
            except FileNotFoundError:  # not reopened yet
                continue
            rotations[0] += 1
            sink._next_check = 0.0
            peak[0] = max(peak[0], _open_descriptors())

    def write() -> None:
        record = _record("stress")
        for _ in range(20_000):
            sink.report(record)

    rotator = threading.Thread(target=rotate)
    writers = [threading.Thread(target=write) for _ in range(8)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rotator.start()
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join()
        stop.set()
        rotator.join()
    assert [str(w.message) for w in caught] == []  # no EBADF, no write fault of any kind
    assert rotations[0] >= 20
    assert _open_descriptors() == baseline  # every replaced descriptor was closed once its writers left
    assert peak[0] <= baseline + 8  # at most one replaced file per writer thread held at any time
    lines = [line for file in tmp_path.iterdir() for line in file.read_text().splitlines()]
    assert len(lines) == 160_001
    assert sum(json.loads(line)["name"] == "stress" for line in lines) == 160_000
    sink.close()
    assert _open_descriptors() == baseline - 1
