"""``profiletools run``: real programs in subprocesses, each compared with what ``python`` itself does."""

from __future__ import annotations

import json
import os
import pickle
import pstats
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from profiletools.core import registry
from tests.conftest import default_sigint

APP = """\
import pickle
import sys

import helper


class Point:
    def __init__(self, x):
        self.x = x

    def norm(self):
        return abs(self.x)


def square(n):
    return n * n


def total(n):
    result = 0
    for i in range(n):
        result += square(i)
    return result


def fill(n):
    return [bytearray(1024) for _ in range(n)]


def main():
    n = int(sys.argv[1])
    data = fill(n)
    print("argv", sys.argv)
    print("name", __name__, "file", __file__, "path0", sys.path[0])
    print("total", total(n), "words", helper.parse("a b c"))
    if "--no-pickle" not in sys.argv:  # python -m cProfile cannot: its __main__ is not the script's
        print("pickled", pickle.loads(pickle.dumps(Point(-3))).norm())
    print("main module", sys.modules["__main__"].__dict__ is globals(), len(data))


if __name__ == "__main__":
    main()
"""

HELPER = """\
def parse(text):
    words = text.split()
    return len(words)
"""

RAISES = """\
def inner(value):
    raise ValueError(f"bad value {value}")


def outer():
    inner(42)


print("before")
outer()
"""

EXITS = """\
import sys
print("exiting")
sys.exit(int(sys.argv[1]) if sys.argv[1].isdigit() else sys.argv[1])
"""

SPINS = """\
def spin():
    while True:
        sum(range(1000))


print("ready", flush=True)
spin()
"""

THREADS = """\
import threading


def in_thread():
    total = 0
    for i in range(20000):
        total += i
    return total


worker = threading.Thread(target=in_thread)
worker.start()
worker.join()
"""

PACKAGE_MAIN = """\
import sys
print("argv", sys.argv, "name", __name__, "package", __package__, "spec", __spec__.name, "path0", sys.path[0])


def work():
    return sum(range(100))


print("work", work())
"""

ARGS = ["300", "--verbose", "-t", "x"]  # options meant for the program, not for profiletools


def python(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd, timeout=120,
                          env={**os.environ, **(env or {})}, check=False)


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return python("-m", "profiletools", "run", *args, cwd=cwd, env=env)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the programs (the tests run with it as the current folder)."""
    folder = tmp_path_factory.mktemp("programs")
    for name, text in (("app.py", APP), ("helper.py", HELPER), ("raises.py", RAISES), ("exits.py", EXITS),
                       ("spins.py", SPINS), ("threads.py", THREADS)):
        (folder / name).write_text(text)
    (folder / "pkg").mkdir()
    (folder / "pkg" / "__init__.py").write_text("")
    (folder / "pkg" / "__main__.py").write_text(PACKAGE_MAIN)
    return folder


@pytest.fixture(scope="module")
def as_python(work: Path) -> subprocess.CompletedProcess[str]:
    done = python("app.py", *ARGS, cwd=work)
    assert done.returncode == 0, done.stderr
    return done


def written(stderr: str) -> list[Path]:
    prefix = "[profiletools] wrote "
    return [Path(line[len(prefix):]) for line in stderr.splitlines() if line.startswith(prefix)]


def function_calls(path: Path, file_end: str) -> dict[str, int]:
    return {func[2]: stat[1] for func, stat in pstats.Stats(str(path)).stats.items() if func[0].endswith(file_end)}


def check_profileit(work: Path, files: list[Path], stderr: str) -> None:
    """Every call count of the program's functions is the one ``python -m cProfile`` finds."""
    (prof,) = [path for path in files if path.suffix == ".prof"]
    assert function_calls(work / prof, "app.py")["norm"] == 1  # the pickled Point, unpickled in __main__
    raw = python("-m", "cProfile", "-o", "raw.prof", "app.py", *ARGS, "--no-pickle", cwd=work)
    assert raw.returncode == 0, raw.stderr
    done = run("-o", "out-raw", "app.py", *ARGS, "--no-pickle", cwd=work)
    (prof,) = written(done.stderr)
    ours = function_calls(work / prof, "app.py")
    assert ours == function_calls(work / "raw.prof", "app.py")
    assert ours["square"] == 300 and ours["<module>"] == 1


def labelled(qualnames: list[str]) -> list[str]:
    """line_profiler's names of functions: qualified from 3.11 (``co_qualname``), plain before."""
    return sorted(name if sys.version_info >= (3, 11) else name.rsplit(".", 1)[-1] for name in qualnames)


def check_lineprofile(work: Path, files: list[Path], stderr: str) -> None:
    """Every function and method the script defines is timed, nothing of the standard library."""
    (lprof,) = [path for path in files if path.suffix == ".lprof"]
    with open(work / lprof, "rb") as stream:
        stats = pickle.load(stream)
    names = sorted(name for _file, _line, name in stats.timings)
    assert names == labelled(["Point.__init__", "Point.norm", "square", "total", "fill", "main"])
    assert {Path(file).name for file, _line, _name in stats.timings} == {"app.py"}
    (square,) = [rows for (_f, _l, name), rows in stats.timings.items() if name == "square"]
    assert [hits for _line, hits, _time in square] == [300]


def check_memprofile(work: Path, files: list[Path], stderr: str) -> None:
    (dump,) = [path for path in files if path.suffix == ".json"]
    record = json.loads((work / dump).read_text())
    assert record["payload"]["peak"] >= 300 * 1024


def check_sampleprofile(work: Path, files: list[Path], stderr: str) -> None:
    kinds = ("html", "pyisession", "speedscope.json")
    assert sorted(kind for path in files for kind in kinds if path.name.endswith(f".{kind}")) == list(kinds)
    assert "<module>  app.py:1" in stderr


def check_timed(work: Path, files: list[Path], stderr: str) -> None:
    (dump,) = files
    assert json.loads((work / dump).read_text())["wall"] > 0


CHECKS = {"profileit": check_profileit, "lineprofile": check_lineprofile, "memprofile": check_memprofile,
          "sampleprofile": check_sampleprofile, "timed": check_timed}


@pytest.mark.parametrize("tool", sorted(registry.tools()))
def test_each_tool_runs_the_script_as_python_does(
    tool: str, work: Path, as_python: subprocess.CompletedProcess[str],
) -> None:
    options = ["--interval", "0.00005"] if tool == "sampleprofile" else []  # samples even of a short program
    done = run("-t", tool, "-o", f"out-{tool}", *options, "app.py", *ARGS, cwd=work)
    assert done.returncode == 0, done.stderr
    assert done.stdout == as_python.stdout  # argv, __name__, __file__, sys.path[0], pickling, __main__
    assert f"[profiletools] {tool} app.py: " in done.stderr
    files = written(done.stderr)
    assert files and all((work / path).is_file() and path.parent.name == f"out-{tool}" for path in files)
    CHECKS[tool](work, files, done.stderr)


def test_module_runs_as_python_dash_m_does(work: Path) -> None:
    expected = python("-m", "pkg", "a", "-b", cwd=work)
    done = run("-m", "pkg", "a", "-b", cwd=work)
    assert done.returncode == 0, done.stderr
    assert done.stdout == expected.stdout
    assert "profileit pkg: " in done.stderr and "pkg/__main__.py:5(work)" in done.stderr


def test_code_string_runs_as_python_dash_c_does(work: Path) -> None:
    code = "import sys; print(sys.argv, repr(sys.path[0]), __name__, '__file__' in globals())"
    expected = python("-c", code, "x", "--y", cwd=work)
    done = run("-t", "timed", "-c", code, "x", "--y", cwd=work)
    assert done.returncode == 0, done.stderr
    assert done.stdout == expected.stdout
    assert "[profiletools] timed <string>: " in done.stderr


def test_a_raising_program_prints_its_traceback_exits_1_and_is_reported(work: Path) -> None:
    expected = python("raises.py", cwd=work)
    for tool in ("profileit", "lineprofile"):
        done = run("-t", tool, "-o", "out", "raises.py", cwd=work)
        assert done.returncode == expected.returncode == 1
        assert done.stdout == expected.stdout == "before\n"
        assert f"{tool} raises.py: " in done.stderr and " raised ValueError" in done.stderr
        traceback = done.stderr[done.stderr.index("Traceback"):done.stderr.index("[profiletools] wrote")]
        assert traceback == expected.stderr  # the program's frames only, as python prints them


@pytest.mark.parametrize(("argument", "status", "message"), [("3", 3, ""), ("0", 0, ""), ("bye", 1, "bye\n")])
def test_the_exit_status_is_kept(work: Path, argument: str, status: int, message: str) -> None:
    expected = python("exits.py", argument, cwd=work)
    done = run("-t", "timed", "-o", "out", "exits.py", argument, cwd=work)
    assert done.returncode == expected.returncode == status
    assert done.stdout == "exiting\n"
    assert "timed exits.py: " in done.stderr and "raised SystemExit" in done.stderr
    assert expected.stderr == message and (not message or message in done.stderr)


def test_ctrl_c_still_reports(work: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "profiletools", "run", "-o", "out", "spins.py"], cwd=work,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint,
    )
    try:
        assert process.stdout is not None and process.stdout.readline() == "ready\n"
        time.sleep(0.2)
        process.send_signal(signal.SIGINT)  # what Ctrl-C sends
        _out, err = process.communicate(timeout=60)
    finally:
        process.kill()  # a program left spinning would load the machine for every later test
        process.wait()
    assert process.returncode == 130
    assert "profileit spins.py: " in err and "raised KeyboardInterrupt" in err and "(spin)" in err
    assert err.index("[profiletools] profileit") < err.index("Traceback") < err.index("\nKeyboardInterrupt\n")
    assert written(err)


USAGE_ERRORS = [
    ["nope.py"],
    ["-m", "no_such_module_here"],
    ["-m"],
    [],
    ["-t", "lineprofile", "-f", "nope", "app.py", "1"],
    ["-t", "lineprofile", "-f", "json:no_such_function", "app.py", "1"],
    ["-t", "memprofile", "-f", "no_such_module_here:f", "app.py", "1"],
    ["-t", "lineprofile", "-f", "missing.py:f", "app.py", "1"],
    ["-t", "timed", "-s", "tottime", "app.py", "1"],
    ["-t", "profileit", "-s", "no_such_key", "app.py", "1"],
    ["-t", "lineprofile", "--lines", "app.py", "1"],
]

#: Runs each command line of ``sys.argv[1]`` through ``profiletools run`` in turn (one interpreter for all).
_EACH = """
import contextlib, io, json, sys
from profiletools.cli import main
results = []
for args in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(["run", *args])
        except SystemExit as exc:
            status = exc.code
    results.append([status, out.getvalue(), err.getvalue()])
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def usage_errors(work: Path) -> list[tuple[int, str, str]]:
    done = python("-c", _EACH, json.dumps(USAGE_ERRORS), cwd=work)
    assert done.returncode == 0, done.stderr
    return [tuple(result) for result in json.loads(done.stdout)]


@pytest.mark.parametrize("case", range(len(USAGE_ERRORS)), ids=[" ".join(args) or "nothing" for args in USAGE_ERRORS])
def test_usage_errors_are_one_line_and_exit_2(usage_errors: list[tuple[int, str, str]], case: int) -> None:
    status, out, err = usage_errors[case]
    assert status == 2
    assert out == ""  # the program never started
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("profiletools: error: "), err


def test_a_usage_error_names_what_is_wrong(usage_errors: list[tuple[int, str, str]]) -> None:
    messages = [err.strip().removeprefix("profiletools: error: ") for _status, _out, err in usage_errors]
    assert messages[0] == "can't open file 'nope.py': no such file"
    assert messages[1] == "No module named no_such_module_here"
    assert messages[4].startswith("-f nope: app.py defines no function 'nope' (it defines Point.__init__, ")
    assert messages[5] == "-f json:no_such_function: json has no 'no_such_function'"
    assert messages[6] == "-f no_such_module_here:f: no module named 'no_such_module_here'"
    assert messages[8] == "-s/--sort does not apply to timed (it applies to profileit)"
    assert messages[10] == "--lines does not apply to lineprofile (it applies to memprofile)"


def test_lineprofile_targets_are_the_functions_timed(work: Path) -> None:
    done = run("-t", "lineprofile", "-o", "out-f", "-f", "total", "-f", "helper:parse", "-f", "app.py:Point.norm",
               "app.py", "5", cwd=work)
    assert done.returncode == 0, done.stderr
    (lprof,) = written(done.stderr)
    with open(work / lprof, "rb") as stream:
        timings = pickle.load(stream).timings
    assert sorted(name for _file, _line, name in timings) == labelled(["Point.norm", "parse", "total"])
    (parse,) = [rows for (_f, _l, name), rows in timings.items() if name == "parse"]
    assert [hits for _line, hits, _time in parse] == [1, 1]


def test_memprofile_targets_are_measured_at_each_call(work: Path) -> None:
    done = run("-t", "memprofile", "--lines", "-o", "out-m", "-f", "fill", "-f", "helper.py:parse",
               "app.py", "200", cwd=work)
    assert done.returncode == 0, done.stderr
    assert "memprofile app.py" not in done.stderr  # the targets instead of the whole program
    assert "[profiletools] memprofile fill: peak " in done.stderr and "[profiletools] memprofile parse: " in done.stderr
    assert "return [bytearray(1024) for _ in range(n)]" in done.stderr  # the line table of fill
    records = [json.loads((work / path).read_text()) for path in written(done.stderr) if path.suffix == ".json"]
    assert sorted(record["name"] for record in records) == ["fill", "parse"]
    (fill,) = [record for record in records if record["name"] == "fill"]
    assert fill["payload"]["peak"] >= 200 * 1024 and fill["payload"]["lines"]["function"] == "fill"


def test_a_function_profiletools_uses_too_is_measured_for_the_program_only(work: Path) -> None:
    """Writing the record of a measured ``json.dumps`` calls ``json.dumps``: that call is not measured."""
    done = run("-t", "timed", "-f", "json:dumps", "-o", "out-j", "-c", "import json; json.dumps(1); json.dumps([2])",
               cwd=work)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("[profiletools] timed dumps: ") == 2 and "Warning" not in done.stderr
    assert len(written(done.stderr)) == 2


def test_a_target_never_called_is_said(work: Path) -> None:
    done = run("-t", "timed", "-f", "square", "-o", "out-n", "-c", "def square(n):\n    return n * n\n", cwd=work)
    assert done.returncode == 0
    assert done.stderr == "profiletools run: square was never called: nothing measured\n"


def test_memprofile_lines_without_targets_is_the_programs_top_level(work: Path) -> None:
    done = run("-t", "memprofile", "--lines", "-o", "out-l", "app.py", "200", cwd=work)
    assert done.returncode == 0, done.stderr
    (dump,) = [path for path in written(done.stderr) if path.suffix == ".json"]
    lines = json.loads((work / dump).read_text())["payload"]["lines"]
    main_call = [row for row in lines["rows"] if row["contents"].strip() == "main()"]
    assert main_call and main_call[0]["peak"] >= 200 * 1024


def test_threads_are_covered_where_the_tool_can(work: Path) -> None:
    sees_threads = sys.version_info >= (3, 12)  # sys.monitoring sees every thread; 3.11's hooks are per thread
    done = run("-o", "out-t", "threads.py", cwd=work)
    (prof,) = written(done.stderr)
    assert ("in_thread" in function_calls(work / prof, "threads.py")) is sees_threads
    done = run("-t", "lineprofile", "-o", "out-t", "threads.py", cwd=work)
    assert "20000" in done.stderr if sees_threads else "Total time: 0 s" in done.stderr


def test_the_console_script_runs_it_too(work: Path) -> None:
    script = Path(sys.executable).with_name("profiletools")
    if not script.exists():
        pytest.skip("the profiletools command is not installed next to this interpreter")
    done = subprocess.run([str(script), "run", "-t", "timed", "-o", "out", "-c", "print('hi')"], cwd=work,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and done.stdout == "hi\n" and "timed <string>: " in done.stderr


def test_profiletools_off_says_so_and_runs_the_program(work: Path) -> None:
    done = run("-o", "out", "-c", "print('hi')", cwd=work, env={"PROFILETOOLS": "0"})
    assert done.returncode == 0 and done.stdout == "hi\n"
    assert done.stderr == "profiletools run: PROFILETOOLS=0 switches measuring off: the program runs unmeasured\n"


ROOT = Path(__file__).parent.parent


def documented_runs() -> list[tuple[str, list[str], list[str]]]:
    """``$ profiletools run ...`` in docs/run.md with the output shown under it, and README's command."""
    found = []
    for page, prompt in ((ROOT / "docs" / "run.md", "$ "), (ROOT / "README.md", "")):
        for block in page.read_text().split("```")[1::2]:
            lines = block.strip("\n").splitlines()
            for index, line in enumerate(lines):
                if line.startswith(prompt + "profiletools run "):
                    output = [] if not prompt else list(lines[index + 1:])
                    found.append((page.name, line[len(prompt):].split("#")[0].split(), output))
    return found


@pytest.mark.parametrize(("page", "command", "output"), documented_runs(),
                         ids=lambda value: " ".join(value[2:5]) if isinstance(value, list) else None)
def test_the_documented_commands_run_as_shown(
    page: str, command: list[str], output: list[str], tmp_path: Path,
) -> None:
    """The command runs from the repository's root; the lines it shows that hold no measurement are there."""
    done = python("-m", "profiletools", *command[1:], cwd=ROOT, env={"PROFILETOOLS_DIR": str(tmp_path)})
    errors = [line for line in output if line.startswith("profiletools: error: ")]
    assert done.returncode == (2 if errors else 0), done.stderr
    seen = {line.strip() for line in (done.stdout + done.stderr).replace(str(ROOT), "/home/me/profiletools")
            .splitlines()}
    for line in output:
        headline = line.split(": ", 1)[0] + ": " if line.startswith("[profiletools] ") else None
        if headline and "wrote" not in headline:
            assert headline in done.stderr
        elif not any(character.isdigit() for character in line) and line.strip():
            assert line.strip() in seen, line
