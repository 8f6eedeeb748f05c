"""Two workers reconcile the same stale SENDING message with an authoritative carrier:
the slower one must not requeue the fresh re-claim (attempt 2) the faster one already
sent; the message reaches the carrier exactly once (found by review)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from tests.conftest import Tenant
from tests.helpers import add_phones, make_campaign, phones

from clarion.channels.base import Outcome, SubmitResult
from clarion.channels.fake import FakeChannel
from clarion.clock import utcnow
from clarion.config import Settings
from clarion.dispatch.engine import Dispatcher
from clarion.store.db import Database
from clarion.store.schema import messages


class Carrier:
    def __init__(self) -> None:
        self.got: list[str] = []


class Authoritative(FakeChannel):
    authoritative_lookup = True

    def __init__(self, sink: Any, carrier: Carrier) -> None:
        super().__init__(sink, report_status=None)
        self.carrier = carrier
        self.lookup_gate: asyncio.Event | None = None
        self.lookup_entered = asyncio.Event()
        self.submit_gate: asyncio.Event | None = None
        self.submit_entered = asyncio.Event()

    async def submit(self, batch):  # type: ignore[no-untyped-def]
        if self.fail_with is not None:
            self.submit_calls += 1
            exc, self.fail_with = self.fail_with, None
            raise exc  # never reached the carrier
        res = []
        for s in batch:
            self.carrier.got.append(s.reference)
            res.append(SubmitResult(s.reference, Outcome.ACCEPTED, f"c-{s.reference}"))
        self.submit_entered.set()
        if self.submit_gate is not None:
            await self.submit_gate.wait()
        return res

    async def lookup(self, references):  # type: ignore[no-untyped-def]
        self.lookup_entered.set()
        if self.lookup_gate is not None:
            await self.lookup_gate.wait()
        return {
            r: SubmitResult(r, Outcome.ACCEPTED, f"c-{r}")
            for r in references
            if r in self.carrier.got
        }


async def test_race(client: Any, tenant: Tenant, settings: Settings, db: Database) -> None:
    offset = [timedelta(0)]
    clock = lambda: utcnow() + offset[0]  # noqa: E731
    carrier = Carrier()
    d1 = Dispatcher(db=db, settings=settings, clock=clock, owner="w1")
    c1 = Authoritative(d1.report_sink, carrier)
    d1.channels["fake"] = c1
    d2 = Dispatcher(db=db, settings=settings, clock=clock, owner="w2")
    c2 = Authoritative(d2.report_sink, carrier)
    d2.channels["fake"] = c2

    camp = await make_campaign(client, tenant.headers)
    await add_phones(client, tenant.headers, camp["id"], phones(1))
    r = await client.post(f"/v1/campaigns/{camp['id']}/start", headers=tenant.headers)
    assert r.status_code == 200
    c1.fail_with = ConnectionError("boom")  # the first attempt never reaches the carrier
    await d1.tick()
    offset[0] = timedelta(seconds=settings.claim_timeout + 1)

    # w2 reads the stale row and is slow in its lookup
    c2.lookup_gate = asyncio.Event()
    t2 = asyncio.create_task(d2.reconcile())
    await asyncio.wait_for(c2.lookup_entered.wait(), 5)
    # w1 reconciles (requeue), then claims attempt 2 and is submitting it
    await d1.reconcile()
    c1.submit_gate = asyncio.Event()
    d1._running_rows = None
    d1._leases_at = float("-inf")
    t1 = asyncio.create_task(d1.tick())
    await asyncio.wait_for(c1.submit_entered.wait(), 5)
    # w2 finishes: its requeue hits the fresh SENDING row of attempt 2
    c2.lookup_gate.set()
    await asyncio.wait_for(t2, 5)
    c1.submit_gate.set()
    await asyncio.wait_for(t1, 5)
    c1.submit_gate = None
    for _ in range(5):
        d1._running_rows = None
        d1._leases_at = float("-inf")
        await d1.tick()
    async with db.read() as conn:
        row = (
            await conn.execute(select(messages.c.status, messages.c.attempts, messages.c.charged))
        ).first()
    assert row is not None and row.status == "ACCEPTED"
    assert len(carrier.got) == 1, f"sent {len(carrier.got)} times: {carrier.got}"
