"""Fuzzing with schemathesis against the OpenAPI document served by a running devhost: no 5xx, responses conform.

Each operation of the document is a test: schemathesis generates valid requests (positive) and
invalid ones (negative) from the document devhost serves at `/api/openapi.json`, sends them,
and checks that the answer is not a 5xx and that its status code, content type, headers and
body are as documented (invalid requests must be refused with a 4xx). The scripted model
answers every request that reaches it with plain text, so generated turns complete. A few
examples per operation and mode keep the run short; `FUZZ_EXAMPLES` raises it.
(schemathesis's pytest loader `from_fixture` does not work with pytest 9, so the tests drive
its strategies with hypothesis directly.)
"""

from __future__ import annotations

import json
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from tests.assistant.conftest import AssistantHost
from tests.support.devhost import REPO_ROOT
from tests.support.fake_openai import FakeOpenAI

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES") or 10)
MESSAGE_FROM_QUERY_OR_BODY = {("/chats/{chatId}", "POST"), ("/assistants/{assistantId}", "POST")}
"""Operations whose message may come from the query or the body, which OpenAPI cannot express: a request
with neither is schema-valid but rightly refused (400), and one whose body lacks `message` (schema-invalid)
is rightly served when the query has it; so both "valid data is accepted" and "invalid data is rejected"
are off for them (every other check stays on; test_e2e_lifecycle sends the message in the query)."""
UNIQUE_ACROSS_ITEMS = {("/chats/{chatId}/turns/{turnId}/approvals", "POST")}
"""Operations with a rule across array items OpenAPI cannot express (each `toolCallId` decided once per
request: a repeat is a 400 saying so; test_approval_decisions), so "valid data is accepted" is off for them."""
LONG_INTEGER = 10**18
"""Integers of more than 18 digits are a 400 anywhere in a body (`api.inputs.MAX_INTEGER_DIGITS`), extra fields
included, which OpenAPI cannot express for additional properties: such a generated body must get that 400."""
_METHODS = ("get", "put", "post", "delete", "patch")


def _has_long_integer(value: object) -> bool:
    """Whether a JSON value holds an integer of more than 18 digits anywhere."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, int) and not isinstance(item, bool) and abs(item) >= LONG_INTEGER:
            return True
    return False


OPERATIONS = [
    (path, method.upper())
    for path, item in json.loads((REPO_ROOT / "openapi.json").read_text())["paths"].items()
    for method in item
    if method in _METHODS
]


@pytest.fixture(scope="module")
def served_schema(assistant_host: AssistantHost) -> schemathesis.BaseSchema:
    """The document as devhost serves it at `/api/openapi.json`."""
    return schemathesis.openapi.from_url(f"{assistant_host.api}/openapi.json")


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m} {p}" for p, m in OPERATIONS])
def test_no_server_errors_and_responses_conform(
    served_schema: schemathesis.BaseSchema,
    assistant_host: AssistantHost,
    fake_model: FakeOpenAI,
    path: str,
    method: str,
    mode: GenerationMode,
) -> None:
    """Generated requests: never a 5xx; status code, content type, headers and body as documented."""
    fake_model.reset().fallback_text = "A plain answer."
    operation = served_schema[path][method]
    if mode == GenerationMode.NEGATIVE and not operation.path_parameters and not operation.query and not operation.body:
        pytest.skip("no parameters or body to make invalid")
    excluded = []
    if (path, method) in MESSAGE_FROM_QUERY_OR_BODY:
        excluded = [positive_data_acceptance, negative_data_rejection]
    elif (path, method) in UNIQUE_ACROSS_ITEMS:
        excluded = [positive_data_acceptance]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case: schemathesis.Case) -> None:
        if _has_long_integer(case.body):
            response = case.call(base_url=assistant_host.api, timeout=30)
            if mode == GenerationMode.POSITIVE:  # the integer is all that is wrong
                assert response.status_code == 400 and "longer than 18 digits" in response.text, response.text
            else:  # something else may be refused first
                assert 400 <= response.status_code < 500, response.text
            return
        case.call_and_validate(base_url=assistant_host.api, timeout=30, excluded_checks=excluded)

    check()
