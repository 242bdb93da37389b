"""The live paths' storage budgets, counted: what a waiting POST, an SSE stream, a JSON long poll, a turn waiting for a
person and a queued turn read while a turn runs.

The turn streams a 60-word reply (0.5 s to the first word, 50 ms between words: ~3.5 s), as the issue measured. Table
storage goes through a counting proxy (`tests.support.storage_proxy`); status reads are devhost's count of the app's
management calls, those a worker answered from its cache included (`GET /admin/host/durable/managementcalls`): on
Azure each is a call to the host and a read of the Durable backend's store. The reader and the writer are kept apart
as on Azure, where HTTP and Durable functions scale separately: `CHAT_LIVE_WAKE=off` stops the turn's writers from
handing its readers anything in-process, so every reader polls. One test runs with the wake-up on and checks readers
then read (almost) nothing.

The budgets (issue 24): a waiting POST at most 3 status reads a second over the turn and at most one per 0.5 s after its
first second; a stream or a long poll at most 3 storage reads a second, the readers of one turn in one process sharing
one poller; a turn waiting for a person or queued behind another: no storage read, no management call and no durable
work while it waits.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse

from tests.assistant.conftest import AssistantHost, start_assistant_host
from tests.assistant.test_e2e_approvals import add_todo, ask_to_delete
from tests.support.azurite import Azurite
from tests.support.fake_openai import FakeOpenAI, ScriptedReply, tool_call
from tests.support.storage_proxy import StorageProxy

EVENTS_TABLE = "turnevents"
WORDS = 60
FIRST_WORD_SECONDS = 0.5
WORD_SECONDS = 0.05
READS_PER_SECOND = 3.0
STEADY_GAP = 0.5
CALLS = "/admin/host/durable/managementcalls"
WORK_ITEMS = "/admin/host/durable/workitems"


@dataclass
class Counted:
    """The app on devhost, its tables behind a counting proxy."""

    host: AssistantHost
    proxy: StorageProxy

    def calls(self) -> dict[str, Any]:
        response = self.host.http.get(self.host.devhost.base_url + CALLS)
        assert response.status_code == 200, response.text
        return response.json()

    def status_reads(self, instance: str) -> dict[str, Any]:
        return self.calls()["statusReads"].get(instance, {"count": 0, "cached": 0, "times": []})

    def work_items(self) -> dict[str, int]:
        return self.host.http.get(self.host.devhost.base_url + WORK_ITEMS).json()

    def event_reads(self, since: float) -> int:
        return self.proxy.count(lambda r: r.table == EVENTS_TABLE and r.method == "GET", since)


def _start(tmp: pytest.TempPathFactory, azurite: Azurite, model: FakeOpenAI, wake: str) -> Iterator[Counted]:
    with StorageProxy(azurite) as proxy:
        env = {"OPENAI_BASE_URL": model.base_url, "CHAT_MODEL_DEPLOYMENT_NAME": "fake-gpt"}
        extra = {
            "AzureWebJobsStorage": proxy.connection_string,
            "CHAT_LIVE_WAKE": wake,
            "CHAT_MODEL_TIMEOUT_SECONDS": "10",
            "CHAT_SUMMARY": "off",
        }
        for host in start_assistant_host(tmp, azurite, env, extra_env=extra):
            yield Counted(host, proxy)


@pytest.fixture(scope="module")
def budget_model() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="module")
def apart(tmp_path_factory: pytest.TempPathFactory, azurite: Azurite, budget_model: FakeOpenAI) -> Iterator[Counted]:
    """Readers and writers as if in different processes (`CHAT_LIVE_WAKE=off`)."""
    yield from _start(tmp_path_factory, azurite, budget_model, "off")


@pytest.fixture(scope="module")
def together(tmp_path_factory: pytest.TempPathFactory, azurite: Azurite, budget_model: FakeOpenAI) -> Iterator[Counted]:
    """Readers and writers in one worker, the wake-up on (the default)."""
    yield from _start(tmp_path_factory, azurite, budget_model, "on")


@pytest.fixture
def model(budget_model: FakeOpenAI) -> FakeOpenAI:
    return budget_model.reset()


SENTENCE = " ".join(f"w{i}" for i in range(WORDS))


def _script_stream(model: FakeOpenAI) -> None:
    model.script(ScriptedReply(content=SENTENCE, delay=FIRST_WORD_SECONDS, token_delay=WORD_SECONDS))


def _stream(counted: Counted, url: str, method: str = "GET", body: Any = None) -> tuple[list[tuple[str, dict]], float]:
    """Follow an SSE response to its end: the events and when the last arrived (monotonic)."""
    events: list[tuple[str, dict]] = []
    with (
        httpx.Client(timeout=60) as http,
        connect_sse(http, method, url, json=body, headers={"Accept": "text/event-stream"}) as source,
    ):
        for sse in source.iter_sse():
            events.append((sse.event, json.loads(sse.data)))
    return events, time.monotonic()


def _turn_running(counted: Counted, chat: str) -> str:
    """Start a streamed turn with a plain POST that does not wait (202): its id."""
    response = counted.host.http.post(
        f"{counted.host.api}/chats/{chat}", params={"timeoutSeconds": 0}, json={"message": "talk to me"}
    )
    assert response.status_code == 202, response.text
    return response.json()["id"]


def test_a_waiting_post_reads_the_status_within_its_budget(apart: Counted, model: FakeOpenAI) -> None:
    """A plain POST waiting for a ~3.5 s turn: at most 3 status reads a second, at most one per 0.5 s after its first
    second, and the reply returned. (Nobody streams it, so the model is asked without streaming: its reply takes
    the stream's whole time.)"""
    chat = apart.host.new_chat()
    model.script(ScriptedReply(content=SENTENCE, delay=FIRST_WORD_SECONDS + WORDS * WORD_SECONDS))
    started = time.time()
    response = apart.host.http.post(
        f"{apart.host.api}/chats/{chat}", json={"message": "talk to me"}, headers={"Accept": "application/json"}
    )
    ended = time.time()
    assert response.status_code == 200, (response.headers, response.text[:500])
    assert response.json()["reply"] == SENTENCE, response.text
    turn = response.json()["instanceId"]
    reads = apart.status_reads(turn)
    elapsed = ended - started
    assert elapsed > 3.0, elapsed  # the turn took as long as the model streamed
    assert reads["count"] <= READS_PER_SECOND * elapsed, (reads["count"], elapsed)
    late = [t for t in reads["times"] if t > started + 1.0]
    gaps = [b - a for a, b in itertools.pairwise(late)]
    assert gaps and min(gaps) >= STEADY_GAP - 0.05, gaps
    print(f"\nwaiting POST: {reads['count']} status reads in {elapsed:.2f} s ({reads['cached']} from a worker's cache)")


def test_one_stream_reads_storage_within_its_budget(apart: Counted, model: FakeOpenAI) -> None:
    """An SSE stream of the turn (POST with `Accept: text/event-stream`): every word, and at most 3 storage reads a
    second (the event log's table and the turn's status) over the turn."""
    chat = apart.host.new_chat()
    _script_stream(model)
    since, started = time.monotonic(), time.time()
    events, _ = _stream(apart, f"{apart.host.api}/chats/{chat}", "POST", {"message": "talk to me"})
    elapsed = time.time() - started
    kinds = [kind for kind, _ in events]
    assert kinds[-1] == "turn.completed" and kinds.count("message.delta") >= WORDS // 2, kinds
    turn = events[0][1]["turnId"]
    table_reads = apart.event_reads(since)
    status = apart.status_reads(turn)["count"]
    assert table_reads + status <= READS_PER_SECOND * elapsed, (table_reads, status, elapsed)
    print(f"\none stream: {table_reads} event-log reads + {status} status reads in {elapsed:.2f} s")


def test_ten_streams_of_one_turn_share_one_poller(apart: Counted, model: FakeOpenAI) -> None:
    """Ten SSE readers of one turn in one process: the storage reads of all ten stay within one reader's budget,
    and every reader gets the whole reply."""
    chat = apart.host.new_chat()
    _script_stream(model)
    started = time.time()  # the turn's start: the budget is averaged over the turn
    turn = _turn_running(apart, chat)
    before = apart.status_reads(turn)["count"]  # the POST's own (a waiting POST's budget)
    since = time.monotonic()
    results: list[list[tuple[str, dict]]] = []

    def read() -> None:
        results.append(_stream(apart, f"{apart.host.api}/chats/{chat}/turns/{turn}/events")[0])

    readers = [threading.Thread(target=read) for _ in range(10)]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join(60)
    elapsed = time.time() - started
    assert len(results) == 10
    for events in results:
        assert events[-1][0] == "turn.completed" and events[-1][1]["reply"] == SENTENCE
    table_reads = apart.event_reads(since)
    status = apart.status_reads(turn)["count"] - before
    assert table_reads + status <= READS_PER_SECOND * elapsed, (table_reads, status, elapsed)
    assert status <= 3, status  # ten requests arriving together check the turn's chat with one read
    print(f"\nten streams: {table_reads} event-log reads + {status} status reads in {elapsed:.2f} s")


def test_a_long_poll_reads_storage_within_its_budget(apart: Counted, model: FakeOpenAI) -> None:
    """JSON long polls following the turn to its end: at most 3 storage reads a second over the turn, every poll's
    own checks included (a turn's chat, once found, and where its log ends are known to the process)."""
    chat = apart.host.new_chat()
    _script_stream(model)
    started = time.time()
    turn = _turn_running(apart, chat)
    before = apart.status_reads(turn)["count"]
    since = time.monotonic()
    seen: list[dict[str, Any]] = []
    polls = 0
    while not seen or seen[-1]["type"] != "turn.completed":
        page = apart.host.http.get(
            f"{apart.host.api}/chats/{chat}/turns/{turn}/events",
            headers={"Accept": "application/json"},
            params={"after": seen[-1]["sequence"] if seen else 0, "waitSeconds": 25},
        )
        assert page.status_code == 200, page.text
        seen += page.json()
        polls += 1
    elapsed = time.time() - started
    assert seen[-1]["reply"] == SENTENCE
    table_reads = apart.event_reads(since)
    status = apart.status_reads(turn)["count"] - before
    assert polls > 3, polls  # the words came over several polls: each one's checks count
    assert table_reads + status <= READS_PER_SECOND * elapsed, (table_reads, status, polls, elapsed)
    print(f"\nlong polls: {polls} polls, {table_reads} event-log reads + {status} status reads in {elapsed:.2f} s")


def _quiet_window(counted: Counted, seconds: float) -> tuple[int, dict[str, Any], dict[str, int]]:
    """Storage requests, management calls and durable work items over `seconds` of waiting (outside the app's
    cleanup timer, which runs every 10 minutes on the minute: an idle cost, not the wait's)."""
    to_cleanup = 600 - time.time() % 600
    if to_cleanup < seconds + 2:
        time.sleep(to_cleanup + 5)
    calls_before, items_before = counted.calls()["calls"], counted.work_items()
    since = time.monotonic()
    time.sleep(seconds)
    storage = counted.proxy.count(lambda r: True, since)
    calls_after, items_after = counted.calls()["calls"], counted.work_items()
    calls = {
        f"{source}.{op}": n - calls_before.get(source, {}).get(op, 0)
        for source, ops in calls_after.items()
        for op, n in ops.items()
        if n != calls_before.get(source, {}).get(op, 0)
    }
    items = {k: v - items_before.get(k, 0) for k, v in items_after.items() if v != items_before.get(k, 0)}
    return storage, calls, items


def test_a_turn_waiting_for_a_person_and_one_queued_behind_it_cost_nothing_while_they_wait(
    apart: Counted, model: FakeOpenAI
) -> None:
    """A turn waits for an approval, another is queued behind it: over 3 s of waiting, no storage request, no
    management call and no durable work (a queued turn's one timer is 30 s away)."""
    chat = apart.host.new_chat()
    todo = add_todo(apart.host, model, chat, "water the ferns")
    waiting = ask_to_delete(apart.host, model, chat, todo)
    assert waiting.status_code == 202 and waiting.json()["status"] == "requires_action", waiting.text
    queued = _turn_running(apart, chat)
    time.sleep(1.0)  # let the queued turn take its place and settle
    storage, calls, items = _quiet_window(apart, 3.0)
    assert (storage, calls, items) == (0, {}, {}), (storage, calls, items)
    reads = apart.status_reads(queued)
    assert reads["count"] <= 4, reads  # its POST's own, until it held its place


def test_readers_in_the_writers_process_are_handed_the_words(together: Counted, model: FakeOpenAI) -> None:
    """With the writer in the reader's process (the wake-up on), a stream reads the event log at most a few times
    (its first read, and after a push it could not use), not on every poll."""
    chat = together.host.new_chat()
    _script_stream(model)
    since = time.monotonic()
    events, _ = _stream(together, f"{together.host.api}/chats/{chat}", "POST", {"message": "talk to me"})
    assert events[-1][0] == "turn.completed"
    table_reads = together.event_reads(since)
    assert table_reads <= 3, table_reads
    print(f"\none stream, woken: {table_reads} event-log reads")


def test_an_open_stream_of_a_turn_waiting_for_a_person_reads_once_a_second(apart: Counted, model: FakeOpenAI) -> None:
    """A stream left open on a turn that waits for an approval reads storage about once a second (nothing is written
    until someone decides), not at the live rate."""
    chat = apart.host.new_chat()
    todo = add_todo(apart.host, model, chat, "water the ferns")
    waiting = ask_to_delete(apart.host, model, chat, todo)
    assert waiting.status_code == 202, waiting.text
    turn = waiting.json()["id"]
    before = apart.status_reads(turn)["count"]
    since = time.monotonic()
    seconds = 4.0
    kinds: list[str] = []
    with (  # the stream goes quiet after its first events: it is left open until the read times out
        httpx.Client(timeout=httpx.Timeout(30, read=seconds)) as http,
        connect_sse(
            http, "GET", f"{apart.host.api}/chats/{chat}/turns/{turn}/events", headers={"Accept": "text/event-stream"}
        ) as source,
        contextlib.suppress(httpx.ReadTimeout),
    ):
        for sse in source.iter_sse():
            kinds.append(sse.event)
    elapsed = time.monotonic() - since
    assert "approval.required" in kinds, kinds
    reads = apart.event_reads(since) + apart.status_reads(turn)["count"] - before
    assert reads <= elapsed * 1.0 + 2, (reads, elapsed)  # the request's check and first read, then 1 a second


def test_a_turn_nobody_streams_writes_no_events_and_a_late_reader_gets_its_record(
    apart: Counted, model: FakeOpenAI
) -> None:
    """A plain POST's turn (a tool call, then text) writes nothing to the event log while it runs and asks the model
    whole; a reader afterwards gets the turn's record, written once by the first reader: the model's messages, the
    tool call, `turn.completed`, numbered from 1."""
    chat = apart.host.new_chat()
    since = time.monotonic()
    model.call_tools(tool_call("AddTodo", {"taskDescription": "water the ferns"})).reply("added water the ferns")
    answer = apart.host.http.post(
        f"{apart.host.api}/chats/{chat}", json={"message": "add it"}, headers={"Accept": "application/json"}
    )
    assert answer.status_code == 200, answer.text
    turn = answer.json()["instanceId"]
    assert all(not request.get("stream") for request in model.requests)
    assert apart.proxy.count(lambda r: r.table == EVENTS_TABLE, since) == 0
    url = f"{apart.host.api}/chats/{chat}/turns/{turn}/events"
    first = apart.host.http.get(url, headers={"Accept": "application/json"}).json()
    kinds = [e["type"] for e in first]
    assert kinds == ["message.completed", "tool_call.started", "tool_call.completed", "message.completed"] + [
        "turn.completed"
    ], kinds
    assert [e["sequence"] for e in first] == [1, 2, 3, 4, 5]
    assert first[0]["toolCalls"][0]["name"] == "AddTodo" and first[2]["ok"] is True
    assert first[1]["toolCallId"] == first[2]["toolCallId"] == first[0]["toolCalls"][0]["id"]
    assert first[-1]["reply"] == "added water the ferns" == first[-2]["content"]
    again = apart.host.http.get(url, headers={"Accept": "application/json"}).json()
    assert again == first
    assert apart.proxy.count(lambda r: r.table == EVENTS_TABLE and r.method == "POST", since) == 2  # once: 2 rows


def test_a_reader_of_a_running_turn_makes_its_next_steps_live(apart: Counted, model: FakeOpenAI) -> None:
    """A plain POST that stops waiting (202) on a slow tool-calling answer; a stream of its events asks the turn for
    them: the next model call streams (`turn.started`, deltas, `message.completed`), then `turn.completed`."""
    chat = apart.host.new_chat()
    model.script(
        ScriptedReply(tool_calls=(tool_call("GetTodos", {}),), delay=1.5),
        ScriptedReply(content=SENTENCE, delay=0.2, token_delay=0.01),
    )
    accepted = apart.host.http.post(
        f"{apart.host.api}/chats/{chat}", params={"timeoutSeconds": 0.5}, json={"message": "what is on my list?"}
    )
    assert accepted.status_code == 202, accepted.text
    events, _ = _stream(apart, accepted.json()["eventsUrl"])
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "turn.started" and "message.delta" in kinds and kinds[-1] == "turn.completed", kinds
    assert [data["sequence"] for _, data in events] == list(range(1, len(events) + 1))
    assert events[-1][1]["reply"] == SENTENCE
    assert model.requests[0].get("stream") is not True and model.requests[1].get("stream") is True
