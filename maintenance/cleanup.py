"""The `cleanup` timer function: purges the orchestration histories of finished turns past their retention.

Every finished orchestration (turns, chat administration, expired chats' timers) whose instance was
created more than `CHAT_TURN_RETENTION_HOURS` ago (default 24, the `Idempotency-Key` window: a repeat
of a key whose turn was purged runs a new turn) is purged, every 10 minutes. The chat itself keeps
everything (its entity and its archive in Table storage), so purging loses no message: it removes
what the Durable backend keeps of each turn's run (~50-66 KB per turn on devhost), which would
otherwise grow forever. The turns' event logs older than the retention are deleted with them.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import azure.durable_functions as df
import azure.functions as func
from azure.durable_functions.models.OrchestrationRuntimeStatus import OrchestrationRuntimeStatus

from assistant.settings import assistant_settings
from storage.event_log import forget_events_before

__all__ = ["CLEANUP_FUNCTION", "CLEANUP_SCHEDULE", "bp", "purge_finished_turns"]

log = logging.getLogger(__name__)

CLEANUP_FUNCTION = "cleanup"
CLEANUP_SCHEDULE = "0 */10 * * * *"
"""NCRONTAB: every 10 minutes, on the minute."""
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_FINISHED = [
    OrchestrationRuntimeStatus.Completed,
    OrchestrationRuntimeStatus.Failed,
    OrchestrationRuntimeStatus.Terminated,
]

bp = df.Blueprint()


async def purge_finished_turns(client: df.DurableOrchestrationClient, now: datetime, retention: timedelta) -> int:
    """Purge every finished instance created before `now - retention`; how many were purged."""
    result = await client.purge_instance_history_by(
        created_time_from=_EPOCH, created_time_to=now - retention, runtime_status=_FINISHED
    )
    return int(getattr(result, "instances_deleted", 0) or 0)


@bp.function_name(name=CLEANUP_FUNCTION)
@bp.timer_trigger(schedule=CLEANUP_SCHEDULE, arg_name="timer", run_on_startup=False, use_monitor=True)
@bp.durable_client_input(client_name="client")
async def cleanup(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    """Purge finished orchestrations past the retention."""
    retention = timedelta(hours=assistant_settings().turn_retention_hours)
    now = datetime.now(UTC)
    purged = await purge_finished_turns(client, now, retention)
    events = await asyncio.to_thread(forget_events_before, now - retention)
    log.info(
        "cleanup: purged %d finished orchestration(s) and %d turn event(s) older than %s%s",
        purged,
        events,
        retention,
        " (a run was missed while the app was down)" if timer.past_due else "",
    )
