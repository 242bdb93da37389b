"""The Durable Functions engine of devhost, plugged into the HTTP host as a `HostExtension`.

Serves `orchestrationTrigger`, `activityTrigger` and `entityTrigger` functions through the
SDK's own handlers, provides `durableClient` binding values, and mounts the management
API under `/runtime/webhooks/durabletask/`. State lives in `<data_dir>/<hubName>.sqlite`.

Its modules, by role (docs/durable-engine.md has the design):

- `history`: history event builders; `actions`: action types and replay bookkeeping; `replay`: the pure replay
  executor; `entities`: the entity batch executor; `payloads`: payload encoding at the edges
- `registry`: the app's durable functions by name; `versions`: orchestration versioning
- `store`: SQLite; `state`: in-memory hot state and the open batch; `steps`: one orchestration step / entity batch,
  returning what the engine must do; `engine`: the scheduler, group commit and recovery; `timers`: durable timers
  armed in memory; `activities`: activity execution
- `operations`: client operations; `api`: the management routes; `binding`: the client binding value;
  `local_rpc`: the app's client calls to those routes delivered in-process; `sdk_speedups`: memoized SDK helpers;
  `tally`: the count of management calls, as Azure would bill them
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from devhost.channel import CLIENT_BINDING_ENV
from devhost.config import ConfigError
from devhost.durable.api import management_routes
from devhost.durable.binding import WEBHOOK_PREFIX, client_binding_json, management_urls
from devhost.durable.engine import DurableEngine
from devhost.durable.local_rpc import LocalRpc, local_rpc_enabled
from devhost.durable.operations import DurableError, Operations
from devhost.durable.tally import CALLS_PATH, ManagementTally
from devhost.durable.versions import version_policy
from devhost.extension import BindingRequest
from devhost.keys import AuthLevel, HostKeys, KeyCheck, check_key
from devhost.loader import FunctionIndex
from devhost.responses import JSONResponse

__all__ = [
    "CALLS_PATH",
    "WEBHOOK_PREFIX",
    "WORK_ITEMS_PATH",
    "DurableEngine",
    "DurableError",
    "DurableExtension",
    "Operations",
    "create_extension",
    "management_urls",
]


WORK_ITEMS_PATH = "/admin/host/durable/workitems"
"""devhost's count of durable work items done since start, by kind (not an Azure route)."""


class DurableExtension:
    """The `HostExtension` that runs durable functions for one task hub."""

    trigger_types = frozenset({"orchestrationtrigger", "activitytrigger", "entitytrigger"})
    binding_types = frozenset({"durableclient"})

    def __init__(self, data_dir: Path, hub_name: str, origin: str, keys: HostKeys | None = None) -> None:
        self.hub_name = hub_name
        self.origin = origin.rstrip("/")
        """This host's own local address (`HostConfig.base_url`): every client binding's URLs point there, whatever
        the request that invoked a function said (its Host, its X-Forwarded-* headers)."""
        self.keys = keys
        """When set, the webhooks need the master key or the `durabletask_extension` system key (`--require-keys`)."""
        code = keys.durabletask_key if keys is not None else None
        self.client_binding = client_binding_json(self.origin, hub_name, code)
        """The `durableClient` binding value every function gets (HTTP, activity, timer): one for the run."""
        self.engine = DurableEngine(Path(data_dir) / f"{hub_name}.sqlite", hub_name, self.client_binding)
        self.operations = Operations(self.engine)
        self.tally = ManagementTally()
        """Every management API call since start (`GET /admin/host/durable/managementcalls`)."""
        self.local_rpc = LocalRpc(self.routes(), self.origin) if local_rpc_enabled() else None
        """Delivers the app's client calls to the management routes in-process (`local_rpc`)."""

    def routes(self) -> list[BaseRoute]:
        if self.keys is None:
            management = management_routes(self.operations, self.hub_name, tally=self.tally)
        else:
            management = management_routes(
                self.operations, self.hub_name, self._authorize, self.keys.durabletask_key, self.tally
            )
        return [
            *management,
            Route(WORK_ITEMS_PATH, self._work_items, methods=["GET"]),
            Route(CALLS_PATH, self._management_calls, methods=["GET"]),
        ]

    def _admin_refusal(self, request: Request, what: str) -> Response | None:
        if (
            self.keys is not None
            and check_key(AuthLevel.ADMIN, self.keys, query=request.query_params, headers=request.headers)
            is not KeyCheck.ALLOWED
        ):
            return JSONResponse({"error": f"the {what} need the master key"}, status_code=401)
        return None

    async def _work_items(self, request: Request) -> Response:
        """devhost's own: the durable work done since start, by kind (the master key when keys are required)."""
        refusal = self._admin_refusal(request, "work-item counts")
        return refusal or JSONResponse(dict(sorted(self.engine.work_items.items())))

    async def _management_calls(self, request: Request) -> Response:
        """devhost's own: the management API calls since start, with the status reads workers answered from their
        caches (`devhost.durable.tally`; the master key when keys are required)."""
        refusal = self._admin_refusal(request, "management call counts")
        if refusal is not None:
            return refusal
        workers = self.engine.workers
        cached = await workers.cached_status_reads() if workers is not None else {}
        return JSONResponse(self.tally.snapshot(cached))

    def _authorize(self, request: Request) -> str | None:
        """Why `request` may not call the webhooks (as on Azure: the master or the system key), or None."""
        assert self.keys is not None
        outcome = check_key(AuthLevel.SYSTEM, self.keys, query=request.query_params, headers=request.headers)
        if outcome is KeyCheck.ALLOWED:
            return None
        why = "no key was given" if outcome is KeyCheck.MISSING else "the key given is not valid"
        return (
            "the Durable Task webhooks need the master key or the 'durabletask_extension' system key "
            f"(query `code` or header `x-functions-key`); {why}"
        )

    def binding_value(self, request: BindingRequest) -> Any:
        return self.client_binding

    def attach_workers(self, workers: Any) -> None:
        """Run orchestrators, entities and activities in `workers` (`devhost.workers.WorkerPool`): they get the
        client binding activities are given, and the app's client calls reach the management API over their
        channel (`local_rpc`'s in-process delivery)."""
        self.engine.workers = workers
        workers.env[CLIENT_BINDING_ENV] = self.client_binding
        rpc = self.local_rpc or LocalRpc(self.routes(), self.origin)
        workers.rpc = rpc.call
        self.engine.status_listeners.append(workers.status_changed)

    async def startup(self, index: FunctionIndex) -> None:
        await self.engine.startup(index)
        if self.local_rpc is not None:
            self.local_rpc.install(asyncio.get_running_loop())

    async def shutdown(self) -> None:
        if self.local_rpc is not None:
            self.local_rpc.uninstall()
        await self.engine.shutdown()


def create_extension(config: Any) -> DurableExtension:
    """The durable extension for `config` (devhost's `HostConfig`: uses `data_dir`, `hub_name`, keys, `base_url` (the
    host's own local address), host.json)."""
    keys = getattr(config, "keys", None) if getattr(config, "require_keys", False) else None
    extension = DurableExtension(Path(config.data_dir), str(config.hub_name), str(config.base_url), keys)
    extensions = getattr(config, "host_json", {}).get("extensions") or {}
    durable = (
        next((v for k, v in extensions.items() if k.lower() == "durabletask"), None)
        if isinstance(extensions, dict)
        else None
    )
    try:
        extension.engine.versions = version_policy(durable)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    return extension
