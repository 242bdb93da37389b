"""What the model sees of a long chat: budgets from context windows, when to fold, the summary's note, folds once."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from assistant.memory import (
    FOLD_AT,
    KEEP,
    FoldPlan,
    Summary,
    context_window,
    cut_tool_results,
    fold_point,
    prompt_budget,
    summary_note,
    summary_request,
    summary_room,
)
from assistant.messages import ChatMessage, format_utc
from assistant.offline import OfflineModel
from assistant.settings import assistant_settings, reset_settings
from assistant.state import TurnRecord, append_turn, new_chat
from assistant.tokens import count_message_tokens, token_counter, token_cutter
from assistant.window import apply_fold, plan_archive, plan_fold
from entities.chat import apply_operation

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
COUNT = token_counter("gpt-4o")


def chat_with(turns: int, words: int = 10):
    """A chat of `turns` turns (user + assistant each), message i of turn t saying so."""
    chat = new_chat("c", "be brief", T0)
    for t in range(1, turns + 1):
        at = format_utc(T0 + timedelta(seconds=t))
        messages = (
            ChatMessage("user", f"question {t} " + "word " * words, at),
            ChatMessage("assistant", f"answer {t}", at),
        )
        chat = append_turn(replace(chat, queue=(f"t{t}",)), TurnRecord(f"t{t}", messages))
    return chat


@pytest.mark.parametrize(
    ("model", "window"),
    [
        ("gpt-4o-mini", 128_000),
        ("gpt-4o", 128_000),
        ("gpt-4", 8_192),
        ("gpt-4.1-mini", 1_047_576),
        ("gpt-35-turbo", 16_385),
        ("o3-mini", 200_000),
        ("gpt-5-mini", 400_000),
        ("my-deployment", None),
    ],
)
def test_known_context_windows_by_longest_prefix(model: str, window: int | None) -> None:
    """gpt-4o is not gpt-4; Azure's `gpt-35` spelling is known; a custom deployment name is not."""
    assert context_window(model) == window


def test_budget_is_the_window_minus_completion_and_margin() -> None:
    """Known window: window - completion cap (4,096 by default) - 2% margin; a set CHAT_PROMPT_TOKEN_BUDGET caps it;
    unknown: the fixed budget less the completion cap, as before."""
    assert prompt_budget("gpt-4o", None, 12_000, False, None) == 128_000 - 4_096 - 2_560
    assert prompt_budget("gpt-4o", None, 12_000, False, 1_000) == 128_000 - 1_000 - 2_560
    assert prompt_budget("fake", 2_048, 12_000, False, 256) == 2_048 - 256 - 256
    assert prompt_budget("gpt-4o", 4_000, 12_000, False, 500) == 4_000 - 500 - 256  # the setting wins over the name
    assert prompt_budget("gpt-4o", None, 20_000, True, 1_000) == 19_000
    assert prompt_budget("fake", None, 12_000, False, None) == 12_000
    assert prompt_budget("fake", 4_096, 12_000, False, None) == 4_096 - 1_024 - 256  # a small window keeps room
    assert prompt_budget("fake", None, 700, True, 100) == 600


def test_settings_summary_default_follows_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """On with a real model, off with the offline one unless CHAT_SUMMARY=on; caps read from the environment."""
    for name in (
        "OPENAI_BASE_URL",
        "OPENAI_API_KEY",
        "AZURE_OPENAI_ENDPOINT",
        "CHAT_SUMMARY",
        "CHAT_MODEL_CONTEXT_TOKENS",
    ):
        monkeypatch.delenv(name, raising=False)
    reset_settings()
    assert assistant_settings().summary is False
    monkeypatch.setenv("CHAT_SUMMARY", "on")
    monkeypatch.setenv("CHAT_SUMMARY_TOKENS", "300")
    monkeypatch.setenv("CHAT_TOOL_RESULT_TOKENS", "900")
    monkeypatch.setenv("CHAT_MODEL_CONTEXT_TOKENS", "32768")
    reset_settings()
    settings = assistant_settings()
    assert (settings.summary, settings.summary_tokens, settings.tool_result_tokens, settings.context_tokens) == (
        True,
        300,
        900,
        32768,
    )
    monkeypatch.delenv("CHAT_SUMMARY")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    reset_settings()
    assert assistant_settings().summary is True
    monkeypatch.setenv("CHAT_SUMMARY", "sometimes")
    reset_settings()
    with pytest.raises(ValueError, match="CHAT_SUMMARY must be on or off"):
        assistant_settings()
    reset_settings()


def test_fold_point_waits_then_folds_whole_old_turns_down_to_keep() -> None:
    """Nothing while within FOLD_AT of the room; then the oldest whole turns, leaving the newest within KEEP."""
    messages = list(chat_with(20).messages[1:])
    sizes = [count_message_tokens(m, COUNT) for m in messages]
    total = sum(sizes)
    assert fold_point(messages, int(total / FOLD_AT) + 1, COUNT) == 0
    room = int(total / FOLD_AT) - 10
    fold = fold_point(messages, room, COUNT)
    assert fold > 0 and fold % 2 == 0 and messages[fold].role == "user"  # a turn boundary
    assert sum(sizes[fold:]) <= KEEP * room < sum(sizes[fold - 2 :])
    one_turn = list(chat_with(1, words=500).messages[1:])
    assert fold_point(one_turn, 10, COUNT) == 0  # never the last (here: only) turn


def test_summary_note_follows_the_instructions_and_replaces_what_it_covers() -> None:
    """The model sees instructions, the note, then only the messages after `summary.through`."""
    chat = replace(chat_with(5), summary=Summary("- the user is Ada", 4))
    history = chat.prompt_history()
    assert [m.role for m in history[:2]] == ["system", "system"] and history[0].content == "be brief"
    assert "first 4 messages" in history[1].content and history[1].content.endswith("- the user is Ada")
    assert [m.content for m in history[2:]] == [m.content for m in chat.messages[5:]]
    assert summary_note(Summary()) is None and list(chat_with(2).prompt_history()) == list(chat_with(2).messages)


def test_folds_apply_once_and_never_reach_past_the_window() -> None:
    """A repeated fold, a stale one and one from before a reset are ignored; the plan starts after the summary."""
    chat = chat_with(6)
    plan = plan_fold(chat, 4)
    assert plan is not None and (plan.from_seq, plan.upto_seq) == (1, 4)
    assert [m.content.split()[1] for m in plan.messages] == ["1", "1", "2", "2"]
    folded, applied = apply_fold(chat, chat.created_at, 1, 4, "S1")
    assert applied and folded.summary == Summary("S1", 4)
    again, applied_again = apply_fold(folded, chat.created_at, 1, 4, "S1 again")
    assert not applied_again and again.summary == Summary("S1", 4)
    assert not apply_fold(folded, "another generation", 5, 6, "x")[1]
    assert not apply_fold(folded, chat.created_at, 5, 99, "x")[1]
    assert plan_fold(folded, 4) is None
    nxt = plan_fold(folded, 8)
    assert nxt is not None and (nxt.from_seq, nxt.upto_seq, nxt.previous.text) == (5, 8, "S1")
    assert FoldPlan.from_dict(nxt.to_dict()) == nxt


def test_archive_waits_for_the_summary_unless_the_window_doubles() -> None:
    """With summaries on, only summarized messages move to the archive, until the window passes twice its size."""
    chat = chat_with(6)  # 12 messages after the system message
    assert plan_archive(chat, 8) is not None and plan_archive(chat, 8, summarized_only=True) is None
    covered = replace(chat, summary=Summary("S", 4))
    batch = plan_archive(covered, 8, summarized_only=True)
    assert batch is not None and batch.upto_seq == 4
    assert plan_archive(chat, 5, summarized_only=True) is not None  # 12 > 2 * 5: the bound wins


def test_append_plans_a_fold_of_old_turns_and_summarized_lets_the_archive_go() -> None:
    """The entity folds what the model said and what the window would archive, never the turn just appended."""
    chat = chat_with(6)
    state = replace(chat, queue=("t7",))
    at = format_utc(T0 + timedelta(seconds=7))
    record = TurnRecord("t7", (ChatMessage("user", "seven", at), ChatMessage("assistant", "7", at)))
    data = {**record.to_dict(), "workingMessages": 8, "summary": {"foldUpto": 99}}
    updated, result = apply_operation("c", state, "append_turn", data)
    fold = FoldPlan.from_dict(result["fold"])
    assert (fold.from_seq, fold.upto_seq) == (1, 12) and result["archive"] is None
    assert updated.fold_lease == ("t7", 15)
    done, outcome = apply_operation(
        "c",
        updated,
        "summarized",
        {
            "turnId": "t7",
            "generation": fold.generation,
            "fromSeq": 1,
            "uptoSeq": 12,
            "summary": "S",
            "workingMessages": 8,
        },
    )
    assert outcome["applied"] and outcome["archive"]["fromSeq"] == 1 and done.summary == Summary("S", 12)
    assert done.fold_lease is None
    _, repeat = apply_operation(
        "c",
        done,
        "summarized",
        {"generation": fold.generation, "fromSeq": 1, "uptoSeq": 12, "summary": "S", "workingMessages": 8},
    )
    assert repeat == {"applied": False, "archive": None}


def test_one_fold_at_a_time_until_it_reports_or_goes_stale() -> None:
    """While a turn's fold is out, later appends plan none (it would fold the same messages); a failed fold
    frees the lease; a lease 8 messages old (its turn was terminated) no longer blocks."""
    state = chat_with(6)

    def append(chat, number: int):
        at = format_utc(T0 + timedelta(seconds=number))
        record = TurnRecord(f"t{number}", (ChatMessage("user", f"q{number}", at), ChatMessage("assistant", "a", at)))
        return apply_operation(
            "c",
            replace(chat, queue=(f"t{number}",)),
            "append_turn",
            {**record.to_dict(), "workingMessages": 64, "summary": {"foldUpto": 4}},
        )

    leased, first = append(state, 7)
    assert first["fold"] is not None and leased.fold_lease == ("t7", 15)
    blocked, second = append(leased, 8)
    assert second["fold"] is None and blocked.fold_lease == ("t7", 15)
    freed, outcome = apply_operation(
        "c",
        blocked,
        "summarized",
        {"turnId": "t7", "generation": state.created_at, "fromSeq": 1, "uptoSeq": 4, "summary": None},
    )
    assert outcome == {"applied": False, "archive": None} and freed.fold_lease is None and freed.summary == Summary()
    assert append(freed, 9)[1]["fold"] is not None
    stale = blocked
    for number in range(9, 12):
        stale, result = append(stale, number)
        assert (result["fold"] is not None) == (number == 11)  # 15 + 8 messages: turn 11 appends message 23


def test_large_tool_results_are_cut_to_the_cap_in_tokens() -> None:
    """A 200 KB result becomes its first `cap` tokens and a note; other messages are untouched."""
    big = "".join(f"row {i}: " + "x" * 40 + "\n" for i in range(4_500))
    assert len(big) > 200_000
    messages = [ChatMessage("user", "list"), ChatMessage("tool", big, tool_call_id="c1", name="GetTodos")]
    shown = cut_tool_results(messages, 500, COUNT, token_cutter("gpt-4o"))
    assert shown[0] == messages[0] and shown[1].content.startswith("row 0: ")
    body, note = shown[1].content.rsplit("\n[", 1)
    assert COUNT(body) <= 500 and note.startswith(f"result cut to its first 500 of {COUNT(big)} tokens")


def test_summary_request_and_the_offline_summary() -> None:
    """The request carries the summary so far and the messages; the offline model keeps the user's stated facts."""
    plan = FoldPlan(
        "c",
        "g",
        Summary("- I live in Paris", 3),
        (
            ChatMessage("user", "Hello there. My name is Ada and I prefer tea."),
            ChatMessage("assistant", "Noted."),
            ChatMessage("tool", "[]", tool_call_id="c", name="GetTodos"),
        ),
    )
    wire = summary_request(plan, summary_room(10_000, 800))
    assert "at most 800 tokens" in wire[0]["content"] and "messages 4 to 6" in wire[1]["content"]
    assert "[tool result of GetTodos] []" in wire[1]["content"]
    summary = OfflineModel().complete(wire, None, 800).content
    assert summary.splitlines() == ["- I live in Paris", "- My name is Ada and I prefer tea."]
