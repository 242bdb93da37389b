"""Durable work items per chat turn, counted by devhost.

    python -m bench.work_items [--turns 10]

Runs the assistant stack of `bench.assistant_turns` (devhost, Azurite, the scripted model at 0 ms)
and, for each kind of turn, reads devhost's work-item counters
(`GET /admin/host/durable/workitems`: orchestrator episodes, entity batches and operations, messages
to orchestrations and entities, activity executions, timers, external events) before and after it,
once the counts have settled (the turn's orchestration may still be finishing after its reply).
Kinds of turn: a text turn; a turn with one tool call; one with five parallel tool calls; and a
turn sent while another of its chat runs (queued): the pair's count less a text turn's.
Each figure is the mean over `--turns` turns. It also counts the rows each turn wrote to the app's
own turn event log (Table storage, `storage/event_log/`).

Then it derives what those work items mean on Azure (`azure_table`): Azure Storage transactions per
turn on Durable's Azure Storage provider, from what the provider does per work item (read in
Azure/durabletask, `src/DurableTask.AzureStorage`: `AzureStorageOrchestrationService.
CompleteTaskOrchestrationWorkItemAsync` sends the episode's outbound messages, then
`AzureTableTrackingStore.UpdateStateAsync` writes the history batch and merges the instance row,
then the consumed messages are deleted; an activity's message is read and deleted, its result sent),
and actions per turn on the Durable Task Scheduler (messages it dispatches to the app: to
orchestrations, to entities, activity work items, fired timers), with turns/s per capacity unit at its
published 2,000 actions/s. Prints both tables.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence

import aiohttp

from bench.assistant_stack import AssistantClient, assistant_stack, sleep_message
from bench.durable_results import machine_info

__all__ = ["main"]

WORK_ITEMS_PATH = "/admin/host/durable/workitems"
KINDS = ("text turn", "1 tool call", "5 parallel tool calls", "queued behind another")
EVENT_ROWS = "event log rows (app)"
"""Rows the turn wrote to the app's event log (not a durable work item: counted apart)."""

STORAGE_TRANSACTIONS = {
    "orchestrator episodes": 4,  # control-queue GetMessages, history query, history batch insert, instance-row merge
    "orchestration messages": 2,  # the sender's AddMessage, the DeleteMessage after the episode that consumed it
    "activity executions": 3,  # work-item queue AddMessage, GetMessages, DeleteMessage (its result: a message above)
    "entity batches": 4,  # an entity is an orchestration to this provider: like an episode
    "entity messages": 2,  # AddMessage, DeleteMessage (the answer to the caller is an orchestration message)
    "timers": 2,  # AddMessage with a visibility delay, DeleteMessage when it fired
}
"""Azure Storage transactions per durable work item on the Azure Storage provider (upper bounds: one GetMessages
can fetch up to 32 messages; a history query is skipped while an extended session keeps the instance in memory)."""
STARTS_PER_TURN = 1
"""Each turn starts one orchestration: one more transaction (the instance row written by the start)."""
DTS_ACTIONS = ("orchestration messages", "entity messages", "activity executions", "timers")
"""What the Durable Task Scheduler dispatches to the app: each one action."""
DTS_ACTIONS_PER_SECOND_PER_CU = 2000


async def _counts(session: aiohttp.ClientSession) -> Counter[str]:
    async with session.get(WORK_ITEMS_PATH) as response:
        return Counter(await response.json())


async def _settled(session: aiohttp.ClientSession, quiet: float = 0.15) -> Counter[str]:
    """The counts once they have not changed for `quiet` seconds."""
    last, since = await _counts(session), time.monotonic()
    while time.monotonic() - since < quiet:
        await asyncio.sleep(0.02)
        now = await _counts(session)
        if now != last:
            last, since = now, time.monotonic()
    return last


def _event_rows(connection: str | None) -> Callable[[str], int]:
    """How many rows a turn (by instance id) has in the app's event log (0 without a connection)."""
    if not connection:
        return lambda _instance: 0
    from azure.data.tables import TableServiceClient

    from storage.event_log.rows import DEFAULT_EVENTS_TABLE

    events = TableServiceClient.from_connection_string(connection).get_table_client(DEFAULT_EVENTS_TABLE)

    def count(instance_id: str) -> int:
        rows = events.query_entities(f"PartitionKey eq '{instance_id}'", select=["RowKey"])
        return sum(1 for _ in rows)

    return count


async def _measure(base_url: str, turns: int, connection: str | None = None) -> dict[str, Counter[str]]:
    client = AssistantClient(base_url, 8)
    rows_of = _event_rows(connection)
    totals: dict[str, Counter[str]] = {kind: Counter() for kind in KINDS}
    async with aiohttp.ClientSession(base_url=base_url) as session:
        try:
            for _ in range(turns):
                for kind, message in (
                    ("text turn", "hello"),
                    ("1 tool call", sleep_message(1, 0)),
                    ("5 parallel tool calls", sleep_message(5, 0)),
                ):
                    chat = f"bench-items-{uuid.uuid4().hex[:10]}"
                    await client.create_chat(chat)
                    await client.turn(chat, "warm-up")  # the chat's first turn is not what later turns cost
                    before = await _settled(session)
                    timing = await client.turn(chat, message)
                    totals[kind] += await _settled(session) - before
                    totals[kind][EVENT_ROWS] += await asyncio.to_thread(rows_of, timing.body["instanceId"])
                chat = f"bench-items-{uuid.uuid4().hex[:10]}"
                await client.create_chat(chat)
                await client.turn(chat, "warm-up")
                before = await _settled(session)
                pair = await asyncio.gather(client.turn(chat, "first"), client.turn(chat, "second"))
                totals["queued behind another"] += await _settled(session) - before
                for timing in pair:
                    totals["queued behind another"][EVENT_ROWS] += await asyncio.to_thread(
                        rows_of, timing.body["instanceId"]
                    )
        finally:
            await client.close()
    text = totals["text turn"]
    pair = totals["queued behind another"]
    totals["queued behind another"] = Counter({k: pair[k] - text[k] for k in pair if pair[k] - text[k] > 0})
    return {kind: Counter({k: v / turns for k, v in counts.items()}) for kind, counts in totals.items()}


def storage_transactions(counts: Counter[str]) -> float:
    """Azure Storage transactions of Durable's provider for these work items (one turn's)."""
    return STARTS_PER_TURN + sum(counts.get(kind, 0) * per for kind, per in STORAGE_TRANSACTIONS.items())


def dts_actions(counts: Counter[str]) -> float:
    """Durable Task Scheduler actions for these work items."""
    return sum(counts.get(kind, 0) for kind in DTS_ACTIONS)


def azure_table(results: dict[str, Counter[str]]) -> str:
    """What each kind of turn means on Azure: storage transactions, DTS actions, turns/s per capacity unit."""
    rows = [
        ("Azure Storage transactions (Durable's provider)", lambda c: f"{storage_transactions(c):.0f}"),
        ("+ the app's event-log row inserts (Table storage)", lambda c: f"{c.get(EVENT_ROWS, 0):.0f}"),
        (
            "Azure Storage transactions per 1,000 turns",
            lambda c: f"{(storage_transactions(c) + c.get(EVENT_ROWS, 0)) * 1000:,.0f}",
        ),
        ("Durable Task Scheduler actions", lambda c: f"{dts_actions(c):.0f}"),
        (
            "DTS: turns/s per capacity unit (2,000 actions/s)",
            lambda c: f"{DTS_ACTIONS_PER_SECOND_PER_CU / dts_actions(c):.0f}",
        ),
        ("DTS actions per 1,000 turns", lambda c: f"{dts_actions(c) * 1000:,.0f}"),
    ]
    lines = [
        "",
        "### On Azure (derived from the counts above)",
        "",
        "| per turn | " + " | ".join(KINDS) + " |",
        "|---|" + "---:|" * len(KINDS),
    ]
    for label, cell in rows:
        lines.append(f"| {label} | " + " | ".join(cell(results[kind]) for kind in KINDS) + " |")
    lines += [
        "",
        "Not included: the API's status polls while a POST waits (one instances-table read each) and the "
        "provider's idle queue polling and lease renewals, which do not grow with turns.",
    ]
    return "\n".join(lines)


def report(results: dict[str, Counter[str]], turns: int) -> str:
    rows = sorted({k for counts in results.values() for k in counts if k != EVENT_ROWS})
    lines = [
        "## Durable work items per turn (devhost's counters)",
        "",
        *machine_info(),
        "",
        f"Mean over {turns} turns of each kind (after each chat's first turn); the queued turn is a pair sent "
        "at once on one chat less a text turn.",
        "",
        "| work item | " + " | ".join(KINDS) + " |",
        "|---|" + "---:|" * len(KINDS),
    ]
    for row in rows:
        lines.append(f"| {row} | " + " | ".join(f"{results[kind].get(row, 0):.1f}" for kind in KINDS) + " |")
    lines.append(
        "| **all** | "
        + " | ".join(f"**{sum(v for k, v in results[kind].items() if k != EVENT_ROWS):.1f}**" for kind in KINDS)
        + " |"
    )
    lines.append(f"| {EVENT_ROWS} | " + " | ".join(f"{results[kind].get(EVENT_ROWS, 0):.1f}" for kind in KINDS) + " |")
    return "\n".join(lines) + "\n" + azure_table(results)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.work_items", description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=10, help="turns of each kind (default 10)")
    parser.add_argument("--quick", action="store_true", help="3 turns of each kind")
    args = parser.parse_args(argv)
    turns = 3 if args.quick else args.turns
    with assistant_stack() as stack:
        results = asyncio.run(_measure(stack.base_url, turns, stack.azurite.connection_string))
    print(report(results, turns))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
