"""Telemetry the platform's way: host.json's OpenTelemetry mode, the app setting the Python worker needs for it,
the sampling that replaces host.json's, and what the worker needs installed (item 6 of "Azure at scale")."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from assistant import telemetry
from tests.infra.bicep_model import INFRA, REPO, deploy, template

WORKER_SETTING = "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY"
DISTRO_INSTRUMENTATIONS = (
    *("azure_sdk", "django", "fastapi", "flask", "httpx"),
    *("psycopg2", "requests", "urllib", "urllib3"),
)
"""azure-monitor-opentelemetry 1.8's instrumentations: each on unless in OTEL_PYTHON_DISABLED_INSTRUMENTATIONS."""


def host_json() -> dict[str, Any]:
    return json.loads((REPO / "host.json").read_text(encoding="utf-8"))


def settings(backend: str, **params: Any) -> dict[str, Any]:
    resources = deploy({"environmentName": "dev", "location": "eastus", "durableBackend": backend, **params})
    (config,) = [r for r in resources if r.type == "Microsoft.Web/sites/config"]
    return config.properties


def test_host_json_puts_the_host_in_opentelemetry_mode() -> None:
    """`"telemetryMode": "OpenTelemetry"` at the root: the host's request span is an OpenTelemetry span, the
    parent the worker hands the app."""
    assert host_json()["telemetryMode"] == "OpenTelemetry"


def test_host_json_has_no_application_insights_sampling() -> None:
    """samplingSettings are the Application Insights SDK's and ignored in OpenTelemetry mode: sampling is the
    OTEL_TRACES_SAMPLER app settings now."""
    assert "applicationInsights" not in host_json().get("logging", {})
    assert "samplingSettings" not in json.dumps(host_json())


@pytest.mark.parametrize("backend", ["AzureStorage", "DurableTaskScheduler"])
def test_the_worker_exports_with_entra_auth_on_both_backends(backend: str) -> None:
    """The worker's own switch (the app reads the same name to stay silent), the connection and its Entra auth
    (the host and the distro's exporter both read APPLICATIONINSIGHTS_AUTHENTICATION_STRING)."""
    values = settings(backend)
    assert values[WORKER_SETTING] == "true"
    assert telemetry.PLATFORM_SETTING == WORKER_SETTING
    assert "APPLICATIONINSIGHTS_CONNECTION_STRING" in values
    assert values["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"].text.endswith("Authorization=AAD")


def test_the_broken_worker_switch_is_not_used() -> None:
    """PYTHON_ENABLE_OPENTELEMETRY alone marks OpenTelemetry on without creating the worker's propagator
    (azure-functions-python-worker dispatcher.py): every invocation would fail in configure_opentelemetry."""
    assert "PYTHON_ENABLE_OPENTELEMETRY" not in settings("AzureStorage")


def test_the_worker_can_import_the_distro_it_configures() -> None:
    """With the switch on the worker imports azure.monitor.opentelemetry; without it the worker logs the
    ImportError and exports nothing (the app would fall back to its own exporter)."""
    requirements = (REPO / "requirements.txt").read_text(encoding="utf-8")
    assert re.search(r"^azure-monitor-opentelemetry[><=~ ]", requirements, re.MULTILINE)


def test_sampling_is_the_fixed_percentage_both_processes_read() -> None:
    """microsoft.fixed_percentage (the host's and the Python distro's name for Application Insights' trace-id
    hash sampler), with the ratio from the traceSamplingRatio parameter: everything kept by default."""
    values = settings("AzureStorage")
    assert values["OTEL_TRACES_SAMPLER"] == "microsoft.fixed_percentage"
    assert values["OTEL_TRACES_SAMPLER_ARG"] == "1.0"
    assert settings("AzureStorage", traceSamplingRatio="0.25")["OTEL_TRACES_SAMPLER_ARG"] == "0.25"
    default = template(INFRA / "main.bicep").parameters["traceSamplingRatio"]["default"]
    assert 0.0 <= float(default) <= 1.0


def test_only_the_apps_spans_are_exported() -> None:
    """Every instrumentation of the distro is off: no span per storage poll or model HTTP call, and no second
    request span from the worker's FastAPI proxy."""
    disabled = settings("AzureStorage")["OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"].split(",")
    assert set(DISTRO_INSTRUMENTATIONS) <= set(disabled)
