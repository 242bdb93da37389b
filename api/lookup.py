"""Finding a chat's turn: which chat a turn belongs to is read from its stored input, never from its id."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from typing import Any

import azure.durable_functions as df
from azure.durable_functions.models.OrchestrationRuntimeStatus import OrchestrationRuntimeStatus

from api.errors import HttpError
from assistant.failures import first_line
from assistant.ids import is_turn_id
from assistant.queueing import LIVE_EVENT

__all__ = ["ask_live", "chat_turn", "check_chat_turn", "stored_input"]

log = logging.getLogger(__name__)
_RUNNING = frozenset({OrchestrationRuntimeStatus.Running, OrchestrationRuntimeStatus.Pending})

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


async def _check(client: df.DurableOrchestrationClient, chat_id: str, turn_id: str) -> df.DurableOrchestrationStatus:
    status = await chat_turn(client, chat_id, turn_id)
    await ask_live(client, status)
    return status


async def ask_live(client: df.DurableOrchestrationClient, status: df.DurableOrchestrationStatus) -> None:
    """A reader follows the turn: if it runs without events until one asks (`TurnInput.live_on_watch`), ask (the
    `live` external event: its next steps publish their events). Best effort: unasked, the reader still gets the
    turn's end (`api.feed`)."""
    data = stored_input(status)
    if not data.get("liveOnWatch") or data.get("events", True) or status.runtime_status not in _RUNNING:
        return
    try:
        await client.raise_event(status.instance_id, LIVE_EVENT, None)
    except Exception as error:  # the turn ended meanwhile, or the host refused: the reader gets its end anyway
        log.info("could not ask turn %s for live events: %s", status.instance_id, first_line(str(error)))


async def check_chat_turn(client: df.DurableOrchestrationClient, chat_id: str, turn_id: str) -> None:
    """404 unless `turn_id` is a turn of chat `chat_id` (as `chat_turn`; a pair found once is remembered in this
    process: no status read the next time)."""
    key = (chat_id, turn_id)
    if key in _checked:
        _checked.move_to_end(key)
        return
    running = _checking.get(key)
    if running is None:  # readers arriving together (ten streams of one turn) share one status read
        running = _checking[key] = asyncio.ensure_future(_check(client, chat_id, turn_id))
        running.add_done_callback(lambda _: _checking.pop(key, None))
    await asyncio.shield(running)
    _checked[key] = None
    if len(_checked) > _CHECKED_LIMIT:
        _checked.popitem(last=False)
