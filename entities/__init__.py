"""Durable entities: per-chat state."""

from __future__ import annotations

from entities.chat import CHAT_ENTITY, bp, chat_entity_id

__all__ = ["CHAT_ENTITY", "bp", "chat_entity_id"]
