"""Durable retry options shared by the orchestrators."""

from __future__ import annotations

import azure.durable_functions as df

__all__ = ["ACTIVITY_RETRY"]

ACTIVITY_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=500, max_number_of_attempts=3)
"""For activities whose failures can only be infrastructure (a worker process that died; a skill's own failures
are results, never exceptions) and that are safe to run again (idempotency keys, upserts, deletes)."""
