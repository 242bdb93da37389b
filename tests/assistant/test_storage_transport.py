"""The table clients' requests session: the environment read once per host, not on every request."""

from __future__ import annotations

import pytest
import requests
import requests.sessions

from storage.clients import EnvironmentOnceSession


def test_environment_is_read_once_per_host_and_no_netrc_per_request(monkeypatch: pytest.MonkeyPatch) -> None:
    """Proxies and the CA bundle come from the environment (read on a host's first request); `.netrc` is never
    looked up; plain HTTP (Azurite) gets no CA bundle path (requests would stat it on every request)."""
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    reads = []
    real = requests.sessions.get_environ_proxies
    monkeypatch.setattr(
        requests.sessions,
        "get_environ_proxies",
        lambda url, no_proxy=None: reads.append(url) or real(url, no_proxy=no_proxy),
    )

    def no_netrc(url: str, raise_errors: bool = False) -> None:
        raise AssertionError("netrc looked up")

    monkeypatch.setattr(requests.sessions, "get_netrc_auth", no_netrc)
    session = EnvironmentOnceSession()
    secure = "https://account.table.core.windows.net/Tables"
    for _ in range(3):
        settings = session.merge_environment_settings(secure, {}, None, True, None)
        assert settings["proxies"]["https"] == "http://proxy.example:3128"
        assert settings["verify"] == "/etc/ssl/certs/ca-certificates.crt"
    assert session.merge_environment_settings(secure, {}, None, False, None)["verify"] is False
    local = session.merge_environment_settings("http://127.0.0.1:10002/devstoreaccount1/Tables", {}, None, True, None)
    assert local["verify"] is True
    assert len(reads) == 2  # one per scheme and host
    session.prepare_request(requests.Request("GET", secure))  # would raise if `.netrc` were consulted
    assert session.trust_env is False
