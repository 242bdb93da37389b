"""OpenTelemetry for the assistant: one trace per turn, a span per model call and per skill call, and metrics.

The trace starts at the HTTP request that sends the message; its context (W3C `traceparent`) travels
in the durable payloads (the turn's input, each model and skill activity's input), so every span of
the turn joins it wherever and whenever the activity runs. Orchestrators make no spans (they replay),
and a model call rerun after a crash that finds its answer recorded makes none either, so replays and
resumed turns neither split nor repeat spans. Model calls follow the GenAI semantic conventions
(`chat {model}`, `gen_ai.*`: operation, provider, request/response model, input/output tokens, finish
reasons); skill calls are `execute_tool {name}` with `gen_ai.tool.*` and `ok`. Metrics: turn duration,
queue wait, model latency (`gen_ai.client.operation.duration`) and tokens (`gen_ai.client.token.usage`).

Where they go (read when first needed, once per process), by one rule: whoever the settings name exports,
and nothing is exported twice.

- On Azure the Functions Python worker exports (`PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY=true`, set by the
  infra with host.json's `"telemetryMode": "OpenTelemetry"`): the worker configures the Azure Monitor
  distro before it loads the app and, for every invocation, makes the host's span (the invocation's trace
  context) the current one, so the request's span is the host's child and the whole turn is one trace with
  the host's. The app then adds no exporter of its own and its spans and metrics go through the worker's
  providers. Should the worker have installed none (the distro missing), the app exports itself, as below,
  and says so in the log.
- Otherwise the app exports itself: to Application Insights when `APPLICATIONINSIGHTS_CONNECTION_STRING` is
  set (the Azure Monitor OpenTelemetry exporter, with the managed identity named in
  `APPLICATIONINSIGHTS_AUTHENTICATION_STRING`), to an OTLP endpoint with `OTEL_EXPORTER_OTLP_ENDPOINT`, to
  the console (one JSON object per span, in the host's log) with `OTEL_TRACES_EXPORTER=console`; otherwise
  nowhere (the API is a no-op: tests run without it). `OTEL_TRACES_SAMPLER=microsoft.fixed_percentage` with
  `OTEL_TRACES_SAMPLER_ARG` samples as the platform does (the same hash of the trace id, so the host's and
  the app's spans of a trace are kept or dropped together).

`OTEL_SDK_DISABLED=true` turns it all off. Prompts and replies are recorded only with
`CHAT_TRACE_CONTENT=on`. Only this app's code is traced: nothing is auto-instrumented (on Azure the infra
turns the distro's instrumentations off), so a host's own server (devhost's) never appears.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

__all__ = [
    "PLATFORM_SETTING",
    "configure",
    "content_enabled",
    "inject",
    "meter",
    "platform_exports",
    "sampler",
    "span",
    "start_span_from",
    "trace_context",
    "tracer",
]

log = logging.getLogger(__name__)
_SCOPE = "durable-assistant"
_lock = threading.Lock()
_configured = False
_propagator = TraceContextTextMapPropagator()

PLATFORM_SETTING = "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY"
"""The Functions Python worker's switch: it configures the Azure Monitor distro and attaches each invocation's
trace context (azure-functions-python-worker, `dispatcher.py`: `initialize_azure_monitor`,
`configure_opentelemetry`)."""
_TRUE_LIKE = ("1", "true", "t", "yes", "y")
"""What the worker counts as on (`is_true_like` in its `utils/common.py`)."""


def _env(name: str) -> str:
    return os.environ.get(name, "").strip()


def platform_exports() -> bool:
    """Whether the settings say the Functions worker exports this process's telemetry (`PLATFORM_SETTING`)."""
    return _env(PLATFORM_SETTING).lower() in _TRUE_LIKE


def sampler() -> Any:
    """The app's own sampler for `OTEL_TRACES_SAMPLER`: Application Insights' fixed-percentage or rate-limited
    samplers for `microsoft.fixed_percentage` / `microsoft.rate_limited` (the names the platform reads), else
    None (the SDK reads its standard `OTEL_TRACES_SAMPLER` values itself)."""
    name = _env("OTEL_TRACES_SAMPLER").lower()
    if name not in ("microsoft.fixed_percentage", "microsoft.rate_limited"):
        return None
    from azure.monitor.opentelemetry.exporter import ApplicationInsightsSampler, RateLimitedSampler

    raw = _env("OTEL_TRACES_SAMPLER_ARG")
    try:
        value = float(raw) if raw else None
    except ValueError:
        log.warning("OTEL_TRACES_SAMPLER_ARG=%r is not a number: its default is used", raw)
        value = None
    if name == "microsoft.rate_limited":
        return RateLimitedSampler(value if value is not None and value >= 0 else 5.0)
    return ApplicationInsightsSampler(value if value is not None and 0.0 <= value <= 1.0 else 1.0)


def configure() -> None:
    """Set up the exporters the environment asks for (once per process)."""
    global _configured
    if _configured:
        return
    with _lock:
        if _configured:
            return
        try:
            if _env("OTEL_SDK_DISABLED").lower() != "true":
                _configure()
        except Exception as error:
            log.warning("OpenTelemetry not configured: %s", error)
        finally:
            # Only now: a thread that saw the flag set before the providers were would get no-op spans
            # (a model call's span was lost when an HTTP request configured telemetry at the same moment).
            _configured = True


def _configure() -> None:
    if platform_exports():
        if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
            log.info("telemetry: the Functions worker exports it (%s); the app adds no exporter", PLATFORM_SETTING)
            return
        log.warning(
            "telemetry: %s is on but the worker installed no tracer provider (is azure-monitor-opentelemetry in "
            "requirements.txt?): the app exports itself",
            PLATFORM_SETTING,
        )
    _configure_own()


def _configure_own() -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor

    resource = Resource.create({"service.name": _env("OTEL_SERVICE_NAME") or "durable-assistant"})
    provider = TracerProvider(resource=resource, sampler=sampler())
    readers: list[Any] = []
    connection = _env("APPLICATIONINSIGHTS_CONNECTION_STRING")
    if connection:
        from azure.monitor.opentelemetry.exporter import AzureMonitorMetricExporter, AzureMonitorTraceExporter

        options: dict[str, Any] = {"connection_string": connection}
        auth = _env("APPLICATIONINSIGHTS_AUTHENTICATION_STRING")
        if "authorization=aad" in auth.lower():
            from azure.identity import ManagedIdentityCredential

            client_id = next((p.split("=", 1)[1] for p in auth.split(";") if p.lower().startswith("clientid=")), "")
            options["credential"] = ManagedIdentityCredential(client_id=client_id or None)
        provider.add_span_processor(BatchSpanProcessor(AzureMonitorTraceExporter(**options)))
        readers.append(PeriodicExportingMetricReader(AzureMonitorMetricExporter(**options)))
    exporters = [e.strip() for e in _env("OTEL_TRACES_EXPORTER").split(",") if e.strip()]
    if "console" in exporters:
        # One line of JSON per span, written as the span ends: whole lines even when several processes share a log.
        one_line = ConsoleSpanExporter(formatter=lambda s: s.to_json(indent=None) + "\n")
        provider.add_span_processor(SimpleSpanProcessor(one_line))
    if _env("OTEL_EXPORTER_OTLP_ENDPOINT") or "otlp" in exporters:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
    if provider._active_span_processor._span_processors:  # something to export to
        trace.set_tracer_provider(provider)
    if readers:
        metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=readers))


def tracer() -> trace.Tracer:
    """The app's tracer (a no-op one until something is configured)."""
    configure()
    return trace.get_tracer(_SCOPE)


def meter() -> metrics.Meter:
    """The app's meter."""
    configure()
    return metrics.get_meter(_SCOPE)


def content_enabled() -> bool:
    """Whether prompts and replies may be recorded (`CHAT_TRACE_CONTENT=on`)."""
    return _env("CHAT_TRACE_CONTENT").lower() in ("on", "1", "true", "yes")


def inject() -> str | None:
    """The current span's W3C `traceparent` (None when nothing is being traced)."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent")


def trace_context(traceparent: str | None) -> otel_context.Context | None:
    """The context a `traceparent` carried in a durable payload names (None without one)."""
    if not traceparent:
        return None
    return _propagator.extract({"traceparent": traceparent})


@contextmanager
def span(
    name: str, traceparent: str | None, kind: SpanKind = SpanKind.INTERNAL, attributes: dict[str, Any] | None = None
) -> Iterator[trace.Span]:
    """A span named `name`, child of the span `traceparent` names; errors set its status."""
    with tracer().start_as_current_span(
        name, context=trace_context(traceparent), kind=kind, attributes=attributes or {}, record_exception=True
    ) as current:
        try:
            yield current
        except Exception as error:
            current.set_status(Status(StatusCode.ERROR, str(error)[:200]))
            raise


def start_span_from(name: str, kind: SpanKind = SpanKind.SERVER, attributes: dict[str, Any] | None = None) -> Any:
    """The span of the HTTP request that starts a turn, as a context manager: a child of the invocation's trace
    context where the worker made it current (on Azure, the host's span), else a new root."""
    return tracer().start_as_current_span(name, kind=kind, attributes=attributes or {})
