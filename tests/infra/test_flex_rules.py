"""Flex Consumption's own rules, which the resource type definitions do not capture (each broke or would break a
deployment)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.bicep_model import INFRA, Deployed, deploy, template

BASE = {"environmentName": "dev", "location": "eastus", "principalId": "user-1"}
REJECTED_ON_FLEX = {
    # ARM error 51021: "site configuration properties (Site.SiteConfig.FtpsState, ...) for Flex Consumption sites is
    # invalid"
    ("siteConfig", "ftpsState"),
    ("siteConfig", "linuxFxVersion"),  # the runtime is functionAppConfig.runtime on Flex
    ("siteConfig", "alwaysOn"),
    ("siteConfig", "use32BitWorkerProcess"),
}
SCALE = (40, 1000)
"""maximumInstanceCount: "The lowest maximum scale is currently 40" (Flex Consumption docs); 1,000 at most."""


def flex_sites(resources: list[Deployed]) -> list[Deployed]:
    return [
        r for r in resources if r.type == "Microsoft.Web/sites" and "functionAppConfig" in r.body.get("properties", {})
    ]


def _get(body: dict[str, Any], *path: str) -> Any:
    for key in path:
        if not isinstance(body, dict) or key not in body:
            return None
        body = body[key]
    return body


@pytest.mark.parametrize("backend", ["AzureStorage", "DurableTaskScheduler"])
def test_no_property_flex_consumption_rejects(backend: str) -> None:
    """The function app sets none of the site properties Flex Consumption refuses."""
    sites = flex_sites(deploy({**BASE, "durableBackend": backend}))
    assert sites, "the deployment has a Flex Consumption function app"
    for site in sites:
        present = [".".join(p) for p in REJECTED_ON_FLEX if _get(site.body["properties"], *p) is not None]
        assert not present, f"{site.symbol} sets {present}, which Flex Consumption rejects"


def test_maximum_instance_count_is_kept_within_flex_limits() -> None:
    """Both templates declare 40..1000; values outside are refused before they reach Azure; the default deploys."""
    for path in (INFRA / "main.bicep", INFRA / "app" / "api.bicep"):
        decorators = {
            d["type"]: d.get("argument") for d in template(path).parameters["maximumInstanceCount"]["decorators"]
        }
        assert (decorators["min_value"], decorators["max_value"]) == SCALE, path.name
    for bad in (1, 39, 1001):
        with pytest.raises(ValueError, match="maximumInstanceCount"):
            deploy({**BASE, "maximumInstanceCount": bad})
    (site,) = flex_sites(deploy({**BASE, "maximumInstanceCount": 40}))
    assert site.body["properties"]["functionAppConfig"]["scaleAndConcurrency"]["maximumInstanceCount"] == 40
