"""RCS campaigns with SMS fallback through the real dispatcher: the simulated RCS
carrier (per-number capability), the fake SMS channel for the fallbacks."""

from __future__ import annotations

import asyncio
from collections import Counter
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from tests.conftest import Tenant
from tests.helpers import phones

from clarion.channels.base import Outcome
from clarion.channels.fake import FakeChannel
from clarion.channels.sim_rcs import NOT_CAPABLE, SimulatedRcs
from clarion.config import Settings
from clarion.dispatch.engine import Dispatcher
from clarion.domain.lifecycle import MessageStatus
from clarion.services import accounts, stoplists
from clarion.store import campaigns as campaign_store
from clarion.store.db import Database
from clarion.store.schema import campaigns, ledger, messages

FAILED = {"UNDELIVERED", "EXPIRED", "REJECTED"}
RCS_PRICE = Decimal("0.05")  # flat price x 1 unit
SMS_TEXT = "Your code arrived by SMS"  # 1 GSM segment


@pytest.fixture
def rcs(dispatcher: Dispatcher) -> SimulatedRcs:
    channel = SimulatedRcs(
        dispatcher.report_sink,
        seed=7,
        capable_share=0.5,
        read_share=0.5,
        undelivered_rate=0.2,
        dlr_min_delay=0.0,
        dlr_max_delay=0.0,
    )
    dispatcher.channels["sim_rcs"] = channel
    return channel


async def create_rcs(
    client: httpx.AsyncClient, tenant: Tenant, count: int, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "rcs promo",
        "channel": "rcs",
        "sender": "acme_agent",
        "content": {
            "cards": [
                {
                    "title": "Spring sale",
                    "text": "Everything -20%",
                    "media": {"url": "https://example.com/sale.png"},
                    "suggestions": [{"text": "Shop", "url": "https://example.com/"}],
                }
            ]
        },
        "fallback": {"text": SMS_TEXT, "sender": "ACME"},
    } | extra
    r = await client.post("/v1/campaigns", json=body, headers=tenant.headers)
    assert r.status_code == 201, r.text
    campaign: dict[str, Any] = r.json()
    r = await client.post(
        f"/v1/campaigns/{campaign['id']}/recipients",
        json={"recipients": [{"phone": p} for p in phones(count)]},
        headers=tenant.headers,
    )
    assert r.status_code == 200, r.text
    return campaign


async def status(db: Database, campaign_id: int) -> str:
    async with db.read() as conn:
        value = await campaign_store.status(conn, campaign_id)
    assert value is not None
    return value


async def run_until(
    dispatcher: Dispatcher, db: Database, campaign_id: int, wanted: str, ticks: int = 3000
) -> None:
    for _ in range(ticks):
        await dispatcher.tick()
        if await status(db, campaign_id) == wanted:
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"campaign {campaign_id} never reached {wanted}")


async def rows(db: Database, campaign_id: int) -> list[Any]:
    async with db.read() as conn:
        result = await conn.execute(
            select(messages).where(messages.c.campaign_id == campaign_id).order_by(messages.c.id)
        )
        return list(result)


async def child_of(db: Database, campaign_id: int) -> Any:
    async with db.read() as conn:
        kid = await campaign_store.child(conn, campaign_id)
    assert kid is not None
    return kid


async def start(client: httpx.AsyncClient, tenant: Tenant, campaign_id: int) -> dict[str, Any]:
    r = await client.post(f"/v1/campaigns/{campaign_id}/start", headers=tenant.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_rcs_campaign_falls_back_to_sms_once_per_failed_message(
    client: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    dispatcher: Dispatcher,
    fake: FakeChannel,
    rcs: SimulatedRcs,
) -> None:
    campaign = await create_rcs(client, tenant, 60)
    cid = campaign["id"]
    assert campaign["content"]["cards"][0]["suggestions"][0]["type"] == "link"  # inferred
    await start(client, tenant, cid)
    await run_until(dispatcher, db, cid, "DONE")

    originals = await rows(db, cid)
    kid = await child_of(db, cid)
    assert kid.status == "DONE"
    fallbacks = await rows(db, kid.id)
    # Each RCS message's fate follows the number's capability.
    for m in originals:
        if rcs.capable(m.phone):
            assert m.status in {"DELIVERED", "READ", "UNDELIVERED", "EXPIRED"}, m
        else:
            assert (m.status, m.error_code) == ("REJECTED", NOT_CAPABLE)
    failed = {m.id: m.phone for m in originals if m.status in FAILED}
    by_status = Counter(m.status for m in originals)
    assert by_status["REJECTED"] > 0 and by_status["DELIVERED"] + by_status["READ"] > 0
    assert by_status["UNDELIVERED"] > 0  # a capable number that failed falls back too
    # Exactly one fallback per failed RCS message, linked to it, with the alternative
    # text and sender; nobody else got an SMS; the SMS carrier saw each number once.
    assert {f.origin_id: f.phone for f in fallbacks} == failed
    assert all(f.status == "DELIVERED" for f in fallbacks)
    submitted = [s.phone for s in fake.submitted]
    assert sorted(submitted) == sorted(failed.values())
    assert {(s.sender, s.text) for s in fake.submitted} == {("ACME", SMS_TEXT)}

    r = await client.get(f"/v1/campaigns/{cid}/stats", headers=tenant.headers)
    stats = r.json()
    assert stats["messages"]["REJECTED"] == by_status["REJECTED"]
    assert stats["fallback"]["messages"]["DELIVERED"] == len(failed)
    assert stats["fallback"]["total_messages"] == len(failed)

    # Money: non-capable RCS refunded at once; the rest charged; fallbacks charged.
    charged_rcs = len(originals) - by_status["REJECTED"]
    expected = Decimal("100.00") - RCS_PRICE * charged_rcs - RCS_PRICE * len(failed)
    assert (await accounts.get(db, tenant.id)).balance == expected
    async with db.read() as conn:
        entries = (await conn.execute(select(ledger).where(ledger.c.account_id == tenant.id))).all()
    assert sum((e.amount for e in entries), Decimal(0)) == expected - Decimal("100.00") + (
        Decimal("100.00")  # the opening balance is a ledger row too
    )
    charges = [e for e in entries if e.reason == "charge"]
    assert all(e.message_id is not None and e.amount == -RCS_PRICE for e in charges)
    assert len(charges) == len(originals) + len(failed)


async def test_child_campaign_is_invisible(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    campaign = await create_rcs(client, tenant, 2)
    kid = await child_of(db, campaign["id"])
    r = await client.get("/v1/campaigns", headers=tenant.headers)
    assert [c["id"] for c in r.json()["items"]] == [campaign["id"]]
    r = await client.get(f"/v1/campaigns/{kid.id}", headers=tenant.headers)
    assert r.status_code == 404
    # Deleting the never-started RCS campaign removes its fallback too.
    r = await client.delete(f"/v1/campaigns/{campaign['id']}", headers=tenant.headers)
    assert r.status_code == 204
    async with db.read() as conn:
        left = (await conn.execute(select(campaigns.c.id))).scalars().all()
    assert kid.id not in left


async def test_stop_listed_number_does_not_fall_back(
    client: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    dispatcher: Dispatcher,
    fake: FakeChannel,
    rcs: SimulatedRcs,
) -> None:
    campaign = await create_rcs(client, tenant, 10)
    cid = campaign["id"]
    blocked = phones(1)[0]
    await stoplists.add(db, account_id=tenant.id, phones=[blocked])
    await start(client, tenant, cid)
    await run_until(dispatcher, db, cid, "DONE")
    originals = {m.phone: m for m in await rows(db, cid)}
    assert (originals[blocked].status, originals[blocked].error_code) == ("REJECTED", "stop-list")
    assert blocked not in {s.phone for s in fake.submitted}


async def test_rcs_without_check_stop_list_sends_to_stop_listed(
    client: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    dispatcher: Dispatcher,
    rcs: SimulatedRcs,
) -> None:
    blocked = phones(1)[0]
    await stoplists.add(db, account_id=tenant.id, phones=[blocked])
    campaign = await create_rcs(client, tenant, 3, check_stop_list=False)
    await start(client, tenant, campaign["id"])
    await run_until(dispatcher, db, campaign["id"], "DONE")
    originals = {m.phone: m for m in await rows(db, campaign["id"])}
    assert originals[blocked].error_code != "stop-list"
    assert originals[blocked].attempts == 1


async def test_fallback_out_of_funds_pauses_the_rcs_campaign_and_renew_resumes(
    client: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    dispatcher: Dispatcher,
    fake: FakeChannel,
    rcs: SimulatedRcs,
) -> None:
    rcs.capable_share = 0.0  # every RCS message is refused and falls back
    poor = await accounts.create(db, name="poor", balance=Decimal("0.20"), currency="USD")
    who = Tenant(poor.account_id, poor.api_key)
    campaign = await create_rcs(client, who, 10)
    cid = campaign["id"]
    await start(client, who, cid)
    await run_until(dispatcher, db, cid, "PAUSED")
    row = (await client.get(f"/v1/campaigns/{cid}", headers=who.headers)).json()
    assert row["pause_reason"] == "funds"
    assert len(fake.submitted) == 4  # 0.20 / 0.05
    r = await client.post(f"/v1/campaigns/{cid}/renew", headers=who.headers)
    assert r.status_code == 402, r.text
    await accounts.topup(db, account_id=who.id, amount=Decimal("1.00"))
    r = await client.post(f"/v1/campaigns/{cid}/renew", headers=who.headers)
    assert r.status_code == 200, r.text
    await run_until(dispatcher, db, cid, "DONE")
    assert sorted(s.phone for s in fake.submitted) == phones(10)
    assert (await accounts.get(db, who.id)).balance == Decimal("0.70")


async def test_retry_resends_failed_fallbacks_not_the_rcs_messages(
    client: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    dispatcher: Dispatcher,
    fake: FakeChannel,
    rcs: SimulatedRcs,
) -> None:
    rcs.capable_share = 0.0  # every RCS message falls back
    refused = phones(4)[:2]
    fake.outcomes = {p: Outcome.PERMANENT for p in refused}  # two fallbacks fail
    campaign = await create_rcs(client, tenant, 4)
    cid = campaign["id"]
    await start(client, tenant, cid)
    await run_until(dispatcher, db, cid, "DONE")
    kid = await child_of(db, cid)
    assert Counter(f.status for f in await rows(db, kid.id)) == {"DELIVERED": 2, "REJECTED": 2}

    fake.outcomes = {}
    r = await client.post(f"/v1/campaigns/{cid}/retry", headers=tenant.headers)
    assert r.status_code == 200, r.text
    assert r.json()["requeued"] == 2  # the failed SMS; the RCS messages fell back already
    await run_until(dispatcher, db, cid, "DONE")
    assert {f.status for f in await rows(db, kid.id)} == {"DELIVERED"}
    assert sorted(s.phone for s in fake.submitted) == sorted(phones(4) + refused)
    assert all(m.attempts == 1 for m in await rows(db, cid))  # RCS never sent twice


async def test_refund_policy_refunds_undelivered_reports(
    client: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    dispatcher: Dispatcher,
    fake: FakeChannel,
) -> None:
    fake.report_status = MessageStatus.UNDELIVERED
    await accounts.configure(db, account_id=tenant.id, refund_policy="undelivered")
    r = await client.post("/v1/campaigns", json={"name": "s", "text": "hi"}, headers=tenant.headers)
    cid = r.json()["id"]
    await client.post(
        f"/v1/campaigns/{cid}/recipients",
        json={"recipients": [{"phone": p} for p in phones(5)]},
        headers=tenant.headers,
    )
    await start(client, tenant, cid)
    await run_until(dispatcher, db, cid, "DONE")
    assert (await accounts.get(db, tenant.id)).balance == Decimal("100.00")
    async with db.read() as conn:
        reasons = Counter(
            e.reason
            for e in (await conn.execute(select(ledger).where(ledger.c.campaign_id == cid)))
        )
    assert reasons == {"charge": 5, "refund-undelivered": 5}
    assert all(m.charged == 0 for m in await rows(db, cid))


async def test_moderation_rules_hold_campaign_until_an_operator_approves(
    client: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    dispatcher: Dispatcher,
    settings: Settings,
    rcs: SimulatedRcs,
) -> None:
    settings.moderation_patterns = [r"\bcasino\b"]
    clean = await create_rcs(client, tenant, 2)
    assert (await start(client, tenant, clean["id"]))["status"] == "RUNNING"
    spam = await create_rcs(client, tenant, 2, content={"text": "Best CASINO bonus"})
    assert (await start(client, tenant, spam["id"]))["status"] == "MODERATION"
    # A fallback text can trigger the rules too.
    sneaky = await create_rcs(client, tenant, 2, fallback={"text": "casino tonight"})
    assert (await start(client, tenant, sneaky["id"]))["status"] == "MODERATION"

    r = await client.post(f"/v1/moderation/campaigns/{spam['id']}/approve", headers=tenant.headers)
    assert r.status_code == 403
    op = await accounts.create(db, name="ops", balance=Decimal("0"), currency="USD")
    await accounts.configure(db, account_id=op.account_id, is_operator=True)
    ops = {"Authorization": f"Bearer {op.api_key}"}
    queue = (await client.get("/v1/moderation/campaigns", headers=ops)).json()
    assert {c["id"] for c in queue} == {spam["id"], sneaky["id"]}
    r = await client.post(f"/v1/moderation/campaigns/{spam['id']}/approve", headers=ops)
    assert r.json()["status"] == "QUEUED"
    r = await client.post(f"/v1/moderation/campaigns/{sneaky['id']}/decline", headers=ops)
    assert r.json()["status"] == "DECLINED"
    r = await client.post(f"/v1/moderation/campaigns/{sneaky['id']}/approve", headers=ops)
    assert r.status_code == 409
    await run_until(dispatcher, db, spam["id"], "DONE")
    assert (await child_of(db, sneaky["id"])).status == "STOPPED"


async def test_rcs_content_is_validated(client: httpx.AsyncClient, tenant: Tenant) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"text": "x" * 161}, "content.text"),
        ({"cards": []}, "content.cards"),
        ({"cards": [{"title": "only a title"}]}, "content.cards.0.text"),
        ({"cards": [{"text": "t", "media": {"url": "ftp://x"}}]}, "content.cards.0.media.url"),
        (
            {"cards": [{"text": "t", "suggestions": [{"text": "call", "phone": "+123"}]}]},
            "content.cards.0.suggestions.0.phone",
        ),
        (
            {"cards": [{"text": "t", "suggestions": [{"text": "x" * 26, "url": "https://a"}]}]},
            "content.cards.0.suggestions.0.text",
        ),
    ]
    for content, field in cases:
        r = await client.post(
            "/v1/campaigns",
            json={"name": "bad", "channel": "rcs", "content": content},
            headers=tenant.headers,
        )
        assert r.status_code == 422, (content, r.text)
        assert field in r.text, (field, r.text)
    r = await client.post(
        "/v1/campaigns",
        json={"name": "bad", "channel": "sms", "text": "hi", "content": {"text": "x"}},
        headers=tenant.headers,
    )
    assert r.status_code == 422
