"""A body gathered by `BodyBuffer` is one `bytes` object, held once: no second whole copy at any point."""

from __future__ import annotations

import os

from devhost.bodies import BodyBuffer
from tests.support.memory import peak_kib, reset_peak, resident_kib

SIZE = 64 * 2**20
PIECE = 64 * 1024
GLIBC_MMAP_THRESHOLD_MAX = 32 * 2**20
"""The largest size glibc's dynamic mmap threshold rises to (64-bit)."""


def _gather(declared: int | None, pieces: list[bytes]) -> bytes:
    buffer = BodyBuffer(declared)
    for piece in pieces:
        buffer.write(piece)
    return buffer.value()


def _growth(declared: int | None, pieces: list[bytes]) -> tuple[bytes, int]:
    before = resident_kib(os.getpid())
    reset_peak(os.getpid())
    value = _gather(declared, pieces)
    return value, (peak_kib(os.getpid()) - before) * 1024


def test_a_declared_body_is_one_bytes_object_held_once() -> None:
    """64 MiB in 64 KiB pieces with its size declared: exact bytes, and the peak grew by the body once (< 1.2x)."""
    piece = os.urandom(PIECE)
    value, grown = _growth(SIZE, [piece] * (SIZE // PIECE))
    assert type(value) is bytes and len(value) == SIZE
    assert value[:PIECE] == piece and value[-PIECE:] == piece
    assert grown < 1.2 * SIZE, f"grew {grown / SIZE:.2f}x the body"


def test_a_chunked_body_is_never_held_twice() -> None:
    """Without a declared size the buffer grows; after a free of a block under glibc's 32 MiB ceiling, growth below
    that size comes from the heap and the switch to a mapped block leaves up to that much behind, never a whole
    second copy (a join, or a bytearray made bytes, would hold 2x)."""
    big = b"f" * (20 * 2**20)
    del big  # raises glibc's mmap threshold to 20 MiB, as a worker's earlier bodies do
    piece = os.urandom(PIECE)
    value, grown = _growth(None, [piece] * (SIZE // PIECE))
    assert type(value) is bytes and len(value) == SIZE and value[-PIECE:] == piece
    assert grown < 1.1 * SIZE + GLIBC_MMAP_THRESHOLD_MAX, f"grew {grown / SIZE:.2f}x the body"


def test_short_empty_and_single_piece_bodies() -> None:
    """Fewer bytes than declared are cut to what came; nothing gives b""; pieces keep their order."""
    assert _gather(10, [b"abc"]) == b"abc"
    assert _gather(None, []) == b"" and _gather(0, []) == b""
    assert _gather(6, [b"abc", b"def"]) == b"abcdef"
    assert _gather(None, [b"abc", b"def"]) == b"abcdef"
