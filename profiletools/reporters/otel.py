"""``OpenTelemetry``: each record as a span and as histogram points, in an existing OTel pipeline.

The reporter is *scoped*: the machinery calls :meth:`OpenTelemetry.open` as a
measured call or block starts, so its span exists (and is the current span)
while the user's code runs. Spans of nested measured calls, and spans the
user's own instrumentation starts inside, become its children; a span that is
current when the call starts becomes its parent. The returned scope gets the
finished record: it sets the attributes, the error status, ends the span and
restores the previous context.

Only ``opentelemetry-api`` is imported (the ``otel`` extra); the
application chooses the SDK, exporters and sampling, as for any library.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from profiletools.core import registry
from profiletools.core.records import EPOCH_ANCHOR, Record

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.metrics import Histogram, MeterProvider
    from opentelemetry.trace import Span, Tracer, TracerProvider

    from profiletools.reporters.base import ProbeInfo

__all__ = ["DURATION_BUCKETS", "MEMORY_BUCKETS", "OpenTelemetry"]

#: Advised bucket boundaries of ``profiletools.duration`` (seconds): 1 µs to 1 min, 1-2.5-5 steps.
DURATION_BUCKETS: tuple[float, ...] = (
    *(m * 10.0**e for e in range(-6, 1) for m in (1.0, 2.5, 5.0)),
    10.0, 30.0, 60.0,
)
#: Advised bucket boundaries of ``profiletools.memory.peak`` (bytes): 1 KiB to 16 GiB, ×4 steps.
MEMORY_BUCKETS: tuple[float, ...] = tuple(float(1024 * 4**k) for k in range(13))
#: Advised bucket boundaries by unit; a figure in another unit gets the SDK's default buckets.
_BUCKETS: dict[str, tuple[float, ...]] = {"s": DURATION_BUCKETS, "By": MEMORY_BUCKETS}

#: The OTLP wire format carries integers as int64.
_INT64 = (-(2**63), 2**63 - 1)
#: Payload figures come from the top level and this many levels of nested dicts; a span gets
#: at most ``_MAX_FIGURES`` attributes in all.
_MAX_DEPTH = 1
_MAX_FIGURES = 32
#: Longer payload strings are left out (attributes are for figures, not tables).
_MAX_TEXT = 256
_perf = time.perf_counter
_time_ns = time.time_ns
_get_ident = threading.get_ident


def _load_api() -> Any:
    """Import the OpenTelemetry API, or explain which extra to install."""
    try:
        import opentelemetry.context as otel_context
        import opentelemetry.metrics as otel_metrics
        import opentelemetry.trace as otel_trace
    except ImportError as exc:
        from profiletools.core.extras import install_hint

        raise ImportError(
            f"profiletools.reporters.OpenTelemetry needs the OpenTelemetry API ({exc}): {install_hint('otel')}; "
            "plus an SDK to export anything"
        ) from exc
    return otel_context, otel_metrics, otel_trace


def _histogram(meter: Any, name: str, unit: str, description: str, buckets: Iterable[float] | None) -> Histogram:
    """Create a histogram, advising bucket boundaries where the API knows the hint (>= 1.23)."""
    if buckets is None:
        return meter.create_histogram(name, unit=unit, description=description)  # type: ignore[no-any-return]
    try:
        return meter.create_histogram(  # type: ignore[no-any-return]
            name, unit=unit, description=description, explicit_bucket_boundaries_advisory=list(buckets),
        )
    except TypeError:
        return meter.create_histogram(name, unit=unit, description=description)  # type: ignore[no-any-return]


def _add_figures(prefix: str, data: Any, out: dict[str, Any], depth: int) -> None:
    """Copy the scalar figures of a payload dict into ``out`` as flat, OTel-valid attributes."""
    for key, value in data.items():
        if len(out) >= _MAX_FIGURES:
            return
        name = f"{prefix}.{key}"
        if isinstance(value, bool) or (isinstance(value, str) and len(value) <= _MAX_TEXT):
            out[name] = value
        elif isinstance(value, int):
            out[name] = value if _INT64[0] <= value <= _INT64[1] else float(value)
        elif isinstance(value, float):
            if math.isfinite(value):
                out[name] = value
        elif isinstance(value, dict) and depth < _MAX_DEPTH:
            _add_figures(name, value, out, depth + 1)


def _end_time_ns(record: Record) -> int:
    """When ``record``'s call ended, in ``time.time_ns()`` nanoseconds as OTel spans count time.

    A record's ``started`` is the machinery's epoch anchor plus ``perf_counter``;
    the end is placed back on the wall clock now, so a span's start (stamped by
    the SDK) and end are on the same clock even after the wall clock was stepped.
    """
    ended_perf = record.started - EPOCH_ANCHOR + record.wall
    return _time_ns() - round((_perf() - ended_perf) * 1e9)


class _Scope:
    """One measured call's span: made current at open, ended with the call's record.

    Calling it with the record (or ``None`` when the call made no record)
    finishes the span. ``pause``/``resume`` take the measured code's context
    (its span, and whatever it attached inside) out of the current context while
    a measured generator or coroutine is suspended, and back when it resumes.
    """

    __slots__ = ("context", "name", "reporter", "span", "thread", "token")

    def __init__(self, reporter: OpenTelemetry, span: Span, context: Context, name: str) -> None:
        self.reporter = reporter
        self.span = span
        self.context = context
        self.name = name
        self.token: Any = reporter._attach(context)
        self.thread = _get_ident()

    @property
    def __self__(self) -> OpenTelemetry:
        """The reporter (so a failure here is reported under its name, like a bound method's)."""
        return self.reporter

    def pause(self) -> None:
        """The measured code is suspended: keep its context aside, make the caller's current again.

        The context kept includes what the measured code attached itself (a
        span it started and holds across the suspension); ``resume`` brings it back.
        """
        if self.token is not None:
            self.context = self.reporter._current()
            self._detach()

    def resume(self) -> None:
        """The measured code runs again: make its context (its span, at least) current again."""
        if self.token is None:
            self.token = self.reporter._attach(self.context)
            self.thread = _get_ident()

    def _detach(self) -> None:
        """Restore the context that was current before the last attach (once)."""
        token = self.token
        self.token = None
        if self.thread == _get_ident():  # a token only resets the context it was made in
            self.reporter._detach(token)

    def __call__(self, record: Record | None) -> None:
        """Finish the span with ``record``'s figures, end it and restore the context."""
        span = self.span
        end_ns = None
        try:
            if record is not None:
                end_ns = _end_time_ns(record)
                reporter = self.reporter
                if span.is_recording():
                    reporter._describe(span, record, self.name)
                reporter._measure(record)  # while the span is current: exemplars point to it
        finally:
            if self.token is not None:
                self._detach()
            span.end(end_ns)


class OpenTelemetry:
    """Send each record as an OpenTelemetry span, and its figures as histograms.

    - Span: named after the record, from the call's start to its end, child of
      the span current when the call started; attributes are the record's
      fields under ``profiletools.`` (``tool``, ``qualname``, ``module``,
      ``cpu`` in seconds, ``thread``, ``pid``, ``error``, ``skipped``,
      ``over_budget`` when the call exceeded its ``budget=``) and
      its payload's scalar figures under ``profiletools.payload.`` (such as
      ``profiletools.payload.peak``); a call that raised gets status ERROR,
      ``error.type`` and an exception event. The wall time is the span's
      duration (and exactly, the histogram's value).
    - Histograms: ``profiletools.duration`` (unit ``s``) and, for
      ``memprofile`` records, ``profiletools.memory.peak`` (unit ``By``), with
      attributes ``profiletools.tool`` and ``profiletools.name``.

    ``tracer_provider`` / ``meter_provider`` default to OpenTelemetry's global
    providers (also when those are set later); ``metrics=False`` sends spans only.
    Needs ``opentelemetry-api`` (the ``otel`` extra).

    >>> from opentelemetry.sdk.trace import TracerProvider
    >>> from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    >>> from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    >>> from profiletools import timed
    >>> spans = InMemorySpanExporter()
    >>> provider = TracerProvider()
    >>> provider.add_span_processor(SimpleSpanProcessor(spans))
    >>> with timed("load", reporters=[OpenTelemetry(tracer_provider=provider, metrics=False)]):
    ...     pass
    >>> (span,) = spans.get_finished_spans()
    >>> span.name, span.attributes["profiletools.tool"]
    ('load', 'timed')
    """

    def __init__(
        self,
        *,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        metrics: bool = True,
    ) -> None:
        otel_context, otel_metrics, otel_trace = _load_api()
        if tracer_provider is not None and not callable(getattr(tracer_provider, "get_tracer", None)):
            raise TypeError(
                "OpenTelemetry(tracer_provider=) must be None (the global provider) or a TracerProvider; "
                f"got {type(tracer_provider).__name__}"
            )
        if meter_provider is not None and not callable(getattr(meter_provider, "get_meter", None)):
            raise TypeError(
                "OpenTelemetry(meter_provider=) must be None (the global provider) or a MeterProvider; "
                f"got {type(meter_provider).__name__}"
            )
        if metrics is not True and metrics is not False:
            raise TypeError(f"OpenTelemetry(metrics=) must be True or False; got {metrics!r:.60}")
        from profiletools.core.version import __version__

        self._tracer: Tracer = otel_trace.get_tracer("profiletools", __version__, tracer_provider)
        self._in_context: Callable[[Span], Context] = otel_trace.set_span_in_context
        self._attach: Callable[[Context], Any] = otel_context.attach
        self._detach: Callable[[Any], None] = otel_context.detach
        self._current: Callable[[], Context] = otel_context.get_current
        self._status = otel_trace.Status
        self._error_code = otel_trace.StatusCode.ERROR
        self._duration: Histogram | None = None
        #: One histogram per declared figure with a metric name (memprofile's peak: ``profiletools.memory.peak``).
        self._figures: dict[str, Histogram] = {}
        if metrics:
            meter = otel_metrics.get_meter("profiletools", __version__, meter_provider)
            wall = registry.WALL
            self._duration = _histogram(meter, str(wall.metric), wall.unit, wall.description, _BUCKETS[wall.unit])
            for declared in registry.figures().values():
                if declared.metric is not None and declared is not wall:
                    self._figures[declared.name] = _histogram(
                        meter, declared.metric, declared.unit, declared.description, _BUCKETS.get(declared.unit),
                    )

    # -- the scoped-reporter interface -------------------------------------------

    def open(self, probe: ProbeInfo) -> _Scope:
        """Start the span of a call or block that starts now and make it current; returns its scope."""
        name = probe.name or probe.qualname or probe.tool
        span = self._tracer.start_span(name, record_exception=False)
        return _Scope(self, span, self._in_context(span), name)

    def report(self, record: Record) -> None:
        """Send a record made outside a measured call (an aggregate flushed later) as a finished span."""
        start_ns = round(record.started * 1e9)
        span = self._tracer.start_span(record.name, start_time=start_ns, record_exception=False)
        try:
            if span.is_recording():
                self._describe(span, record, record.name)
        finally:
            span.end(start_ns + round(record.wall * 1e9))
        self._measure(record)

    # -- what a record becomes -----------------------------------------------

    def attributes(self, record: Record) -> dict[str, Any]:
        """The span attributes of ``record``: its fields and its payload's scalar figures, flat."""
        attributes: dict[str, Any] = {
            "profiletools.tool": record.tool,
            "profiletools.qualname": record.qualname,
            "profiletools.pid": record.pid,
            "profiletools.thread": record.thread,
        }
        if record.module is not None:
            attributes["profiletools.module"] = record.module
        if record.cpu is not None:
            attributes["profiletools.cpu"] = record.cpu
        if record.error is not None:
            attributes["profiletools.error"] = attributes["error.type"] = record.error
        if record.skipped is not None:
            attributes["profiletools.skipped"] = record.skipped
        if record.budget is not None:
            over = record.over_budget
            if over is not None:
                attributes["profiletools.over_budget"] = over
        if record.payload is not None:
            payload = record.payload_dict()
            if payload:
                _add_figures("profiletools.payload", payload, attributes, 0)
        return attributes

    def _describe(self, span: Span, record: Record, opened_as: str) -> None:
        """Put ``record`` on its (recording) span: name, attributes, error status and event."""
        if record.name != opened_as:
            span.update_name(record.name)
        span.set_attributes(self.attributes(record))
        error = record.error
        if error is not None:
            span.set_status(self._status(self._error_code, error))
            exc = sys.exc_info()[1]  # the call's exception while it propagates, when it is
            if exc is not None and type(exc).__qualname__ == error:
                span.record_exception(exc)

    def _measure(self, record: Record) -> None:
        """Record ``record``'s duration (and memory peak) in the histograms."""
        duration = self._duration
        if duration is None:
            return
        labels = {"profiletools.tool": record.tool, "profiletools.name": record.name}
        duration.record(record.wall, labels)
        for declared in registry.figures_of(record.tool):
            histogram = self._figures.get(declared.name)
            if histogram is not None:
                value = declared.value(record)
                if value is not None and value >= 0:
                    histogram.record(value, labels)

    def __repr__(self) -> str:
        return f"<profiletools OpenTelemetry reporter metrics={self._duration is not None}>"
