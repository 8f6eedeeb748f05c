"""Mobile-originated messages (SQL only)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Row, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from clarion.store.schema import campaigns, messages, mo_messages


async def last_sender(conn: AsyncConnection, phone: str) -> int | None:
    """The account that most recently had a message for ``phone``."""
    result = await conn.execute(
        select(campaigns.c.account_id)
        .join(messages, messages.c.campaign_id == campaigns.c.id)
        .where(messages.c.phone == phone)
        .order_by(messages.c.id.desc())
        .limit(1)
    )
    value = result.scalar_one_or_none()
    return None if value is None else int(value)


async def insert_message(conn: AsyncConnection, values: Mapping[str, Any]) -> int:
    result = await conn.execute(insert(mo_messages).values(**values).returning(mo_messages.c.id))
    return int(result.scalar_one())


async def page(
    conn: AsyncConnection, *, account_id: int, limit: int, offset: int
) -> tuple[Sequence[Row[Any]], int]:
    where = mo_messages.c.account_id == account_id
    rows = await conn.execute(
        select(mo_messages)
        .where(where)
        .order_by(mo_messages.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    total = await conn.execute(select(func.count()).select_from(mo_messages).where(where))
    return rows.all(), int(total.scalar_one())
