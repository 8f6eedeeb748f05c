"""A cache of prebuilt statements for the dispatcher's hot path.

Building a Core statement and computing its cache key costs more than executing a
small one on SQLite; hot statements are built once per (dialect, key) with bound
parameters for everything that varies, and reused.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

S = TypeVar("S")
_CACHE: dict[tuple[str, Hashable], object] = {}


def cached(conn: AsyncConnection, key: Hashable, build: Callable[[], S]) -> S:
    """The statement for ``key`` on this connection's dialect, built on first use.
    ``key`` must come from a small fixed set (statement name, status names)."""
    full = (conn.dialect.name, key)
    found = _CACHE.get(full)
    if found is None:
        found = _CACHE[full] = build()
    return found  # type: ignore[return-value]
