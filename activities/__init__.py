"""Activities: the side effects orchestrations need: `chat_completion` (the model call), `publish_events` (events the
orchestrator decided), `summarize` (the running summary), `archive` (a chat's oldest messages), `turns` (is a turn
still alive)."""

from __future__ import annotations

__all__: list[str] = []
