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
