"""Every registered skill as an activity (named after the skill), plus `forget_chat_data`.

A skill's activity writes its call's `tool_call.started` and `tool_call.completed` to the turn's event
log at the sequence numbers the orchestrator gave it (insert-only: a re-run writes nothing twice).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import azure.durable_functions as df

from assistant import telemetry
from assistant.events import tool_completed, tool_started
from assistant.payloads import ToolInvocation
from skills.registry import SkillRegistry
from storage.event_log import try_insert_events
from storage.fences import set_fence

__all__ = ["FORGET_CHAT_ACTIVITY", "bp", "build_blueprint"]

FORGET_CHAT_ACTIVITY = "forget_chat_data"


def _payload(value: Any) -> Any:
    """Activity inputs arrive decoded from JSON; tolerate a host that hands over the JSON text."""
    if isinstance(value, str):
        import json

        return json.loads(value)
    return value


def _skill_activity(registry: SkillRegistry, name: str) -> Callable[[Any], dict[str, Any]]:
    def run(call: Any) -> dict[str, Any]:
        invocation = ToolInvocation.from_dict(_payload(call))
        target = invocation.events
        if target is not None:
            started = tool_started(invocation.call.id, invocation.call.name, invocation.call.arguments)
            try_insert_events(target.turn_id, target.chat_id, target.start, [started])
        attributes = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": invocation.call.name,
            "gen_ai.tool.call.id": invocation.call.id,
            "chat.id": invocation.chat_id,
        }
        with telemetry.span(
            f"execute_tool {invocation.call.name}", invocation.traceparent, attributes=attributes
        ) as span:
            result = registry.invoke(invocation)
            span.set_attribute("ok", result.ok)
        if target is not None and target.end is not None:
            completed = tool_completed(result.tool_call_id, result.name, result.ok, result.content)
            try_insert_events(target.turn_id, target.chat_id, target.end, [completed])
        return result.to_dict()

    run.__name__ = f"skill_{name}"
    run.__qualname__ = run.__name__
    run.__doc__ = f"Activity running the {name} skill."
    return run


def build_blueprint(registry: SkillRegistry) -> df.Blueprint:
    """A blueprint with one activity per skill of `registry` and the chat-forgetting activity."""
    bp = df.Blueprint()
    for skill in registry.skills():
        bp.function_name(name=skill.name)(bp.activity_trigger(input_name="call")(_skill_activity(registry, skill.name)))

    def forget_chat_data(request: Any) -> bool:
        """Mark the chat's new generation, then delete every skill store's data of the chat (on reset and DELETE);
        input `{"chatId": ..., "generation": ...}` (the marker first: see `storage.fences.set_fence`)."""
        payload = _payload(request)
        chat_id = str(payload["chatId"])
        if payload.get("generation"):
            set_fence(chat_id, str(payload["generation"]))
        registry.forget_chat(chat_id)
        return True

    bp.function_name(name=FORGET_CHAT_ACTIVITY)(bp.activity_trigger(input_name="request")(forget_chat_data))
    return bp


def _app_blueprint() -> df.Blueprint:
    from skills import registry

    return build_blueprint(registry)


bp = _app_blueprint()
"""The app's skill activities (every skill registered in `skills.registry`)."""
