"""Events and webhook deliveries (an outbox): SQL only.

An event is written in the transaction of the change it reports, and only when some
active endpoint of the account subscribes to its type: with no subscriber nothing is
written at all. Each event gets one delivery row per subscribed endpoint.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Row,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from clarion.store import binds
from clarion.store.schema import events, webhook_deliveries, webhook_endpoints
from clarion.store.types import UtcDateTime

EVENT_TYPES = (
    "message.status_changed",
    "campaign.status_changed",
    "mo.received",
    "task.finished",
    "balance.low",
    "call.cdr",
    "call.answered",
)
PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"


# --- endpoints ---------------------------------------------------------------------


async def insert_endpoint(conn: AsyncConnection, values: Mapping[str, Any]) -> int:
    result = await conn.execute(
        insert(webhook_endpoints).values(**values).returning(webhook_endpoints.c.id)
    )
    return int(result.scalar_one())


async def endpoint(conn: AsyncConnection, *, account_id: int, endpoint_id: int) -> Row[Any] | None:
    result = await conn.execute(
        select(webhook_endpoints).where(
            webhook_endpoints.c.id == endpoint_id, webhook_endpoints.c.account_id == account_id
        )
    )
    return result.first()


async def endpoints(conn: AsyncConnection, *, account_id: int) -> Sequence[Row[Any]]:
    result = await conn.execute(
        select(webhook_endpoints)
        .where(webhook_endpoints.c.account_id == account_id)
        .order_by(webhook_endpoints.c.id)
    )
    return result.all()


async def update_endpoint(
    conn: AsyncConnection, *, account_id: int, endpoint_id: int, values: Mapping[str, Any]
) -> bool:
    result = await conn.execute(
        update(webhook_endpoints)
        .where(webhook_endpoints.c.id == endpoint_id, webhook_endpoints.c.account_id == account_id)
        .values(**values)
    )
    return result.rowcount == 1


async def delete_endpoint(conn: AsyncConnection, *, account_id: int, endpoint_id: int) -> bool:
    await conn.execute(
        delete(webhook_deliveries).where(webhook_deliveries.c.endpoint_id == endpoint_id)
    )
    result = await conn.execute(
        delete(webhook_endpoints).where(
            webhook_endpoints.c.id == endpoint_id, webhook_endpoints.c.account_id == account_id
        )
    )
    return result.rowcount == 1


async def subscriptions(conn: AsyncConnection) -> set[tuple[int, str]]:
    """(account id, event type) pairs some active endpoint subscribes to."""
    result = await conn.execute(
        select(webhook_endpoints.c.account_id, webhook_endpoints.c.events).where(
            webhook_endpoints.c.active.is_(True)
        )
    )
    return {(int(a), str(t)) for a, types in result for t in types or []}


async def _subscribers(
    conn: AsyncConnection, account_id: int, event_type: str, campaign_id: int | None = None
) -> list[int]:
    """Active endpoints of the account subscribed to ``event_type``: account-wide ones,
    and those scoped to ``campaign_id`` (a voice campaign's callback URLs)."""
    scope: ColumnElement[bool] = webhook_endpoints.c.campaign_id.is_(None)
    if campaign_id is not None:
        scope = or_(scope, webhook_endpoints.c.campaign_id == campaign_id)
    result = await conn.execute(
        select(webhook_endpoints.c.id, webhook_endpoints.c.events).where(
            webhook_endpoints.c.account_id == account_id,
            webhook_endpoints.c.active.is_(True),
            scope,
        )
    )
    return [int(i) for i, types in result if event_type in (types or [])]


async def campaign_endpoints(conn: AsyncConnection, *, campaign_id: int) -> Sequence[Row[Any]]:
    result = await conn.execute(
        select(webhook_endpoints)
        .where(webhook_endpoints.c.campaign_id == campaign_id)
        .order_by(webhook_endpoints.c.id)
    )
    return result.all()


# --- emitting ----------------------------------------------------------------------


async def _deliveries(
    conn: AsyncConnection, event_ids: Sequence[int], endpoint_ids: Sequence[int], now: datetime
) -> None:
    rows = [
        {
            "endpoint_id": ep,
            "event_id": ev,
            "status": PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for ev in event_ids
        for ep in endpoint_ids
    ]
    if rows:
        await conn.execute(insert(webhook_deliveries), rows)


async def emit(
    conn: AsyncConnection,
    *,
    account_id: int,
    event_type: str,
    payload: Mapping[str, Any],
    now: datetime,
    campaign_id: int | None = None,
) -> int | None:
    """Write one event (and its deliveries) if anyone subscribes; returns its id. With
    ``campaign_id`` the campaign's own endpoints are subscribers too."""
    ids = await emit_many(
        conn,
        account_id=account_id,
        event_type=event_type,
        payloads=[payload],
        now=now,
        campaign_id=campaign_id,
    )
    return ids[0] if ids else None


async def emit_many(
    conn: AsyncConnection,
    *,
    account_id: int,
    event_type: str,
    payloads: Sequence[Mapping[str, Any]],
    now: datetime,
    campaign_id: int | None = None,
) -> list[int]:
    """``emit`` for several events of one type and scope: one subscriber look-up, one
    insert of the events (ids in the order of ``payloads``), one of the deliveries.
    Nothing is written (and [] returned) when no one subscribes."""
    if not payloads:
        return []
    subscribers = await _subscribers(conn, account_id, event_type, campaign_id)
    if not subscribers:
        return []
    result = await conn.execute(
        insert(events).returning(events.c.id, sort_by_parameter_order=True),
        [
            {"account_id": account_id, "type": event_type, "payload": dict(p), "created_at": now}
            for p in payloads
        ],
    )
    event_ids = [int(i) for i in result.scalars()]
    await _deliveries(conn, event_ids, subscribers, now)
    return event_ids


_MESSAGE_EVENTS_SQLITE = """
INSERT INTO events (account_id, type, payload, created_at)
SELECT :aid, 'message.status_changed',
       json_object('message_id', m.id, 'campaign_id', COALESCE(c.parent_id, c.id),
                   'channel', c.channel, 'phone', m.phone, 'status', m.status,
                   'error_code', m.error_code, 'attempts', m.attempts,
                   'fallback_of', m.origin_id),
       :now
FROM messages AS m JOIN campaigns AS c ON c.id = m.campaign_id
WHERE m.id IN (SELECT value FROM json_each(:ids))
ORDER BY m.id
RETURNING id
"""
_MESSAGE_EVENTS_POSTGRESQL = """
INSERT INTO events (account_id, type, payload, created_at)
SELECT :aid, 'message.status_changed',
       json_build_object('message_id', m.id, 'campaign_id', COALESCE(c.parent_id, c.id),
                         'channel', c.channel, 'phone', m.phone, 'status', m.status,
                         'error_code', m.error_code, 'attempts', m.attempts,
                         'fallback_of', m.origin_id),
       :now
FROM messages AS m JOIN campaigns AS c ON c.id = m.campaign_id
WHERE m.id = ANY(CAST(:ids AS BIGINT[]))
ORDER BY m.id
RETURNING id
"""


async def emit_message_changes(
    conn: AsyncConnection, *, account_id: int, message_ids: Sequence[int], now: datetime
) -> int:
    """One ``message.status_changed`` event per message (its status as now stored),
    built inside the database from the message rows; returns how many."""
    if not message_ids:
        return 0
    subscribers = await _subscribers(conn, account_id, "message.status_changed")
    if not subscribers:
        return 0
    sql = (
        _MESSAGE_EVENTS_POSTGRESQL if conn.dialect.name == "postgresql" else _MESSAGE_EVENTS_SQLITE
    )
    statement = text(sql).bindparams(bindparam("now", type_=UtcDateTime))
    count = 0
    for start in range(0, len(message_ids), 5000):
        chunk = list(message_ids[start : start + 5000])
        result = await conn.execute(
            statement, {"aid": account_id, "now": now, "ids": binds.list_value(conn, chunk)}
        )
        ids = [int(i) for i in result.scalars()]
        await _deliveries(conn, ids, subscribers, now)
        count += len(ids)
    return count


# --- delivering --------------------------------------------------------------------


async def claim_due(
    conn: AsyncConnection, *, now: datetime, lease_until: datetime, limit: int
) -> list[Any]:
    """Pending deliveries whose time has come, leased until ``lease_until`` (a crashed
    sender's deliveries come back when the lease passes: at least once)."""
    query = (
        select(webhook_deliveries.c.id)
        .where(
            webhook_deliveries.c.status == PENDING,
            webhook_deliveries.c.next_attempt_at <= now,
        )
        .order_by(webhook_deliveries.c.next_attempt_at, webhook_deliveries.c.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = [int(i) for i in (await conn.execute(query)).scalars()]
    if not ids:
        return []
    await conn.execute(
        update(webhook_deliveries)
        .where(webhook_deliveries.c.id.in_(ids))
        .values(next_attempt_at=lease_until)
    )
    result = await conn.execute(
        select(
            webhook_deliveries.c.id,
            webhook_deliveries.c.attempts,
            webhook_deliveries.c.event_id,
            webhook_endpoints.c.url,
            webhook_endpoints.c.secret,
            webhook_endpoints.c.active,
            webhook_endpoints.c.campaign_id.label("endpoint_campaign_id"),
            events.c.type,
            events.c.payload,
            events.c.created_at.label("event_created_at"),
        )
        .join(webhook_endpoints, webhook_endpoints.c.id == webhook_deliveries.c.endpoint_id)
        .join(events, events.c.id == webhook_deliveries.c.event_id)
        .where(webhook_deliveries.c.id.in_(ids))
        .order_by(webhook_deliveries.c.id)
    )
    return list(result.all())


async def record_attempt(
    conn: AsyncConnection,
    *,
    delivery_id: int,
    status: str,
    status_code: int | None,
    error: str | None,
    next_attempt_at: datetime,
    now: datetime,
    leased_until: datetime,
) -> bool:
    """Record one attempt, only if the delivery is still under the lease this sender
    took (a slow sender whose lease passed must not overwrite a newer outcome, nor a
    replay requested meanwhile)."""
    result = await conn.execute(
        update(webhook_deliveries)
        .where(
            webhook_deliveries.c.id == delivery_id,
            webhook_deliveries.c.status == PENDING,
            webhook_deliveries.c.next_attempt_at == leased_until,
        )
        .values(
            status=status,
            attempts=webhook_deliveries.c.attempts + 1,
            last_status_code=status_code,
            last_error=(error or None) and error[:500],
            next_attempt_at=next_attempt_at,
            delivered_at=now if status == DELIVERED else None,
        )
    )
    return result.rowcount == 1


async def deliveries(
    conn: AsyncConnection,
    *,
    account_id: int,
    endpoint_id: int,
    statuses: Iterable[str] = (),
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[Any], int]:
    where = [
        webhook_deliveries.c.endpoint_id == endpoint_id,
        webhook_endpoints.c.account_id == account_id,
    ]
    wanted = list(statuses)
    if wanted:
        where.append(webhook_deliveries.c.status.in_(wanted))
    base = (
        select(
            webhook_deliveries,
            events.c.type.label("event_type"),
            events.c.payload,
            events.c.created_at.label("event_created_at"),
        )
        .join(webhook_endpoints, webhook_endpoints.c.id == webhook_deliveries.c.endpoint_id)
        .join(events, events.c.id == webhook_deliveries.c.event_id)
        .where(and_(*where))
    )
    rows = await conn.execute(
        base.order_by(webhook_deliveries.c.id.desc()).limit(limit).offset(offset)
    )
    total = await conn.execute(
        select(func.count())
        .select_from(webhook_deliveries)
        .join(webhook_endpoints, webhook_endpoints.c.id == webhook_deliveries.c.endpoint_id)
        .where(and_(*where))
    )
    return list(rows.all()), int(total.scalar_one())


async def replay(
    conn: AsyncConnection, *, account_id: int, delivery_id: int, now: datetime
) -> bool:
    """Send a delivery again (whatever its state): pending, due now."""
    owned = select(webhook_endpoints.c.id).where(webhook_endpoints.c.account_id == account_id)
    result = await conn.execute(
        update(webhook_deliveries)
        .where(webhook_deliveries.c.id == delivery_id, webhook_deliveries.c.endpoint_id.in_(owned))
        .values(status=PENDING, next_attempt_at=now, delivered_at=None)
    )
    return result.rowcount == 1
