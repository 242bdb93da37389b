"""The durable client binding value, read by the SDK's own classes."""

from __future__ import annotations

import azure.durable_functions as df

from devhost.durable.binding import client_binding_json


def test_binding_value_builds_a_working_sdk_client_payload() -> None:
    """The SDK client reads it and produces the instance's management URLs."""
    client = df.DurableOrchestrationClient(client_binding_json("http://127.0.0.1:7071", "Hub"))
    payload = client.create_http_management_payload("abc")
    base = "http://127.0.0.1:7071/runtime/webhooks/durabletask"
    assert payload["id"] == "abc"
    assert payload["statusQueryGetUri"] == f"{base}/instances/abc?taskHub=Hub&connection=Storage"
    assert payload["terminatePostUri"].startswith(f"{base}/instances/abc/terminate?reason={{text}}")
    assert client._orchestration_bindings.rpc_base_url == f"{base}/"
