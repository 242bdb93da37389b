"""Benchmarks: scripts that print markdown tables (never timed assertions). `python -m bench` runs them all."""

from __future__ import annotations

__all__ = ["assistant_turns", "devhost_http", "durable_throughput"]
