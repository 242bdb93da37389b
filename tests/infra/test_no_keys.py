"""No resource enables keys or shared-key access, and nothing in the infra needs a secret."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.infra.bicep_model import INFRA, Deployed, Opaque, bicep_files, deploy, template

FORBIDDEN_TEXT = [
    re.compile(r"listKeys\s*\(", re.IGNORECASE),
    re.compile(r"list[A-Za-z]*Secrets?\s*\(", re.IGNORECASE),
    re.compile(r"AccountKey\s*=", re.IGNORECASE),
    re.compile(r"SharedAccessSignature|SharedAccessKey", re.IGNORECASE),
    re.compile(r"InstrumentationKey\s*=", re.IGNORECASE),
    re.compile(r"@secure\s*\("),
    re.compile(r"allowSharedKeyAccess\s*:\s*true", re.IGNORECASE),
    re.compile(r"disableLocalAuth\s*:\s*false", re.IGNORECASE),
]


@pytest.fixture(scope="module", params=["AzureStorage", "DurableTaskScheduler"])
def resources(request: pytest.FixtureRequest) -> list[Deployed]:
    """Everything deployed, once per Durable backend."""
    return deploy({"environmentName": "dev", "location": "eastus", "principalId": "u", "durableBackend": request.param})


def created(resources: list[Deployed], type_: str) -> list[Deployed]:
    """The non-`existing` resources of one type (at least one)."""
    found = [r for r in resources if r.type == type_ and not r.existing]
    assert found, f"no {type_} deployed"
    return found


@pytest.mark.parametrize("path", bicep_files(), ids=lambda p: p.name)
def test_no_key_material_in_bicep_text(path: Path) -> None:
    """No listKeys(), account keys, SAS, instrumentation keys or @secure() parameters."""
    text = template(path).text
    for pattern in FORBIDDEN_TEXT:
        assert not pattern.search(text), f"{path}: {pattern.pattern}"


def test_storage_disallows_shared_keys(resources: list[Deployed]) -> None:
    """Shared-key (and anonymous blob) access is off; only Entra ID works."""
    for account in created(resources, "Microsoft.Storage/storageAccounts"):
        props = account.properties
        assert props["allowSharedKeyAccess"] is False
        assert props["allowBlobPublicAccess"] is False
        assert props["defaultToOAuthAuthentication"] is True
        assert props["minimumTlsVersion"] == "TLS1_2"


def test_openai_disables_local_auth(resources: list[Deployed]) -> None:
    """No API keys on Azure OpenAI; a custom subdomain is what Entra ID tokens need."""
    for account in created(resources, "Microsoft.CognitiveServices/accounts"):
        assert account.body["kind"] == "OpenAI"
        assert account.properties["disableLocalAuth"] is True
        assert account.properties["customSubDomainName"]


def test_chat_model_deployment_uses_the_parameters(resources: list[Deployed]) -> None:
    """Model name, version, SKU and capacity come from parameters."""
    (deployment,) = created(resources, "Microsoft.CognitiveServices/accounts/deployments")
    assert deployment.properties["model"] == {"format": "OpenAI", "name": "gpt-5-mini", "version": "2025-08-07"}
    assert deployment.body["sku"] == {"name": "GlobalStandard", "capacity": 10}
    assert deployment.body["name"] == "gpt-5-mini"


def test_monitoring_disables_local_auth(resources: list[Deployed]) -> None:
    """Application Insights and Log Analytics accept Entra ID only."""
    for component in created(resources, "Microsoft.Insights/components"):
        assert component.properties["DisableLocalAuth"] is True
        assert component.properties["WorkspaceResourceId"] == Opaque("logAnalytics.id")
    for workspace in created(resources, "Microsoft.OperationalInsights/workspaces"):
        assert workspace.properties["features"]["disableLocalAuth"] is True


def test_publishing_credentials_are_disabled(resources: list[Deployed]) -> None:
    """No FTP or SCM basic-auth passwords on the function app."""
    policies = created(resources, "Microsoft.Web/sites/basicPublishingCredentialsPolicies")
    assert {p.body["name"]: p.properties["allow"] for p in policies} == {"scm": False, "ftp": False}


def test_function_app_is_https_only(resources: list[Deployed]) -> None:
    """HTTPS only, modern TLS; no FTP (Flex Consumption has none and rejects ftpsState: FTP publishing is off by
    policy)."""
    (site,) = created(resources, "Microsoft.Web/sites")
    assert site.properties["httpsOnly"] is True
    assert site.properties["siteConfig"] == {"minTlsVersion": "1.2"}
    policies = {
        r.body.get("name"): r.properties
        for r in resources
        if r.type == "Microsoft.Web/sites/basicPublishingCredentialsPolicies"
    }
    assert policies.get("ftp") == {"allow": False} and policies.get("scm") == {"allow": False}


def test_no_app_setting_carries_a_key(resources: list[Deployed]) -> None:
    """Setting values are URIs, names and identity ids, never keys."""
    (settings,) = [r for r in resources if r.type == "Microsoft.Web/sites/config"]
    for name, value in settings.properties.items():
        text = value.text if isinstance(value, Opaque) else str(value)
        assert not re.search(r"key|secret|password|sig=", text, re.IGNORECASE), f"{name}={text}"
        assert not re.search(r"(?<!CONNECTION_STRING)key$", name, re.IGNORECASE), name


def test_main_needs_no_secret_parameters() -> None:
    """Every main.bicep parameter is a plain value azd can fill without a secret."""
    for name, spec in template(INFRA / "main.bicep").parameters.items():
        assert all(d["type"] != "secure" for d in spec["decorators"]), name
        assert not re.search(r"key|secret|password", name, re.IGNORECASE), name
