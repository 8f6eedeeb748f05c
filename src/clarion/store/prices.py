"""Price tables: rows ``(account_id, channel, country, operator, unit, price,
currency)``; ``account_id`` 0 (:data:`DEFAULT`) is the default table of every account.

:func:`effective` is read once per add-recipients call and once per import task (not
per row): the default table's rules first, then the account's, so that a caller
resolving "later wins a tie" gets the account's rule over the default's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, case, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from clarion.store.schema import prices

DEFAULT = 0  # account_id of the default price table


async def effective(
    conn: AsyncConnection, *, account_id: int, channel: str, currency: str
) -> Sequence[Row[Any]]:
    """The rules of ``channel`` in ``currency`` that apply to the account: the default
    table's, then the account's own."""
    own_last = case((prices.c.account_id == DEFAULT, 0), else_=1)
    result = await conn.execute(
        select(prices)
        .where(
            prices.c.account_id.in_([DEFAULT, account_id]),
            prices.c.channel == channel,
            prices.c.currency == currency,
        )
        .order_by(own_last, prices.c.id)
    )
    return result.all()


async def table(conn: AsyncConnection, *, account_id: int) -> Sequence[Row[Any]]:
    """One account's own table (or the default one), in a stable order."""
    result = await conn.execute(
        select(prices)
        .where(prices.c.account_id == account_id)
        .order_by(prices.c.channel, prices.c.country, prices.c.operator, prices.c.id)
    )
    return result.all()


async def replace(
    conn: AsyncConnection,
    *,
    account_id: int,
    rows: Sequence[Mapping[str, Any]],
    now: datetime,
) -> int:
    """Replace the account's table with ``rows`` (channel, country, operator, unit,
    price, currency); returns how many were written. Run it inside one transaction."""
    await clear(conn, account_id=account_id)
    if rows:
        await conn.execute(
            insert(prices), [{**row, "account_id": account_id, "created_at": now} for row in rows]
        )
    return len(rows)


async def clear(conn: AsyncConnection, *, account_id: int) -> int:
    """Delete the account's table; returns how many rules it had."""
    result = await conn.execute(delete(prices).where(prices.c.account_id == account_id))
    return result.rowcount
