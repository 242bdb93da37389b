"""Route templates of HTTP-triggered functions, and choosing the function for a request.

Templates follow ASP.NET Core routing as the Functions host applies it: literal segments,
`{name}`, optional `{name?}`, defaults `{name=value}`, inline constraints `{id:int}`, catch-all
`{*rest}`, complex segments such as `{file}.{ext}`; matching is case-insensitive and the
host's route prefix comes first. Routes are tried in ASP.NET's precedence order (literal
segments before constrained parameters before parameters before catch-alls); a route whose
path matches but whose methods don't is a partial match, which becomes 405 with `Allow`.
This module is pure: no server, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote

from starlette.routing import Match

from devhost.constraints import Constraint, ConstraintError

__all__ = [
    "FunctionRoute",
    "Match",
    "Parameter",
    "RouteDecision",
    "RouteTable",
    "RouteTemplate",
    "RouteTemplateError",
    "Segment",
    "split_path",
]


class RouteTemplateError(ValueError):
    """A route template that ASP.NET routing would reject."""


@dataclass(frozen=True)
class Parameter:
    """A `{...}` route parameter."""

    name: str
    constraints: tuple[Constraint, ...] = ()
    optional: bool = False
    """`{name?}`: the segment may be absent."""
    catch_all: bool = False
    """`{*name}` / `{**name}`: takes the rest of the path, slashes included."""
    default: str | None = None
    """`{name=value}`: the value used when the segment is absent."""

    def accepts(self, value: str) -> bool:
        """Whether every inline constraint accepts `value`."""
        return all(c.accepts(value) for c in self.constraints)


@dataclass(frozen=True)
class Segment:
    """One `/`-separated template segment: literal text and parameters, in order."""

    parts: tuple[str | Parameter, ...]
    _pattern: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.parts) > 1:
            regex = "".join(
                f"(?P<p{i}>.+)" if isinstance(part, Parameter) else re.escape(part) for i, part in enumerate(self.parts)
            )
            object.__setattr__(self, "_pattern", re.compile(regex, re.IGNORECASE | re.DOTALL))

    @property
    def parameter(self) -> Parameter | None:
        """The parameter when the segment is exactly one parameter, else None."""
        if len(self.parts) == 1 and isinstance(self.parts[0], Parameter):
            return self.parts[0]
        return None

    @property
    def precedence(self) -> int:
        """ASP.NET's inbound precedence digit: lower is tried first."""
        if len(self.parts) > 1:
            return 2
        part = self.parts[0]
        if isinstance(part, str):
            return 1
        digit = 5 if part.catch_all else 3
        return digit - 1 if part.constraints else digit

    def match(self, text: str) -> dict[str, str] | None:
        """The route values this (decoded) path segment gives, or None if it doesn't match."""
        if self._pattern is None:
            part = self.parts[0]
            if isinstance(part, str):
                return {} if part.casefold() == text.casefold() else None
            return {part.name: text} if text and part.accepts(text) else None
        found = self._pattern.fullmatch(text)
        if found is None:
            return None
        values: dict[str, str] = {}
        for i, part in enumerate(self.parts):
            if isinstance(part, Parameter):
                value = found.group(f"p{i}")
                if not part.accepts(value):
                    return None
                values[part.name] = value
        return values


def _split_top_level(text: str, separator: str) -> list[str]:
    """Split on `separator` outside parentheses."""
    pieces: list[str] = []
    depth, start = 0, 0
    for i, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth = max(0, depth - 1)
        elif char == separator and depth == 0:
            pieces.append(text[start:i])
            start = i + 1
    pieces.append(text[start:])
    return pieces


def _parse_constraint(text: str) -> Constraint:
    if "(" in text:
        if not text.endswith(")"):
            raise RouteTemplateError(f"malformed constraint {text!r}")
        name, raw = text[: text.index("(")], text[text.index("(") + 1 : -1]
        args = (raw,) if name.lower() == "regex" else tuple(a.strip() for a in raw.split(","))
    else:
        name, args = text, ()
    try:
        return Constraint(name.strip(), args)
    except ConstraintError as error:
        raise RouteTemplateError(str(error)) from None


def _parse_parameter(body: str) -> Parameter:
    catch_all = body.startswith("*")
    body = body.lstrip("*")
    default: str | None = None
    optional = False
    pieces = _split_top_level(body, ":")
    head, constraint_texts = pieces[0], pieces[1:]
    # `=default` and `?` belong to the last piece (after any constraints).
    last = constraint_texts[-1] if constraint_texts else head
    if "=" in last and not last.endswith(")"):
        last, default = last.split("=", 1)
    if last.endswith("?"):
        last, optional = last[:-1], True
    if constraint_texts:
        constraint_texts[-1] = last
    else:
        head = last
    name = head.strip()
    if not name or not re.fullmatch(r"[^{}/?*=:]+", name):
        raise RouteTemplateError(f"bad route parameter name {name!r}")
    if optional and default is not None:
        raise RouteTemplateError(f"parameter {name!r} cannot be optional and have a default")
    constraints = tuple(_parse_constraint(t) for t in constraint_texts if t.strip())
    return Parameter(name, constraints, optional, catch_all, default)


def _parse_segment(text: str) -> Segment:
    parts: list[str | Parameter] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if text.startswith("{{", i) or text.startswith("}}", i):
            literal.append(char)
            i += 2
            continue
        if char == "}":
            raise RouteTemplateError(f"unmatched '}}' in {text!r}")
        if char != "{":
            literal.append(char)
            i += 1
            continue
        depth, j = 0, i + 1
        while j < len(text) and not (text[j] == "}" and depth == 0):
            depth += {"(": 1, ")": -1}.get(text[j], 0)
            j += 1
        if j >= len(text):
            raise RouteTemplateError(f"unclosed '{{' in {text!r}")
        if literal:
            parts.append("".join(literal))
            literal = []
        if parts and isinstance(parts[-1], Parameter):
            raise RouteTemplateError(f"two parameters must be separated by literal text in {text!r}")
        parts.append(_parse_parameter(text[i + 1 : j].replace("{{", "{").replace("}}", "}")))
        i = j + 1
    if literal:
        parts.append("".join(literal))
    if not parts:
        raise RouteTemplateError("empty segment ('//') in route template")
    if len(parts) > 1 and any(isinstance(p, Parameter) and (p.catch_all or p.optional) for p in parts):
        raise RouteTemplateError(f"catch-all or optional parameter in complex segment {text!r}")
    return Segment(tuple(parts))


@dataclass(frozen=True)
class RouteTemplate:
    """A parsed route template, the route prefix included."""

    text: str
    segments: tuple[Segment, ...]

    @classmethod
    def parse(cls, route: str, prefix: str = "") -> RouteTemplate:
        """Parse `prefix/route` (either may be empty; leading and trailing `/` are ignored)."""
        text = "/".join(p.strip("/") for p in (prefix, route) if p.strip("/"))
        segments = tuple(_parse_segment(s) for s in text.split("/")) if text else ()
        names: set[str] = set()
        for index, segment in enumerate(segments):
            param = segment.parameter
            if param is not None and param.catch_all and index != len(segments) - 1:
                raise RouteTemplateError(f"a catch-all parameter must be the last segment: {text!r}")
            for part in segment.parts:
                if isinstance(part, Parameter):
                    if part.name.lower() in names:
                        raise RouteTemplateError(f"parameter {part.name!r} appears twice in {text!r}")
                    names.add(part.name.lower())
        for index, segment in enumerate(segments):
            param = segment.parameter
            if param is not None and param.optional:
                after = segments[index + 1 :]
                if any(
                    s.parameter is None
                    or not (s.parameter.optional or s.parameter.default is not None or s.parameter.catch_all)
                    for s in after
                ):
                    raise RouteTemplateError(f"optional parameter {param.name!r} must be at the end: {text!r}")
        return cls(text, segments)

    @property
    def precedence(self) -> tuple[int, ...]:
        """Sort key: ASP.NET's inbound route precedence (smaller is tried first)."""
        return tuple(s.precedence for s in self.segments)

    def match(self, path: Sequence[str]) -> dict[str, str] | None:
        """Route values if the decoded path segments match this template, else None."""
        values: dict[str, str] = {}
        for index, segment in enumerate(self.segments):
            param = segment.parameter
            if param is not None and param.catch_all:
                rest = "/".join(path[index:])
                if rest:
                    if not param.accepts(rest):
                        return None
                    values[param.name] = rest
                elif param.default is not None:
                    values[param.name] = param.default
                return values
            if index >= len(path):
                if param is not None and (param.optional or param.default is not None):
                    if param.default is not None:
                        values[param.name] = param.default
                    continue
                return None
            found = segment.match(path[index])
            if found is None:
                return None
            values.update(found)
        return values if len(path) <= len(self.segments) else None


def split_path(raw_path: str) -> list[str]:
    """Decoded segments of a raw (still percent-encoded) URL path; one trailing `/` is ignored."""
    trimmed = raw_path.split("?", 1)[0].lstrip("/")
    if trimmed.endswith("/"):
        trimmed = trimmed[:-1]
    return [unquote(s) for s in trimmed.split("/")] if trimmed else []


@dataclass(frozen=True)
class FunctionRoute:
    """An HTTP-triggered function's route: template plus accepted methods."""

    function_name: str
    template: RouteTemplate
    methods: frozenset[str] | None = None
    """Upper-case methods; None accepts every method (no `methods` in the trigger)."""

    def matches(self, method: str, path: Sequence[str]) -> tuple[Match, dict[str, str]]:
        """NONE (path differs), PARTIAL (path matches, method doesn't) or FULL, with route values."""
        values = self.template.match(path)
        if values is None:
            return Match.NONE, {}
        if self.methods is not None and method.upper() not in self.methods:
            return Match.PARTIAL, values
        return Match.FULL, values


@dataclass(frozen=True)
class RouteDecision:
    """What to do with one request."""

    match: Match
    """FULL: call `route`; PARTIAL: 405 with `allowed`; NONE: 404."""
    route: FunctionRoute | None = None
    route_params: dict[str, str] = field(default_factory=dict)
    allowed: tuple[str, ...] = ()
    """For PARTIAL: the methods the path accepts, sorted."""


class RouteTable:
    """Every function route, kept in precedence order."""

    def __init__(self, routes: Iterable[FunctionRoute]) -> None:
        self.routes: list[FunctionRoute] = sorted(
            routes,
            key=lambda r: (r.template.precedence, r.template.text.lower(), r.function_name.lower()),
        )

    def resolve(self, method: str, path: Sequence[str]) -> RouteDecision:
        """The first full match in precedence order; else 405 data if any path matched; else 404."""
        allowed: set[str] = set()
        partial = False
        for route in self.routes:
            match, values = route.matches(method, path)
            if match is Match.FULL:
                return RouteDecision(Match.FULL, route, values)
            if match is Match.PARTIAL:
                partial = True
                allowed.update(route.methods or ())
        if partial:
            return RouteDecision(Match.PARTIAL, allowed=tuple(sorted(allowed)))
        return RouteDecision(Match.NONE)
