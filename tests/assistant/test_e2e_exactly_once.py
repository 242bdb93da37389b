"""End to end: every tool effect happens once across model failures and retries; ids the model reuses lose nothing."""

from __future__ import annotations

import json
import threading

import httpx
from azure.data.tables import TableClient

from tests.assistant.conftest import AssistantHost
from tests.support.fake_openai import FakeOpenAI, ScriptedReply, tool_call


def post(host: AssistantHost, chat: str, message: str, key: str | None = None) -> httpx.Response:
    headers = {"Accept": "application/json", **({"Idempotency-Key": key} if key else {})}
    return host.http.post(f"{host.api}/chats/{chat}", json={"message": message}, headers=headers)


def todos(host: AssistantHost, chat: str) -> list[str]:
    table = TableClient.from_connection_string(host.azurite.connection_string, host.todo_table)
    return sorted(r["taskDescription"] for r in table.query_entities(f"PartitionKey eq '{chat}'"))


def history(host: AssistantHost, chat: str) -> list[tuple[str, str]]:
    state = host.http.get(f"{host.api}/chats/{chat}").json()
    return [(m["role"], m["content"] if m["role"] != "tool" else "tool") for m in state["recentMessages"][1:]]


def test_a_turn_failing_after_a_tool_ran_resumes_with_its_key_and_adds_the_todo_once(
    assistant_host: AssistantHost, model: FakeOpenAI
) -> None:
    """AddTodo runs, then the model fails every attempt: 502 saying what was recorded; the same key again
    finishes the turn from there (the tool does not run again, the message is not repeated): one todo."""
    host = assistant_host
    chat = host.new_chat()
    model.call_tools(tool_call("AddTodo", {"taskDescription": "buy milk"}, call_id="call_1")).fail(500, times=6)
    failed = post(host, chat, "add milk", key="k-resume")
    assert failed.status_code == 502, failed.text
    body = failed.json()
    assert body["recorded"] is True and "same Idempotency-Key" in body["error"] and "unchanged" not in body["error"]
    assert history(host, chat) == [("user", "add milk"), ("assistant", ""), ("tool", "tool")]
    assert todos(host, chat) == ["buy milk"]
    model.reset().reply("Added milk.")
    done = post(host, chat, "add milk", key="k-resume")
    assert done.status_code == 200 and done.json()["reply"] == "Added milk.", done.text
    assert [m["role"] for m in model.requests[0]["messages"]] == ["system", "user", "assistant", "tool"]
    for _ in range(2):  # further repeats of the key answer the finished turn and ask the model nothing
        model.reset()
        again = post(host, chat, "add milk", key="k-resume")
        assert again.status_code == 200 and again.json()["reply"] == "Added milk." and model.requests == []
    assert history(host, chat) == [
        ("user", "add milk"),
        ("assistant", ""),
        ("tool", "tool"),
        ("assistant", "Added milk."),
    ]
    assert todos(host, chat) == ["buy milk"]


def test_without_a_key_the_retry_is_a_new_turn_that_sees_what_ran(
    assistant_host: AssistantHost, model: FakeOpenAI
) -> None:
    """Without a key the second message is a new turn; the model is shown the recorded tool call and its result."""
    host = assistant_host
    chat = host.new_chat()
    model.call_tools(tool_call("AddTodo", {"taskDescription": "call mom"}, call_id="call_1")).fail(503, times=6)
    failed = post(host, chat, "add call mom")
    assert failed.status_code == 503 and failed.json()["recorded"] is True
    model.reset().reply("It is already on your list.")
    again = post(host, chat, "add call mom")
    assert again.status_code == 200
    prompt = model.requests[0]["messages"]
    assert [m["role"] for m in prompt[1:]] == ["user", "assistant", "tool", "user"]
    assert "call mom" in prompt[3]["content"]
    assert todos(host, chat) == ["call mom"]


def test_reused_and_repeated_call_ids_lose_no_todo(assistant_host: AssistantHost, model: FakeOpenAI) -> None:
    """Two turns whose AddTodo calls are both `call_1`, then one answer with two calls `call_1`: three todos,
    and each result in the conversation answers its own call."""
    host = assistant_host
    chat = host.new_chat()
    model.call_tools(tool_call("AddTodo", {"taskDescription": "first"}, call_id="call_1")).reply("ok")
    model.call_tools(tool_call("AddTodo", {"taskDescription": "second"}, call_id="call_1")).reply("ok")
    model.call_tools(
        tool_call("AddTodo", {"taskDescription": "third"}, call_id="call_1"),
        tool_call("AddTodo", {"taskDescription": "fourth"}, call_id="call_1"),
    ).reply("ok")
    for message in ("one", "two", "three"):
        assert post(host, chat, message).status_code == 200
    assert todos(host, chat) == ["first", "fourth", "second", "third"]
    last = model.requests[-1]["messages"]
    calls = last[-3]["tool_calls"]
    assert [c["id"] for c in calls] == ["call_1", "call_1~2"]
    results = {m["tool_call_id"]: json.loads(m["content"])["taskDescription"] for m in last[-2:]}
    assert results == {"call_1": "third", "call_1~2": "fourth"}


def test_thousands_of_tool_calls_in_one_answer_run_at_most_the_cap(
    assistant_host: AssistantHost, model: FakeOpenAI
) -> None:
    """5,000 AddTodo calls in one answer: 16 run, one more is answered with an error, the rest are left out."""
    host = assistant_host
    chat = host.new_chat()
    model.call_tools(*[tool_call("AddTodo", {"taskDescription": f"t{i:04d}"}, call_id=f"c{i}") for i in range(5000)])
    model.reply("Done some.")
    response = post(host, chat, "add five thousand")
    assert response.status_code == 200
    assert todos(host, chat) == [f"t{i:04d}" for i in range(16)]
    follow_up = model.requests[1]["messages"]
    assert len(follow_up[-18]["tool_calls"]) == 17
    assert "too many tool calls" in follow_up[-1]["content"] and "4983" in follow_up[-1]["content"]


def test_concurrent_repeats_of_one_key_all_get_the_one_turns_answer(
    assistant_host: AssistantHost, model: FakeOpenAI
) -> None:
    """Ten POSTs with the same key at the same moment: ten 200s with the same reply, one model call."""
    host = assistant_host
    chat = host.new_chat()
    model.script(ScriptedReply(content="only once", delay=0.3))
    answers: list[tuple[int, str]] = []
    barrier = threading.Barrier(10)

    def send() -> None:
        with httpx.Client(timeout=30) as http:
            barrier.wait()
            response = http.post(
                f"{host.api}/chats/{chat}", json={"message": "hi"}, headers={"Idempotency-Key": "same"}
            )
            answers.append((response.status_code, response.text))

    threads = [threading.Thread(target=send) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert answers == [(200, "only once")] * 10
    assert len(model.requests) == 1
    assert history(host, chat) == [("user", "hi"), ("assistant", "only once")]


def test_lone_surrogates_are_a_400_in_input_and_replaced_in_model_output(
    assistant_host: AssistantHost, model: FakeOpenAI
) -> None:
    """`\\ud800` in a message, instructions or prompt: 400 and nothing written; in the model's reply: U+FFFD, and
    every later read (GET, the management API's listing) works."""
    host = assistant_host
    chat = host.new_chat()
    raw = b'{"message": "bad \\ud800 text"}'
    refused = host.http.post(f"{host.api}/chats/{chat}", content=raw, headers={"Content-Type": "application/json"})
    assert refused.status_code == 400 and "lone surrogate" in refused.json()["error"]
    bad_put = host.http.put(f"{host.api}/chats/{chat}-x", content=b'{"instructions": "x \\udfff"}')
    assert bad_put.status_code == 400 and not host.http.get(f"{host.api}/chats/{chat}-x").json()["exists"]
    assert host.http.post(f"{host.api}/ask", content=b'{"prompt": "\\ud800"}').status_code == 400
    assert history(host, chat) == []
    model.reply("broken \ud800 reply")
    response = post(host, chat, "hello")
    assert response.status_code == 200 and response.json()["reply"] == "broken \ufffd reply"
    assert history(host, chat)[-1] == ("assistant", "broken \ufffd reply")
    listing = host.http.get(f"{host.devhost.base_url}/runtime/webhooks/durabletask/instances")
    assert listing.status_code == 200


def test_oversized_and_deeply_nested_bodies_are_refused_with_json(assistant_host: AssistantHost) -> None:
    """Over 1 MB on a chat route: 413; JSON nested 1,000 deep: 400; neither writes anything."""
    host = assistant_host
    chat = host.new_chat()
    big = host.http.post(f"{host.api}/chats/{chat}", content=b'{"message": "' + b"x" * 1_100_000 + b'"}')
    assert big.status_code == 413 and "at most" in big.json()["error"]
    deep = host.http.post(
        f"{host.api}/chats/{chat}", content=b'{"message": "hi", "x": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    )
    assert deep.status_code == 400 and "nests deeper" in deep.json()["error"]
    assert history(host, chat) == []


def test_ask_answers_502_when_the_model_sends_no_completion(assistant_host: AssistantHost, model: FakeOpenAI) -> None:
    """A body that is not JSON, or a completion without choices: 502 with a JSON error, never a 500."""
    host = assistant_host
    for raw in (b"this is not json", b'{"id": "x", "object": "chat.completion", "choices": []}'):
        model.reset().script(*[ScriptedReply(raw=raw)] * 3)
        response = host.http.post(f"{host.api}/ask", json={"prompt": "hi"})
        assert response.status_code == 502, response.text
        assert "model" in response.json()["error"]


def test_a_huge_reply_is_kept_within_the_bound(assistant_host: AssistantHost, model: FakeOpenAI) -> None:
    """A 1 MB reply is cut to CHAT_MAX_REPLY_BYTES (64 KiB) with a note, in the answer and in the chat."""
    host = assistant_host
    chat = host.new_chat()
    model.reply("y" * 1_000_000)
    reply = post(host, chat, "talk a lot").json()["reply"]
    assert len(reply.encode()) <= 64 * 1024 and reply.endswith("[reply cut at 65536 bytes]")
    assert host.http.get(f"{host.api}/chats/{chat}").json()["recentMessages"][-1]["content"] == reply


def test_a_huge_top_lists_instead_of_failing(assistant_host: AssistantHost) -> None:
    """`top=` beyond SQLite's integers pages like any other top (it was a 500)."""
    base = f"{assistant_host.devhost.base_url}/runtime/webhooks/durabletask"
    for path in ("/instances", "/entities"):
        response = assistant_host.http.get(f"{base}{path}", params={"top": str(10**30)})
        assert response.status_code == 200 and isinstance(response.json(), list)
