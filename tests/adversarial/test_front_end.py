"""Behind a front end: Debian's nginx terminates TLS at `https://localhost:<port>` in front of devhost. Every flow of
test.http works through it, and every URL in every answer is on the front end's scheme and host (listed in
`CHAT_PUBLIC_HOSTS`); a host nobody listed, sent straight to devhost, never appears in an answer."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse

from tests.assistant.conftest import AssistantHost, start_assistant_host
from tests.support.azurite import Azurite
from tests.support.fake_openai import FakeOpenAI, ScriptedReply, tool_call
from tests.support.front_end import FrontEnd, FrontEndMissing, start_front_end
from tests.support.ports import free_port


@pytest.fixture(scope="module")
def behind(
    tmp_path_factory: pytest.TempPathFactory, azurite: Azurite, hostile_model: FakeOpenAI
) -> Iterator[tuple[AssistantHost, FrontEnd, httpx.Client]]:
    """devhost with nginx in front (its port chosen first, so the app can list the front end's host)."""
    port = free_port()
    env = {"OPENAI_BASE_URL": hostile_model.base_url, "CHAT_MODEL_DEPLOYMENT_NAME": "fake-gpt"}
    for host in start_assistant_host(tmp_path_factory, azurite, env, {"CHAT_PUBLIC_HOSTS": f"localhost:{port}"}):
        try:
            front = start_front_end(tmp_path_factory.mktemp("nginx"), host.devhost.port, port)
        except FrontEndMissing as missing:
            pytest.skip(str(missing))
        client = httpx.Client(base_url=f"{front.origin}/api", verify=False, timeout=30)
        try:
            yield host, front, client
        finally:
            client.close()
            front.stop()


def _urls(value: Any) -> list[str]:
    """Every absolute URL in a JSON value."""
    if isinstance(value, dict):
        return [u for v in value.values() for u in _urls(v)]
    if isinstance(value, list):
        return [u for v in value for u in _urls(v)]
    return [value] if isinstance(value, str) and value.startswith(("http://", "https://")) else []


def _on_front(front: FrontEnd, response: httpx.Response) -> Any:
    """The answer's JSON, after checking every URL in it (and `Location`) is on the front end."""
    body = response.json() if response.content and "json" in response.headers.get("content-type", "") else None
    urls = _urls(body) + [v for k, v in response.headers.items() if k.lower() == "location" and "://" in v]
    for url in urls:
        assert url.startswith(front.origin + "/"), f"{url} is not on {front.origin}"
    return body


def test_every_flow_works_through_the_front_end_and_every_url_is_its_own(
    behind: tuple[AssistantHost, FrontEnd, httpx.Client], model: FakeOpenAI
) -> None:
    """test.http's flows through nginx: create, message (text, JSON, SSE), a slow turn's status URL, an approval
    decided at its URL, a cancel, the chat, its events resumed, todos, skills, ask, whois, delete."""
    _, front, http = behind
    chat = f"front-{time.monotonic_ns()}"
    assert _on_front(front, http.put(f"/chats/{chat}", json={"instructions": "Be brief."})) == {"chatId": chat}
    model.reply("plain")
    assert http.post(f"/chats/{chat}", json={"message": "hi"}).text == "plain"
    model.script(
        ScriptedReply(tool_calls=(tool_call("AddTodo", {"taskDescription": "buy milk"}, call_id="c1"),)),
        ScriptedReply(content="Added."),
    )
    turn = _on_front(
        front, http.post(f"/chats/{chat}", json={"message": "add"}, headers={"Accept": "application/json"})
    )
    assert turn["reply"] == "Added."
    model.reply("streamed words here", token_delay=0.02)
    with connect_sse(
        http, "POST", f"/chats/{chat}", json={"message": "s"}, headers={"Accept": "text/event-stream"}
    ) as sse:
        events = [json.loads(e.data) for e in sse.iter_sse()]
    assert events[-1]["type"] == "turn.completed" and events[-1]["reply"] == "streamed words here"
    streamed_turn = events[0]["turnId"]
    model.reply("slow", delay=1.0)
    accepted = http.post(f"/chats/{chat}", params={"message": "slow", "timeoutSeconds": "0"})
    assert accepted.status_code == 202
    status = _on_front(front, accepted)
    for name in ("statusQueryGetUri", "eventsUrl"):
        assert status[name].startswith(front.origin)
    deadline = time.monotonic() + 20
    while (done := http.get(status["statusQueryGetUri"])).status_code == 202 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert done.json()["output"]["reply"] == "slow"
    todo = http.get(f"/chats/{chat}/todos").json()[0]["id"]
    model.script(
        ScriptedReply(tool_calls=(tool_call("DeleteTodo", {"todoId": todo}, call_id="c2"),)),
        ScriptedReply(content="Deleted."),
    )
    waiting = _on_front(
        front, http.post(f"/chats/{chat}", json={"message": "delete"}, headers={"Accept": "application/json"})
    )
    assert waiting["status"] == "requires_action"
    seen = _on_front(front, http.get(f"/chats/{chat}"))
    assert seen["requiresAction"]["approvalsUrl"] == waiting["requiresAction"]["approvalsUrl"]
    decided = http.post(
        waiting["requiresAction"]["approvalsUrl"], json={"decisions": [{"toolCallId": "c2", "approve": True}]}
    )
    assert _on_front(front, decided)["status"] == "accepted"
    while (done := http.get(waiting["statusQueryGetUri"])).status_code == 202 and time.monotonic() < deadline + 10:
        time.sleep(0.2)
    assert done.json()["output"]["reply"] == "Deleted."
    model.reply("never", delay=2.0)
    cancel_me = _on_front(front, http.post(f"/chats/{chat}", params={"message": "x", "timeoutSeconds": "0"}))
    cancelled = http.post(f"/chats/{chat}/turns/{cancel_me['id']}/cancel")
    assert cancelled.status_code == 202
    with connect_sse(http, "GET", f"/chats/{chat}/turns/{streamed_turn}/events", headers={"Last-Event-ID": "2"}) as sse:
        rest = [json.loads(e.data) for e in sse.iter_sse()]
    assert rest[0]["sequence"] == 3 and rest[-1]["type"] == "turn.completed"
    for item in _on_front(front, http.get(f"/chats/{chat}"))["recentMessages"]:
        assert item["role"] in ("system", "user", "assistant", "tool")
    assert [s["name"] for s in http.get("/skills").json()]
    model.reset().fallback_text = "an answer"
    assert http.post("/ask", json={"prompt": "hi"}).text == "an answer"
    assert http.get("/whois/Ada").text == "an answer"
    assert http.delete(f"/chats/{chat}").status_code == 204
    assert "/openapi.json" in http.get("/openapi.json").text or http.get("/openapi.json").status_code == 200


def test_a_host_nobody_listed_never_appears_in_an_answer(
    behind: tuple[AssistantHost, FrontEnd, httpx.Client], model: FakeOpenAI
) -> None:
    """Straight to devhost with `Host` and `X-Forwarded-*` of the client's choosing: URLs on devhost's own address."""
    host, _, _ = behind
    chat = host.new_chat()
    model.reply("slow", delay=0.5)
    headers = {"Host": "evil.example:9", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"}
    answer = host.http.post(f"{host.api}/chats/{chat}", params={"message": "x", "timeoutSeconds": "0"}, headers=headers)
    assert answer.status_code == 202, answer.text
    for url in _urls(answer.json()) + [answer.headers["Location"]]:
        assert url.startswith(host.devhost.base_url + "/"), url
    assert "evil" not in answer.text
