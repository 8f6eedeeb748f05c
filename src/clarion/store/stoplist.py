"""Stop-lists: numbers an account (or everybody) must never send to.

Rows are ``(account_id, phone)`` with ``phone`` in E.164; ``account_id`` 0
(:data:`SYSTEM`) is the system stop-list, which applies to every account.

:func:`blocked` is on the dispatcher's hot path (once per batch of messages), so it is
ONE prebuilt statement per call for up to :data:`CHUNK` phones, the list bound as a
single parameter (``json_each`` on SQLite, ``= ANY(array)`` on PostgreSQL); the
statement text does not depend on the list's length. :func:`add` is one
``INSERT ... SELECT ... ON CONFLICT DO NOTHING RETURNING`` per chunk, so numbers
already on the list are skipped on both databases and the caller learns exactly which
ones were new.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Insert,
    Row,
    String,
    and_,
    bindparam,
    delete,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from clarion.store import binds, statements
from clarion.store.schema import stop_list
from clarion.store.types import UtcDateTime

SYSTEM = 0  # account_id of the system stop-list
CHUNK = 5000  # phones per statement


def _chunks(items: Sequence[str], size: int = CHUNK) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _unique(phones: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(phones))


def _phone_filter(conn: AsyncConnection) -> ColumnElement[bool]:
    return binds.in_list(conn, stop_list.c.phone, "phones", text=True)


def _phones_value(conn: AsyncConnection, phones: Sequence[str]) -> object:
    return binds.list_value(conn, phones)


def _build_insert(conn: AsyncConnection) -> Insert:
    columns = ["account_id", "phone", "comment", "created_at"]
    aid = bindparam("aid", type_=BigInteger)
    comment = bindparam("comment", type_=String)
    now = bindparam("now", type_=UtcDateTime)
    if conn.dialect.name == "postgresql":
        pg_values = (
            func.unnest(bindparam("phones", type_=postgresql.ARRAY(String)))
            .table_valued("value")
            .render_derived()
        )
        pg_source = select(aid, pg_values.c.value, comment, now)
        pg_insert = postgresql.insert(stop_list).from_select(columns, pg_source)
        return pg_insert.on_conflict_do_nothing(index_elements=["account_id", "phone"]).returning(
            stop_list.c.phone
        )
    values = func.json_each(bindparam("phones", type_=String)).table_valued("value")
    # SQLite needs a WHERE in INSERT ... SELECT ... ON CONFLICT (parsing ambiguity).
    source = select(aid, values.c.value, comment, now).where(true())
    lite_insert = sqlite.insert(stop_list).from_select(columns, source)
    return lite_insert.on_conflict_do_nothing(index_elements=["account_id", "phone"]).returning(
        stop_list.c.phone
    )


async def insert_missing(
    conn: AsyncConnection,
    *,
    account_id: int,
    phones: Sequence[str],
    comment: str,
    now: datetime,
) -> set[str]:
    """Add the E.164 ``phones`` not yet on the list; returns those actually added."""
    statement = statements.cached(conn, "stoplist_add", lambda: _build_insert(conn))
    added: set[str] = set()
    for chunk in _chunks(_unique(phones)):
        result = await conn.execute(
            statement,
            {
                "aid": account_id,
                "phones": _phones_value(conn, chunk),
                "comment": comment,
                "now": now,
            },
        )
        added.update(result.scalars())
    return added


async def add(
    conn: AsyncConnection,
    *,
    account_id: int,
    phones: Sequence[str],
    comment: str,
    now: datetime,
) -> int:
    """Add ``phones`` (E.164), ignoring those already present; returns how many were new."""
    return len(
        await insert_missing(conn, account_id=account_id, phones=phones, comment=comment, now=now)
    )


async def remove(conn: AsyncConnection, *, account_id: int, phones: Sequence[str]) -> int:
    """Take ``phones`` off the account's list; returns how many were on it."""
    removed = 0
    for chunk in _chunks(_unique(phones)):
        result = await conn.execute(
            delete(stop_list).where(stop_list.c.account_id == account_id, _phone_filter(conn)),
            {"phones": _phones_value(conn, chunk)},
        )
        removed += result.rowcount
    return removed


async def page(
    conn: AsyncConnection,
    *,
    account_id: int,
    phone_prefix: str | None,
    limit: int,
    offset: int,
) -> tuple[Sequence[Row[Any]], int]:
    """Entries of one list ordered by phone, optionally those starting with
    ``phone_prefix``; returns (page, total matching)."""
    where: list[ColumnElement[bool]] = [stop_list.c.account_id == account_id]
    if phone_prefix:
        escaped = phone_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append(stop_list.c.phone.like(f"{escaped}%", escape="\\"))
    rows = await conn.execute(
        select(stop_list)
        .where(and_(*where))
        .order_by(stop_list.c.phone, stop_list.c.id)
        .limit(limit)
        .offset(offset)
    )
    total = await conn.execute(select(func.count()).select_from(stop_list).where(and_(*where)))
    return rows.all(), int(total.scalar_one())


def _build_blocked(conn: AsyncConnection) -> Any:
    return (
        select(stop_list.c.phone)
        .where(
            or_(stop_list.c.account_id == bindparam("aid"), stop_list.c.account_id == SYSTEM),
            _phone_filter(conn),
        )
        .distinct()
    )


async def blocked(conn: AsyncConnection, *, account_id: int, phones: Sequence[str]) -> set[str]:
    """Which of the E.164 ``phones`` are on the account's or the system stop-list.

    One statement per :data:`CHUNK` phones (one for a dispatcher batch)."""
    found: set[str] = set()
    if not phones:
        return found
    statement = statements.cached(conn, "stoplist_blocked", lambda: _build_blocked(conn))
    for chunk in _chunks(phones):
        result = await conn.execute(
            statement, {"aid": account_id, "phones": _phones_value(conn, chunk)}
        )
        found.update(result.scalars())
    return found
