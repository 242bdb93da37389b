"""One way between Python and JSON: `@wire` makes a frozen pydantic dataclass whose JSON form is camelCase.

Every value that crosses a durable boundary (an orchestration's input and output, an activity's input and result,
an entity's state and its operations' inputs and results) and every API body is declared once, as such a class:
its fields, their types and defaults say what the JSON holds, pydantic reads and writes it (`from_dict`,
`to_dict`), and the same declaration gives the OpenAPI document its schema. They stay dataclasses
(`dataclasses.replace` works, positional construction too), frozen, with camelCase aliases (`chat_id` is
`chatId`; the Python name is accepted too; unknown fields are ignored, so older and newer payloads both read).

What goes into the durable history must read back every history already stored (`tests/fixtures/histories`)
and write what it wrote: a field declared with `omit_default(...)` is left out of the JSON while it holds its
default, as the hand-written converters this replaced did, and the field order is the JSON's key order.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Annotated, Any, TypeVar, dataclass_transform

from pydantic import BeforeValidator, ConfigDict, Field, TypeAdapter
from pydantic.alias_generators import to_camel
from pydantic.dataclasses import dataclass as pydantic_dataclass

__all__ = ["WIRE_CONFIG", "Count", "adapter", "from_dict", "omit_default", "to_dict", "wire"]

T = TypeVar("T")

WIRE_CONFIG = ConfigDict(
    alias_generator=to_camel,
    populate_by_name=True,
    extra="ignore",
    arbitrary_types_allowed=True,
    use_attribute_docstrings=True,
)
"""camelCase in JSON, either name in Python, unknown fields ignored; a field's docstring is its description."""

Count = Annotated[int, BeforeValidator(lambda value: value or 0)]
"""A count where a stored `null` reads as 0."""


@cache
def adapter(cls: type[T]) -> TypeAdapter[T]:
    """The class's (cached) pydantic adapter."""
    return TypeAdapter(cls)


def to_dict(value: Any) -> dict[str, Any]:
    """`value` (a `@wire` class) as its JSON object."""
    return adapter(type(value)).dump_python(value, by_alias=True, mode="json")


def from_dict(cls: type[T], data: Any) -> T:
    """A `@wire` class read from its JSON object."""
    return adapter(cls).validate_python(data)


def _is_none(value: Any) -> bool:
    return value is None


def _is_falsy(value: Any) -> bool:
    return not value


def omit_default(default: Any = None, *, factory: Callable[[], Any] | None = None) -> Any:
    """A field left out of the JSON while it holds its default (`None`; a falsy default: `False`, `0`, `""`, `()`,
    left out while falsy; any other, while equal to it); `factory` for a default made fresh each time."""
    if default is None and factory is None:
        test = _is_none
    elif factory is not None or not default:
        test = _is_falsy
    else:
        test = default.__eq__
    if factory is not None:
        return Field(default_factory=factory, exclude_if=test)
    return Field(default=default, exclude_if=test)


@dataclass_transform(frozen_default=True, field_specifiers=(Field,))
def wire(cls: type[T] | None = None, *, schema: dict[str, Any] | None = None) -> Any:
    """Decorator: `cls` as a frozen pydantic dataclass with camelCase JSON, `to_dict` and `from_dict` (a class may
    define its own, e.g. to accept a missing value); `schema` adds keywords to its JSON Schema (what its fields
    cannot say, e.g. `minProperties`)."""

    def build(target: type[T]) -> type[T]:
        config = WIRE_CONFIG if schema is None else ConfigDict(**WIRE_CONFIG, json_schema_extra=schema)
        built = pydantic_dataclass(frozen=True, config=config)(target)
        if "to_dict" not in target.__dict__:
            built.to_dict = to_dict  # type: ignore[attr-defined]
        if "from_dict" not in target.__dict__:
            built.from_dict = classmethod(from_dict)  # type: ignore[attr-defined]
        return built

    return build if cls is None else build(cls)
