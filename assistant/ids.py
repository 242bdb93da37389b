"""Instance ids of a chat's orchestrations: short, fixed-length, and never parsed for the chat they belong to.

Every id here fits every Durable backend's instance-id limit (the Durable Task Scheduler's is 100 characters;
a chat id alone may be 128). An id names its chat only through a digest, so nothing can be learnt from it or
forged by choosing a chat id: which chat (and, with signed-in users, whose) a turn belongs to is read from the
turn's stored input. The digest prefix keeps one chat's turns together in key order, so a chat's turn event logs
are one range of partition keys (`chat_turns_range`).
"""

from __future__ import annotations

import hashlib
import re
import uuid

__all__ = [
    "TURN_ID_LENGTH",
    "admin_instance_id",
    "chat_digest",
    "chat_turns_range",
    "expiry_instance_id",
    "is_keyed",
    "is_turn_id",
    "kept_hash",
    "turn_instance_id",
]

_CHAT_DIGEST = 16
"""Hex digits of the chat digest in turn ids (64 bits: only groups a chat's turns, never decides access)."""
TURN_ID_LENGTH = 1 + _CHAT_DIGEST + 1 + 32
"""`t` + chat digest + `k` (keyed) or `r` (random) + 32 hex digits: 50 characters."""
_TURN_ID = re.compile(r"[A-Za-z0-9_.~:-]{1,200}")
"""What the API accepts as a turn id: today's form, and the longer `{chatId}-turn-...` of turns started before it."""


def _digest(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()


def chat_digest(chat_id: str, owner: str = "") -> str:
    """The chat's 16-hex-digit digest (its owner's too, when chats have owners)."""
    return _digest(owner, chat_id)[:_CHAT_DIGEST]


def turn_instance_id(chat_id: str, key: str | None, owner: str = "") -> str:
    """A turn's instance id: derived from the chat and the `Idempotency-Key` when there is one (a repeat finds the
    same instance), else random."""
    body = f"k{_digest(owner, chat_id, key)[:32]}" if key is not None else f"r{uuid.uuid4().hex}"
    return f"t{chat_digest(chat_id, owner)}{body}"


def chat_turns_range(chat_id: str, owner: str = "") -> tuple[str, str]:
    """The `[low, high)` range of the chat's turn ids in key order."""
    prefix = f"t{chat_digest(chat_id, owner)}"
    return prefix, prefix + "~"


def is_keyed(turn_id: str) -> bool:
    """Whether the turn's id was derived from an `Idempotency-Key` (so another request may come with it)."""
    return turn_id[1 + _CHAT_DIGEST : 2 + _CHAT_DIGEST] == "k" if turn_id.startswith("t") else "-turn-k" in turn_id


def kept_hash(turn_id: str, request_hash: str) -> str:
    """What the chat keeps of a turn's request hash to tell a reused key from a repeat: the first 16 hex digits, for
    keyed turns only ("" otherwise: a random id never comes back)."""
    return request_hash[:16] if request_hash and is_keyed(turn_id) else ""


def is_turn_id(value: str) -> bool:
    """Whether `value` can be a turn id (the API's 404 for anything else needs no lookup)."""
    return bool(_TURN_ID.fullmatch(value))


def admin_instance_id(chat_id: str, owner: str = "") -> str:
    """A fresh id for one `chat_admin` run of the chat."""
    return f"a{chat_digest(chat_id, owner)}{uuid.uuid4().hex}"


def expiry_instance_id(chat_id: str, owner: str = "") -> str:
    """The id of the chat's expiry orchestration (one per chat)."""
    return f"e{_digest(owner, chat_id, 'expiry')[:32]}"
