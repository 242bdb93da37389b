"""HTTP routes of the assistant service: chats/assistants, ask, whois, the OpenAPI document, health."""

from __future__ import annotations

from api.errors import HttpError, json_errors, json_response

__all__ = ["HttpError", "json_errors", "json_response"]
