"""Background tasks (recipient imports) with leases, checkpoints and rejection rows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from clarion.store import events, statements
from clarion.store.schema import campaigns, task_rejections, tasks

QUEUED = "QUEUED"
RUNNING = "RUNNING"
DONE = "DONE"
FAILED = "FAILED"


async def create(
    conn: AsyncConnection,
    *,
    account_id: int,
    kind: str,
    campaign_id: int | None,
    params: dict[str, Any],
    source_path: str | None,
    total: int,
    now: datetime,
) -> int:
    result = await conn.execute(
        insert(tasks)
        .values(
            account_id=account_id,
            kind=kind,
            status=QUEUED,
            campaign_id=campaign_id,
            params=params,
            source_path=source_path,
            total=total,
            counts={},
            created_at=now,
            updated_at=now,
        )
        .returning(tasks.c.id)
    )
    return int(result.scalar_one())


async def get(conn: AsyncConnection, task_id: int, *, account_id: int | None = None) -> Any:
    query = select(tasks).where(tasks.c.id == task_id)
    if account_id is not None:
        query = query.where(tasks.c.account_id == account_id)
    return (await conn.execute(query)).first()


async def lease(
    conn: AsyncConnection, *, task_id: int, owner: str, now: datetime, until: datetime
) -> bool:
    """Take a QUEUED task, or a RUNNING one whose lease expired (its worker died)."""
    result = await conn.execute(
        update(tasks)
        .where(
            tasks.c.id == task_id,
            or_(
                tasks.c.status == QUEUED,
                and_(tasks.c.status == RUNNING, tasks.c.lease_until < now),
            ),
        )
        .values(status=RUNNING, lease_owner=owner, lease_until=until, updated_at=now)
    )
    return result.rowcount == 1


async def runnable(conn: AsyncConnection, *, now: datetime, limit: int = 10) -> list[int]:
    result = await conn.execute(
        select(tasks.c.id)
        .where(
            or_(
                tasks.c.status == QUEUED,
                and_(tasks.c.status == RUNNING, tasks.c.lease_until < now),
            )
        )
        .order_by(tasks.c.id)
        .limit(limit)
    )
    return [int(i) for i in result.scalars()]


async def advance(
    conn: AsyncConnection,
    *,
    task_id: int,
    owner: str,
    checkpoint: int,
    done: int,
    counts: dict[str, int],
    now: datetime,
    until: datetime,
) -> bool:
    """Record progress, in the same transaction as the rows it covers; False if the
    lease was lost (another worker took over): the caller must roll back."""
    result = await conn.execute(
        update(tasks)
        .where(tasks.c.id == task_id, tasks.c.lease_owner == owner, tasks.c.status == RUNNING)
        .values(
            checkpoint=checkpoint,
            done=done,
            counts=counts,
            updated_at=now,
            lease_until=until,
        )
    )
    return result.rowcount == 1


async def finish(
    conn: AsyncConnection,
    *,
    task_id: int,
    owner: str,
    status: str,
    result: dict[str, Any] | None,
    error: str | None,
    now: datetime,
) -> bool:
    changed = await conn.execute(
        update(tasks)
        .where(tasks.c.id == task_id, tasks.c.lease_owner == owner, tasks.c.status == RUNNING)
        .values(
            status=status,
            result=result,
            error=error,
            updated_at=now,
            finished_at=now,
            lease_owner=None,
            lease_until=None,
        )
    )
    if changed.rowcount != 1:
        return False
    row = (await conn.execute(select(tasks).where(tasks.c.id == task_id))).one()
    await events.emit(
        conn,
        account_id=row.account_id,
        event_type="task.finished",
        payload={
            "task_id": task_id,
            "kind": row.kind,
            "status": status,
            "campaign_id": row.campaign_id,
            "total": row.total,
            "counts": row.counts or {},
            "error": error,
        },
        now=now,
    )
    return True


async def reject_rows(
    conn: AsyncConnection, *, task_id: int, rows: Sequence[tuple[int, str, int]]
) -> None:
    if rows:
        await conn.execute(
            statements.cached(conn, "task_rejections", lambda: insert(task_rejections)),
            [{"task_id": task_id, "row_number": n, "value": v, "code": c} for n, v, c in rows],
        )


async def rejections(
    conn: AsyncConnection, *, task_id: int, after_row: int = 0, limit: int = 10_000
) -> list[tuple[int, str, int]]:
    result = await conn.execute(
        select(task_rejections.c.row_number, task_rejections.c.value, task_rejections.c.code)
        .where(task_rejections.c.task_id == task_id, task_rejections.c.row_number > after_row)
        .order_by(task_rejections.c.row_number)
        .limit(limit)
    )
    return [(int(r[0]), str(r[1]), int(r[2])) for r in result]


async def count_rejections(conn: AsyncConnection, *, task_id: int) -> int:
    result = await conn.execute(select(func.count()).where(task_rejections.c.task_id == task_id))
    return int(result.scalar_one())


async def lock_campaign(
    conn: AsyncConnection, *, campaign_id: int, task_id: int, allowed: Iterable[str]
) -> bool:
    """Reserve the campaign's recipient list for an import task (guarded)."""
    result = await conn.execute(
        update(campaigns)
        .where(
            campaigns.c.id == campaign_id,
            campaigns.c.import_task_id.is_(None),
            campaigns.c.status.in_(list(allowed)),
        )
        .values(import_task_id=task_id)
    )
    return result.rowcount == 1


async def unlock_campaign(conn: AsyncConnection, *, campaign_id: int, task_id: int) -> None:
    await conn.execute(
        update(campaigns)
        .where(campaigns.c.id == campaign_id, campaigns.c.import_task_id == task_id)
        .values(import_task_id=None)
    )
