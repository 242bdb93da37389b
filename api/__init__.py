"""HTTP routes of the assistant service, one module per room: `chats` (chats and assistants), `turns` (a turn's
start and wait), `events` (its live events), `turn_actions` (approvals, cancel), `lookup` (a chat's turn),
`skills` (skills and todos), `ask` (ask, whois), `ui` (the page), `openapi`, `health`; with `http` (the request
view), `inputs` (input checks), `errors` (the one HTTP error type), `models` (request and response bodies),
`spec` (what each route declares it answers), `waiting` (bounded waits) and `openapi_document` (the generator)."""

from __future__ import annotations

__all__: list[str] = []
