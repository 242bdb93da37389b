"""durableBackend switches to the Durable Task Scheduler, wiring everything it needs only when chosen."""
from __future__ import annotations

import json
import re
from typing import Any

from tests.infra.bicep_model import INFRA, REPO, Deployed, Opaque, deploy, template
from tests.infra.test_rbac import DURABLE_TASK_DATA_CONTRIBUTOR, IDENTITY, role_id

HOST_OVERRIDE = "AzureFunctionsJobHost__"
DTS_CONNECTION = "DURABLE_TASK_SCHEDULER_CONNECTION_STRING"
DTS_BUNDLE_MINIMUM = (4, 32, 0)  # first GA extension bundle with the azureManaged provider


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
        r for r in resources
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
    resources = deploy({
        "environmentName": "dev", "location": "eastus",
        "durableBackend": "DurableTaskScheduler", "durableTaskSchedulerSku": "Dedicated",
    })
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
    assert connection.text == "Endpoint=${schedulerEndpoint};Authentication=ManagedIdentity;ClientID=${identityClientId}"
    assert settings["TASKHUB_NAME"] == Opaque("dts.outputs.taskHubName")


def test_scheduler_backend_overrides_host_json_provider() -> None:
    """App settings switch host.json's durableTask provider to azureManaged with that connection."""
    settings = settings_of(resources_for("DurableTaskScheduler"))
    prefix = HOST_OVERRIDE + "extensions__durableTask__"
    assert settings[prefix + "storageProvider__type"] == "azureManaged"
    assert settings[prefix + "storageProvider__connectionStringName"] == DTS_CONNECTION
    assert settings[prefix + "hubName"] == settings["TASKHUB_NAME"]


def test_host_overrides_follow_host_json_shape() -> None:
    """Each AzureFunctionsJobHost__a__b__c override lands under a section host.json has."""
    host = host_json()
    for key in settings_of(resources_for("DurableTaskScheduler")):
        if not key.startswith(HOST_OVERRIDE):
            continue
        path = key[len(HOST_OVERRIDE):].split("__")
        node: Any = host
        for part in path[:2]:  # extensions -> durableTask must exist; deeper keys are new
            assert isinstance(node, dict) and part in node, f"{key}: host.json has no {part}"
            node = node[part]


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
    """The bundle range admits 4.32.0+, which carries the azureManaged (scheduler) provider."""
    bundle = host_json()["extensionBundle"]
    assert bundle["id"] in ("Microsoft.Azure.Functions.ExtensionBundle", "Microsoft.Azure.Functions.ExtensionBundle.Preview")
    assert _upper_bound(bundle["version"]) > DTS_BUNDLE_MINIMUM


def test_backend_and_scheduler_are_reported_as_outputs() -> None:
    """DURABLE_BACKEND, the scheduler endpoint and the task hub land in the azd environment."""
    outputs = template(INFRA / "main.bicep").outputs
    assert str(outputs["DURABLE_BACKEND"]["value"]) == "durableBackend"
    assert {"DURABLE_TASK_SCHEDULER_ENDPOINT", "TASKHUB_NAME"} <= set(outputs)
