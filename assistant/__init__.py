"""The assistant's domain, free of Azure Functions: messages (`messages`), chat state and its transitions (`state`,
`queueing`, `window`, `approvals`), the turn's steps (`turn`), its events (`events`), the payloads that cross durable
boundaries (`payloads`), ids (`ids`), token budgets and what the model sees (`tokens`, `memory`), settings
(`settings`), model providers and the offline model (`providers`, `offline`), telemetry (`telemetry`).

Import what you need from its module; this package re-exports nothing."""

from __future__ import annotations

__all__: list[str] = []
