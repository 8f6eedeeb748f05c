"""The dispatcher through its whole life, on a real database with the fake channel."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import func, select
from tests.conftest import Tenant
from tests.helpers import add_phones, drain, make_campaign, phones

from clarion.channels.base import Outcome
from clarion.channels.fake import FakeChannel
from clarion.config import Settings
from clarion.dispatch.engine import Dispatcher
from clarion.domain.lifecycle import MessageStatus
from clarion.services import accounts
from clarion.store import campaigns as campaign_store
from clarion.store import messages as message_store
from clarion.store.db import Database
from clarion.store.schema import ledger, messages

PRICE = Decimal("0.05")


async def status_of(client: httpx.AsyncClient, tenant: Tenant, cid: int) -> dict[str, Any]:
    r = await client.get(f"/v1/campaigns/{cid}", headers=tenant.headers)
    assert r.status_code == 200
    body: dict[str, Any] = r.json()
    return body


async def started(client: httpx.AsyncClient, tenant: Tenant, count: int, **fields: Any) -> int:
    campaign = await make_campaign(client, tenant.headers, **fields)
    await add_phones(client, tenant.headers, campaign["id"], phones(count))
    r = await client.post(f"/v1/campaigns/{campaign['id']}/start", headers=tenant.headers)
    assert r.status_code == 200, r.text
    return int(campaign["id"])


async def assert_counters_match_rows(db: Database, cid: int) -> dict[str, int]:
    async with db.read() as conn:
        counters = await campaign_store.counters(conn, cid)
        rows = await message_store.group_by_status(conn, cid)
    for status in MessageStatus:
        c = counters[status.value]
        messages_, segments, cost = rows.get(status.value, (0, 0, Decimal(0)))
        assert (c.messages, c.segments, c.cost) == (messages_, segments, cost), status
    return {s: v[0] for s, v in rows.items()}


async def balance(db: Database, account_id: int) -> Decimal:
    row = await accounts.get(db, account_id)
    value: Decimal = row.balance
    return value


async def test_full_life_counters_and_money(
    client: httpx.AsyncClient,
    tenant: Tenant,
    dispatcher: Dispatcher,
    db: Database,
    fake: FakeChannel,
) -> None:
    cid = await started(client, tenant, 250)
    await drain(dispatcher)
    body = await status_of(client, tenant, cid)
    assert body["status"] == "DONE"
    assert await assert_counters_match_rows(db, cid) == {"DELIVERED": 250}
    assert await balance(db, tenant.id) == Decimal("100.00") - 250 * PRICE
    assert Decimal(body["spent"]) == 250 * PRICE
    # Exactly one submission per message, with the campaign text and sender.
    assert len(fake.submitted) == 250
    assert len({s.message_id for s in fake.submitted}) == 250
    assert {s.text for s in fake.submitted} == {"Hello from Clarion"}
    assert {s.sender for s in fake.submitted} == {"Clarion"}
    async with db.read() as conn:
        charges = (
            await conn.execute(
                select(func.sum(ledger.c.messages)).where(ledger.c.reason == "charge")
            )
        ).scalar_one()
    assert charges == 250


async def test_template_rendered_per_recipient(
    client: httpx.AsyncClient, tenant: Tenant, dispatcher: Dispatcher, fake: FakeChannel
) -> None:
    campaign = await make_campaign(
        client, tenant.headers, type="template", text="Hi {name}, code {code}"
    )
    r = await client.post(
        f"/v1/campaigns/{campaign['id']}/recipients",
        headers=tenant.headers,
        json={
            "recipients": [
                {"phone": "+77010000001", "variables": {"name": "Ann", "code": "1"}},
                {"phone": "+77010000002", "variables": {"name": "Bo", "code": "2"}},
            ]
        },
    )
    assert [x["code"] for x in r.json()["recipients"]] == [0, 0]
    await client.post(f"/v1/campaigns/{campaign['id']}/start", headers=tenant.headers)
    await drain(dispatcher)
    assert sorted(s.text for s in fake.submitted) == ["Hi Ann, code 1", "Hi Bo, code 2"]


async def test_pause_stops_claiming_and_resume_continues(
    client: httpx.AsyncClient,
    tenant: Tenant,
    dispatcher: Dispatcher,
    fake: FakeChannel,
    settings: Settings,
    db: Database,
) -> None:
    cid = await started(client, tenant, 250)
    await dispatcher.tick()  # one batch of settings.batch_size
    assert len(fake.submitted) == settings.batch_size
    r = await client.post(f"/v1/campaigns/{cid}/pause", headers=tenant.headers)
    assert r.json()["status"] == "PAUSED" and r.json()["pause_reason"] == "user"
    await drain(dispatcher)
    assert len(fake.submitted) == settings.batch_size
    r = await client.post(f"/v1/campaigns/{cid}/resume", headers=tenant.headers)
    assert r.json()["status"] == "RUNNING"
    await drain(dispatcher)
    assert len(fake.submitted) == 250
    assert (await status_of(client, tenant, cid))["status"] == "DONE"
    await assert_counters_match_rows(db, cid)


async def test_stop_deletes_unsent_without_charge(
    client: httpx.AsyncClient,
    tenant: Tenant,
    dispatcher: Dispatcher,
    db: Database,
    settings: Settings,
) -> None:
    cid = await started(client, tenant, 250)
    await dispatcher.tick()
    r = await client.post(f"/v1/campaigns/{cid}/stop", headers=tenant.headers)
    assert r.json()["status"] == "STOPPED"
    await drain(dispatcher)
    counts = await assert_counters_match_rows(db, cid)
    assert counts == {"DELIVERED": settings.batch_size, "DELETED": 250 - settings.batch_size}
    assert await balance(db, tenant.id) == Decimal("100.00") - settings.batch_size * PRICE
    # Stopped is final for sending: starting again is illegal.
    r = await client.post(f"/v1/campaigns/{cid}/resume", headers=tenant.headers)
    assert r.status_code == 409


async def test_retry_requeues_only_failed(
    client: httpx.AsyncClient,
    tenant: Tenant,
    dispatcher: Dispatcher,
    db: Database,
    fake: FakeChannel,
) -> None:
    numbers = phones(10)
    fake.outcomes = {numbers[0]: Outcome.PERMANENT, numbers[1]: Outcome.PERMANENT}
    campaign = await make_campaign(client, tenant.headers)
    await add_phones(client, tenant.headers, campaign["id"], numbers)
    await client.post(f"/v1/campaigns/{campaign['id']}/start", headers=tenant.headers)
    await drain(dispatcher)
    cid = int(campaign["id"])
    assert await assert_counters_match_rows(db, cid) == {"DELIVERED": 8, "REJECTED": 2}
    # Rejected at submit: refunded.
    assert await balance(db, tenant.id) == Decimal("100.00") - 8 * PRICE
    fake.outcomes = {}
    fake.submitted.clear()
    r = await client.post(f"/v1/campaigns/{cid}/retry", headers=tenant.headers)
    assert r.status_code == 200, r.text
    assert r.json()["requeued"] == 2 and r.json()["campaign"]["status"] == "RUNNING"
    await drain(dispatcher)
    assert sorted(s.phone for s in fake.submitted) == sorted(numbers[:2])
    assert await assert_counters_match_rows(db, cid) == {"DELIVERED": 10}
    assert await balance(db, tenant.id) == Decimal("100.00") - 10 * PRICE
    async with db.read() as conn:
        attempts = dict((await conn.execute(select(messages.c.phone, messages.c.attempts))).all())
    assert attempts[numbers[0]] == 2 and attempts[numbers[5]] == 1
    # Nothing left to retry: a conflict, nothing changes.
    r = await client.post(f"/v1/campaigns/{cid}/retry", headers=tenant.headers)
    assert r.status_code == 409
    assert (await status_of(client, tenant, cid))["status"] == "DONE"


async def test_temporary_failure_requeues_and_refunds(
    client: httpx.AsyncClient,
    tenant: Tenant,
    dispatcher: Dispatcher,
    db: Database,
    fake: FakeChannel,
) -> None:
    numbers = phones(3)
    fake.outcomes = {numbers[0]: Outcome.TEMPORARY}
    campaign = await make_campaign(client, tenant.headers)
    await add_phones(client, tenant.headers, campaign["id"], numbers)
    await client.post(f"/v1/campaigns/{campaign['id']}/start", headers=tenant.headers)
    await dispatcher.tick()
    cid = int(campaign["id"])
    counts = await assert_counters_match_rows(db, cid)
    assert counts == {"NEW": 1, "DELIVERED": 2}
    assert await balance(db, tenant.id) == Decimal("100.00") - 2 * PRICE
    fake.outcomes = {}
    await drain(dispatcher)
    assert await assert_counters_match_rows(db, cid) == {"DELIVERED": 3}
    assert await balance(db, tenant.id) == Decimal("100.00") - 3 * PRICE


async def test_throttled_campaign_waits_its_back_off_even_unpaced(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, settings: Settings
) -> None:
    # No rate ceiling, no rate limit: the campaign is unpaced, yet a carrier that
    # throttled part of a batch is not asked again before the back-off is over.
    clock = [100.0]
    cfg = settings.model_copy(update={"throttle_backoff": 1.0})
    dispatcher = Dispatcher(db=db, settings=cfg, monotonic=lambda: clock[0])
    fake = FakeChannel(dispatcher.report_sink)
    dispatcher.channels["fake"] = fake
    numbers = phones(3)
    fake.outcomes = {numbers[0]: Outcome.THROTTLED}
    campaign = await make_campaign(client, tenant.headers)
    cid = int(campaign["id"])
    await add_phones(client, tenant.headers, cid, numbers)
    await client.post(f"/v1/campaigns/{cid}/start", headers=tenant.headers)
    await dispatcher.tick()
    assert len(fake.submitted) == 3
    assert await assert_counters_match_rows(db, cid) == {"NEW": 1, "DELIVERED": 2}
    fake.outcomes = {}
    clock[0] += 0.9
    busy, _wait = await dispatcher.tick()
    assert not busy and len(fake.submitted) == 3  # still backing off
    clock[0] += 0.1
    await drain(dispatcher)
    assert len(fake.submitted) == 4
    assert await assert_counters_match_rows(db, cid) == {"DELIVERED": 3}


async def test_funds_pause_and_resume_after_topup(
    client: httpx.AsyncClient,
    db: Database,
    dispatcher: Dispatcher,
    fake: FakeChannel,
) -> None:
    poor = await accounts.create(db, name="poor", balance=Decimal("0.12"), currency="USD")
    tenant = Tenant(poor.account_id, poor.api_key)
    cid = await started(client, tenant, 5)
    await drain(dispatcher)
    body = await status_of(client, tenant, cid)
    assert body["status"] == "PAUSED" and body["pause_reason"] == "funds"
    assert len(fake.submitted) == 2  # 0.12 covers two messages of 0.05
    assert await balance(db, tenant.id) == Decimal("0.02")
    # Resuming without money is refused and changes nothing.
    r = await client.post(f"/v1/campaigns/{cid}/resume", headers=tenant.headers)
    assert r.status_code == 402
    assert r.headers["content-type"].startswith("application/problem+json")
    assert (await status_of(client, tenant, cid))["status"] == "PAUSED"
    await accounts.topup(db, account_id=tenant.id, amount=Decimal("1.00"))
    r = await client.post(f"/v1/campaigns/{cid}/resume", headers=tenant.headers)
    assert r.status_code == 200
    await drain(dispatcher)
    assert (await status_of(client, tenant, cid))["status"] == "DONE"
    assert len(fake.submitted) == 5
    assert await balance(db, tenant.id) == Decimal("1.12") - 5 * PRICE
    await assert_counters_match_rows(db, cid)


async def test_crash_during_submit_is_reconciled_not_resent(
    client: httpx.AsyncClient,
    tenant: Tenant,
    settings: Settings,
    db: Database,
) -> None:
    """A submit whose outcome is unknown leaves SENDING; after claim_timeout the
    carrier is asked, and what it does not know becomes UNKNOWN — never resent."""
    clock_offset = timedelta(0)
    from clarion.clock import utcnow

    def clock() -> Any:
        return utcnow() + clock_offset

    d = Dispatcher(db=db, settings=settings, clock=clock)
    fake = FakeChannel(d.report_sink)
    d.channels["fake"] = fake
    cid = await started(client, tenant, 4)
    fake.fail_with = ConnectionError("carrier went away")
    await d.tick()
    assert await assert_counters_match_rows(db, cid) == {"SENDING": 4}
    await drain(d)
    assert fake.submit_calls == 1  # not retried while the outcome is unknown
    # Pretend the carrier did take two of them before the connection dropped.
    async with db.read() as conn:
        rows = (
            await conn.execute(select(messages.c.id, messages.c.attempts).order_by(messages.c.id))
        ).all()
    from clarion.channels.base import SubmitResult

    for mid, attempts in rows[:2]:
        ref = f"{mid}-{attempts}"
        fake.accepted[ref] = SubmitResult(ref, Outcome.ACCEPTED, f"carrier-{mid}")
    clock_offset = timedelta(seconds=settings.claim_timeout + 1)
    await drain(d)
    counts = await assert_counters_match_rows(db, cid)
    assert counts == {"ACCEPTED": 2, "UNKNOWN": 2}
    assert fake.submit_calls == 1
    # Charged once each; unknown ones stay charged (the carrier may have sent them).
    assert await balance(db, tenant.id) == Decimal("100.00") - 4 * PRICE
    # The campaign is SENT and becomes DONE after the status wait; ACCEPTED -> UNKNOWN.
    assert (await status_of(client, tenant, cid))["status"] == "SENT"
    clock_offset = timedelta(seconds=settings.claim_timeout + settings.max_status_wait + 5)
    await drain(d)
    assert (await status_of(client, tenant, cid))["status"] == "DONE"
    assert await assert_counters_match_rows(db, cid) == {"UNKNOWN": 4}


async def test_validity_expiry_marks_unsent_expired(
    client: httpx.AsyncClient,
    tenant: Tenant,
    settings: Settings,
    db: Database,
) -> None:
    from clarion.clock import utcnow

    offset = timedelta(0)
    d = Dispatcher(db=db, settings=settings, clock=lambda: utcnow() + offset)
    d.channels["fake"] = FakeChannel(d.report_sink)
    cid = await started(client, tenant, 150, validity_minutes=60)
    await d.tick()  # one batch of 100 goes out
    await client.post(f"/v1/campaigns/{cid}/pause", headers=tenant.headers)
    offset = timedelta(minutes=61)
    await drain(d)
    counts = await assert_counters_match_rows(db, cid)
    assert counts == {"DELIVERED": settings.batch_size, "EXPIRED": 150 - settings.batch_size}
    # Expired before sending: never charged.
    assert await balance(db, tenant.id) == Decimal("100.00") - settings.batch_size * PRICE


async def test_scheduled_campaign_starts_at_its_time(
    client: httpx.AsyncClient,
    tenant: Tenant,
    settings: Settings,
    db: Database,
) -> None:
    from clarion.clock import utcnow

    offset = timedelta(0)
    start_at = (utcnow() + timedelta(hours=2)).isoformat()
    campaign = await make_campaign(client, tenant.headers, start_at=start_at)
    await add_phones(client, tenant.headers, campaign["id"], phones(3))
    r = await client.post(f"/v1/campaigns/{campaign['id']}/start", headers=tenant.headers)
    assert r.json()["status"] == "SCHEDULED"
    # The activation check uses the store's own clock, so move the start time instead.
    d = Dispatcher(db=db, settings=settings, clock=lambda: utcnow() + offset)
    fake = FakeChannel(d.report_sink)
    d.channels["fake"] = fake
    await drain(d)
    assert fake.submitted == []
    async with db.begin() as conn:
        from clarion.store.schema import campaigns

        await conn.execute(
            campaigns.update()
            .where(campaigns.c.id == campaign["id"])
            .values(start_at=utcnow() - timedelta(seconds=1))
        )
    await drain(d)
    assert len(fake.submitted) == 3
    assert (await status_of(client, tenant, campaign["id"]))["status"] == "DONE"


async def test_rate_limit_sends_packets_of_ten(
    client: httpx.AsyncClient,
    tenant: Tenant,
    settings: Settings,
    db: Database,
) -> None:
    now = [1000.0]
    d = Dispatcher(db=db, settings=settings, monotonic=lambda: now[0])
    fake = FakeChannel(d.report_sink)
    d.channels["fake"] = fake
    await started(client, tenant, 35, rate_limit=600, rate_period=60)  # 10 msg/s
    await d.tick()
    assert len(fake.submitted) == 10
    await d.tick()
    assert len(fake.submitted) == 10  # next packet not due yet
    now[0] += 0.5
    await d.tick()
    assert len(fake.submitted) == 10
    now[0] += 0.5
    await d.tick()
    assert len(fake.submitted) == 20


async def test_two_dispatchers_never_double_send(
    client: httpx.AsyncClient,
    tenant: Tenant,
    settings: Settings,
    db: Database,
) -> None:
    """Two workers on one database: every message submitted exactly once."""
    import asyncio

    workers = []
    for _ in range(2):
        d = Dispatcher(db=db, settings=settings)
        d.channels["fake"] = FakeChannel(d.report_sink)
        workers.append(d)
    cid = await started(client, tenant, 400)
    for _ in range(20):
        await asyncio.gather(*(w.tick() for w in workers))
    await drain(workers[0])
    submitted = [s.message_id for w in workers for s in w.channels["fake"].submitted]  # type: ignore[attr-defined]
    assert len(submitted) == 400 == len(set(submitted))
    assert await assert_counters_match_rows(db, cid) == {"DELIVERED": 400}
    assert await balance(db, tenant.id) == Decimal("100.00") - 400 * PRICE


async def test_claim_race_falls_back_to_exact_recording(
    client: httpx.AsyncClient,
    tenant: Tenant,
    settings: Settings,
    db: Database,
) -> None:
    """If another worker moves one of our SENDING messages while we submit (a
    reconciliation after a stall), recording falls back to the exact path and the
    counters still equal the rows."""
    from clarion.channels.base import Submission, SubmitResult
    from clarion.clock import utcnow
    from clarion.domain.lifecycle import MESSAGE_TRANSITIONS

    class Meddling(FakeChannel):
        async def submit(self, batch: Any) -> list[SubmitResult]:
            victim: Submission = batch[0]
            async with db.begin() as conn:
                await message_store.transition(
                    conn,
                    ids=[victim.message_id],
                    transition=MESSAGE_TRANSITIONS["lose"],
                    now=utcnow(),
                )
            return await super().submit(batch)

    d = Dispatcher(db=db, settings=settings)
    d.channels["fake"] = Meddling(d.report_sink)
    cid = await started(client, tenant, 5)
    await drain(d)
    assert await assert_counters_match_rows(db, cid) == {"UNKNOWN": 1, "DELIVERED": 4}
    assert (await status_of(client, tenant, cid))["status"] == "DONE"


async def test_renew_only_resumes_a_funds_pause(
    client: httpx.AsyncClient,
    db: Database,
    dispatcher: Dispatcher,
    fake: FakeChannel,
) -> None:
    poor = await accounts.create(db, name="poor", balance=Decimal("0.10"), currency="USD")
    tenant = Tenant(poor.account_id, poor.api_key)
    cid = await started(client, tenant, 4)
    # renew on a RUNNING campaign: refused, nothing changes.
    r = await client.post(f"/v1/campaigns/{cid}/renew", headers=tenant.headers)
    assert r.status_code == 409 and r.json()["action"] == "renew"
    await drain(dispatcher)
    assert (await status_of(client, tenant, cid))["pause_reason"] == "funds"
    # Before a top-up: 402, still paused.
    r = await client.post(f"/v1/campaigns/{cid}/renew", headers=tenant.headers)
    assert r.status_code == 402
    await accounts.topup(db, account_id=tenant.id, amount=Decimal("1"))
    r = await client.post(f"/v1/campaigns/{cid}/renew", headers=tenant.headers)
    assert r.status_code == 200 and r.json()["status"] == "RUNNING"
    await drain(dispatcher)
    assert (await status_of(client, tenant, cid))["status"] == "DONE"
    assert len(fake.submitted) == 4
    # A user pause is not renewed, and neither is a finished campaign.
    other = await started(client, tenant, 2)
    await client.post(f"/v1/campaigns/{other}/pause", headers=tenant.headers)
    r = await client.post(f"/v1/campaigns/{other}/renew", headers=tenant.headers)
    assert r.status_code == 409
    assert (await status_of(client, tenant, other))["status"] == "PAUSED"
    r = await client.post(f"/v1/campaigns/{cid}/renew", headers=tenant.headers)
    assert r.status_code == 409
