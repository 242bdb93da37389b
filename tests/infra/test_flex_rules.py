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


HTTP_CONCURRENCY_DEFAULT = 50
"""Chosen from `python -m bench stream_memory` for the 2,048 MB (1 vCPU) instance: docs/deploy.md "HTTP concurrency"."""
THREADS_FLOOR = 32
"""The Python worker's own ceiling for its default pool (min(32, cores + 4)), above Durable's per-instance limits."""


def _settings(resources: list[Deployed]) -> dict[str, Any]:
    (config,) = [r for r in resources if r.type == "Microsoft.Web/sites/config"]
    return config.properties


def test_http_concurrency_is_a_parameter_flex_receives() -> None:
    """perInstanceConcurrency under functionAppConfig.scaleAndConcurrency.triggers.http, from main.bicep's
    httpPerInstanceConcurrency through api.bicep; without it Flex runs a Python app's HTTP functions one at a
    time per instance (every open turn stream would hold an instance)."""
    for path in (INFRA / "main.bicep", INFRA / "app" / "api.bicep"):
        spec = template(path).parameters["httpPerInstanceConcurrency"]
        bounds = {d["type"]: d.get("argument") for d in spec["decorators"]}
        assert spec["type"] == "int" and (bounds["min_value"], bounds["max_value"]) == (1, 1000), path.name
    (site,) = flex_sites(deploy(BASE))
    http = site.body["properties"]["functionAppConfig"]["scaleAndConcurrency"]["triggers"]["http"]
    assert http == {"perInstanceConcurrency": HTTP_CONCURRENCY_DEFAULT}
    (site,) = flex_sites(deploy({**BASE, "httpPerInstanceConcurrency": 24}))
    assert site.body["properties"]["functionAppConfig"]["scaleAndConcurrency"]["triggers"]["http"] == {
        "perInstanceConcurrency": 24
    }
    for bad in (0, 1001):
        with pytest.raises(ValueError, match="httpPerInstanceConcurrency"):
            deploy({**BASE, "httpPerInstanceConcurrency": bad})


def test_http_concurrency_default_is_the_measured_one_everywhere() -> None:
    """main.bicep's default, the azd parameters file's and docs/deploy.md's are the measured value."""
    from tests.infra.bicep_model import REPO, parameters_file

    assert (
        template(INFRA / "main.bicep").parameters["httpPerInstanceConcurrency"]["default"] == HTTP_CONCURRENCY_DEFAULT
    )
    assert (
        parameters_file()["httpPerInstanceConcurrency"]["value"]
        == f"${{FUNCTION_HTTP_CONCURRENCY={HTTP_CONCURRENCY_DEFAULT}}}"
    )
    docs = (REPO / "docs" / "deploy.md").read_text(encoding="utf-8")
    assert f"| `FUNCTION_HTTP_CONCURRENCY` | `httpPerInstanceConcurrency` | `{HTTP_CONCURRENCY_DEFAULT}`" in docs


@pytest.mark.parametrize(("concurrency", "threads"), [(None, "50"), (8, "32"), (64, "64"), (1000, "1000")])
@pytest.mark.parametrize("backend", ["AzureStorage", "DurableTaskScheduler"])
def test_the_workers_thread_pool_is_sized_with_http_concurrency(
    backend: str, concurrency: int | None, threads: str
) -> None:
    """PYTHON_THREADPOOL_THREAD_COUNT = max(httpPerInstanceConcurrency, 32): never fewer threads than the
    invocations an instance may run at once, never fewer than the Durable functions' model calls and episodes."""
    params = {**BASE, "durableBackend": backend}
    if concurrency is not None:
        params["httpPerInstanceConcurrency"] = concurrency
    assert _settings(deploy(params))["PYTHON_THREADPOOL_THREAD_COUNT"] == threads
    assert int(threads) >= max(concurrency or HTTP_CONCURRENCY_DEFAULT, THREADS_FLOOR)
