"""Table storage for skills, through the app's `AzureWebJobsStorage` connection.

Locally a connection string (Azurite: `UseDevelopmentStorage=true` or a full string); on Azure
identity-based: `AzureWebJobsStorage__tableServiceUri` (or `__accountName`) with
`__credential=managedidentity` and `__clientId` for a user-assigned identity. The service client
is built on first use and reused; tables are created once per process.
"""
from __future__ import annotations

import os
from functools import lru_cache

from azure.data.tables import TableClient, TableServiceClient

__all__ = [
    "StorageNotConfigured", "escape_key", "join_chunks", "reset_storage", "row_key", "split_chunks", "table", "table_service",
]

_CHUNK = 30000
"""Characters per string property (Table storage holds at most 32K characters in one)."""

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


@lru_cache(maxsize=1)
def table_service() -> TableServiceClient:
    """The Table service of `AzureWebJobsStorage` (connection string or identity-based)."""
    connection = _env("AzureWebJobsStorage")
    if connection:
        if connection.lower().replace(" ", "").startswith("usedevelopmentstorage=true"):
            connection = DEVELOPMENT_STORAGE
        return TableServiceClient.from_connection_string(connection)
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
    return TableServiceClient(endpoint=endpoint, credential=credential)


@lru_cache(maxsize=16)
def table(name: str) -> TableClient:
    """The table `name`, created if missing (once per process)."""
    service = table_service()
    service.create_table_if_not_exists(name)
    return service.get_table_client(name)


def row_key(seq: int) -> str:
    """A sequence number as a row key that sorts as the number does (zero-padded to 10 digits)."""
    return f"{seq:010d}"


def escape_key(value: str) -> str:
    """`value` quoted for an OData filter string."""
    return value.replace("'", "''")


def split_chunks(text: str) -> dict[str, str]:
    """`text` as properties `d0`, `d1`, ... of at most 30,000 characters each."""
    return {f"d{index // _CHUNK}": text[index : index + _CHUNK] for index in range(0, max(len(text), 1), _CHUNK)}


def join_chunks(row: dict[str, object]) -> str:
    """Inverse of `split_chunks`."""
    parts: list[str] = []
    while f"d{len(parts)}" in row:
        parts.append(str(row[f"d{len(parts)}"]))
    return "".join(parts)


def reset_storage() -> None:
    """Forget the clients (for tests that change the connection)."""
    table.cache_clear()
    table_service.cache_clear()
