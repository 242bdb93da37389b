"""Apps using the HTTP streams extension (FastAPI types): served as the Functions host serves them."""

from __future__ import annotations

import json
import time

import httpx

from tests.devhost.conftest import ServeApp


def _events(host_root: object) -> list[str]:
    path = host_root / "events.txt"  # type: ignore[operator]
    return path.read_text().splitlines() if path.exists() else []


def test_a_streaming_response_arrives_chunk_by_chunk(serve_app: ServeApp) -> None:
    """Five lines 0.2 s apart reach the client as they are written, not all at the end."""
    host = serve_app("streaming", env={"PYTHON_ENABLE_INIT_INDEXING": "1"})
    arrivals: list[float] = []
    with httpx.stream("GET", f"{host.base_url}/api/count/5", params={"delay": "0.2", "tag": "whole"}) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
        for line in response.iter_lines():
            if line:
                arrivals.append(time.monotonic())
    assert len(arrivals) == 5
    assert arrivals[-1] - arrivals[0] > 0.6, "the lines came together: the response was buffered"
    assert _events(host.script_root) == ["whole finished"]


def test_route_params_body_and_plain_returns(serve_app: ServeApp) -> None:
    """The FastAPI request carries route params, query, headers and body; a str return is text."""
    host = serve_app("streaming")
    response = httpx.post(f"{host.base_url}/api/echo/ada", params={"q": "1"}, headers={"x-test": "yes"}, json={"a": 1})
    assert response.status_code == 201
    assert response.json() == {"name": "ada", "q": "1", "header": "yes", "json": {"a": 1}, "method": "POST"}
    assert httpx.get(f"{host.base_url}/api/text").text == "plain text"
    assert "PYTHON_ENABLE_INIT_INDEXING=1" in host.log_text()


def test_the_function_sees_the_client_go_away(serve_app: ServeApp) -> None:
    """A client that disconnects mid-stream: the function's generator is cancelled (it stops producing)."""
    host = serve_app("streaming")
    with httpx.stream("GET", f"{host.base_url}/api/count/100", params={"delay": "0.05", "tag": "dropped"}) as response:
        for _ in zip(range(3), response.iter_lines()):
            pass
    deadline = time.monotonic() + 5
    while "dropped cancelled" not in _events(host.script_root) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "dropped cancelled" in _events(host.script_root)
    assert "dropped finished" not in _events(host.script_root)


def test_a_large_body_in_pieces_reaches_the_fastapi_request_whole(serve_app: ServeApp) -> None:
    """A 3 MB JSON body, sent chunked and with a Content-Length, arrives whole in the function's FastAPI request."""
    host = serve_app("streaming")
    document = json.dumps({"a": ["x" * 1000] * 3000}).encode()
    pieces = [document[i : i + 65536] for i in range(0, len(document), 65536)]
    for content in (iter(pieces), document):
        response = httpx.post(f"{host.base_url}/api/echo/big", content=content, timeout=60)
        assert response.status_code == 201, response.text
        assert response.json()["json"] == {"a": ["x" * 1000] * 3000}
