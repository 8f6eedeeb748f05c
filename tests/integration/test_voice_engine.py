"""The call engine end to end with the simulated voice carrier on a virtual clock."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal

from tests.conftest import Tenant
from tests.voice_driver import drive, voice_rig

from clarion.config import Settings
from clarion.domain.voice.config import VoiceConfig
from clarion.domain.voice.recall import RecallPolicy
from clarion.domain.voice.windows import WeeklyHours
from clarion.services import campaigns as campaign_service
from clarion.services import voice
from clarion.services.campaigns import RecipientInput
from clarion.store import calls as call_store
from clarion.store.db import Database

H = 3600 * 10**9  # an hour in ns


def numbers(count: int, start: int = 0) -> list[str]:
    return [f"+4915{(start + i):09d}" for i in range(count)]


async def make(
    db: Database, settings: Settings, tenant: Tenant, config: VoiceConfig, count: int
) -> int:
    row = await voice.create(
        db,
        account_id=tenant.id,
        spec=voice.VoiceSpec(name="calls", config=config, caller_id="+4930123456"),
        settings=settings,
    )
    entries = [RecipientInput(p, {}) for p in numbers(count)]
    for start in range(0, len(entries), 1000):
        await voice.add_numbers(
            db, account_id=tenant.id, campaign_id=row.id, entries=entries[start : start + 1000]
        )
    await campaign_service.start(db, account_id=tenant.id, campaign_id=row.id)
    return int(row.id)


async def test_small_autocall_reaches_done_with_cdrs(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    rig = voice_rig(settings, db)
    config = VoiceConfig(
        concurrent_call=5,
        recall=RecallPolicy(recall_times=2, schedule_recall_duration=1),
    )
    cid = await make(db, settings, tenant, config, 40)
    assert await drive(rig, cid) == "DONE"
    stats = await voice.stats(db, account_id=tenant.id, campaign_id=cid)
    assert stats.recipients == 40
    assert stats.waiting == stats.in_progress == 0
    assert stats.answered + stats.unreached == 40
    async with db.read() as conn:
        attempts = await call_store.attempts(conn, campaign_id=cid, limit=10_000)
    assert len(attempts) == stats.attempts == len(rig.carrier.records)
    per_number = Counter(a.phone for a in attempts)
    assert set(per_number) == set(numbers(40))
    assert max(per_number.values()) <= 3
    # every reference submitted once
    assert max(rig.carrier.submissions.values()) == 1
    assert sum(a.cost for a in attempts) == stats.cost
    balance_spent = (
        Decimal("100.00")
        - (await campaign_service.get(db, account_id=tenant.id, campaign_id=cid)).spent
    )
    assert balance_spent > 0


async def test_windows_pause_and_resume(db: Database, settings: Settings, tenant: Tenant) -> None:
    # Monday 2026-03-02 09:00 UTC; the window is 09:00-09:10 every day.
    rig = voice_rig(settings, db, start=datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    config = VoiceConfig(
        concurrent_call=1,
        hours=WeeklyHours.daily(9 * H, 9 * H + 10 * 60 * 10**9),
        timezone="UTC",
        recall=RecallPolicy(recall_times=0),
    )
    cid = await make(db, settings, tenant, config, 30)
    status = await drive(rig, cid, until={"PAUSED"})
    assert status == "PAUSED"
    row = await campaign_service.get(db, account_id=tenant.id, campaign_id=cid)
    assert row.pause_reason == "window"
    assert await drive(rig, cid, until={"DONE"}) == "DONE"
    async with db.read() as conn:
        attempts = await call_store.attempts(conn, campaign_id=cid, limit=10_000)
    assert len(attempts) == 30
    for a in attempts:
        started = a.started_at.astimezone(UTC)
        assert (started.hour, started.minute) >= (9, 0)
        assert (started.hour, started.minute) < (9, 10)
    assert len({a.started_at.date() for a in attempts}) >= 2


async def test_calls_hold_their_minutes_and_pay_per_started_minute(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    from clarion.services import pricing
    from clarion.store import messages as message_store

    await pricing.load(
        db,
        text="channel,country,operator,unit,price\nvoice,DE,,minute,0.10\n",
        account_id=tenant.id,
    )
    rig = voice_rig(settings, db, answer=1.0)
    config = VoiceConfig(max_call_minutes=3, recall=RecallPolicy(recall_times=0))
    cid = await make(db, settings, tenant, config, 6)
    async with db.read() as conn:
        rows = await message_store.by_ids(conn, list(range(1, 100)))
    assert {r.price for r in rows if r.campaign_id == cid} == {Decimal("0.30")}  # 3 x 0.10
    assert await drive(rig, cid) == "DONE"
    async with db.read() as conn:
        attempts = await call_store.attempts(conn, campaign_id=cid)
    for a in attempts:
        minutes = -(-a.billsec // 60)
        assert a.cost == Decimal("0.10") * min(minutes, 3)
    account = await campaign_service.get(db, account_id=tenant.id, campaign_id=cid)
    assert account.spent == sum((a.cost for a in attempts), Decimal(0))
