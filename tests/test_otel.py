"""The OpenTelemetry reporter, against the real OpenTelemetry SDK (in-memory exporter and reader)."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import threading
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import StatusCode

import profiletools
from profiletools import timed
from profiletools.core.machinery import SUPPRESS, Backend, make_probe
from profiletools.reporters import Collect
from profiletools.reporters.otel import OpenTelemetry
from tests.conftest import run_python


class Telemetry:
    """A real SDK pipeline kept in memory: providers, finished spans, metric points."""

    def __init__(self, **tracer_options: Any) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider(**tracer_options)
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.tracer = self.tracer_provider.get_tracer("tests")

    def reporter(self, **options: Any) -> OpenTelemetry:
        return OpenTelemetry(tracer_provider=self.tracer_provider, meter_provider=self.meter_provider, **options)

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def span(self, name: str) -> ReadableSpan:
        (found,) = [span for span in self.spans() if span.name == name]
        return found

    def points(self, metric_name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        if data is None:
            return []
        return [
            (metric.unit, point)
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if metric.name == metric_name
            for point in metric.data.data_points
        ]

    def close(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


@pytest.fixture
def otel() -> Iterator[Telemetry]:
    pipeline = Telemetry()
    yield pipeline
    pipeline.close()


def parent_id(span: ReadableSpan) -> int | None:
    return None if span.parent is None else span.parent.span_id


def span_id(span: ReadableSpan) -> int:
    context = span.context
    assert context is not None
    return int(context.span_id)


def no_current_span() -> bool:
    return not trace.get_current_span().get_span_context().is_valid


class FixedMemory(Backend):
    """A real backend of the machinery whose record carries a memory payload with known figures."""

    tool = "memprofile"

    def end(self, token: Any, error: BaseException | None) -> dict[str, Any]:
        payload = {
            "peak": 5 << 20,
            "rss": {"before": 100, "after": 300, "note": "x" * 1000},
            "lines": [[1, 2], [3, 4]],
            "huge": 2**70,
            "ratio": float("nan"),
            "leaked": False,
        }
        return payload


class Suppressed(Backend):
    """A backend that makes no record (as a nested profile of the same kind does)."""

    def begin(self) -> Any:
        return SUPPRESS


# -- spans: names, parents, attributes ----------------------------------------------------


def test_nested_calls_make_child_spans_of_the_users_span(otel: Telemetry) -> None:
    profiletools.configure(reporters=[otel.reporter()])

    @timed
    def inner(x: int) -> int:
        with otel.tracer.start_as_current_span("user.inside"):
            return x * 2

    @timed("outer.step")
    def outer() -> int:
        return inner(3) + inner(4)

    with otel.tracer.start_as_current_span("request"):
        assert outer() == 14
    assert no_current_span()

    request, step = otel.span("request"), otel.span("outer.step")
    inners = [span for span in otel.spans() if span.name == inner.__qualname__]
    insides = [span for span in otel.spans() if span.name == "user.inside"]
    assert len(inners) == len(insides) == 2
    assert parent_id(step) == span_id(request)
    assert {parent_id(span) for span in inners} == {span_id(step)}
    assert sorted(parent_id(span) or 0 for span in insides) == sorted(span_id(span) for span in inners)
    assert len({span.context.trace_id for span in otel.spans() if span.context}) == 1
    for child in inners:  # children lie within their parent on the time line
        assert step.start_time <= child.start_time <= child.end_time <= step.end_time  # type: ignore[operator]


def test_span_attributes_match_the_record(otel: Telemetry) -> None:
    collect = Collect()

    @timed(reporters=[otel.reporter(), collect])
    def work() -> int:
        return sum(range(10_000))

    assert work() == sum(range(10_000))
    (record,) = collect.records
    span = otel.span(work.__qualname__)
    attributes = dict(span.attributes or {})
    assert attributes == {
        "profiletools.tool": "timed",
        "profiletools.qualname": work.__qualname__,
        "profiletools.module": __name__,
        "profiletools.cpu": record.cpu,
        "profiletools.pid": os.getpid(),
        "profiletools.thread": threading.get_ident(),
    }
    assert span.status.status_code is StatusCode.UNSET
    assert span.kind is trace.SpanKind.INTERNAL
    assert span.instrumentation_scope is not None and span.instrumentation_scope.name == "profiletools"
    # The span ends where the record ends and starts (a little) before it: its duration is the wall time.
    duration = (span.end_time or 0) - (span.start_time or 0)
    assert record.wall * 1e9 - 1_000 <= duration <= record.wall * 1e9 + 50e6


def test_span_ends_when_the_call_ended_not_when_slower_reporters_finished(otel: Telemetry) -> None:
    collect = Collect()

    def slow_reporter(record: Any) -> None:  # a plain reporter: it runs before the scoped ones
        time.sleep(0.3)

    @timed(reporters=[slow_reporter, otel.reporter(), collect])
    def work() -> None:
        pass

    work()
    (record,) = collect.records
    span = otel.span(work.__qualname__)
    assert (span.end_time or 0) - (span.start_time or 0) < record.wall * 1e9 + 0.15e9


def test_a_call_over_its_budget_says_so_on_its_span(otel: Telemetry) -> None:
    @timed(budget="1ns", reporters=[otel.reporter()])
    def slow() -> int:
        return sum(range(1000))

    @timed(budget="1min", reporters=[otel.reporter()])
    def fast() -> None:
        pass

    slow()
    fast()
    over = (otel.span(slow.__qualname__).attributes or {})["profiletools.over_budget"]
    assert isinstance(over, str) and "budget 1 ns" in over
    assert "profiletools.over_budget" not in (otel.span(fast.__qualname__).attributes or {})


def test_block_span_is_named_after_the_block_and_parents_spans_inside(otel: Telemetry) -> None:
    profiletools.configure(reporters=[otel.reporter()])

    @timed
    def helper() -> str:
        return "done"

    with timed("load.config") as block:
        assert helper() == "done"
    assert block.record is not None and block.record.name == "load.config"
    load = otel.span("load.config")
    assert parent_id(otel.span(helper.__qualname__)) == span_id(load)
    assert parent_id(load) is None
    assert no_current_span()


def test_an_exception_marks_the_span_as_error_and_propagates_unchanged(otel: Telemetry) -> None:
    profiletools.configure(reporters=[otel.reporter()])
    error = ValueError("bad input 42")

    @timed
    def parse() -> None:
        raise error

    with pytest.raises(ValueError) as raised:
        parse()
    assert raised.value is error
    span = otel.span(parse.__qualname__)
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "ValueError"
    assert span.attributes is not None
    assert span.attributes["error.type"] == span.attributes["profiletools.error"] == "ValueError"
    (event,) = span.events
    assert event.name == "exception"
    assert event.attributes is not None and event.attributes["exception.message"] == "bad input 42"
    assert no_current_span()


def test_payload_figures_become_flat_attributes_and_the_memory_histogram(otel: Telemetry) -> None:
    probe = make_probe("memprofile", FixedMemory, name="alloc", reporters=[otel.reporter()])
    with probe:
        pass
    attributes = dict(otel.span("alloc").attributes or {})
    figures = {key: value for key, value in attributes.items() if key.startswith("profiletools.payload.")}
    assert figures == {
        "profiletools.payload.peak": 5 << 20,
        "profiletools.payload.rss.before": 100,
        "profiletools.payload.rss.after": 300,
        "profiletools.payload.huge": float(2**70),  # beyond int64: sent as a float
        "profiletools.payload.leaked": False,
    }  # long strings, lists and NaN are left out
    ((unit, point),) = otel.points("profiletools.memory.peak")
    assert unit == "By"
    assert (point.count, point.sum) == (1, 5 << 20)
    assert dict(point.attributes) == {"profiletools.tool": "memprofile", "profiletools.name": "alloc"}


def test_a_call_without_record_still_ends_its_span_and_restores_the_context(otel: Telemetry) -> None:
    reporter = otel.reporter()
    probe = make_probe("cprofile", Suppressed, name="nested", reporters=[reporter])
    with otel.tracer.start_as_current_span("request"):
        with probe:
            with otel.tracer.start_as_current_span("user.inside"):
                pass
        assert trace.get_current_span().name == "request"  # type: ignore[attr-defined]
    assert probe.record is None
    nested = otel.span("nested")
    assert parent_id(otel.span("user.inside")) == span_id(nested)
    assert parent_id(nested) == span_id(otel.span("request"))
    assert "profiletools.cpu" not in (nested.attributes or {})
    assert otel.points("profiletools.duration") == []


# -- metrics ---------------------------------------------------------------------------


def test_every_record_is_a_duration_point(otel: Telemetry) -> None:
    collect = Collect()
    reporter = otel.reporter()

    @timed(reporters=[reporter, collect])
    def fast() -> None:
        pass

    for _ in range(3):
        fast()
    with timed("block", reporters=[reporter, collect]):
        pass
    durations = otel.points("profiletools.duration")
    points = {point.attributes["profiletools.name"]: (unit, point) for unit, point in durations}
    assert set(points) == {fast.__qualname__, "block"}
    unit, point = points[fast.__qualname__]
    assert unit == "s"
    assert dict(point.attributes) == {"profiletools.tool": "timed", "profiletools.name": fast.__qualname__}
    assert point.count == 3
    assert point.sum == pytest.approx(sum(r.wall for r in collect.records if r.name == fast.__qualname__))
    assert point.explicit_bounds[0] == 1e-6  # the advised buckets fit calls from microseconds up
    assert otel.points("profiletools.memory.peak") == []  # only memory records have a peak


def test_metrics_false_sends_spans_only(otel: Telemetry) -> None:
    with timed("only.span", reporters=[otel.reporter(metrics=False)]):
        pass
    assert [span.name for span in otel.spans()] == ["only.span"]
    assert otel.points("profiletools.duration") == []


def test_sampled_out_calls_make_no_span_but_still_count_in_metrics() -> None:
    pipeline = Telemetry(sampler=ALWAYS_OFF)
    try:
        with timed("sampled.out", reporters=[pipeline.reporter()]):
            with pipeline.tracer.start_as_current_span("user.inside"):
                pass
        assert pipeline.spans() == []
        ((_, point),) = pipeline.points("profiletools.duration")
        assert point.count == 1
    finally:
        pipeline.close()


def test_a_record_made_outside_a_call_becomes_a_span_from_its_own_times(otel: Telemetry) -> None:
    collect = Collect()
    with timed("aggregate", reporters=[collect]):
        pass
    (record,) = collect.records
    otel.reporter().report(record)
    span = otel.span("aggregate")
    assert span.start_time == round(record.started * 1e9)
    assert span.end_time == span.start_time + round(record.wall * 1e9)
    assert dict(span.attributes or {})["profiletools.cpu"] == record.cpu
    ((_, point),) = otel.points("profiletools.duration")
    assert point.sum == record.wall


# -- concurrency -----------------------------------------------------------------------


def test_concurrent_tasks_keep_their_own_parents(otel: Telemetry) -> None:
    profiletools.configure(reporters=[otel.reporter()])
    both_inside = [asyncio.Event(), asyncio.Event()]

    @timed
    async def step(i: int) -> int:
        both_inside[i].set()
        await both_inside[1 - i].wait()  # each task waits inside its span until the other is inside too
        return i

    @timed
    async def job(i: int) -> int:
        with otel.tracer.start_as_current_span(f"user.{i}"):
            await asyncio.sleep(0)
            result = await step(i)
            await asyncio.sleep(0)
            return result

    async def main() -> list[int]:
        with otel.tracer.start_as_current_span("root"):
            return list(await asyncio.gather(job(0), job(1)))

    assert asyncio.run(main()) == [0, 1]
    root = otel.span("root")
    jobs = {span_id(span): span for span in otel.spans() if span.name == job.__qualname__}
    steps = [span for span in otel.spans() if span.name == step.__qualname__]
    assert len(jobs) == len(steps) == 2
    assert {parent_id(span) for span in jobs.values()} == {span_id(root)}
    for i in (0, 1):
        user = otel.span(f"user.{i}")
        assert parent_id(user) in jobs
        (own_step,) = [span for span in steps if parent_id(span) == span_id(user)]
        assert own_step.start_time >= jobs[parent_id(user)].start_time  # type: ignore[index,operator]
    assert len({parent_id(otel.span(f"user.{i}")) for i in (0, 1)}) == 2  # one job span per task


def test_threads_keep_their_own_parents_and_thread_attribute(otel: Telemetry) -> None:
    profiletools.configure(reporters=[otel.reporter()])
    barrier = threading.Barrier(2)
    idents: dict[int, int] = {}

    @timed
    def handle(i: int) -> int:
        barrier.wait(timeout=10)  # both threads are inside their spans at once
        return i

    def worker(i: int) -> None:
        idents[i] = threading.get_ident()
        with otel.tracer.start_as_current_span(f"thread.{i}"):
            handle(i)

    threads = [threading.Thread(target=worker, args=(i,)) for i in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    handles = [span for span in otel.spans() if span.name == handle.__qualname__]
    assert len(handles) == 2
    for i in (0, 1):
        (mine,) = [span for span in handles if parent_id(span) == span_id(otel.span(f"thread.{i}"))]
        assert (mine.attributes or {})["profiletools.thread"] == idents[i]




def test_interleaved_generators_are_siblings_and_leave_no_span_current(otel: Telemetry) -> None:
    profiletools.configure(reporters=[otel.reporter()])

    @timed
    def numbers(n: int) -> Iterator[int]:
        yield from range(n)

    with otel.tracer.start_as_current_span("request"):
        pairs = list(zip(numbers(3), numbers(3)))  # the second generator is never exhausted
        assert trace.get_current_span().name == "request"  # type: ignore[attr-defined]
    assert pairs == [(0, 0), (1, 1), (2, 2)]
    gc.collect()  # closes the unfinished generator, wherever that runs
    assert no_current_span()
    gens = [span for span in otel.spans() if span.name == numbers.__qualname__]
    assert len(gens) == 2
    assert {parent_id(span) for span in gens} == {span_id(otel.span("request"))}


def test_the_consumer_of_a_generator_does_not_run_inside_its_span(otel: Telemetry) -> None:
    profiletools.configure(reporters=[otel.reporter()])

    @timed
    def rows() -> Iterator[int]:
        with otel.tracer.start_as_current_span("fetch"):  # held across the yields
            yield 1
            yield 2

    with otel.tracer.start_as_current_span("request"):
        for row in rows():
            with otel.tracer.start_as_current_span(f"consume.{row}"):
                pass
    request = span_id(otel.span("request"))
    assert parent_id(otel.span(rows.__qualname__)) == request
    assert parent_id(otel.span("fetch")) == span_id(otel.span(rows.__qualname__))
    assert parent_id(otel.span("consume.1")) == parent_id(otel.span("consume.2")) == request
    assert no_current_span()


def test_the_consumer_of_an_async_generator_does_not_run_inside_its_span(otel: Telemetry) -> None:
    profiletools.configure(reporters=[otel.reporter()])

    @timed
    async def ticks() -> AsyncIterator[int]:
        for i in range(2):
            await asyncio.sleep(0)
            yield i

    async def main() -> None:
        with otel.tracer.start_as_current_span("request"):
            async for tick in ticks():
                with otel.tracer.start_as_current_span(f"use.{tick}"):
                    await asyncio.sleep(0)

    asyncio.run(main())
    request = span_id(otel.span("request"))
    assert parent_id(otel.span(ticks.__qualname__)) == request
    assert parent_id(otel.span("use.0")) == parent_id(otel.span("use.1")) == request


# -- failures stay out of the user's code --------------------------------------------------


class Exploding(SpanProcessor):
    """A span processor that fails on every finished span (a broken exporter pipeline)."""

    def on_end(self, span: ReadableSpan) -> None:
        raise OSError("collector unreachable")


def test_a_failing_pipeline_warns_once_and_restores_the_context() -> None:
    pipeline = Telemetry()
    pipeline.tracer_provider.add_span_processor(Exploding())
    try:
        @timed(reporters=[pipeline.reporter()])
        def work(x: int) -> int:
            return x + 1

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert [work(i) for i in range(3)] == [1, 2, 3]
        messages = [str(warning.message) for warning in caught]
        assert len(messages) == 1 and "OpenTelemetry raised OSError" in messages[0]
        assert no_current_span()
    finally:
        pipeline.close()


def test_bad_arguments_fail_at_construction() -> None:
    with pytest.raises(TypeError, match="tracer_provider="):
        OpenTelemetry(tracer_provider="collector:4317")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="meter_provider="):
        OpenTelemetry(meter_provider=object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"metrics=\) must be True or False"):
        OpenTelemetry(metrics="yes")  # type: ignore[arg-type]


# -- installation and the global providers ---------------------------------------------------


def test_without_opentelemetry_the_error_names_the_extra() -> None:
    code = """
import sys

class Missing:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "opentelemetry":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Missing())
from profiletools.reporters.otel import OpenTelemetry
assert not any(name.startswith("opentelemetry") for name in sys.modules)
try:
    OpenTelemetry()
except ImportError as exc:
    print(exc)
"""
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert "pip install 'opentelemetry-api>=1.20'" in result.stdout


def test_default_uses_the_global_providers_even_when_set_later() -> None:
    code = """
import json
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from profiletools import configure, timed
from profiletools.reporters.otel import OpenTelemetry

configure(reporters=[OpenTelemetry()])  # before the application set up its SDK

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
reader = InMemoryMetricReader()
metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))

@timed
def handler():
    return 7

with trace.get_tracer("app").start_as_current_span("request"):
    handler()
spans = {span.name: span for span in exporter.get_finished_spans()}
points = [
    point.count
    for rm in reader.get_metrics_data().resource_metrics
    for sm in rm.scope_metrics
    for metric in sm.metrics if metric.name == "profiletools.duration"
    for point in metric.data.data_points
]
print(json.dumps({
    "names": sorted(spans),
    "child": spans["handler"].parent.span_id == spans["request"].context.span_id,
    "points": points,
}))
"""
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"names": ["handler", "request"], "child": True, "points": [1]}


def test_a_memprofile_rss_record_sends_its_peak_rss_as_a_histogram(otel: Telemetry) -> None:
    """``memprofile(traced=False)``'s figure is declared like the traced one: it reaches OpenTelemetry alike."""
    from profiletools import memprofile

    @memprofile("rss", traced=False, reporters=[otel.reporter()])
    def grow() -> int:
        return len(bytearray(4 << 20))

    grow()
    ((unit, point),) = otel.points("profiletools.memory.rss_peak")
    assert unit == "By" and point.count == 1 and point.sum >= 0
    assert otel.points("profiletools.memory.peak") == []  # nothing traced, no traced peak
    attributes = dict(otel.span("rss").attributes or {})
    assert attributes["profiletools.payload.rss_peak_source"] in ("kernel", "ru_maxrss", "bound")
