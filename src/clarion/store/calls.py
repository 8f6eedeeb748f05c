"""Voice: call attempts (CDRs) and the campaign look-ups the voice dialects need. SQL only."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from clarion.store import binds
from clarion.store.schema import (
    api_quota,
    api_spacing,
    call_attempts,
    campaigns,
    id_counters,
    messages,
)
from clarion.store.types import Money, UtcDateTime


async def by_external_id(
    conn: AsyncConnection, *, account_id: int, external_id: str
) -> Row[Any] | None:
    result = await conn.execute(
        select(campaigns).where(
            campaigns.c.account_id == account_id,
            campaigns.c.external_id == external_id,
            campaigns.c.parent_id.is_(None),
        )
    )
    return result.first()


async def name_taken(
    conn: AsyncConnection, *, account_id: int, name: str, channel: str, exclude: int | None
) -> bool:
    query = select(campaigns.c.id).where(
        campaigns.c.account_id == account_id,
        campaigns.c.channel == channel,
        campaigns.c.name == name,
    )
    if exclude is not None:
        query = query.where(campaigns.c.id != exclude)
    return (await conn.execute(query.limit(1))).first() is not None


async def voice_campaigns(
    conn: AsyncConnection, *, account_id: int, prefix: str, limit: int, offset: int
) -> tuple[Sequence[Row[Any]], int]:
    """An account's voice campaigns whose external id starts with ``prefix`` (a
    dialect's namespace), oldest first."""
    where = and_(
        campaigns.c.account_id == account_id,
        campaigns.c.channel == "voice",
        campaigns.c.parent_id.is_(None),
        campaigns.c.external_id.startswith(prefix, autoescape=True),
    )
    total = (await conn.execute(select(func.count()).where(where))).scalar_one()
    rows = await conn.execute(
        select(campaigns).where(where).order_by(campaigns.c.id).limit(limit).offset(offset)
    )
    return rows.all(), int(total)


async def next_external_number(conn: AsyncConnection, *, account_id: int, prefix: str) -> int:
    """The next number of the account's ``prefix`` namespace: a counter row bumped in
    the caller's transaction, so a number is never given twice nor reused after the
    campaign holding it is deleted. A new namespace starts after the campaigns it
    already has (ids given before the counter existed)."""
    bumped = await conn.execute(
        update(id_counters)
        .where(id_counters.c.account_id == account_id, id_counters.c.namespace == prefix)
        .values(last=id_counters.c.last + 1)
        .returning(id_counters.c.last)
    )
    value = bumped.scalar_one_or_none()
    if value is not None:
        return int(value)
    existing = await conn.execute(
        select(func.count()).where(
            campaigns.c.account_id == account_id,
            campaigns.c.external_id.startswith(prefix, autoescape=True),
        )
    )
    first = int(existing.scalar_one()) + 1
    try:
        async with conn.begin_nested():
            await conn.execute(
                insert(id_counters).values(account_id=account_id, namespace=prefix, last=first)
            )
    except IntegrityError:  # another transaction created the counter first
        return await next_external_number(conn, account_id=account_id, prefix=prefix)
    return first


async def record_attempts(conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> set[int]:
    """Insert the attempts' CDRs except those whose (message, attempt) is already on
    record; returns the message ids of those inserted. Two statements
    for the whole batch; the caller holds the campaigns' locks, so no other
    transaction inserts the same attempts meanwhile (and the unique constraint
    would refuse them)."""
    if not rows:
        return set()
    ids = [int(r["message_id"]) for r in rows]
    existing = await conn.execute(
        select(call_attempts.c.message_id, call_attempts.c.attempt).where(
            binds.in_list(conn, call_attempts.c.message_id, "ids")
        ),
        {"ids": binds.list_value(conn, ids)},
    )
    taken = {(int(m), int(a)) for m, a in existing}
    fresh = [r for r in rows if (int(r["message_id"]), int(r["attempt"])) not in taken]
    if fresh:
        await conn.execute(insert(call_attempts), fresh)
    return {int(r["message_id"]) for r in fresh}


async def attempts_of(
    conn: AsyncConnection, message_ids: Sequence[int]
) -> dict[int, list[Row[Any]]]:
    """Each listed message's attempts in order (one query)."""
    found: dict[int, list[Row[Any]]] = {i: [] for i in message_ids}
    if not message_ids:
        return found
    result = await conn.execute(
        select(call_attempts)
        .where(binds.in_list(conn, call_attempts.c.message_id, "ids"))
        .order_by(call_attempts.c.message_id, call_attempts.c.attempt),
        {"ids": binds.list_value(conn, list(message_ids))},
    )
    for row in result:
        found[int(row.message_id)].append(row)
    return found


async def attempts(
    conn: AsyncConnection,
    *,
    campaign_id: int,
    after_id: int = 0,
    limit: int = 1000,
    since: datetime | None = None,
    until: datetime | None = None,
    phone: str | None = None,
) -> Sequence[Row[Any]]:
    query = select(call_attempts).where(
        call_attempts.c.campaign_id == campaign_id, call_attempts.c.id > after_id
    )
    if since is not None:
        query = query.where(call_attempts.c.started_at >= since)
    if until is not None:
        query = query.where(call_attempts.c.started_at < until)
    if phone is not None:
        query = query.where(call_attempts.c.phone == phone)
    result = await conn.execute(query.order_by(call_attempts.c.id).limit(limit))
    return result.all()


async def outcome_counts(conn: AsyncConnection, campaign_id: int) -> dict[str, int]:
    result = await conn.execute(
        select(call_attempts.c.outcome, func.count())
        .where(call_attempts.c.campaign_id == campaign_id)
        .group_by(call_attempts.c.outcome)
    )
    return {str(o): int(n) for o, n in result.all()}


async def in_flight(conn: AsyncConnection, campaign_id: int) -> Sequence[Row[Any]]:
    """The campaign's calls being placed or in progress (SENDING or ACCEPTED)."""
    result = await conn.execute(
        select(messages).where(
            messages.c.campaign_id == campaign_id,
            messages.c.status.in_(("SENDING", "ACCEPTED")),
        )
    )
    return result.all()


async def due(
    conn: AsyncConnection, *, campaign_id: int, now: datetime, recalls_first: bool, limit: int
) -> Sequence[Row[Any]]:
    """NEW messages due for a call: never called, or their recall time has come; in
    autocall's dial order (``priority_recall: recall`` puts recalls first)."""
    order = [messages.c.not_before.is_(None).asc()] if recalls_first else []
    result = await conn.execute(
        select(messages)
        .where(
            messages.c.campaign_id == campaign_id,
            messages.c.status == "NEW",
            or_(messages.c.not_before.is_(None), messages.c.not_before <= now),
        )
        .order_by(
            *order, func.coalesce(messages.c.not_before, messages.c.created_at), messages.c.id
        )
        .limit(limit)
    )
    return result.all()


async def next_due(conn: AsyncConnection, campaign_id: int) -> datetime | None:
    """The earliest recall time of the campaign's waiting messages (None: none wait)."""
    result = await conn.execute(
        select(func.min(messages.c.not_before)).where(
            messages.c.campaign_id == campaign_id, messages.c.status == "NEW"
        )
    )
    value = result.scalar_one()
    return value if value is None or isinstance(value, datetime) else None


async def delay(conn: AsyncConnection, *, message_ids: Sequence[int], until: datetime) -> None:
    """Move NEW messages' next call to ``until`` (quiet hours in the recipient's zone)."""
    if message_ids:
        await conn.execute(
            update(messages)
            .where(messages.c.id.in_(message_ids), messages.c.status == "NEW")
            .values(not_before=until)
        )


async def take_quota(conn: AsyncConnection, *, key: str, day: str, limit: int) -> bool:
    """Count one request against ``key``'s quota of the day; False (and nothing
    counted) when ``limit`` is used up. Race-free: one guarded UPDATE after an INSERT
    that only the first request of the day makes."""
    found = await conn.execute(
        select(api_quota.c.used).where(api_quota.c.key == key, api_quota.c.day == day)
    )
    if found.first() is None:
        # Another request may insert the row first: then the UPDATE below counts.
        with contextlib.suppress(IntegrityError):
            async with conn.begin_nested():
                await conn.execute(insert(api_quota).values(key=key, day=day, used=0))
    result = await conn.execute(
        update(api_quota)
        .where(api_quota.c.key == key, api_quota.c.day == day, api_quota.c.used < limit)
        .values(used=api_quota.c.used + 1)
    )
    return result.rowcount == 1


async def calls_in_progress(conn: AsyncConnection, campaign_id: int) -> int:
    result = await conn.execute(
        select(func.count()).where(
            messages.c.campaign_id == campaign_id,
            messages.c.status.in_(("SENDING", "ACCEPTED")),
        )
    )
    return int(result.scalar_one())


async def total_cost(conn: AsyncConnection, campaign_id: int) -> Decimal:
    result = await conn.execute(
        select(func.coalesce(func.sum(call_attempts.c.cost), 0)).where(
            call_attempts.c.campaign_id == campaign_id
        )
    )
    return Decimal(str(result.scalar_one()))


async def overdue(conn: AsyncConnection, *, campaign_id: int, before: datetime) -> list[int]:
    """Calls ACCEPTED (placed) before ``before`` that never reported their end."""
    result = await conn.execute(
        select(messages.c.id).where(
            messages.c.campaign_id == campaign_id,
            messages.c.status == "ACCEPTED",
            messages.c.claimed_at < before,
        )
    )
    return [int(i) for i in result.scalars()]


async def uncharge(conn: AsyncConnection, amounts: Mapping[int, Decimal]) -> None:
    """Take back from each message (id -> amount) that much of what it was charged (a
    call's unused hold); one executemany."""
    if amounts:
        await conn.execute(
            update(messages)
            .where(messages.c.id == bindparam("mid"))
            .values(charged=messages.c.charged - bindparam("amount", type_=Money)),
            [{"mid": i, "amount": a} for i, a in amounts.items()],
        )


async def recall_at(conn: AsyncConnection, when: Mapping[int, datetime]) -> None:
    """Set each listed message's ``not_before`` (id -> time); one executemany."""
    if when:
        await conn.execute(
            update(messages)
            .where(messages.c.id == bindparam("mid"))
            .values(not_before=bindparam("until", type_=UtcDateTime)),
            [{"mid": i, "until": t} for i, t in when.items()],
        )


async def take_spacing(conn: AsyncConnection, *, key: str, now: datetime, gap: timedelta) -> bool:
    """Let ``key``'s request at ``now`` through when the last one let through was at
    least ``gap`` before (it becomes the last); False, and nothing changed, when it is
    sooner. Race-free across processes: one guarded UPDATE, and an INSERT only for the
    key's first request (of two first requests at once, the second loses on the key)."""
    taken = await conn.execute(
        update(api_spacing)
        .where(api_spacing.c.key == key, api_spacing.c.last_at <= now - gap)
        .values(last_at=now)
    )
    if taken.rowcount == 1:
        return True
    found = await conn.execute(select(api_spacing.c.key).where(api_spacing.c.key == key))
    if found.first() is not None:
        return False
    try:
        async with conn.begin_nested():
            await conn.execute(insert(api_spacing).values(key=key, last_at=now))
    except IntegrityError:
        return False
    return True
