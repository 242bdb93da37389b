"""Finding a chat's turn: which chat a turn belongs to is read from its stored input, never from its id."""

from __future__ import annotations

import json
from typing import Any

import azure.durable_functions as df

from api.errors import HttpError
from assistant.ids import is_turn_id

__all__ = ["chat_turn", "stored_input"]


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
