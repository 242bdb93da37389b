"""The archive's activities: `archive_messages` writes a batch of a chat's oldest messages, `forget_chat_archive`
deletes a chat's archive (the store is `storage.archive`)."""

from __future__ import annotations

import json
from typing import Any

import azure.durable_functions as df

from assistant.window import ArchiveBatch
from storage.archive import forget_archive, write_archive

__all__ = ["ARCHIVE_ACTIVITY", "FORGET_ARCHIVE_ACTIVITY", "bp"]

ARCHIVE_ACTIVITY = "archive_messages"
FORGET_ARCHIVE_ACTIVITY = "forget_chat_archive"

bp = df.Blueprint()


def _payload(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


@bp.function_name(name=ARCHIVE_ACTIVITY)
@bp.activity_trigger(input_name="batch")
def archive_messages(batch: Any) -> int:
    """Activity: write one `ArchiveBatch` to the archive."""
    return write_archive(ArchiveBatch.from_dict(_payload(batch)))


@bp.function_name(name=FORGET_ARCHIVE_ACTIVITY)
@bp.activity_trigger(input_name="request")
def forget_chat_archive(request: Any) -> list[str]:
    """Activity: delete a chat's archive (`{"chatId": ...}`); the turn ids it held."""
    return forget_archive(str(_payload(request)["chatId"]))
