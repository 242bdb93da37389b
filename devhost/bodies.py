"""A request body gathered piece by piece into one `bytes` object, without a second whole copy.

The worker hands a function the body as one `bytes` (the worker's `HttpRequest` takes nothing else), so the pieces
that come over the channel must end up in one. Joining a list of pieces, or filling a `bytearray` and converting it,
holds the body twice at the end. `io.BytesIO` keeps its contents in a `bytes` object of its own and `getvalue()`
hands that very object over when it is exactly full (a CPython optimisation since 3.5, measured by
`tests/devhost/test_bodies.py`): so the buffer is made the declared size up front (`Content-Length`), filled in
place, and given away. Without a declared size it grows as the pieces come (CPython resizes it in place where it
can: large blocks are remapped, not copied).
"""

from __future__ import annotations

import io

__all__ = ["BodyBuffer"]


class BodyBuffer:
    """Collects one request body; `value()` gives it as one `bytes` object."""

    def __init__(self, length: int | None) -> None:
        """`length`: the declared size (`Content-Length`), or None when the body comes chunked."""
        self._buffer = io.BytesIO()
        self._declared = length
        if length:
            self._buffer.seek(length - 1)
            self._buffer.write(b"\0")  # the whole size at once: one allocation, filled in place below
            self._buffer.seek(0)
        self.received = 0
        """Bytes written so far."""

    def write(self, piece: bytes) -> None:
        """Append the next piece."""
        self._buffer.write(piece)
        self.received += len(piece)

    def value(self) -> bytes:
        """The body (the buffer's own object when it is exactly full, as it is when the declared size came)."""
        if self.received != self._declared:
            self._buffer.truncate(self.received)
        value = self._buffer.getvalue()
        self._buffer = io.BytesIO()
        return value
