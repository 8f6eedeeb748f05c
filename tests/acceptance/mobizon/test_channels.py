"""Mobizon speaks SMS: a voice or RCS campaign made through /v1 (and an RCS campaign's
SMS fallback) answers every Campaign and Message method exactly as an id that does not
exist, nothing about it changes, and lists leave it out of their items and totals."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from tests.acceptance.mobizon.php import MobizonClient
from tests.conftest import Tenant
from tests.helpers import drain, phones

from clarion.channels.fake import FakeChannel
from clarion.channels.sim_rcs import SimulatedRcs
from clarion.dispatch.engine import Dispatcher
from clarion.store import campaigns as campaign_store
from clarion.store.db import Database
from clarion.store.schema import messages

VOICE: dict[str, Any] = {
    "name": "voice reminders",
    "channel": "voice",
    "sender": "+4930123456",
    "text": "Hello, your appointment is tomorrow.",
    "voice": {"type": "autocall", "concurrent_call": 2},
}
RCS: dict[str, Any] = {
    "name": "rcs promo",
    "channel": "rcs",
    "sender": "acme_agent",
    "content": {"text": "Spring sale: everything -20%"},
    "fallback": {"text": "Spring sale by SMS", "sender": "ACME"},
}


@pytest.fixture
def rcs(dispatcher: Dispatcher) -> SimulatedRcs:
    """No number is RCS-capable: every RCS message falls back to SMS."""
    channel = SimulatedRcs(
        dispatcher.report_sink, seed=5, capable_share=0.0, dlr_min_delay=0.0, dlr_max_delay=0.0
    )
    dispatcher.channels["sim_rcs"] = channel
    return channel


async def v1_campaign(
    client: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any], numbers: list[str]
) -> int:
    r = await client.post("/v1/campaigns", json=body, headers=tenant.headers)
    assert r.status_code == 201, r.text
    campaign_id = int(r.json()["id"])
    r = await client.post(
        f"/v1/campaigns/{campaign_id}/recipients",
        json={"recipients": [{"phone": p} for p in numbers]},
        headers=tenant.headers,
    )
    assert r.status_code == 200 and r.json()["added"] == len(numbers), r.text
    return campaign_id


async def sent_rcs(
    client: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    dispatcher: Dispatcher,
    numbers: list[str],
) -> tuple[int, int]:
    """An RCS campaign run to DONE, every message fallen back: (its id, its child's)."""
    campaign_id = await v1_campaign(client, tenant, RCS | {"name": "rcs sent"}, numbers)
    r = await client.post(f"/v1/campaigns/{campaign_id}/start", headers=tenant.headers)
    assert r.status_code == 200, r.text
    await drain(dispatcher)
    async with db.read() as conn:
        row = await campaign_store.get(conn, campaign_id)
        kid = await campaign_store.child(conn, campaign_id)
    assert row is not None and row.status == "DONE"
    assert kid is not None and len(await message_ids(db, kid.id)) == len(numbers)
    return campaign_id, int(kid.id)


async def sms_campaign(api: MobizonClient, numbers: list[str], name: str = "sms") -> str:
    body = await api.call("campaign", "create", {"data": {"name": name, "text": "Hello"}})
    assert body["code"] == 0, body
    campaign_id = str(body["data"])
    added = await api.call("campaign", "addrecipients", {"id": campaign_id, "recipients": numbers})
    assert added["code"] == 0, added
    return campaign_id


async def message_ids(db: Database, campaign_id: int) -> list[int]:
    async with db.read() as conn:
        result = await conn.execute(
            select(messages.c.id)
            .where(messages.c.campaign_id == campaign_id)
            .order_by(messages.c.id)
        )
        return [int(i) for i in result.scalars()]


async def state(db: Database, campaign_id: int) -> tuple[str, int, Any]:
    """(status, messages, import task) straight from the database."""
    async with db.read() as conn:
        row = await campaign_store.get(conn, campaign_id)
        count = await conn.execute(
            select(func.count()).where(messages.c.campaign_id == campaign_id)
        )
    assert row is not None
    return row.status, int(count.scalar_one()), row.import_task_id


async def test_voice_and_rcs_campaigns_answer_as_missing_ids(
    api: MobizonClient,
    client: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    dispatcher: Dispatcher,
    fake: FakeChannel,
    rcs: SimulatedRcs,
) -> None:
    sms = await sms_campaign(api, phones(2))
    voice = await v1_campaign(client, tenant, VOICE, phones(2, start=10))
    rcs_draft = await v1_campaign(client, tenant, RCS, phones(2, start=20))
    rcs_done, child = await sent_rcs(client, tenant, db, dispatcher, phones(2, start=30))
    missing = child + 1000
    group = (await api.call("contactgroup", "create", {"data": {"name": "VIP"}}))["data"]
    card = await api.call("contactcard", "create", {"data": {"mobile": {"value": "77010009999"}}})
    assert (await api.call("contactcard", "setgroups", {"id": card["data"], "groupIds": [group]}))[
        "data"
    ] is True
    before = {cid: await state(db, cid) for cid in (voice, rcs_draft, rcs_done, child)}
    assert before[voice] == ("DRAFT", 2, None) and before[rcs_draft] == ("DRAFT", 2, None)

    async def answers(campaign_id: int | str) -> list[dict[str, Any]]:
        """Every Campaign method that takes a campaign id; the ones that would change
        it last (Send, Delete)."""
        cid = str(campaign_id)
        return [
            await api.call("campaign", "get", {"id": cid}),
            await api.call("campaign", "getinfo", {"id": cid, "getFilledTplCampaignText": 1}),
            await api.call("campaign", "getlinks", {"id": cid}),
            await api.call("link", "getlinks", {"campaignId": cid}),
            await api.call(
                "campaign", "addrecipients", {"id": cid, "recipients": phones(1, start=90)}
            ),
            await api.call("campaign", "addrecipients", {"id": cid, "recipientGroups": group}),
            await api.upload(
                "campaign",
                "addrecipients",
                {"id": cid},
                {"recipientsFile": ("n.csv", b"77010000091\n77010000092\n", "text/csv")},
            ),
            await api.call("campaign", "send", {"id": cid}),
            await api.call("campaign", "delete", {"id": cid}),
        ]

    def not_found(campaign_id: int) -> dict[str, Any]:
        return {"code": 2, "data": [], "message": f"campaign {campaign_id} not found"}

    assert await answers(missing) == [not_found(missing)] * 9
    for hidden in (voice, rcs_draft, rcs_done, child):
        assert await answers(hidden) == [not_found(hidden)] * 9, hidden
    # Nothing was read into, added to, started or deleted.
    assert {cid: await state(db, cid) for cid in before} == before
    # The same requests on the SMS campaign do what they say (the requests are right):
    # the group import starts and locks the campaign, so the file, Send and Delete that
    # follow it are code 10.
    control = await answers(sms)
    assert [a["code"] for a in control] == [0, 0, 0, 0, 0, 100, 10, 10, 10]
    assert control[0]["data"]["id"] == sms and control[1]["data"]["counters"]["totalMsgNum"] == "2"
    assert control[4]["data"][0]["messageId"] is not None


async def test_lists_and_statuses_leave_other_channels_out(
    api: MobizonClient,
    client: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    dispatcher: Dispatcher,
    fake: FakeChannel,
    rcs: SimulatedRcs,
) -> None:
    first = await sms_campaign(api, phones(2), name="first")
    second = await sms_campaign(api, phones(2, start=2), name="second")
    voice = await v1_campaign(client, tenant, VOICE, phones(2, start=10))
    rcs_draft = await v1_campaign(client, tenant, RCS, phones(2, start=20))
    rcs_done, child = await sent_rcs(client, tenant, db, dispatcher, phones(2, start=30))
    hidden = [voice, rcs_draft, rcs_done, child]
    every = [int(first), int(second), *hidden]

    async def campaigns(**params: Any) -> tuple[list[str], str]:
        body = await api.call("campaign", "list", params)
        assert body["code"] == 0, body
        return [i["id"] for i in body["data"]["items"]], body["data"]["totalItemCount"]

    assert await campaigns() == ([second, first], "2")
    assert await campaigns(pagination={"pageSize": 1, "currentPage": 1}) == ([first], "2")
    assert await campaigns(pagination={"pageSize": 1, "currentPage": 2}) == ([], "2")
    assert await campaigns(criteria={"ids": every[:10]}) == ([second, first], "2")
    for cid in hidden:
        assert await campaigns(criteria={"id": cid}) == ([], "0")
    assert await campaigns(criteria={"recipient": phones(1, start=10)[0][1:]}) == ([], "0")
    assert await campaigns(criteria={"recipient": phones(1, start=30)[0][1:]}) == ([], "0")
    assert await campaigns(sort={"counters.totalMsgNum": "DESC"}) == ([second, first], "2")

    sms_messages = await message_ids(db, int(first)) + await message_ids(db, int(second))

    async def listed(**params: Any) -> tuple[list[int], str]:
        body = await api.call("message", "list", params)
        assert body["code"] == 0, body
        return [int(i["id"]) for i in body["data"]["items"]], body["data"]["totalItemCount"]

    assert await listed(sort={"id": "ASC"}) == (sms_messages, "4")
    assert await listed(pagination={"pageSize": 3, "currentPage": 1}) == (sms_messages[:1], "4")
    assert await listed(criteria={"campaignIds": hidden}) == ([], "0")
    assert await listed(criteria={"campaignIds": [child, int(first)]}) == (
        sms_messages[1::-1],
        "2",
    )
    assert await listed(criteria={"to": phones(1, start=31)[0][1:]}) == ([], "0")
    assert await listed(criteria={"campaignStatus": "DONE"}) == ([], "0")

    others = [m for cid in hidden for m in await message_ids(db, cid)]
    assert len(others) == 8
    body = await api.call(
        "message", "getsmsstatus", {"ids": ",".join(str(m) for m in others + sms_messages)}
    )
    assert body["code"] == 0
    assert [int(item["id"]) for item in body["data"]] == sms_messages
    alone = await api.call("message", "getsmsstatus", {"ids": [str(m) for m in others]})
    assert alone == {"code": 0, "data": [], "message": ""}
