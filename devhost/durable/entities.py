"""The entity batch executor: one batch of operations against one entity, through the SDK.

Builds the context JSON `DurableEntityContext.from_json` reads (`self`, `state`, `exists`,
`batch`), runs the SDK's entity handler once for the whole batch and maps its results
back to the requests: responses for calls (the `ResponseMessage` shape the orchestrator
reads: `result`, plus `exceptionType` on failure), nothing for signals. Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["EntityBatchResult", "EntityResponse", "entity_id_parts", "run_entity_batch"]


@dataclass(frozen=True)
class EntityResponse:
    """The answer to one call, for the calling orchestration."""

    parent: str
    """The calling orchestration's instance id."""
    parent_execution: str | None
    request_id: str
    """The request id; the response is raised as an event with this name."""
    payload: str
    """JSON of the `ResponseMessage` (`{"result": <serialized>, "exceptionType"?: ...}`)."""


@dataclass
class EntityBatchResult:
    """The entity's new state after the batch and the responses to send."""

    exists: bool
    state: str | None
    """Serialized state (None when the entity does not exist after the batch)."""
    responses: list[EntityResponse] = field(default_factory=list)
    results: list[tuple[bool, str | None]] = field(default_factory=list)
    """(is_error, serialized result) per operation, in batch order."""


def entity_id_parts(entity_instance_id: str) -> tuple[str, str]:
    """(name, key) of a scheduler id `@name@key`."""
    if not entity_instance_id.startswith("@") or "@" not in entity_instance_id[1:]:
        raise ValueError(f"not an entity instance id: {entity_instance_id!r}")
    name, _, key = entity_instance_id[1:].partition("@")
    return name, key


def _operation(request: dict[str, Any]) -> dict[str, Any]:
    text = request.get("input")
    return {
        "name": request.get("op"),
        "signal": bool(request.get("signal")),
        "input": json.dumps(text) if text is not None else "null",
        "id": request.get("id"),
    }


def _respond(request: dict[str, Any], is_error: bool, result: str | None) -> EntityResponse | None:
    if request.get("signal") or not request.get("parent"):
        return None
    message: dict[str, Any] = {"result": result if result is not None else "null"}
    if is_error:
        message["exceptionType"] = "Exception"
    return EntityResponse(
        parent=str(request["parent"]),
        parent_execution=request.get("parentExecution"),
        request_id=str(request["id"]),
        payload=json.dumps(message),
    )


def run_entity_batch(
    handler: Callable[[str], str] | None,
    entity_instance_id: str,
    exists: bool,
    state: str | None,
    requests: list[dict[str, Any]],
) -> EntityBatchResult:
    """Apply `requests` in order; on a handler crash every call fails and the state stays."""
    name, key = entity_id_parts(entity_instance_id)
    if handler is None:
        failure = json.dumps(f"No entity function named '{name}' exists in this app.")
        return _all_failed(exists, state, requests, failure)
    context = json.dumps(
        {
            "self": {"name": name, "key": key},
            "state": state if exists else None,
            "exists": exists,
            "batch": [_operation(r) for r in requests],
        }
    )
    try:
        output = json.loads(handler(context))
        results = output["results"]
        if len(results) != len(requests):
            raise ValueError(f"the entity returned {len(results)} results for {len(requests)} operations")
    except Exception as exc:  # a crash of the whole batch, not of one operation
        return _all_failed(exists, state, requests, json.dumps(f"{type(exc).__name__}: {exc}"))
    new_exists = bool(output.get("entityExists"))
    batch = EntityBatchResult(exists=new_exists, state=output.get("entityState") if new_exists else None)
    for request, result in zip(requests, results):
        is_error = bool(result.get("isError"))
        value = result.get("result")
        batch.results.append((is_error, value))
        response = _respond(request, is_error, value)
        if response is not None:
            batch.responses.append(response)
    return batch


def failed_batch(exists: bool, state: str | None, requests: list[dict[str, Any]], message: str) -> EntityBatchResult:
    """Every operation of the batch failed with `message`; the state stays."""
    return _all_failed(exists, state, requests, json.dumps(message))


def _all_failed(exists: bool, state: str | None, requests: list[dict[str, Any]], failure: str) -> EntityBatchResult:
    batch = EntityBatchResult(exists=exists, state=state)
    for request in requests:
        batch.results.append((True, failure))
        response = _respond(request, True, failure)
        if response is not None:
            batch.responses.append(response)
    return batch
