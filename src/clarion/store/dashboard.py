"""Read-only queries of the operator dashboard (``clarion.web``).

Nothing here writes: the dashboard changes state only through the services. Every
query is scoped to an account, so another tenant's rows are never reached.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Row,
    cast,
    extract,
    func,
    literal_column,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from clarion.store.campaigns import Counter
from clarion.store.schema import (
    api_keys,
    call_attempts,
    campaign_counters,
    campaigns,
    ledger,
    messages,
)


async def keys(conn: AsyncConnection, *, account_id: int) -> Sequence[Any]:
    """An account's API keys (never their hashes), newest first."""
    result = await conn.execute(
        select(api_keys.c.id, api_keys.c.label, api_keys.c.created_at, api_keys.c.revoked_at)
        .where(api_keys.c.account_id == account_id)
        .order_by(api_keys.c.id.desc())
    )
    return result.all()


async def counters_for(
    conn: AsyncConnection, *, account_id: int, campaign_ids: Sequence[int]
) -> dict[int, dict[str, Counter]]:
    """Counters of several of an account's campaigns: id -> message status -> Counter."""
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
        )
        .join(campaigns, campaigns.c.id == campaign_counters.c.campaign_id)
        .where(
            campaigns.c.account_id == account_id,
            campaign_counters.c.campaign_id.in_(list(campaign_ids)),
        )
    )
    for row in result:
        found[int(row.campaign_id)][row.status] = Counter(
            int(row.messages), int(row.segments), row.cost
        )
    return found


def _like_prefix(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def messages_page(
    conn: AsyncConnection,
    *,
    account_id: int,
    campaign_id: int | None = None,
    phone: str | None = None,
    statuses: Iterable[str] = (),
    limit: int = 50,
    offset: int = 0,
) -> tuple[Sequence[Row[Any]], int]:
    """An account's messages (newest first) with their campaign's name; ``phone``
    matches any part of the E.164 number (digits only, e.g. ``701123``)."""
    where: list[ColumnElement[bool]] = [
        campaigns.c.account_id == account_id,
        campaigns.c.parent_id.is_(None),
    ]
    if campaign_id is not None:
        where.append(messages.c.campaign_id == campaign_id)
    if phone:
        where.append(messages.c.phone.like(_like_prefix(phone), escape="\\"))
    status_list = list(statuses)
    if status_list:
        where.append(messages.c.status.in_(status_list))
    joined = messages.join(campaigns, campaigns.c.id == messages.c.campaign_id)
    rows = await conn.execute(
        select(messages, campaigns.c.name.label("campaign_name"))
        .select_from(joined)
        .where(*where)
        .order_by(messages.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    total = await conn.execute(select(func.count()).select_from(joined).where(*where))
    return rows.all(), int(total.scalar_one())


async def ledger_page(
    conn: AsyncConnection, *, account_id: int, limit: int = 50, offset: int = 0
) -> tuple[Sequence[Row[Any]], int]:
    """An account's ledger entries, newest first."""
    rows = await conn.execute(
        select(ledger)
        .where(ledger.c.account_id == account_id)
        .order_by(ledger.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    total = await conn.execute(
        select(func.count()).select_from(ledger).where(ledger.c.account_id == account_id)
    )
    return rows.all(), int(total.scalar_one())


async def activity_span(
    conn: AsyncConnection, *, campaign_id: int
) -> tuple[datetime | None, datetime | None]:
    """First and last status change of a campaign's messages."""
    result = await conn.execute(
        select(
            func.min(messages.c.status_updated_at), func.max(messages.c.status_updated_at)
        ).where(messages.c.campaign_id == campaign_id)
    )
    first, last = result.one()
    return first, last


def _bucket(conn: AsyncConnection, seconds: int) -> ColumnElement[Any]:
    size = literal_column(str(int(seconds)), Integer)
    if conn.dialect.name == "postgresql":
        return cast(func.floor(extract("epoch", messages.c.status_updated_at) / size), BigInteger)
    return cast(func.strftime("%s", messages.c.status_updated_at), Integer) // size


async def status_timeline(
    conn: AsyncConnection, *, campaign_id: int, bucket_seconds: int, statuses: Iterable[str]
) -> list[tuple[int, str, int]]:
    """Messages now in one of ``statuses`` counted per (bucket of their last status
    change, status); a bucket number times ``bucket_seconds`` is its start in Unix
    seconds (UTC)."""
    bucket = _bucket(conn, bucket_seconds).label("bucket")
    result = await conn.execute(
        select(bucket, messages.c.status, func.count())
        .where(
            messages.c.campaign_id == campaign_id,
            messages.c.status.in_(list(statuses)),
            messages.c.status_updated_at.is_not(None),
        )
        .group_by(bucket, messages.c.status)
        .order_by(bucket)
    )
    return [(int(r[0]), str(r[1]), int(r[2])) for r in result.all()]


# --- voice campaigns --------------------------------------------------------------


async def recall_queue(
    conn: AsyncConnection, *, account_id: int, campaign_id: int, limit: int
) -> tuple[Sequence[Any], int]:
    """A voice campaign's numbers waiting for a recall (NEW after at least one call):
    the ``limit`` due soonest (phone, calls made, due time, last outcome), and how many
    wait in all."""
    joined = messages.join(campaigns, campaigns.c.id == messages.c.campaign_id)
    where = (
        campaigns.c.account_id == account_id,
        messages.c.campaign_id == campaign_id,
        messages.c.status == "NEW",
        messages.c.attempts > 0,
    )
    due = func.coalesce(messages.c.not_before, messages.c.status_updated_at)
    rows = await conn.execute(
        select(
            messages.c.id,
            messages.c.phone,
            messages.c.attempts,
            due.label("due_at"),
            messages.c.error_code.label("last_outcome"),
        )
        .select_from(joined)
        .where(*where)
        .order_by(due, messages.c.id)
        .limit(limit)
    )
    total = await conn.execute(select(func.count()).select_from(joined).where(*where))
    return rows.all(), int(total.scalar_one())


async def recent_calls(
    conn: AsyncConnection, *, account_id: int, campaign_id: int, limit: int
) -> Sequence[Row[Any]]:
    """A voice campaign's last ``limit`` call attempts (CDRs), newest first."""
    result = await conn.execute(
        select(call_attempts)
        .join(campaigns, campaigns.c.id == call_attempts.c.campaign_id)
        .where(campaigns.c.account_id == account_id, call_attempts.c.campaign_id == campaign_id)
        .order_by(call_attempts.c.id.desc())
        .limit(limit)
    )
    return result.all()
