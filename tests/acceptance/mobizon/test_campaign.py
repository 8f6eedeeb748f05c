"""Campaign/Create, Get, GetInfo, Delete, Send, List over the wire, as the PHP SDK
sends them (AddRecipients: test_recipients.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import update
from tests.acceptance.mobizon.conftest import set_account
from tests.acceptance.mobizon.php import MobizonClient
from tests.conftest import Tenant
from tests.helpers import phones

from clarion.dialects.mobizon import statuses
from clarion.services import campaigns
from clarion.store.db import Database
from clarion.store.schema import campaigns as campaign_table

ALMATY = ZoneInfo("Asia/Almaty")


def local(moment: datetime, tz: Any = UTC) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


async def create(api: MobizonClient, **data: Any) -> str:
    body = await api.call("campaign", "create", {"data": {"text": "Hello", **data}})
    assert body["code"] == 0, body
    assert isinstance(body["data"], str) and body["data"].isdigit()
    return str(body["data"])


async def with_recipients(api: MobizonClient, count: int = 2, **data: Any) -> str:
    campaign_id = await create(api, **data)
    body = await api.call(
        "campaign", "addrecipients", {"id": campaign_id, "recipients": phones(count)}
    )
    assert body["code"] == 0, body
    return campaign_id


async def shift(db: Database, campaign_id: str, **values: Any) -> None:
    async with db.begin() as conn:
        await conn.execute(
            update(campaign_table).where(campaign_table.c.id == int(campaign_id)).values(**values)
        )


# --- Create / Get ---------------------------------------------------------------------


async def test_create_with_the_seed_example_and_get_it(
    api: MobizonClient, db: Database, tenant: Tenant
) -> None:
    campaign_id = await create(
        api, type=3, **{"from": "Alpha"}, text="Hello {name}! Your balance by {date} is {balance}."
    )
    body = await api.call("campaign", "get", {"id": campaign_id})
    assert body["code"] == 0
    assert body["data"] == {
        "id": campaign_id,
        "type": "3",
        "name": body["data"]["name"],
        "text": "Hello {name}! Your balance by {date} is {balance}.",
        "msgType": "SMS",
        "from": "Alpha",
        "rateLimit": None,
        "ratePeriod": None,
        "deferredToTs": None,
        "mclass": "1",
        "ttl": None,
        "validity": None,
        "trackShortLinkRecipients": "0",
    }
    row = await campaigns.get(db, account_id=tenant.id, campaign_id=int(campaign_id))
    assert (row.type, row.placeholders_flag, row.status) == ("template", 1, "DRAFT")


async def test_create_defaults_to_a_mass_campaign(api: MobizonClient) -> None:
    campaign_id = await create(api, name="Black Friday")
    data = (await api.call("campaign", "get", {"id": campaign_id}))["data"]
    assert (data["type"], data["name"], data["from"]) == ("2", "Black Friday", "")


async def test_create_all_the_options(api: MobizonClient, db: Database, tenant: Tenant) -> None:
    await set_account(db, tenant.id, timezone="Asia/Almaty")
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=3)
    campaign_id = await create(
        api,
        type=1,
        rateLimit=600,
        ratePeriod=60,
        deferredToTs=local(start, ALMATY),
        mclass=0,
        validity=120,
        trackShortLinkRecipients=1,
    )
    data = (await api.call("campaign", "get", {"id": campaign_id}))["data"]
    assert data["deferredToTs"] == local(start, ALMATY)
    assert (data["rateLimit"], data["ratePeriod"], data["mclass"]) == ("600", "60", "0")
    assert (data["validity"], data["ttl"], data["trackShortLinkRecipients"]) == ("120", "120", "1")
    row = await campaigns.get(db, account_id=tenant.id, campaign_id=int(campaign_id))
    assert row.start_at == start
    assert row.settings == {"track_short_link_recipients": True}
    assert row.type == "single"


async def test_ttl_sets_the_validity_and_a_rate_limit_defaults_to_per_minute(
    api: MobizonClient,
) -> None:
    campaign_id = await create(api, ttl=4000, rateLimit=10)
    data = (await api.call("campaign", "get", {"id": campaign_id}))["data"]
    assert (data["ttl"], data["ratePeriod"]) == ("4000", "60")


async def test_create_validation_is_code_1_with_a_message_per_field(api: MobizonClient) -> None:
    body = await api.call(
        "campaign",
        "create",
        {
            "data": {
                "text": "",
                "type": "9",
                "validity": "30",
                "ratePeriod": "5",
                "mclass": "3",
                "name": "n" * 256,
                "deferredToTs": "tomorrow",
                "trackShortLinkRecipients": "2",
            }
        },
    )
    assert body["code"] == 1
    assert set(body["data"]) == {
        "text",
        "type",
        "validity",
        "ratePeriod",
        "mclass",
        "name",
        "deferredToTs",
        "trackShortLinkRecipients",
    }
    assert body["message"] in body["data"].values()


async def test_deferred_start_must_be_one_hour_to_14_days_ahead(
    api: MobizonClient, db: Database, tenant: Tenant
) -> None:
    await set_account(db, tenant.id, timezone="Asia/Almaty")
    now = datetime.now(UTC)
    for delta in (timedelta(minutes=30), timedelta(days=14, hours=1), -timedelta(hours=2)):
        body = await api.call(
            "campaign",
            "create",
            {"data": {"text": "x", "deferredToTs": local(now + delta, ALMATY)}},
        )
        assert body["code"] == 1 and "deferredToTs" in body["data"], delta
    # 2 h ahead in Almaty time is fine, but the same wall time read as UTC is 3 h in the past
    ok = await api.call(
        "campaign",
        "create",
        {"data": {"text": "x", "deferredToTs": local(now + timedelta(hours=2), ALMATY)}},
    )
    assert ok["code"] == 0


async def test_create_without_data_is_a_validation_error(api: MobizonClient) -> None:
    body = await api.call("campaign", "create", {"name": "x"})
    assert body["code"] == 1 and "text" in body["data"]


# --- Send / Delete --------------------------------------------------------------------


async def test_send_returns_2_when_sending_and_10_when_the_status_cannot_change(
    api: MobizonClient,
) -> None:
    empty = await create(api)
    assert (await api.call("campaign", "send", {"id": empty}))["code"] == 10
    campaign_id = await with_recipients(api)
    assert await api.call("campaign", "send", {"id": campaign_id}) == {
        "code": 0,
        "data": 2,
        "message": "",
    }
    assert (await api.call("campaign", "send", {"id": campaign_id}))["code"] == 10
    info = (await api.call("campaign", "getinfo", {"id": campaign_id}))["data"]
    assert (info["commonStatus"], info["moderationStatus"]) == ("RUNNING", "AUTO_READY_FOR_SEND")
    assert (await api.call("campaign", "send", {"id": "424242"}))["code"] == 2


async def test_send_returns_1_when_the_account_is_moderated(
    api: MobizonClient, db: Database, tenant: Tenant
) -> None:
    await set_account(db, tenant.id, moderation_required=True)
    campaign_id = await with_recipients(api)
    body = await api.call("campaign", "send", {"id": campaign_id})
    assert (body["code"], body["data"]) == (0, 1)
    info = (await api.call("campaign", "getinfo", {"id": campaign_id}))["data"]
    assert info["commonStatus"] == info["moderationStatus"] == "MODERATION"
    assert info["sendStatus"] is None


async def test_a_deferred_campaign_is_deferred_after_send(api: MobizonClient) -> None:
    start = datetime.now(UTC) + timedelta(hours=2)
    campaign_id = await with_recipients(api, deferredToTs=local(start))
    assert (await api.call("campaign", "send", {"id": campaign_id}))["data"] == 2
    info = (await api.call("campaign", "getinfo", {"id": campaign_id}))["data"]
    assert info["commonStatus"] == "DEFERRED"


async def test_delete(api: MobizonClient, db: Database) -> None:
    draft = await with_recipients(api)
    assert await api.call("campaign", "delete", {"id": draft}) == {
        "code": 0,
        "data": True,
        "message": "",
    }
    assert (await api.call("campaign", "get", {"id": draft}))["code"] == 2
    assert (await api.call("campaign", "delete", {"id": draft}))["code"] == 2

    running = await with_recipients(api)
    await api.call("campaign", "send", {"id": running})
    assert (await api.call("campaign", "delete", {"id": running}))["code"] == 10

    later = await with_recipients(api, deferredToTs=local(datetime.now(UTC) + timedelta(hours=2)))
    await api.call("campaign", "send", {"id": later})
    assert (await api.call("campaign", "delete", {"id": later}))["code"] == 0

    soon = await with_recipients(api, deferredToTs=local(datetime.now(UTC) + timedelta(hours=2)))
    await api.call("campaign", "send", {"id": soon})
    await shift(db, soon, start_at=datetime.now(UTC) + timedelta(minutes=4))
    body = await api.call("campaign", "delete", {"id": soon})
    assert body["code"] == 10 and "5 minutes" in body["message"]


# --- GetInfo --------------------------------------------------------------------------


async def test_getinfo_before_sending_shows_the_pre_cost(api: MobizonClient) -> None:
    campaign_id = await create(api, type=3, text="Hi {name}")
    rows = [
        {"recipient": "+77010000001", "name": "Ann"},
        {"recipient": "+77010000002", "name": "A much longer name " * 10},
        {"recipient": "bad"},
    ]
    body = await api.call("campaign", "addrecipients", {"id": campaign_id, "recipients": rows})
    assert body["code"] == 98
    info = (await api.call("campaign", "getinfo", {"id": campaign_id}))["data"]
    counters = info["counters"]
    assert counters["totalNewMsgNum"] == counters["totalMsgNum"] == "2"
    assert counters["totalNewSegNum"] == counters["totalSegNum"] == "3"  # 1 + 2 segments
    assert counters["totalNewMsgCost"] == counters["totalCost"] == "0.1500"  # 3 x 0.05
    assert counters["totalDelivrdMsgNum"] == "0" and counters["totalDelivrdMsgCost"] == "0.0000"
    assert counters["recipientsRejected"] == "1"
    assert counters["userCurrency"] == "USD"
    assert info["commonStatus"] == info["status"] == "NEW"
    assert info["text"] == "Hi {name}"
    filled = await api.call(
        "campaign", "getinfo", {"id": campaign_id, "getFilledTplCampaignText": 1}
    )
    assert filled["data"]["text"] == "Hi Ann"
    expected = {
        f"total{b}{k}" for b in statuses.COUNTER_BUCKETS for k in ("SegNum", "MsgNum", "MsgCost")
    }
    assert expected <= set(counters)
    assert {"updateTs", "totalSegNum", "totalMsgNum", "totalCost"} <= set(counters)


# --- List -----------------------------------------------------------------------------


async def test_list_defaults_to_the_last_day(api: MobizonClient, db: Database) -> None:
    old = await create(api, name="old")
    new = await create(api, name="new")
    await shift(db, old, created_at=datetime.now(UTC) - timedelta(days=3))
    body = await api.call("campaign", "list")
    assert body["code"] == 0
    assert [i["id"] for i in body["data"]["items"]] == [new]
    assert body["data"]["totalItemCount"] == "1"
    # an id lifts the default window
    by_id = await api.call("campaign", "list", {"criteria": {"id": old}})
    assert [i["id"] for i in by_id["data"]["items"]] == [old]
    # so does any date
    since = local(datetime.now(UTC) - timedelta(days=4))[:10]
    dated = await api.call("campaign", "list", {"criteria": {"createDateFrom": since}})
    assert [i["id"] for i in dated["data"]["items"]] == [new, old]


async def test_list_windows_are_at_most_90_days(api: MobizonClient, db: Database) -> None:
    ancient = await create(api)
    await shift(db, ancient, created_at=datetime.now(UTC) - timedelta(days=100))
    today = local(datetime.now(UTC))[:10]
    long_ago = local(datetime.now(UTC) - timedelta(days=120))[:10]
    wide = {"criteria": {"createDateFrom": long_ago, "createDateTo": today}}
    assert (await api.call("campaign", "list", wide))["data"]["totalItemCount"] == "0"
    near = local(datetime.now(UTC) - timedelta(days=101))[:10]
    found = await api.call("campaign", "list", {"criteria": {"createDateFrom": near}})
    assert [i["id"] for i in found["data"]["items"]] == [ancient]
    backwards = {"criteria": {"createDateFrom": today, "createDateTo": long_ago}}
    assert (await api.call("campaign", "list", backwards))["data"] == {
        "items": [],
        "totalItemCount": "0",
    }


async def test_list_criteria(api: MobizonClient) -> None:
    mass = await with_recipients(api, **{"from": "Alpha"}, text="Sale today")
    template = await create(api, type=3, text="Hi {name}", **{"from": "Beta"})
    sent = await with_recipients(api, text="Other")
    await api.call("campaign", "send", {"id": sent})

    async def ids(**criteria: Any) -> list[str]:
        body = await api.call("campaign", "list", {"criteria": criteria})
        assert body["code"] == 0, body
        return [i["id"] for i in body["data"]["items"]]

    assert await ids(**{"from": "Alpha"}) == [mass]
    assert await ids(text="Sale today") == [mass]
    assert await ids(text="Sale") == []  # a complete match
    assert await ids(type=3) == [template]
    assert await ids(status="NEW") == [template, mass]
    assert await ids(status="RUNNING") == [sent]
    assert await ids(status="NOT_YET_SENT") == [template, mass]
    assert await ids(recipient=phones(1)[0][-5:]) == [sent, mass]
    assert await ids(ids=f"{mass},{sent}") == [sent, mass]
    assert await ids(ids=[mass, template]) == [template, mass]
    started = local(datetime.now(UTC) - timedelta(minutes=5))
    assert await ids(sentTsFrom=started) == [sent]
    for bad in ({"status": "BOGUS"}, {"type": "7"}, {"createDateFrom": "1/1/2026"}):
        assert (await api.call("campaign", "list", {"criteria": bad}))["code"] == 12


async def test_list_ids_count_only_the_first_ten(api: MobizonClient) -> None:
    made = [await create(api) for _ in range(11)]
    body = await api.call("campaign", "list", {"criteria": {"ids": made}})
    assert sorted(i["id"] for i in body["data"]["items"]) == sorted(made[:10])


async def test_list_pages_and_sorts(api: MobizonClient) -> None:
    made = [await create(api, name=f"c{n}") for n in range(5)]
    page = await api.call(
        "campaign",
        "list",
        {"pagination": {"pageSize": 2, "currentPage": 1}, "sort": {"id": "ASC"}},
    )
    assert [i["id"] for i in page["data"]["items"]] == made[2:4]
    assert page["data"]["totalItemCount"] == "5"
    by_name = await api.call("campaign", "list", {"sort": {"name": "DESC"}})
    assert [i["name"] for i in by_name["data"]["items"]] == ["c4", "c3", "c2", "c1", "c0"]
    by_size = await api.call("campaign", "list", {"sort": {"counters.totalMsgNum": "ASC"}})
    assert by_size["code"] == 0
    assert (await api.call("campaign", "list", {"sort": {"nope": "ASC"}}))["code"] == 12


async def test_list_items_have_getinfo_fields(api: MobizonClient) -> None:
    campaign_id = await with_recipients(api, 3)
    item = (await api.call("campaign", "list"))["data"]["items"][0]
    info = (await api.call("campaign", "getinfo", {"id": campaign_id}))["data"]
    assert set(item) == set(info)
    assert item["counters"]["totalMsgNum"] == "3"


async def test_tracking_short_link_recipients_gives_each_message_its_own_link(
    api: MobizonClient,
) -> None:
    link = await api.call("link", "create", {"data": {"fullLink": "https://example.com/sale"}})
    assert link["code"] == 0, link
    short = link["data"]["shortLink"]
    campaign_id = await with_recipients(api, 2, text=f"Sale! {short}", trackShortLinkRecipients=1)
    assert (await api.call("campaign", "send", {"id": campaign_id}))["data"] == 2
    listed = await api.call("message", "list", {"criteria": {"campaignIds": campaign_id}})
    texts = [item["text"] for item in listed["data"]["items"]]
    assert len(set(texts)) == 2 and f"Sale! {short}" not in texts
    assert all(len(text) == len(f"Sale! {short}") for text in texts)
