"""Maintenance: `cleanup`, the timer function that keeps durable storage bounded."""

from __future__ import annotations

__all__: list[str] = []
