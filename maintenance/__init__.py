"""Maintenance: the timer function that keeps durable storage bounded."""

from __future__ import annotations

from maintenance.cleanup import CLEANUP_FUNCTION, bp, purge_finished_turns

__all__ = ["CLEANUP_FUNCTION", "bp", "purge_finished_turns"]
