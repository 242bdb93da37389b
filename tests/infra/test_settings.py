"""Every setting the app's code reads is set by the infra (or is knowingly local-only or optional)."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

from tests.infra.bicep_model import REPO, Deployed, Opaque, deploy

APP_PACKAGES = ("assistant", "skills", "api", "activities", "orchestrators", "entities", "storage", "maintenance")
SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# The contract in /work/shared/DESIGN.md "Settings" and issue 5: Azure must set these.
REQUIRED_ON_AZURE = {
    "AzureWebJobsStorage__blobServiceUri",
    "AzureWebJobsStorage__queueServiceUri",
    "AzureWebJobsStorage__tableServiceUri",
    "AzureWebJobsStorage__credential",
    "AzureWebJobsStorage__clientId",
    "AZURE_OPENAI_ENDPOINT",
    "AZURE_OPENAI_API_VERSION",
    "CHAT_MODEL_DEPLOYMENT_NAME",
    "AZURE_CLIENT_ID",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
}

# Read by the code but deliberately not set on Azure.
LOCAL_ONLY = {
    "AzureWebJobsStorage": "connection-string form, for Azurite; Azure uses the identity-based __* settings",
    "AzureWebJobsStorage__accountName": "alternative to __tableServiceUri; the infra sets the service URIs",
    "AZURE_OPENAI_KEY": "a key; the Azure OpenAI account has local auth disabled",
    "OPENAI_API_KEY": "a key for an OpenAI-compatible server, not used on Azure",
    "OPENAI_BASE_URL": "an OpenAI-compatible server, not used on Azure",
}

# Read by the code with a sensible default; set them as app settings to tune a deployment.
OPTIONAL_WITH_DEFAULTS = {
    "CHAT_MODEL_REASONING": "derived from the deployment name, which defaults to the model name",
    "CHAT_MODEL_TIMEOUT_SECONDS": "default 60",
    "CHAT_MODEL_MAX_RETRIES": "default 2",
    "CHAT_MAX_TOOL_ROUNDS": "default 5",
    "CHAT_PROMPT_TOKEN_BUDGET": "default 12000 when the context window is unknown; when set, also a cap",
    "CHAT_MODEL_CONTEXT_TOKENS": "default: known from the model's name (gpt-4o, gpt-4.1, gpt-5, o*...)",
    "CHAT_SUMMARY": "default on with a real model: the running summary of what leaves the prompt",
    "CHAT_SUMMARY_TOKENS": "default 800 (at most a quarter of the prompt budget)",
    "CHAT_TOOL_RESULT_TOKENS": "default 4000: longer tool results are cut in the prompt",
    "CHAT_MAX_COMPLETION_TOKENS": "default: the model's own limit",
    "CHAT_MAX_MESSAGE_BYTES": "default 32 KiB",
    "TODO_TABLE_NAME": "default table name of the todo skill",
    "CHAT_WORKING_MESSAGES": "default 64: messages the chat entity keeps before older ones move to the archive table",
    "CHAT_ARCHIVE_TABLE": "default chatmessages: the Table storage table of archived chat messages",
    "CHAT_MAX_TOOL_CALLS": "default 16 tool calls run per model answer",
    "CHAT_MAX_REPLY_BYTES": "default 64 KiB of one model answer's text",
    "CHAT_MAX_BODY_BYTES": "default 1 MiB request bodies on the chat routes",
    "CHAT_MODEL_TURN_ATTEMPTS": "default 3 Durable attempts of a model call",
    "CHAT_MODEL_RETRY_SECONDS": "default 2 s between those attempts",
    "CHAT_QUEUE_CHECK_SECONDS": "default 30 s: a queued turn checks that the turn ahead of it still lives",
    "CHAT_TURN_RETENTION_HOURS": "default 24 h before finished turns' histories are purged",
    "CHAT_TURN_EVENTS": "default on: turns publish their live events",
    "CHAT_LIVE_WAKE": "default on: writers hand readers in their process what they wrote (off: measuring budgets)",
    "TURN_EVENTS_TABLE": "default turnevents: the Table storage table of the turns' event logs",
    "CHAT_FENCE_TABLE": "default chatfences: the Table storage table of the chats' generation markers",
    "CHAT_PUBLIC_HOSTS": "default none: the front ends (custom domains, tunnels) whose host the handed-out URLs use",
    "OTEL_SDK_DISABLED": "OpenTelemetry's own switch: true turns tracing off",
    "OTEL_EXPORTER_OTLP_ENDPOINT": "send traces to an OTLP collector (unset on Azure: Application Insights)",
    "OTEL_TRACES_EXPORTER": "console for spans in the log (local debugging)",
    "OTEL_SERVICE_NAME": "default durable-assistant",
    "CHAT_TRACE_CONTENT": "default off: prompts and replies are not recorded in spans",
    "TIKTOKEN_CACHE_DIR": "default: the encodings shipped in assistant/encodings",
}

# Set by the infra for the Functions host or Azure SDKs, not read by the app's own code.
READ_BY_PLATFORM = {
    "AZURE_CLIENT_ID": "azure-identity's DefaultAzureCredential picks the user-assigned identity by it",
    "APPLICATIONINSIGHTS_CONNECTION_STRING": "the Functions host's telemetry",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "Entra ID auth of that telemetry",
    "AzureWebJobsStorage__blobServiceUri": "the Functions host and Durable Functions",
    "AzureWebJobsStorage__queueServiceUri": "the Functions host and Durable Functions",
    "DURABLE_TASK_SCHEDULER_CONNECTION_STRING": "the Durable Task Scheduler storage provider",
    "TASKHUB_NAME": "documents the task hub; the host reads the hubName override",
    "PYTHON_ENABLE_INIT_INDEXING": "the Python worker: HTTP streams (azurefunctions-extensions-http-fastapi) need it",
    "PYTHON_THREADPOOL_THREAD_COUNT": "the Python worker: threads of its pool for sync functions",
    "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY": "the Python worker exports telemetry (assistant/telemetry.py "
    "reads it too, as telemetry.PLATFORM_SETTING, to add no exporter of its own)",
    "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "the worker's Azure Monitor distro: instrumentations it leaves off",
}
PLATFORM_PREFIXES = ("AzureFunctionsJobHost__",)

# Set by App Service itself on every app (never by the infra), read by the app.
SET_BY_PLATFORM = {
    "WEBSITE_HOSTNAME": "the app's host name (the URLs it hands out); devhost and Core Tools set their address",
    "WEBSITE_INSTANCE_ID": "set on Azure only: the app's own URLs are https",
}


def _is_env_read(call: ast.Call) -> bool:
    """os.getenv / os.environ.get / any *env* helper (the app wraps reads in `_env`)."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    if "env" in name.lower():  # os.getenv, _env, _env_int, ...
        return True
    return name == "get" and isinstance(func, ast.Attribute) and "environ" in ast.unparse(func.value)


def settings_read_by(source: str) -> set[str]:
    """Setting names a Python module reads from the environment."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        literal: Any = None
        if isinstance(node, ast.Call) and _is_env_read(node) and node.args:
            literal = node.args[0]
        elif isinstance(node, ast.Subscript) and "environ" in ast.unparse(node.value):
            literal = node.slice
        if isinstance(literal, ast.Constant) and isinstance(literal.value, str) and SETTING_NAME.match(literal.value):
            names.add(literal.value)
    return names


def _app_sources() -> list[Path]:
    files = [REPO / "function_app.py"]
    for package in APP_PACKAGES:
        files.extend(sorted((REPO / package).rglob("*.py")))
    return [f for f in files if f.is_file()]


def settings_read_by_app() -> dict[str, list[str]]:
    """Setting name -> the app files that read it (devhost, tests and bench excluded)."""
    found: dict[str, list[str]] = {}
    for path in _app_sources():
        for name in settings_read_by(path.read_text(encoding="utf-8")):
            found.setdefault(name, []).append(path.relative_to(REPO).as_posix())
    return found


def app_settings(backend: str) -> dict[str, Any]:
    """The function app's evaluated app settings for one Durable backend."""
    resources = deploy({"environmentName": "dev", "location": "eastus", "durableBackend": backend})
    configs = [r for r in resources if r.type == "Microsoft.Web/sites/config" and r.body.get("name") == "appsettings"]
    assert len(configs) == 1, "exactly one appsettings resource"
    return configs[0].properties


def function_app(backend: str = "AzureStorage") -> Deployed:
    """The deployed Microsoft.Web/sites resource."""
    sites = [
        r
        for r in deploy({"environmentName": "dev", "location": "eastus", "durableBackend": backend})
        if r.type == "Microsoft.Web/sites"
    ]
    assert len(sites) == 1
    return sites[0]


def test_scanner_finds_the_ways_code_reads_settings() -> None:
    """os.environ[...], os.environ.get, os.getenv and small _env helpers are all seen."""
    source = (
        "import os\n"
        "a = os.environ['A_ONE']\n"
        "b = os.environ.get('B_TWO', '')\n"
        "c = os.getenv('C_THREE')\n"
        "d = _env('D_FOUR')\n"
        "e = _env_int('E_FIVE', 3)\n"
        "f = print('NOT_A_SETTING')\n"
    )
    assert settings_read_by(source) == {"A_ONE", "B_TWO", "C_THREE", "D_FOUR", "E_FIVE"}


@pytest.mark.parametrize("backend", ["AzureStorage", "DurableTaskScheduler"])
def test_contract_settings_are_set(backend: str) -> None:
    """The settings DESIGN.md and issue 5 name are all app settings, on both backends."""
    missing = REQUIRED_ON_AZURE - set(app_settings(backend))
    assert not missing, sorted(missing)


@pytest.mark.parametrize("backend", ["AzureStorage", "DurableTaskScheduler"])
def test_every_setting_the_code_reads_is_set_or_explained(backend: str) -> None:
    """A new os.environ/_env read in the app fails here until infra sets it or it is allow-listed."""
    settings = set(app_settings(backend))
    unexplained = {
        name: files
        for name, files in settings_read_by_app().items()
        if name not in settings
        and name not in LOCAL_ONLY
        and name not in OPTIONAL_WITH_DEFAULTS
        and name not in SET_BY_PLATFORM
    }
    assert not unexplained, f"read by the app but not set by infra/main.bicep: {unexplained}"


def test_every_infra_setting_has_a_reader() -> None:
    """No dead settings: each is read by the app, the Functions host or an SDK."""
    read = set(settings_read_by_app())
    for name in app_settings("DurableTaskScheduler"):
        assert name in read or name in READ_BY_PLATFORM or name.startswith(PLATFORM_PREFIXES), name


def test_local_only_settings_are_not_set_on_azure() -> None:
    """Keys and local connection strings never reach the deployed app."""
    for backend in ("AzureStorage", "DurableTaskScheduler"):
        leaked = set(LOCAL_ONLY) & set(app_settings(backend))
        assert not leaked, leaked


def test_storage_settings_are_identity_based() -> None:
    """AzureWebJobsStorage uses the user-assigned identity against the account's service URIs."""
    settings = app_settings("AzureStorage")
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert settings["AzureWebJobsStorage__clientId"] == Opaque("identity.outputs.clientId")
    assert settings["AZURE_CLIENT_ID"] == Opaque("identity.outputs.clientId")
    for service in ("blob", "queue", "table"):
        uri = settings[f"AzureWebJobsStorage__{service}ServiceUri"]
        assert isinstance(uri, Opaque) and uri.text.startswith(f"https://${{storageAccountName}}.{service}."), uri


def test_model_settings_point_at_the_deployed_account() -> None:
    """Endpoint and deployment come from the OpenAI module; the API version is set explicitly."""
    settings = app_settings("AzureStorage")
    assert settings["AZURE_OPENAI_ENDPOINT"] == Opaque("openAi.outputs.endpoint")
    assert settings["CHAT_MODEL_DEPLOYMENT_NAME"] == Opaque("openAi.outputs.deploymentName")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}(-preview)?", settings["AZURE_OPENAI_API_VERSION"])


def test_telemetry_uses_entra_id() -> None:
    """App Insights ingestion authenticates as the identity (local auth is off)."""
    auth = app_settings("AzureStorage")["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"]
    assert isinstance(auth, Opaque)
    assert auth.text == "ClientId=${identityClientId};Authorization=AAD"


def test_function_app_is_flex_consumption_python_deployed_through_the_identity() -> None:
    """FC1 plan, Linux, Python 3.11+, blob-container deployment authenticated by the user-assigned identity."""
    resources = deploy({"environmentName": "dev", "location": "eastus"})
    plans = [r for r in resources if r.type == "Microsoft.Web/serverfarms"]
    assert [p.body["sku"] for p in plans] == [{"tier": "FlexConsumption", "name": "FC1"}]
    assert plans[0].properties["reserved"] is True
    site = function_app()
    assert site.body["kind"] == "functionapp,linux"
    assert site.body["identity"]["type"] == "UserAssigned"
    config = site.properties["functionAppConfig"]
    assert config["runtime"]["name"] == "python"
    major, minor = (int(x) for x in config["runtime"]["version"].split("."))
    assert (major, minor) >= (3, 11)
    storage = config["deployment"]["storage"]
    assert storage["type"] == "blobContainer"
    assert storage["authentication"] == {
        "type": "UserAssignedIdentity",
        "userAssignedIdentityResourceId": Opaque("identity.outputs.id"),
    }
    scale = config["scaleAndConcurrency"]
    assert scale["maximumInstanceCount"] >= 1 and scale["instanceMemoryMB"] in (512, 2048, 4096)
    containers = [r for r in resources if r.type == "Microsoft.Storage/storageAccounts/blobServices/containers"]
    assert len(containers) == 1
    assert isinstance(storage["value"], Opaque) and storage["value"].text.endswith("/${deploymentContainerName}")
