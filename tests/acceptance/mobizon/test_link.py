"""Mobizon's Link module and Campaign/GetLinks, spoken as the PHP SDK speaks them:
lowercase paths, ``apiKey`` in the query, POST bodies in bracket notation."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from tests.acceptance.mobizon.conftest import set_account
from tests.acceptance.mobizon.php import MobizonClient
from tests.conftest import Tenant

from clarion.config import Settings
from clarion.services import accounts
from clarion.services import links as service
from clarion.store.db import Database

BROWSER = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Safari"
STAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
TOKYO = ZoneInfo("Asia/Tokyo")


async def create(api: MobizonClient, **data: Any) -> dict[str, Any]:
    body = await api.call("link", "create", {"data": {"fullLink": "http://mobizon.kz"} | data})
    assert body["code"] == 0, body
    result: dict[str, Any] = body["data"]
    return result


async def get(api: MobizonClient, **params: Any) -> dict[str, Any]:
    body = await api.call("link", "get", params)
    assert body["code"] == 0, body
    result: dict[str, Any] = body["data"]
    return result


async def click(client: httpx.AsyncClient, code: str, agent: str = BROWSER) -> None:
    r = await client.get(f"/{code}", headers={"User-Agent": agent})
    assert r.status_code == 302, r.text


async def test_create_get_update_delete(
    api: MobizonClient, db: Database, tenant: Tenant, settings: Settings
) -> None:
    await set_account(db, tenant.id, timezone="Asia/Tokyo")
    day = (datetime.now(TOKYO) + timedelta(days=10)).date().isoformat()
    created = await create(
        api, status=1, expirationDate=day, comment="Link to Christmass PR landing"
    )
    assert set(created) == {"id", "code", "shortLink"}
    assert isinstance(created["id"], str) and created["id"].isdigit()
    assert created["shortLink"] == f"{settings.public_base_url}/{created['code']}"

    link = await get(api, id=created["id"])
    assert link == await get(api, code=created["code"])
    assert link == await get(api, shortLink=created["shortLink"])
    assert {k: link[k] for k in ("id", "code", "fullLink", "shortLink")} == {
        "id": created["id"],
        "code": created["code"],
        "fullLink": "http://mobizon.kz",
        "shortLink": created["shortLink"],
    }
    assert (link["status"], link["moderatorStatus"], link["clickCnt"], link["redirectCnt"]) == (
        "1",
        "1",
        "0",
        "0",
    )
    assert (link["comment"], link["moderatorComment"]) == ("Link to Christmass PR landing", None)
    assert link["expirationDate"] == day
    assert STAMP.fullmatch(link["createTs"])
    created_local = datetime.strptime(link["createTs"], "%Y-%m-%d %H:%M:%S")
    assert abs(created_local - datetime.now(TOKYO).replace(tzinfo=None)) < timedelta(minutes=1)

    body = await api.call(
        "link",
        "update",
        {"id": created["id"], "data": {"comment": "", "status": 0, "expirationDate": ""}},
    )
    assert body == {"code": 0, "data": created["shortLink"], "message": ""}
    link = await get(api, id=created["id"])
    assert (link["comment"], link["status"], link["expirationDate"]) == (None, "0", None)
    body = await api.call(
        "link", "update", {"id": created["id"], "data": {"fullLink": "https://mobizon.com/x"}}
    )
    assert body["code"] == 0
    assert (await get(api, id=created["id"]))["fullLink"] == "https://mobizon.com/x"

    body = await api.call("link", "update", {"id": created["id"], "data": {"fullLink": "ftp://x"}})
    assert body["code"] == 1
    assert set(body["data"]) == {"fullLink"}
    body = await api.call("link", "update", {"id": "999999", "data": {"comment": "x"}})
    assert body["code"] == 2

    body = await api.call("link", "delete", {"ids": [created["id"], "999999"]})
    assert body["code"] == 98
    assert body["data"] == {"processed": [created["id"]], "notProcessed": ["999999"]}
    assert (await api.call("link", "get", {"id": created["id"]}))["code"] == 2
    body = await api.call("link", "delete", {"ids": [created["id"]]})
    assert (body["code"], body["data"]["processed"]) == (99, [])
    other = await create(api)
    body = await api.call("link", "delete", {"ids": other["id"]})  # a comma string works too
    assert body == {
        "code": 0,
        "data": {"processed": [other["id"]], "notProcessed": []},
        "message": "",
    }


async def test_create_rejects_bad_fields(api: MobizonClient) -> None:
    body = await api.call("link", "create", {"data": {"comment": "no link"}})
    assert (body["code"], list(body["data"])) == (1, ["fullLink"])
    body = await api.call("link", "create", {"data": {"fullLink": "mailto:a@b.example"}})
    assert (body["code"], list(body["data"])) == (1, ["fullLink"])
    body = await api.call(
        "link", "create", {"data": {"fullLink": "http://a.example", "expirationDate": "05.10.2030"}}
    )
    assert (body["code"], list(body["data"])) == (1, ["expirationDate"])
    yesterday = (datetime.now(UTC) - timedelta(days=2)).date().isoformat()
    body = await api.call(
        "link", "create", {"data": {"fullLink": "http://a.example", "expirationDate": yesterday}}
    )
    assert (body["code"], list(body["data"])) == (1, ["expirationDate"])
    body = await api.call("link", "create", {"data": {"fullLink": "http://a.example", "status": 3}})
    assert (body["code"], list(body["data"])) == (1, ["status"])
    assert (await api.call("link", "get", {}))["code"] == 12
    assert (await api.call("link", "get", {"code": "Nope123"}))["code"] == 2


async def test_list_criteria_pagination_and_sort(
    api: MobizonClient, client: httpx.AsyncClient, db: Database
) -> None:
    first = await create(api, comment="Black Friday")
    second = await create(api, fullLink="https://shop.example/sale", status=0)
    third = await create(api, fullLink="https://shop.example/new")
    for _ in range(2):
        await click(client, third["code"])
    await click(client, first["code"])

    body = await api.call("link", "list")
    assert body["code"] == 0
    assert body["data"]["totalItemCount"] == 3
    assert [i["id"] for i in body["data"]["items"]] == [third["id"], second["id"], first["id"]]
    assert body["data"]["items"][0]["clickCnt"] == "2"

    body = await api.call("link", "list", {"criteria": {"status": 1}})
    assert {i["id"] for i in body["data"]["items"]} == {first["id"], third["id"]}
    body = await api.call("link", "list", {"criteria": {"query": "black"}})
    assert [i["id"] for i in body["data"]["items"]] == [first["id"]]
    body = await api.call("link", "list", {"criteria": {"query": second["code"]}})
    assert [i["id"] for i in body["data"]["items"]] == [second["id"]]
    body = await api.call("link", "list", {"criteria": {"moderatorStatus": 0}})
    assert body["data"] == {"items": [], "totalItemCount": 0}
    body = await api.call(
        "link",
        "list",
        {"sort": {"clickCnt": "ASC"}, "pagination": {"pageSize": 2, "currentPage": 0}},
    )
    assert [i["id"] for i in body["data"]["items"]] == [second["id"], first["id"]]
    assert body["data"]["totalItemCount"] == 3
    body = await api.call(
        "link",
        "list",
        {"sort": {"clickCnt": "ASC"}, "pagination": {"pageSize": 2, "currentPage": 1}},
    )
    assert [i["id"] for i in body["data"]["items"]] == [third["id"]]
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    body = await api.call("link", "list", {"criteria": {"createTsFrom": tomorrow}})
    assert body["data"]["totalItemCount"] == 0
    body = await api.call("link", "list", {"criteria": {"createTsTo": f"{tomorrow} 00:00:00"}})
    assert body["data"]["totalItemCount"] == 3
    assert (await api.call("link", "list", {"sort": {"nope": "ASC"}}))["code"] == 12

    other = await accounts.create(db, name="globex", balance=Decimal(1), currency="USD")
    theirs = MobizonClient(client, other.api_key)
    assert (await theirs.call("link", "list"))["data"]["totalItemCount"] == 0
    assert (await theirs.call("link", "get", {"id": first["id"]}))["code"] == 2
    assert (await theirs.call("link", "delete", {"ids": [first["id"]]}))["code"] == 99


async def test_get_stats_grid(
    api: MobizonClient, client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    await set_account(db, tenant.id, timezone="Asia/Tokyo")
    a, b = await create(api), await create(api)
    await click(client, a["code"])
    await click(client, a["code"])
    await click(client, a["code"], agent="WhatsApp/2.24.1")
    await client.head(f"/{b['code']}")
    await click(client, b["code"])

    now = datetime.now(TOKYO)
    start = (now - timedelta(days=2)).strftime("%Y-%m-%d 00:00:00")
    body = await api.call(
        "link",
        "getstats",
        {
            "ids": [a["id"], b["id"]],
            "type": "daily",
            "criteria": {"dateFrom": start, "dateTo": now.strftime("%Y-%m-%d %H:%M:%S")},
        },
    )
    assert body["code"] == 0, body
    items = body["data"]["items"]
    assert [i["param"] for i in items] == [
        (now - timedelta(days=n)).strftime("%Y-%m-%d") for n in (2, 1, 0)
    ]
    assert items[-1] == {
        "param": now.strftime("%Y-%m-%d"),
        "clicks0": 2,
        "redirects0": 1,
        "clicks1": 1,
        "redirects1": 1,
    }
    assert items[0]["clicks0"] == 0
    assert body["data"]["totals"] == {
        "totalClicks0": 2,
        "totalRedirects0": 1,
        "totalClicks1": 1,
        "totalRedirects1": 1,
    }

    body = await api.call("link", "getstats", {"ids": [a["id"]], "type": "monthly"})
    assert body["code"] == 0
    assert body["data"]["items"][-1]["param"] == now.strftime("%Y-%m")
    assert body["data"]["totals"] == {"totalClicks0": 2, "totalRedirects0": 1}
    body = await api.call("link", "getstats", {"ids": [a["id"]], "type": "hourly"})
    assert body["data"]["items"][-1] == {
        "param": now.strftime("%Y-%m-%d %H:00"),
        "clicks0": 2,
        "redirects0": 1,
    }

    six = [a["id"]] + [str(n) for n in range(900, 905)]
    assert (await api.call("link", "getstats", {"ids": six, "type": "daily"}))["code"] == 12
    assert (await api.call("link", "getstats", {"ids": [a["id"]], "type": "weekly"}))["code"] == 12
    assert (await api.call("link", "getstats", {"ids": ["999999"]}))["code"] == 2
    bad = {"ids": [a["id"]], "criteria": {"dateFrom": "yesterday"}}
    assert (await api.call("link", "getstats", bad))["code"] == 1


async def test_campaign_get_links(
    api: MobizonClient,
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    tenant: Tenant,
) -> None:
    sale = await create(api, fullLink="https://shop.example/sale", comment="sale")
    terms = await create(api, fullLink="https://shop.example/terms")
    await create(api, fullLink="https://shop.example/unused")
    text = (
        f"Sale {terms['shortLink']} and {sale['shortLink']}, see {settings.public_base_url}/Zz9Zz9"
    )
    body = await api.call(
        "campaign",
        "create",
        {"data": {"type": 2, "from": "Clarion", "text": text, "trackShortLinkRecipients": 1}},
    )
    assert body["code"] == 0, body
    campaign_id = body["data"]

    body = await api.call("campaign", "getlinks", {"campaignId": campaign_id})
    assert body["code"] == 0, body
    assert body["data"] == [
        {
            "id": terms["id"],
            "code": terms["code"],
            "fullLink": "https://shop.example/terms",
            "shortLink": terms["shortLink"],
            "clickCnt": "0",
            "redirectCnt": "0",
            "comment": None,
        },
        {
            "id": sale["id"],
            "code": sale["code"],
            "fullLink": "https://shop.example/sale",
            "shortLink": sale["shortLink"],
            "clickCnt": "0",
            "redirectCnt": "0",
            "comment": "sale",
        },
    ]
    assert (await api.call("link", "getlinks", {"campaignId": campaign_id}))["data"] == body["data"]
    assert (await api.call("campaign", "getlinks", {"campaignId": "999999"}))["code"] == 2

    # The campaign tracks recipients: personal links count on the campaign's links too.
    body = await api.call(
        "campaign",
        "addrecipients",
        {"id": campaign_id, "recipients": ["77010000001", "77010000002"]},
    )
    assert body["code"] == 0, body
    assert (
        await service.personalise_campaign(
            db, campaign_id=int(campaign_id), base_url=settings.public_base_url
        )
        == 2
    )
    personal, total = await service.personal_links(
        db, account_id=tenant.id, link_id=int(sale["id"])
    )
    assert total == 2
    await click(client, personal[0].code)
    body = await api.call("campaign", "getlinks", {"campaignId": campaign_id})
    assert [(i["code"], i["clickCnt"]) for i in body["data"]] == [
        (terms["code"], "0"),
        (sale["code"], "1"),
    ]
