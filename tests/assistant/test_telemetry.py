"""The spans the app makes, captured in-process with an in-memory exporter."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from activities.chat_completion import ask_model
from assistant import telemetry
from assistant.settings import reset_settings
from tests.support.fake_openai import FakeOpenAI

_exporter = InMemorySpanExporter()


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch, fake_model: FakeOpenAI) -> Iterator[InMemorySpanExporter]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_exporter))
    monkeypatch.setattr(telemetry, "tracer", lambda: provider.get_tracer("test"))
    monkeypatch.setenv("OPENAI_BASE_URL", fake_model.base_url)
    monkeypatch.setenv("CHAT_MODEL_DEPLOYMENT_NAME", "fake-gpt")
    monkeypatch.setenv("CHAT_MODEL_MAX_RETRIES", "0")
    reset_settings()
    _exporter.clear()
    try:
        yield _exporter
    finally:
        reset_settings()


def test_a_model_call_is_a_genai_client_span_in_the_callers_trace(
    spans: InMemorySpanExporter, fake_model: FakeOpenAI
) -> None:
    """`chat {model}` under the span whose traceparent came in the payload, with the GenAI attributes; no prompt."""
    fake_model.reset().reply("hello")
    parent = TracerProvider().get_tracer("caller").start_span("POST /api/chats/{chatId}")
    traceparent = f"00-{parent.get_span_context().trace_id:032x}-{parent.get_span_context().span_id:016x}-01"
    answer = ask_model([{"role": "user", "content": "hi"}], [], None, 1000, None, traceparent=traceparent)
    assert answer.content == "hello"
    (span,) = spans.get_finished_spans()
    assert span.name == "chat fake-gpt" and span.kind == trace.SpanKind.CLIENT
    assert span.context.trace_id == parent.get_span_context().trace_id
    assert span.parent is not None and span.parent.span_id == parent.get_span_context().span_id
    attributes = dict(span.attributes or {})
    assert attributes["gen_ai.operation.name"] == "chat" and attributes["gen_ai.provider.name"] == "openai"
    assert attributes["gen_ai.usage.input_tokens"] == 10 and attributes["gen_ai.usage.output_tokens"] == 5
    assert "gen_ai.input.messages" not in attributes


def test_a_failed_model_call_marks_its_span(spans: InMemorySpanExporter, fake_model: FakeOpenAI) -> None:
    """A 500: the span is an error, with `error.type`; the error reaches the caller (so Durable retries it)."""
    fake_model.reset().fail(500)
    with pytest.raises(Exception, match="HTTP 500"):
        ask_model([{"role": "user", "content": "hi"}], [], None, 1000, None)
    (span,) = spans.get_finished_spans()
    assert span.status.status_code == trace.StatusCode.ERROR and span.attributes["error.type"] == "HTTP 500"


def test_a_thread_asking_while_another_configures_waits_for_the_providers(monkeypatch: pytest.MonkeyPatch) -> None:
    """configure() returns in every thread only once the exporters are set up: a caller that got through while
    another thread was still configuring used to get no-op spans (a model call's span went missing after a restart)."""
    import threading
    import time

    done: list[str] = []

    def slow_configure() -> None:
        time.sleep(0.3)
        done.append("configured")

    monkeypatch.setattr(telemetry, "_configured", False)
    monkeypatch.setattr(telemetry, "_configure", slow_configure)
    first = threading.Thread(target=telemetry.configure)
    first.start()
    time.sleep(0.05)  # the first thread is inside the slow set-up now
    seen: list[list[str]] = []
    second = threading.Thread(target=lambda: (telemetry.configure(), seen.append(list(done))))
    second.start()
    first.join()
    second.join()
    assert seen == [["configured"]] and done == ["configured"]  # waited, and configured once


# Where the spans go: the platform's providers or the app's own exporters ---------------------------------------

_WORKER = """
import json, sys
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

platform = InMemorySpanExporter()
if sys.argv[1] == "worker-configured":  # what the Functions worker does before it loads the app
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(platform))
    trace.set_tracer_provider(provider)

from assistant import telemetry

with telemetry.span("chat fake-gpt", None):
    pass
print("PLATFORM " + json.dumps([s.name for s in platform.get_finished_spans()]))
"""


def _process(worker: str, env: dict[str, str]) -> tuple[list[str], list[str], str]:
    """A fresh process (fresh global providers) that makes one span: (names the platform's provider got,
    names the app's console exporter printed, stderr)."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "APPLICATIONINSIGHTS_", telemetry.PLATFORM_SETTING))
    }
    done = subprocess.run(
        [sys.executable, "-c", _WORKER, worker],
        cwd=Path(__file__).resolve().parents[2],
        env={**base, "OTEL_TRACES_EXPORTER": "console", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = done.stdout.splitlines()
    (platform,) = [json.loads(line[len("PLATFORM ") :]) for line in lines if line.startswith("PLATFORM ")]
    console = [json.loads(line)["name"] for line in lines if line.startswith('{"name"')]
    return platform, console, done.stderr


def test_where_the_worker_exports_the_app_adds_no_exporter() -> None:
    """PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY=true and the worker's provider installed: the span goes to the
    worker's provider only; the app's own (console) exporter stays off, so nothing is exported twice."""
    platform, console, _ = _process("worker-configured", {telemetry.PLATFORM_SETTING: "true"})
    assert platform == ["chat fake-gpt"] and console == []


def test_without_the_platform_setting_the_app_exports_itself_as_before() -> None:
    """The setting off (devhost, tests): the app's exporters, as configured by OTEL_* (here the console)."""
    platform, console, _ = _process("bare", {})
    assert platform == [] and console == ["chat fake-gpt"]


def test_the_setting_on_with_no_worker_provider_falls_back_to_the_apps_exporter() -> None:
    """On, but the worker installed no provider (its Azure Monitor distro missing): the app exports, and says
    why in the log, rather than losing every span."""
    platform, console, stderr = _process("bare", {telemetry.PLATFORM_SETTING: "true"})
    assert platform == [] and console == ["chat fake-gpt"]
    assert "installed no tracer provider" in stderr


@pytest.mark.parametrize(("ratio", "kept"), [("0", []), ("1.0", ["chat fake-gpt"])])
def test_the_apps_own_exporter_samples_by_the_platforms_setting(ratio: str, kept: list[str]) -> None:
    """OTEL_TRACES_SAMPLER=microsoft.fixed_percentage (the infra's setting) samples the app's own spans too."""
    env = {"OTEL_TRACES_SAMPLER": "microsoft.fixed_percentage", "OTEL_TRACES_SAMPLER_ARG": ratio}
    assert _process("bare", env)[1] == kept


def test_the_sampler_is_application_insights_for_the_microsoft_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """The platform's sampler names give Application Insights' samplers (same trace-id hash as the host's);
    standard names are left to the SDK; a bad argument falls back to keeping everything."""
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "microsoft.fixed_percentage")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.25")
    assert telemetry.sampler().get_description() == "ApplicationInsightsSampler0.25"
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "lots")
    assert telemetry.sampler().get_description() == "ApplicationInsightsSampler1.0"
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "microsoft.rate_limited")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "2")
    assert telemetry.sampler().get_description() == "RateLimitedSampler{2.0}"
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
    assert telemetry.sampler() is None


@pytest.mark.parametrize("value", ["true", "True", "1", "yes"])
def test_the_platform_setting_counts_as_on_as_the_worker_counts_it(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    """The worker's `is_true_like`: 1, true, t, yes, y (any case)."""
    monkeypatch.setenv(telemetry.PLATFORM_SETTING, value)
    assert telemetry.platform_exports()
    monkeypatch.setenv(telemetry.PLATFORM_SETTING, "false")
    assert not telemetry.platform_exports()


# The turn's span and the invocation's trace context --------------------------------------------------------------


def test_the_turns_span_is_a_child_of_the_invocations_trace_context(spans: InMemorySpanExporter) -> None:
    """As the worker does for each invocation (the host's traceparent and tracestate, from the invocation
    request's trace context, made current): the request's span is the host span's child, and the traceparent
    the turn carries in its durable payload is that span's, in the host's trace."""
    from opentelemetry import context as otel_context
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    host_trace, host_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    invocation = {"traceparent": f"00-{host_trace}-{host_span}-01", "tracestate": "az=1"}
    token = otel_context.attach(TraceContextTextMapPropagator().extract(invocation))
    try:
        with telemetry.start_span_from("POST /api/chats/{chatId}"):
            carried = telemetry.inject()
    finally:
        otel_context.detach(token)
    (request,) = spans.get_finished_spans()
    assert f"{request.context.trace_id:032x}" == host_trace
    assert request.parent is not None and f"{request.parent.span_id:016x}" == host_span and request.parent.is_remote
    assert carried == f"00-{host_trace}-{request.context.span_id:016x}-01"


def test_without_an_invocation_context_the_turns_span_is_a_root(spans: InMemorySpanExporter) -> None:
    """devhost (and a worker with telemetry off) makes no context current: the request's span starts the trace."""
    with telemetry.start_span_from("POST /api/chats/{chatId}"):
        pass
    (request,) = spans.get_finished_spans()
    assert request.parent is None
