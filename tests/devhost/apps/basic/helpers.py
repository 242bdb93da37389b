"""A sibling module: importable because devhost puts the script root on sys.path."""

from __future__ import annotations


def shout(text: str) -> str:
    """`text` upper-cased with an exclamation mark."""
    return text.upper() + "!"
