"""main.parameters.json, main.bicep and the modules agree on parameters."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.infra.bicep_model import INFRA, bicep_files, deploy, parameters_file, template

AZD_REFERENCE = re.compile(r"^\$\{(?P<name>[A-Z_][A-Z0-9_]*)(?:=(?P<default>[^}]*))?\}$")
MAIN = INFRA / "main.bicep"


def _substitute(value: Any, env: dict[str, str]) -> Any:
    """What azd does to one `"value"` before provisioning: `${VAR}` / `${VAR=default}` from the env."""
    if not isinstance(value, str):
        return value
    match = AZD_REFERENCE.match(value)
    if not match:
        return value
    return env.get(match["name"]) or (match["default"] or "")


def _as_param_type(raw: Any, bicep_type: str) -> Any:
    """azd converts substituted strings to the Bicep parameter's type."""
    if bicep_type == "int" and isinstance(raw, str):
        return int(raw)
    if bicep_type == "bool" and isinstance(raw, str):
        return raw.lower() == "true"
    return raw


def _azd_parameters(env: dict[str, str]) -> dict[str, Any]:
    main = template(MAIN)
    return {
        name: _as_param_type(_substitute(spec["value"], env), main.parameters[name]["type"])
        for name, spec in parameters_file().items()
    }


def test_every_parameters_file_entry_is_declared_in_main() -> None:
    """No stale entries (the seed sample shipped these out of step)."""
    declared = set(template(MAIN).parameters)
    assert set(parameters_file()) <= declared, set(parameters_file()) - declared


def test_every_required_main_parameter_is_in_the_parameters_file() -> None:
    """A parameter without a default must come from the parameters file."""
    required = template(MAIN).required_parameters()
    assert required, "main.bicep should require at least environmentName and location"
    assert required <= set(parameters_file()), required - set(parameters_file())


def test_azd_well_known_variables_feed_the_right_parameters() -> None:
    """azd fills environment name, location and the signed-in principal."""
    params = parameters_file()
    assert params["environmentName"]["value"] == "${AZURE_ENV_NAME}"
    assert params["location"]["value"] == "${AZURE_LOCATION}"
    assert params["principalId"]["value"] == "${AZURE_PRINCIPAL_ID}"
    assert AZD_REFERENCE.match(params["durableBackend"]["value"])["name"] == "DURABLE_BACKEND"


def test_parameters_file_values_are_azd_references_with_valid_defaults() -> None:
    """Each value is `${VAR}` or `${VAR=default}`, and a default satisfies the parameter's @allowed list."""
    main = template(MAIN)
    for name, spec in parameters_file().items():
        match = AZD_REFERENCE.match(str(spec["value"]))
        assert match, f"{name}: {spec['value']!r} is not an azd ${{VAR}} reference"
        if match["default"] is None:
            continue
        value = _as_param_type(match["default"], main.parameters[name]["type"])
        for decorator in main.parameters[name]["decorators"]:
            if decorator["type"] == "allowed":
                assert value in decorator["argument"], f"{name}: default {value!r} not allowed"


@pytest.mark.parametrize("backend", [None, "AzureStorage", "DurableTaskScheduler"])
def test_parameters_file_as_azd_fills_it_deploys(backend: str | None) -> None:
    """A fresh azd env (only the well-known variables set) gives a complete, valid parameter set."""
    env = {"AZURE_ENV_NAME": "dev", "AZURE_LOCATION": "eastus2", "AZURE_PRINCIPAL_ID": "0000-user"}
    if backend:
        env["DURABLE_BACKEND"] = backend
    resources = deploy(_azd_parameters(env))
    assert any(r.type == "Microsoft.Web/sites" for r in resources)
    has_scheduler = any(r.type == "Microsoft.DurableTask/schedulers" and not r.existing for r in resources)
    assert has_scheduler == (backend == "DurableTaskScheduler")


def test_deploy_rejects_a_backend_outside_the_allowed_list() -> None:
    """The model enforces @allowed, so the tests above would catch a bad default."""
    with pytest.raises(ValueError, match="durableBackend"):
        deploy({"environmentName": "dev", "location": "eastus", "durableBackend": "Cosmos"})


def _module_calls() -> list[tuple[Path, str, Path, dict[str, Any]]]:
    calls = []
    for path in bicep_files():
        tpl = template(path)
        for symbol, spec in tpl.modules.items():
            body = spec["config"]
            while "config" in body and ("condition" in body or "loop_type" in body):
                body = body["config"]
            calls.append((path, symbol, tpl.module_path(symbol), body.get("params", {})))
    return calls


@pytest.mark.parametrize("call", _module_calls(), ids=lambda c: f"{c[0].name}:{c[1]}")
def test_module_call_matches_module_parameters(call: tuple[Path, str, Path, dict[str, Any]]) -> None:
    """Every parameter passed exists in the module; every required module parameter is passed."""
    _, symbol, module_path, passed = call
    module = template(module_path)
    unknown = set(passed) - set(module.parameters)
    assert not unknown, f"{symbol}: passes parameters the module lacks: {sorted(unknown)}"
    missing = module.required_parameters() - set(passed)
    assert not missing, f"{symbol}: does not pass required parameters: {sorted(missing)}"


def test_outputs_azd_writes_to_the_environment() -> None:
    """Location, tenant, resource group, function app name and URL, endpoints are outputs."""
    outputs = set(template(MAIN).outputs)
    expected = {
        "AZURE_LOCATION",
        "AZURE_TENANT_ID",
        "AZURE_RESOURCE_GROUP",
        "AZURE_FUNCTION_APP_NAME",
        "SERVICE_API_URI",
        "API_BASE_URL",
        "AZURE_OPENAI_ENDPOINT",
        "CHAT_MODEL_DEPLOYMENT_NAME",
        "DURABLE_BACKEND",
    }
    assert expected <= outputs, expected - outputs


def test_every_azd_variable_is_documented() -> None:
    """docs/deploy.md's table names each variable the parameters file reads."""
    from tests.infra.bicep_model import REPO

    docs = (REPO / "docs" / "deploy.md").read_text(encoding="utf-8")
    filled_by_azd = {"AZURE_ENV_NAME", "AZURE_LOCATION", "AZURE_PRINCIPAL_ID"}
    for name, spec in parameters_file().items():
        variable = AZD_REFERENCE.match(str(spec["value"]))["name"]
        if variable not in filled_by_azd:
            assert f"| `{variable}` | `{name}` |" in docs, f"{variable} -> {name} missing from docs/deploy.md"
