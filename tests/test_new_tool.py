"""A tool defined here, in the test, works end to end with one registration line.

It counts the bytes a function says it wrote (a stand-in for any measurement):
decorator and block, reporters, ``Summary`` and ``compare`` on its figure, a
memory budget on its figure, the pytest fixture, and the OpenTelemetry
histogram its figure declares.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from profiletools import reporters
from profiletools.core import registry
from profiletools.core.machinery import Backend, Probe, make_probe, split_target
from profiletools.core.registry import Figure, Tool

_written = threading.local()


def write(count: int) -> None:
    """What the measured code calls: the tool counts these bytes."""
    _written.total = getattr(_written, "total", 0) + count


class WrittenBackend(Backend):
    """Measures one call: the bytes ``write`` was given between begin and end."""

    tool = "writecount"

    def begin(self) -> Any:
        return getattr(_written, "total", 0)

    def end(self, token: Any, error: BaseException | None) -> dict[str, int]:
        return {"written": getattr(_written, "total", 0) - token}


def writecount(target: Any = None, /, *, name: str | None = None, **options: Any) -> Any:
    """The tool's public function: a decorator and a context manager, as every tool."""
    func, name = split_target("writecount", target, name)
    probe: Probe = make_probe("writecount", WrittenBackend, name=name, **options)
    return probe(func) if func is not None else probe


WRITTEN = Figure("written", "By", "bytes written", "test.written", "Bytes written by calls")


@pytest.fixture
def tool() -> Iterator[Callable[..., Any]]:
    registry.register(Tool("writecount", writecount, figures=(WRITTEN,)))  # the one registration line
    yield writecount
    registry.unregister("writecount")


def test_decorator_and_block_deliver_records_with_the_figure(tool: Callable[..., Any]) -> None:
    seen = reporters.Collect()

    @tool(reporters=[seen])
    def save() -> str:
        write(300)
        return "saved"

    assert save() == "saved"
    with tool("block", reporters=[seen]):
        write(5)
    assert [(r.tool, r.name, WRITTEN.value(r)) for r in seen.records] == [
        ("writecount", "test_decorator_and_block_deliver_records_with_the_figure.<locals>.save", 300),
        ("writecount", "block", 5),
    ]


def test_summary_and_budget_read_the_declared_figure(tool: Callable[..., Any]) -> None:
    summary = reporters.Summary(field="written")
    budget = reporters.Budget()

    @tool(reporters=[summary, budget], budget="1KB")
    def save(count: int) -> None:
        write(count)

    save(200)
    with pytest.warns(Warning, match=r"over its budget \(written 2 KB > budget 1 KB\)"):
        save(2000)
    assert summary.stats()["test_summary_and_budget_read_the_declared_figure.<locals>.save"]["max"] == 2000
    assert "1.95 KiB" in summary.table()
    (violation,) = budget.violations()
    assert "written" in str(violation)


def test_a_memory_budget_is_refused_by_a_tool_without_a_figure_in_bytes(tool: Callable[..., Any]) -> None:
    from profiletools import timed

    with pytest.raises(ValueError, match="only memprofile and writecount takes memory budgets"):
        timed(budget="1MB")


def test_compare_reads_the_figure(tool: Callable[..., Any]) -> None:
    from profiletools.analysis.compare import _record_value

    assert _record_value({"name": "x", "wall": 0.1, "payload": {"written": 64}}, "written") == 64.0


def test_the_pytest_fixture_offers_the_tool(tool: Callable[..., Any]) -> None:
    from profiletools.integrations.pytest_plugin import ProfiletoolsFixture

    fixture = ProfiletoolsFixture(None)
    assert {"timed", "sampleprofile", "writecount"} <= set(dir(fixture))
    with fixture.writecount("in a test"):
        write(7)
    assert [WRITTEN.value(r) for r in fixture.records] == [7]


def test_opentelemetry_records_the_declared_metric(tool: Callable[..., Any]) -> None:
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    otel = reporters.OpenTelemetry(meter_provider=MeterProvider(metric_readers=[reader]))
    with tool("otel", reporters=[otel]):
        write(4096)
    data = reader.get_metrics_data()
    points = {
        metric.name: [point.sum for point in metric.data.data_points]
        for resource in data.resource_metrics for scope in resource.scope_metrics for metric in scope.metrics
    }
    assert points["test.written"] == [4096]
