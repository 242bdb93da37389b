"""Inline route constraints (`{id:int}`, `{name:alpha}`, `{code:regex(^\\d+$)}`...), as ASP.NET reads them.

Each constraint is a name with optional arguments and answers one question: does this
route value satisfy it. Unknown names are a template error, as they are for the host.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation

__all__ = ["KNOWN_CONSTRAINTS", "Constraint", "ConstraintError"]

_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_INTEGER = re.compile(r"[+-]?\d+")
_ALPHA = re.compile(r"[a-z]*", re.IGNORECASE)


class ConstraintError(ValueError):
    """A constraint name is unknown or its arguments are malformed."""


def _as_integer(value: str, bounds: tuple[int, int]) -> int | None:
    text = value.strip()
    if not _INTEGER.fullmatch(text) or len(text.lstrip("+-").lstrip("0")) > 19:
        return None  # more digits than any 64-bit integer has (and int() refuses over 4300)
    number = int(text)
    return number if bounds[0] <= number <= bounds[1] else None


def _is_float(value: str) -> bool:
    if "_" in value:
        return False
    try:
        float(value.strip())
    except ValueError:
        return False
    return True


def _is_decimal(value: str) -> bool:
    if "_" in value:
        return False
    try:
        return Decimal(value.strip()).is_finite()
    except InvalidOperation:
        return False


def _is_guid(value: str) -> bool:
    try:
        uuid.UUID(value.strip())
    except ValueError:
        return False
    return True


def _is_datetime(value: str) -> bool:
    try:
        datetime.fromisoformat(value.strip())
    except ValueError:
        return False
    return True


def _int_arg(args: tuple[str, ...], index: int, name: str) -> int:
    try:
        return int(args[index].strip())
    except (IndexError, ValueError):
        raise ConstraintError(f"constraint {name!r} needs integer arguments, got {args!r}") from None


def _checker(name: str, args: tuple[str, ...]) -> Callable[[str], bool]:
    """The predicate for constraint `name(args)`; ConstraintError if it is not one ASP.NET knows."""
    lowered = name.lower()
    no_args = {
        "int": lambda v: _as_integer(v, _INT32) is not None,
        "long": lambda v: _as_integer(v, _INT64) is not None,
        "bool": lambda v: v.strip().lower() in ("true", "false"),
        "double": _is_float,
        "float": _is_float,
        "decimal": _is_decimal,
        "guid": _is_guid,
        "datetime": _is_datetime,
        "alpha": lambda v: _ALPHA.fullmatch(v) is not None,
        "required": lambda v: v != "",
    }
    if lowered in no_args:
        if args:
            raise ConstraintError(f"constraint {name!r} takes no arguments")
        return no_args[lowered]
    if lowered == "regex":
        if len(args) != 1:
            raise ConstraintError("constraint 'regex' takes one pattern")
        try:
            pattern = re.compile(args[0], re.IGNORECASE)
        except re.error as error:
            raise ConstraintError(f"bad regex in route constraint: {error}") from None
        return lambda v: pattern.search(v) is not None
    if lowered in ("minlength", "maxlength"):
        bound = _int_arg(args, 0, name)
        return (lambda v: len(v) >= bound) if lowered == "minlength" else (lambda v: len(v) <= bound)
    if lowered == "length":
        if len(args) == 1:
            exact = _int_arg(args, 0, name)
            return lambda v: len(v) == exact
        low, high = _int_arg(args, 0, name), _int_arg(args, 1, name)
        return lambda v: low <= len(v) <= high
    if lowered in ("min", "max", "range"):
        if lowered == "range":
            low, high = _int_arg(args, 0, name), _int_arg(args, 1, name)
        elif lowered == "min":
            low, high = _int_arg(args, 0, name), _INT64[1]
        else:
            low, high = _INT64[0], _int_arg(args, 0, name)

        def in_range(value: str) -> bool:
            number = _as_integer(value, _INT64)
            return number is not None and low <= number <= high

        return in_range
    raise ConstraintError(f"unknown route constraint {name!r}")


KNOWN_CONSTRAINTS = frozenset(
    [
        "int",
        "long",
        "bool",
        "double",
        "float",
        "decimal",
        "guid",
        "datetime",
        "alpha",
        "required",
        "regex",
        "minlength",
        "maxlength",
        "length",
        "min",
        "max",
        "range",
    ]
)
"""Constraint names devhost understands (ASP.NET Core's built-in set)."""


@dataclass(frozen=True)
class Constraint:
    """One inline constraint of a route parameter, e.g. `int` or `range(1,10)`."""

    name: str
    """The constraint name as written, e.g. `int`, `minlength`."""
    args: tuple[str, ...] = ()
    """Its arguments as written between the parentheses, split on top-level commas."""
    _check: Callable[[str], bool] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_check", _checker(self.name, self.args))

    def accepts(self, value: str) -> bool:
        """Whether the (decoded) route value satisfies this constraint."""
        return self._check(value)
