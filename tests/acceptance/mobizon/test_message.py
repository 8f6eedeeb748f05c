"""Message/SendSmsMessage, GetSMSStatus and List."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from tests.acceptance.mobizon.conftest import set_account
from tests.acceptance.mobizon.php import MobizonClient
from tests.conftest import Tenant
from tests.helpers import drain, phones

from clarion.channels.base import Outcome
from clarion.channels.fake import FakeChannel
from clarion.dispatch.engine import Dispatcher
from clarion.services import campaigns
from clarion.store.db import Database


async def test_send_sms_message_as_the_sdk_example(
    api: MobizonClient, db: Database, tenant: Tenant, dispatcher: Dispatcher
) -> None:
    body = await api.call(
        "message",
        "sendSMSMessage",
        {"recipient": "77010000001", "text": "Test sms message", "params[validity]": 1440},
    )
    assert body["code"] == 0, body
    data = body["data"]
    assert set(data) == {"campaignId", "messageId", "status"} and data["status"] == 2
    row = await campaigns.get(db, account_id=tenant.id, campaign_id=int(data["campaignId"]))
    assert (row.type, row.status, row.validity_minutes) == ("single", "RUNNING", 1440)

    status = await api.call("message", "getsmsstatus", {"ids": data["messageId"]})
    (queued,) = status["data"]
    assert {k: queued[k] for k in ("id", "status", "segNum")} == {
        "id": data["messageId"],
        "status": "NEW",
        "segNum": "1",
    }
    # Not sent yet: both times show the creation time, never null (clients strptime them).
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", queued["startSendTs"])
    assert queued["statusUpdateTs"] == queued["startSendTs"]
    await drain(dispatcher)
    (delivered,) = (await api.call("message", "getsmsstatus", {"ids": [data["messageId"]]}))["data"]
    assert delivered["status"] == "DELIVRD"
    assert delivered["startSendTs"] is not None and delivered["statusUpdateTs"] is not None


async def test_send_sms_message_options_and_moderation(
    api: MobizonClient, db: Database, tenant: Tenant
) -> None:
    await set_account(db, tenant.id, moderation_required=True)
    start = (datetime.now(UTC) + timedelta(hours=2)).strftime("%Y-%m-%d %H:%M:%S")
    body = await api.call(
        "message",
        "sendsmsmessage",
        {
            "recipient": "77010000001",
            "text": "later",
            "from": "Alpha",
            "params": {"name": "one-off", "deferredToTs": start, "mclass": 0},
        },
    )
    assert body["data"]["status"] == 1
    info = (await api.call("campaign", "getinfo", {"id": body["data"]["campaignId"]}))["data"]
    assert (info["name"], info["from"], info["mclass"], info["type"]) == (
        "one-off",
        "Alpha",
        "0",
        "1",
    )
    assert info["deferredToTs"] == start


async def test_send_sms_message_errors_leave_nothing_behind(api: MobizonClient) -> None:
    bad = await api.call("message", "sendsmsmessage", {"recipient": "123", "text": "x"})
    assert bad["code"] == 1 and "recipient" in bad["data"]
    missing = await api.call("message", "sendsmsmessage", {"text": ""})
    assert missing["code"] == 1 and {"recipient", "text"} <= set(missing["data"])
    listed = await api.call("campaign", "list")
    assert listed["data"]["totalItemCount"] == "0"


async def test_get_sms_status_limits(api: MobizonClient) -> None:
    assert (await api.call("message", "getsmsstatus"))["code"] == 2
    too_many = ",".join(str(n) for n in range(1, 102))
    assert (await api.call("message", "getsmsstatus", {"ids": too_many}))["code"] == 12
    assert await api.call("message", "getsmsstatus", {"ids": "424242,x"}) == {
        "code": 0,
        "data": [],
        "message": "",
    }


async def test_message_list(api: MobizonClient, dispatcher: Dispatcher, fake: FakeChannel) -> None:
    created = await api.call(
        "campaign", "create", {"data": {"type": 3, "text": "Hi {name}", "from": "Alpha"}}
    )
    campaign_id = created["data"]
    numbers = phones(3)
    rows = [{"recipient": p, "name": f"N{i}"} for i, p in enumerate(numbers)]
    await api.call("campaign", "addrecipients", {"id": campaign_id, "recipients": rows})
    fake.outcomes = {numbers[2]: Outcome.PERMANENT}
    await api.call("campaign", "send", {"id": campaign_id})
    await drain(dispatcher)

    body = await api.call(
        "message",
        "list",
        {"criteria": {"campaignIds": campaign_id}, "sort": {"to": "ASC"}, "withNumberInfo": 1},
    )
    assert body["code"] == 0 and body["data"]["totalItemCount"] == "3"
    first = body["data"]["items"][0]
    assert first["to"] == numbers[0].lstrip("+")
    assert (first["text"], first["from"], first["status"]) == ("Hi N0", "Alpha", "DELIVRD")
    assert (first["segNum"], first["segUserBuy"], first["countryA2"]) == ("1", "0.0500", "KZ")
    assert first["campaignId"] == campaign_id

    async def count(**criteria: object) -> str:
        found = await api.call("message", "list", {"criteria": criteria})
        assert found["code"] == 0, found
        return str(found["data"]["totalItemCount"])

    assert await count(status="REJECTD") == "1"
    assert await count(status="DELIVRD", campaignIds=[campaign_id]) == "2"
    assert await count(to=numbers[1][-4:]) == "1"
    assert await count(text="Hi N1") == "1"
    assert await count(**{"from": "Beta"}) == "0"
    assert await count(campaignStatus="DONE") == "3"
    assert await count(startSendTsFrom="2000-01-01 00:00:00") == "3"
    assert await count(statusUpdateTsTo="2000-01-01 00:00:00") == "0"
    for bad in ({"status": "NOPE"}, {"groups": "1"}, {"startSendTsFrom": "yesterday"}):
        assert (await api.call("message", "list", {"criteria": bad}))["code"] == 12
    paged = await api.call("message", "list", {"pagination": {"pageSize": 1, "currentPage": 2}})
    assert len(paged["data"]["items"]) == 1 and paged["data"]["totalItemCount"] == "3"
