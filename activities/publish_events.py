"""The `publish_turn_events` activity: events the orchestrator decided (a turn waiting in the queue, approvals),
written to the turn's event log (`storage.event_log`)."""

from __future__ import annotations

import json
from typing import Any

import azure.durable_functions as df

from assistant.events import EventDraft
from storage.event_log import try_insert_events

__all__ = ["PUBLISH_ACTIVITY", "bp"]

PUBLISH_ACTIVITY = "publish_turn_events"

bp = df.Blueprint()


@bp.function_name(name=PUBLISH_ACTIVITY)
@bp.activity_trigger(input_name="request")
def publish_turn_events(request: Any) -> int:
    """Activity: append `{"turnId", "chatId", "start", "events": [drafts]}` to the log (best effort: a log that
    refuses is logged, the turn goes on); the last sequence number."""
    payload = json.loads(request) if isinstance(request, str) else request
    drafts = [EventDraft.from_dict(d) for d in payload["events"]]
    start = int(payload["start"])
    try_insert_events(str(payload["turnId"]), str(payload["chatId"]), start, drafts)
    return start + len(drafts) - 1
