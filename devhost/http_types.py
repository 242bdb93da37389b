"""Which request type an HTTP function's parameter names: the worker's `func.HttpRequest`, or an HTTP-streams one.

`azurefunctions-extensions-http-fastapi` functions take the extension's `Request` (a FastAPI request) and are served
as streams; the loader records the fact for the host (which never imports the app) and the invoker acts on it.
"""

from __future__ import annotations

import inspect
from typing import Any

from starlette.requests import Request as StarletteRequest

__all__ = ["annotation_of", "is_http_v2_type"]


def is_http_v2_type(annotation: Any) -> bool:
    """Whether `annotation` is an HTTP-streams request type: the extension's `Request` tracker or a starlette
    request."""
    if not inspect.isclass(annotation):
        return False
    if type(annotation).__name__ == "RequestTrackerMeta":
        return True
    return issubclass(annotation, StarletteRequest)


def annotation_of(function: Any, parameter: str) -> Any:
    """The parameter's annotation, evaluated (apps often use `from __future__ import annotations`); None if unknown."""
    try:
        return inspect.signature(function, eval_str=True).parameters[parameter].annotation
    except (NameError, TypeError, ValueError, KeyError, SyntaxError):
        try:
            return inspect.signature(function).parameters[parameter].annotation
        except (TypeError, ValueError, KeyError):
            return None
