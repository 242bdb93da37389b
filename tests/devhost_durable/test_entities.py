"""The entity batch executor with the SDK's own entity handler."""

from __future__ import annotations

import json

import azure.durable_functions as df

from devhost.durable.entities import entity_id_parts, run_entity_batch


def _counter(ctx: df.DurableEntityContext) -> None:
    value = ctx.get_state(lambda: 0)
    if ctx.operation_name == "add":
        value += ctx.get_input()
    elif ctx.operation_name == "boom":
        raise ValueError("no booms")
    elif ctx.operation_name == "delete":
        ctx.destruct_on_exit()
        return
    ctx.set_state(value)
    ctx.set_result(value)


HANDLER = df.Entity.create(_counter)


def _call(op: str, value: object = None, rid: str = "r1") -> dict[str, object]:
    return {
        "id": rid,
        "op": op,
        "signal": False,
        "input": json.dumps(value) if value is not None else None,
        "parent": "orch-1",
        "parentExecution": "e1",
    }


def test_batch_applies_in_order_and_answers_calls_only() -> None:
    """Signals change state silently; calls get the ResponseMessage shape with the result."""
    signal = {"id": "s1", "op": "add", "signal": True, "input": "5"}
    result = run_entity_batch(HANDLER, "@counter@k", False, None, [signal, _call("add", 2)])
    assert result.exists and json.loads(result.state or "") == 7
    assert [(r.parent, r.request_id) for r in result.responses] == [("orch-1", "r1")]
    assert json.loads(result.responses[0].payload) == {"result": "7"}


def test_failing_operation_reports_exception_and_keeps_going() -> None:
    """An operation that raises answers with exceptionType; later operations still apply."""
    result = run_entity_batch(HANDLER, "@counter@k", True, "1", [_call("boom", rid="a"), _call("add", 1, rid="b")])
    first, second = (json.loads(r.payload) for r in result.responses)
    assert first["exceptionType"] and "no booms" in json.loads(first["result"])
    assert second == {"result": "2"} and json.loads(result.state or "") == 2


def test_delete_and_missing_function() -> None:
    """destruct_on_exit removes the entity; a missing function fails every call."""
    deleted = run_entity_batch(HANDLER, "@counter@k", True, "3", [_call("delete")])
    assert not deleted.exists and deleted.state is None
    missing = run_entity_batch(None, "@ghost@k", True, "3", [_call("add", 1)])
    assert missing.exists and missing.state == "3"
    assert "ghost" in json.loads(json.loads(missing.responses[0].payload)["result"])
    assert entity_id_parts("@chat@a@b") == ("chat", "a@b")
