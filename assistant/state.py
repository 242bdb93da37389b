"""A chat's stored state and its pure transitions (create/reset, append a turn, view for GET).

The `chat` entity in `entities/chat.py` is a thin adapter over these functions, so the rules
(timestamps strictly increasing, a turn appended once, the view's filter) are tested here
without any host.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, PlainSerializer, model_validator

from assistant.approvals import PendingApproval
from assistant.memory import Summary, SummaryField, summary_note
from assistant.messages import ChatMessage, Messages, StoredMessages, Text, format_utc, parse_utc
from assistant.views import ChatView, MessageView
from assistant.wire import Count, from_dict, omit_default, wire

__all__ = [
    "DEFAULT_INSTRUCTIONS",
    "RECENT_TURN_IDS",
    "ChatState",
    "ChatView",
    "TurnRecord",
    "Usage",
    "append_turn",
    "new_chat",
    "note_failed_turn",
    "patch_chat",
    "view_chat",
]

RECENT_TURN_IDS = 32
"""Turn ids (appended, failed) the entity remembers; older ones live on with their archived messages."""

DEFAULT_INSTRUCTIONS = (
    "Don't make assumptions about what values to plug into functions. "
    "Ask for clarification if a user request is ambiguous."
)


@wire
class Usage:
    """Token usage reported by the model (summed over a turn's rounds)."""

    prompt_tokens: Count = 0
    completion_tokens: Count = 0
    total_tokens: Count = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.total_tokens + other.total_tokens,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Usage:
        """Read from its JSON (missing means zero)."""
        return from_dict(cls, data) if data else cls()


UsageField = Annotated[Usage, BeforeValidator(lambda value: value or Usage())]
"""Stored usage, `null` read as none."""
Ids = Annotated[tuple[str, ...], BeforeValidator(lambda value: value or ())]
"""Turn ids, `null` read as none."""


@wire
class TurnRecord:
    """What a finished turn appends to its chat: the user's message and everything that answered it."""

    turn_id: str
    """The turn's orchestration instance id; appending the same turn twice is a no-op."""
    messages: Messages
    usage: UsageField = Field(default_factory=Usage)
    incomplete: bool = omit_default(False)
    """The turn failed after some of its tool calls ran: what ran is recorded, and running the turn again
    (the same `Idempotency-Key`) goes on from it."""
    generation: str = omit_default("")
    """The chat's generation the turn started from: appended only to that generation of the chat."""
    request_hash: str = omit_default("")
    """The start of the turn's request hash, kept with a keyed turn's id (see `ChatState.turn_hashes`)."""


def _summary_or_null(summary: Summary) -> dict[str, Any] | None:
    return summary.to_dict() if summary.through else None


@wire
class ChatState:
    """The `chat` entity's state."""

    chat_id: str
    instructions: Text
    created_at: str
    last_updated_at: str
    messages: Messages = Field(default_factory=StoredMessages)
    """The working window, oldest first: the system message (sequence number 0), then the messages after
    the archived ones (sequence numbers `archived_count + 1` on). Kept in stored form (any sequence of
    messages given is converted), since most operations only pass it on."""
    archived_count: Count = 0
    """Messages moved to the archive (Table storage): sequence numbers 1 to `archived_count`."""
    total_tokens: Count = 0
    """Cumulative token usage of every turn."""
    turn_ids: Ids = ()
    """The last `RECENT_TURN_IDS` turns appended (their orchestration instance ids), oldest first."""
    failed_turn_ids: Ids = ()
    """The last `RECENT_TURN_IDS` turns that failed (nothing appended): deleting the chat purges their histories too."""
    queue: Ids = ()
    """Accepted turns not yet finished, in arrival order; the first is the one running."""
    incomplete_turn: str | None = None
    """A turn that failed after tools ran, recorded as far as it got, while its messages are the newest:
    running it again resumes it (see `TurnRecord.incomplete`)."""
    ttl_seconds: Annotated[int | None, BeforeValidator(lambda value: value or None)] = None
    """Delete the chat once it has been idle (no turn appended) this long (`ttlSeconds` on PUT); None: never."""
    skills: tuple[str, ...] | None = None
    """The skills offered to the model (`skills` on PUT/PATCH); None: every registered skill."""
    approval_timeout_seconds: Annotated[int, BeforeValidator(lambda value: value or 86400)] = 86400
    """How long a call waits for a person before it counts as denied (`approvalTimeoutSeconds`)."""
    pending_approval: PendingApproval | None = None
    """The running turn's calls waiting for a person (None: nothing waits)."""
    cancelled_turns: Ids = ()
    """Turns cancelled by a person (the last `RECENT_TURN_IDS`): they stop at their next step and write nothing."""
    summary: Annotated[SummaryField, PlainSerializer(_summary_or_null)] = Field(default_factory=Summary)
    """The running summary of the messages that left the prompt (see `assistant.memory`); stored as `null` until
    there is one."""
    fold_lease: tuple[str, int] | None = None
    """The turn writing a fold of the summary now, and the chat's message count when it was planned: no other fold
    is planned meanwhile (it would fold the same messages), unless `FOLD_LEASE_MESSAGES` messages came since."""
    generation: str = omit_default("")
    """This creation of the chat (a UUID; a reset or a delete and re-create makes a new one). A running turn's
    skills and its append carry the generation it started with: late writes of an older one are refused or undone,
    so a reset chat never keeps what a turn of the old one did ("": a chat created before generations existed)."""
    turn_hashes: dict[str, str] = omit_default(factory=dict)
    """For the keyed turns among `turn_ids`: the start of their request's hash (`TurnInput.request_hash`). A turn
    id that comes back with another request is a key reused after its turn's history was purged: a new turn."""

    @model_validator(mode="before")
    @classmethod
    def _last_updated(cls, data: Any) -> Any:
        """A chat stored without `lastUpdatedAt` was last updated when it was created."""
        if isinstance(data, dict) and not data.get("lastUpdatedAt") and not data.get("last_updated_at"):
            return {**data, "lastUpdatedAt": data.get("createdAt") or data.get("created_at")}
        return data

    @property
    def covered(self) -> int:
        """Messages of the window (after the system message) the summary covers: they are not sent to the model."""
        return min(max(self.summary.through - self.archived_count, 0), len(self.messages) - 1)

    def prompt_history(self, messages: Sequence[ChatMessage] | None = None) -> StoredMessages:
        """What the model sees of the chat (of `messages`, a prefix of the window; default all of it): the
        instructions, the summary's note, then the messages the summary does not cover."""
        window = StoredMessages.of(self.messages if messages is None else messages)
        note = summary_note(self.summary)
        return window[:1] + ([note] if note else []) + window[1 + self.covered :]

    def partial_turn(self, turn_id: str) -> tuple[ChatMessage, ...]:
        """The recorded messages of `turn_id` when it is the chat's incomplete turn (its resume point), else ()."""
        if self.incomplete_turn != turn_id:
            return ()
        tail: list[ChatMessage] = []
        for message in reversed(self.messages):
            if message.turn_id != turn_id:
                break
            tail.append(message)
        return tuple(reversed(tail))


def new_chat(
    chat_id: str,
    instructions: str | None,
    now: datetime,
    ttl_seconds: int | None = None,
    skills: tuple[str, ...] | None = None,
    approval_timeout_seconds: int | None = None,
    generation: str = "",
) -> ChatState:
    """A fresh chat whose only message is the system message with `instructions` (default if empty)."""
    text = instructions if instructions and instructions.strip() else DEFAULT_INSTRUCTIONS
    stamp = format_utc(now)
    system = ChatMessage(role="system", content=text, created_at=stamp)
    return ChatState(
        chat_id=chat_id,
        instructions=text,
        created_at=stamp,
        last_updated_at=stamp,
        messages=(system,),
        ttl_seconds=ttl_seconds,
        skills=skills,
        approval_timeout_seconds=approval_timeout_seconds or 86400,
        generation=generation,
    )


def patch_chat(
    state: ChatState,
    now: datetime,
    instructions: str | None = None,
    skills: tuple[str, ...] | None = None,
    approval_timeout_seconds: int | None = None,
    clear_skills: bool = False,
) -> ChatState:
    """`state` with new instructions (the system message replaced in place), skills or approval timeout; the
    history stays. `lastUpdatedAt` moves."""
    changed = state
    if instructions is not None:
        text = instructions if instructions.strip() else DEFAULT_INSTRUCTIONS
        system = replace(state.messages[0], content=text)
        changed = replace(changed, instructions=text, messages=(system,) + state.messages[1:])
    if skills is not None or clear_skills:
        changed = replace(changed, skills=skills)
    if approval_timeout_seconds is not None:
        changed = replace(changed, approval_timeout_seconds=approval_timeout_seconds)
    stamp = max(parse_utc(state.last_updated_at) + timedelta(microseconds=1), now)
    return replace(changed, last_updated_at=format_utc(stamp))


def append_turn(state: ChatState, turn: TurnRecord) -> ChatState:
    """`state` with `turn`'s messages appended (timestamps made strictly increasing), or unchanged if already applied.

    An incomplete record leaves the queue and marks the turn as the chat's resume point; a record of the
    chat's incomplete turn replaces what was recorded of it (the resumed run carries those messages again).
    """
    if turn.turn_id in state.turn_ids:
        return state
    resumed = state.partial_turn(turn.turn_id)
    if resumed:
        state = replace(state, messages=state.messages[: len(state.messages) - len(resumed)])
    last = parse_utc(state.messages[-1].created_at) if state.messages else parse_utc(state.created_at)
    appended: list[ChatMessage] = []
    for message in turn.messages:
        stamp = parse_utc(message.created_at) if message.created_at else last
        if stamp <= last:
            stamp = last + timedelta(microseconds=1)
        last = stamp
        appended.append(replace(message, created_at=format_utc(stamp), turn_id=turn.turn_id))
    queue = tuple(t for t in state.queue if t != turn.turn_id)
    if turn.incomplete:
        failed = (
            state.failed_turn_ids if turn.turn_id in state.failed_turn_ids else state.failed_turn_ids + (turn.turn_id,)
        )
        return replace(
            state,
            messages=state.messages + tuple(appended),
            last_updated_at=format_utc(last),
            total_tokens=state.total_tokens + turn.usage.total_tokens,
            failed_turn_ids=failed[-RECENT_TURN_IDS:],
            queue=queue,
            incomplete_turn=turn.turn_id,
        )
    turn_ids = (state.turn_ids + (turn.turn_id,))[-RECENT_TURN_IDS:]
    hashes = state.turn_hashes
    if turn.request_hash or hashes:
        kept = set(turn_ids)
        hashes = {t: h for t, h in hashes.items() if t in kept}
        if turn.request_hash:
            hashes[turn.turn_id] = turn.request_hash
    return replace(
        state,
        messages=state.messages + tuple(appended),
        last_updated_at=format_utc(last),
        total_tokens=state.total_tokens + turn.usage.total_tokens,
        turn_ids=turn_ids,
        turn_hashes=hashes,
        queue=queue,
        incomplete_turn=None,
    )


def note_failed_turn(state: ChatState, turn_id: str) -> ChatState:
    """`state` remembering that turn `turn_id` failed (its messages were never appended); it leaves the queue."""
    queue = tuple(t for t in state.queue if t != turn_id)
    if turn_id in state.failed_turn_ids or turn_id in state.turn_ids:
        return state if queue == state.queue else replace(state, queue=queue)
    return replace(state, failed_turn_ids=(state.failed_turn_ids + (turn_id,))[-RECENT_TURN_IDS:], queue=queue)


def view_chat(
    chat_id: str, state: ChatState | None, after: datetime | None = None, archived: tuple[ChatMessage, ...] = ()
) -> ChatView:
    """The GET view: the system message, `archived` (the archive's messages) and the window after it,
    keeping those created strictly after `after` (all when None), oldest first."""
    if state is None:
        return ChatView(id=chat_id, exists=False)
    everything = tuple(state.messages[:1]) + archived + tuple(state.messages[1:])
    recent = tuple(MessageView.of(m) for m in everything if after is None or parse_utc(m.created_at) > after)
    return ChatView(
        id=chat_id,
        exists=True,
        created_at=state.created_at,
        last_updated_at=state.last_updated_at,
        total_messages=state.archived_count + len(state.messages),
        total_tokens=state.total_tokens,
        recent_messages=recent,
        turn_in_progress=bool(state.queue),
        pending_turns=max(len(state.queue) - 1, 0),
        instructions=state.instructions,
        skills=state.skills,
        approval_timeout_seconds=state.approval_timeout_seconds,
        summary=state.summary.text or None,
        summarized_through=state.summary.through,
    )
