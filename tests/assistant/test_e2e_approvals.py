"""End to end: a person in the loop — approvals, cancelling, per-chat skills, PATCH, a reset that is fresh."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from azure.data.tables import TableClient
from httpx_sse import connect_sse

from assistant.ids import TURN_ID_LENGTH, turn_instance_id
from tests.assistant.conftest import AssistantHost, start_assistant_host
from tests.support.azurite import Azurite
from tests.support.fake_openai import FakeOpenAI, ScriptedReply, tool_call


def rows(host: AssistantHost, chat: str) -> list[dict[str, Any]]:
    table = TableClient.from_connection_string(host.azurite.connection_string, host.todo_table)
    return list(table.query_entities(f"PartitionKey eq '{chat}'"))


def live_todos(host: AssistantHost, chat: str) -> list[str]:
    return sorted(r["taskDescription"] for r in rows(host, chat) if not r.get("deletedBy"))


def add_todo(host: AssistantHost, model: FakeOpenAI, chat: str, task: str) -> str:
    """A turn that adds `task`; its todo id."""
    model.call_tools(tool_call("AddTodo", {"taskDescription": task})).reply(f"added {task}")
    body = host.http.post(
        f"{host.api}/chats/{chat}", json={"message": f"add {task}"}, headers={"Accept": "application/json"}
    ).json()
    return json.loads(body["recentMessages"][2]["content"])["id"]


def ask_to_delete(
    host: AssistantHost,
    model: FakeOpenAI,
    chat: str,
    todo: str,
    *,
    then: str = "Done.",
    extra_calls: tuple[dict[str, Any], ...] = (),
) -> httpx.Response:
    """A turn whose model asks to delete `todo` (plus `extra_calls`): the POST answers 202 requires_action."""
    model.call_tools(*extra_calls, tool_call("DeleteTodo", {"todoId": todo}, call_id="del-1")).reply(then)
    return host.http.post(f"{host.api}/chats/{chat}", params={"timeoutSeconds": "10"}, json={"message": "delete it"})


def decide(
    host: AssistantHost, chat: str, turn: str, approve: bool, reason: str | None = None, call: str = "del-1"
) -> httpx.Response:
    decision: dict[str, Any] = {"toolCallId": call, "approve": approve, **({"reason": reason} if reason else {})}
    return host.http.post(f"{host.api}/chats/{chat}/turns/{turn}/approvals", json={"decisions": [decision]})


def wait_done(host: AssistantHost, status_url: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status = httpx.get(status_url).json()
        if status["runtimeStatus"] in ("Completed", "Failed", "Terminated"):
            return status
        time.sleep(0.05)
    raise AssertionError(f"not done: {status}")


def test_a_risky_call_waits_then_runs_once_when_approved(assistant_host: AssistantHost, model: FakeOpenAI) -> None:
    """DeleteTodo waits (202 requires_action; GET shows it); approved, it runs once and the todo is gone."""
    host = assistant_host
    chat = host.new_chat()
    todo = add_todo(host, model, chat, "buy milk")
    waiting = ask_to_delete(host, model, chat, todo)
    assert waiting.status_code == 202, waiting.text
    body = waiting.json()
    assert body["status"] == "requires_action" and len(body["id"]) == TURN_ID_LENGTH
    action = body["requiresAction"]
    assert (
        action["turnId"] == body["id"]
        and action["approvalsUrl"] == f"{host.api}/chats/{chat}/turns/{body['id']}/approvals"
    )
    call = action["toolCalls"][0]
    assert (call["toolCallId"], call["name"], json.loads(call["arguments"])) == (
        "del-1",
        "DeleteTodo",
        {"todoId": todo},
    )
    assert call["expiresAt"] > call["requestedAt"]
    state = host.http.get(f"{host.api}/chats/{chat}").json()
    assert state["requiresAction"] == action and state["turnInProgress"]
    assert live_todos(host, chat) == ["buy milk"]
    assert decide(host, chat, body["id"], True).status_code == 202
    status = wait_done(host, body["statusQueryGetUri"])
    assert status["runtimeStatus"] == "Completed" and status["output"]["reply"] == "Done."
    assert live_todos(host, chat) == []
    assert [r["deletedBy"] for r in rows(host, chat)] and host.http.get(f"{host.api}/chats/{chat}").json()[
        "requiresAction"
    ] is None
    results = [m for m in model.requests[-1]["messages"] if m["role"] == "tool"]
    assert json.loads(results[-1]["content"])["deleted"] is True


def test_denied_with_a_reason_the_model_hears_it_and_nothing_runs(
    assistant_host: AssistantHost, model: FakeOpenAI
) -> None:
    """Deny with a reason: the model's next request has a tool result saying so; the todo stays."""
    host = assistant_host
    chat = host.new_chat()
    todo = add_todo(host, model, chat, "call mom")
    turn = ask_to_delete(host, model, chat, todo, then="Kept it.").json()
    assert decide(host, chat, turn["id"], False, "I still need it").status_code == 202
    assert wait_done(host, turn["statusQueryGetUri"])["output"]["reply"] == "Kept it."
    refusal = [m for m in model.requests[-1]["messages"] if m["role"] == "tool"][-1]["content"]
    assert "declined" in refusal and "I still need it" in refusal
    assert live_todos(host, chat) == ["call mom"]


def test_no_answer_in_time_counts_as_denied(assistant_host: AssistantHost, model: FakeOpenAI) -> None:
    """approvalTimeoutSeconds=1: the call is refused as not answered in time."""
    host = assistant_host
    chat = host.new_chat()
    assert host.http.put(f"{host.api}/chats/{chat}", json={"approvalTimeoutSeconds": 1}).status_code == 202
    todo = add_todo(host, model, chat, "water plants")
    turn = ask_to_delete(host, model, chat, todo, then="Timed out.").json()
    assert wait_done(host, turn["statusQueryGetUri"])["output"]["reply"] == "Timed out."
    assert "no answer in time" in [m for m in model.requests[-1]["messages"] if m["role"] == "tool"][-1]["content"]
    assert live_todos(host, chat) == ["water plants"]


def test_a_mixed_answer_runs_the_safe_call_at_once_and_waits_for_the_risky_one(
    assistant_host: AssistantHost, model: FakeOpenAI
) -> None:
    """AddTodo runs while DeleteTodo waits; a turn queued behind the waiting one runs after the decision."""
    host = assistant_host
    chat = host.new_chat()
    todo = add_todo(host, model, chat, "old task")
    turn = ask_to_delete(
        host, model, chat, todo, extra_calls=(tool_call("AddTodo", {"taskDescription": "new task"}),)
    ).json()
    assert turn["status"] == "requires_action"
    assert live_todos(host, chat) == ["new task", "old task"]
    model.responder = lambda body: ScriptedReply(content="second turn")
    queued = host.http.post(f"{host.api}/chats/{chat}", params={"timeoutSeconds": "0"}, json={"message": "next"})
    assert queued.status_code == 202
    time.sleep(0.5)
    assert httpx.get(queued.json()["statusQueryGetUri"]).json()["runtimeStatus"] == "Running"
    assert host.http.get(f"{host.api}/chats/{chat}").json()["pendingTurns"] == 1
    assert decide(host, chat, turn["id"], True).status_code == 202
    assert wait_done(host, turn["statusQueryGetUri"])["output"]["reply"] == "Done."
    assert wait_done(host, queued.json()["statusQueryGetUri"])["output"]["reply"] == "second turn"
    assert live_todos(host, chat) == ["new task"]


def test_decisions_that_cannot_be_taken_are_refused_clearly(assistant_host: AssistantHost, model: FakeOpenAI) -> None:
    """Bad body 400; unknown turn 404; unknown call 409; the same decision twice 202, another 409; finished turn 409."""
    host = assistant_host
    chat = host.new_chat()
    first, second = add_todo(host, model, chat, "one"), add_todo(host, model, chat, "two")
    turn = ask_to_delete(
        host, model, chat, second, extra_calls=(tool_call("DeleteTodo", {"todoId": first}, call_id="del-0"),)
    ).json()
    assert [c["toolCallId"] for c in turn["requiresAction"]["toolCalls"]] == ["del-0", "del-1"]
    turn_id = turn["id"]
    url = f"{host.api}/chats/{chat}/turns/{turn_id}/approvals"
    assert host.http.post(url, json={"decisions": [{"toolCallId": "del-1", "approve": "yes"}]}).status_code == 400
    assert host.http.post(url, json={}).status_code == 400
    assert decide(host, chat, turn_instance_id(chat, None), True).status_code == 404
    unknown = decide(host, chat, turn_id, True, call="nope")
    assert unknown.status_code == 409 and "no call 'nope'" in unknown.json()["error"]
    assert decide(host, chat, turn_id, False, "no", call="del-0").status_code == 202
    assert decide(host, chat, turn_id, False, "no", call="del-0").status_code == 202  # the same decision again
    other = decide(host, chat, turn_id, True, call="del-0")
    assert other.status_code == 409 and "already denied" in other.json()["error"]
    waiting = host.http.get(f"{host.api}/chats/{chat}").json()["requiresAction"]
    assert [c["toolCallId"] for c in waiting["toolCalls"]] == ["del-1"]
    assert decide(host, chat, turn_id, True).status_code == 202
    wait_done(host, turn["statusQueryGetUri"])
    late = decide(host, chat, turn_id, True)
    assert late.status_code == 409 and "finished" in late.json()["error"]
    assert live_todos(host, chat) == ["one"]


def test_cancel_a_queued_a_running_and_a_waiting_turn(assistant_host: AssistantHost, model: FakeOpenAI) -> None:
    """Each cancel is a 202; nothing of the cancelled turns is written; their POSTs say 409 cancelled; the next turn
    runs; a finished turn cannot be cancelled; the stream ends with turn.cancelled."""
    host = assistant_host
    chat = host.new_chat()

    def respond(body: dict[str, Any]) -> ScriptedReply:
        user = [m["content"] for m in body["messages"] if m["role"] == "user"][-1]
        # Under the host's 1.5 s model timeout: a slower answer would be asked again by the client's retry,
        # after this test, and take a later test's scripted reply.
        return ScriptedReply(content=f"reply to {user}", delay=1.2 if user == "slow" else 0.0)

    model.responder = respond
    answers: dict[str, httpx.Response] = {}

    def post(message: str) -> None:
        answers[message] = httpx.post(f"{host.api}/chats/{chat}", json={"message": message}, timeout=30)

    running = threading.Thread(target=post, args=("slow",))
    running.start()
    time.sleep(0.4)
    queued = host.http.post(
        f"{host.api}/chats/{chat}", params={"timeoutSeconds": "0"}, json={"message": "queued"}
    ).json()
    state = host.http.get(f"{host.api}/chats/{chat}").json()
    slow_turn = state["turns"][0]["turnId"]
    assert [t["state"] for t in state["turns"]] == ["running", "queued"]
    assert host.http.post(f"{host.api}/chats/{chat}/turns/{queued['id']}/cancel").json()["was"] == "queued"
    cancelled = host.http.post(f"{host.api}/chats/{chat}/turns/{slow_turn}/cancel")
    assert cancelled.status_code == 202 and cancelled.json()["was"] == "running"
    running.join(30)
    assert answers["slow"].status_code == 409 and "cancelled" in answers["slow"].json()["error"]
    assert wait_done(host, queued["statusQueryGetUri"])["output"]["cancelled"] is True
    with (
        httpx.Client(timeout=30) as http,
        connect_sse(http, "GET", f"{host.api}/chats/{chat}/turns/{slow_turn}/events") as source,
    ):
        kinds = [s.event for s in source.iter_sse()]
    assert kinds[-1] == "turn.cancelled"
    assert host.http.post(f"{host.api}/chats/{chat}", json={"message": "after"}).text == "reply to after"
    state = host.http.get(f"{host.api}/chats/{chat}").json()
    assert [m["content"] for m in state["recentMessages"][1:]] == ["after", "reply to after"]
    finished = host.http.post(f"{host.api}/chats/{chat}/turns/{slow_turn}/cancel")
    assert finished.status_code == 409
    model.responder = None
    todo = add_todo(host, model, chat, "keep me")
    waiting = ask_to_delete(host, model, chat, todo).json()
    assert host.http.post(f"{host.api}/chats/{chat}/turns/{waiting['id']}/cancel").json()["was"] == "running"
    assert wait_done(host, waiting["statusQueryGetUri"])["output"]["cancelled"] is True
    assert live_todos(host, chat) == ["keep me"]
    assert host.http.get(f"{host.api}/chats/{chat}").json()["requiresAction"] is None


def test_a_chat_offers_only_its_skills(assistant_host: AssistantHost, model: FakeOpenAI) -> None:
    """PUT skills: only those are offered; a call to another is an unknown tool that never runs; unknown names 400."""
    host = assistant_host
    bad = host.http.put(f"{host.api}/chats/scoped-bad", json={"skills": ["GetTodos", "Fly"]})
    assert bad.status_code == 400 and "Fly" in bad.json()["error"] and "AddTodo" in bad.json()["error"]
    chat = host.new_chat()
    assert host.http.put(f"{host.api}/chats/{chat}", json={"skills": ["GetTodos"]}).status_code == 202
    assert host.http.get(f"{host.api}/chats/{chat}").json()["skills"] == ["GetTodos"]
    model.call_tools(tool_call("AddTodo", {"taskDescription": "sneaky"}, call_id="s1")).reply("could not")
    host.http.post(f"{host.api}/chats/{chat}", json={"message": "add sneaky"})
    assert [t["function"]["name"] for t in model.requests[0]["tools"]] == ["GetTodos"]
    assert "no tool named 'AddTodo'" in model.requests[1]["messages"][-1]["content"]
    assert live_todos(host, chat) == []
    listed = {s["name"]: s for s in host.http.get(f"{host.api}/skills").json()}
    assert listed["DeleteTodo"]["approval"] == "always" and listed["CompleteTodo"]["approval"] == "never"
    assert listed["CompleteTodo"]["parameters"]["required"] == ["todoId"]


def test_patch_keeps_the_history_and_changes_the_next_prompt_and_put_is_a_fresh_start(
    assistant_host: AssistantHost, model: FakeOpenAI
) -> None:
    """PATCH instructions: the system message is replaced in place, messages stay, the next prompt uses it;
    PUT on the chat resets it, todos included."""
    host = assistant_host
    chat = host.new_chat("Be formal.")
    add_todo(host, model, chat, "keep")
    before = host.http.get(f"{host.api}/chats/{chat}").json()
    patched = host.http.patch(f"{host.api}/chats/{chat}", json={"instructions": "Be brief.", "skills": ["GetTodos"]})
    assert patched.status_code == 200, patched.text
    after = patched.json()
    assert after["recentMessages"][0]["content"] == "Be brief." and after["instructions"] == "Be brief."
    assert [m["content"] for m in after["recentMessages"][1:]] == [m["content"] for m in before["recentMessages"][1:]]
    assert after["lastUpdatedAt"] > before["lastUpdatedAt"] and after["skills"] == ["GetTodos"]
    model.reply("ok")
    host.http.post(f"{host.api}/chats/{chat}", json={"message": "hello"})
    assert model.requests[-1]["messages"][0] == {"role": "system", "content": "Be brief."}
    assert host.http.patch(f"{host.api}/chats/{chat}", json={}).status_code == 400
    assert host.http.patch(f"{host.api}/chats/nope-{chat}", json={"instructions": "x"}).status_code == 404
    assert live_todos(host, chat) == ["keep"]
    assert host.http.put(f"{host.api}/chats/{chat}", json={}).status_code == 202
    assert live_todos(host, chat) == [] and host.http.get(f"{host.api}/chats/{chat}").json()["totalMessages"] == 1


def test_the_stream_shows_the_approval_events(assistant_host: AssistantHost, model: FakeOpenAI) -> None:
    """approval.required while the turn waits; approval.decided once decided; then the tool events and the text."""
    host = assistant_host
    chat = host.new_chat()
    todo = add_todo(host, model, chat, "stream me")
    turn = ask_to_delete(host, model, chat, todo).json()
    decided = threading.Timer(0.5, lambda: decide(host, chat, turn["id"], True))
    decided.start()
    with httpx.Client(timeout=30) as http, connect_sse(http, "GET", turn["eventsUrl"]) as source:
        events = [json.loads(s.data) for s in source.iter_sse()]
    decided.join()
    kinds = [e["type"] for e in events]
    assert [e["sequence"] for e in events] == list(range(1, len(events) + 1))
    required = kinds.index("approval.required")
    assert events[required]["toolCalls"][0]["name"] == "DeleteTodo"
    assert kinds.index("approval.decided") > required and events[kinds.index("approval.decided")]["approved"] is True
    assert kinds.index("tool_call.started") > kinds.index("approval.decided")
    assert kinds[-1] == "turn.completed", json.dumps(events[-1])


@pytest.fixture(scope="module")
def approvals_host(
    tmp_path_factory: pytest.TempPathFactory, azurite: Azurite, fake_model: FakeOpenAI
) -> Iterator[AssistantHost]:
    env = {"OPENAI_BASE_URL": fake_model.base_url, "CHAT_MODEL_DEPLOYMENT_NAME": "fake-gpt"}
    yield from start_assistant_host(tmp_path_factory, azurite, env)


def test_a_waiting_turn_survives_sigkill_before_and_after_the_decision(
    approvals_host: AssistantHost, fake_model: FakeOpenAI
) -> None:
    """devhost killed while the turn waits, approve, killed again: the todo is deleted exactly once, the turn
    completes."""
    host = approvals_host
    model = fake_model.reset()
    chat = host.new_chat()
    todo = add_todo(host, model, chat, "survive")
    turn = ask_to_delete(host, model, chat, todo, then="Deleted after all that.").json()
    host.devhost.kill()
    host.devhost.start()
    assert host.http.get(f"{host.api}/chats/{chat}").json()["requiresAction"]["turnId"] == turn["id"]
    assert decide(host, chat, turn["id"], True).status_code == 202
    host.devhost.kill()
    host.devhost.start()
    status = wait_done(host, turn["statusQueryGetUri"])
    assert status["output"]["reply"] == "Deleted after all that."
    tombstones = [r for r in rows(host, chat) if r.get("deletedBy")]
    assert len(tombstones) == 1 and live_todos(host, chat) == []
