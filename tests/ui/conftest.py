"""Fixtures for the chat page's browser tests: devhost serving the app (scripted model) and Debian's Chromium."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.assistant.conftest import AssistantHost, start_assistant_host
from tests.support.azurite import Azurite
from tests.support.fake_openai import FakeOpenAI

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(os.environ.get("UI_SCREENSHOTS") or Path(__file__).resolve().parents[2] / ".test-output" / "ui")
"""Where the tests save their screenshots (test output, not committed)."""


@pytest.fixture(scope="session")
def fake_model() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="module")
def page_host(
    tmp_path_factory: pytest.TempPathFactory, azurite: Azurite, fake_model: FakeOpenAI
) -> Iterator[AssistantHost]:
    """devhost serving the app with the scripted model (this module's own: some tests restart it)."""
    env = {"OPENAI_BASE_URL": fake_model.base_url, "CHAT_MODEL_DEPLOYMENT_NAME": "fake-gpt"}
    yield from start_assistant_host(tmp_path_factory, azurite, env, {"CHAT_MODEL_TIMEOUT_SECONDS": "20"})


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Headless Chromium from Debian (`make test` installs it); never a downloaded browser."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM}; `make test` installs Debian's chromium package")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def model(fake_model: FakeOpenAI) -> FakeOpenAI:
    return fake_model.reset()
