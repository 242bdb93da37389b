"""Fixtures for the assistant's end-to-end tests: the scripted model server and a devhost serving the app."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

from tests.support.azurite import Azurite
from tests.support.devhost import REPO_ROOT, DevhostProcess, start_devhost
from tests.support.fake_openai import FakeOpenAI

MODEL_SETTINGS_OFF = {
    "AZURE_OPENAI_ENDPOINT": "",
    "AZURE_OPENAI_KEY": "",
    "OPENAI_BASE_URL": "",
    "OPENAI_API_KEY": "",
    "CHAT_MODEL_DEPLOYMENT_NAME": "",
}


@lru_cache(maxsize=1)
def _components() -> dict[str, Any]:
    return json.loads((REPO_ROOT / "openapi.json").read_text())["components"]


def assert_conforms(body: Any, schema: str) -> None:
    """`body` matches `#/components/schemas/<schema>` of the repository's OpenAPI document."""
    document = {"$ref": f"#/components/schemas/{schema}", "components": _components()}
    errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in Draft202012Validator(document).iter_errors(body)]
    assert not errors, f"response does not match {schema}: {errors}"


@dataclass
class AssistantHost:
    """A devhost serving this repository's function app, with its storage and (maybe) model server."""

    devhost: DevhostProcess
    http: httpx.Client
    todo_table: str
    azurite: Azurite

    @property
    def api(self) -> str:
        return f"{self.devhost.base_url}/api"

    def new_chat(self, instructions: str | None = None, route: str = "chats") -> str:
        """PUT a fresh chat with a unique id; its id."""
        chat_id = f"t-{uuid.uuid4().hex[:12]}"
        body = {"instructions": instructions} if instructions is not None else None
        response = self.http.put(f"{self.api}/{route}/{chat_id}", json=body)
        assert response.status_code == 202, response.text
        return chat_id


def start_assistant_host(
    tmp: pytest.TempPathFactory,
    azurite: Azurite,
    model_env: dict[str, str],
    extra_env: dict[str, str] | None = None,
    extra_args: tuple[str, ...] = (),
) -> Iterator[AssistantHost]:
    """A devhost serving the app (client retries 2, model timeout 1.5 s, 2 attempts per turn 0.1 s apart;
    `extra_env` overrides), stopped after use."""
    extra_env = extra_env or {}
    table = f"todos{uuid.uuid4().hex[:10]}"
    env = {
        **MODEL_SETTINGS_OFF,
        **model_env,
        "AzureWebJobsStorage": azurite.connection_string,
        "TODO_TABLE_NAME": table,
        "CHAT_MODEL_MAX_RETRIES": "2",
        "CHAT_MODEL_TIMEOUT_SECONDS": "1.5",
        "CHAT_MODEL_TURN_ATTEMPTS": "2",
        "CHAT_MODEL_RETRY_SECONDS": "0.1",
        **extra_env,
    }
    devhost = start_devhost(REPO_ROOT, data_dir=tmp.mktemp("devhost") / "data", env=env, extra_args=extra_args)
    http = httpx.Client(timeout=60)
    try:
        yield AssistantHost(devhost=devhost, http=http, todo_table=table, azurite=azurite)
    finally:
        http.close()
        devhost.stop()


@pytest.fixture(scope="session")
def fake_model() -> Iterator[FakeOpenAI]:
    """The scripted model server, shared by the session's tests (reset before each test)."""
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="session")
def assistant_host(
    tmp_path_factory: pytest.TempPathFactory, azurite: Azurite, fake_model: FakeOpenAI
) -> Iterator[AssistantHost]:
    """devhost serving the app with the scripted model as its OpenAI-compatible server."""
    yield from start_assistant_host(
        tmp_path_factory, azurite, {"OPENAI_BASE_URL": fake_model.base_url, "CHAT_MODEL_DEPLOYMENT_NAME": "fake-gpt"}
    )


@pytest.fixture(scope="session")
def offline_host(tmp_path_factory: pytest.TempPathFactory, azurite: Azurite) -> Iterator[AssistantHost]:
    """devhost serving the app with no model settings (the offline model)."""
    yield from start_assistant_host(tmp_path_factory, azurite, {})


@pytest.fixture
def model(fake_model: FakeOpenAI) -> FakeOpenAI:
    """The shared scripted model, emptied for this test."""
    return fake_model.reset()
