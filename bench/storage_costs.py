"""What each live path costs the storage account and the Durable backend, counted, and what that means on Azure.

    python -m bench storage_costs [--turns 3] [--wait-seconds 30] [--quick]

Runs the assistant stack (`bench.assistant_stack`: the scripted model, Azurite, devhost serving the product's app)
with a counting proxy in front of Azurite's Table service (`tests.support.storage_proxy`) and the live wake-up off
(`CHAT_LIVE_WAKE=off`: readers poll as they do on Azure, where the HTTP functions that read a turn and the Durable
functions that run it scale apart). For each scenario it counts, before and after:

- the app's own Table storage requests (event log, todos, archive, fences), by table and operation;
- the app's management API calls (devhost's `GET /admin/host/durable/managementcalls`: status reads included whether
  devhost's worker answered them from its cache or not: on Azure each is a call);
- the durable work items devhost did (`GET /admin/host/durable/workitems`), from which the Durable backend's own
  requests follow (`bench.work_items`' per-work-item formula for the Azure Storage provider; actions for the
  Durable Task Scheduler), since devhost keeps durable state in SQLite and they cannot be counted directly.

Scenarios: a text turn and a one-tool turn (a plain POST at 0 ms); a streamed turn (60 words, 0.5 s to the first, 50 ms
apart, ~3.5 s) with one SSE reader and with ten; a plain POST waiting for that streamed turn; a turn waiting for an
approval and an idle chat, each over `--wait-seconds` (scaled to 10 minutes and an hour: nothing in them depends on
how long they wait but the count); and one run of the app's cleanup timer (every 10 minutes). Then the fixed idle
costs of Durable's Azure Storage provider from its defaults (read in Azure/durabletask), requests a second per live
turn, the concurrent live turns one storage account and each Durable Task Scheduler SKU carry before their published
limits, and requests per 1,000 turns to multiply by a price. Prints the tables; writes them to
`bench/results/storage_costs.md`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.assistant_stack import Stack, assistant_stack, respond, sleep_message
from bench.durable_results import machine_info
from bench.work_items import DTS_ACTIONS_PER_SECOND_PER_CU, WORK_ITEMS_PATH, dts_actions, storage_transactions
from tests.support.fake_openai import ScriptedReply, tool_call
from tests.support.storage_proxy import StorageProxy

__all__ = ["SCENARIOS", "main"]

RESULTS = Path(__file__).resolve().parent / "results" / "storage_costs.md"
CALLS_PATH = "/admin/host/durable/managementcalls"
WORDS = 60
SENTENCE = " ".join(f"w{i}" for i in range(WORDS))
STREAM, ADD = "stream please", "add a todo"
LIVE = ("text turn", "1 tool call", "streamed, 1 reader", "streamed, 10 readers", "waiting POST (streamed)")
WAITS = ("approval waiting (per 10 min)", "idle chat (per hour)")
SCENARIOS = (*LIVE, *WAITS, "cleanup timer (one run)")

ACCOUNT_REQUESTS_PER_SECOND = 20_000
"""A standard storage account's published target (Azure Storage scalability targets)."""
QUEUE_MESSAGES_PER_SECOND = 2_000
"""One queue's target (messages a second): each of the provider's control queues is one."""
DTS_CONSUMPTION_ACTIONS_PER_SECOND = 500
"""The Durable Task Scheduler's Consumption SKU (its billing page); Dedicated: 2,000 a second per capacity unit."""
READING_CALLS = ("status", "readEntity", "list", "listEntities", "purge", "purgeMany")
"""Management calls that read the provider's tables (each counted as one request: a lower bound for purges)."""
CONTROL_QUEUES = 4
"""The Azure Storage provider's default partition count (`AzureStorageOrchestrationServiceSettings`)."""
IDLE_PROVIDER = {
    "control and work-item queue polls (5 queues, backed off to 30 s)": (CONTROL_QUEUES + 1) * 3600 / 30,
    "partition table: a read every 10 s": 3600 / 10,
    "partition table: a lease renewal per owned partition every 10 s": CONTROL_QUEUES * 3600 / 10,
    "task hub app lease renewed every 25 s (a blob)": 3600 / 25,
}
"""Azure Storage requests an hour that Durable's Azure Storage provider makes on one idle app instance, from its
defaults in Azure/durabletask (`AzureStorageOrchestrationServiceSettings`: MaxQueuePollingInterval 30 s,
LeaseRenewInterval 10 s, PartitionCount 4, UseTablePartitionManagement; `AppLeaseOptions.RenewInterval` 25 s)."""


def responder(body: dict[str, Any]) -> ScriptedReply:
    """The bench model (`bench.assistant_stack.respond`) plus a streamed reply, and a todo to add and delete."""
    last = body["messages"][-1]
    text = str(last.get("content") or "") if last.get("role") == "user" else ""
    if text == STREAM:
        return ScriptedReply(content=SENTENCE, delay=0.5, token_delay=0.05)
    if text == ADD:
        return ScriptedReply(tool_calls=(tool_call("AddTodo", {"taskDescription": "water the ferns"}),))
    if text.startswith("delete "):
        return ScriptedReply(tool_calls=(tool_call("DeleteTodo", {"todoId": text.split(" ", 1)[1]}),))
    return respond(body)


@dataclass
class Cost:
    """What one scenario cost."""

    tables: Counter[str] = field(default_factory=Counter)
    """The app's Table requests, `table operation` -> count."""
    management: Counter[str] = field(default_factory=Counter)
    """The app's management API calls by operation."""
    work_items: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    """How long it took (a turn: from its POST to its end as its client saw it)."""

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            self.tables + other.tables,
            self.management + other.management,
            self.work_items + other.work_items,
            self.seconds + other.seconds,
        )

    def scaled(self, factor: float) -> Cost:
        return Cost(
            Counter({k: v * factor for k, v in self.tables.items()}),
            Counter({k: v * factor for k, v in self.management.items()}),
            Counter({k: v * factor for k, v in self.work_items.items()}),
            self.seconds * factor,
        )

    @property
    def table_requests(self) -> float:
        return float(sum(self.tables.values()))

    @property
    def status_reads(self) -> float:
        return float(self.management.get("status", 0))

    @property
    def provider_requests(self) -> float:
        """Azure Storage requests of Durable's Azure Storage provider: its work items' (`bench.work_items`), plus
        at least one per management call that reads or purges (a status or an entity's state: an instance-table
        read; a purge: a query, then deletes)."""
        if not self.work_items and not self.management:
            return 0.0
        starts = self.management.get("start", 0)
        work = storage_transactions(self.work_items) - 1 + starts  # the formula's one start per turn: counted here
        return work + sum(self.management.get(op, 0) for op in READING_CALLS)

    @property
    def dts_actions(self) -> float:
        return dts_actions(self.work_items) + self.management.get("start", 0)


Snapshot = tuple[int, Counter[str], Counter[str]]
"""The proxy's request count, the app's management calls by operation, the work items."""


class Counts:
    """Reads the three counters."""

    def __init__(self, session: aiohttp.ClientSession, proxy: StorageProxy) -> None:
        self.session = session
        self.proxy = proxy

    async def _json(self, path: str) -> Any:
        async with self.session.get(path) as response:
            return await response.json()

    async def work_items(self, quiet: float = 0.3) -> Counter[str]:
        """The work-item counts once they have not changed for `quiet` seconds."""
        last, since = Counter(await self._json(WORK_ITEMS_PATH)), time.monotonic()
        while time.monotonic() - since < quiet:
            await asyncio.sleep(0.05)
            now = Counter(await self._json(WORK_ITEMS_PATH))
            if now != last:
                last, since = now, time.monotonic()
        return last

    async def snapshot(self) -> Snapshot:
        items = await self.work_items()
        calls = Counter((await self._json(CALLS_PATH))["calls"].get("app", {}))
        return len(self.proxy.requests), calls, items

    def since(
        self, before: tuple[int, Counter[str], Counter[str]], after: tuple[int, Counter[str], Counter[str]]
    ) -> Cost:
        with self.proxy._lock:
            requests = self.proxy.requests[before[0] : after[0]]
        tables = Counter(f"{_table_name(r.table)} {r.operation}" for r in requests)
        return Cost(tables, after[1] - before[1], after[2] - before[2])


def _table_name(table: str) -> str:
    return "todos" if table.startswith("benchtodos") else table


async def _post(session: aiohttp.ClientSession, chat: str, message: str, **params: Any) -> tuple[int, dict[str, Any]]:
    async with session.post(
        f"/api/chats/{chat}", json={"message": message}, params=params, headers={"Accept": "application/json"}
    ) as response:
        return response.status, json.loads(await response.text())


async def _stream(session: aiohttp.ClientSession, method: str, path: str, body: Any = None) -> list[str]:
    """Follow an SSE response to its end: the event types."""
    kinds: list[str] = []
    async with session.request(method, path, json=body, headers={"Accept": "text/event-stream"}) as response:
        async for line in response.content:
            if line.startswith(b"event:"):
                kinds.append(line[6:].strip().decode())
    return kinds


async def _new_chat(session: aiohttp.ClientSession) -> str:
    chat = f"cost-{uuid.uuid4().hex[:10]}"
    async with session.put(f"/api/chats/{chat}", json={"instructions": "You are a benchmark assistant."}) as response:
        assert response.status == 202, await response.text()
    status, _ = await _post(session, chat, "warm-up")  # a chat's first turn is not what later turns cost
    assert status == 200
    return chat


async def _turn(counts: Counts, run: Callable[[], Awaitable[None]]) -> Cost:
    before = await counts.snapshot()
    started = time.monotonic()
    await run()
    seconds = time.monotonic() - started
    cost = counts.since(before, await counts.snapshot())
    cost.seconds = seconds
    return cost


async def _scenario(name: str, session: aiohttp.ClientSession, counts: Counts, wait_seconds: float) -> Cost:
    chat = await _new_chat(session)

    async def plain(message: str) -> None:
        status, body = await _post(session, chat, message)
        assert status == 200, body

    async def streamed() -> None:
        kinds = await _stream(session, "POST", f"/api/chats/{chat}", {"message": STREAM})
        assert kinds[-1] == "turn.completed", kinds

    async def ten_readers() -> None:
        status, body = await _post(session, chat, STREAM, timeoutSeconds=0)
        assert status == 202, body
        events = f"/api/chats/{chat}/turns/{body['id']}/events"
        for kinds in await asyncio.gather(*(_stream(session, "GET", events) for _ in range(10))):
            assert kinds[-1] == "turn.completed", kinds

    match name:
        case "text turn":
            return await _turn(counts, lambda: plain("hello"))
        case "1 tool call":
            return await _turn(counts, lambda: plain(sleep_message(1, 0)))
        case "streamed, 1 reader":
            return await _turn(counts, streamed)
        case "streamed, 10 readers":
            return await _turn(counts, ten_readers)
        case "waiting POST (streamed)":
            return await _turn(counts, lambda: plain(STREAM))
        case "approval waiting (per 10 min)":
            status, body = await _post(session, chat, ADD)
            todo = json.loads(body["recentMessages"][2]["content"])["id"]
            status, body = await _post(session, chat, f"delete {todo}")
            assert status == 202 and body.get("status") == "requires_action", body
            cost = await _turn(counts, lambda: asyncio.sleep(wait_seconds))
            turn = body["id"]
            decision = {
                "decisions": [{"toolCallId": body["requiresAction"]["toolCalls"][0]["toolCallId"], "approve": False}]
            }
            async with session.post(f"/api/chats/{chat}/turns/{turn}/approvals", json=decision) as response:
                assert response.status in (200, 202), await response.text()
            return cost.scaled(600 / wait_seconds)
        case "idle chat (per hour)":
            return (await _turn(counts, lambda: asyncio.sleep(wait_seconds))).scaled(3600 / wait_seconds)
        case "cleanup timer (one run)":

            async def cleanup() -> None:
                async with session.post("/admin/functions/cleanup", json={}) as response:
                    assert response.status in (200, 202, 204), await response.text()
                await asyncio.sleep(2.0)  # it runs in the background: let it finish before counting

            return await _turn(counts, cleanup)
    raise ValueError(name)


def _outside_cleanup(seconds: float) -> float:
    """Seconds to wait so that a window of `seconds` misses the app's cleanup timer (every 10 minutes on the minute)."""
    left = 600 - time.time() % 600
    return left + 3 if left < seconds + 5 else 0.0


async def measure(stack: Stack, turns: int, wait_seconds: float) -> dict[str, Cost]:
    assert stack.proxy is not None
    results: dict[str, Cost] = {}
    async with aiohttp.ClientSession(base_url=stack.base_url, timeout=aiohttp.ClientTimeout(total=600)) as session:
        counts = Counts(session, stack.proxy)
        for name in SCENARIOS:
            runs = 1 if name in (*WAITS, "cleanup timer (one run)") else turns
            total = Cost()
            for _ in range(runs):
                if name in WAITS:
                    await asyncio.sleep(_outside_cleanup(wait_seconds + 10))
                total = total + await _scenario(name, session, counts, wait_seconds)
            results[name] = total.scaled(1 / runs)
    return results


# -- the report ---------------------------------------------------------------------------------------------------


def _n(value: float) -> str:
    return f"{value:,.1f}" if value and abs(value) < 10 else f"{value:,.0f}"


def counts_table(results: dict[str, Cost]) -> list[str]:
    names = list(results)
    rows = sorted({k for cost in results.values() for k in cost.tables})
    calls = sorted({k for cost in results.values() for k in cost.management})
    items = sorted({k for cost in results.values() for k in cost.work_items})
    lines = ["| counted | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    lines.append("| seconds | " + " | ".join(f"{results[n].seconds:.2f}" for n in names) + " |")
    for label, source, keys in (
        ("table", "tables", rows),
        ("management", "management", calls),
        ("work items", "work_items", items),
    ):
        for key in keys:
            cells = " | ".join(_n(getattr(results[n], source).get(key, 0)) for n in names)
            lines.append(f"| {label}: {key} | {cells} |")
    lines.append(
        "| **app Table requests** | " + " | ".join(f"**{_n(results[n].table_requests)}**" for n in names) + " |"
    )
    lines.append(
        "| **app management calls** | "
        + " | ".join(f"**{_n(sum(results[n].management.values()))}**" for n in names)
        + " |"
    )
    return lines


def azure_table(results: dict[str, Cost]) -> list[str]:
    live = [n for n in LIVE if n in results]
    lines = ["| per live turn | " + " | ".join(live) + " |", "|---|" + "---:|" * len(live)]

    def row(label: str, cell: Callable[[Cost], str]) -> None:
        lines.append(f"| {label} | " + " | ".join(cell(results[n]) for n in live) + " |")

    def account(c: Cost) -> float:
        return c.table_requests + c.provider_requests

    row("Azure Storage requests (app tables + Durable's Azure Storage provider)", lambda c: _n(account(c)))
    row(
        "... a second while it runs (the model at 0 ms, or streaming ~3.5 s)", lambda c: f"{account(c) / c.seconds:.1f}"
    )
    row(
        "concurrent live turns per storage account (20,000 requests/s)",
        lambda c: f"{ACCOUNT_REQUESTS_PER_SECOND / (account(c) / c.seconds):,.0f}",
    )
    row("... per control queue (2,000 messages/s; 4 queues)", _per_queue)
    row("Durable Task Scheduler actions", lambda c: _n(c.dts_actions))
    row(
        "concurrent live turns, DTS Consumption (500 actions/s)",
        lambda c: f"{DTS_CONSUMPTION_ACTIONS_PER_SECOND / (c.dts_actions / c.seconds):,.0f}",
    )
    row(
        "concurrent live turns, DTS Dedicated per capacity unit (2,000 actions/s)",
        lambda c: f"{DTS_ACTIONS_PER_SECOND_PER_CU / (c.dts_actions / c.seconds):,.0f}",
    )
    row(
        "with DTS, the app's tables: concurrent live turns per storage account",
        lambda c: f"{ACCOUNT_REQUESTS_PER_SECOND / (c.table_requests / c.seconds):,.0f}",
    )
    row("per 1,000 turns: Azure Storage requests (Azure Storage backend)", lambda c: f"{account(c) * 1000:,.0f}")
    row("per 1,000 turns: DTS actions", lambda c: f"{c.dts_actions * 1000:,.0f}")
    row(
        "per 1,000 turns: Azure Storage requests (DTS backend: the app's tables)",
        lambda c: f"{c.table_requests * 1000:,.0f}",
    )
    row("per 1,000 turns: management API calls", lambda c: f"{sum(c.management.values()) * 1000:,.0f}")
    return lines


def _rate(cost: Cost) -> str:
    return f"{(cost.table_requests + cost.provider_requests) / cost.seconds:.1f}"


def _per_queue(cost: Cost) -> str:
    messages = cost.work_items.get("orchestration messages", 0) + cost.work_items.get("entity messages", 0)
    if not messages:
        return "-"
    per_turn_second = messages / cost.seconds / CONTROL_QUEUES  # instances spread over the queues by hash
    return f"{QUEUE_MESSAGES_PER_SECOND / per_turn_second:,.0f}"


def idle_table(results: dict[str, Cost]) -> list[str]:
    cleanup = results.get("cleanup timer (one run)", Cost())
    lines = ["| fixed cost, one idle app instance, per hour | Azure Storage requests |", "|---|---:|"]
    for label, per_hour in IDLE_PROVIDER.items():
        lines.append(f"| Durable's Azure Storage provider: {label} | {per_hour:,.0f} |")
    per_run = cleanup.table_requests + cleanup.provider_requests
    lines.append(f"| the app's cleanup timer, 6 runs (counted: {_n(per_run)} requests a run) | {6 * per_run:,.0f} |")
    total = sum(IDLE_PROVIDER.values()) + 6 * per_run
    lines.append(f"| **all** | **{total:,.0f}** |")
    for name in WAITS:
        cost = results.get(name)
        if cost is not None:
            spent = cost.table_requests + cost.provider_requests + sum(cost.management.values())
            lines.append(f"| {name}: requests and calls beyond the above | {_n(spent)} |")
    return lines


def report(results: dict[str, Cost], turns: int, wait_seconds: float) -> str:
    lines = [
        "## Storage requests per live path (counted)",
        "",
        *machine_info(),
        "",
        f"Mean over {turns} turns of each kind (after each chat's first turn); waits counted over {wait_seconds:g} s "
        "and scaled; `CHAT_LIVE_WAKE=off` (every reader polls, as on Azure).",
        "",
        *counts_table(results),
        "",
        "### On Azure (derived)",
        "",
        *azure_table(results),
        "",
        "### Fixed costs while idle",
        "",
        *idle_table(results),
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench storage_costs", description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=3, help="turns of each kind (default 3)")
    parser.add_argument("--wait-seconds", type=float, default=30.0, help="the approval and idle windows (default 30)")
    parser.add_argument("--quick", action="store_true", help="1 turn of each kind, 5 s waits")
    args = parser.parse_args(argv)
    turns, wait = (1, 5.0) if args.quick else (args.turns, args.wait_seconds)
    env = {"CHAT_LIVE_WAKE": "off", "CHAT_MODEL_TIMEOUT_SECONDS": "30"}
    with assistant_stack(env, responder=responder, count_tables=True) as stack:
        results = asyncio.run(measure(stack, turns, wait))
    text = report(results, turns, wait)
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
