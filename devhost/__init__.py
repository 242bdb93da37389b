"""devhost: a local host for Azure Functions Python v2 apps, run as `python -m devhost start`.

Rooms: `loader` (index the app), `config` (host.json, local settings), `routing` and
`constraints` (route templates), `keys` (auth levels), `invoke` (call one function like the
worker), `server` (starlette + uvicorn), `azurite` (optional storage emulator), `cli`, and
the `extension` seam through which the durable engine (`devhost.durable`) plugs in.
"""

from __future__ import annotations

__all__: list[str] = []
