"""Which status codes the app's routes answered during a test run, against what the OpenAPI document declares.

`start_recording` wraps the send of httpx's and requests' transports (what the tests, httpx-sse and schemathesis
use): every answer to a URL under `/api/` is recorded with the document's path it matches. `undeclared` lists the
(method, path, status) seen that the document does not declare for that operation. Answers the host gives before
any route runs (a function key missing: 401; a method a route does not serve: 405; limits on the request line and
headers: 408, 414, 431) are the host's, listed in `HOST_STATUSES`, not a route's.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from tests.support.devhost import REPO_ROOT

__all__ = ["HOST_STATUSES", "recorded", "start_recording", "undeclared"]

HOST_STATUSES = frozenset({401, 405, 408, 414, 431})
_lock = threading.Lock()
_seen: Counter[tuple[str, str, int]] = Counter()
_started = False


@cache
def _operations() -> tuple[list[tuple[re.Pattern[str], str]], dict[tuple[str, str], set[int]]]:
    document = json.loads((REPO_ROOT / "openapi.json").read_text(encoding="utf-8"))
    patterns = []
    declared: dict[tuple[str, str], set[int]] = {}
    for path, item in document["paths"].items():
        regex = re.escape(path)
        regex = re.sub(r"\\\{path\\\}", ".*", regex)
        regex = re.sub(r"\\\{[A-Za-z]+\\\}", "[^/]+", regex)
        patterns.append((re.compile(f"^{regex}/?$"), path))
        for method, operation in item.items():
            if method != "parameters":
                declared[(method.upper(), path)] = {int(code) for code in operation["responses"]}
    patterns.sort(key=lambda p: (p[1].count("{"), -len(p[1])))  # literal routes before templated ones
    return patterns, declared


def _record(method: str, url: str, status: int) -> None:
    path = urlsplit(url).path
    if not path.startswith("/api/") and path != "/api":
        return
    route = path[len("/api") :] or "/"
    for pattern, template in _operations()[0]:
        if pattern.match(route):
            with _lock:
                _seen[(method.upper(), template, status)] += 1
            return


def start_recording() -> None:
    """Wrap the clients' transports (once)."""
    global _started
    if _started:
        return
    _started = True
    import httpx
    import requests

    sync_send = httpx.HTTPTransport.handle_request
    async_send = httpx.AsyncHTTPTransport.handle_async_request
    requests_send = requests.adapters.HTTPAdapter.send

    def handle_request(self: Any, request: httpx.Request) -> httpx.Response:
        response = sync_send(self, request)
        _record(request.method, str(request.url), response.status_code)
        return response

    async def handle_async_request(self: Any, request: httpx.Request) -> httpx.Response:
        response = await async_send(self, request)
        _record(request.method, str(request.url), response.status_code)
        return response

    def send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        response = requests_send(self, request, *args, **kwargs)
        _record(str(request.method), str(request.url), int(response.status_code))
        return response

    httpx.HTTPTransport.handle_request = handle_request  # type: ignore[method-assign]
    httpx.AsyncHTTPTransport.handle_async_request = handle_async_request  # type: ignore[method-assign]
    requests.adapters.HTTPAdapter.send = send  # type: ignore[method-assign]


def recorded() -> Counter[tuple[str, str, int]]:
    """What was seen so far: (method, document path, status) → how often."""
    with _lock:
        return Counter(_seen)


def undeclared() -> dict[tuple[str, str, int], int]:
    """What was seen that the document does not declare (the host's own answers aside)."""
    declared = _operations()[1]
    return {
        key: count
        for key, count in recorded().items()
        if key[2] not in HOST_STATUSES and key[2] not in declared.get((key[0], key[1]), set())
    }
