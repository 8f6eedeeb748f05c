"""Queries the Mobizon dialect needs that the other store modules do not offer yet:
richer campaign and message searches, counters for a page of campaigns, message
statuses by id, and a guarded placeholders-flag change.

Every query takes the channels the caller speaks (``channels``; Mobizon: sms) and
leaves other campaigns and their messages out in SQL, so pages and totals count only
what the caller may see. Internal fallback children (``parent_id`` set) and their
messages are always left out: they belong to their RCS campaign.

Candidates to fold into ``store/campaigns.py`` and ``store/messages.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Row,
    and_,
    func,
    select,
    type_coerce,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from clarion.domain.lifecycle import MessageStatus
from clarion.store.campaigns import Counter
from clarion.store.schema import campaign_counters, campaigns, messages

# --- campaigns ------------------------------------------------------------------------

_TOTAL_MESSAGES = (
    select(func.coalesce(func.sum(campaign_counters.c.messages), 0))
    .where(campaign_counters.c.campaign_id == campaigns.c.id)
    .scalar_subquery()
)
_TOTAL_COST = (
    select(func.coalesce(func.sum(type_coerce(campaign_counters.c.cost, BigInteger)), 0))
    .where(
        campaign_counters.c.campaign_id == campaigns.c.id,
        campaign_counters.c.status != MessageStatus.DELETED.value,
    )
    .scalar_subquery()
)
_FIRST_PHONE = (
    select(func.min(messages.c.phone))
    .where(messages.c.campaign_id == campaigns.c.id)
    .scalar_subquery()
)

CAMPAIGN_SORT: dict[str, Any] = {
    "id": campaigns.c.id,
    "name": campaigns.c.name,
    "sender": campaigns.c.sender,
    "text": campaigns.c.text,
    "status": campaigns.c.status,
    "type": campaigns.c.type,
    "created_at": campaigns.c.created_at,
    "started_at": campaigns.c.started_at,
    "sent_at": campaigns.c.sent_at,
    "total_messages": _TOTAL_MESSAGES,
    "total_cost": _TOTAL_COST,
    "recipient": _FIRST_PHONE,
}


@dataclass(frozen=True, slots=True)
class CampaignQuery:
    """Filters of a campaign search; ``None`` = no filter, an empty list = nothing
    matches. Time bounds are inclusive."""

    ids: Sequence[int] | None = None
    channels: Sequence[str] | None = None
    phone_digits: str | None = None
    sender: str | None = None
    text: str | None = None
    statuses: Sequence[str] | None = None
    types: Sequence[str] | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    started_from: datetime | None = None
    started_to: datetime | None = None
    sort: str = "id"
    descending: bool = True
    limit: int = 25
    offset: int = 0


def _campaign_where(account_id: int, q: CampaignQuery) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [
        campaigns.c.account_id == account_id,
        campaigns.c.parent_id.is_(None),
    ]
    if q.ids is not None:
        where.append(campaigns.c.id.in_(list(q.ids)))
    if q.channels is not None:
        where.append(campaigns.c.channel.in_(list(q.channels)))
    if q.phone_digits:
        where.append(
            select(messages.c.id)
            .where(
                messages.c.campaign_id == campaigns.c.id,
                messages.c.phone.like(f"%{q.phone_digits}%"),
            )
            .exists()
        )
    if q.sender is not None:
        where.append(campaigns.c.sender == q.sender)
    if q.text is not None:
        where.append(campaigns.c.text == q.text)
    if q.statuses is not None:
        where.append(campaigns.c.status.in_(list(q.statuses)))
    if q.types is not None:
        where.append(campaigns.c.type.in_(list(q.types)))
    bounds = (
        (campaigns.c.created_at, q.created_from, q.created_to),
        (campaigns.c.started_at, q.started_from, q.started_to),
    )
    for column, low, high in bounds:
        if low is not None:
            where.append(column >= low)
        if high is not None:
            where.append(column <= high)
    return where


async def search_campaigns(
    conn: AsyncConnection, *, account_id: int, query: CampaignQuery
) -> tuple[Sequence[Row[Any]], int]:
    """A page of the account's campaigns and the total number matching."""
    where = and_(*_campaign_where(account_id, query))
    column = CAMPAIGN_SORT[query.sort]
    order = column.desc() if query.descending else column.asc()
    tie = campaigns.c.id.desc() if query.descending else campaigns.c.id.asc()
    page = await conn.execute(
        select(campaigns).where(where).order_by(order, tie).limit(query.limit).offset(query.offset)
    )
    total = await conn.execute(select(func.count()).select_from(campaigns).where(where))
    return page.all(), int(total.scalar_one())


async def counters_for(
    conn: AsyncConnection, campaign_ids: Sequence[int]
) -> dict[int, dict[str, Counter]]:
    """The counters of several campaigns: campaign id -> status -> Counter."""
    found: dict[int, dict[str, Counter]] = {int(c): {} for c in campaign_ids}
    if not campaign_ids:
        return found
    result = await conn.execute(
        select(
            campaign_counters.c.campaign_id,
            campaign_counters.c.status,
            campaign_counters.c.messages,
            campaign_counters.c.segments,
            campaign_counters.c.cost,
        ).where(campaign_counters.c.campaign_id.in_(list(campaign_ids)))
    )
    for row in result:
        found[int(row.campaign_id)][row.status] = Counter(
            int(row.messages), int(row.segments), row.cost
        )
    return found


async def first_message_text(conn: AsyncConnection, campaign_id: int) -> str | None:
    """The rendered text of the campaign's first message (None: none, or not rendered)."""
    result = await conn.execute(
        select(messages.c.text)
        .where(messages.c.campaign_id == campaign_id)
        .order_by(messages.c.id)
        .limit(1)
    )
    text: str | None = result.scalar_one_or_none()
    return text


# --- messages -------------------------------------------------------------------------

_MESSAGE_COLUMNS: list[Any] = [
    messages.c.id,
    messages.c.campaign_id,
    messages.c.phone,
    messages.c.country,
    messages.c.operator,
    messages.c.segments,
    messages.c.price,
    messages.c.status,
    messages.c.channel_ref,
    messages.c.claimed_at,
    messages.c.status_updated_at,
    messages.c.created_at,
    func.coalesce(messages.c.text, campaigns.c.text).label("text"),
    campaigns.c.sender,
]


async def messages_by_id(
    conn: AsyncConnection,
    *,
    account_id: int,
    ids: Sequence[int],
    channels: Sequence[str] | None = None,
) -> Sequence[Row[Any]]:
    """The account's messages among ``ids``, by id; others are left out, and so are
    those of a fallback child or (``channels``) of a campaign of another channel."""
    if not ids:
        return []
    where: list[ColumnElement[bool]] = [
        campaigns.c.account_id == account_id,
        campaigns.c.parent_id.is_(None),
        messages.c.id.in_(list(ids)),
    ]
    if channels is not None:
        where.append(campaigns.c.channel.in_(list(channels)))
    result = await conn.execute(
        select(*_MESSAGE_COLUMNS)
        .join(campaigns, campaigns.c.id == messages.c.campaign_id)
        .where(*where)
        .order_by(messages.c.id)
    )
    return result.all()


MESSAGE_SORT: dict[str, Any] = {
    "id": messages.c.id,
    "campaign_id": messages.c.campaign_id,
    "sender": campaigns.c.sender,
    "phone": messages.c.phone,
    "text": func.coalesce(messages.c.text, campaigns.c.text),
    "status": messages.c.status,
    "claimed_at": messages.c.claimed_at,
    "status_updated_at": messages.c.status_updated_at,
    "segments": messages.c.segments,
}


@dataclass(frozen=True, slots=True)
class MessageQuery:
    """Filters of a message search (``None`` = no filter; bounds inclusive)."""

    campaign_ids: Sequence[int] | None = None
    channels: Sequence[str] | None = None
    sender: str | None = None
    phone_digits: str | None = None
    text: str | None = None
    statuses: Sequence[str] | None = None
    campaign_statuses: Sequence[str] | None = None
    campaign_created_from: datetime | None = None
    campaign_created_to: datetime | None = None
    campaign_started_from: datetime | None = None
    campaign_started_to: datetime | None = None
    claimed_from: datetime | None = None
    claimed_to: datetime | None = None
    updated_from: datetime | None = None
    updated_to: datetime | None = None
    sort: str = "id"
    descending: bool = True
    limit: int = 25
    offset: int = 0


def _message_where(account_id: int, q: MessageQuery) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [
        campaigns.c.account_id == account_id,
        campaigns.c.parent_id.is_(None),
    ]
    if q.campaign_ids is not None:
        where.append(messages.c.campaign_id.in_(list(q.campaign_ids)))
    if q.channels is not None:
        where.append(campaigns.c.channel.in_(list(q.channels)))
    if q.sender is not None:
        where.append(campaigns.c.sender == q.sender)
    if q.phone_digits:
        where.append(messages.c.phone.like(f"%{q.phone_digits}%"))
    if q.text is not None:
        where.append(func.coalesce(messages.c.text, campaigns.c.text) == q.text)
    if q.statuses is not None:
        where.append(messages.c.status.in_(list(q.statuses)))
    if q.campaign_statuses is not None:
        where.append(campaigns.c.status.in_(list(q.campaign_statuses)))
    bounds = (
        (campaigns.c.created_at, q.campaign_created_from, q.campaign_created_to),
        (campaigns.c.started_at, q.campaign_started_from, q.campaign_started_to),
        (messages.c.claimed_at, q.claimed_from, q.claimed_to),
        (messages.c.status_updated_at, q.updated_from, q.updated_to),
    )
    for column, low, high in bounds:
        if low is not None:
            where.append(column >= low)
        if high is not None:
            where.append(column <= high)
    return where


async def search_messages(
    conn: AsyncConnection, *, account_id: int, query: MessageQuery
) -> tuple[Sequence[Row[Any]], int]:
    """A page of the account's messages (with their campaign's sender and text) and the
    total number matching."""
    where = and_(*_message_where(account_id, query))
    joined = messages.join(campaigns, campaigns.c.id == messages.c.campaign_id)
    column = MESSAGE_SORT[query.sort]
    order = column.desc() if query.descending else column.asc()
    tie = messages.c.id.desc() if query.descending else messages.c.id.asc()
    page = await conn.execute(
        select(*_MESSAGE_COLUMNS)
        .select_from(joined)
        .where(where)
        .order_by(order, tie)
        .limit(query.limit)
        .offset(query.offset)
    )
    total = await conn.execute(select(func.count()).select_from(joined).where(where))
    return page.all(), int(total.scalar_one())
