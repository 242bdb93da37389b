"""Chat state transitions: create/reset, append a turn, the GET view."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from assistant.messages import ChatMessage, StoredMessages, ToolCall, format_utc, parse_utc
from assistant.state import DEFAULT_INSTRUCTIONS, ChatState, TurnRecord, Usage, append_turn, new_chat, view_chat

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def turn(turn_id: str, at: datetime, tokens: int = 7) -> TurnRecord:
    stamp = format_utc(at)
    call = ToolCall(id="call_1", name="AddTodo", arguments='{"taskDescription": "milk"}')
    return TurnRecord(
        turn_id=turn_id,
        messages=(
            ChatMessage(role="user", content="add milk", created_at=stamp),
            ChatMessage(role="assistant", content="", created_at=stamp, tool_calls=(call,)),
            ChatMessage(
                role="tool", content='{"added": true}', created_at=stamp, tool_call_id="call_1", name="AddTodo"
            ),
            ChatMessage(role="assistant", content="Added milk.", created_at=stamp),
        ),
        usage=Usage(5, 2, tokens),
    )


def test_new_chat_has_system_message_with_default_or_given_instructions() -> None:
    """Empty instructions fall back to the documented default."""
    assert new_chat("c", None, T0).messages[0].content == DEFAULT_INSTRUCTIONS
    assert new_chat("c", "  ", T0).instructions == DEFAULT_INSTRUCTIONS
    chat = new_chat("c", "Talk like a pirate.", T0)
    assert [(m.role, m.content) for m in chat.messages] == [("system", "Talk like a pirate.")]
    assert chat.created_at == chat.last_updated_at == "2026-11-20T12:00:00.000000Z"


def test_append_turn_orders_timestamps_counts_tokens_and_is_idempotent() -> None:
    """Same-instant messages get strictly increasing stamps; a repeated turn id changes nothing."""
    chat = append_turn(new_chat("c", None, T0), turn("t1", T0))
    stamps = [parse_utc(m.created_at) for m in chat.messages]
    assert all(a < b for a, b in itertools.pairwise(stamps))
    assert chat.total_tokens == 7 and chat.turn_ids == ("t1",)
    assert {m.turn_id for m in chat.messages[1:]} == {"t1"}
    assert append_turn(chat, turn("t1", T0)) is chat
    again = append_turn(chat, turn("t2", T0 + timedelta(seconds=5), tokens=3))
    assert again.total_tokens == 10 and len(again.messages) == 9
    assert again.last_updated_at == again.messages[-1].created_at


def test_state_round_trips_through_its_dict_form() -> None:
    """What the entity stores converts back to the same state."""
    chat = append_turn(new_chat("c", "be brief", T0), turn("t1", T0))
    assert ChatState.from_dict(chat.to_dict()) == chat


def test_view_filters_strictly_after_timestamp_and_reports_missing_chat() -> None:
    """`timestampUTC` keeps messages created strictly after it; unknown chats say exists false."""
    chat = append_turn(new_chat("c", None, T0), turn("t1", T0 + timedelta(seconds=1)))
    everything = view_chat("c", chat).to_dict()
    assert [m["role"] for m in everything["recentMessages"]] == ["system", "user", "assistant", "tool", "assistant"]
    assert everything["recentMessages"][2]["toolCalls"] == [
        {"id": "call_1", "functionName": "AddTodo", "arguments": '{"taskDescription": "milk"}'}
    ]
    after_user = parse_utc(chat.messages[1].created_at)
    later = view_chat("c", chat, after_user).to_dict()
    assert [m["role"] for m in later["recentMessages"]] == ["assistant", "tool", "assistant"]
    assert later["totalMessages"] == 5 and later["totalTokens"] == 7
    assert view_chat("x", None).to_dict() == {
        "id": "x",
        "exists": False,
        "createdAt": None,
        "lastUpdatedAt": None,
        "totalMessages": 0,
        "totalTokens": 0,
        "recentMessages": [],
        "turnInProgress": False,
        "pendingTurns": 0,
        "instructions": None,
        "skills": None,
        "approvalTimeoutSeconds": None,
        "summary": None,
        "summarizedThrough": 0,
        "requiresAction": None,
    }


def test_chat_state_passes_its_window_on_in_stored_form() -> None:
    """from_dict/to_dict pass the stored message dicts on without parsing a single message, and messages given as a
    tuple are stored."""
    chat = append_turn(
        new_chat("c", None, T0), TurnRecord(turn_id="t1", messages=(ChatMessage(role="user", content="hi"),))
    )
    stored = chat.to_dict()
    again = ChatState.from_dict(stored)
    assert isinstance(chat.messages, StoredMessages) and isinstance(again.messages, StoredMessages)
    assert again.to_dict()["messages"] == stored["messages"]
    assert again.messages._parsed == {}  # read and written again: no message was parsed
    assert again == chat and again.messages[-1].content == "hi"


def test_an_incomplete_turn_is_recorded_then_replaced_when_it_resumes() -> None:
    """The partial record leaves the queue and marks the resume point; the full record replaces it, tokens counted
    once."""
    state = replace(new_chat("c", None, T0), queue=("turn-1",))
    user = ChatMessage(role="user", content="add milk", created_at="2026-11-20T12:00:01.000000Z")
    asking = ChatMessage(
        role="assistant",
        content="",
        created_at="2026-11-20T12:00:02.000000Z",
        tool_calls=(ToolCall("a", "AddTodo", "{}"),),
    )
    result = ChatMessage(role="tool", content="ok", created_at="2026-11-20T12:00:03.000000Z", tool_call_id="a")
    partial = append_turn(state, TurnRecord("turn-1", (user, asking, result), Usage(5, 5, 10), incomplete=True))
    assert partial.queue == () and partial.incomplete_turn == "turn-1" and "turn-1" not in partial.turn_ids
    assert [m.role for m in partial.partial_turn("turn-1")] == ["user", "assistant", "tool"]
    final = ChatMessage(role="assistant", content="Added.", created_at="2026-11-20T12:00:04.000000Z")
    resumed = replace(partial, queue=("turn-1",))
    done = append_turn(resumed, TurnRecord("turn-1", (user, asking, result, final), Usage(2, 2, 4)))
    assert [m.role for m in done.messages] == ["system", "user", "assistant", "tool", "assistant"]
    assert done.incomplete_turn is None and done.turn_ids == ("turn-1",) and done.total_tokens == 14
    assert done.partial_turn("turn-1") == ()
