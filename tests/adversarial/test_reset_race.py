"""A reset or delete while a skill of a running turn writes: the fresh chat never keeps what the old turn did.

The storage proxy holds the skill's insert until the reset has wiped the chat, so the late write is certain."""

from __future__ import annotations

import time

import pytest
from azure.data.tables import TableClient

from tests.adversarial.conftest import ProxiedHost
from tests.support.fake_openai import FakeOpenAI, ScriptedReply, tool_call
from tests.support.storage_proxy import ProxiedRequest


def _rows(proxied: ProxiedHost, chat: str) -> list[dict]:
    """The todo table's rows of the chat, read straight from Azurite (not through the app)."""
    host = proxied.host
    table = TableClient.from_connection_string(host.azurite.connection_string, host.todo_table)
    return list(table.query_entities(f"PartitionKey eq '{chat}'"))


def _wait_finished(proxied: ProxiedHost, status_url: str) -> dict:
    deadline = time.monotonic() + 30
    while True:
        status = proxied.host.http.get(status_url)
        if status.status_code != 202 or time.monotonic() > deadline:
            return status.json()
        time.sleep(0.1)


@pytest.mark.parametrize("how", ["reset", "delete-and-recreate"])
def test_a_skill_write_landing_after_a_reset_is_undone(proxied: ProxiedHost, model: FakeOpenAI, how: str) -> None:
    """The turn's AddTodo insert is held until the chat is reset (or deleted and created again), then let through:
    the fresh chat has no todo, in the API and in the table; the old turn appends nothing."""
    host, proxy = proxied.host, proxied.proxy
    chat = host.new_chat()
    model.script(
        ScriptedReply(tool_calls=(tool_call("AddTodo", {"taskDescription": "from the old chat"}),)),
        ScriptedReply(content="added"),
    )

    def todo_insert(request: ProxiedRequest) -> bool:
        return request.table == host.todo_table and request.operation == "insert"

    gate = proxy.hold(todo_insert)
    try:
        started = host.http.post(f"{host.api}/chats/{chat}", params={"message": "add it", "timeoutSeconds": "0"})
        assert started.status_code == 202, started.text
        assert gate.wait_held(20), "the skill never wrote"
        if how == "delete-and-recreate":
            assert host.http.delete(f"{host.api}/chats/{chat}").status_code == 204
        assert host.http.put(f"{host.api}/chats/{chat}").status_code == 202
    finally:
        gate.release()
    output = _wait_finished(proxied, started.json()["statusQueryGetUri"])
    assert output.get("runtimeStatus") in ("Completed", None), output
    assert host.http.get(f"{host.api}/chats/{chat}/todos").json() == []
    assert _rows(proxied, chat) == []
    view = host.http.get(f"{host.api}/chats/{chat}").json()
    assert [m["role"] for m in view["recentMessages"]] == ["system"]
