"""The origin of the URLs the app hands out: its own host, or a listed front end's; never a client's choice."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from api.urls import public_origin, public_url
from assistant.settings import reset_settings


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for name in ("CHAT_PUBLIC_HOSTS", "WEBSITE_HOSTNAME", "WEBSITE_INSTANCE_ID"):
        monkeypatch.delenv(name, raising=False)
    reset_settings()
    yield monkeypatch
    reset_settings()


def test_on_azure_the_site_host_over_https_whatever_the_client_sends(settings: pytest.MonkeyPatch) -> None:
    """`WEBSITE_HOSTNAME` over https; a Host or X-Forwarded-* that is not listed changes nothing."""
    settings.setenv("WEBSITE_HOSTNAME", "myapp.azurewebsites.net")
    settings.setenv("WEBSITE_INSTANCE_ID", "abc")
    reset_settings()
    for headers in ({}, {"Host": "evil.example"}, {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http"}):
        assert public_origin(headers, "http://10.0.0.4:80/api/chats/c") == "https://myapp.azurewebsites.net"


def test_a_listed_front_end_decides_host_and_scheme(settings: pytest.MonkeyPatch) -> None:
    """A forwarded host listed in `CHAT_PUBLIC_HOSTS` (case-insensitive) is used, with `X-Forwarded-Proto`."""
    settings.setenv("WEBSITE_HOSTNAME", "myapp.azurewebsites.net")
    settings.setenv("WEBSITE_INSTANCE_ID", "abc")
    settings.setenv("CHAT_PUBLIC_HOSTS", "chat.example.com, localhost:8443")
    reset_settings()
    forwarded = {"X-Forwarded-Host": "Chat.Example.com", "X-Forwarded-Proto": "https", "Host": "10.0.0.4"}
    assert public_origin(forwarded, "http://10.0.0.4/api/x") == "https://Chat.Example.com"
    assert public_origin({"Host": "localhost:8443"}, "http://localhost:8443/api/x") == "https://localhost:8443"
    assert public_origin({"X-Forwarded-Host": "localhost:8443, proxy2", "X-Forwarded-Proto": "http"}, "http://a/") == (
        "http://localhost:8443"
    )
    assert public_origin({"X-Forwarded-Host": "other.example"}, "http://a/") == "https://myapp.azurewebsites.net"


def test_locally_the_hosts_own_address(settings: pytest.MonkeyPatch) -> None:
    """devhost sets `WEBSITE_HOSTNAME` to its address: a request's Host is not used; the path and query are kept."""
    settings.setenv("WEBSITE_HOSTNAME", "127.0.0.1:7071")
    reset_settings()
    assert public_url({"Host": "attacker:1234"}, "http://attacker:1234/api/chats/c?x=1") == (
        "http://127.0.0.1:7071/api/chats/c?x=1"
    )
