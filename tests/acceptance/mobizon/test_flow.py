"""A whole campaign through the Mobizon dialect, as a PHP application would run it:
Create -> AddRecipients (template rows, plain numbers, a CSV file through a
background task) -> GetInfo (pre-cost) -> Send -> the dispatcher sends everything ->
GetInfo counters and costs equal the message rows -> GetSMSStatus, List, balance."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from tests.acceptance.mobizon.conftest import set_account
from tests.acceptance.mobizon.php import MobizonClient
from tests.conftest import Tenant
from tests.helpers import drain, phones

from clarion.channels.base import Outcome
from clarion.channels.fake import FakeChannel
from clarion.dialects.mobizon import statuses
from clarion.dispatch.engine import Dispatcher
from clarion.domain.lifecycle import MessageStatus
from clarion.services import imports
from clarion.store.db import Database
from clarion.store.schema import messages


async def rows_of(db: Database, campaign_id: int) -> list[Any]:
    async with db.read() as conn:
        result = await conn.execute(
            select(
                messages.c.id,
                messages.c.phone,
                messages.c.status,
                messages.c.segments,
                messages.c.price,
                messages.c.charged,
                messages.c.text,
            )
            .where(messages.c.campaign_id == campaign_id)
            .order_by(messages.c.id)
        )
        return list(result)


async def test_full_campaign(
    api: MobizonClient,
    db: Database,
    tenant: Tenant,
    dispatcher: Dispatcher,
    fake: FakeChannel,
) -> None:
    await set_account(db, tenant.id, timezone="Asia/Almaty")
    numbers = phones(12)

    # Create a template campaign, as in Mobizon's example
    created = await api.call(
        "campaign",
        "create",
        {"data": {"type": 3, "from": "Alpha", "text": "Hello {name}! Your balance is {balance}."}},
    )
    assert created["code"] == 0
    campaign_id = created["data"]

    # 1) template rows, one of them broken -> 98
    rows = [
        {"recipient": numbers[0], "name": "Ann", "balance": "10.00"},
        {"recipient": numbers[1], "name": "Bob", "balance": "3.50"},
        {"recipient": "12345", "name": "Nobody"},
    ]
    body = await api.call("campaign", "addrecipients", {"id": campaign_id, "recipients": rows})
    assert body["code"] == 98
    assert [r["code"] for r in body["data"]] == [0, 0, 3]

    # 2) plain numbers with recipients[]: placeholders stay (Mobizon's flag 1)
    body = await api.call(
        "campaign", "addrecipients", {"id": campaign_id, "recipients": numbers[2:4]}
    )
    assert body["code"] == 0

    # 3) a CSV file through a background task
    csv = "recipient,name,balance\n" + "".join(
        f"{n.lstrip('+')},Guest {i},{i}.00\n" for i, n in enumerate(numbers[4:], start=4)
    )
    body = await api.upload(
        "campaign",
        "addrecipients",
        {"id": campaign_id},
        {"recipientsFile": ("guests.csv", csv.encode(), "text/csv")},
    )
    assert body["code"] == 100
    task_id = body["data"]
    assert (await api.call("taskqueue", "getstatus", {"id": task_id}))["data"]["status"] == 0
    assert await imports.run(db, int(task_id)) == "DONE"
    assert (await api.call("taskqueue", "getstatus", {"id": task_id}))["data"] == {
        "id": task_id,
        "status": 2,
        "progress": 100,
    }

    # Pre-cost: every message NEW, priced, before anything is sent
    before = await rows_of(db, int(campaign_id))
    assert len(before) == 12
    assert before[2].text == "Hello {name}! Your balance is {balance}."
    info = (await api.call("campaign", "getinfo", {"id": campaign_id}))["data"]
    counters = info["counters"]
    pre_cost = sum((r.price for r in before), Decimal(0))
    assert counters["totalNewMsgNum"] == counters["totalMsgNum"] == "12"
    assert counters["totalSegNum"] == str(sum(r.segments for r in before))
    assert Decimal(counters["totalCost"]) == Decimal(counters["totalNewMsgCost"]) == pre_cost
    assert counters["recipientsRejected"] == "1"
    balance_before = Decimal((await api.call("user", "getownbalance"))["data"]["balance"])

    # Send; the carrier rejects one number outright, delivers the rest
    fake.outcomes = {numbers[5]: Outcome.PERMANENT}
    assert (await api.call("campaign", "send", {"id": campaign_id}))["data"] == 2
    await drain(dispatcher)

    info = (await api.call("campaign", "getinfo", {"id": campaign_id}))["data"]
    assert info["commonStatus"] == info["sendStatus"] == "DONE"
    assert info["startSendTs"] is not None and info["endSendTs"] is not None
    after = await rows_of(db, int(campaign_id))
    assert {r.status for r in after} == {"DELIVERED", "REJECTED"}

    # The counters are the message rows, bucket by bucket
    count: dict[str, int] = defaultdict(int)
    segments: dict[str, int] = defaultdict(int)
    cost: dict[str, Decimal] = defaultdict(Decimal)
    for r in after:
        bucket = statuses.COUNTER_BUCKET[MessageStatus(r.status)]
        count[bucket] += 1
        segments[bucket] += r.segments
        cost[bucket] += r.price
    counters = info["counters"]
    for name in statuses.COUNTER_BUCKETS:
        assert counters[f"total{name}MsgNum"] == str(count[name]), name
        assert counters[f"total{name}SegNum"] == str(segments[name]), name
        assert Decimal(counters[f"total{name}MsgCost"]) == cost[name], name
    assert counters["totalDelivrdMsgNum"] == "11" and counters["totalRejectdMsgNum"] == "1"
    assert Decimal(counters["totalCost"]) == pre_cost

    # Money: only delivered messages were charged (the rejection was refunded)
    charged = sum((r.charged for r in after), Decimal(0))
    delivered_cost = sum((r.price for r in after if r.status == "DELIVERED"), Decimal(0))
    assert charged == delivered_cost
    balance_after = Decimal((await api.call("user", "getownbalance"))["data"]["balance"])
    assert balance_before - balance_after == charged

    # Per-message statuses, through GetSMSStatus and Message/List
    ids = [str(r.id) for r in after]
    found = (await api.call("message", "getsmsstatus", {"ids": ",".join(ids)}))["data"]
    assert [m["id"] for m in found] == ids
    assert {m["status"] for m in found} == {"DELIVRD", "REJECTD"}
    listed = await api.call("message", "list", {"criteria": {"campaignIds": campaign_id}})
    assert listed["data"]["totalItemCount"] == "12"

    # And the campaign is DONE in Campaign/List
    done = await api.call("campaign", "list", {"criteria": {"status": "DONE"}})
    assert [i["id"] for i in done["data"]["items"]] == [campaign_id]
