"""BSG speaks RCS: a voice campaign or a plain SMS one made through /v1 (and an RCS
campaign's SMS fallback child) is ``404 Model not found`` on every campaign endpoint,
exactly as an id that does not exist, and nothing about it changes."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import update
from tests.conftest import Tenant
from tests.helpers import phones

from clarion.channels.sim_rcs import SimulatedRcs
from clarion.dispatch.engine import Dispatcher
from clarion.store import campaigns as campaign_store
from clarion.store.db import Database
from clarion.store.schema import campaigns

NOT_FOUND = (404, {"message": "Model not found"})
VOICE: dict[str, Any] = {
    "name": "voice reminders",
    "channel": "voice",
    "sender": "+4930123456",
    "text": "Hello, your appointment is tomorrow.",
    "voice": {"type": "autocall", "concurrent_call": 2},
}
SMS: dict[str, Any] = {"name": "sms promo", "channel": "sms", "text": "Sale!", "sender": "ACME"}
RCS: dict[str, Any] = {
    "name": "rcs promo",
    "channel": "rcs",
    "sender": "acme_agent",
    "content": {"text": "Spring sale: everything -20%"},
    "fallback": {"text": "Spring sale by SMS", "sender": "ACME"},
}


@pytest.fixture
def rcs(dispatcher: Dispatcher) -> SimulatedRcs:
    channel = SimulatedRcs(dispatcher.report_sink, seed=5, dlr_min_delay=0.0, dlr_max_delay=0.0)
    dispatcher.channels["sim_rcs"] = channel
    return channel


def key(tenant: Tenant) -> dict[str, str]:
    return {"X-API-KEY": tenant.key}


async def started(
    client: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any], numbers: list[str]
) -> int:
    """A campaign made, filled and started through /v1 (RUNNING: BSG could stop it)."""
    r = await client.post("/v1/campaigns", json=body, headers=tenant.headers)
    assert r.status_code == 201, r.text
    campaign_id = int(r.json()["id"])
    r = await client.post(
        f"/v1/campaigns/{campaign_id}/recipients",
        json={"recipients": [{"phone": p} for p in numbers]},
        headers=tenant.headers,
    )
    assert r.status_code == 200, r.text
    r = await client.post(f"/v1/campaigns/{campaign_id}/start", headers=tenant.headers)
    assert r.status_code == 200 and r.json()["status"] == "RUNNING", r.text
    return campaign_id


async def status(db: Database, campaign_id: int) -> tuple[str, str | None]:
    async with db.read() as conn:
        row = await campaign_store.get(conn, campaign_id)
    assert row is not None
    return row.status, row.pause_reason


async def pause_for_funds(db: Database, campaign_id: int) -> None:
    """What the dispatcher does when the balance runs out (renew's precondition)."""
    async with db.begin() as conn:
        await conn.execute(
            update(campaigns)
            .where(campaigns.c.id == campaign_id)
            .values(status="PAUSED", pause_reason="funds")
        )


async def answers(client: httpx.AsyncClient, tenant: Tenant, campaign_id: int) -> list[Any]:
    """GET, renew and stop, as (HTTP status, body)."""
    out = []
    for method, path in (
        ("GET", f"/api/campaigns/{campaign_id}"),
        ("PUT", f"/api/campaigns/{campaign_id}/renew"),
        ("PATCH", f"/api/campaigns/{campaign_id}/stop"),
    ):
        r = await client.request(method, path, headers=key(tenant))
        out.append((r.status_code, r.json()))
    return out


async def test_voice_and_sms_campaigns_are_not_found(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, rcs: SimulatedRcs
) -> None:
    voice = await started(client, tenant, VOICE, phones(2))
    sms = await started(client, tenant, SMS, phones(2, start=10))
    rcs_v1 = await started(client, tenant, RCS, phones(2, start=20))
    async with db.read() as conn:
        kid = await campaign_store.child(conn, rcs_v1)
    assert kid is not None
    child = int(kid.id)
    missing = child + 1000

    assert await answers(client, tenant, missing) == [NOT_FOUND] * 3
    for hidden in (voice, sms, child):
        assert await answers(client, tenant, hidden) == [NOT_FOUND] * 3, hidden
    # Not stopped: the campaigns run on (the child runs while its parent does).
    assert await status(db, voice) == ("RUNNING", None)
    assert await status(db, sms) == ("RUNNING", None)
    assert await status(db, child) == ("RUNNING", None)
    # Paused for lack of funds, renew would resume them: not through BSG.
    for hidden in (voice, sms):
        await pause_for_funds(db, hidden)
        r = await client.put(f"/api/campaigns/{hidden}/renew", headers=key(tenant))
        assert (r.status_code, r.json()) == NOT_FOUND
        assert await status(db, hidden) == ("PAUSED", "funds")

    # An RCS campaign is BSG's, wherever it was made: shown with its fallback, stopped.
    (got, renewed, stopped) = await answers(client, tenant, rcs_v1)
    assert got[0] == 200 and got[1]["data"]["id"] == rcs_v1
    assert got[1]["data"]["message_type"] == "rcs" and got[1]["data"]["status"] == "sending"
    assert got[1]["data"]["alternative_channels"] == {
        "sms": {"statistic": {"delivered": 0, "sent": 0}}
    }
    assert renewed == (422, {"message": "Invalid campaign status", "errors": []})
    assert stopped[0] == 200 and stopped[1]["data"]["status"] == "stopped"
    assert await status(db, child) == ("STOPPED", None)


async def test_bsg_sends_are_seen_and_voice_is_not(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, rcs: SimulatedRcs
) -> None:
    """With bearer-token auth too: the id of a BSG send is found, a voice one is not."""
    r = await client.post("/api/auth/login", json={"api_key": tenant.key})
    bearer = {"Authorization": f"Bearer {r.json()['bearer']}"}
    body = {
        "phones": [{"number": p.lstrip("+")} for p in phones(2, start=40)],
        "sender": "acme_rcs",
        "options": {"text": "Hello"},
    }
    r = await client.post("/api/campaigns/rcs/send", json=body, headers=bearer)
    assert r.status_code == 200, r.text
    sent = r.json()["data"]["id"]
    voice = await started(client, tenant, VOICE, phones(2, start=50))
    r = await client.get(f"/api/campaigns/{sent}", headers=bearer)
    assert r.status_code == 200 and r.json()["data"]["alternative_channels"] is None
    r = await client.get(f"/api/campaigns/{voice}", headers=bearer)
    assert (r.status_code, r.json()) == NOT_FOUND
    r = await client.patch(f"/api/campaigns/{voice}/stop", headers=bearer)
    assert (r.status_code, r.json()) == NOT_FOUND
    assert await status(db, voice) == ("RUNNING", None)
