"""The durable client binding value and the management URLs of an instance.

`client_binding_json` is the JSON string the SDK's `durable_client_input` wrapper turns
into a `DurableOrchestrationClient` (`DurableOrchestrationBindings.from_json`): the task
hub name, the creation and management URL templates (with the `INSTANCEID` placeholder
the client replaces) and `rpcBaseUrl`, which points the client's RPC calls at the same
`/runtime/webhooks/durabletask/` handlers that serve the public management API.

With keys required, every URL carries the extension's system key (`code=`), as Azure's do, and
`rpcBaseUrl` points at the same handlers under `/runtime/webhooks/durabletask/rpc/<system key>/`
(the SDK's RPC calls carry no query key; on Azure they go to a port only the worker can reach).
"""

from __future__ import annotations

import json
from urllib.parse import quote

__all__ = ["WEBHOOK_PREFIX", "client_binding_json", "management_urls", "rpc_prefix"]

WEBHOOK_PREFIX = "/runtime/webhooks/durabletask"
"""Where the management API lives (Azure's path)."""
_PLACEHOLDER = "INSTANCEID"
_CONNECTION = "Storage"


def _query(hub: str, code: str | None = None) -> str:
    query = f"taskHub={quote(hub)}&connection={_CONNECTION}"
    return f"{query}&code={quote(code, safe='')}" if code else query


def rpc_prefix(code: str) -> str:
    """The path under which the SDK client's RPC calls are accepted without a query key."""
    return f"{WEBHOOK_PREFIX}/rpc/{code}"


def management_urls(base_url: str, hub: str, instance_id: str, code: str | None = None) -> dict[str, str]:
    """The check-status payload of `instance_id` (every URL works when followed; `code`: the system key)."""
    root = f"{base_url}{WEBHOOK_PREFIX}/instances/{quote(instance_id, safe='')}"
    query = _query(hub, code)
    return {
        "id": instance_id,
        "statusQueryGetUri": f"{root}?{query}",
        "sendEventPostUri": f"{root}/raiseEvent/{{eventName}}?{query}",
        "terminatePostUri": f"{root}/terminate?reason={{text}}&{query}",
        "rewindPostUri": f"{root}/rewind?reason={{text}}&{query}",
        "purgeHistoryDeleteUri": f"{root}?{query}",
        "restartPostUri": f"{root}/restart?{query}",
        "suspendPostUri": f"{root}/suspend?reason={{text}}&{query}",
        "resumePostUri": f"{root}/resume?reason={{text}}&{query}",
    }


def client_binding_json(base_url: str, hub: str, code: str | None = None) -> str:
    """The `durableClient` binding value for a function invoked through `base_url` (`code`: the system key)."""
    webhooks = f"{base_url}{WEBHOOK_PREFIX}"
    urls = management_urls(base_url, hub, _PLACEHOLDER, code)
    urls["id"] = _PLACEHOLDER
    query = _query(hub, code)
    return json.dumps(
        {
            "taskHubName": hub,
            "creationUrls": {
                "createNewInstancePostUri": f"{webhooks}/orchestrators/{{functionName}}[/{{instanceId}}]?{query}",
                "createAndWaitOnNewInstancePostUri": (
                    f"{webhooks}/orchestrators/{{functionName}}[/{{instanceId}}]?timeout={{timeoutInSeconds}}"
                    f"&pollingInterval={{intervalInSeconds}}&{query}"
                ),
            },
            "managementUrls": urls,
            "baseUrl": webhooks,
            "requiredQueryStringParameters": query,
            "rpcBaseUrl": f"{base_url}{rpc_prefix(code)}/" if code else f"{webhooks}/",
            "httpBaseUrl": "",
            "maxGrpcMessageSizeInBytes": 0,
            "grpcHttpClientTimeout": "00:01:40",
        }
    )
