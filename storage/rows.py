"""Row helpers shared by the stores: sortable sequence keys, OData quoting, long text split over string properties."""

from __future__ import annotations

__all__ = ["escape_key", "join_chunks", "row_key", "split_chunks"]

_CHUNK = 30000
"""Characters per string property (Table storage holds at most 32K characters in one)."""


def row_key(seq: int) -> str:
    """A sequence number as a row key that sorts as the number does (zero-padded to 10 digits)."""
    return f"{seq:010d}"


def escape_key(value: str) -> str:
    """`value` quoted for an OData filter string."""
    return value.replace("'", "''")


def split_chunks(text: str) -> dict[str, str]:
    """`text` as properties `d0`, `d1`, ... of at most 30,000 characters each."""
    return {f"d{index // _CHUNK}": text[index : index + _CHUNK] for index in range(0, max(len(text), 1), _CHUNK)}


def join_chunks(row: dict[str, object]) -> str:
    """Inverse of `split_chunks`."""
    parts: list[str] = []
    while f"d{len(parts)}" in row:
        parts.append(str(row[f"d{len(parts)}"]))
    return "".join(parts)
