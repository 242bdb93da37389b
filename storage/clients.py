"""The Table service clients of the app's `AzureWebJobsStorage` connection (every store in `storage/` uses them).

Locally a connection string (Azurite: `UseDevelopmentStorage=true` or a full string); on Azure
identity-based: `AzureWebJobsStorage__tableServiceUri` (or `__accountName`) with
`__credential=managedidentity` and `__clientId` for a user-assigned identity. The service client
is built on first use and reused; tables are created once per process.
"""

from __future__ import annotations

import os
import threading
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import requests
import requests.adapters
from azure.core.pipeline.transport import RequestsTransport
from azure.data.tables import TableClient, TableServiceClient
from urllib3.util.retry import Retry

__all__ = ["DEVELOPMENT_STORAGE", "StorageNotConfigured", "reset_storage", "table", "table_service"]

DEVELOPMENT_STORAGE = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
    "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"
)


class StorageNotConfigured(RuntimeError):
    """No `AzureWebJobsStorage` setting says where Table storage is."""


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


class EnvironmentOnceSession(requests.Session):
    """A requests session that reads the environment once per scheme and host, not on every request.

    requests, trusting the environment, looks for a `.netrc` file and checks whether the CA bundle
    path is a directory on every request: file-system calls that were a tenth of the worker's CPU
    under load (py-spy, docs/performance.md). Here the proxies and CA bundle the environment names are
    read on a host's first request and kept (`trust_env` stays off, so no `.netrc` either: table
    requests carry the SDK's own authorization); a plain-HTTP endpoint (Azurite) gets no CA bundle,
    which it would not use.
    """

    def __init__(self) -> None:
        super().__init__()
        self.trust_env = False
        self._lock = threading.Lock()
        self._settings: dict[tuple[str, str], dict[str, Any]] = {}

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> dict[str, Any]:
        parts = urlsplit(str(url))
        key = (parts.scheme, parts.netloc)
        with self._lock:
            base = self._settings.get(key)
            if base is None:
                self.trust_env = True
                try:
                    base = super().merge_environment_settings(url, {}, None, None, None)
                finally:
                    self.trust_env = False
                if parts.scheme == "http":
                    base["verify"] = True
                self._settings[key] = base
        return {
            "proxies": {**base["proxies"], **(proxies or {})},
            "stream": stream if stream is not None else base["stream"],
            "verify": verify if verify is not None and verify is not True else base["verify"],
            "cert": cert if cert is not None else base["cert"],
        }


def _transport() -> RequestsTransport:
    """azure-core's requests transport over `EnvironmentOnceSession` (no urllib3 retries: the SDK's policy retries)."""
    session = EnvironmentOnceSession()
    adapter = requests.adapters.HTTPAdapter(max_retries=Retry(total=False, redirect=False, raise_on_status=False))
    for prefix in ("http://", "https://"):
        session.mount(prefix, adapter)
    return RequestsTransport(session=session, session_owner=True)


LIVE_RETRIES = {"retry_total": 1, "retry_backoff_factor": 0.1, "retry_backoff_max": 0.5, "connection_timeout": 2}
"""The retry policy of `live` clients: a store that is best effort (the turn event log) fails in well under a second
instead of holding a turn's writer or reader for the SDK's default retries (seconds, per request)."""


@lru_cache(maxsize=2)
def table_service(live: bool = False) -> TableServiceClient:
    """The Table service of `AzureWebJobsStorage` (connection string or identity-based); `live`: with `LIVE_RETRIES`."""
    options: dict[str, Any] = dict(LIVE_RETRIES) if live else {}
    connection = _env("AzureWebJobsStorage")
    if connection:
        if connection.lower().replace(" ", "").startswith("usedevelopmentstorage=true"):
            connection = DEVELOPMENT_STORAGE
        return TableServiceClient.from_connection_string(connection, transport=_transport(), **options)
    endpoint = _env("AzureWebJobsStorage__tableServiceUri")
    account = _env("AzureWebJobsStorage__accountName")
    if not endpoint and account:
        endpoint = f"https://{account}.table.core.windows.net"
    if not endpoint:
        raise StorageNotConfigured(
            "set AzureWebJobsStorage (a connection string) or AzureWebJobsStorage__tableServiceUri"
        )
    client_id = _env("AzureWebJobsStorage__clientId")
    if (_env("AzureWebJobsStorage__credential") or "").lower() == "managedidentity":
        from azure.identity import ManagedIdentityCredential

        credential = ManagedIdentityCredential(client_id=client_id) if client_id else ManagedIdentityCredential()
    else:
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential(managed_identity_client_id=client_id)
    return TableServiceClient(endpoint=endpoint, credential=credential, transport=_transport(), **options)


@lru_cache(maxsize=16)
def table(name: str, live: bool = False) -> TableClient:
    """The table `name`, created if missing (once per process); `live`: its client fails fast (`LIVE_RETRIES`)."""
    if live:
        table(name)  # created through the patient client
        return table_service(live=True).get_table_client(name)
    service = table_service()
    service.create_table_if_not_exists(name)
    return service.get_table_client(name)


def reset_storage() -> None:
    """Forget the clients (for tests that change the connection)."""
    table.cache_clear()
    table_service.cache_clear()
