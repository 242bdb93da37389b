"""Fixtures of the adversarial suite: the app on devhost with the scripted model, tried as a hostile client would."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.assistant.conftest import AssistantHost, start_assistant_host
from tests.support.azurite import Azurite
from tests.support.fake_openai import FakeOpenAI
from tests.support.storage_proxy import StorageProxy


@pytest.fixture(scope="session")
def hostile_model() -> Iterator[FakeOpenAI]:
    """The scripted model of the adversarial suite (reset before each test)."""
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="session")
def target(
    tmp_path_factory: pytest.TempPathFactory, azurite: Azurite, hostile_model: FakeOpenAI
) -> Iterator[AssistantHost]:
    """devhost serving the app with the scripted model."""
    yield from start_assistant_host(
        tmp_path_factory,
        azurite,
        {"OPENAI_BASE_URL": hostile_model.base_url, "CHAT_MODEL_DEPLOYMENT_NAME": "fake-gpt"},
    )


@pytest.fixture
def model(hostile_model: FakeOpenAI) -> FakeOpenAI:
    """The scripted model, emptied for this test."""
    return hostile_model.reset()


TERMINAL = ("turn.completed", "turn.failed", "turn.cancelled")


def read_until_terminal(host: AssistantHost, chat: str, turn: str) -> list[dict[str, Any]]:
    """The turn's events, read as JSON long polls until its terminal event."""
    seen: list[dict[str, Any]] = []
    while not seen or seen[-1]["type"] not in TERMINAL:
        page = host.http.get(
            f"{host.api}/chats/{chat}/turns/{turn}/events",
            headers={"Accept": "application/json"},
            params={"after": seen[-1]["sequence"] if seen else 0, "waitSeconds": 10},
        )
        assert page.status_code == 200, page.text
        seen += page.json()
    return seen


@dataclass
class ProxiedHost:
    """The app on devhost with its Table storage behind a `StorageProxy` (to hold back or refuse requests)."""

    host: AssistantHost
    proxy: StorageProxy


@pytest.fixture(scope="session")
def proxied(
    tmp_path_factory: pytest.TempPathFactory, azurite: Azurite, hostile_model: FakeOpenAI
) -> Iterator[ProxiedHost]:
    """devhost serving the app, its Table storage reached through a proxy the test controls."""
    with StorageProxy(azurite) as proxy:
        env = {"OPENAI_BASE_URL": hostile_model.base_url, "CHAT_MODEL_DEPLOYMENT_NAME": "fake-gpt"}
        for host in start_assistant_host(
            tmp_path_factory, azurite, env, extra_env={"AzureWebJobsStorage": proxy.connection_string}
        ):
            yield ProxiedHost(host, proxy)
