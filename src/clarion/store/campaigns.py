"""Campaign rows, their guarded transitions, counters and audit trail."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
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
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from clarion.domain.lifecycle import CampaignStatus, MessageStatus, Transition
from clarion.store import events, statements
from clarion.store.schema import accounts, audit_events, campaign_counters, campaigns, messages
from clarion.store.types import Money

SORTABLE = {
    "id": campaigns.c.id,
    "created_at": campaigns.c.created_at,
    "name": campaigns.c.name,
    "status": campaigns.c.status,
}


@dataclass(frozen=True, slots=True)
class Counter:
    messages: int
    segments: int
    cost: Decimal


async def insert_campaign(conn: AsyncConnection, values: dict[str, Any]) -> int:
    result = await conn.execute(insert(campaigns).values(**values).returning(campaigns.c.id))
    campaign_id = int(result.scalar_one())
    await conn.execute(
        insert(campaign_counters),
        [
            {
                "campaign_id": campaign_id,
                "status": s.value,
                "messages": 0,
                "segments": 0,
                "cost": Decimal(0),
            }
            for s in MessageStatus
        ],
    )
    return campaign_id


async def get(
    conn: AsyncConnection,
    campaign_id: int,
    *,
    account_id: int | None = None,
    channels: Collection[str] | None = None,
) -> Row[Any] | None:
    """A campaign by id. With ``account_id`` (a user asking) only that account's own
    campaigns, and never an internal fallback child (``parent_id`` set). With
    ``channels`` (a dialect that speaks only some) only a campaign of one of them: any
    other is not found, exactly like an id that does not exist."""
    query = select(campaigns).where(campaigns.c.id == campaign_id)
    if account_id is not None:
        query = query.where(campaigns.c.account_id == account_id, campaigns.c.parent_id.is_(None))
    if channels is not None:
        query = query.where(campaigns.c.channel.in_(list(channels)))
    result = await conn.execute(query)
    return result.first()


async def child(conn: AsyncConnection, parent_id: int) -> Row[Any] | None:
    """The internal SMS-fallback campaign of ``parent_id``, if it has one."""
    result = await conn.execute(select(campaigns).where(campaigns.c.parent_id == parent_id))
    return result.first()


async def children(conn: AsyncConnection, parent_ids: Iterable[int]) -> dict[int, Row[Any]]:
    """Fallback campaigns by parent id, for the parents in ``parent_ids`` that have one."""
    ids = sorted(set(parent_ids))
    if not ids:
        return {}
    result = await conn.execute(select(campaigns).where(campaigns.c.parent_id.in_(ids)))
    return {r.parent_id: r for r in result}


async def status(conn: AsyncConnection, campaign_id: int) -> str | None:
    result = await conn.execute(select(campaigns.c.status).where(campaigns.c.id == campaign_id))
    value: str | None = result.scalar_one_or_none()
    return value


async def accounts_of(conn: AsyncConnection, campaign_ids: Iterable[int]) -> dict[int, int]:
    """campaign id -> account id."""
    ids = sorted(set(campaign_ids))
    if not ids:
        return {}
    result = await conn.execute(
        select(campaigns.c.id, campaigns.c.account_id).where(campaigns.c.id.in_(ids))
    )
    return {int(r.id): int(r.account_id) for r in result}


async def refunding_accounts(conn: AsyncConnection, campaign_ids: Iterable[int]) -> dict[int, int]:
    """campaign id -> account id, for the campaigns whose account refunds messages the
    carrier reports UNDELIVERED / REJECTED (``accounts.refund_policy``)."""
    ids = sorted(set(campaign_ids))
    if not ids:
        return {}
    result = await conn.execute(
        select(campaigns.c.id, campaigns.c.account_id)
        .join(accounts, accounts.c.id == campaigns.c.account_id)
        .where(campaigns.c.id.in_(ids), accounts.c.refund_policy == "undelivered")
    )
    return {r.id: r.account_id for r in result}


async def delete_children(conn: AsyncConnection, parent_id: int) -> None:
    await conn.execute(delete(campaigns).where(campaigns.c.parent_id == parent_id))


async def sendable(conn: AsyncConnection) -> Sequence[Row[Any]]:
    """RUNNING campaigns the dispatcher may send for: a fallback child only while its
    parent is RUNNING too (the parent's pause, stop or moderation holds the child)."""
    parent = campaigns.alias("parent")
    result = await conn.execute(
        select(campaigns)
        .outerjoin(parent, parent.c.id == campaigns.c.parent_id)
        .where(
            campaigns.c.status == CampaignStatus.RUNNING,
            or_(campaigns.c.parent_id.is_(None), parent.c.status == CampaignStatus.RUNNING),
        )
        .order_by(campaigns.c.id)
    )
    return result.all()


async def search(
    conn: AsyncConnection,
    *,
    account_id: int,
    statuses: Iterable[str] = (),
    text: str | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    sort: str = "id",
    descending: bool = True,
    limit: int = 50,
    offset: int = 0,
) -> tuple[Sequence[Row[Any]], int]:
    """Campaigns of one account with filters; returns (page, total matching)."""
    where: list[ColumnElement[bool]] = [
        campaigns.c.account_id == account_id,
        campaigns.c.parent_id.is_(None),
    ]
    status_list = list(statuses)
    if status_list:
        where.append(campaigns.c.status.in_(status_list))
    if text:
        escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        where.append(
            or_(
                func.lower(campaigns.c.name).like(pattern, escape="\\"),
                func.lower(campaigns.c.text).like(pattern, escape="\\"),
            )
        )
    if created_from is not None:
        where.append(campaigns.c.created_at >= created_from)
    if created_to is not None:
        where.append(campaigns.c.created_at < created_to)
    column = SORTABLE[sort]
    order = column.desc() if descending else column.asc()
    page = await conn.execute(
        select(campaigns)
        .where(and_(*where))
        .order_by(order, campaigns.c.id.desc() if descending else campaigns.c.id.asc())
        .limit(limit)
        .offset(offset)
    )
    total = await conn.execute(select(func.count()).select_from(campaigns).where(and_(*where)))
    return page.all(), int(total.scalar_one())


async def transition(
    conn: AsyncConnection,
    *,
    campaign_id: int,
    transition: Transition,
    now: datetime,
    account_id: int,
    values: dict[str, Any] | None = None,
    detail: str | None = None,
    extra_where: Sequence[ColumnElement[bool]] = (),
) -> str | None:
    """Guarded status change. Returns the previous status, or None if it did not apply.
    Writes the audit row and, for a campaign users see, a ``campaign.status_changed``
    event (when the account subscribes to it)."""
    result = await conn.execute(
        select(campaigns.c.status, campaigns.c.parent_id).where(campaigns.c.id == campaign_id)
    )
    found = result.first()
    previous = None if found is None else found.status
    if previous is None or previous not in transition.allowed_from:
        return None
    changed = await conn.execute(
        update(campaigns)
        .where(
            campaigns.c.id == campaign_id,
            campaigns.c.status == previous,
            *extra_where,
        )
        .values(status=transition.to, **(values or {}))
    )
    if changed.rowcount != 1:
        return None
    await conn.execute(
        insert(audit_events).values(
            account_id=account_id,
            campaign_id=campaign_id,
            action=transition.action,
            from_status=previous,
            to_status=transition.to,
            detail=detail,
            at=now,
        )
    )
    if found is not None and found.parent_id is None:
        await events.emit(
            conn,
            account_id=account_id,
            event_type="campaign.status_changed",
            payload={
                "campaign_id": campaign_id,
                "action": transition.action,
                "from": previous,
                "to": transition.to,
                "reason": (values or {}).get("pause_reason"),
                "detail": detail,
            },
            now=now,
        )
    return str(previous)


async def update_fields(
    conn: AsyncConnection,
    *,
    campaign_id: int,
    allowed: Iterable[str],
    values: dict[str, Any],
) -> bool:
    """Change fields only while the campaign is in one of ``allowed`` statuses."""
    result = await conn.execute(
        update(campaigns)
        .where(campaigns.c.id == campaign_id, campaigns.c.status.in_(list(allowed)))
        .values(**values)
    )
    return result.rowcount == 1


async def delete_campaign(
    conn: AsyncConnection,
    *,
    campaign_id: int,
    allowed: Iterable[str],
    start_after: datetime | None = None,
) -> bool:
    """Delete a never-started campaign in ``allowed``; with ``start_after``, one that
    has left DRAFT with a start time only if that time is later (guarded in the same
    statement)."""
    where: list[ColumnElement[bool]] = [
        campaigns.c.id == campaign_id,
        campaigns.c.status.in_(list(allowed)),
        campaigns.c.started_at.is_(None),
    ]
    if start_after is not None:
        where.append(
            or_(
                campaigns.c.status == CampaignStatus.DRAFT,
                campaigns.c.start_at.is_(None),
                campaigns.c.start_at > start_after,
            )
        )
    result = await conn.execute(delete(campaigns).where(*where))
    return result.rowcount == 1


def paused_for(reason: str) -> ColumnElement[bool]:
    """A transition guard: the campaign is paused for this reason."""
    return campaigns.c.pause_reason == reason


async def repause(conn: AsyncConnection, *, campaign_id: int, old: str, new: str) -> bool:
    """A PAUSED campaign's reason changes from ``old`` to ``new`` (guarded)."""
    result = await conn.execute(
        update(campaigns)
        .where(
            campaigns.c.id == campaign_id,
            campaigns.c.status == CampaignStatus.PAUSED,
            campaigns.c.pause_reason == old,
        )
        .values(pause_reason=new)
    )
    return result.rowcount == 1


async def set_fields(conn: AsyncConnection, campaign_id: int, values: dict[str, Any]) -> None:
    """Change fields whatever the status (voice settings apply to later calls)."""
    await conn.execute(update(campaigns).where(campaigns.c.id == campaign_id).values(**values))


async def delete_any(conn: AsyncConnection, campaign_id: int) -> None:
    """Delete a campaign with everything it owns (the caller checked it may go)."""
    await conn.execute(delete(campaigns).where(campaigns.c.id == campaign_id))


async def status_counts(conn: AsyncConnection, campaign_id: int) -> dict[str, int]:
    """Messages per status, counted over the rows (not the counters)."""
    result = await conn.execute(
        select(messages.c.status, func.count())
        .where(messages.c.campaign_id == campaign_id)
        .group_by(messages.c.status)
    )
    return {str(s): int(n) for s, n in result.all()}


async def lock(conn: AsyncConnection, campaign_id: int) -> None:
    """Take the campaign row's lock first (PostgreSQL; SQLite transactions are already
    serialised). Every transaction that moves a campaign's money or counters starts
    here, so they all lock in one order — campaign, then its messages, counters and
    account — and cannot deadlock each other."""
    if conn.dialect.name == "postgresql":
        await conn.execute(
            select(campaigns.c.id).where(campaigns.c.id == campaign_id).with_for_update()
        )


async def add_spent(conn: AsyncConnection, *, campaign_id: int, amount: Decimal) -> None:
    statement = statements.cached(
        conn,
        "add_spent",
        lambda: (
            update(campaigns)
            .where(campaigns.c.id == bindparam("cid"))
            .values(spent=campaigns.c.spent + bindparam("amount", type_=Money))
        ),
    )
    await conn.execute(statement, {"cid": campaign_id, "amount": amount})


async def add_rejected(conn: AsyncConnection, *, campaign_id: int, count: int) -> None:
    if count:
        await conn.execute(
            update(campaigns)
            .where(campaigns.c.id == campaign_id)
            .values(recipients_rejected=campaigns.c.recipients_rejected + count)
        )


async def with_status(conn: AsyncConnection, statuses: Iterable[str]) -> Sequence[Row[Any]]:
    result = await conn.execute(
        select(campaigns).where(campaigns.c.status.in_(list(statuses))).order_by(campaigns.c.id)
    )
    return result.all()


async def due(conn: AsyncConnection, *, now: datetime) -> Sequence[Any]:
    """QUEUED / SCHEDULED campaigns whose start time has come."""
    result = await conn.execute(
        select(campaigns.c.id, campaigns.c.account_id).where(
            campaigns.c.status.in_([CampaignStatus.QUEUED, CampaignStatus.SCHEDULED]),
            or_(campaigns.c.start_at.is_(None), campaigns.c.start_at <= now),
        )
    )
    return list(result)


async def counters(conn: AsyncConnection, campaign_id: int) -> dict[str, Counter]:
    result = await conn.execute(
        select(
            campaign_counters.c.status,
            campaign_counters.c.messages,
            campaign_counters.c.segments,
            campaign_counters.c.cost,
        ).where(campaign_counters.c.campaign_id == campaign_id)
    )
    return {row.status: Counter(row.messages, row.segments, row.cost) for row in result}


async def pending_messages(conn: AsyncConnection, campaign_id: int, statuses: Iterable[str]) -> int:
    """Messages in ``statuses`` according to the counters (kept exact in-transaction)."""
    result = await conn.execute(
        select(func.coalesce(func.sum(campaign_counters.c.messages), 0)).where(
            campaign_counters.c.campaign_id == campaign_id,
            campaign_counters.c.status.in_(list(statuses)),
        )
    )
    return int(result.scalar_one())


async def adjust_counters(
    conn: AsyncConnection, deltas: dict[tuple[int, str], tuple[int, int, Decimal]]
) -> None:
    """Add (messages, segments, cost) deltas per (campaign, status), in key order
    (a fixed lock order, so concurrent workers on PostgreSQL cannot deadlock)."""
    params = [
        {"c": c, "s": s, "dm": dm, "ds": ds, "dc": dc}
        for (c, s), (dm, ds, dc) in sorted(deltas.items())
        if dm or ds or dc
    ]
    if not params:
        return
    statement = statements.cached(
        conn,
        "adjust_counters",
        lambda: (
            update(campaign_counters)
            .where(
                campaign_counters.c.campaign_id == bindparam("c"),
                campaign_counters.c.status == bindparam("s"),
            )
            .values(
                messages=campaign_counters.c.messages + bindparam("dm"),
                segments=campaign_counters.c.segments + bindparam("ds"),
                cost=campaign_counters.c.cost + bindparam("dc", type_=Money),
            )
        ),
    )
    await conn.execute(statement, params)


async def audit_trail(conn: AsyncConnection, campaign_id: int) -> Sequence[Row[Any]]:
    result = await conn.execute(
        select(audit_events)
        .where(audit_events.c.campaign_id == campaign_id)
        .order_by(audit_events.c.id)
    )
    return result.all()
