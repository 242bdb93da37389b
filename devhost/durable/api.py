"""The management API under `/runtime/webhooks/durabletask/`, in Azure's URL shapes.

The same handlers serve the public webhooks (the URLs of `create_check_status_response`)
and the SDK client's RPC calls (`rpcBaseUrl`). Every refusal is a JSON body
`{"error": ..., "ExceptionMessage": ...}` (the SDK client reads `ExceptionMessage`).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from devhost.durable import history as h
from devhost.durable.binding import WEBHOOK_PREFIX, management_urls, rpc_prefix
from devhost.durable.operations import DurableError, InstanceQuery, Operations
from devhost.durable.payloads import PayloadError, body_to_text, text_to_value
from devhost.durable.tally import APP_CALL, ManagementTally
from devhost.responses import JSONResponse

__all__ = ["management_routes"]

_MAX_TOP = 10_000
"""The most instances one query page returns (a larger `top` is read as this)."""
_RUNNING_CODES = {"Pending", "Running", "ContinuedAsNew"}
_STATUSES = {"Pending", "Running", "Completed", "ContinuedAsNew", "Failed", "Canceled", "Terminated", "Suspended"}
Handler = Callable[[Request], Awaitable[Response]]
Authorizer = Callable[[Request], "str | None"]
"""Returns why a request may not call the webhooks (401), or None when it may."""


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message, "ExceptionMessage": message}, status_code=status)


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _flag(request: Request, name: str, default: bool = False) -> bool:
    value = request.query_params.get(name)
    if value is None:
        return default
    return value.strip().lower() in ("true", "1", "yes")


def _base_url(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


def _guarded(
    handler: Handler, authorize: Authorizer | None = None, tally: ManagementTally | None = None, operation: str = ""
) -> Handler:
    async def run(request: Request) -> Response:
        if tally is not None:
            source = "app" if request.scope.get(APP_CALL) else "http"
            tally.count(source, operation, request.path_params.get("instance_id"))
        if authorize is not None:
            refusal = authorize(request)
            if refusal is not None:
                return _error(401, refusal)
        try:
            return await handler(request)
        except DurableError as error:
            return _error(error.status, error.message)
        except PayloadError as error:
            return _error(400, str(error))

    return run


def _time_param(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    if not value:
        return None
    try:
        return h.format_time(h.parse_time(value))
    except ValueError:
        raise DurableError(400, f"{name} is not an ISO 8601 date-time: {value!r}") from None


def _query(request: Request) -> InstanceQuery:
    raw = request.query_params.get("runtimeStatus") or ""
    statuses = tuple(s.strip() for s in raw.split(",") if s.strip())
    canonical = {s.lower(): s for s in _STATUSES}
    unknown = [s for s in statuses if s.lower() not in canonical]
    if unknown:
        raise DurableError(400, f"unknown runtimeStatus value(s): {', '.join(unknown)}")
    top_text = request.query_params.get("top")
    top = None
    if top_text:
        if not top_text.isdigit() or int(top_text) < 1:
            raise DurableError(400, f"top must be a positive integer, not {top_text!r}")
        top = min(int(top_text), _MAX_TOP)
    return InstanceQuery(
        created_from=_time_param(request, "createdTimeFrom"),
        created_to=_time_param(request, "createdTimeTo"),
        statuses=tuple(canonical[s.lower()] for s in statuses),
        prefix=request.query_params.get("instanceIdPrefix") or None,
        top=top,
        continuation=request.headers.get("x-ms-continuation-token") or None,
    )


def management_routes(
    ops: Operations,
    hub_name: str,
    authorize: Authorizer | None = None,
    code: str | None = None,
    tally: ManagementTally | None = None,
) -> list[BaseRoute]:
    """Starlette routes of the management API bound to `ops`.

    With `authorize` (keys required) every public route asks it first, URLs handed out carry
    `code` (the system key), and the same handlers also answer under `rpc_prefix(code)` for the
    SDK client's RPC calls. With `tally`, every call is counted (`devhost.durable.tally`).
    """

    def urls(request: Request, instance_id: str) -> dict[str, str]:
        return management_urls(_base_url(request), hub_name, instance_id, code)

    def check_status(request: Request, instance_id: str, status: int = 202) -> JSONResponse:
        payload = urls(request, instance_id)
        headers = {"Location": payload["statusQueryGetUri"], "Retry-After": "1"}
        return JSONResponse(payload, status_code=status, headers=headers)

    async def start(request: Request) -> Response:
        name = request.path_params["name"]
        instance_id = request.path_params.get("instance_id")
        input_text = body_to_text(await request.body())
        instance_id = await ops.start(name, instance_id, input_text, request.query_params.get("version"))
        return check_status(request, instance_id)

    async def get_instance(request: Request) -> Response:
        instance_id = request.path_params["instance_id"]
        row = await ops.status(instance_id)
        if row is None:
            return _error(404, f"No instance with ID '{instance_id}' found.")
        body = ops.status_json(
            row,
            show_input=_flag(request, "showInput", True),
            show_history=_flag(request, "showHistory"),
            show_history_output=_flag(request, "showHistoryOutput"),
        )
        if row.status in _RUNNING_CODES:
            location = urls(request, instance_id)["statusQueryGetUri"]
            return JSONResponse(body, status_code=202, headers={"Location": location, "Retry-After": "1"})
        code = 500 if row.status == "Failed" and _flag(request, "returnInternalServerErrorOnFailure") else 200
        return JSONResponse(body, status_code=code)

    async def purge_instance(request: Request) -> Response:
        deleted = await ops.purge(request.path_params["instance_id"])
        return JSONResponse({"instancesDeleted": deleted})

    async def list_instances(request: Request) -> Response:
        rows, token = ops.query(_query(request))
        show_input = _flag(request, "showInput", True)
        headers = {"x-ms-continuation-token": token} if token else {}
        return JSONResponse([ops.status_json(r, show_input=show_input) for r in rows], headers=headers)

    async def purge_instances(request: Request) -> Response:
        query = _query(request)
        deleted = await ops.purge_by(query)
        if deleted == 0:
            return _error(404, "No instances matched the purge filter.")
        return JSONResponse({"instancesDeleted": deleted})

    async def raise_event(request: Request) -> Response:
        instance_id = request.path_params["instance_id"]
        if _media_type(request) != "application/json":
            # As the extension: an unknown or finished instance first, then the content type.
            row = await ops.status(instance_id)
            if row is None:
                return _error(404, f"No instance with ID '{instance_id}' found.")
            if row.status not in _RUNNING_CODES and row.status != "Suspended":
                return _error(410, f"Instance with ID '{instance_id}' is gone: it is {row.status}.")
            return _error(400, "Only application/json request content is supported")
        try:
            text = body_to_text(await request.body())
        except PayloadError as error:
            return _error(400, f"Invalid JSON content: {error}")
        await ops.raise_event(instance_id, request.path_params["event"], text)
        return Response(status_code=202)

    def control(action: str) -> Handler:
        async def run(request: Request) -> Response:
            await ops.control(request.path_params["instance_id"], action, request.query_params.get("reason"))
            return Response(status_code=202)

        return run

    async def restart(request: Request) -> Response:
        # The extension answers with the new instance's check-status payload (so the Python SDK's `restart()`
        # returns that payload on Azure, not an id).
        new_id = _flag(request, "restartWithNewInstanceId", True)
        instance_id = await ops.restart(request.path_params["instance_id"], new_id)
        return check_status(request, instance_id)

    async def rewind(request: Request) -> Response:
        if await ops.status(request.path_params["instance_id"]) is None:
            return _error(404, f"No instance with ID '{request.path_params['instance_id']}' found.")
        return _error(501, "rewind is not supported by devhost's durable engine")

    async def get_entity(request: Request) -> Response:
        exists, state = ops.read_entity(request.path_params["name"], request.path_params["key"])
        if not exists:
            return _error(404, f"Entity @{request.path_params['name']}@{request.path_params['key']} has no state.")
        return JSONResponse(text_to_value(state))

    async def signal_entity(request: Request) -> Response:
        # As the extension: DELETE signals the `delete` operation; a JSON body is the input's JSON, any other body
        # is the input as a string, no body no input.
        operation = "delete" if request.method == "DELETE" else request.query_params.get("op")
        if not operation:
            return _error(400, "the 'op' query parameter (the operation name) is required")
        body = await request.body()
        if not body:
            text = None
        elif _media_type(request) == "application/json":
            try:
                text = body_to_text(body)
            except PayloadError as error:
                return _error(400, f"Could not parse JSON content: {error}")
        else:
            try:
                text = json.dumps(body.decode("utf-8-sig"))
            except UnicodeDecodeError as error:
                return _error(400, f"the request body is not UTF-8 text: {error.reason} at byte {error.start}")
        await ops.signal_entity(request.path_params["name"], request.path_params["key"], operation, text)
        return Response(status_code=202)

    async def list_entities(request: Request) -> Response:
        top_text = request.query_params.get("top")
        top = min(int(top_text), _MAX_TOP) if top_text and top_text.isdigit() and int(top_text) > 0 else None
        items, token = ops.list_entities(
            request.path_params.get("name"), top, request.headers.get("x-ms-continuation-token")
        )
        return JSONResponse(items, headers={"x-ms-continuation-token": token} if token else {})

    p = WEBHOOK_PREFIX
    table: list[tuple[str, Handler, list[str], str]] = [
        ("/orchestrators/{name}", start, ["POST"], "start"),
        ("/orchestrators/{name}/{instance_id}", start, ["POST"], "start"),
        ("/instances", list_instances, ["GET"], "list"),
        ("/instances/", list_instances, ["GET"], "list"),
        ("/instances", purge_instances, ["DELETE"], "purgeMany"),
        ("/instances/", purge_instances, ["DELETE"], "purgeMany"),
        ("/instances/{instance_id}", get_instance, ["GET"], "status"),
        ("/instances/{instance_id}", purge_instance, ["DELETE"], "purge"),
        ("/instances/{instance_id}/raiseEvent/{event}", raise_event, ["POST"], "raiseEvent"),
        ("/instances/{instance_id}/terminate", control("terminate"), ["POST"], "terminate"),
        ("/instances/{instance_id}/suspend", control("suspend"), ["POST"], "suspend"),
        ("/instances/{instance_id}/resume", control("resume"), ["POST"], "resume"),
        ("/instances/{instance_id}/restart", restart, ["POST"], "restart"),
        ("/instances/{instance_id}/rewind", rewind, ["POST"], "rewind"),
        ("/entities", list_entities, ["GET"], "listEntities"),
        ("/entities/{name}", list_entities, ["GET"], "listEntities"),
        ("/entities/{name}/{key}", get_entity, ["GET"], "readEntity"),
        ("/entities/{name}/{key}", signal_entity, ["POST", "DELETE"], "signalEntity"),
    ]
    routes: list[BaseRoute] = [
        Route(p + path, _guarded(handler, authorize, tally, operation), methods=methods)
        for path, handler, methods, operation in table
    ]
    if authorize is not None and code:
        routes += [
            Route(rpc_prefix(code) + path, _guarded(handler, None, tally, operation), methods=methods)
            for path, handler, methods, operation in table
        ]
    return routes
