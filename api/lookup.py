"""Finding a chat's turn: which chat a turn belongs to is read from its stored input, never from its id."""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from typing import Any

import azure.durable_functions as df

from api.errors import HttpError
from assistant.ids import is_turn_id

__all__ = ["chat_turn", "check_chat_turn", "stored_input"]

_CHECKED_LIMIT = 4096
_checked: OrderedDict[tuple[str, str], None] = OrderedDict()
"""(chat, turn) pairs this process found to belong together: a turn's chat never changes, so a reader following a
turn (a long poll's next request, a stream's reconnection) needs no second status read to know it."""
_checking: dict[tuple[str, str], asyncio.Future[df.DurableOrchestrationStatus]] = {}
"""Checks under way: a second reader of the same pair waits for the first one's read."""


def stored_input(status: df.DurableOrchestrationStatus) -> dict[str, Any]:
    """A status's input (read with `show_input=True`) as a dict ({} when there is none)."""
    data = status.input_
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError:
            return {}
    return data if isinstance(data, dict) else {}


async def chat_turn(client: df.DurableOrchestrationClient, chat_id: str, turn_id: str) -> df.DurableOrchestrationStatus:
    """The status of turn `turn_id` of chat `chat_id`, else 404: which chat a turn belongs to is read from its stored
    input, never from its id."""
    status = await client.get_status(turn_id, show_input=True) if is_turn_id(turn_id) else None
    if not status or status.runtime_status is None or stored_input(status).get("chatId") != chat_id:
        shown = turn_id if len(turn_id) <= 80 else turn_id[:80] + "..."
        raise HttpError(404, f"chat {chat_id!r} has no turn {shown!r}")
    return status


async def check_chat_turn(client: df.DurableOrchestrationClient, chat_id: str, turn_id: str) -> None:
    """404 unless `turn_id` is a turn of chat `chat_id` (as `chat_turn`; a pair found once is remembered in this
    process: no status read the next time)."""
    key = (chat_id, turn_id)
    if key in _checked:
        _checked.move_to_end(key)
        return
    running = _checking.get(key)
    if running is None:  # readers arriving together (ten streams of one turn) share one status read
        running = _checking[key] = asyncio.ensure_future(chat_turn(client, chat_id, turn_id))
        running.add_done_callback(lambda _: _checking.pop(key, None))
    await asyncio.shield(running)
    _checked[key] = None
    if len(_checked) > _CHECKED_LIMIT:
        _checked.popitem(last=False)
