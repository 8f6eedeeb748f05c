"""Read-only queries behind ``/metrics`` and ``clarion status``: totals over every
account, from the counters table (kept exact in the same transactions as the rows)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from clarion.store.schema import campaign_counters, campaign_leases, campaigns, tasks, workers


@dataclass(frozen=True, slots=True)
class Worker:
    id: str
    host: str
    pid: int
    heartbeat_at: datetime
    alive: bool  # a heartbeat within the lease time
    leases: int  # unexpired campaign leases it holds


@dataclass(frozen=True, slots=True)
class Snapshot:
    messages: dict[str, int]  # message status -> messages, every campaign
    campaigns: dict[str, int]  # campaign status -> campaigns
    queue_depth: int  # NEW messages of RUNNING campaigns
    tasks: dict[str, int]  # background task status -> tasks
    leased_tasks: int  # tasks whose lease has not expired
    workers: list[Worker] = field(default_factory=list)  # registered dispatch workers
    campaign_leases: int = 0  # unexpired campaign leases

    @property
    def live_workers(self) -> int:
        return sum(1 for w in self.workers if w.alive)


async def snapshot(
    conn: AsyncConnection, *, now: datetime, lease_seconds: float = 15.0
) -> Snapshot:
    messages = await conn.execute(
        select(campaign_counters.c.status, func.sum(campaign_counters.c.messages)).group_by(
            campaign_counters.c.status
        )
    )
    by_campaign = await conn.execute(
        select(campaigns.c.status, func.count()).group_by(campaigns.c.status)
    )
    queued = await conn.scalar(
        select(func.coalesce(func.sum(campaign_counters.c.messages), 0))
        .select_from(
            campaign_counters.join(campaigns, campaigns.c.id == campaign_counters.c.campaign_id)
        )
        .where(campaign_counters.c.status == "NEW", campaigns.c.status == "RUNNING")
    )
    by_task = await conn.execute(select(tasks.c.status, func.count()).group_by(tasks.c.status))
    leased = await conn.scalar(
        select(func.count()).select_from(tasks).where(tasks.c.lease_until > now)
    )
    leases = await conn.execute(
        select(campaign_leases.c.owner, func.count())
        .where(campaign_leases.c.until > now)
        .group_by(campaign_leases.c.owner)
    )
    held: dict[str, int] = {str(owner): int(n) for owner, n in leases}
    live_since = now - timedelta(seconds=lease_seconds)
    registered = await conn.execute(select(workers).order_by(workers.c.started_at, workers.c.id))
    return Snapshot(
        workers=[
            Worker(
                id=w.id,
                host=w.host,
                pid=int(w.pid),
                heartbeat_at=w.heartbeat_at,
                alive=w.heartbeat_at >= live_since,
                leases=held.get(w.id, 0),
            )
            for w in registered
        ],
        campaign_leases=sum(held.values()),
        messages={status: int(n or 0) for status, n in messages},
        campaigns={status: int(n) for status, n in by_campaign},
        queue_depth=int(queued or 0),
        tasks={status: int(n) for status, n in by_task},
        leased_tasks=int(leased or 0),
    )
