"""Offline model of the azd Bicep templates for the infra tests.

There is no Bicep compiler or Azure account here, so the tests read the
templates with pycep-parser and this module evaluates what can be evaluated
without Azure: parameters, variables, conditions, loops, `union`, `empty`,
ternaries, `max`/`min` of ints, `string` of an int and `subscriptionResourceId`. Anything only Azure knows (resource
ids, module outputs, `uniqueString`, ...) becomes an `Opaque` value. `deploy()`
walks `main.bicep` and its modules for a given set of parameter values and
returns every resource that would be deployed, with its evaluated body.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from pycep import BicepParser
from pycep.models import BicepElement

__all__ = [
    "INFRA",
    "REPO",
    "Deployed",
    "Opaque",
    "Template",
    "bicep_files",
    "deploy",
    "template",
]

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"


@dataclass(frozen=True)
class Opaque:
    """A value only known at deployment time (a resource id, a module output, ...)."""

    text: str


@dataclass(frozen=True)
class Template:
    """One parsed .bicep file."""

    path: Path
    text: str
    tree: dict[str, Any]

    @property
    def parameters(self) -> dict[str, dict[str, Any]]:
        """Declared parameters by name (pycep shape: type, default, decorators)."""
        return self.tree.get("parameters", {})

    @property
    def variables(self) -> dict[str, dict[str, Any]]:
        """Declared variables by name."""
        return self.tree.get("variables", {})

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        """Declared resources (including `existing` ones) by symbol."""
        return self.tree.get("resources", {})

    @property
    def modules(self) -> dict[str, dict[str, Any]]:
        """Declared modules by symbol."""
        return self.tree.get("modules", {})

    @property
    def outputs(self) -> dict[str, dict[str, Any]]:
        """Declared outputs by name."""
        return self.tree.get("outputs", {})

    def required_parameters(self) -> set[str]:
        """Parameters without a default value (a caller must pass them)."""
        return {name for name, spec in self.parameters.items() if spec.get("default") is None}

    def module_path(self, symbol: str) -> Path:
        """The file a module declaration points at."""
        return (self.path.parent / self.modules[symbol]["detail"]["path"]).resolve()


@dataclass(frozen=True)
class Deployed:
    """A resource that a deployment with given parameters would create."""

    file: Path
    symbol: str
    type: str
    existing: bool
    body: dict[str, Any]
    module_chain: tuple[str, ...] = field(default=())
    scope_type: str | None = None
    """Type of the resource this one is scoped to (`scope: storage`), if any."""

    @property
    def properties(self) -> dict[str, Any]:
        """The evaluated `properties` object (empty when the resource has none)."""
        value = self.body.get("properties", {})
        return value if isinstance(value, dict) else {}


def bicep_files() -> list[Path]:
    """Every .bicep file under infra/."""
    return sorted(INFRA.rglob("*.bicep"))


@cache
def _parser() -> BicepParser:
    return BicepParser()


@cache
def template(path: Path) -> Template:
    """Parse one .bicep file (cached; the tests only read them)."""
    path = path.resolve()
    text = path.read_text(encoding="utf-8")
    return Template(path=path, text=text, tree=_parser().parse(text=text))


def _unwrap(config: dict[str, Any]) -> tuple[Any, dict[str, Any] | None, dict[str, Any]]:
    """Split a resource/module config into (condition, loop, body)."""
    condition: Any = True
    loop = None
    while isinstance(config, dict) and "config" in config and ("condition" in config or "loop_type" in config):
        if "loop_type" in config:
            loop = config["loop_type"]
        if config.get("condition") is not None:
            condition = config["condition"]
        config = config["config"]
    return condition, loop, config


class Scope:
    """Names visible while evaluating one template instance."""

    def __init__(self, tpl: Template, params: dict[str, Any]) -> None:
        self.tpl = tpl
        self.params = params
        self.locals: dict[str, Any] = {}
        self._vars: dict[str, Any] = {}

    def child(self, **locals_: Any) -> Scope:
        """A scope with loop variables bound on top of this one."""
        scope = Scope(self.tpl, self.params)
        scope._vars = self._vars
        scope.locals = {**self.locals, **locals_}
        return scope

    def lookup(self, name: str) -> Any:
        if name in self.locals:
            return self.locals[name]
        if name in self.params:
            return self.params[name]
        if name in self.tpl.variables:
            if name not in self._vars:
                self._vars[name] = evaluate(self.tpl.variables[name]["value"], self)
            return self._vars[name]
        return Opaque(name)


def _flatten_access(expr: Any) -> list[Any]:
    """`a.b.c` parses right-nested; return [a, b, c]."""
    if isinstance(expr, dict) and "operator" in expr and expr["operator"]["type"] == "property_accessor":
        ops = expr["operator"]["operands"]
        return [ops["operand_1"], *_flatten_access(ops["operand_2"])]
    return [expr]


def _truthy(value: Any) -> bool:
    if isinstance(value, Opaque):
        raise ValueError(f"condition depends on a deployment-time value: {value.text}")
    return bool(value)


def _empty(value: Any) -> bool:
    if isinstance(value, Opaque):
        return False  # a deployed resource's name, id or endpoint is never empty
    return value is None or value == "" or value == [] or value == {}


_INTERPOLATION = re.compile(r"\$\{([A-Za-z_]\w*)\}")


def _interpolate(text: str, scope: Scope) -> Any:
    if "${" not in text:
        return text

    def replace(match: re.Match[str]) -> str:
        value = scope.lookup(match.group(1))
        return value if isinstance(value, str) else "\x00"

    result = _INTERPOLATION.sub(replace, text)
    return Opaque(text) if "\x00" in result or "${" in result else result


def _call(func: dict[str, Any], scope: Scope) -> Any:
    name = func["type"]
    params = func.get("parameters") or {}
    args = [evaluate(v, scope) for v in params.values() if v is not None]
    if name == "union" and all(isinstance(a, dict) for a in args):
        merged: dict[str, Any] = {}
        for arg in args:
            merged.update(arg)
        return merged
    if name == "empty":
        return _empty(args[0])
    if name in ("max", "min") and args and all(isinstance(a, int) and not isinstance(a, bool) for a in args):
        return max(args) if name == "max" else min(args)
    if name == "string" and len(args) == 1 and isinstance(args[0], (str, int)) and not isinstance(args[0], bool):
        return str(args[0])
    if name == "subscription_resource_id":
        resource_type = evaluate(params["resource_type"], scope)
        resource_name = evaluate(params["resource_name_1"], scope)
        if isinstance(resource_type, str) and isinstance(resource_name, str):
            return f"/subscriptions/{{subscriptionId}}/providers/{resource_type}/{resource_name}"
    return Opaque(f"{name}(...)")


_OPERATORS: dict[str, Callable[[list[Any]], Any]] = {
    "equals": lambda a: a[0] == a[1],
    "not_equals": lambda a: a[0] != a[1],
    "and": lambda a: all(_truthy(x) for x in a),
    "or": lambda a: any(_truthy(x) for x in a),
}


def evaluate(expr: Any, scope: Scope) -> Any:
    """Evaluate a pycep expression; unknowns become `Opaque`."""
    if isinstance(expr, BicepElement):
        return scope.lookup(str(expr))
    if isinstance(expr, str):
        return _interpolate(expr, scope)
    if expr is None or isinstance(expr, (bool, int, float)):
        return expr
    if isinstance(expr, list):
        return [evaluate(item, scope) for item in expr]
    if not isinstance(expr, dict):
        return Opaque(repr(expr))
    if "function" in expr and len(expr) == 1:
        return _call(expr["function"], scope)
    if "operator" in expr and len(expr) == 1:
        op = expr["operator"]
        kind, operands = op["type"], op["operands"]
        if kind == "conditional":
            test = _truthy(evaluate(operands["condition"], scope))
            return evaluate(operands["true_value" if test else "false_value"], scope)
        if kind == "not":
            return not _truthy(evaluate(operands["bool_value"], scope))
        if kind == "property_accessor":
            parts = _flatten_access(expr)
            value = evaluate(parts[0], scope)
            for part in parts[1:]:
                if isinstance(value, dict) and str(part) in value:
                    value = value[str(part)]
                else:
                    return Opaque(".".join(str(p) if isinstance(p, str) else "?" for p in parts))
            return value
        if kind in _OPERATORS:
            values = [evaluate(v, scope) for v in operands.values()]
            if any(isinstance(v, Opaque) for v in values):
                return Opaque(kind)
            return _OPERATORS[kind](values)
        return Opaque(kind)
    return {str(key).strip("'"): evaluate(value, scope) for key, value in expr.items()}


def _bind_parameters(tpl: Template, given: dict[str, Any]) -> dict[str, Any]:
    unknown = set(given) - set(tpl.parameters)
    if unknown:
        raise ValueError(f"{tpl.path.name}: unknown parameters {sorted(unknown)}")
    missing = tpl.required_parameters() - set(given)
    if missing:
        raise ValueError(f"{tpl.path.name}: required parameters not given {sorted(missing)}")
    bound = dict(given)
    defaults_scope = Scope(tpl, bound)
    for name, spec in tpl.parameters.items():
        if name not in bound:
            bound[name] = evaluate(spec["default"], defaults_scope)
    for name, spec in tpl.parameters.items():
        for decorator in spec.get("decorators", []):
            if isinstance(bound[name], Opaque):
                continue
            if decorator["type"] == "allowed" and bound[name] not in decorator["argument"]:
                raise ValueError(f"{tpl.path.name}: {name}={bound[name]!r} not in @allowed")
            if decorator["type"] == "min_value" and bound[name] < decorator["argument"]:
                raise ValueError(f"{tpl.path.name}: {name}={bound[name]!r} is below @minValue({decorator['argument']})")
            if decorator["type"] == "max_value" and bound[name] > decorator["argument"]:
                raise ValueError(f"{tpl.path.name}: {name}={bound[name]!r} is above @maxValue({decorator['argument']})")
    return bound


def _instances(config: dict[str, Any], scope: Scope) -> list[tuple[Scope, dict[str, Any]]]:
    condition, loop, body = _unwrap(config)
    if loop is None:
        return [(scope, body)] if _truthy(evaluate(condition, scope)) else []
    detail = loop["detail"]
    items = evaluate(BicepElement(detail["array_name"]), scope)
    if not isinstance(items, list):
        raise ValueError(f"cannot expand loop over {detail['array_name']}")
    out = []
    for item in items:
        inner = scope.child(**{detail["item_name"]: item})
        if _truthy(evaluate(condition, inner)):
            out.append((inner, body))
    return out


def _scope_type(tpl: Template, scope: Any) -> str | None:
    if isinstance(scope, BicepElement) and str(scope) in tpl.resources:
        return tpl.resources[str(scope)]["type"]
    return None


def deploy(params: dict[str, Any], main: Path | None = None, _chain: tuple[str, ...] = ()) -> list[Deployed]:
    """Every resource a deployment of `main` (default infra/main.bicep) with `params` creates."""
    tpl = template(main or INFRA / "main.bicep")
    scope = Scope(tpl, _bind_parameters(tpl, params))
    deployed: list[Deployed] = []
    for symbol, spec in tpl.resources.items():
        for inner, body in _instances(spec["config"], scope):
            deployed.append(
                Deployed(
                    file=tpl.path,
                    symbol=symbol,
                    type=spec["type"],
                    existing=bool(spec.get("existing")),
                    body=evaluate(body, inner),
                    module_chain=_chain,
                    scope_type=_scope_type(tpl, body.get("scope")),
                )
            )
    for symbol, spec in tpl.modules.items():
        for inner, body in _instances(spec["config"], scope):
            args = evaluate(body.get("params", {}), inner)
            deployed.extend(deploy(args, tpl.module_path(symbol), (*_chain, symbol)))
    return deployed


def parameters_file() -> dict[str, Any]:
    """infra/main.parameters.json's `parameters` object."""
    return json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
