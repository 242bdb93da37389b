"""The event model, the SSE wire format and the writer's coalescing (against Azurite)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from assistant.events import (
    DELTA,
    MESSAGE_COMPLETED,
    RESET,
    EventDraft,
    TurnEvent,
    final_text,
    sse_frame,
    tool_completed,
)
from assistant.ids import turn_instance_id
from storage.clients import reset_storage
from storage.event_log import (
    EventWriter,
    append_events,
    delete_turn_events,
    forget_chat_events,
    insert_events,
    read_events,
)
from tests.support.azurite import Azurite


def event(seq: int, kind: str, **data: object) -> TurnEvent:
    return TurnEvent(seq, kind, "t", "c", "2026-11-29T00:00:00.000000Z", dict(data))


def test_final_text_is_the_deltas_after_the_last_reset_and_the_last_tool_calling_message() -> None:
    """What a client shows: a reset voids the streamed text; a message that called tools starts a new one."""
    events = [
        event(1, DELTA, text="Let me "),
        event(2, MESSAGE_COMPLETED, content="Let me ", toolCalls=[{"id": "a"}]),
        event(3, DELTA, text="bro"),
        event(4, RESET, attempt=2),
        event(5, DELTA, text="Done, "),
        event(6, DELTA, text="ok."),
    ]
    assert final_text(events) == "Done, ok."


def test_sse_frames_carry_id_event_and_one_line_of_json() -> None:
    """`id: <sequence>`, `event: <type>`, `data: <json>` and a blank line; the JSON round-trips."""
    frame = sse_frame(event(7, DELTA, text="a\nb"))
    lines = frame.decode().split("\n")
    assert lines[:2] == ["id: 7", "event: message.delta"] and lines[3:] == ["", ""]
    assert TurnEvent.from_dict(json.loads(lines[2][len("data: ") :])) == event(7, DELTA, text="a\nb")
    assert len(tool_completed("x", "GetTodos", True, "r" * 10_000).data["result"]) == 4001


@pytest.fixture
def storage(azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)
    monkeypatch.setenv("TURN_EVENTS_TABLE", f"events{uuid.uuid4().hex[:8]}")
    reset_storage()
    yield
    reset_storage()


def test_writes_never_replace_and_reads_are_in_order(storage: None) -> None:
    """An event already at a sequence number stays (a re-run cannot change what a client read); reads follow `after`."""
    first, second, other = turn_instance_id("c", None), turn_instance_id("c", "k"), turn_instance_id("c-x", None)
    append_events(first, "c", 1, [EventDraft("turn.queued", {"position": 0}), EventDraft("turn.started")])
    append_events(first, "c", 2, [EventDraft("turn.started", {"again": True}), EventDraft(DELTA, {"text": "hi"})])
    events = read_events(first)
    assert [(e.sequence, e.type, e.data) for e in events] == [
        (1, "turn.queued", {"position": 0}),
        (2, "turn.started", {}),
        (3, DELTA, {"text": "hi"}),
    ]
    assert [e.sequence for e in read_events(first, after=2)] == [3]
    append_events(second, "c", 1, [EventDraft(DELTA, {"text": "x" * 70_000})])
    assert read_events(second)[0].data["text"] == "x" * 70_000
    append_events(other, "c-x", 1, [EventDraft("turn.started")])
    assert forget_chat_events("c") == 4 and read_events(first) == [] and len(read_events(other)) == 1
    assert delete_turn_events(other) == 1


def test_deltas_are_coalesced_into_at_most_one_write_per_interval(storage: None) -> None:
    """Pieces within 40 ms of the last write go out together; the writer's text equals what was given."""
    now = [0.0]
    writer = EventWriter("c-turn-9", "c", 1, clock=lambda: now[0], last_write=-1.0)
    for piece in ("a", "b", "c"):
        writer.delta(piece)
        now[0] += 0.01
    assert writer.flush_due() is not None and writer.flush_due() < 0.04
    now[0] += 0.05
    writer.delta("d")
    writer.finish_text("abcde", 2)
    assert [e.data["text"] for e in read_events("c-turn-9")] == ["a", "bcd"]  # "e" goes out with the next write
    writer.put([EventDraft(MESSAGE_COMPLETED, {"content": "abcde"})])
    events = read_events("c-turn-9")
    assert [(e.sequence, e.type) for e in events][-2:] == [(3, DELTA), (4, MESSAGE_COMPLETED)]
    assert [e.data["text"] for e in events if e.type == DELTA] == ["a", "bcd", "e"] and final_text(events) == "abcde"
    other = EventWriter("c-turn-8", "c", 1, clock=lambda: now[0])
    other.delta("wrong")
    other.finish_text("right", 2)
    other.flush()
    assert final_text(read_events("c-turn-8")) == "right"


def test_inserts_say_whether_anything_was_there_and_keep_what_was(storage: None) -> None:
    """When one of the events exists, the others are still written, the existing one is kept, and the insert says
    so (how a re-run of a model call knows it is one)."""
    drafts = [EventDraft("turn.started"), EventDraft(DELTA, {"text": "a"}), EventDraft(DELTA, {"text": "b"})]
    assert insert_events("c-turn-5", "c", 1, drafts) is True
    assert insert_events("c-turn-5", "c", 1, drafts[:1]) is False
    assert insert_events("c-turn-6", "c", 2, [EventDraft(DELTA, {"text": "first"})]) is True
    assert insert_events("c-turn-6", "c", 1, drafts) is False  # 2 was there: 1 and 3 are written, 2 stays
    assert [(e.sequence, e.data) for e in read_events("c-turn-6")] == [
        (1, {}),
        (2, {"text": "first"}),
        (3, {"text": "b"}),
    ]


def test_readers_send_events_in_sequence_waiting_for_one_written_late() -> None:
    """5 read before 4 (two tool calls write in parallel): 4 is waited for; a gap that lasts, or one the terminal
    event closes, is skipped."""
    from api.feed import GAP_SECONDS, in_order
    from assistant.events import TURN_COMPLETED

    def event(sequence: int, kind: str = "tool_call.started") -> TurnEvent:
        return TurnEvent(
            sequence=sequence, type=kind, turn_id="t", chat_id="c", data={}, created_at="2026-11-30T12:00:00Z"
        )

    sent, gap = in_order([event(3), event(5)], 2, None, 100.0)
    assert [e.sequence for e in sent] == [3] and gap == 100.0
    sent, gap = in_order([event(5)], 3, gap, 101.0)
    assert sent == [] and gap == 100.0
    sent, gap = in_order([event(4), event(5)], 3, gap, 102.0)
    assert [e.sequence for e in sent] == [4, 5] and gap is None
    sent, gap = in_order([event(7)], 5, 100.0, 100.0 + GAP_SECONDS)
    assert [e.sequence for e in sent] == [7] and gap is None  # the missing 6 never came
    sent, _ = in_order([event(9), event(10, TURN_COMPLETED)], 7, None, 0.0)
    assert [e.sequence for e in sent] == [9, 10]  # the turn has ended: nothing more will come


def test_a_model_call_run_again_finds_what_its_earlier_run_wrote(storage: None) -> None:
    """The preface's insert tells a first run from a re-run: a first run asks the model and writes its text and
    `message.completed` after the preface; a re-run after `message.completed` returns it without asking again; a
    re-run after streamed text only voids it (`message.reset`) and streams anew. Without a preface, it reads."""
    from activities.chat_completion import _ask_streaming
    from assistant.payloads import CompletionResult, EventTarget

    asked: list[str] = []

    def model(text: str, *, fail_after: str | None = None):  # type: ignore[no-untyped-def]
        def ask(wire, tools, max_tokens, max_reply, on_delta):  # type: ignore[no-untyped-def]
            asked.append(text)
            on_delta(text[:2])
            if fail_after is not None:
                raise RuntimeError(fail_after)
            on_delta(text[2:])
            return CompletionResult(content=text, model="m")

        return ask

    target = EventTarget("c-turn-20", "c", 1, (EventDraft("turn.started"),))
    first = _ask_streaming(target, [], [], None, 1000, model("hello"))
    events = read_events("c-turn-20")
    assert asked == ["hello"] and first.content == "hello" and first.last_sequence == events[-1].sequence
    assert events[0].type == "turn.started" and events[-1].type == MESSAGE_COMPLETED and final_text(events) == "hello"
    again = _ask_streaming(target, [], [], None, 1000, model("other"))
    assert asked == ["hello"] and again.content == "hello" and read_events("c-turn-20") == events

    broken = EventTarget("c-turn-21", "c", 1, (EventDraft("turn.started"),))
    with pytest.raises(RuntimeError):
        _ask_streaming(broken, [], [], None, 1000, model("partial", fail_after="the worker died"))
    assert [e.type for e in read_events("c-turn-21")] == ["turn.started", DELTA]
    done = _ask_streaming(broken, [], [], None, 1000, model("complete"))
    events = read_events("c-turn-21")
    assert done.content == "complete" and RESET in [e.type for e in events] and final_text(events) == "complete"

    later = EventTarget("c-turn-21", "c", events[-1].sequence + 1)  # the next model call of that turn: no preface
    _ask_streaming(later, [], [], None, 1000, model("next"))
    rerun = _ask_streaming(later, [], [], None, 1000, model("never"))
    assert rerun.content == "next" and "never" not in asked


def test_events_written_together_share_a_row_and_read_back_one_by_one(storage: None) -> None:
    """A preface and a call's last text with its `message.completed` are one insert (rows of up to GROUP events);
    reads from any point, the tail and a re-run that meets a taken row see every event once, in order."""
    from storage.event_log import tail_sequence
    from storage.event_log.rows import GROUP, events_table

    def rows(turn: str) -> list[tuple[int, int]]:
        found = events_table().query_entities(f"PartitionKey eq '{turn}'", select=["RowKey", "count"])
        return sorted((int(r["RowKey"]), int(r.get("count") or 1)) for r in found)

    preface = [EventDraft("turn.queued", {"position": 0}), EventDraft("turn.started")] + [
        EventDraft("tool_call.started", {"toolCallId": str(i)}) for i in range(GROUP + 1)
    ]
    assert insert_events("c-turn-30", "c", 1, preface, together=True) is True
    assert rows("c-turn-30") == [(1, GROUP), (1 + GROUP, len(preface) - GROUP)]
    writer = EventWriter("c-turn-30", "c", len(preface) + 1, clock=lambda: 0.0, last_write=0.0)
    writer.delta("hel")
    writer.finish_text("hello", 2)
    writer.put([EventDraft(MESSAGE_COMPLETED, {"content": "hello"})])
    assert rows("c-turn-30")[-1] == (len(preface) + 1, 2)  # the text and message.completed: one row
    events = read_events("c-turn-30")
    assert [e.sequence for e in events] == list(range(1, len(preface) + 3))
    assert [e.type for e in events][:2] == ["turn.queued", "turn.started"] and events[0].data == {"position": 0}
    assert final_text(events) == "hello" and tail_sequence("c-turn-30") == len(preface) + 2
    for after in range(len(preface) + 2):
        assert [e.sequence for e in read_events("c-turn-30", after)] == list(range(after + 1, len(preface) + 3))
    # A row of several whose first place is taken (an earlier run wrote its first event alone): the others are
    # written one by one, the taken one stays, and the insert says something was there.
    append_events("c-turn-31", "c", 1, [EventDraft("turn.started", {"run": 1})])
    drafts = [
        EventDraft("turn.started", {"run": 2}),
        EventDraft(DELTA, {"text": "x"}),
        EventDraft(DELTA, {"text": "y"}),
    ]
    assert insert_events("c-turn-31", "c", 1, drafts, together=True) is False
    assert [(e.sequence, e.data) for e in read_events("c-turn-31")] == [
        (1, {"run": 1}),
        (2, {"text": "x"}),
        (3, {"text": "y"}),
    ]
    assert rows("c-turn-31") == [(1, 1), (2, 1), (3, 1)]


def test_large_events_keep_rows_of_their_own(storage: None) -> None:
    """Events whose JSON together would pass GROUP_CHARS are not grouped (a row holds at most 1 MiB)."""
    from storage.event_log.rows import GROUP_CHARS, events_table

    big = "b" * (GROUP_CHARS // 2 + 10)
    drafts = [
        EventDraft(DELTA, {"text": big}),
        EventDraft(MESSAGE_COMPLETED, {"content": big}),
        EventDraft(DELTA, {"text": "s"}),
    ]
    insert_events("c-turn-40", "c", 1, drafts, together=True)
    found = events_table().query_entities("PartitionKey eq 'c-turn-40'", select=["RowKey", "count"])
    assert sorted((int(r["RowKey"]), int(r.get("count") or 1)) for r in found) == [(1, 1), (2, 2)]
    assert [(e.type, len(json.dumps(e.data))) for e in read_events("c-turn-40")] == [
        (DELTA, len(json.dumps({"text": big}))),
        (MESSAGE_COMPLETED, len(json.dumps({"content": big}))),
        (DELTA, 13),
    ]
