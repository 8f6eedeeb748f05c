"""Short links, their visits, and the message rewrites of personal links.

A *campaign link* (``parent_id`` NULL) is what an account creates and manages. A
*personal link* (``parent_id`` = a campaign link) is one recipient's own code for it,
created by ``services.links.personalise_campaign``; its ``message_id`` names the
recipient's message. The account-facing queries here (:func:`get`, :func:`search`,
:func:`update_link`, :func:`delete_links`) only ever see campaign links.

Codes are unique across every account (the ``code`` column is UNIQUE). Inserts use
``INSERT ... ON CONFLICT (code) DO NOTHING RETURNING``, so a colliding code is simply
not inserted and the caller retries it with a new one, without aborting the
transaction (which PostgreSQL would do on an IntegrityError).
"""

from __future__ import annotations

import json
import typing
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Insert,
    Integer,
    Row,
    String,
    and_,
    any_,
    bindparam,
    cast,
    delete,
    extract,
    func,
    insert,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

from clarion.domain.lifecycle import MessageStatus
from clarion.store.schema import link_visits, links, messages

CHUNK = 1000  # ids per statement

SORTABLE = {
    "id": links.c.id,
    "created_at": links.c.created_at,
    "expires_at": links.c.expires_at,
    "click_count": links.c.click_cnt,
    "redirect_count": links.c.redirect_cnt,
    "code": links.c.code,
    "full_link": links.c.full_link,
}

_INSERTED = (links.c.id, links.c.code, links.c.message_id, links.c.parent_id)


def cast_row(row: object) -> Row[Any] | None:
    """A typed row of a multi-column select (SQLAlchemy types those per column)."""
    return typing.cast("Row[Any] | None", row)


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _ids_filter(conn: AsyncConnection, column: Any, name: str = "ids") -> ColumnElement[bool]:
    """``column`` in the id list bound as ONE parameter (any length)."""
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam(name, type_=postgresql.ARRAY(BigInteger)))  # type: ignore[no-any-return]
    values = func.json_each(bindparam(name, type_=String)).table_valued("value")
    return column.in_(select(values.c.value))  # type: ignore[no-any-return]


def _ids_value(conn: AsyncConnection, ids: Sequence[int]) -> object:
    return list(ids) if conn.dialect.name == "postgresql" else json.dumps(list(ids))


def _insert(conn: AsyncConnection) -> Insert:
    if conn.dialect.name == "postgresql":
        pg = postgresql.insert(links).on_conflict_do_nothing(index_elements=["code"])
        return pg.returning(*_INSERTED)
    lite = sqlite.insert(links).on_conflict_do_nothing(index_elements=["code"])
    return lite.returning(*_INSERTED)


# -- campaign links ------------------------------------------------------------------


async def insert_links(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> list[Row[Any]]:
    """Insert link rows; a row whose ``code`` is already taken is skipped. Returns
    (id, code, message_id, parent_id) of the rows actually inserted."""
    if not rows:
        return []
    result = await conn.execute(_insert(conn), list(rows))
    return list(result.all())


async def get(conn: AsyncConnection, *, account_id: int, link_id: int) -> Row[Any] | None:
    result = await conn.execute(
        select(links).where(
            links.c.id == link_id, links.c.account_id == account_id, links.c.parent_id.is_(None)
        )
    )
    return result.first()


async def by_code(conn: AsyncConnection, *, account_id: int, code: str) -> Row[Any] | None:
    result = await conn.execute(
        select(links).where(
            links.c.code == code, links.c.account_id == account_id, links.c.parent_id.is_(None)
        )
    )
    return result.first()


async def by_codes(
    conn: AsyncConnection, *, account_id: int, codes: Sequence[str]
) -> Sequence[Row[Any]]:
    """The account's campaign links among ``codes``, in id order."""
    if not codes:
        return []
    result = await conn.execute(
        select(links)
        .where(
            links.c.code.in_(list(codes)),
            links.c.account_id == account_id,
            links.c.parent_id.is_(None),
        )
        .order_by(links.c.id)
    )
    return result.all()


async def by_ids(
    conn: AsyncConnection, *, account_id: int, ids: Sequence[int]
) -> Sequence[Row[Any]]:
    if not ids:
        return []
    result = await conn.execute(
        select(links).where(
            _ids_filter(conn, links.c.id),
            links.c.account_id == account_id,
            links.c.parent_id.is_(None),
        ),
        {"ids": _ids_value(conn, ids)},
    )
    return result.all()


async def search(
    conn: AsyncConnection,
    *,
    account_id: int,
    status: int | None = None,
    query: str | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    sort: str = "id",
    descending: bool = True,
    limit: int = 50,
    offset: int = 0,
) -> tuple[Sequence[Row[Any]], int]:
    """Campaign links of one account; returns (page, total matching).

    ``query`` matches a substring of the code, comment or full link (case-insensitive),
    or exactly the code of one of the link's personal links."""
    where: list[ColumnElement[bool]] = [
        links.c.account_id == account_id,
        links.c.parent_id.is_(None),
    ]
    if status is not None:
        where.append(links.c.status == status)
    if query:
        pattern = f"%{_escape_like(query.lower())}%"
        personal = aliased(links)
        where.append(
            or_(
                func.lower(links.c.code).like(pattern, escape="\\"),
                func.lower(links.c.comment).like(pattern, escape="\\"),
                func.lower(links.c.full_link).like(pattern, escape="\\"),
                links.c.id.in_(
                    select(personal.c.parent_id).where(
                        personal.c.code == query, personal.c.account_id == account_id
                    )
                ),
            )
        )
    if created_from is not None:
        where.append(links.c.created_at >= created_from)
    if created_to is not None:
        where.append(links.c.created_at <= created_to)
    column = SORTABLE[sort]
    tie = links.c.id.desc() if descending else links.c.id.asc()
    page = await conn.execute(
        select(links)
        .where(and_(*where))
        .order_by(column.desc() if descending else column.asc(), tie)
        .limit(limit)
        .offset(offset)
    )
    total = await conn.execute(select(func.count()).select_from(links).where(and_(*where)))
    return page.all(), int(total.scalar_one())


async def update_link(
    conn: AsyncConnection, *, account_id: int, link_id: int, values: dict[str, Any]
) -> bool:
    """Change a campaign link; a new ``full_link`` is copied to its personal links."""
    result = await conn.execute(
        update(links)
        .where(links.c.id == link_id, links.c.account_id == account_id, links.c.parent_id.is_(None))
        .values(**values)
    )
    if result.rowcount != 1:
        return False
    if "full_link" in values:
        await conn.execute(
            update(links)
            .where(links.c.parent_id == link_id)
            .values(full_link=values["full_link"], updated_at=values["updated_at"])
        )
    return True


async def delete_links(conn: AsyncConnection, *, account_id: int, ids: Sequence[int]) -> list[int]:
    """Delete the account's campaign links among ``ids`` with their personal links and
    every visit (``link_visits`` cascades); returns the ids deleted."""
    found = [r.id for r in await by_ids(conn, account_id=account_id, ids=ids)]
    for chunk in _chunks(found):
        params = {"ids": _ids_value(conn, chunk)}
        await conn.execute(delete(links).where(_ids_filter(conn, links.c.parent_id)), params)
        await conn.execute(delete(links).where(_ids_filter(conn, links.c.id)), params)
    return found


async def personal_links(
    conn: AsyncConnection, *, parent_id: int, limit: int, offset: int
) -> tuple[Sequence[Row[Any]], int]:
    """Personal links of one campaign link with their message's phone, by id."""
    where = links.c.parent_id == parent_id
    page = await conn.execute(
        select(links, messages.c.phone)
        .select_from(links.outerjoin(messages, messages.c.id == links.c.message_id))
        .where(where)
        .order_by(links.c.id)
        .limit(limit)
        .offset(offset)
    )
    total = await conn.execute(select(func.count()).select_from(links).where(where))
    return page.all(), int(total.scalar_one())


# -- visits --------------------------------------------------------------------------


async def for_visit(conn: AsyncConnection, code: str) -> Row[Any] | None:
    """The link a code opens, with its campaign link's values when it is personal:
    (id, parent_id, full_link, status, parent_status, expires_at, parent_expires_at)."""
    parent = aliased(links)
    result = await conn.execute(
        select(
            links.c.id,
            links.c.parent_id,
            func.coalesce(parent.c.full_link, links.c.full_link).label("full_link"),
            links.c.status,
            parent.c.status.label("parent_status"),
            links.c.expires_at,
            parent.c.expires_at.label("parent_expires_at"),
        )
        .select_from(links.outerjoin(parent, parent.c.id == links.c.parent_id))
        .where(links.c.code == code)
    )
    return cast_row(result.first())


async def record_visit(
    conn: AsyncConnection, *, link_ids: Sequence[int], kind: str, user_agent: str, now: datetime
) -> None:
    """One visit row per link and the matching counter, in the caller's transaction."""
    await conn.execute(
        insert(link_visits),
        [{"link_id": i, "kind": kind, "user_agent": user_agent, "at": now} for i in link_ids],
    )
    counter = links.c.click_cnt if kind == "click" else links.c.redirect_cnt
    await conn.execute(
        update(links).where(links.c.id.in_(list(link_ids))).values({counter: counter + 1})
    )


def _bucket(conn: AsyncConnection, seconds: int) -> ColumnElement[Any]:
    size = literal_column(str(int(seconds)), Integer)
    if conn.dialect.name == "postgresql":
        return cast(func.floor(extract("epoch", link_visits.c.at) / size), BigInteger)
    return cast(func.strftime("%s", link_visits.c.at), Integer) // size


async def visit_buckets(
    conn: AsyncConnection,
    *,
    link_ids: Sequence[int],
    start: datetime,
    end: datetime,
    bucket_seconds: int,
) -> list[tuple[int, int, str, int]]:
    """Visits in [start, end] counted per (link_id, UTC bucket number, kind); a bucket
    number times ``bucket_seconds`` is its start in Unix seconds."""
    bucket = _bucket(conn, bucket_seconds).label("bucket")
    result = await conn.execute(
        select(link_visits.c.link_id, bucket, link_visits.c.kind, func.count())
        .where(
            link_visits.c.link_id.in_(list(link_ids)),
            link_visits.c.at >= start,
            link_visits.c.at <= end,
        )
        .group_by(link_visits.c.link_id, bucket, link_visits.c.kind)
    )
    return [(int(r[0]), int(r[1]), str(r[2]), int(r[3])) for r in result.all()]


# -- personal links ------------------------------------------------------------------


async def messages_to_personalise(
    conn: AsyncConnection,
    *,
    campaign_id: int,
    after_id: int,
    needles: Sequence[str],
    limit: int,
) -> list[tuple[int, str | None]]:
    """NEW messages of a campaign after ``after_id`` (id order) whose text is the
    campaign's (NULL) or contains one of ``needles``: the candidates for personal
    links. A message already rewritten no longer contains a needle, which is what
    makes personalising idempotent. Locked with SKIP LOCKED on PostgreSQL, so a
    message a dispatcher is claiming right now is left alone."""
    matches = [messages.c.text.like(f"%{_escape_like(n)}%", escape="\\") for n in needles]
    query = (
        select(messages.c.id, messages.c.text)
        .where(
            messages.c.campaign_id == campaign_id,
            messages.c.status == MessageStatus.NEW.value,
            messages.c.id > after_id,
            or_(messages.c.text.is_(None), *matches),
        )
        .order_by(messages.c.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(of=messages, skip_locked=True)
    result = await conn.execute(query)
    return [(int(r[0]), r[1]) for r in result.all()]


async def set_message_texts(conn: AsyncConnection, texts: Sequence[tuple[int, str]]) -> None:
    """Rewrite the text of NEW messages: (message id, new text) pairs."""
    if not texts:
        return
    await conn.execute(
        update(messages)
        .where(
            messages.c.id == bindparam("b_id"),
            messages.c.status == MessageStatus.NEW.value,
        )
        .values(text=bindparam("b_text")),
        [{"b_id": i, "b_text": t} for i, t in texts],
    )
