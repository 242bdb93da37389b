"""Parsing approval decisions: the rule across items the OpenAPI document cannot express."""

from __future__ import annotations

import pytest

from assistant.approvals import DecisionError, parse_decisions


def test_each_call_is_decided_once_per_request() -> None:
    """Two decisions for one toolCallId are a 400 saying so; distinct ones parse in order."""
    with pytest.raises(DecisionError) as refused:
        parse_decisions({"decisions": [{"toolCallId": "a", "approve": True}, {"toolCallId": "a", "approve": False}]})
    assert refused.value.status == 400 and "once per request" in str(refused.value)
    decided = parse_decisions(
        {"decisions": [{"toolCallId": "a", "approve": True}, {"toolCallId": "b", "approve": False, "reason": "no"}]}
    )
    assert [(d.tool_call_id, d.approve, d.reason) for d in decided] == [("a", True, None), ("b", False, "no")]
