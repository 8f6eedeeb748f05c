"""BSG's RCS API as a BSG client calls it: raw JSON over HTTP, ``X-API-KEY`` or a
bearer token, the seed's campaign object, BSG's error envelope."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from tests.conftest import Tenant

from clarion.api.app import create_app
from clarion.channels.fake import FakeChannel
from clarion.channels.sim_rcs import SimulatedRcs
from clarion.config import Settings
from clarion.dispatch.engine import Dispatcher
from clarion.services import accounts, contacts
from clarion.store import campaigns as campaign_store
from clarion.store.db import Database
from clarion.store.schema import contact_cards, messages

CAMPAIGN_KEYS = {
    "id",
    "name",
    "sender",
    "status",
    "message_type",
    "start_at",
    "real_start_at",
    "finished_at",
    "created_at",
    "statistics",
    "calculated_price",
    "alternative_channels",
}
TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
SEED_SENT = {"DELIVERED", "ACCEPTED", "SENDING", "UNDELIVERED", "EXPIRED", "UNKNOWN"}
SEED_DELIVERED = {"DELIVERED", "READ"}


def numbers(count: int, start: int = 0) -> list[str]:
    """Kazakh mobiles as BSG writes them: international digits, no +."""
    return [f"7701{n:07d}" for n in range(start, start + count)]


@pytest.fixture
def rcs(dispatcher: Dispatcher) -> SimulatedRcs:
    channel = SimulatedRcs(
        dispatcher.report_sink,
        seed=3,
        capable_share=0.6,
        read_share=0.4,
        undelivered_rate=0.15,
        dlr_min_delay=0.0,
        dlr_max_delay=0.0,
    )
    dispatcher.channels["sim_rcs"] = channel
    return channel


@pytest.fixture
async def bsg(settings: Settings, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """A plain HTTP client: no auth header unless a test adds one."""
    app = create_app(settings, db=db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://one-api.test") as c:
        yield c


def key(tenant: Tenant) -> dict[str, str]:
    return {"X-API-KEY": tenant.key}


def send_body(count: int, **extra: Any) -> dict[str, Any]:
    return {
        "phones": [{"number": n, "reference_id": f"ref{i}"} for i, n in enumerate(numbers(count))],
        "sender": "acme_rcs",
        "options": {"text": "Hello! Your order has shipped"},
        "alternative_channel": {"sms": {"text": "Your order has shipped", "sender": "ACME"}},
    } | extra


async def status_of(db: Database, campaign_id: int) -> str:
    async with db.read() as conn:
        value = await campaign_store.status(conn, campaign_id)
    assert value is not None
    return value


async def run_until(dispatcher: Dispatcher, db: Database, campaign_id: int, wanted: str) -> None:
    for _ in range(3000):
        await dispatcher.tick()
        if await status_of(db, campaign_id) == wanted:
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"campaign {campaign_id} never reached {wanted}")


async def seed_statistic(db: Database, campaign_id: int) -> dict[str, int]:
    """The seed's definition, straight from the message rows."""
    async with db.read() as conn:
        rows = (
            await conn.execute(
                select(messages.c.status, messages.c.error_code).where(
                    messages.c.campaign_id == campaign_id
                )
            )
        ).all()
    failed = [r for r in rows if r.status == "REJECTED" and r.error_code == "sim-rejected"]
    return {
        "delivered": sum(1 for r in rows if r.status in SEED_DELIVERED),
        "sent": sum(1 for r in rows if r.status in SEED_SENT) + len(failed),
    }


async def get(bsg: httpx.AsyncClient, tenant: Tenant, campaign_id: int) -> dict[str, Any]:
    r = await bsg.get(f"/api/campaigns/{campaign_id}", headers=key(tenant))
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()["data"]
    assert set(data) == CAMPAIGN_KEYS
    return data


async def test_rcs_campaign_to_mixed_numbers_reaches_done_with_main_and_fallback_statistics(
    bsg: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    dispatcher: Dispatcher,
    rcs: SimulatedRcs,
    fake: FakeChannel,
) -> None:
    r = await bsg.post("/api/campaigns/rcs/send", json=send_body(50), headers=key(tenant))
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert set(data) == CAMPAIGN_KEYS
    assert data["status"] == "sending"
    assert data["message_type"] == "rcs"
    assert data["sender"] == "acme_rcs"
    assert re.match(r"^RCS api campaign / \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$", data["name"])
    assert all(TIME.match(data[k]) for k in ("start_at", "real_start_at", "created_at"))
    assert data["finished_at"] is None
    assert isinstance(data["calculated_price"], float) and data["calculated_price"] == 2.5
    assert data["statistics"] == {"delivered": 0, "sent": 0}
    assert data["alternative_channels"] == {"sms": {"statistic": {"delivered": 0, "sent": 0}}}

    cid = data["id"]
    await run_until(dispatcher, db, cid, "DONE")
    done = await get(bsg, tenant, cid)
    assert done["status"] == "done"
    assert TIME.match(done["finished_at"])
    capable = [n for n in numbers(50) if rcs.capable("+" + n)]
    assert 0 < len(capable) < 50
    main = done["statistics"]
    assert main == await seed_statistic(db, cid)
    assert main["delivered"] > 0
    # A READ message counts as delivered but, per the seed's status list, not as sent.
    async with db.read() as conn:
        kid = await campaign_store.child(conn, cid)
        rows = (
            await conn.execute(
                select(messages.c.status, func.count())
                .where(messages.c.campaign_id == cid)
                .group_by(messages.c.status)
            )
        ).all()
    by_status = dict(rows)
    assert by_status["REJECTED"] == 50 - len(capable)  # the non-capable ones
    assert main["sent"] == len(capable) - by_status.get("READ", 0)
    failed = by_status["REJECTED"] + by_status.get("UNDELIVERED", 0) + by_status.get("EXPIRED", 0)
    assert kid is not None
    assert done["alternative_channels"] == {
        "sms": {"statistic": {"delivered": failed, "sent": failed}}
    }
    # Every recipient got the RCS message or, failing that, exactly one SMS.
    main_phones = await _main_phones(db, cid)
    got_rcs = {p for p, st in main_phones if st in SEED_DELIVERED}
    sms = [s.phone for s in fake.submitted]
    assert len(sms) == len(set(sms)) == failed
    assert got_rcs | set(sms) == {"+" + n for n in numbers(50)}
    assert not got_rcs & set(sms)


async def _main_phones(db: Database, campaign_id: int) -> list[tuple[str, str]]:
    async with db.read() as conn:
        result = await conn.execute(
            select(messages.c.phone, messages.c.status).where(messages.c.campaign_id == campaign_id)
        )
        return [(r.phone, r.status) for r in result]


async def test_small_balance_pauses_renew_fails_until_top_up_then_completes(
    bsg: httpx.AsyncClient,
    db: Database,
    dispatcher: Dispatcher,
    rcs: SimulatedRcs,
) -> None:
    rcs.capable_share, rcs.undelivered_rate = 1.0, 0.0
    poor = await accounts.create(db, name="poor", balance=Decimal("0.20"), currency="USD")
    who = Tenant(poor.account_id, poor.api_key)
    r = await bsg.post("/api/campaigns/rcs/send", json=send_body(10), headers=key(who))
    assert r.status_code == 200, r.text
    cid = r.json()["data"]["id"]
    await run_until(dispatcher, db, cid, "PAUSED")
    paused = await get(bsg, who, cid)
    assert paused["status"] == "paused"

    r = await bsg.put(f"/api/campaigns/{cid}/renew", headers=key(who))
    assert (r.status_code, r.json()) == (422, {"message": "Not enough funds", "errors": []})
    assert (await get(bsg, who, cid))["status"] == "paused"

    await accounts.topup(db, account_id=who.id, amount=Decimal("1.00"))
    r = await bsg.put(f"/api/campaigns/{cid}/renew", headers=key(who))
    assert r.status_code == 200, r.text
    assert r.json()["data"]["status"] == "sending"
    await run_until(dispatcher, db, cid, "DONE")
    final = await get(bsg, who, cid)
    assert final["statistics"]["delivered"] == 10
    assert (await accounts.get(db, who.id)).balance == Decimal("0.70")


async def test_renew_is_rejected_unless_paused_for_funds(
    bsg: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    dispatcher: Dispatcher,
    rcs: SimulatedRcs,
) -> None:
    invalid = {"message": "Invalid campaign status", "errors": []}
    # sending
    r = await bsg.post("/api/campaigns/rcs/send", json=send_body(3), headers=key(tenant))
    sending = r.json()["data"]["id"]
    r = await bsg.put(f"/api/campaigns/{sending}/renew", headers=key(tenant))
    assert (r.status_code, r.json()) == (422, invalid)
    assert (await get(bsg, tenant, sending))["status"] == "sending"
    # done
    await run_until(dispatcher, db, sending, "DONE")
    r = await bsg.put(f"/api/campaigns/{sending}/renew", headers=key(tenant))
    assert (r.status_code, r.json()) == (422, invalid)
    assert (await get(bsg, tenant, sending))["status"] == "done"
    # stopped
    r = await bsg.post(
        "/api/campaigns/rcs/send", json=send_body(3, sender="other"), headers=key(tenant)
    )
    stopped = r.json()["data"]["id"]
    r = await bsg.patch(f"/api/campaigns/{stopped}/stop", headers=key(tenant))
    assert r.json()["data"]["status"] == "stopped"
    r = await bsg.put(f"/api/campaigns/{stopped}/renew", headers=key(tenant))
    assert (r.status_code, r.json()) == (422, invalid)
    assert (await get(bsg, tenant, stopped))["status"] == "stopped"
    # paused by the user (not for funds)
    r = await bsg.post(
        "/api/campaigns/rcs/send", json=send_body(3, sender="third"), headers=key(tenant)
    )
    user_paused = r.json()["data"]["id"]
    pr = await bsg.post(
        f"/v1/campaigns/{user_paused}/pause", headers={"Authorization": f"Bearer {tenant.key}"}
    )
    assert pr.status_code == 200
    r = await bsg.put(f"/api/campaigns/{user_paused}/renew", headers=key(tenant))
    assert (r.status_code, r.json()) == (422, invalid)
    assert (await get(bsg, tenant, user_paused))["status"] == "paused"


async def test_authentication(bsg: httpx.AsyncClient, tenant: Tenant, db: Database) -> None:
    r = await bsg.post("/api/campaigns/rcs/send", json=send_body(1))
    assert (r.status_code, r.json()) == (401, {"message": "Unauthenticated."})
    r = await bsg.get("/api/campaigns/1", headers={"X-API-KEY": "live_" + "x" * 20})
    assert r.status_code == 401
    r = await bsg.post("/api/auth/login", json={"api_key": "nope"})
    assert r.status_code == 401
    r = await bsg.post("/api/auth/login", json={"api_key": tenant.key})
    assert r.status_code == 200
    token = r.json()["bearer"]
    for i, header in enumerate((f"Bearer {token}", f"Bearer: {token}")):
        r = await bsg.post(
            "/api/campaigns/rcs/send",
            json=send_body(1, sender=f"agent{i}"),
            headers={"Authorization": header},
        )
        assert r.status_code == 200, r.text
    r = await bsg.post("/api/auth/refresh", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.json()["bearer"]
    r = await bsg.get("/api/campaigns/1", headers={"Authorization": f"Bearer {token}x"})
    assert r.status_code == 401
    # The stored key hash alone (a database copy) cannot mint a token.
    import jwt

    from clarion.services.accounts import hash_key

    claims = jwt.decode(token, options={"verify_signature": False})
    forged = jwt.encode(claims, hash_key(tenant.key), algorithm="HS256")
    r = await bsg.get("/api/campaigns/1", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401
    # A revoked key's tokens stop working.
    await accounts.rotate_key(db, account_id=tenant.id)
    r = await bsg.get("/api/campaigns/1", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (send_body(1, phones=[]), "phones"),
        (send_body(1, sender="x" * 41), "sender"),
        (send_body(1, validity=73), "validity"),
        (send_body(1, options={"text": "x" * 161}), "optionstext"),
        (send_body(1, options={"cards": [{"title": "t"}]}), "optionscards0text"),
        (
            send_body(1, phones=[{"number": "77010000001"}, {"number": "77010000001"}]),
            "phones1number",
        ),
        (send_body(1, phones=[{"number": "+7701"}]), "phones0number"),
        (send_body(1, start_at="2020-01-01 00:00:00"), "start_at"),
        (send_body(1, start_at="tomorrow"), "start_at"),
        (send_body(1, alternative_channel={"sms": {"text": "hi"}}), "alternative_channelsmssender"),
    ],
)
async def test_validation_errors_use_bsg_envelope(
    bsg: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any], field: str
) -> None:
    r = await bsg.post("/api/campaigns/rcs/send", json=body, headers=key(tenant))
    assert r.status_code == 422, r.text
    payload = r.json()
    assert payload["message"] == "The given data was invalid."
    assert field in payload["errors"], payload


async def test_bad_json_and_unknown_campaign(bsg: httpx.AsyncClient, tenant: Tenant) -> None:
    r = await bsg.post(
        "/api/campaigns/rcs/send",
        content=b"{not json",
        headers=key(tenant) | {"Content-Type": "application/json"},
    )
    assert r.status_code == 422 and "body" in r.json()["errors"]
    r = await bsg.get("/api/campaigns/999999", headers=key(tenant))
    assert (r.status_code, r.json()) == (404, {"message": "Model not found"})
    r = await bsg.get("/api/campaigns/abc", headers=key(tenant))
    assert r.status_code == 404


async def test_other_accounts_campaign_is_not_found(
    bsg: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    r = await bsg.post("/api/campaigns/rcs/send", json=send_body(1), headers=key(tenant))
    cid = r.json()["data"]["id"]
    other = await accounts.create(db, name="other", balance=Decimal("5"), currency="USD")
    stranger = Tenant(other.account_id, other.api_key)
    for method, path in (("GET", ""), ("PUT", "/renew"), ("PATCH", "/stop")):
        r = await bsg.request(method, f"/api/campaigns/{cid}{path}", headers=key(stranger))
        assert (r.status_code, r.json()) == (404, {"message": "Model not found"})


async def test_duplicate_request_is_429(bsg: httpx.AsyncClient, tenant: Tenant) -> None:
    body = send_body(2)
    assert (
        await bsg.post("/api/campaigns/rcs/send", json=body, headers=key(tenant))
    ).status_code == 200
    r = await bsg.post("/api/campaigns/rcs/send", json=body, headers=key(tenant))
    assert (r.status_code, r.json()) == (429, {"message": "Too many duplicate request detected"})
    # A request that failed is not remembered: sent again it fails the same way.
    unreachable = send_body(1, phones=[{"number": "999999999"}])
    for _ in range(2):
        r = await bsg.post("/api/campaigns/rcs/send", json=unreachable, headers=key(tenant))
        assert r.status_code == 422, r.text


async def test_scheduled_start_and_contact_book(
    bsg: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    r = await bsg.post(
        "/api/campaigns/rcs/send",
        json=send_body(3, start_at="2099-01-01 10:00:00"),
        headers=key(tenant),
    )
    assert r.status_code == 422  # more than 30 days ahead
    from datetime import UTC, datetime, timedelta

    later = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%d %H:%M:%S")
    r = await bsg.post(
        "/api/campaigns/rcs/send", json=send_body(3, start_at=later), headers=key(tenant)
    )
    data = r.json()["data"]
    assert data["status"] == "scheduled"
    assert data["start_at"] == later  # the account's zone is UTC
    assert data["real_start_at"] is None
    async with db.read() as conn:
        cards = (await conn.execute(select(func.count()).select_from(contact_cards))).scalar()
    assert cards == 3  # add_to_contact_book defaults to true
    r = await bsg.post(
        "/api/campaigns/rcs/send",
        json=send_body(2, add_to_contact_book=False, sender="nobook"),
        headers=key(tenant),
    )
    assert r.status_code == 200
    async with db.read() as conn:
        assert (await conn.execute(select(func.count()).select_from(contact_cards))).scalar() == 3


async def test_single_message(
    bsg: httpx.AsyncClient, tenant: Tenant, db: Database, dispatcher: Dispatcher, rcs: SimulatedRcs
) -> None:
    body = {
        "phone": {"number": "77010000009", "reference_id": "order42"},
        "sender": "acme_rcs",
        "options": {"text": "Hi"},
        "validity_seconds": 600,
        "callback_url": "https://example.com/rcs-status",
    }
    r = await bsg.post("/api/messages/rcs/send", json=body, headers=key(tenant))
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["status"] == "accepted"
    assert data["type"] == "rcs" and data["source"] == "rest"
    assert data["phone"] == 77010000009
    assert data["reference_id"] == "order42"
    assert data["validity"] == 1  # 600 s, in whole hours
    assert data["amount"] == {"value": "0.0500000", "currency": "USD"}
    async with db.read() as conn:
        row = (await conn.execute(select(messages).where(messages.c.id == data["id"]))).one()
    assert row.variables == {"reference_id": "order42"}
    broke = await accounts.create(db, name="broke", balance=Decimal("0.01"), currency="USD")
    r = await bsg.post("/api/messages/rcs/send", json=body, headers={"X-API-KEY": broke.api_key})
    assert (r.status_code, r.json()) == (422, {"message": "Not enough funds", "errors": []})


async def test_send_groups(
    bsg: httpx.AsyncClient, tenant: Tenant, db: Database, dispatcher: Dispatcher, rcs: SimulatedRcs
) -> None:
    group = await contacts.create_group(db, account_id=tenant.id, name="vip")
    for n in numbers(4):
        await contacts.create_card(
            db,
            account_id=tenant.id,
            spec=contacts.CardSpec(
                name=n,
                contacts=[contacts.ContactIn("mobile", "+" + n)],
                groups=[group.id],
            ),
        )
    body = {"groups": [group.id], "sender": "acme_rcs", "options": {"text": "VIP offer"}}
    r = await bsg.post("/api/campaigns/rcs/send-groups", json=body, headers=key(tenant))
    assert r.status_code == 200, r.text
    cid = r.json()["data"]["id"]
    assert r.json()["data"]["alternative_channels"] is None
    await run_until(dispatcher, db, cid, "DONE")
    assert sorted(p for p, _ in await _main_phones(db, cid)) == ["+" + n for n in numbers(4)]
    r = await bsg.post(
        "/api/campaigns/rcs/send-groups", json=body | {"groups": [424242]}, headers=key(tenant)
    )
    assert r.status_code == 422 and "groups" in r.json()["errors"]


async def test_spam_until_approved(
    bsg: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    settings: Settings,
    dispatcher: Dispatcher,
    rcs: SimulatedRcs,
) -> None:
    settings.moderation_patterns = ["free money"]
    r = await bsg.post(
        "/api/campaigns/rcs/send",
        json=send_body(2, options={"text": "FREE MONEY inside"}),
        headers=key(tenant),
    )
    cid = r.json()["data"]["id"]
    assert r.json()["data"]["status"] == "spam"
    for _ in range(5):
        await dispatcher.tick()
    assert (await get(bsg, tenant, cid))["statistics"]["sent"] == 0
    op = await accounts.create(db, name="ops", balance=Decimal("0"), currency="USD")
    await accounts.configure(db, account_id=op.account_id, is_operator=True)
    r = await bsg.post(
        f"/v1/moderation/campaigns/{cid}/approve",
        headers={"Authorization": f"Bearer {op.api_key}"},
    )
    assert r.status_code == 200
    assert (await get(bsg, tenant, cid))["status"] == "scheduled"
    await run_until(dispatcher, db, cid, "DONE")
