"""Orchestrators, as deterministic generators: `post_user_query` (a chat turn), `chat_admin` (create/reset, patch,
delete, decide, cancel), `chat_expiry` (delete an idle chat), with the shared retry options (`retry`)."""

from __future__ import annotations

__all__: list[str] = []
