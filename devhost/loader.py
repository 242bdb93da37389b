"""Registry/loader: imports a v2 app's `function_app.py` and indexes its functions.

Indexing goes through the `azure-functions` library's own `FunctionRegister.get_functions()`
(called once per app object, as the library requires), so `func.FunctionApp`, `df.DFApp`,
`func.Blueprint` and `df.Blueprint` registrations are all seen exactly as the Python worker
sees them. Each function is then checked as the worker checks it before loading it
(`check_like_worker`): what the worker refuses, devhost refuses at start, with the worker's
message, instead of failing at run time. Nothing here knows what the app does.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import azure.functions as func
from starlette.requests import Request as StarletteRequest

from devhost.http_types import is_http_v2_type

__all__ = [
    "AppLoadError",
    "FunctionIndex",
    "FunctionSpec",
    "check_like_worker",
    "describe",
    "index_register",
    "load_app",
    "remote_index",
]


class AppLoadError(Exception):
    """The script root holds no loadable v2 app, or the app's registrations conflict."""


@dataclass(frozen=True)
class FunctionSpec:
    """One indexed function, as the host sees it in the app's function metadata."""

    name: str
    """The function name (`@app.function_name` or the Python function's name)."""
    trigger_type: str
    """The trigger binding's `type`, e.g. `httpTrigger`, `orchestrationTrigger`."""
    trigger: dict[str, Any]
    """The trigger binding as plain JSON (the `function.json` shape)."""
    bindings: tuple[dict[str, Any], ...]
    """Every binding, trigger included, as plain JSON."""
    func: Callable[..., Any]
    """The callable the worker invokes (the SDK's wrapper where the SDK installs one)."""
    is_async: bool
    """Whether `func` is a coroutine function (sync ones run in a thread pool)."""

    def bindings_of_type(self, binding_type: str) -> list[dict[str, Any]]:
        """The bindings whose `type` is `binding_type` (case-insensitive)."""
        wanted = binding_type.lower()
        return [b for b in self.bindings if str(b.get("type", "")).lower() == wanted]


@dataclass
class FunctionIndex:
    """Every function of one app, by name and by trigger type."""

    app: func.FunctionRegister | None
    """The app object (None in the host when the app runs in worker processes: `remote_index`)."""
    functions: list[FunctionSpec] = field(default_factory=list)

    def by_trigger(self, trigger_type: str) -> list[FunctionSpec]:
        """The functions whose trigger `type` is `trigger_type` (case-insensitive)."""
        wanted = trigger_type.lower()
        return [f for f in self.functions if f.trigger_type.lower() == wanted]

    def get(self, name: str) -> FunctionSpec | None:
        """The function called `name` (function names are case-insensitive in the host)."""
        wanted = name.lower()
        return next((f for f in self.functions if f.name.lower() == wanted), None)


def _find_register(module: Any) -> func.FunctionRegister:
    registers = [v for v in vars(module).values() if isinstance(v, func.FunctionRegister)]
    if not registers:
        raise AppLoadError("function_app.py defines no FunctionApp (func.FunctionApp or df.DFApp) at module level")
    if len(registers) > 1:
        raise AppLoadError("function_app.py defines more than one FunctionApp; the host allows one")
    return registers[0]


def _load_error(name: str, message: str) -> AppLoadError:
    return AppLoadError(f"FunctionLoadError: cannot load the {name} function: {message}")


def check_like_worker(name: str, bindings: tuple[dict[str, Any], ...], user_function: Callable[..., Any]) -> None:
    """Refuse what the Python worker refuses to load, with its message: `inout` bindings, a `$return` binding that is
    not `out`, parameters without a binding or bindings without a parameter (an unbound `context` parameter is the
    invocation context); and, as the host does, two bindings of one name."""
    names = [str(b.get("name", "")) for b in bindings]
    repeated = sorted({n for n in names if names.count(n) > 1}, key=names.index)
    if repeated:
        raise AppLoadError(
            f"function {name!r}: multiple bindings with name {repeated[0]!r} discovered; binding names must be unique"
        )
    bound: set[str] = set()
    for binding, binding_name in zip(bindings, names):
        direction = str(binding.get("direction", "in")).lower()
        if direction == "inout":
            raise _load_error(name, '"inout" bindings are not supported')
        if binding_name == "$return":
            if direction != "out":
                raise _load_error(name, '"$return" binding must have direction set to "out"')
        else:
            bound.add(binding_name)
    params = set(inspect.signature(user_function).parameters)
    if "context" in params and "context" not in bound:
        params.discard("context")
    if params - bound:
        raise _load_error(
            name, f"the following parameters are declared in Python but not in function.json: {params - bound!r}"
        )
    if bound - params:
        raise _load_error(
            name, f"the following parameters are declared in function.json but not in Python: {bound - params!r}"
        )


def _spec_of(function: func.decorators.function_app.Function) -> FunctionSpec:
    metadata = json.loads(function.get_function_json())
    bindings = tuple(metadata.get("bindings", []))
    check_like_worker(str(function.get_function_name()), bindings, function.get_user_function())
    triggers = [b for b in bindings if str(b.get("type", "")).lower().endswith("trigger")]
    if len(triggers) != 1:
        raise AppLoadError(f"function {function.get_function_name()!r} must have exactly one trigger")
    user_function = function.get_user_function()
    return FunctionSpec(
        name=str(function.get_function_name()),
        trigger_type=str(triggers[0]["type"]),
        trigger=triggers[0],
        bindings=bindings,
        func=user_function,
        is_async=inspect.iscoroutinefunction(user_function),
    )


def load_app(script_root: Path, module_name: str = "function_app") -> FunctionIndex:
    """Import `<script_root>/function_app.py` with the script root on `sys.path` and index it."""
    script_root = script_root.resolve()
    path = script_root / f"{module_name}.py"
    if not path.is_file():
        raise AppLoadError(f"no {path.name} in {script_root}")
    if str(script_root) not in sys.path:
        sys.path.insert(0, str(script_root))
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return index_register(_find_register(module))


def index_register(register: func.FunctionRegister) -> FunctionIndex:
    """Index an app object (`func.FunctionApp`, `df.DFApp`) already built, e.g. in a test.

    `get_functions()` may be called only once per app object: this is the one call.
    """
    index = FunctionIndex(app=register, functions=[_spec_of(f) for f in register.get_functions()])
    seen: dict[str, str] = {}
    for spec_ in index.functions:
        key = spec_.name.lower()
        if key in seen:
            raise AppLoadError(f"two functions are named {spec_.name!r}; function names must be unique")
        seen[key] = spec_.name
    return index


def _parameters(function: Callable[..., Any]) -> list[dict[str, Any]]:
    """The function's parameters as plain data: name, kind, whether it has a default, and whether its annotation is
    an HTTP-streams request type (the one thing the host needs to know of annotations)."""
    try:
        signature = inspect.signature(function, eval_str=True)
    except (NameError, TypeError, ValueError, SyntaxError):
        try:
            signature = inspect.signature(function)
        except (TypeError, ValueError):
            return []
    return [
        {
            "name": name,
            "kind": p.kind.name,
            "default": p.default is not p.empty,
            "httpV2": is_http_v2_type(p.annotation),
        }
        for name, p in signature.parameters.items()
    ]


def describe(index: FunctionIndex) -> list[dict[str, Any]]:
    """What the host needs to know of each function without importing the app (sent by a worker process)."""
    return [
        {
            "name": f.name,
            "triggerType": f.trigger_type,
            "trigger": f.trigger,
            "bindings": list(f.bindings),
            "isAsync": f.is_async,
            "parameters": _parameters(f.func),
        }
        for f in index.functions
    ]


def _stand_in(meta: dict[str, Any]) -> Callable[..., Any]:
    """A callable with the function's signature that refuses to run: the app's code runs in a worker process."""
    name = str(meta["name"])

    def remote(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"function {name!r} runs in a worker process, not in the host")

    remote.__signature__ = inspect.Signature(
        [  # type: ignore[attr-defined]
            inspect.Parameter(
                p["name"],
                getattr(inspect.Parameter, p["kind"]),
                default=None if p["default"] else inspect.Parameter.empty,
                annotation=StarletteRequest if p["httpV2"] else inspect.Parameter.empty,
            )
            for p in meta["parameters"]
        ]
    )
    remote.__name__ = name
    return remote


def remote_index(functions: list[dict[str, Any]]) -> FunctionIndex:
    """The host's index of an app that runs in worker processes, from `describe`'s metadata."""
    specs = []
    for meta in functions:
        bindings = tuple(meta["bindings"])
        trigger = next(b for b in bindings if b == meta["trigger"])  # the same object, as the host compares them
        specs.append(
            FunctionSpec(
                name=str(meta["name"]),
                trigger_type=str(meta["triggerType"]),
                trigger=trigger,
                bindings=bindings,
                func=_stand_in(meta),
                is_async=bool(meta["isAsync"]),
            )
        )
    return FunctionIndex(app=None, functions=specs)
