"""The assistant's domain, free of Azure Functions: messages, chat state, the turn's steps,
token budget, model settings and providers (including the offline model)."""

from __future__ import annotations

from assistant.messages import ChatMessage, ToolCall, format_utc, parse_utc
from assistant.payloads import CompletionRequest, CompletionResult, ToolInvocation, ToolResult, TurnInput, TurnOutput
from assistant.settings import AssistantSettings, ModelSettings, assistant_settings, model_settings, reset_settings
from assistant.state import (
    DEFAULT_INSTRUCTIONS,
    ChatState,
    ChatView,
    TurnRecord,
    Usage,
    append_turn,
    new_chat,
    view_chat,
)
from assistant.turn import ToolPlan, TurnRun

__all__ = [
    "DEFAULT_INSTRUCTIONS",
    "AssistantSettings",
    "ChatMessage",
    "ChatState",
    "ChatView",
    "CompletionRequest",
    "CompletionResult",
    "ModelSettings",
    "ToolCall",
    "ToolInvocation",
    "ToolPlan",
    "ToolResult",
    "TurnInput",
    "TurnOutput",
    "TurnRecord",
    "TurnRun",
    "Usage",
    "append_turn",
    "assistant_settings",
    "format_utc",
    "model_settings",
    "new_chat",
    "parse_utc",
    "reset_settings",
    "view_chat",
]
