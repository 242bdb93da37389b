"""The storage cost benchmark's arithmetic: the Durable backend's requests from counted work, and the tables."""

from __future__ import annotations

from collections import Counter

from bench.storage_costs import IDLE_PROVIDER, LIVE, SCENARIOS, WAITS, Cost, report

TURN = Cost(
    tables=Counter({"turnevents insert": 60, "turnevents query": 10}),
    management=Counter({"start": 1, "status": 2, "readEntity": 1}),
    work_items=Counter(
        {
            "orchestrator episodes": 4,
            "orchestration messages": 4,
            "activity executions": 1,
            "entity batches": 2,
            "entity messages": 2,
        }
    ),
    seconds=4.0,
)


def test_the_backend_requests_follow_from_the_work_and_the_status_reads() -> None:
    """Azure Storage provider: 4 per episode, 2 per message, 3 per activity, 4 per entity batch, 2 per entity message,
    1 per start, 1 per status or entity read. DTS: one action per message, activity and start."""
    assert TURN.provider_requests == 4 * 4 + 4 * 2 + 3 + 2 * 4 + 2 * 2 + 1 + 2 + 1
    assert TURN.dts_actions == 4 + 2 + 1 + 1
    assert TURN.table_requests == 70
    assert Cost().provider_requests == 0


def test_scaling_and_adding() -> None:
    both = TURN + TURN
    assert both.seconds == 8.0 and both.tables["turnevents insert"] == 120
    assert both.scaled(0.5).management == TURN.management


def test_the_report_derives_the_ceilings_from_the_counts() -> None:
    """Per live turn: requests a second, turns per account (20,000/s) and per DTS SKU; idle costs summed."""
    results = dict.fromkeys(SCENARIOS, TURN)
    text = report(results, 3, 30.0)
    account = TURN.table_requests + TURN.provider_requests
    assert account == 113  # in 4 s: 28.2 a second, 708 such turns at once per account
    cells = " | ".join(["28.2"] * len(LIVE))
    assert f"| ... a second while it runs (the model at 0 ms, or streaming ~3.5 s) | {cells} |" in text
    cells = " | ".join(["708"] * len(LIVE))
    assert f"| concurrent live turns per storage account (20,000 requests/s) | {cells} |" in text
    assert "| concurrent live turns, DTS Consumption (500 actions/s) | " + " | ".join(["250"] * len(LIVE)) in text
    assert f"{account * 1000:,.0f}" in text
    idle = sum(IDLE_PROVIDER.values()) + 6 * account
    assert f"| **all** | **{idle:,.0f}** |" in text
    for name in WAITS:
        assert f"| {name}: requests and calls beyond the above |" in text
