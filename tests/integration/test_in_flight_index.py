"""Reconciliation finds stale SENDING messages through the partial index of the
messages in flight, on both databases, instead of scanning every message row."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from sqlalchemy import select, text, update
from tests.conftest import Tenant
from tests.helpers import add_phones, make_campaign, phones

from clarion.store import messages as message_store
from clarion.store.db import Database
from clarion.store.schema import messages


async def _plan(db: Database) -> str:
    query = message_store.stale_sending_query(before=datetime(2026, 1, 1, tzinfo=UTC))
    async with db.begin() as conn:
        compiled = query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
        if conn.dialect.name == "postgresql":
            # However small the test table, a plan that cannot use the index would
            # fall back to a sequential scan here.
            await conn.execute(text("SET LOCAL enable_seqscan = off"))
            rows = await conn.execute(text(f"EXPLAIN {compiled}"))
            return "\n".join(str(r[0]) for r in rows)
        rows = await conn.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))
        return "\n".join(str(r[-1]) for r in rows)


async def test_stale_sending_reads_the_in_flight_index(db: Database) -> None:
    plan = await _plan(db)
    assert "ix_messages_in_flight" in plan, plan


async def test_stale_sending_finds_only_old_claims(
    db: Database, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    # The literal predicate selects exactly what a bound one did: SENDING rows
    # claimed before the cut-off, whatever else the table holds.
    campaign = await make_campaign(client, tenant.headers)
    await add_phones(client, tenant.headers, campaign["id"], phones(4))
    old = datetime(2025, 12, 31, tzinfo=UTC)
    new = datetime(2026, 1, 2, tzinfo=UTC)
    async with db.begin() as conn:
        ids = [
            r.id
            for r in await conn.execute(
                select(messages.c.id)
                .where(messages.c.campaign_id == campaign["id"])
                .order_by(messages.c.id)
            )
        ]
        for mid, status, at in zip(
            ids, ["SENDING", "SENDING", "ACCEPTED", "NEW"], [old, new, old, None], strict=True
        ):
            await conn.execute(
                update(messages).where(messages.c.id == mid).values(status=status, claimed_at=at)
            )
    async with db.read() as conn:
        stale = await message_store.stale_sending(conn, before=datetime(2026, 1, 1, tzinfo=UTC))
    assert [r.id for r in stale] == [ids[0]]
