"""The chat entity's working window: which old messages move to the archive, and dropping them once archived.

The entity keeps the system message and the newest messages; when more than `working_messages`
follow the system message, the oldest whole turns beyond the newest `working_messages // 2`
become an `ArchiveBatch`. The turn orchestration hands the batch to the `archive_messages`
activity (idempotent upserts into Table storage) and then tells the entity `archived`, which
drops them from the window. Sequence numbers are contiguous (the system message is 0), so the
entity's `archived_count` says exactly which archive rows belong to the chat. `generation` (the
chat's `created_at`) keeps a batch planned before a reset from touching the fresh chat.
"""

from __future__ import annotations

from dataclasses import replace

from assistant.memory import FoldPlan, Summary
from assistant.messages import ChatMessage
from assistant.state import ChatState
from assistant.wire import omit_default, wire

__all__ = ["ArchiveBatch", "apply_archived", "apply_fold", "plan_archive", "plan_fold", "summarized_part"]


@wire
class ArchiveBatch:
    """Messages of one chat to write to the archive (the `archive_messages` activity's input)."""

    chat_id: str
    generation: str
    """The chat's `created_at` when planned."""
    from_seq: int
    """Sequence number of the first message."""
    messages: tuple[ChatMessage, ...]
    fence: str = omit_default("")
    """The chat's `ChatState.generation` when planned: rows written after the chat was reset are undone."""

    @property
    def upto_seq(self) -> int:
        """Sequence number of the last message."""
        return self.from_seq + len(self.messages) - 1


def plan_archive(state: ChatState, working_messages: int, summarized_only: bool = False) -> ArchiveBatch | None:
    """The oldest whole turns to archive when the window holds more than `working_messages`, else None.

    With `summarized_only` (summaries on) only messages the summary covers move, so nothing leaves the
    window before it is summarized; unless the window has grown past twice `working_messages` (the
    summaries keep failing): then the window's bound wins, and what moves unsummarized is forgotten.
    """
    batch = _plan_archive(state, working_messages)
    return summarized_part(state, batch, working_messages) if summarized_only else batch


def summarized_part(state: ChatState, batch: ArchiveBatch | None, working_messages: int) -> ArchiveBatch | None:
    """What of `batch` (planned by `plan_archive` without `summarized_only`) may move with summaries on."""
    if batch is None or batch.upto_seq <= state.summary.through or len(state.messages) - 1 > 2 * working_messages:
        return batch
    keep = state.summary.through - state.archived_count
    return replace(batch, messages=batch.messages[:keep]) if keep > 0 else None


def _plan_archive(state: ChatState, working_messages: int) -> ArchiveBatch | None:
    rest = state.messages[1:]
    if len(rest) <= working_messages:
        return None
    keep_target = max(working_messages // 2, 1)
    cut = len(rest)
    # Walk back over whole turns (runs of one turn_id) while they fit the target; keep at least one turn.
    while cut > 0:
        start = cut - 1
        while start > 0 and rest[start - 1].turn_id == rest[cut - 1].turn_id:
            start -= 1
        if cut != len(rest) and len(rest) - start > keep_target:
            break
        cut = start
    if cut == 0:
        return None
    return ArchiveBatch(
        chat_id=state.chat_id,
        generation=state.created_at,
        fence=state.generation,
        from_seq=state.archived_count + 1,
        messages=tuple(rest[:cut]),
    )


def apply_archived(state: ChatState, generation: str, upto_seq: int) -> ChatState:
    """`state` without the window's messages up to sequence number `upto_seq` (now in the archive)."""
    if generation != state.created_at or upto_seq <= state.archived_count:
        return state
    drop = min(upto_seq - state.archived_count, len(state.messages) - 1)
    return replace(
        state, messages=state.messages[:1] + state.messages[1 + drop :], archived_count=state.archived_count + drop
    )


def plan_fold(state: ChatState, upto_seq: int, max_tokens: int = 0) -> FoldPlan | None:
    """The window's messages after the summary (or the archive, if messages left unsummarized) up to `upto_seq`,
    to fold into the summary; None when there are none."""
    base = max(state.summary.through, state.archived_count)
    upto_seq = min(upto_seq, state.archived_count + len(state.messages) - 1)
    if upto_seq <= base:
        return None
    start, stop = 1 + base - state.archived_count, 1 + upto_seq - state.archived_count
    return FoldPlan(
        chat_id=state.chat_id,
        generation=state.created_at,
        previous=Summary(state.summary.text, base),
        messages=tuple(state.messages[start:stop]),
        max_tokens=max_tokens,
    )


def apply_fold(state: ChatState, generation: str, from_seq: int, upto_seq: int, text: str) -> tuple[ChatState, bool]:
    """`state` with the summary now covering messages up to `upto_seq`, if the fold starts right after what the
    summary covers (so the same messages are never folded twice: a repeated or stale fold is ignored)."""
    base = max(state.summary.through, state.archived_count)
    if (
        generation != state.created_at
        or from_seq != base + 1
        or not from_seq <= upto_seq <= state.archived_count + len(state.messages) - 1
    ):
        return state, False
    return replace(state, summary=Summary(text, upto_seq)), True
