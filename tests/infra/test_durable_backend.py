"""durableBackend switches to the Durable Task Scheduler, wiring everything it needs only when chosen."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.infra.bicep_model import INFRA, REPO, Deployed, Opaque, deploy, template
from tests.infra.test_rbac import DURABLE_TASK_DATA_CONTRIBUTOR, IDENTITY, role_id

HOST_OVERRIDE = "AzureFunctionsJobHost__"
DTS_CONNECTION = "DURABLE_TASK_SCHEDULER_CONNECTION_STRING"
DTS_BUNDLE_MINIMUM = (4, 30, 0)  # first GA extension bundle with the azureManaged provider


def resources_for(backend: str) -> list[Deployed]:
    """What a deployment with the deploying user `user-1` and `backend` creates."""
    return deploy({"environmentName": "dev", "location": "eastus", "principalId": "user-1", "durableBackend": backend})


def settings_of(resources: list[Deployed]) -> dict[str, Any]:
    """The function app's evaluated app settings."""
    (config,) = [r for r in resources if r.type == "Microsoft.Web/sites/config"]
    return config.properties


def dts_role_holders(resources: list[Deployed]) -> list[Deployed]:
    """Durable Task Data Contributor assignments."""
    return [
        r
        for r in resources
        if r.type == "Microsoft.Authorization/roleAssignments" and role_id(r) == DURABLE_TASK_DATA_CONTRIBUTOR
    ]


def host_json() -> dict[str, Any]:
    """The repository's host.json (owned by the lead; read only)."""
    return json.loads((REPO / "host.json").read_text(encoding="utf-8"))


def test_azure_storage_backend_is_the_default() -> None:
    """Without durableBackend nothing of the scheduler is deployed or configured."""
    resources = deploy({"environmentName": "dev", "location": "eastus"})
    assert not [r for r in resources if r.type.startswith("Microsoft.DurableTask/")]
    assert not dts_role_holders(resources)
    assert not [k for k in settings_of(resources) if k.startswith(HOST_OVERRIDE) or k == DTS_CONNECTION]


def test_azure_storage_backend_has_no_scheduler_pieces() -> None:
    """AzureStorage: no scheduler, task hub, role or setting; host.json's provider stands."""
    resources = resources_for("AzureStorage")
    assert not [r for r in resources if r.type.startswith("Microsoft.DurableTask/")]
    assert not dts_role_holders(resources)
    settings = settings_of(resources)
    assert DTS_CONNECTION not in settings and "TASKHUB_NAME" not in settings
    assert not [k for k in settings if k.startswith(HOST_OVERRIDE)]


def test_scheduler_backend_deploys_scheduler_and_task_hub() -> None:
    """One scheduler (reachable: non-empty IP allow list) and one task hub named like host.json's hub."""
    resources = resources_for("DurableTaskScheduler")
    (scheduler,) = [r for r in resources if r.type == "Microsoft.DurableTask/schedulers" and not r.existing]
    (hub,) = [r for r in resources if r.type == "Microsoft.DurableTask/schedulers/taskHubs"]
    assert scheduler.properties["ipAllowlist"], "an empty allow list denies all traffic"
    assert scheduler.properties["sku"] == {"name": "Consumption"}
    assert hub.body["parent"] == Opaque("scheduler")
    assert hub.body["name"] == host_json()["extensions"]["durableTask"]["hubName"]


def test_dedicated_scheduler_sku_has_capacity() -> None:
    """The Dedicated SKU needs capacity units."""
    resources = deploy(
        {
            "environmentName": "dev",
            "location": "eastus",
            "durableBackend": "DurableTaskScheduler",
            "durableTaskSchedulerSku": "Dedicated",
        }
    )
    (scheduler,) = [r for r in resources if r.type == "Microsoft.DurableTask/schedulers" and not r.existing]
    assert scheduler.properties["sku"] == {"name": "Dedicated", "capacity": 1}


def test_scheduler_backend_grants_data_contributor() -> None:
    """The identity and the deploying user get Durable Task Data Contributor on the scheduler."""
    holders = dts_role_holders(resources_for("DurableTaskScheduler"))
    assert {h.properties["principalId"] for h in holders} == {IDENTITY, "user-1"}
    assert all(h.scope_type == "Microsoft.DurableTask/schedulers" for h in holders)


def test_scheduler_backend_sets_identity_connection() -> None:
    """The connection setting names the endpoint and authenticates with the user-assigned identity."""
    settings = settings_of(resources_for("DurableTaskScheduler"))
    connection = settings[DTS_CONNECTION]
    assert isinstance(connection, Opaque)
    assert (
        connection.text == "Endpoint=${schedulerEndpoint};Authentication=ManagedIdentity;ClientID=${identityClientId}"
    )
    assert settings["TASKHUB_NAME"] == Opaque("dts.outputs.taskHubName")


def test_no_backend_setting_overrides_host_json() -> None:
    """Scaling-relevant durable settings live in host.json, never in AzureFunctionsJobHost__* app settings
    (the scale controller reads host.json from disk)."""
    for backend in ("AzureStorage", "DurableTaskScheduler"):
        assert not [k for k in settings_of(resources_for(backend)) if k.startswith(HOST_OVERRIDE)], backend


def test_package_hook_writes_the_scheduler_into_the_deployed_host_json(tmp_path: Any) -> None:
    """azd's prepackage hook: the scheduler's provider and %TASKHUB_NAME% hub in host.json for DTS (the repository's
    copy restored after packaging); host.json untouched for Azure Storage."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("host_json_hook", INFRA / "hooks" / "host_json.py")
    assert spec and spec.loader
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    original = (REPO / "host.json").read_text(encoding="utf-8")
    (tmp_path / "host.json").write_text(original, encoding="utf-8")
    assert hook.prepare(tmp_path, "AzureStorage") is False
    assert (tmp_path / "host.json").read_text(encoding="utf-8") == original
    assert hook.prepare(tmp_path, "DurableTaskScheduler") is True
    durable = json.loads((tmp_path / "host.json").read_text(encoding="utf-8"))["extensions"]["durableTask"]
    assert durable["storageProvider"] == {"type": "azureManaged", "connectionStringName": DTS_CONNECTION}
    assert durable["hubName"] == "%TASKHUB_NAME%"
    settings = settings_of(resources_for("DurableTaskScheduler"))
    assert DTS_CONNECTION in settings and "TASKHUB_NAME" in settings  # what host.json refers to
    assert hook.restore(tmp_path) is True
    assert (tmp_path / "host.json").read_text(encoding="utf-8") == original
    hooks = (REPO / "azure.yaml").read_text(encoding="utf-8")
    assert "infra/hooks/host_json.py prepare" in hooks and "infra/hooks/host_json.py restore" in hooks


def test_azure_storage_polls_its_queues_at_most_two_seconds_apart() -> None:
    """An idle app's first step waits at most maxQueuePollingInterval (30 s by default): 2 s for a chat."""
    provider = host_json()["extensions"]["durableTask"]["storageProvider"]
    assert provider["maxQueuePollingInterval"] == "00:00:02"


def test_host_json_keeps_azure_storage_as_its_own_provider() -> None:
    """host.json itself must not pin a provider, or the AzureStorage default would break."""
    durable = host_json()["extensions"]["durableTask"]
    provider = durable.get("storageProvider", {})
    assert provider.get("type", "AzureStorage").lower() == "azurestorage"


def _upper_bound(version_range: str) -> tuple[int, ...]:
    match = re.fullmatch(r"[\[(]\s*[\d.*]+\s*,\s*([\d.]+)\s*[\])]", version_range)
    assert match, f"unrecognised bundle range {version_range!r}"
    return tuple(int(x) for x in match.group(1).split("."))


def test_extension_bundle_can_resolve_a_scheduler_capable_version() -> None:
    """The bundle range admits 4.30.0+, which carries the azureManaged (scheduler) provider."""
    bundle = host_json()["extensionBundle"]
    assert bundle["id"] in (
        "Microsoft.Azure.Functions.ExtensionBundle",
        "Microsoft.Azure.Functions.ExtensionBundle.Preview",
    )
    assert _upper_bound(bundle["version"]) > DTS_BUNDLE_MINIMUM


def test_backend_and_scheduler_are_reported_as_outputs() -> None:
    """DURABLE_BACKEND, the scheduler endpoint and the task hub land in the azd environment."""
    outputs = template(INFRA / "main.bicep").outputs
    assert str(outputs["DURABLE_BACKEND"]["value"]) == "durableBackend"
    assert {"DURABLE_TASK_SCHEDULER_ENDPOINT", "TASKHUB_NAME"} <= set(outputs)
