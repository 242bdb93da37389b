"""The channel between devhost (the host) and its worker processes, which load and run the app.

On Azure the Functions host and the Python worker are separate processes talking gRPC; devhost's
host and workers talk over a socket pair (the worker gets its end by file descriptor), in frames:
a 4-byte big-endian length, then a pickled tuple. Both sides are Python processes of the same
interpreter, so pickling carries the engine's own dataclasses (`ActivityRow`, `Outcome`, ...).

Worker → host:
    ("ready", functions)                      the app loaded; `functions`: one metadata dict per function
                                              (`devhost.loader.describe`), from which the host indexes it
    ("load_error", message)                   the app could not be loaded (the worker exits)
    ("result", call_id, value)                a call finished (its value: see the kinds below)
    ("error", call_id, message)               a call failed in a way the host must report (not the app's error)
    ("http.start", call_id, status, headers)  an HTTP call's response begins (headers: list of byte pairs)
    ("http.body", call_id, body, more)        a piece of it (`more` false: the last piece)
    ("rpc", rpc_id, method, target, body)     the app's durable client calls the host's management API
                                              (target: scheme, netloc, path, query)

Host → worker:
    ("call", call_id, kind, payload)          run app code; kinds and payloads:
        "http"         (function, request: dict, binding values, base URL)        → http.start/http.body, result None
        "orchestrator" (function, context JSON)                                   → `replay.Outcome`
        "entity"       (function, entity id, exists, state, requests)             → `entities.EntityBatchResult`
        "activity"     `store.ActivityRow`                                        → a history event (dict)
        "timer"        (function, past due, binding values)                       → None (an app error: "error")
    ("cancel", call_id)                       the HTTP client went away (the function's request sees a disconnect)
    ("rpc.result", rpc_id, status, body, n)   the answer to an "rpc" (status None: not a management route); `n`:
                                              the number of the last status change announced when it was computed
    ("status.changed", instance_id, n)        a status this worker may have read changed (change number `n`): a
                                              kept answer for that instance is stale (`worker_main.StatusCache`)
"""

from __future__ import annotations

import asyncio
import pickle
from typing import Any

__all__ = ["BASE_URL_ENV", "CLIENT_BINDING_ENV", "frame", "read_frame"]

BASE_URL_ENV = "DEVHOST_BASE_URL"
"""Tells a worker the host's origin: the app's durable client calls to it go over the channel, not HTTP."""
CLIENT_BINDING_ENV = "DEVHOST_DURABLE_CLIENT_BINDING"
"""Tells a worker the durable client binding JSON it gives activities that ask for one."""


def frame(value: Any) -> bytes:
    """`value` pickled, after its length (4 bytes, big-endian)."""
    data = pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
    return len(data).to_bytes(4, "big") + data


async def read_frame(reader: asyncio.StreamReader) -> Any:
    """The next value `frame` encoded (IncompleteReadError at the end of the stream)."""
    size = int.from_bytes(await reader.readexactly(4), "big")
    return pickle.loads(await reader.readexactly(size))
