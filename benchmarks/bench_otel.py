"""Overhead of ``@timed`` reporting to OpenTelemetry, against a hand-written span.

Candidates, all around the same small function, measured side by side in one run:

- ``bare``: the function alone;
- ``timed + do-nothing reporter``: the machinery's own cost;
- ``hand-written span``: ``with tracer.start_as_current_span(...)`` around the
  call, the way a user instruments by hand (the reference of the goal);
- ``hand-written span + same attributes`` (``+ histogram``): the same, also
  reading the clocks, setting the attributes the reporter sets (and recording
  the duration histogram): the equal-work references;
- ``timed + OpenTelemetry(metrics=False)`` and ``timed + OpenTelemetry``: the
  reporter without and with the ``profiletools.duration`` histogram.

Every span goes through the real SDK (``TracerProvider``, ``SimpleSpanProcessor``)
to an exporter that drops it, so SDK costs are paid the same by every span
candidate; metrics go to a ``MeterProvider`` with an in-memory reader.

Run: ``python benchmarks/bench_otel.py``.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from benchmarks.harness import compare, environment, overhead_table
from profiletools import timed
from profiletools.reporters.otel import DURATION_BUCKETS, OpenTelemetry


class DropSpans(SpanExporter):
    """An exporter that accepts every span and keeps nothing (memory stays flat)."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


class Nothing:
    """A reporter that does nothing with the record."""

    def report(self, record: Any) -> None:
        pass


def work() -> int:
    """A small function: a few microseconds, so the overheads are visible."""
    return sum(range(50))


def main() -> None:
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(DropSpans()))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    tracer = tracer_provider.get_tracer("bench")
    histogram = meter_provider.get_meter("bench").create_histogram(
        "bench.duration", unit="s", explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS),
    )

    def hand_written() -> int:
        with tracer.start_as_current_span("work"):
            return work()

    def hand_written_attributes(record_histogram: bool) -> Callable[[], int]:
        def call() -> int:
            with tracer.start_as_current_span("work") as span:
                t0 = time.perf_counter()
                c0 = time.thread_time()
                result = work()
                cpu = time.thread_time() - c0
                wall = time.perf_counter() - t0
                span.set_attributes({
                    "profiletools.tool": "timed", "profiletools.qualname": "work", "profiletools.module": __name__,
                    "profiletools.cpu": cpu, "profiletools.pid": os.getpid(), "profiletools.thread": 1,
                })
                if record_histogram:
                    histogram.record(wall, {"profiletools.tool": "timed", "profiletools.name": "work"})
                return result
        return call

    timed_nothing = timed(reporters=[Nothing()])(work)
    spans_only = OpenTelemetry(tracer_provider=tracer_provider, metrics=False)
    timed_spans = timed(reporters=[spans_only])(work)
    full = OpenTelemetry(tracer_provider=tracer_provider, meter_provider=meter_provider)
    timed_full = timed(reporters=[full])(work)

    results = compare([
        ("bare", work),
        ("timed + do-nothing reporter", timed_nothing),
        ("hand-written span", hand_written),
        ("hand-written span + same attributes", hand_written_attributes(False)),
        ("hand-written span + same attributes + histogram", hand_written_attributes(True)),
        ("timed + OpenTelemetry(metrics=False)", timed_spans),
        ("timed + OpenTelemetry", timed_full),
    ], rounds=9)
    print(environment())
    print()
    print(overhead_table(results, bare="bare", reference="hand-written span"))
    print()
    print("| reporter | ÷ hand-written span (goal <= 1.2) | ÷ hand-written with the same data |")
    print("|---|---:|---:|")
    for label, same in (
        ("timed + OpenTelemetry(metrics=False)", "hand-written span + same attributes"),
        ("timed + OpenTelemetry", "hand-written span + same attributes + histogram"),
    ):
        to_span, to_same = results[label] / results["hand-written span"], results[label] / results[same]
        print(f"| {label} | {to_span:.2f} | {to_same:.2f} |")


if __name__ == "__main__":
    main()
