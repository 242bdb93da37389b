"""The channel between devhost (the host) and its worker processes, which load and run the app.

On Azure the Functions host and the Python worker are separate processes talking gRPC; devhost's host and workers
talk over a socket pair (the worker gets its end by file descriptor). Every message is one of the frozen dataclasses
below, defined here once for both processes; a frame is a 4-byte big-endian length, then the message pickled as
`(kind number, *fields)` (`encode` / `decode`; no class reference in the frame). Both sides run the same interpreter
and devhost, so fields may hold the engine's own dataclasses (`ActivityRow`, `Outcome`, ...).

Worker -> host:

    Ready(functions)                the app loaded; one metadata dict per function (`devhost.loader.describe`), from
                                    which the host indexes it
    LoadError(message)              the app could not be loaded (the worker exits)
    Result(call_id, value)          a call finished; its value: see the calls below
    Failure(call_id, message)       a call failed in a way the host must report (not an app error the call answers)
    HttpStart(call_id, status,      an HTTP call's response begins (headers: byte pairs, as in ASGI)
              headers)
    HttpBody(call_id, body, more)   a piece of it (`more` false: the last piece)
    Rpc(rpc_id, method, path,       the app's durable client calls the host's management API
        query, body)
    Tally(query_id, reads)          the status reads this worker answered from its cache since it started: instance
                                    -> (count, the latest times) (the answer to a `TallyQuery`)

Host -> worker: the calls, each answered by `Result` (its value after the arrow) or `Failure`, `call_id` set by the
pool; then the rest:

    HttpCall(function, scope,       run an HTTP function once its body is complete -> `HttpStart`/`HttpBody`
             route_params,          messages, then None. `body` is the body's first piece; with `more_body` the
             bindings, body,        rest follows in `RequestBody` messages (`body_length`: the declared size)
             more_body,
             body_length)
    RequestBody(call_id, piece,     the next piece of an HTTP call's request body (`more` false: the last); the
                more)               worker gathers the pieces into one `bytes` (`devhost.bodies`)
    OrchestratorCall(function,      one orchestrator episode -> a `replay.Outcome`
                     context)
    EntityCall(function, entity_id, one entity batch -> an `entities.EntityBatchResult`
               exists, state,
               requests)
    ActivityCall(activity)          one activity (`store.ActivityRow`) -> its history event (a dict)
    TimerCall(function, past_due,   one run of a timer function -> None (an app error: `Failure`)
              bindings)
    Cancel(call_id)                 the HTTP client went away (the function's request sees a disconnect), or its
                                    body was refused before it was complete (the worker drops it -> None)
    RpcResult(rpc_id, status,       the answer to an `Rpc` (status None: not a management route); `seq`: the number
              body, seq)            of the last status change announced when it was computed
    StatusChanged(instance_id, seq) a status this worker may have read changed (change number `seq`): a kept answer
                                    for that instance is stale (`worker_main.StatusCache`)
    TallyQuery(query_id)            how many status reads did the worker answer from its cache (for
                                    `devhost.durable.tally`) -> `Tally`
"""

from __future__ import annotations

import asyncio
import pickle
from dataclasses import dataclass, fields
from operator import attrgetter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from devhost.durable.store import ActivityRow

__all__ = [
    "BASE_URL_ENV",
    "CLIENT_BINDING_ENV",
    "ActivityCall",
    "Call",
    "Cancel",
    "ChannelError",
    "EntityCall",
    "Failure",
    "HostMessage",
    "HttpBody",
    "HttpCall",
    "HttpStart",
    "LoadError",
    "Message",
    "OrchestratorCall",
    "Ready",
    "RequestBody",
    "Result",
    "Rpc",
    "RpcResult",
    "StatusChanged",
    "Tally",
    "TallyQuery",
    "TimerCall",
    "WorkerMessage",
    "decode",
    "encode",
    "read_message",
    "write_message",
]

BASE_URL_ENV = "DEVHOST_BASE_URL"
"""Tells a worker the host's own local address: the app's durable client calls to it go over the channel."""
CLIENT_BINDING_ENV = "DEVHOST_DURABLE_CLIENT_BINDING"
"""Tells a worker the durable client binding JSON it gives activities that ask for one."""


class ChannelError(ValueError):
    """Bytes that are no message of this channel (the peer is not a devhost of this version, or is broken)."""


# -- worker -> host ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Ready:
    """The app loaded in the worker."""

    functions: list[dict[str, Any]]
    """One metadata dict per function (`devhost.loader.describe`)."""


@dataclass(frozen=True, slots=True)
class LoadError:
    """The app could not be loaded; the worker exits."""

    message: str


@dataclass(frozen=True, slots=True)
class Result:
    """A call finished with `value`."""

    call_id: int
    value: Any


@dataclass(frozen=True, slots=True)
class Failure:
    """A call failed in a way the host reports (the message holds the traceback)."""

    call_id: int
    message: str


@dataclass(frozen=True, slots=True)
class HttpStart:
    """An HTTP call's response begins."""

    call_id: int
    status: int
    headers: list[tuple[bytes, bytes]]


@dataclass(frozen=True, slots=True)
class HttpBody:
    """A piece of an HTTP call's response body."""

    call_id: int
    body: bytes
    more: bool
    """False on the last piece."""


@dataclass(frozen=True, slots=True)
class Rpc:
    """The app's durable client calls the host's management API (at the host's own address)."""

    rpc_id: int
    method: str
    path: str
    """The URL's path, percent-encoded as the client sent it."""
    query: str
    body: bytes | None


# -- host -> worker ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class HttpCall:
    """Run an HTTP function for one request."""

    function: str
    scope: dict[str, Any]
    """The request's ASGI scope, the parts a function sees (`server._SCOPE_KEYS`)."""
    route_params: dict[str, str]
    bindings: dict[str, Any]
    """The host's values for the function's other input bindings (a durable client)."""
    body: bytes
    """The request body's first piece (all of it unless `more_body`)."""
    more_body: bool = False
    """More of the body follows in `RequestBody` messages."""
    body_length: int | None = None
    """The body's declared size (`Content-Length`), None when unknown."""
    call_id: int = 0


@dataclass(frozen=True, slots=True)
class RequestBody:
    """The next piece of an HTTP call's request body."""

    call_id: int
    piece: bytes
    more: bool
    """False on the last piece."""


@dataclass(frozen=True, slots=True)
class OrchestratorCall:
    """Run one orchestrator episode (`replay.run_orchestrator`)."""

    function: str
    context: str
    """The context JSON the SDK's handler reads."""
    call_id: int = 0


@dataclass(frozen=True, slots=True)
class EntityCall:
    """Run one entity batch (`entities.run_entity_batch`)."""

    function: str
    entity_id: str
    exists: bool
    state: str | None
    requests: list[dict[str, Any]]
    call_id: int = 0


@dataclass(frozen=True, slots=True)
class ActivityCall:
    """Run one activity work item."""

    activity: ActivityRow
    call_id: int = 0


@dataclass(frozen=True, slots=True)
class TimerCall:
    """Run a timer function once."""

    function: str
    past_due: bool
    bindings: dict[str, Any]
    call_id: int = 0


@dataclass(frozen=True, slots=True)
class Cancel:
    """The HTTP client of a call went away."""

    call_id: int


@dataclass(frozen=True, slots=True)
class RpcResult:
    """The answer to an `Rpc`."""

    rpc_id: int
    status: int | None
    """None: no management route answers it (the worker lets the whole host answer, over HTTP)."""
    body: bytes
    seq: int
    """The number of the last status change announced when the answer was computed."""


@dataclass(frozen=True, slots=True)
class StatusChanged:
    """A status a worker may have read changed."""

    instance_id: str
    seq: int


@dataclass(frozen=True, slots=True)
class TallyQuery:
    """The host asks a worker for its count of status reads answered from its cache."""

    query_id: int


@dataclass(frozen=True, slots=True)
class Tally:
    """A worker's status reads answered from its cache since it started."""

    query_id: int
    reads: dict[str, tuple[int, list[float]]]
    """Instance id -> (reads, `time.time()` of the latest)."""


Call = HttpCall | OrchestratorCall | EntityCall | ActivityCall | TimerCall
"""The work a host asks of a worker; each is answered by `Result` or `Failure` with its `call_id`."""
WorkerMessage = Ready | LoadError | Result | Failure | HttpStart | HttpBody | Rpc | Tally
HostMessage = (
    HttpCall
    | OrchestratorCall
    | EntityCall
    | ActivityCall
    | TimerCall
    | RequestBody
    | Cancel
    | RpcResult
    | StatusChanged
    | TallyQuery
)
Message = WorkerMessage | HostMessage

_KINDS: tuple[type[Any], ...] = (
    Ready,
    LoadError,
    Result,
    Failure,
    HttpStart,
    HttpBody,
    Rpc,
    HttpCall,
    OrchestratorCall,
    EntityCall,
    ActivityCall,
    TimerCall,
    Cancel,
    RpcResult,
    StatusChanged,
    RequestBody,
    TallyQuery,
    Tally,
)
_NUMBERS = {kind: number for number, kind in enumerate(_KINDS)}
_FIELDS = {kind: attrgetter(*(f.name for f in fields(kind))) for kind in _KINDS}
_SINGLE = {kind for kind in _KINDS if len(fields(kind)) == 1}
_PROTOCOL = pickle.HIGHEST_PROTOCOL
_SPLIT_AT = 64 * 1024
"""A frame at least this long is written as its header and its data apart (no copy to join them)."""


def encode(message: Message) -> bytes:
    """`message` as the bytes of one frame's data (without the length)."""
    kind = type(message)
    values = _FIELDS[kind](message)
    return pickle.dumps((_NUMBERS[kind], values) if kind in _SINGLE else (_NUMBERS[kind], *values), _PROTOCOL)


def decode(data: bytes) -> Message:
    """The message `encode` made; ChannelError when `data` is none."""
    try:
        items = pickle.loads(data)
        return _KINDS[items[0]](*items[1:])  # type: ignore[no-any-return]
    except Exception as error:
        raise ChannelError(f"not a channel message ({type(error).__name__}: {error})") from None


def write_message(writer: asyncio.StreamWriter, message: Message) -> None:
    """Write one frame (buffered by the writer; await its `drain()` for backpressure)."""
    data = encode(message)
    header = len(data).to_bytes(4, "big")
    if len(data) < _SPLIT_AT:
        writer.write(header + data)
    else:
        writer.write(header)
        writer.write(data)


async def read_message(reader: asyncio.StreamReader) -> Message:
    """The next message (IncompleteReadError at the end of the stream, ChannelError for bytes that are none)."""
    size = int.from_bytes(await reader.readexactly(4), "big")
    return decode(await reader.readexactly(size))
