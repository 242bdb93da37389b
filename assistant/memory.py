"""What the model sees of a long chat: the prompt budget, the running summary, and when to fold.

Each model call sends: the instructions (the system message), then, once the chat has one, the
running summary as a second system message (`summary_note`), then the chat's messages the summary
does not cover, newest last, as many as the budget holds (`assistant.tokens.fit_to_budget`), each
tool result cut to `CHAT_TOOL_RESULT_TOKENS` first (`cut_tool_results`; the chat record keeps it whole).

The budget (`prompt_budget`) is the model's context window minus the completion cap and a safety
margin: the window from `CHAT_MODEL_CONTEXT_TOKENS`, else from the model's name (`context_window`),
else the fixed `CHAT_PROMPT_TOKEN_BUDGET` (12,000) as before. `CHAT_PROMPT_TOKEN_BUDGET`, when set,
also caps a known window's budget (a cost limit).

Folding: while it fits the prompt, the model reports (`fold_point`) whether the messages the summary
does not cover have grown past `FOLD_AT` of the room left for them; if so, the oldest whole turns
beyond the newest `KEEP` of that room are folded into the summary after the turn (the
`summarize` activity), well before they would be dropped: what leaves the prompt has been summarized.
Messages the working window moves to the archive are folded first, too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Annotated, Any

from pydantic import BeforeValidator

from assistant.messages import ChatMessage, Text
from assistant.tokens import TokenCounter, TokenCutter, count_message_tokens
from assistant.wire import Count, from_dict, wire

__all__ = [
    "FOLD_AT",
    "KEEP",
    "SUMMARY_MARKER",
    "FoldPlan",
    "Summary",
    "context_window",
    "cut_tool_results",
    "fold_point",
    "prompt_budget",
    "summary_note",
    "summary_request",
    "summary_room",
]

FOLD_AT = 0.75
"""Fold once the uncovered messages take this share of their room in the prompt..."""
KEEP = 0.5
"""...down to this share (the newest messages stay word for word)."""
DEFAULT_COMPLETION_RESERVE = 4096
"""Tokens kept for the answer when the window is known and `CHAT_MAX_COMPLETION_TOKENS` is not set (at most a
quarter of the window)."""
SUMMARY_MARKER = "You keep the running summary of a long conversation"
"""How the summary request's instructions begin (the offline and scripted models recognise it)."""

SUMMARY_INSTRUCTIONS = (
    SUMMARY_MARKER + " between a user and an assistant that uses tools. The conversation's oldest messages are "
    "about to leave what the assistant can see; fold them into the summary so nothing that matters is lost.\n"
    "Write the new summary: the summary so far, updated with the new messages. Keep facts about the user and "
    "the world (names, numbers, dates, identifiers), decisions made, open tasks and promises, preferences and "
    "instructions the user gave, and what tools did that still matters. Drop greetings, small talk and anything "
    "later messages made obsolete. Write short plain lines, most important first, in the conversation's language. "
    "Answer with the summary only, at most {limit} tokens."
)

# Context windows (tokens) of common models, by name prefix; the longest matching prefix wins.
_WINDOWS: tuple[tuple[str, int], ...] = (
    ("gpt-5", 400_000),
    ("gpt-4.1", 1_047_576),
    ("gpt-4o", 128_000),
    ("gpt-4-turbo", 128_000),
    ("gpt-4-32k", 32_768),
    ("gpt-4", 8_192),
    ("gpt-35-turbo", 16_385),
    ("gpt-3.5-turbo", 16_385),
    ("o1-mini", 128_000),
    ("o1", 200_000),
    ("o3", 200_000),
    ("o4-mini", 200_000),
)


def context_window(model: str) -> int | None:
    """The context window of a well-known model (OpenAI names and Azure's `gpt-35` spelling), else None."""
    name = model.strip().lower()
    matches = [(len(prefix), window) for prefix, window in _WINDOWS if name.startswith(prefix)]
    return max(matches)[1] if matches else None


def prompt_budget(
    model: str, context_tokens: int | None, fixed_budget: int, fixed_budget_set: bool, max_completion: int | None
) -> int:
    """Tokens a prompt may take (messages and tool definitions), the answer's room already taken off.

    With a window (`context_tokens`, else the model's known one): window - completion cap (or 4,096, at most a
    quarter of the window) - margin
    (2%, at least 256), capped by `fixed_budget - completion` when that was set. Without: the fixed budget -
    the completion cap (as before windows were known).
    """
    window = context_tokens or context_window(model)
    fixed = fixed_budget - (max_completion or 0)
    if window is None:
        return max(fixed, 1)
    derived = window - (max_completion or min(DEFAULT_COMPLETION_RESERVE, window // 4)) - max(window // 50, 256)
    if fixed_budget_set:
        derived = min(derived, fixed)
    return max(derived, 1)


def summary_room(budget: int, summary_tokens: int) -> int:
    """The summary's cap within `budget`: `summary_tokens`, but never more than a quarter of the budget."""
    return max(min(summary_tokens, budget // 4), 16)


@wire
class Summary:
    """A chat's running summary: `text` covers its messages 1 to `through` (sequence numbers; 0: no summary)."""

    text: Text = ""
    through: Count = 0

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Summary:
        """Read from its JSON (None: no summary)."""
        return from_dict(cls, data) if data else cls()


SummaryField = Annotated[Summary, BeforeValidator(lambda value: value or Summary())]
"""A stored summary, `null` read as none yet."""


def summary_note(summary: Summary) -> ChatMessage | None:
    """The system message that carries the summary to the model, right after the instructions (None: none yet)."""
    if not summary.text.strip():
        return None
    return ChatMessage(
        role="system",
        content=(
            f"Summary of the earlier conversation (its first {summary.through} messages, which are no longer "
            f"shown; written as the conversation went on):\n{summary.text.strip()}"
        ),
    )


@wire
class FoldPlan:
    """Messages of one chat to fold into its summary (the `summarize` activity's input)."""

    chat_id: str
    generation: str
    """The chat's `created_at` when planned (a reset chat ignores the result)."""
    previous: SummaryField
    """The summary the messages are folded into (`previous.through` = `from_seq - 1`)."""
    messages: Annotated[tuple[ChatMessage, ...], BeforeValidator(lambda value: value or ())]
    max_tokens: Count = 0
    """The new summary's cap (0: the activity's setting)."""

    @property
    def from_seq(self) -> int:
        """Sequence number of the first message folded."""
        return self.previous.through + 1

    @property
    def upto_seq(self) -> int:
        """Sequence number of the last message folded (the new summary's `through`)."""
        return self.previous.through + len(self.messages)


def _transcript_line(message: ChatMessage) -> str:
    if message.role == "tool":
        return f"[tool result of {message.name or 'a tool'}] {message.content}"
    calls = "".join(f" [asks tool {c.name} with {c.arguments}]" for c in message.tool_calls)
    return f"[{message.role}] {message.content}{calls}".rstrip()


def summary_request(plan: FoldPlan, limit: int) -> list[dict[str, Any]]:
    """The chat-completions messages that ask the model to fold `plan` into its summary (at most `limit` tokens)."""
    previous = plan.previous.text.strip() or "(none yet)"
    transcript = "\n".join(_transcript_line(m) for m in plan.messages)
    return [
        {"role": "system", "content": SUMMARY_INSTRUCTIONS.format(limit=limit)},
        {
            "role": "user",
            "content": (
                f"Summary so far:\n{previous}\n\nNew messages to fold in (messages "
                f"{plan.from_seq} to {plan.upto_seq}):\n{transcript}"
            ),
        },
    ]


def _turn_starts(messages: Sequence[ChatMessage]) -> list[int]:
    """Indexes where a turn (a user message, or a new turn id) begins."""
    starts = []
    for i, message in enumerate(messages):
        if i == 0 or message.role == "user" or (message.turn_id and message.turn_id != messages[i - 1].turn_id):
            starts.append(i)
    return starts


def fold_point(messages: Sequence[ChatMessage], room: int, count: TokenCounter) -> int:
    """How many of `messages` (the uncovered ones, oldest first, as they go into the prompt) to fold now: 0 while they
    take at most `FOLD_AT` of `room`; else the oldest whole turns beyond the newest `KEEP` of it (never the last
    turn)."""
    sizes = [count_message_tokens(m, count) for m in messages]
    if sum(sizes) <= FOLD_AT * room:
        return 0
    starts = _turn_starts(messages)
    if len(starts) < 2:
        return 0
    suffix = [0] * (len(sizes) + 1)
    for i in range(len(sizes) - 1, -1, -1):
        suffix[i] = suffix[i + 1] + sizes[i]
    return next((s for s in starts[1:] if suffix[s] <= KEEP * room), starts[-1])


def cut_tool_results(
    messages: Sequence[ChatMessage], cap: int, count: TokenCounter, cut: TokenCutter
) -> list[ChatMessage]:
    """`messages` with every tool result over `cap` tokens cut to its first `cap`, with a note saying so."""
    shown: list[ChatMessage] = []
    for message in messages:
        if message.role == "tool":
            size = count(message.content)
            if size > cap:
                note = f"\n[result cut to its first {cap} of {size} tokens for the prompt; the chat keeps it whole]"
                message = replace(message, content=cut(message.content, cap) + note)
        shown.append(message)
    return shown
