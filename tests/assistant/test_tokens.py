"""The prompt budget: oldest turns dropped first, tool calls kept with their results, system kept."""

from __future__ import annotations

import hashlib
import importlib.util
import re
import socket
from pathlib import Path

import pytest

from assistant.messages import ChatMessage, ToolCall
from assistant.tokens import (
    ENCODINGS_DIR,
    count_message_tokens,
    estimate_tokens,
    fit_to_budget,
    reset_encodings,
    token_counter,
)


def chars(text: str) -> int:
    return len(text)


SYSTEM = ChatMessage(role="system", content="s" * 20)


def turn(i: int, with_tool: bool = False) -> list[ChatMessage]:
    messages = [ChatMessage(role="user", content=f"u{i}" * 10)]
    if with_tool:
        call = ToolCall(id=f"c{i}", name="GetTodos", arguments="{}")
        messages.append(ChatMessage(role="assistant", content="", tool_calls=(call,)))
        messages.append(ChatMessage(role="tool", content="t" * 30, tool_call_id=f"c{i}"))
    messages.append(ChatMessage(role="assistant", content=f"a{i}" * 10))
    return messages


def test_everything_fits_when_under_budget() -> None:
    """Nothing is dropped when the whole history fits."""
    history = [SYSTEM, *turn(1), *turn(2)]
    assert fit_to_budget(history, 10_000, chars) == history


def test_oldest_turns_go_first_and_the_prompt_stays_under_budget() -> None:
    """The system message stays; the kept part starts at a user message; the total fits."""
    history = [SYSTEM, *turn(1), *turn(2, with_tool=True), *turn(3)]
    budget = sum(count_message_tokens(m, chars) for m in [SYSTEM, *turn(3)]) + 60
    kept = fit_to_budget(history, budget, chars)
    assert kept[0] == SYSTEM and kept[1].role == "user"
    assert sum(count_message_tokens(m, chars) for m in kept) <= budget
    assert kept[-len(turn(3)) :] == turn(3)
    assert all(m.content != turn(1)[0].content for m in kept)


def test_tool_call_never_separated_from_its_result() -> None:
    """A budget that would cut between a call and its result drops the whole pair and what precedes it."""
    history = [SYSTEM, *turn(1, with_tool=True), *turn(2)]
    tail = turn(2)
    budget = (
        sum(count_message_tokens(m, chars) for m in [SYSTEM, *tail])
        + count_message_tokens(turn(1, True)[-1], chars)
        + 5
    )
    kept = fit_to_budget(history, budget, chars)
    assert kept == [SYSTEM, *tail]
    for index, message in enumerate(kept):
        if message.role == "tool":
            assert kept[index - 1].tool_calls


def test_counter_falls_back_to_a_high_estimate() -> None:
    """Unknown model names still count (tiktoken's default encoding or the estimate), never zero."""
    count = token_counter("no-such-model")
    assert count("hello world, hello world") >= 4
    assert estimate_tokens("abcdef") == 2 and estimate_tokens("") == 0


def test_exact_counts_with_every_network_connection_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shipped encodings: exact token ids for gpt-4o (o200k_base), gpt-4 (cl100k_base) and an unknown name, with
    sockets refusing to connect; no download is attempted, nothing is estimated."""
    attempts: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise OSError("network blocked by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)
    import tiktoken.registry

    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})  # nothing loaded before this test counts
    reset_encodings()
    try:
        for model in ("gpt-4o", "gpt-4", "my-own-deployment"):
            count = token_counter(model)
            assert count is not estimate_tokens
            assert count("The quick brown fox jumps over the lazy dog.") == 10
            assert count("hello world") == 2
        import tiktoken

        assert tiktoken.encoding_for_model("gpt-4o").encode("hello world") == [24912, 2375]
        assert tiktoken.get_encoding("cl100k_base").encode("hello world") == [15339, 1917]
        assert attempts == []
    finally:
        reset_encodings()


def test_the_shipped_encodings_are_tiktokens_own_files() -> None:
    """Each file's SHA-256 is the hash tiktoken expects for that encoding (a corrupt file would be refused)."""
    source = Path(importlib.util.find_spec("tiktoken_ext.openai_public").origin).read_text()  # type: ignore[union-attr, arg-type]
    for name in ("o200k_base", "cl100k_base"):
        url = f"https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
        data = (ENCODINGS_DIR / hashlib.sha1(url.encode()).hexdigest()).read_bytes()
        expected = re.search(re.escape(f"{name}.tiktoken") + r'".*?expected_hash="([0-9a-f]{64})"', source, re.S)
        assert expected and hashlib.sha256(data).hexdigest() == expected.group(1), name
