"""A chat's turn queue: turns run one at a time, in the order they reached the chat entity.

The queue lives in `ChatState.queue` (turn instance ids, the running one first). A turn
orchestration enqueues itself as its first step, then waits (durable timers) until it is at
the head; appending the turn (`state.append_turn`) or noting its failure
(`state.note_failed_turn`) removes it, which lets the next one run. Resetting or deleting the
chat empties the queue: the turns still in it learn they were cancelled and write nothing.
These functions are pure; `entities/chat.py` applies them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from pydantic import BeforeValidator

from assistant.messages import ChatMessage
from assistant.state import RECENT_TURN_IDS, ChatState
from assistant.wire import Count, wire

__all__ = [
    "CANCELLED",
    "DONE",
    "LIVE_EVENT",
    "QUEUED",
    "RUNNING",
    "TURN_READY_EVENT",
    "TurnSlot",
    "cancel_turn",
    "enqueue_turn",
    "poll_turn",
]

LIVE_EVENT = "live"
"""External event a reader of a turn started without events raises: the turn publishes its events from its next step
(`TurnInput.live_on_watch`)."""
TURN_READY_EVENT = "turn-ready"
"""External event that ends a queued turn's wait: raised on the turn queued next when the turn ahead of it leaves the
queue (`activities.turns.wake_turns`), and on every queued turn when a reset or delete empties the queue."""
RUNNING = "running"
QUEUED = "queued"
DONE = "done"
CANCELLED = "cancelled"


@wire
class TurnSlot:
    """Where a turn stands in its chat's queue (the `enqueue_turn`/`poll_turn` operations' result)."""

    state: str
    """`running` (its turn now: `chat` holds the chat), `queued`, `done` (already appended) or `cancelled` (the chat was
    reset or deleted)."""
    position: Count = 0
    """Turns ahead of it (0 when running)."""
    chat: ChatState | None = None
    """The chat as the turn starts from (only when `running`)."""
    messages: Annotated[tuple[ChatMessage, ...], BeforeValidator(lambda value: value or ())] = ()
    """The turn's stored messages (only when `done`)."""
    head: str | None = None
    """The turn running now (only when `queued`): a queued turn checks it is alive when it runs long."""
    by_user: bool = False
    """`cancelled` by a person (not by a reset or delete of the chat)."""


def poll_turn(state: ChatState | None, turn_id: str) -> TurnSlot:
    """Where `turn_id` stands, without changing anything."""
    if state is None:
        return TurnSlot(state=CANCELLED)
    if turn_id in state.cancelled_turns:
        return TurnSlot(state=CANCELLED, by_user=True)
    if turn_id in state.turn_ids:
        return TurnSlot(state=DONE, messages=tuple(m for m in state.messages if m.turn_id == turn_id))
    if turn_id not in state.queue:
        return TurnSlot(state=CANCELLED)
    position = state.queue.index(turn_id)
    if position == 0:
        return TurnSlot(state=RUNNING, chat=state)
    return TurnSlot(state=QUEUED, position=position, head=state.queue[0])


def enqueue_turn(state: ChatState | None, turn_id: str, request_hash: str = "") -> tuple[ChatState | None, TurnSlot]:
    """`state` with `turn_id` at the end of the queue (once: a repeat changes nothing), and its slot.

    A turn id the chat already appended for ANOTHER request (`request_hash` differs from the one kept with it) is an
    `Idempotency-Key` reused after its turn's history was purged: the old turn is forgotten as this id's turn (its
    messages stay) and the new request is queued as a new turn.
    """
    if state is None:
        return None, TurnSlot(state=CANCELLED)
    kept = state.turn_hashes.get(turn_id)
    if request_hash and kept and kept != request_hash and turn_id in state.turn_ids:
        hashes = {t: h for t, h in state.turn_hashes.items() if t != turn_id}
        state = replace(state, turn_ids=tuple(t for t in state.turn_ids if t != turn_id), turn_hashes=hashes)
    if turn_id in state.turn_ids or turn_id in state.queue or turn_id in state.cancelled_turns:
        return state, poll_turn(state, turn_id)
    queued = replace(state, queue=state.queue + (turn_id,))
    return queued, poll_turn(queued, turn_id)


def cancel_turn(state: ChatState, turn_id: str, known: bool) -> tuple[ChatState, str]:
    """`state` with `turn_id` cancelled, and where it stood: `queued` (it left the queue), `running` (it stops at its
    next step: it leaves the queue when it does), `pending` (`known` but not queued yet: it will not run),
    `finished` (nothing to cancel) or `cancelled` (already)."""
    if turn_id in state.cancelled_turns:
        return state, CANCELLED
    if turn_id in state.turn_ids or turn_id in state.failed_turn_ids:
        return state, "finished"
    cancelled = (state.cancelled_turns + (turn_id,))[-RECENT_TURN_IDS:]
    if state.queue and state.queue[0] == turn_id:
        pending = (
            None if state.pending_approval and state.pending_approval.turn_id == turn_id else state.pending_approval
        )
        return replace(state, cancelled_turns=cancelled, pending_approval=pending), RUNNING
    if turn_id in state.queue:
        return replace(state, cancelled_turns=cancelled, queue=tuple(t for t in state.queue if t != turn_id)), QUEUED
    if not known:
        return state, "finished"
    return replace(state, cancelled_turns=cancelled), "pending"
