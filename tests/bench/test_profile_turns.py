"""The profile benchmark's breakdown of py-spy's collapsed stacks into the parts of a turn."""

from __future__ import annotations

from bench.profile_turns import categorize


def test_samples_are_counted_by_the_first_part_their_stack_matches() -> None:
    """An event-log write inside the model activity counts as the log, not the activity; unknown stacks are other."""
    raw = "\n".join(
        [
            "run (threading.py:1);chat_completion (activities/chat_completion.py:219);"
            "insert_events (storage/event_log/writer.py:150) 30",
            "run (threading.py:1);chat_completion (activities/chat_completion.py:219);count (assistant/tokens.py:10) 5",
            "main (devhost/worker_main.py:1);run_orchestrator (devhost/durable/replay.py:196) 12",
            "select (selectors.py:468) 3",
            "garbage line",
        ]
    )
    counts = categorize(raw)
    assert counts == {
        "model activity: turn event log writes": 30,
        "model activity: the rest (prompt, tokens, telemetry)": 5,
        "orchestrator replays": 12,
        "other": 3,
    }
