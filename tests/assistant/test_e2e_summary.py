"""End to end: a long chat keeps its memory in a running summary, within a budget from the model's context window.

Its own devhost: a 2,048-token context window with a 256-token completion cap (so a prompt may take
2,048 - 256 - 256 = 1,536 tokens), tool results cut at 200 tokens, a 16-message working window, a 10 s model
timeout (the kill test holds a summary call open). The scripted model answers summary requests by rule
(`tests.support.fake_openai.fold_summary`: the summary so far plus each folded user message that says "remember").
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from azure.data.tables import TableClient

from assistant.tokens import count_message_tokens, token_counter, tools_tokens
from tests.assistant.conftest import AssistantHost, start_assistant_host
from tests.assistant.test_e2e_history import as_message, entity_state
from tests.support.azurite import Azurite
from tests.support.fake_openai import FakeOpenAI, ScriptedReply, tool_call

BUDGET = 2_048 - 256 - 256
NOTE = "Summary of the earlier conversation"
FOLD = re.compile(r"\(messages (\d+) to (\d+)\)")


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory, azurite: Azurite, fake_model: FakeOpenAI) -> Iterator[AssistantHost]:
    env = {"OPENAI_BASE_URL": fake_model.base_url, "CHAT_MODEL_DEPLOYMENT_NAME": "fake-gpt"}
    extra = {
        "CHAT_MODEL_CONTEXT_TOKENS": "2048",
        "CHAT_MAX_COMPLETION_TOKENS": "256",
        "CHAT_TOOL_RESULT_TOKENS": "200",
        "CHAT_WORKING_MESSAGES": "16",
        "CHAT_MODEL_TIMEOUT_SECONDS": "10",
    }
    yield from start_assistant_host(tmp_path_factory, azurite, env, extra)


def used_tokens(request: dict[str, Any]) -> int:
    """What a request to the model took, counted exactly as the app counts (tiktoken, shipped encoding)."""
    count = token_counter("fake-gpt")
    return sum(count_message_tokens(as_message(m), count) for m in request["messages"]) + tools_tokens(
        request.get("tools") or [], count
    )


def note_of(request: dict[str, Any]) -> str | None:
    """The summary note a request carried (None: none)."""
    return next(
        (m["content"] for m in request["messages"] if m["role"] == "system" and m["content"].startswith(NOTE)), None
    )


def folds(model: FakeOpenAI) -> list[tuple[int, int]]:
    """The message ranges of the summary requests received, in order."""
    return [tuple(map(int, FOLD.search(r["messages"][-1]["content"]).groups())) for r in model.summary_requests]  # type: ignore[misc]


def folded_chain(summary: str) -> list[tuple[int, int]]:
    """The folds a summary written by the scripted model went through (each adds `- folded a-b`)."""
    return [(int(a), int(b)) for a, b in re.findall(r"^- folded (\d+)-(\d+)$", summary, re.M)]


def assert_folded_once(state: dict[str, Any]) -> None:
    """Every message from 1 to `summarizedThrough` went into the summary exactly once: the folds chain without
    gap or overlap."""
    chain = folded_chain(state["summary"])
    assert chain and chain[0][0] == 1 and chain[-1][1] == state["summarizedThrough"], chain
    assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(chain)), chain


def chat_state(host: AssistantHost, chat: str) -> dict[str, Any]:
    response = host.http.get(f"{host.api}/chats/{chat}")
    assert response.status_code == 200, response.text
    return response.json()


def wait_until(check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def turn_finished(host: AssistantHost, instance: str) -> bool:
    status = httpx.get(f"{host.devhost.base_url}/runtime/webhooks/durabletask/instances/{instance}").json()
    return status["runtimeStatus"] == "Completed"


def say(host: AssistantHost, chat: str, message: str) -> dict[str, Any]:
    response = host.http.post(
        f"{host.api}/chats/{chat}", json={"message": message}, headers={"Accept": "application/json"}
    )
    assert response.status_code == 200, response.text
    return response.json()


def talk_until_a_fold(host: AssistantHost, model: FakeOpenAI, chat: str, fact: str) -> list[dict[str, Any]]:
    """Turns of filler (the second one says `fact`) until the model gets a summary request; their answers."""
    answers: list[dict[str, Any]] = []
    while not model.summary_requests:
        index = len(answers) + 1
        answers.append(say(host, chat, fact if index == 2 else f"turn {index} " + "filler words here " * 8))
        assert index < 60
    return answers


FACTS = {
    3: "remember: my name is Ada Lovelace",
    90: "remember: my cat is called Turing",
    200: "remember: I live in Lyon",
}


@pytest.mark.slow
def test_a_long_chat_remembers_within_the_budget(host: AssistantHost, model: FakeOpenAI) -> None:
    """300 turns: every prompt within the budget (counted exactly); once turn 3 has left the prompt, every prompt
    carries
    the summary with its fact; each fact is folded exactly once; the folds chain without gaps; the entity stays
    small."""
    model.responder = lambda body: ScriptedReply(content="ok " + body["messages"][-1]["content"].split(":")[0])
    chat = host.new_chat("You are terse.")
    sizes: dict[int, int] = {}
    turn_3 = None
    for index in range(1, 301):
        message = FACTS.get(index, f"turn {index}: " + "some chatter to fill the window " * 3)
        if index in FACTS:
            message = f"turn {index}: {message}"
            turn_3 = turn_3 or message
        say(host, chat, message)
        if index in (100, 299):
            sizes[index] = len(entity_state(host, chat))
    chats = [r for r in model.requests if r["messages"][0]["content"] == "You are terse."]
    assert len(chats) == 300
    assert max(used_tokens(r) for r in chats) <= BUDGET
    gone = False
    for number, request in enumerate(chats, 1):
        verbatim = any(m["content"] == turn_3 for m in request["messages"])
        gone = gone or (number > 3 and not verbatim)
        if gone:  # turn 3 left the prompt: its fact must be in the summary from then on
            assert not verbatim and "my name is Ada Lovelace" in (note_of(request) or ""), number
    assert gone
    state = wait_until(lambda: (s := chat_state(host, chat)) and not s["turnInProgress"] and s)
    summary = state["summary"]
    for fact in FACTS.values():
        assert summary.count(fact) == 1, summary
    assert_folded_once(state)
    assert state["summarizedThrough"] > 500
    assert len(folds(model)) < 300 / 2  # folds come in batches, not per turn
    assert sizes[299] <= sizes[100] * 1.5, sizes


def test_a_failing_summary_does_not_fail_the_turn_and_a_later_turn_catches_up(
    host: AssistantHost, model: FakeOpenAI
) -> None:
    """The summary model refusing leaves the turn answered and the summary as it was; the next fold carries the fact."""
    model.responder = lambda body: ScriptedReply(content="ok")
    chat = host.new_chat("Be brief.")
    model.summary_status = 400
    answers = talk_until_a_fold(host, model, chat, "remember: the code word is heliotrope")
    assert all(a["reply"] == "ok" for a in answers)
    answer = answers[-1]
    wait_until(lambda: turn_finished(host, answer["instanceId"]))
    failed = chat_state(host, chat)
    assert failed["summary"] is None and failed["summarizedThrough"] == 0
    model.summary_status = 200
    answer = say(host, chat, "one more turn " + "filler words here " * 8)
    wait_until(lambda: turn_finished(host, answer["instanceId"]))
    caught_up = wait_until(lambda: (s := chat_state(host, chat))["summarizedThrough"] > 0 and s)
    assert caught_up["summary"].count("remember: the code word is heliotrope") == 1
    assert_folded_once(caught_up)
    assert folds(model)[0][0] == folds(model)[-1][0] == 1  # the failed fold and the one that caught up


def test_a_summary_call_cut_off_by_sigkill_is_folded_once(host: AssistantHost, model: FakeOpenAI) -> None:
    """devhost killed while the summarize activity waits for the model: after the restart it runs again, and the
    entity applies its fold once."""
    model.responder = lambda body: ScriptedReply(content="ok")
    chat = host.new_chat("Be brief.")
    model.summary_delay = 5.0
    talk_until_a_fold(host, model, chat, "remember: the door code is 4711")
    host.devhost.kill()
    model.summary_delay = 0.0
    host.devhost.restart()
    state = wait_until(lambda: (s := chat_state(host, chat))["summarizedThrough"] > 0 and s)
    ranges = folds(model)
    assert len(ranges) >= 2 and ranges[0] == ranges[-1] and state["summarizedThrough"] == ranges[0][1]
    assert state["summary"].count("remember: the door code is 4711") == 1
    assert_folded_once(state)


def test_a_200_kb_tool_result_is_cut_in_the_prompt_and_whole_in_the_chat(
    host: AssistantHost, model: FakeOpenAI, azurite: Azurite
) -> None:
    """GetTodos over 220 long todos answers 200+ KB: the model sees 200 tokens of it and a note; GET has all of it."""
    chat = host.new_chat("Be brief.")
    todos = TableClient.from_connection_string(azurite.connection_string, host.todo_table)
    for i in range(220):
        todos.upsert_entity(
            {
                "PartitionKey": chat,
                "RowKey": f"todo-{i:04}",
                "taskDescription": f"task {i} " + "z" * 950,
                "createdAt": "2026-11-30T12:00:00.000000Z",
                "done": False,
            }
        )
    model.call_tools(tool_call("GetTodos", {}, call_id="big")).reply("You have 220 todos.")
    say(host, chat, "what are my todos?")
    shown = model.requests[-1]["messages"][-1]
    assert shown["role"] == "tool"
    body, note = shown["content"].rsplit("\n[", 1)
    assert token_counter("fake-gpt")(body) <= 200 and note.startswith("result cut to its first 200 of")
    assert used_tokens(model.requests[-1]) <= BUDGET
    stored = [m for m in chat_state(host, chat)["recentMessages"] if m["role"] == "tool"]
    assert len(stored[0]["content"]) > 200_000 and stored[0]["content"].startswith(body)


@pytest.fixture(scope="module")
def offline_summary_host(tmp_path_factory: pytest.TempPathFactory, azurite: Azurite) -> Iterator[AssistantHost]:
    """The offline model with summaries asked for (`CHAT_SUMMARY=on`) and a small budget."""
    yield from start_assistant_host(
        tmp_path_factory, azurite, {}, {"CHAT_SUMMARY": "on", "CHAT_PROMPT_TOKEN_BUDGET": "1500"}
    )


def test_the_offline_model_keeps_a_summary_when_asked(offline_summary_host: AssistantHost) -> None:
    """With no account: after enough turns the chat has a summary holding what the user said about themselves."""
    host = offline_summary_host
    chat = host.new_chat()
    say(host, chat, "Hello! My name is Grace and I prefer short answers.")
    for index in range(40):
        say(host, chat, f"Tell me something about number {index}, please, in a few words if you can.")
    state = wait_until(lambda: (s := chat_state(host, chat))["summarizedThrough"] > 0 and not s["turnInProgress"] and s)
    assert "- My name is Grace and I prefer short answers." in state["summary"].splitlines()


def test_the_reply_does_not_wait_for_the_summary(host: AssistantHost, model: FakeOpenAI) -> None:
    """A turn whose fold takes 3 s answers before the fold is written (the summary is off the turn's critical path);
    the fold lands afterwards."""
    model.responder = lambda body: ScriptedReply(content="ok")
    chat = host.new_chat("Be brief.")
    model.summary_delay = 3.0
    answers: list[dict[str, Any]] = []
    while not model.summary_requests:
        answers.append(say(host, chat, f"turn {len(answers) + 1} " + "filler words here " * 8))
        assert answers[-1]["reply"] == "ok" and len(answers) < 60
    assert chat_state(host, chat)["summarizedThrough"] == 0  # answered while its fold was still being written
    # The turn writing the fold is still running: the last one, or the one before (its summary request may reach the
    # model just after its POST answered, while the next turn was already being sent).
    assert not all(turn_finished(host, a["instanceId"]) for a in answers[-2:])
    landed = wait_until(lambda: (s := chat_state(host, chat))["summarizedThrough"] > 0 and s)
    assert_folded_once(landed)
