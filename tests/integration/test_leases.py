"""Campaign leases between dispatchers on one database: a fair share each, nobody
sends for a campaign another holds, a silent worker's campaigns are taken over."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
from sqlalchemy import select
from tests.conftest import Tenant
from tests.helpers import add_phones, make_campaign, phones

from clarion.channels.fake import FakeChannel
from clarion.clock import utcnow
from clarion.config import Settings
from clarion.dispatch.engine import Dispatcher
from clarion.store.db import Database
from clarion.store.schema import campaign_leases, messages


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()
        self.mono = 1000.0

    def wall(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        self.mono += seconds


def worker(db: Database, settings: Settings, clock: Clock, name: str) -> Dispatcher:
    d = Dispatcher(
        db=db, settings=settings, clock=clock.wall, monotonic=clock.monotonic, owner=name
    )
    d.channels["fake"] = FakeChannel(d.report_sink)
    return d


async def started(client: httpx.AsyncClient, tenant: Tenant, count: int) -> list[int]:
    ids = []
    for n in range(count):
        c = await make_campaign(client, tenant.headers, name=f"c{n}")
        await add_phones(client, tenant.headers, c["id"], phones(3, start=n * 10))
        ids.append(int(c["id"]))
    return ids


async def start_all(client: httpx.AsyncClient, tenant: Tenant, ids: list[int]) -> None:
    for cid in ids:
        r = await client.post(f"/v1/campaigns/{cid}/start", headers=tenant.headers)
        assert r.status_code == 200


async def leases(db: Database) -> dict[int, str]:
    async with db.read() as conn:
        rows = await conn.execute(select(campaign_leases.c.campaign_id, campaign_leases.c.owner))
        return {int(c): str(o) for c, o in rows}


async def test_fair_share_and_takeover(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, settings: Settings
) -> None:
    cfg = settings.model_copy(update={"lease_seconds": 6.0, "housekeeping_interval": 3600.0})
    clock = Clock()
    a, b = worker(db, cfg, clock, "a"), worker(db, cfg, clock, "b")
    ids = await started(client, tenant, 4)
    # Both register before there is work, then the campaigns start.
    await a.tick()
    await b.tick()
    await start_all(client, tenant, ids)
    a._running_rows = b._running_rows = None
    clock.advance(0.01)
    await a._running()
    await b._running()
    held = await leases(db)
    assert sorted(held) == ids
    assert sorted(held.values()) == ["a", "a", "b", "b"]  # two each
    # Each sends only for its own campaigns.
    await a.tick()
    await b.tick()
    sent_by_a = {s.message_id for s in a.channels["fake"].submitted}  # type: ignore[attr-defined]
    sent_by_b = {s.message_id for s in b.channels["fake"].submitted}  # type: ignore[attr-defined]
    async with db.read() as conn:
        owner_of = {
            int(mid): held[int(cid)]
            for mid, cid in await conn.execute(select(messages.c.id, messages.c.campaign_id))
        }
    assert sent_by_a and sent_by_b
    assert {owner_of[m] for m in sent_by_a} == {"a"}
    assert {owner_of[m] for m in sent_by_b} == {"b"}

    # b goes silent (killed): after the lease its campaigns move to a.
    more = await started(client, tenant, 2)
    await start_all(client, tenant, more)
    clock.advance(cfg.lease_seconds + 1)
    a._running_rows = None
    await a._running()
    held = await leases(db)
    live = [c for c in [*ids, *more] if c in held]
    assert live and {held[c] for c in live} == {"a"}


async def test_no_claim_without_the_lease(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, settings: Settings
) -> None:
    clock = Clock()
    a, b = worker(db, settings, clock, "a"), worker(db, settings, clock, "b")
    (cid,) = await started(client, tenant, 1)
    await start_all(client, tenant, [cid])
    await a.tick()  # a takes the only campaign
    assert await leases(db) == {cid: "a"}
    rows = await b._running()
    assert rows == []  # b sees nothing to send
    # Even handed the campaign row, b's claim refuses: the lease is a's.
    from clarion.store import campaigns as campaign_store

    async with db.read() as conn:
        row = await campaign_store.get(conn, cid)
    result = await b.send_batch(row, limit=10)
    assert result.claimed == 0
    assert b.channels["fake"].submitted == []  # type: ignore[attr-defined]


async def test_account_rate_holds_across_workers(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, settings: Settings
) -> None:
    """Two workers, one campaign each, one account limited to 10 msg/s: together they
    never send more than the one-second bucket allows."""
    from clarion.services import accounts

    await accounts.configure(db, account_id=tenant.id, rate_limit=10, set_rate_limit=True)
    cfg = settings.model_copy(update={"housekeeping_interval": 3600.0})
    clock = Clock()
    a, b = worker(db, cfg, clock, "a"), worker(db, cfg, clock, "b")
    ids = []
    for n in range(2):
        c = await make_campaign(client, tenant.headers, name=f"r{n}")
        await add_phones(client, tenant.headers, c["id"], phones(30, start=n * 100))
        ids.append(int(c["id"]))
    await a.tick()
    await b.tick()
    await start_all(client, tenant, ids)

    def sent() -> int:
        return sum(len(d.channels["fake"].submitted) for d in (a, b))  # type: ignore[attr-defined]

    elapsed = 0.0
    owners: set[str] = set()
    for _ in range(12):
        a._running_rows = b._running_rows = None
        await a.tick()
        await b.tick()
        owners |= set((await leases(db)).values())
        # At most the first second's bucket plus what the elapsed time refilled.
        assert sent() <= 10 + 10 * elapsed, (sent(), elapsed)
        clock.advance(0.5)
        elapsed += 0.5
    assert owners == {"a", "b"}  # both workers took part
    assert sent() >= 10 + 10 * (elapsed - 1.0)  # and the rate was used, not just capped
