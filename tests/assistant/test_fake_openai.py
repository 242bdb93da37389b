"""The scripted model server, through the real `openai` client."""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest

from tests.support.fake_openai import FakeOpenAI, ScriptedReply, tool_call


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def client(fake: FakeOpenAI, retries: int = 0) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake.base_url, api_key="test", max_retries=retries)


def test_text_and_tool_replies_in_order_and_requests_recorded(fake: FakeOpenAI) -> None:
    """Replies come back in script order; each request body is recorded."""
    fake.call_tools(tool_call("AddTodo", {"taskDescription": "milk"}, call_id="c1")).reply("done")
    first = client(fake).chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    second = client(fake).chat.completions.create(model="m", messages=[{"role": "user", "content": "again"}])
    call = first.choices[0].message.tool_calls[0]
    assert (call.id, call.function.name, json.loads(call.function.arguments)) == (
        "c1",
        "AddTodo",
        {"taskDescription": "milk"},
    )
    assert second.choices[0].message.content == "done"
    assert second.usage.total_tokens == 15
    assert [r["messages"][0]["content"] for r in fake.requests] == ["hi", "again"]


def test_failure_with_retry_after_is_retried_by_the_client(fake: FakeOpenAI) -> None:
    """A 429 with Retry-After, then success: the openai client retries and gets the text."""
    fake.fail(429, retry_after=0.05).reply("after retry")
    answer = client(fake, retries=2).chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert answer.choices[0].message.content == "after retry"
    assert len(fake.requests) == 2


def test_unscripted_request_fails_and_responder_answers(fake: FakeOpenAI) -> None:
    """With nothing scripted the server answers 500; a responder picks replies from the request."""
    with pytest.raises(openai.InternalServerError):
        client(fake).chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    fake.responder = lambda body: ScriptedReply(content=body["messages"][-1]["content"].upper())
    answer = client(fake).chat.completions.create(model="m", messages=[{"role": "user", "content": "echo"}])
    assert answer.choices[0].message.content == "ECHO"


def test_failures_k_times_then_success_with_retries(fake: FakeOpenAI) -> None:
    """`fail(times=k)` fails exactly the next k requests; the client's retries get past them."""
    fake.fail(503, retry_after=0.01, times=2).reply("third time")
    answer = client(fake, retries=2).chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert answer.choices[0].message.content == "third time" and len(fake.requests) == 3


def test_dropped_connection_and_stall_are_connection_errors(fake: FakeOpenAI) -> None:
    """A dropped answer is an APIConnectionError; a stall past the timeout an APITimeoutError."""
    fake.drop().stall(1.0)
    with pytest.raises(openai.APIConnectionError) as dropped:
        client(fake).chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert not isinstance(dropped.value, openai.APITimeoutError)
    with pytest.raises(openai.APITimeoutError):
        client(fake).with_options(timeout=0.2).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}]
        )


def test_fallback_text_answers_when_nothing_is_scripted(fake: FakeOpenAI) -> None:
    """With `fallback_text` set an unscripted request gets that text; reset clears it."""
    fake.fallback_text = "plain"
    answer = client(fake).chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert answer.choices[0].message.content == "plain"
    assert fake.reset().fallback_text is None
