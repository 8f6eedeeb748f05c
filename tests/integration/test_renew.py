"""Renew of an RCS campaign paused for funds while sending its SMS fallbacks: refused
until the balance covers the next fallback (found by review)."""

from __future__ import annotations

from decimal import Decimal

import httpx
from tests.conftest import Tenant
from tests.integration.test_rcs import create_rcs, rcs, run_until, start  # noqa: F401

from clarion.channels.fake import FakeChannel
from clarion.channels.sim_rcs import SimulatedRcs
from clarion.dispatch.engine import Dispatcher
from clarion.services import accounts
from clarion.store.db import Database


async def test_renew_needs_money_for_the_next_fallback(
    client: httpx.AsyncClient,
    db: Database,
    dispatcher: Dispatcher,
    fake: FakeChannel,
    rcs: SimulatedRcs,  # noqa: F811
) -> None:
    rcs.capable_share = 0.0  # every RCS message is refused at once and falls back
    poor = await accounts.create(db, name="poor", balance=Decimal("0.50"), currency="USD")
    who = Tenant(poor.account_id, poor.api_key)
    two_segments = "x" * 200  # 0.10 per fallback SMS
    campaign = await create_rcs(client, who, 10, fallback={"text": two_segments, "sender": "ACME"})
    cid = campaign["id"]
    await start(client, who, cid)
    await run_until(dispatcher, db, cid, "PAUSED")
    assert (await accounts.get(db, who.id)).balance < Decimal("0.10")
    r = await client.post(f"/v1/campaigns/{cid}/renew", headers=who.headers)
    assert r.status_code == 402, r.text
    await accounts.topup(db, account_id=who.id, amount=Decimal("5"))
    r = await client.post(f"/v1/campaigns/{cid}/renew", headers=who.headers)
    assert r.status_code == 200, r.text
    await run_until(dispatcher, db, cid, "DONE")
    assert len(fake.submitted) == 10
