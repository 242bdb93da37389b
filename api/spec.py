"""What each route answers, declared beside its handler: the source of the OpenAPI document.

Azure Functions routes carry no response metadata, so each handler declares, beside itself, what each method of its
route answers: `@operation(...)` with its parameters, body and replies (`Reply`, or `ERROR` for the shared error
body), every status code it can answer. `api/openapi_document.py` joins these declarations with the app's route
table and the models' schemas into the document (`make openapi` writes `openapi.json`, which the app serves).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

__all__ = ["ERROR", "OPERATIONS", "PATH_PARAMS", "Operation", "Param", "Reply", "operation", "path_param"]

F = TypeVar("F", bound=Callable[..., Any])
ERROR = "error"
"""A reply with the shared error body (`{"error": ...}`)."""


@dataclass(frozen=True)
class Param:
    """A query, header or path parameter."""

    name: str
    where: str
    """`query`, `header` or `path`."""
    description: str
    schema: Mapping[str, Any]
    required: bool = False


@dataclass(frozen=True)
class Reply:
    """One status code's answer."""

    description: str
    json: Any = None
    """A model class, `list[Model]`, or a JSON schema dict, for `application/json`."""
    text: bool = False
    """A `text/plain` body."""
    sse: str | None = None
    """A `text/event-stream` body, described."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """Headers it sets, described."""
    media: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Other media types and their schemas (the page's files)."""


@dataclass(frozen=True)
class Operation:
    """What one method of one route answers."""

    method: str
    path: str
    """The route under the route prefix, as the document writes it (`/chats/{chatId}`)."""
    operation_id: str
    summary: str
    tags: tuple[str, ...]
    replies: Mapping[int, Reply | str]
    params: tuple[Param, ...] = ()
    body: Any = None
    body_required: bool = False
    anonymous: bool = False
    """Needs no function key (`security: [{}]`)."""
    function: str = ""
    """The HTTP function serving it (set by `operation`)."""


OPERATIONS: list[Operation] = []
"""Every declared operation, in declaration order."""
PATH_PARAMS: dict[str, Param] = {}
"""The path parameters, declared once (`path_param`)."""


def path_param(name: str, description: str, schema: Mapping[str, Any]) -> Param:
    """Declare path parameter `name` once for every route that has it."""
    param = Param(name, "path", description, schema, required=True)
    PATH_PARAMS[name] = param
    return param


def operation(
    method: str,
    path: str,
    *,
    operation_id: str,
    summary: str,
    tags: Sequence[str],
    replies: Mapping[int, Reply | str],
    params: Sequence[Param] = (),
    body: Any = None,
    body_required: bool = False,
    anonymous: bool = False,
) -> Callable[[F], F]:
    """Decorator (innermost, on the handler): declare what `method` on `path` answers."""

    def declare(handler: F) -> F:
        OPERATIONS.append(
            Operation(
                method.upper(),
                path,
                operation_id,
                summary,
                tuple(tags),
                dict(replies),
                tuple(params),
                body,
                body_required,
                anonymous,
                getattr(handler, "__name__", ""),
            )
        )
        return handler

    return declare
