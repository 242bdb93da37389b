"""JSON responses that always encode: text UTF-8 cannot hold (a lone surrogate from an app's data) is escaped."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import JSONResponse as _StarletteJSONResponse

__all__ = ["JSONResponse", "json_error"]


class JSONResponse(_StarletteJSONResponse):
    """starlette's `JSONResponse`, falling back to ASCII escapes when the body cannot be encoded as UTF-8."""

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except UnicodeEncodeError:
            return json.dumps(content, separators=(",", ":")).encode("ascii")


def json_error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """`{"error": message}` with `status`."""
    return JSONResponse({"error": message}, status_code=status, headers=headers)
