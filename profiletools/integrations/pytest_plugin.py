"""The pytest plugin: performance budgets for tests, and a record of every session.

Registered through the ``pytest11`` entry point and inert unless asked:

- ``--profiletools``: each test's call (its body, without fixtures' setup and
  teardown) becomes a record (tool ``pytest``, name = the test's node id),
  written with the records of decorated functions the tests run (those
  delivered to the default reporters) into a JSON-lines file per session:
  ``.profiletools/session-<time>-<pid>.jsonl`` under the root directory, or
  ``--profiletools-out PATH`` (a file, truncated first; or a folder, which gets
  a new file per session; it needs ``--profiletools``). Each line carries
  ``test``: the running test's id. The terminal summary lists the slowest
  tests and every record over its budget (with the test that made it).
- ``--profiletools-calls`` (implies ``--profiletools``): each test function
  also runs under ``profileit``, and its record in the session file keeps its
  calls per function (``payload.call_counts``, ``module:qualname`` -> calls):
  a baseline of the shape of each test's work.
- ``--profiletools-compare BASE`` (implies ``--profiletools``): at the end,
  compare the session with BASE (see :mod:`profiletools.analysis.compare`) and print
  the table; with ``--profiletools-fail-over 10%`` the session fails when a
  name is slower by more than 10 % with confidence. When BASE holds tests'
  call counts, those tests are profiled again and their counts compared
  exactly (:mod:`profiletools.analysis.calls`); ``--profiletools-fail-calls
  10%`` fails the session when a count (or a test's total) grew by more.
- ``@pytest.mark.budget("50ms", calls={"app.db:query": 40}, total_calls=10_000,
  peak="20 MB")``: the test fails when its call takes longer, calls a function
  more often, makes more calls in all, or its traced peak is higher, with the
  measured figures in one message (no option needed; see
  :mod:`profiletools.integrations.pytest_budget`).
- the ``profiletools`` fixture: every registered tool (``timed``, ``profileit``,
  ``lineprofile``, ``memprofile``, ``sampleprofile``) bound to the test (records in ``.records``, budgets checked
  strictly after the test body, and written to the session file when recording).

The plugin imports profiletools only when one of these is used, so a test
run that does not ask for it pays nothing and coverage of profiletools
itself is not skewed by an early import.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from profiletools.analysis.calls import TestDiffs
    from profiletools.analysis.compare import Comparison, Samples
    from profiletools.integrations.pytest_budget import MarkedBudget, Measure
    from profiletools.reporters import Collect
    from profiletools.reporters.budget import Budget
    from profiletools.reporters.jsonlines import JsonLines

_MARKER = "budget"
_FIXTURE = "profiletools"
_SESSION_KEY = pytest.StashKey["_Session"]()
_BUDGET_KEY: pytest.StashKey[MarkedBudget] = pytest.StashKey()
_MEASURE_KEY: pytest.StashKey[Measure] = pytest.StashKey()
_WORKER_KEY = "profiletools_out"
_DEFAULT_FOLDER = ".profiletools"


def _percent(text: str) -> float:
    from profiletools.cli.compare import parse_percent

    fraction: float = parse_percent(text)
    return fraction


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the ``--profiletools*`` options."""
    group = parser.getgroup("profiletools", "profiletools: performance records, budgets and regression compare")
    group.addoption(
        "--profiletools", action="store_true", default=False,
        help="record each test's duration and the records of decorated functions into a JSON-lines file",
    )
    group.addoption(
        "--profiletools-out", metavar="PATH", default=None,
        help=f"file (truncated) or folder (new file per session) for the records; default {_DEFAULT_FOLDER}/",
    )
    group.addoption(
        "--profiletools-calls", action="store_true", default=False,
        help="also profile each test function and keep its calls per function in the session file "
             "(a baseline for --profiletools-compare); implies --profiletools",
    )
    group.addoption(
        "--profiletools-compare", metavar="BASE", default=None,
        help="compare this session with BASE (record file or folder) at the end; implies --profiletools",
    )
    group.addoption(
        "--profiletools-fail-over", metavar="PERCENT", type=_percent, default=None,
        help="with --profiletools-compare: fail when a name is slower by more than PERCENT (e.g. 10%%) with confidence",
    )
    group.addoption(
        "--profiletools-fail-calls", metavar="PERCENT", type=_percent, default=None,
        help="with --profiletools-compare: fail when a test calls a function (or makes calls in all) more than "
             "PERCENT (e.g. 10%%) more often than in BASE; counts are exact",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker; start recording when asked."""
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(limit=None, *, calls=None, total_calls=None, peak=None): fail the test when its call takes "
        "longer than limit ('50ms'), calls a function more often than calls={'module:qualname': n} allows, makes "
        "more than total_calls calls, or its traced peak is above peak ('20 MB')",
    )
    compare_base = config.getoption("profiletools_compare")
    fail_over = config.getoption("profiletools_fail_over")
    fail_calls = config.getoption("profiletools_fail_calls")
    count_all = bool(config.getoption("profiletools_calls"))
    for option, value in (("--profiletools-fail-over", fail_over), ("--profiletools-fail-calls", fail_calls)):
        if value is not None and compare_base is None:
            raise pytest.UsageError(f"{option} needs --profiletools-compare BASE")
    recording = bool(config.getoption("profiletools")) or count_all or compare_base is not None
    if config.getoption("profiletools_out") is not None and not recording:
        raise pytest.UsageError(
            "--profiletools-out needs --profiletools (or --profiletools-compare BASE): without it nothing is recorded"
        )
    if not recording:
        return
    worker_input: dict[str, Any] | None = getattr(config, "workerinput", None)  # in a pytest-xdist worker
    base = _read_base(compare_base) if compare_base is not None and worker_input is None else None
    base_counts = _read_base_counts(compare_base, fail_calls) if compare_base is not None else {}
    try:
        if worker_input is not None and _WORKER_KEY in worker_input:
            path, fresh = worker_input[_WORKER_KEY], False
        else:
            path, fresh = _session_path(config), True
            if compare_base is not None and os.path.abspath(compare_base) == path:
                raise pytest.UsageError(f"--profiletools-out {path} would overwrite the baseline it is compared with")
        session = _Session(path, fresh, compare_base, base, fail_over)
        session.counting(count_all, base_counts, fail_calls)
    except OSError as exc:
        raise pytest.UsageError(f"--profiletools-out: cannot write the session file: {exc}") from None
    config.stash[_SESSION_KEY] = session
    config.pluginmanager.register(session, "profiletools-session")


def _read_base(base: str) -> Samples:
    """Read the baseline before the run (so a bad one fails at once, and the session file is not part of it)."""
    from profiletools.analysis.compare import CompareError, read_samples
    from profiletools.formats.dumps import DumpError

    try:
        samples = read_samples(base)
    except (CompareError, DumpError) as exc:
        raise pytest.UsageError(f"--profiletools-compare: {exc}") from None
    if samples.kind != "records":
        raise pytest.UsageError(f"--profiletools-compare: {base} holds profiles; the session writes records")
    return samples


def _read_base_counts(base: str, fail_calls: float | None) -> dict[str, dict[str, int]]:
    """The tests' call counts in the baseline (each worker reads them: it profiles those tests)."""
    from profiletools.analysis.calls import read_test_counts
    from profiletools.formats.dumps import DumpError

    try:
        counts = read_test_counts(base)
    except DumpError as exc:
        raise pytest.UsageError(f"--profiletools-compare: {exc}") from None
    if fail_calls is not None and not counts:
        raise pytest.UsageError(
            f"--profiletools-fail-calls: {base} holds no call counts of tests (record them with --profiletools-calls)"
        )
    return counts


def _session_path(config: pytest.Config) -> str:
    """The JSON-lines file of this session, from ``--profiletools-out`` or the default folder."""
    given: str | None = config.getoption("profiletools_out")
    if given is not None and not (given.endswith(("/", os.sep)) or os.path.isdir(given)):
        return os.path.abspath(given)
    folder = given if given is not None else os.path.join(str(config.rootpath), _DEFAULT_FOLDER)
    os.makedirs(folder, exist_ok=True)
    stem = os.path.join(os.path.abspath(folder), f"session-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
    for number in range(1, 1000):
        path = stem + ("" if number == 1 else f"-{number}") + ".jsonl"
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        except FileExistsError:
            continue
        return path
    raise pytest.UsageError(f"--profiletools-out: cannot make a new session file in {folder}")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist: workers append to the controller's session file."""
    session = node.config.stash.get(_SESSION_KEY, None)
    if session is not None:
        node.workerinput[_WORKER_KEY] = session.path


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Validate ``@pytest.mark.budget`` before the test runs (a bad limit is an error, not a pass); plan measuring."""
    marker = item.get_closest_marker(_MARKER)
    budget = None
    if marker is not None:
        from profiletools.integrations.pytest_budget import parse_marker

        try:
            budget = item.stash[_BUDGET_KEY] = parse_marker(marker)
        except (TypeError, ValueError) as exc:
            problem = str(exc)
        else:
            problem = ""
        if problem:
            pytest.fail(problem, pytrace=False)
    session = item.config.stash.get(_SESSION_KEY, None)
    count = session is not None and session.profiles(item.nodeid)
    if count or (budget is not None and (budget.counted or budget.peak is not None)):
        from profiletools.integrations.pytest_budget import Measure

        item.stash[_MEASURE_KEY] = Measure(item.nodeid, budget, count)


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Generator[None, Any, Any]:
    """Run the test function under the tools its budget (or the baseline) needs, for this one call."""
    measure = pyfuncitem.stash.get(_MEASURE_KEY, None)
    if measure is None:
        return (yield)
    original = pyfuncitem.obj
    pyfuncitem.obj = measure.wrap(original)
    # What earlier tests left for the collector is finalized now: its finalizers, run inside the
    # test's profile, would add their calls to its counts (seen: 11 calls for a test of 7).
    gc.collect()
    try:
        return (yield)
    finally:
        pyfuncitem.obj = original


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    """Time the test body when recording, budgeted or using the fixture; fail it when over budget."""
    session = item.config.stash.get(_SESSION_KEY, None)
    budget = item.stash.get(_BUDGET_KEY, None)
    measure = item.stash.get(_MEASURE_KEY, None)
    limit = None if budget is None else budget.limit
    fixture = getattr(item, "funcargs", {}).get(_FIXTURE)
    if not isinstance(fixture, ProfiletoolsFixture):
        fixture = None
    if session is None and budget is None and fixture is None:
        return (yield)
    started = time.time()
    c0 = time.thread_time()
    t0 = time.perf_counter()
    try:
        result = yield
    except BaseException as exc:
        t1 = time.perf_counter()
        if session is not None:
            session.record_test(item, started, t1 - t0, time.thread_time() - c0, type(exc).__qualname__, limit)
        raise
    t1 = time.perf_counter()
    wall = t1 - t0
    problems = [] if measure is None else measure.problems()
    if session is not None:
        session.record_test(item, started, wall, time.thread_time() - c0, None, limit, measure)
    if fixture is not None:
        over = fixture.over_budget()
        if over is not None:  # failed outside the ``except`` so the message is not chained to itself
            pytest.fail(f"profiletools fixture: {over}", pytrace=False)
    if budget is not None:
        from profiletools.integrations.pytest_budget import failure

        message = failure(item.nodeid, budget, wall, problems)
        if message is not None:
            pytest.fail(message, pytrace=False)
    elif problems:  # profiled for the baseline only: say why its counts are missing, do not fail the test
        import warnings

        warnings.warn(f"profiletools: {item.nodeid}: no call counts recorded: {'; '.join(problems)}", stacklevel=1)
    return result


class ProfiletoolsFixture:
    """What the ``profiletools`` fixture gives a test: the tools, bound to this test.

    Every registered tool (``timed``, ``profileit``, ``lineprofile``, ``memprofile``,
    ``sampleprofile``, and any tool added with ``registry.register``) is an
    attribute taking the same arguments as the function of the same name; their records go to the
    reporters given (if any) and also to ``records``, to a strict ``budget``
    reporter (checked after the test body: the test fails when a name is over
    its ``budget=``/``budget_p95=``), and to the session file when recording.
    """

    def __init__(self, session_report: Callable[[Any], None] | None) -> None:
        from profiletools.reporters import Collect
        from profiletools.reporters.budget import Budget

        self.collected: Collect = Collect()
        self.budget: Budget = Budget(strict=True)
        self.reporters: list[Any] = [self.collected, self.budget]
        if session_report is not None:
            self.reporters.append(session_report)

    @property
    def records(self) -> list[Any]:
        """The records made through this fixture so far, oldest first."""
        return self.collected.records

    def check(self) -> None:
        """Raise ``BudgetExceeded`` now if a name is over budget (the plugin also checks after the test)."""
        self.budget.check()

    def over_budget(self) -> str | None:
        """What is over budget so far, as ``BudgetExceeded`` would say it, or ``None``."""
        from profiletools.reporters.budget import BudgetExceeded

        try:
            self.budget.check()
        except BudgetExceeded as exc:
            return str(exc)
        return None

    def __getattr__(self, name: str) -> Callable[..., Any]:
        """Every registered tool (``timed``, ``profileit``, ..., ``sampleprofile``) bound to this test."""
        from profiletools.core import registry

        declared = registry.tool(name) if not name.startswith("_") else None
        if declared is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

        def bound(target: Any = None, /, **options: Any) -> Any:
            return self._tool(declared.function(), target, options)

        bound.__name__ = bound.__qualname__ = name
        bound.__doc__ = f"``{name}`` bound to this test."
        return bound

    def __dir__(self) -> list[str]:
        from profiletools.core import registry

        return sorted({*super().__dir__(), *registry.tools()})

    def _tool(self, function: Callable[..., Any], target: Any, options: dict[str, Any]) -> Any:
        from profiletools.core.delivery import check_reporters

        given = options.pop("reporters", None)
        check_reporters(given)  # the caller's reporters= fail here with the usual message
        options["reporters"] = [*(given or ()), *self.reporters]
        return function(**options) if target is None else function(target, **options)


@pytest.fixture(name=_FIXTURE)
def _profiletools_fixture(request: pytest.FixtureRequest) -> ProfiletoolsFixture:
    """Every registered tool bound to this test (see ``ProfiletoolsFixture``)."""
    session = request.config.stash.get(_SESSION_KEY, None)
    return ProfiletoolsFixture(session.report if session is not None else None)


class _Tagged:
    """A record as the session file writes it: its dict plus the id of the running test."""

    __slots__ = ("record", "test")

    def __init__(self, record: Any, test: str | None) -> None:
        self.record = record
        self.test = test

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = self.record.to_dict()
        if self.test is not None:
            data["test"] = self.test
        return data


#: How many of the slowest tests, and of the names over budget, the terminal summary lists.
_SLOWEST = 5
_OVERRUNS = 10


def _summary_lines(path: str) -> list[tuple[str, bool]]:
    """The slowest tests and the records over budget in the session file, as ``(line, red)``.

    Read from the file, so the tests of pytest-xdist workers count too.
    """
    from profiletools.core.records import format_seconds
    from profiletools.formats.dumps import DumpError, load_records

    try:
        records = load_records(path)
    except DumpError as exc:
        return [(f"cannot read the session file: {exc}", True)]
    tests = sorted((record for record in records if record.get("tool") == "pytest"), key=lambda r: -r["wall"])
    lines: list[tuple[str, bool]] = []
    if tests:
        lines.append((f"slowest tests ({min(len(tests), _SLOWEST)} of {len(tests)}):", False))
        lines += [(f"  {format_seconds(test['wall']):>9}  {test['name']}", False) for test in tests[:_SLOWEST]]
    over: dict[tuple[str, str | None], list[Any]] = {}
    for record in records:
        budget = record.get("budget")
        if isinstance(budget, dict) and budget.get("over"):
            over.setdefault((record["name"], record.get("test")), []).append(record)
    if over:
        count = sum(len(found) for found in over.values())
        lines.append((f"over budget ({count} record{'s' if count != 1 else ''}):", True))
        for (name, test), found in list(over.items())[:_OVERRUNS]:
            worst = max(found, key=lambda record: record["wall"])
            where = "" if test in (None, name) else f" in {test}"
            calls = f" ({len(found)} calls)" if len(found) > 1 else ""
            lines.append((f"  {name}{where}: {worst['budget']['over']}{calls}", True))
        if len(over) > _OVERRUNS:
            lines.append((f"  ... and {len(over) - _OVERRUNS} more names (all in the session file)", True))
    return lines


def _fail_if(session: pytest.Session, failed: bool) -> None:
    """Fail a session that passed when a comparison says so (a session that failed keeps its status)."""
    if failed and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


class _Session:
    """The recording of one session: the JSON-lines writer and the tap on the default reporters."""

    def __init__(
        self, path: str, fresh: bool, compare_base: str | None, base: Samples | None, fail_over: float | None,
    ) -> None:
        from profiletools.reporters.jsonlines import JsonLines

        self.path = path
        if fresh:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            with open(path, "w", encoding="utf-8"):
                pass
        self.writer: JsonLines = JsonLines(path)
        self.compare_base = compare_base
        self.base = base
        self.fail_over = fail_over
        self.test: str | None = None
        self.written = 0
        self.comparison: Comparison | None = None
        self.compare_error: str | None = None
        self.count_all = False
        self.base_counts: dict[str, dict[str, int]] = {}
        self.fail_calls: float | None = None
        self.count_diffs: TestDiffs | None = None
        self._count_lock = threading.Lock()
        self._original_factory: Callable[[], Any] | None = None
        self._factory: Callable[[], Any] | None = None

    def report(self, record: Any) -> None:
        """Write one record, tagged with the running test."""
        self.writer.report(_Tagged(record, self.test))
        with self._count_lock:
            self.written += 1

    def record_test(
        self, item: pytest.Item, started: float, wall: float, cpu: float, error: str | None, limit: float | None,
        measure: Measure | None = None,
    ) -> None:
        """Write the record of one test's call (with its calls per function and peak when measured)."""
        from profiletools.analysis.calls import CALL_COUNTS
        from profiletools.core.budgets import Budget
        from profiletools.core.records import TimingRecord, make_record

        module = getattr(getattr(item, "module", None), "__name__", None)
        budget = None if limit is None else Budget("time", limit, None)
        payload: dict[str, Any] = {}
        if measure is not None and error is None:
            counts, peak = measure.call_counts(), measure.peak()
            if counts is not None:
                payload[CALL_COUNTS] = counts
            if peak is not None:
                payload["peak"] = peak
        self.report(make_record(
            TimingRecord, "pytest", item.nodeid, item.name, module, started, wall, cpu, error, payload or None,
            budget=budget,
        ))

    # -- call counts: which tests are profiled, and the comparison with the baseline's ----------------

    def counting(self, count_all: bool, base_counts: dict[str, dict[str, int]], fail_calls: float | None) -> None:
        """Profile every test (``--profiletools-calls``) or those the baseline has counts of."""
        self.count_all = count_all
        self.base_counts = base_counts
        self.fail_calls = fail_calls

    def profiles(self, nodeid: str) -> bool:
        """Whether the test ``nodeid`` runs under ``profileit`` for its call counts."""
        return self.count_all or nodeid in self.base_counts

    # -- the tap: every record delivered to the default reporters also comes here ---------------

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """Add the session file to the default reporters, whatever ``configure`` sets later."""
        # config installs the default factory when first imported: import it now so that the first
        # ``import profiletools`` of a test module cannot put it back over the tap
        import importlib

        importlib.import_module("profiletools.core.config")
        from profiletools.core import delivery
        from profiletools.core.delivery import Targets

        original = self._original_factory = delivery.default_reporter_factory
        report = self.report

        def factory() -> Targets:
            targets = original()
            return Targets((*targets.reports, report), targets.openers, targets.scoped_reports)

        self._factory = factory
        delivery.set_default_reporter_factory(factory)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        """Restore the default reporters and close the file."""
        from profiletools.core import delivery

        if self._factory is not None and delivery.default_reporter_factory is self._factory:
            delivery.set_default_reporter_factory(self._original_factory)  # type: ignore[arg-type]
        self.writer.close()

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, Any, Any]:
        """Tag everything written while ``item`` runs with its node id."""
        self.test = item.nodeid
        try:
            return (yield)
        finally:
            self.test = None

    # -- the end: compare, and say where the records are ---------------------------------------------

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Compare with the baseline; a regression beyond ``--profiletools-fail-over`` fails the session."""
        self._compare_counts(session)
        if self.base is None:
            return
        from profiletools.analysis.compare import CompareError, compare_samples, read_samples
        from profiletools.formats.dumps import DumpError

        try:
            self.comparison = compare_samples(self.base, read_samples(self.path, "records"))
        except (CompareError, DumpError) as exc:
            self.compare_error = str(exc)
            _fail_if(session, self.fail_over is not None)
            return
        _fail_if(session, self.fail_over is not None and bool(self.comparison.regressions(self.fail_over)))

    def _compare_counts(self, session: pytest.Session) -> None:
        """The tests' call counts against the baseline's; growth beyond ``--profiletools-fail-calls`` fails."""
        if not self.base_counts or getattr(session.config, "workerinput", None) is not None:
            return
        from profiletools.analysis.calls import diff_tests, read_test_counts
        from profiletools.formats.dumps import DumpError

        try:
            self.count_diffs = diff_tests(self.base_counts, read_test_counts(self.path))
        except DumpError as exc:
            self.compare_error = str(exc)
            _fail_if(session, self.fail_calls is not None)
            return
        _fail_if(session, self.fail_calls is not None and bool(self.count_diffs.grown(self.fail_calls)))

    def _lines(self) -> int:
        """Records in the session file (written here or, with pytest-xdist, by the workers)."""
        try:
            with open(self.path, "rb") as stream:
                return sum(chunk.count(b"\n") for chunk in iter(lambda: stream.read(1 << 16), b""))
        except OSError:
            return self.written

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """Print the slowest tests, what went over budget, where the records went and the comparison table."""
        terminalreporter.write_sep("-", "profiletools")
        for line, red in _summary_lines(self.path):
            terminalreporter.write_line(line, red=red)
        terminalreporter.write_line(f"{self._lines()} records written to {self.path}")
        if self.compare_error is not None:
            terminalreporter.write_line(f"compare with {self.compare_base} failed: {self.compare_error}", red=True)
        elif self.comparison is not None:
            terminalreporter.write_line(f"compared with {self.compare_base}:")
            terminalreporter.write_line(self.comparison.table(self.fail_over))
        if self.count_diffs is not None:
            terminalreporter.write_line(f"call counts compared with {self.compare_base}:")
            for line in self.count_diffs.lines(self.fail_calls):
                terminalreporter.write_line(line, red=line.startswith("FAIL"))
