"""Worker registry and campaign leases (SQL only).

A lease is one row per campaign: the worker that may send for it and until when. It
is taken with one guarded statement (insert, or update only if expired or already
ours), so two workers can never both believe they hold a campaign.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from clarion.store import statements
from clarion.store.schema import accounts, campaign_leases, workers
from clarion.store.types import UtcDateTime


async def heartbeat(
    conn: AsyncConnection, *, worker_id: str, host: str, pid: int, now: datetime
) -> None:
    result = await conn.execute(
        update(workers).where(workers.c.id == worker_id).values(heartbeat_at=now)
    )
    if result.rowcount == 0:
        await conn.execute(
            insert(workers).values(
                id=worker_id, host=host, pid=pid, started_at=now, heartbeat_at=now
            )
        )


async def live_workers(conn: AsyncConnection, *, since: datetime) -> int:
    result = await conn.execute(
        select(func.count()).select_from(workers).where(workers.c.heartbeat_at >= since)
    )
    return int(result.scalar_one())


async def forget_worker(conn: AsyncConnection, worker_id: str) -> None:
    await conn.execute(delete(campaign_leases).where(campaign_leases.c.owner == worker_id))
    await conn.execute(delete(workers).where(workers.c.id == worker_id))


async def prune_workers(conn: AsyncConnection, *, before: datetime) -> None:
    """Registry rows of workers silent since ``before`` (their leases have expired)."""
    await conn.execute(delete(workers).where(workers.c.heartbeat_at < before))


async def holders(
    conn: AsyncConnection, campaign_ids: Iterable[int], *, now: datetime
) -> dict[int, str]:
    """campaign id -> owner, for unexpired leases."""
    ids = sorted(set(campaign_ids))
    if not ids:
        return {}
    result = await conn.execute(
        select(campaign_leases.c.campaign_id, campaign_leases.c.owner).where(
            campaign_leases.c.campaign_id.in_(ids), campaign_leases.c.until > now
        )
    )
    return {int(c): str(o) for c, o in result}


async def acquire(
    conn: AsyncConnection, *, campaign_id: int, owner: str, now: datetime, until: datetime
) -> bool:
    """Take or renew the campaign's lease: ours if free, expired or already ours."""
    result = await conn.execute(
        update(campaign_leases)
        .where(
            campaign_leases.c.campaign_id == campaign_id,
            or_(campaign_leases.c.owner == owner, campaign_leases.c.until <= now),
        )
        .values(owner=owner, until=until)
    )
    if result.rowcount == 1:
        return True
    exists = await conn.execute(
        select(campaign_leases.c.owner).where(campaign_leases.c.campaign_id == campaign_id)
    )
    if exists.first() is not None:
        return False
    try:
        async with conn.begin_nested():
            await conn.execute(
                insert(campaign_leases).values(campaign_id=campaign_id, owner=owner, until=until)
            )
    except IntegrityError:  # another worker inserted it first, or the campaign is gone
        return False
    return True


async def release(conn: AsyncConnection, *, campaign_ids: Iterable[int], owner: str) -> None:
    ids = sorted(set(campaign_ids))
    if ids:
        await conn.execute(
            delete(campaign_leases).where(
                campaign_leases.c.campaign_id.in_(ids), campaign_leases.c.owner == owner
            )
        )


async def claim_context(
    conn: AsyncConnection, *, campaign_id: int, owner: str, account_id: int, now: datetime
) -> Any:
    """One round trip for what a claim checks first: whether ``owner`` holds the
    campaign's lease (``held``), the account's rate bucket (``rate_limit``,
    ``rate_tokens``, ``rate_at``; ``rate_limit`` None = no account rate) and its
    ``balance`` as last committed (read without a lock)."""
    statement = statements.cached(
        conn,
        "claim_context",
        lambda: select(
            select(campaign_leases.c.owner)
            .where(
                campaign_leases.c.campaign_id == bindparam("cid"),
                campaign_leases.c.owner == bindparam("owner"),
                campaign_leases.c.until > bindparam("now", type_=UtcDateTime),
            )
            .exists()
            .label("held"),
            accounts.c.rate_limit,
            accounts.c.rate_tokens,
            accounts.c.rate_at,
            accounts.c.balance,
        ).where(accounts.c.id == bindparam("aid")),
    )
    result = await conn.execute(
        statement, {"cid": campaign_id, "owner": owner, "now": now, "aid": account_id}
    )
    return result.one()
