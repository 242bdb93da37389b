"""The app's identity and the deploying user get exactly the data roles they need, on the right resources."""

from __future__ import annotations

import re

import pytest

from tests.infra.bicep_model import Deployed, Opaque, bicep_files, deploy

# Built-in role definition ids (same in every tenant) and the resource each is scoped to.
ROLES = {
    "Storage Blob Data Owner": ("b7e6dc6d-f1e8-4753-8033-0f276bb0955b", "Microsoft.Storage/storageAccounts"),
    "Storage Queue Data Contributor": ("974c5e8b-45b9-4653-ba55-5f855dd0fb88", "Microsoft.Storage/storageAccounts"),
    "Storage Table Data Contributor": ("0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3", "Microsoft.Storage/storageAccounts"),
    "Cognitive Services OpenAI User": ("5e0bd9bd-7b93-4f28-af87-19fc36ad61bd", "Microsoft.CognitiveServices/accounts"),
    "Monitoring Metrics Publisher": ("3913510d-42f4-4e42-8a64-420c390055eb", "Microsoft.Insights/components"),
}
DURABLE_TASK_DATA_CONTRIBUTOR = "0ad04412-c4d5-4796-b79c-f76d14c8d402"
KNOWN_ROLE_NAMES = {guid: name for name, (guid, _) in ROLES.items()} | {
    DURABLE_TASK_DATA_CONTRIBUTOR: "Durable Task Data Contributor"
}
IDENTITY = Opaque("identity.outputs.principalId")
GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def role_assignments(**params: str) -> list[Deployed]:
    """Role assignments a deployment with `params` (on top of name and region) creates."""
    resources = deploy({"environmentName": "dev", "location": "eastus", **params})
    return [r for r in resources if r.type == "Microsoft.Authorization/roleAssignments"]


def role_id(assignment: Deployed) -> str:
    """The built-in role GUID an assignment grants."""
    definition = assignment.properties["roleDefinitionId"]
    assert isinstance(definition, str), f"role definition must be a fixed built-in id, got {definition}"
    assert definition.startswith("/subscriptions/{subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/")
    return definition.rsplit("/", 1)[1]


def roles_of(assignments: list[Deployed], principal: object) -> dict[str, list[Deployed]]:
    """Role GUID -> the assignments to `principal`."""
    by_role: dict[str, list[Deployed]] = {}
    for assignment in assignments:
        if assignment.properties["principalId"] == principal:
            by_role.setdefault(role_id(assignment), []).append(assignment)
    return by_role


@pytest.mark.parametrize("role", sorted(ROLES))
def test_identity_has_role_on_its_resource(role: str) -> None:
    """The app's user-assigned identity holds each role once, scoped to the resource it is for."""
    guid, scope_type = ROLES[role]
    granted = roles_of(role_assignments(), IDENTITY).get(guid, [])
    assert len(granted) == 1, f"{role}: {len(granted)} assignments to the identity"
    assert granted[0].scope_type == scope_type
    assert granted[0].properties["principalType"] == "ServicePrincipal"


@pytest.mark.parametrize("role", sorted(ROLES))
def test_deploying_user_has_role_on_its_resource(role: str) -> None:
    """azd's AZURE_PRINCIPAL_ID gets the same data roles, as a User by default."""
    guid, scope_type = ROLES[role]
    granted = roles_of(role_assignments(principalId="user-object-id"), "user-object-id").get(guid, [])
    assert len(granted) == 1, f"{role}: {len(granted)} assignments to the user"
    assert granted[0].scope_type == scope_type
    assert granted[0].properties["principalType"] == "User"


def test_ci_service_principal_type_passes_through() -> None:
    """With AZURE_PRINCIPAL_TYPE=ServicePrincipal the user assignments say so (ARM rejects a wrong type)."""
    assignments = role_assignments(principalId="ci-sp", principalType="ServicePrincipal")
    for granted in roles_of(assignments, "ci-sp").values():
        assert granted[0].properties["principalType"] == "ServicePrincipal"


def test_no_user_assignments_without_a_principal() -> None:
    """An empty principalId (no signed-in user) skips the user's assignments instead of failing."""
    assignments = role_assignments(principalId="")
    principals = {a.properties["principalId"] for a in assignments}
    assert principals == {IDENTITY}
    assert len(assignments) == len(ROLES)


def test_roles_target_the_deployed_resources() -> None:
    """The `existing` resources the roles are scoped to are the ones the other modules created."""
    resources = deploy({"environmentName": "dev", "location": "eastus"})
    expected = {
        "Microsoft.Storage/storageAccounts": Opaque("storage.outputs.name"),
        "Microsoft.CognitiveServices/accounts": Opaque("openAi.outputs.name"),
        "Microsoft.Insights/components": Opaque("monitoring.outputs.applicationInsightsName"),
    }
    existing = {r.type: r.body["name"] for r in resources if r.existing}
    assert existing == expected


def test_every_role_guid_is_known_and_named_in_a_comment() -> None:
    """Each role GUID in infra/ is a known built-in role with its name in a comment on the same line."""
    seen = set()
    for path in bicep_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            for guid in GUID.findall(line):
                assert guid in KNOWN_ROLE_NAMES, f"{path.name}:{number}: unknown GUID {guid}"
                assert f"// {KNOWN_ROLE_NAMES[guid]}" in line, f"{path.name}:{number}: name the role in a comment"
                seen.add(guid)
    assert seen == set(KNOWN_ROLE_NAMES)
