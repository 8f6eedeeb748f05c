"""The smpp channel through the real Dispatcher against the independent test SMSC
(tests/smsc/), on a real database."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from tests.conftest import Tenant
from tests.helpers import add_phones, make_campaign, phones
from tests.smsc import Smsc
from tests.smsc import wire as smsc_wire
from tests.smsc.server import submitted_phones

from clarion.channels.smpp import SmppChannel
from clarion.config import Settings
from clarion.dispatch.engine import Dispatcher
from clarion.services import accounts
from clarion.store import campaigns as campaign_store
from clarion.store import messages as message_store
from clarion.store.db import Database
from clarion.store.schema import messages

# Fast settings: a test SMSC on loopback answers in microseconds.
FAST: dict[str, Any] = {
    "window": 50,
    "enquire_link_interval": 5.0,
    "response_timeout": 5.0,
    "connect_timeout": 2.0,
    "reconnect_min": 0.05,
    "reconnect_max": 0.2,
    "throttle_pause": 0.02,
    "submit_timeout": 10.0,
}
RUN_LIMIT = 120.0  # a hang guard, not a timing assertion


def write_config(path: Path, port: int, **overrides: Any) -> str:
    connection = {
        "name": "test",
        "host": "127.0.0.1",
        "port": port,
        "system_id": "clarion",
        "password_env": "CLARION_TEST_SMPP_PASSWORD",
        **FAST,
        **overrides,
    }
    path.write_text(json.dumps({"connections": [connection]}))
    return str(path)


@pytest.fixture
def smpp_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLARION_TEST_SMPP_PASSWORD", "secret")


@pytest.fixture
async def smsc() -> AsyncIterator[Smsc]:
    server = Smsc({"clarion": "secret"})
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def settings(settings: Settings, smsc: Smsc, tmp_path: Path, smpp_password: None) -> Settings:
    return settings.model_copy(
        update={
            "default_channel": "smpp",
            "smpp_config": write_config(tmp_path / "smpp.json", smsc.port),
            "batch_size": 500,
            "claim_timeout": 1.0,
        }
    )


@pytest.fixture
async def rich(db: Database) -> Tenant:
    new = await accounts.create(db, name="smpp", balance=Decimal("10000"), currency="USD")
    return Tenant(new.account_id, new.api_key)


async def start_campaign(
    client: httpx.AsyncClient, tenant: Tenant, numbers: list[str], **fields: Any
) -> int:
    campaign = await make_campaign(client, tenant.headers, **fields)
    for start in range(0, len(numbers), 10_000):
        await add_phones(client, tenant.headers, campaign["id"], numbers[start : start + 10_000])
    r = await client.post(f"/v1/campaigns/{campaign['id']}/start", headers=tenant.headers)
    assert r.status_code == 200, r.text
    return int(campaign["id"])


async def run_until_done(dispatcher: Dispatcher, db: Database, cid: int) -> None:
    """Run the dispatcher loop (as `clarion worker` does) until the campaign is DONE."""
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop))
    try:
        async with asyncio.timeout(RUN_LIMIT):
            while True:
                async with db.read() as conn:
                    row = await campaign_store.get(conn, cid)
                assert row is not None
                if row.status == "DONE":
                    return
                assert not task.done(), "dispatcher loop ended"
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task


async def statuses(db: Database, cid: int) -> dict[str, int]:
    async with db.read() as conn:
        rows = await message_store.group_by_status(conn, cid)
    return {status: v[0] for status, v in rows.items()}


def bare(numbers: list[str]) -> list[str]:
    return [n.lstrip("+") for n in numbers]


async def test_ten_thousand_messages_with_receipts(
    client: httpx.AsyncClient, rich: Tenant, dispatcher: Dispatcher, db: Database, smsc: Smsc
) -> None:
    numbers = phones(10_000)
    cid = await start_campaign(client, rich, numbers, validity_minutes=90)
    await run_until_done(dispatcher, db, cid)
    assert await statuses(db, cid) == {"DELIVERED": 10_000}
    # Each number reached the SMSC exactly once, and every receipt was acknowledged.
    assert sorted(submitted_phones(smsc)) == sorted(bare(numbers))
    assert len(smsc.submits) == 10_000
    assert smsc.receipts_acked == 10_000
    record = smsc.submits[0]
    assert (record.source, record.source_ton, record.data_coding) == ("Clarion", 5, 0)
    assert record.validity_period == "000000013000000R"
    assert record.registered_delivery == 1
    assert record.text == "Hello from Clarion"
    async with db.read() as conn:
        refs = (await conn.execute(select(messages.c.channel_ref))).scalars().all()
    accepted_ids = {s.message_id for s in smsc.accepted()}
    assert set(refs) == accepted_ids


async def test_throttling_slows_without_loss(
    client: httpx.AsyncClient, rich: Tenant, dispatcher: Dispatcher, db: Database, smsc: Smsc
) -> None:
    numbers = phones(2_000)
    smsc.throttle_next(60)  # a burst of throttling at the start ...
    smsc.throttle_every(9)  # ... and every 9th submit_sm throughout
    cid = await start_campaign(client, rich, numbers)
    await run_until_done(dispatcher, db, cid)
    assert await statuses(db, cid) == {"DELIVERED": 2_000}
    throttled = [s for s in smsc.submits if s.status == smsc_wire.RTHROTTLED]
    assert len(throttled) >= 60
    # No loss, no duplicate: every number accepted exactly once.
    assert Counter(submitted_phones(smsc)) == Counter(bare(numbers))
    # The channel saw every throttle reply (and paused its link for each).
    channel = dispatcher.channels["smpp"]
    assert isinstance(channel, SmppChannel)
    assert sum(link.throttles for link in channel.links) == len(throttled)
    # Throttled messages went back to NEW and were claimed again (a new attempt).
    async with db.read() as conn:
        attempts = Counter((await conn.execute(select(messages.c.attempts))).scalars().all())
    assert attempts[1] < 2_000 and sum(attempts.values()) == 2_000


async def test_dropped_connection_reconnects_without_duplicates_or_loss(
    client: httpx.AsyncClient, rich: Tenant, dispatcher: Dispatcher, db: Database, smsc: Smsc
) -> None:
    numbers = phones(3_000)
    # After 1,000 submit_sm the SMSC stops answering, takes what is in flight (their
    # responses are lost: the client cannot know they were taken), then aborts.
    smsc.drop_after(1_000)
    cid = await start_campaign(client, rich, numbers)
    await run_until_done(dispatcher, db, cid)
    assert smsc.unanswered > 0  # there were submissions in doubt
    assert len(smsc.binds) >= 2  # the channel reconnected
    assert await statuses(db, cid) == {"DELIVERED": 3_000}
    assert Counter(submitted_phones(smsc)) == Counter(bare(numbers))  # 0 duplicates, 0 lost
    assert len(smsc.submits) == 3_000


async def test_ucs2_concatenated_parts_carry_udh(
    client: httpx.AsyncClient, rich: Tenant, dispatcher: Dispatcher, db: Database, smsc: Smsc
) -> None:
    message = "Весенняя распродажа: скидка 20% на всё до воскресенья. " * 3  # 165 units
    numbers = phones(20)
    cid = await start_campaign(client, rich, numbers, text=message)
    await run_until_done(dispatcher, db, cid)
    assert await statuses(db, cid) == {"DELIVERED": 20}
    by_phone: dict[str, list[Any]] = {}
    for record in smsc.accepted():
        by_phone.setdefault(record.destination, []).append(record)
    assert sorted(by_phone) == sorted(bare(numbers))
    refs = set()
    for parts in by_phone.values():
        assert len(parts) == 3
        assert all(p.data_coding == 8 and p.esm_class & 0x40 for p in parts)
        udhs = sorted(p.udh for p in parts)
        iei, ref, total, _seq = udhs[0]
        assert iei == 0x00 and total == 3
        assert udhs == [(0x00, ref, 3, 1), (0x00, ref, 3, 2), (0x00, ref, 3, 3)]
        refs.add(ref)
        text = "".join(p.text for p in sorted(parts, key=lambda p: p.udh[3]))
        assert text == message
    assert len(refs) == 20  # each message its own reference


async def test_permanent_errors_reject_and_refund(
    client: httpx.AsyncClient, rich: Tenant, dispatcher: Dispatcher, db: Database, smsc: Smsc
) -> None:
    numbers = phones(10)
    smsc.reject[bare(numbers)[3]] = smsc_wire.RINVDSTADR
    smsc.nack[bare(numbers)[4]] = 0x02  # generic_nack ESME_RINVCMDLEN
    cid = await start_campaign(client, rich, numbers)
    await run_until_done(dispatcher, db, cid)
    assert await statuses(db, cid) == {"DELIVERED": 8, "REJECTED": 2}
    async with db.read() as conn:
        rows = dict((await conn.execute(select(messages.c.phone, messages.c.error_code))).all())
    assert rows[numbers[3]] == "smpp:ESME_RINVDSTADR"
    assert rows[numbers[4]] == "smpp:nack:ESME_RINVCMDLEN"
    account = await accounts.get(db, rich.id)
    assert account.balance == Decimal("10000") - 8 * Decimal("0.05")
