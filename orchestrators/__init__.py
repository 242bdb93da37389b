"""Orchestrators: the chat turn and chat administration, as deterministic generators."""

from __future__ import annotations

from orchestrators.chat_admin import CHAT_ADMIN, ChatAdminInput
from orchestrators.post_user_query import POST_USER_QUERY

__all__ = ["CHAT_ADMIN", "POST_USER_QUERY", "ChatAdminInput"]
