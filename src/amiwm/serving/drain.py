"""Read and discard a refused request's body (bounded), so the client can read the answer.

A client that writes its whole body before reading (Python's urllib, http.client, requests)
sees a connection reset instead of the 401/413 if the server answers and closes while body
bytes are still arriving. Discarding up to DRAIN_BYTES (and for at most DRAIN_SECONDS) first
lets it read the answer; past either bound the server answers at once and closes as before.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

DRAIN_BYTES = 64 << 20
DRAIN_SECONDS = 10.0


def declared_length(scope: dict[str, Any]) -> int | None:
    """The request's Content-Length, or None when absent or not a number."""
    for name, value in scope.get("headers") or ():
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def drain(scope: dict[str, Any], receive: Any, already: int = 0) -> None:
    """Discard the rest of the body, unless it is declared (or turns out) beyond the bounds."""
    length = declared_length(scope)
    if length is not None and length > DRAIN_BYTES:
        return
    deadline = time.monotonic() + DRAIN_SECONDS
    size = already
    while size <= DRAIN_BYTES:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        try:
            message = await asyncio.wait_for(receive(), left)
        except TimeoutError:
            return
        if message["type"] != "http.request":
            return
        size += len(message.get("body", b""))
        if not message.get("more_body", False):
            return
