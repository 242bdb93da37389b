"""The OpenAPI document of the app, generated: `python -m api.openapi_document [FILE]` (`make openapi`).

It joins the declarations of `api/spec.py` (what each route's methods answer) with the app's route table (its
registered HTTP functions) and takes every schema from the models (`api/models.py`, `assistant/views.py`). Nothing
in the app imports this module: the app serves the committed `openapi.json`. Tests fail when the committed file
differs from what this writes (`tests/assistant/test_openapi_document.py`), when a route's method is not declared,
and when a test sees a status code that the route's declaration lacks (`tests/conftest.py`).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema

from api.spec import ERROR, OPERATIONS, PATH_PARAMS, Param, Reply

__all__ = ["app_functions", "document", "main", "render", "routes"]

_COMPONENT = "#/components/schemas/"
NAMES = {
    "ChatView": "ChatState",
    "MessageView": "Message",
    "ToolCallView": "ToolCall",
    "PendingCallView": "PendingCall",
    "SkillBody": "Skill",
    "TodoView": "Todo",
    "TurnEventBody": "TurnEvent",
    "DecisionBody": "Decision",
    "AskBody": "Ask",
}
"""Schema names of the document for model classes whose Python name says `View` or `Body` (names kept from the
document's first version, which clients and tests refer to)."""


class _Schemas(GenerateJsonSchema):
    """pydantic's JSON Schema without the `title` it puts on every model and field."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def generate(self, schema: Any, mode: Any = "validation") -> Any:
        generated = super().generate(schema, mode=mode)
        generated.pop("title", None)
        for definition in generated.get("$defs", {}).values():
            definition.pop("title", None)
        return generated


def _renamed(value: Any) -> Any:
    """`value` with the model names replaced by the document's schema names, titles dropped."""
    text = json.dumps(value)
    for python, name in NAMES.items():
        text = text.replace(f'"{_COMPONENT}{python}"', f'"{_COMPONENT}{name}"')
    data = json.loads(text)
    return data


class _Components:
    """The schemas the document refers to, collected as operations use them."""

    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {}

    def ref(self, model: Any, mode: str) -> dict[str, Any]:
        """A schema for `model` (a model class, `list[Model]`, or a schema dict), its definitions collected."""
        if isinstance(model, Mapping):
            return dict(model)
        schema = TypeAdapter(model).json_schema(
            by_alias=True,
            ref_template=_COMPONENT + "{model}",
            schema_generator=_Schemas,
            mode=mode,  # type: ignore[arg-type]
        )
        for name, definition in schema.pop("$defs", {}).items():
            self.schemas.setdefault(NAMES.get(name, name), _renamed(definition))
        name = getattr(model, "__name__", None)
        if name and schema.get("type") == "object":
            self.schemas.setdefault(NAMES.get(name, name), _renamed(schema))
            return {"$ref": _COMPONENT + NAMES.get(name, name)}
        return _renamed(schema)


def _reply(reply: Reply | str, components: _Components) -> dict[str, Any]:
    if reply == ERROR:
        return {"$ref": "#/components/responses/Error"}
    assert isinstance(reply, Reply)
    out: dict[str, Any] = {"description": reply.description}
    if reply.headers:
        out["headers"] = {n: {"description": say, "schema": {"type": "string"}} for n, say in reply.headers.items()}
    content: dict[str, Any] = {}
    if reply.text:
        content["text/plain"] = {"schema": {"type": "string"}}
    if reply.json is not None:
        content["application/json"] = {"schema": components.ref(reply.json, "serialization")}
    if reply.sse is not None:
        content["text/event-stream"] = {"schema": {"type": "string", "description": reply.sse}}
    content.update({media: {"schema": dict(schema)} for media, schema in reply.media.items()})
    if content:
        out["content"] = content
    return out


def _param(param: Param) -> dict[str, Any]:
    out: dict[str, Any] = {"name": param.name, "in": param.where, "required": param.required}
    if param.description:
        out["description"] = param.description
    out["schema"] = dict(param.schema)
    return out


@cache
def app_functions() -> tuple[Any, ...]:
    """The app's indexed functions (the library indexes an app once: a second `get_functions()` raises)."""
    import function_app

    return tuple(function_app.app.get_functions())


def routes() -> dict[str, tuple[str, frozenset[str]]]:
    """The app's HTTP functions: name → (route under the prefix, its methods), from the indexed app."""
    found: dict[str, tuple[str, frozenset[str]]] = {}
    for function in app_functions():
        meta = json.loads(function.get_function_json())
        for binding in meta.get("bindings", []):
            if str(binding.get("type", "")).lower() == "httptrigger":
                route = "/" + str(binding.get("route", "")).strip("/")
                route = re.sub(r"\{\*?([A-Za-z]+)(:[^}]*)?\}", r"{\1}", route)
                found[function.get_function_name()] = (
                    route,
                    frozenset(m.upper() for m in binding.get("methods") or []),
                )
    return found


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the app."""
    app_functions()  # imports the app: every handler declares itself
    components = _Components()
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        item = paths.setdefault(op.path, {})
        names = re.findall(r"\{([A-Za-z]+)\}", op.path)
        if names and "parameters" not in item:
            item["parameters"] = [_param(PATH_PARAMS[n]) for n in names]
        entry: dict[str, Any] = {"tags": list(op.tags), "operationId": op.operation_id, "summary": op.summary}
        if op.anonymous:
            entry["security"] = [{}]
        if op.params:
            entry["parameters"] = [_param(p) for p in op.params]
        if op.body is not None:
            entry["requestBody"] = {
                "required": op.body_required,
                "content": {"application/json": {"schema": components.ref(op.body, "validation")}},
            }
        entry["responses"] = {str(code): _reply(reply, components) for code, reply in sorted(op.replies.items())}
        item[op.method.lower()] = entry
    from api.models import Error

    components.ref(Error, "serialization")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Durable assistant",
            "version": "1.0.0",
            "description": (
                "Chat with an AI assistant whose turns run as Durable Functions orchestrations and whose skills run "
                "as activities. Function-level keys: pass `code` or `x-functions-key` where keys are enforced. "
                "Generated from the code by `make openapi` (api/spec.py); do not edit by hand."
            ),
        },
        "servers": [{"url": "/api"}],
        "security": [{"functionKeyHeader": []}, {"functionKeyQuery": []}, {}],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(components.schemas.items())),
            "responses": {
                "Error": {
                    "description": "What is wrong.",
                    "content": {"application/json": {"schema": {"$ref": _COMPONENT + "Error"}}},
                }
            },
            "securitySchemes": {
                "functionKeyHeader": {"type": "apiKey", "in": "header", "name": "x-functions-key"},
                "functionKeyQuery": {"type": "apiKey", "in": "query", "name": "code"},
            },
        },
    }


def render() -> str:
    """The document as `openapi.json` holds it."""
    return json.dumps(document(), indent=2, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] = ()) -> int:
    """`python -m api.openapi_document [FILE]`: write the document to FILE (default: stdout)."""
    import importlib

    # Run as `python -m api.openapi_document` this module is `__main__`; use the one the tests import.
    text = importlib.import_module("api.openapi_document").render()
    if argv:
        Path(argv[0]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
