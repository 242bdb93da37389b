"""Token counting with tiktoken, and the prompt budget that keeps what is sent to the model bounded.

tiktoken would download its encodings on first use; the app ships `o200k_base` and `cl100k_base`
(`assistant/encodings/`, byte-identical to tiktoken's files, which tiktoken checks by hash) and
points tiktoken's cache at them, so counts are exact with no network. An unknown model name counts
with `o200k_base`; only if an encoding cannot be loaded at all does counting fall back to a
conservative estimate (logged once), so a budget is never exceeded by under-counting. Encodings are
loaded once per process.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from assistant.messages import ChatMessage
from assistant.settings import built_from_settings

__all__ = [
    "TokenCounter",
    "TokenCutter",
    "count_message_tokens",
    "estimate_tokens",
    "fit_to_budget",
    "reset_encodings",
    "token_counter",
    "token_cutter",
    "tools_tokens",
]

log = logging.getLogger(__name__)

TokenCounter = Callable[[str], int]
_MESSAGE_OVERHEAD = 4
"""Tokens the chat format adds around every message (role, separators)."""
_FALLBACK_ENCODING = "o200k_base"
ENCODINGS_DIR = Path(__file__).resolve().parent / "encodings"
"""The shipped encodings, named by tiktoken's cache keys."""
_warned = False


def use_shipped_encodings() -> None:
    """Point tiktoken's cache at the shipped encodings, unless `TIKTOKEN_CACHE_DIR` already says where to look."""
    if not os.environ.get("TIKTOKEN_CACHE_DIR"):
        os.environ["TIKTOKEN_CACHE_DIR"] = str(ENCODINGS_DIR)


def estimate_tokens(text: str) -> int:
    """A deliberately high estimate: one token per 3 UTF-8 bytes (real BPE averages about 4)."""
    return math.ceil(len(text.encode("utf-8")) / 3)


@lru_cache(maxsize=16)
def _encoding(model: str) -> Any | None:
    """`model`'s tiktoken encoding (`o200k_base` if the name is unknown), or None if none can be loaded (logged
    once)."""
    global _warned
    use_shipped_encodings()
    try:
        import tiktoken

        try:
            return tiktoken.encoding_for_model(model)
        except KeyError:
            return tiktoken.get_encoding(_FALLBACK_ENCODING)
    except Exception as error:
        if not _warned:
            _warned = True
            log.warning("tiktoken encoding for %r unavailable (%s); estimating tokens from text length", model, error)
        return None


@lru_cache(maxsize=16)
def token_counter(model: str) -> TokenCounter:
    """A counter for `model`: its tiktoken encoding, `o200k_base` if the name is unknown, else the estimate."""
    encoding = _encoding(model)
    if encoding is None:
        return estimate_tokens

    def count(text: str) -> int:
        return len(encoding.encode(text, disallowed_special=()))

    return count


TokenCutter = Callable[[str, int], str]


@lru_cache(maxsize=16)
def token_cutter(model: str) -> TokenCutter:
    """A function giving the first `cap` tokens of a text in `model`'s encoding (3 bytes a token if none loads)."""
    encoding = _encoding(model)
    if encoding is None:

        def cut_bytes(text: str, cap: int) -> str:
            return text.encode("utf-8")[: cap * 3].decode("utf-8", "ignore")

        return cut_bytes

    def cut(text: str, cap: int) -> str:
        tokens = encoding.encode(text, disallowed_special=())
        if len(tokens) <= cap:
            return text
        return encoding.decode(tokens[:cap], errors="ignore")

    return cut


@built_from_settings
def reset_encodings() -> None:
    """Forget loaded counters (for tests)."""
    _encoding.cache_clear()
    token_counter.cache_clear()
    token_cutter.cache_clear()


def count_message_tokens(message: ChatMessage, count: TokenCounter) -> int:
    """Tokens `message` takes in a prompt, tool calls included."""
    total = _MESSAGE_OVERHEAD + count(message.content)
    for call in message.tool_calls:
        total += count(call.name) + count(call.arguments) + _MESSAGE_OVERHEAD
    return total


def _groups(messages: Sequence[ChatMessage]) -> list[list[ChatMessage]]:
    """Split into units that are kept or dropped whole: an assistant tool-call message with its results."""
    groups: list[list[ChatMessage]] = []
    for message in messages:
        if message.role == "tool" and groups and groups[-1][0].tool_calls:
            groups[-1].append(message)
        else:
            groups.append([message])
    return groups


def fit_to_budget(
    messages: Sequence[ChatMessage], budget: int, count: TokenCounter, reserve: int = 0
) -> list[ChatMessage]:
    """The newest messages that fit in `budget - reserve` tokens, always keeping the system messages.

    The oldest are dropped first; a tool call is never separated from its results; a leading
    orphan (a tool result or an assistant reply whose user message was dropped) is dropped too,
    so the prompt starts at a user message. The newest group is kept even when it alone is over.
    """
    system = [m for m in messages if m.role == "system"]
    rest = [m for m in messages if m.role != "system"]
    room = budget - reserve - sum(count_message_tokens(m, count) for m in system)
    kept: list[list[ChatMessage]] = []
    for group in reversed(_groups(rest)):
        size = sum(count_message_tokens(m, count) for m in group)
        if kept and size > room:
            break
        kept.append(group)
        room -= size
    kept.reverse()
    while len(kept) > 1 and kept[0][0].role != "user":
        kept.pop(0)
    return system + [m for group in kept for m in group]


def tools_tokens(tools: Sequence[dict[str, object]], count: TokenCounter) -> int:
    """Tokens the tool definitions take in a prompt."""
    return sum(count(json.dumps(tool, separators=(",", ":"))) for tool in tools)
