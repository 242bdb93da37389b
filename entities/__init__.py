"""Durable entities: `chat`, a chat's state and turn queue (a thin adapter over `assistant/state.py`)."""

from __future__ import annotations

__all__: list[str] = []
