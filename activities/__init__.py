"""Activities: the side effects orchestrations need (the model call)."""

from __future__ import annotations

from activities.chat_completion import CHAT_COMPLETION_ACTIVITY, complete

__all__ = ["CHAT_COMPLETION_ACTIVITY", "complete"]
