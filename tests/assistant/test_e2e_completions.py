"""End to end: `POST /api/ask`, `GET /api/whois/{name}` and the served OpenAPI document."""

from __future__ import annotations

import json
from pathlib import Path

from tests.assistant.conftest import AssistantHost
from tests.support.fake_openai import FakeOpenAI


def test_ask_returns_the_models_text(assistant_host: AssistantHost, model: FakeOpenAI) -> None:
    """The prompt is sent as one user message; the answer comes back as text/plain."""
    model.reply("Forty-two.")
    response = assistant_host.http.post(f"{assistant_host.api}/ask", json={"prompt": "What is the answer?"})
    assert response.status_code == 200 and response.text == "Forty-two."
    assert response.headers["content-type"].startswith("text/plain")
    assert model.requests[0]["messages"] == [{"role": "user", "content": "What is the answer?"}]
    assert "tools" not in model.requests[0]


def test_whois_asks_who_is_with_a_100_token_cap(assistant_host: AssistantHost, model: FakeOpenAI) -> None:
    """`Who is {name}?` with max_tokens 100."""
    model.reply("A mathematician.")
    response = assistant_host.http.get(f"{assistant_host.api}/whois/Ada%20Lovelace")
    assert response.status_code == 200 and response.text == "A mathematician."
    assert model.requests[0]["messages"] == [{"role": "user", "content": "Who is Ada Lovelace?"}]
    assert model.requests[0]["max_tokens"] == 100


def test_openapi_document_is_served_as_kept_in_the_repo(assistant_host: AssistantHost) -> None:
    """GET /api/openapi.json is the repository's OpenAPI 3.1 document, naming every route."""
    response = assistant_host.http.get(f"{assistant_host.api}/openapi.json")
    served = response.json()
    assert served == json.loads((Path(__file__).resolve().parents[2] / "openapi.json").read_text())
    assert served["openapi"].startswith("3.1")
    assert {"/chats/{chatId}", "/assistants/{assistantId}", "/ask", "/whois/{name}"} <= set(served["paths"])
