"""Tenant isolation: account B can neither read, change nor detect account A's
campaigns, messages, tasks, contact cards, groups, links and stop-list entries, through
/v1, the Mobizon dialect or the BSG dialect. Every attempt on A's record answers
exactly as the same attempt on an id that does not exist (the id aside), and A's
records are unchanged afterwards."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest
from tests.conftest import Tenant
from tests.helpers import add_phones, make_campaign, phones

from clarion.services import accounts
from clarion.store.db import Database

MISSING = 987654321


@dataclass
class World:
    a: Tenant
    b: Tenant
    campaign: int  # A's running campaign, with messages
    draft: int  # A's draft campaign
    messages: list[int]
    task: int
    card: int
    group: int
    link: int
    link_code: str
    stop_phone: str


@pytest.fixture
async def world(client: httpx.AsyncClient, db: Database, tenant: Tenant) -> World:
    new = await accounts.create(db, name="other", balance=Decimal("100.00"), currency="USD")
    b = Tenant(new.account_id, new.api_key)
    h = tenant.headers
    running = await make_campaign(client, h)
    added = await add_phones(client, h, running["id"], phones(3))
    assert (await client.post(f"/v1/campaigns/{running['id']}/start", headers=h)).is_success
    draft = await make_campaign(client, h, name="draft")
    card = await client.post(
        "/v1/contact-cards",
        json={"name": "Ann", "contacts": [{"type": "mobile", "value": "+77010000099"}]},
        headers=h,
    )
    group = await client.post("/v1/contact-groups", json={"name": "vip"}, headers=h)
    await client.post(
        f"/v1/contact-groups/{group.json()['id']}/cards",
        json={"card_ids": [card.json()["id"]]},
        headers=h,
    )
    grouped = await make_campaign(client, h, name="grouped")
    task = await client.post(
        f"/v1/campaigns/{grouped['id']}/recipients/groups",
        json={"groups": [group.json()["id"]]},
        headers=h,
    )
    assert task.status_code == 202, task.text
    link = await client.post("/v1/links", json={"full_link": "https://example.com/a"}, headers=h)
    stop = await client.post("/v1/stop-list", json={"phones": ["+77010000077"]}, headers=h)
    assert stop.status_code == 200
    return World(
        a=tenant,
        b=b,
        campaign=running["id"],
        draft=draft["id"],
        messages=[r["message_id"] for r in added["recipients"]],
        task=task.json()["id"],
        card=card.json()["id"],
        group=group.json()["id"],
        link=link.json()["id"],
        link_code=link.json()["code"],
        stop_phone="+77010000077",
    )


def hidden(theirs: httpx.Response, real: int | str, missing: httpx.Response) -> bool:
    """Whether the answer about A's record is the answer about the missing id, with
    that id written as A's."""
    expected = missing.text.replace(str(MISSING), str(real))
    return (theirs.status_code, theirs.text) == (missing.status_code, expected)


async def same_as_missing(
    client: httpx.AsyncClient, method: str, template: str, real: int | str, **kwargs: Any
) -> tuple[int, str]:
    """B's request on A's record answers as B's request on a missing record."""
    theirs = await client.request(method, template.format(id=real), **kwargs)
    missing = await client.request(method, template.format(id=MISSING), **kwargs)
    assert hidden(theirs, real, missing), (template, theirs.text, missing.text)
    return theirs.status_code, theirs.text


V1_CALLS = [
    ("GET", "/v1/campaigns/{id}", "campaign", None),
    ("PATCH", "/v1/campaigns/{id}", "draft", {"name": "mine now"}),
    ("DELETE", "/v1/campaigns/{id}", "draft", None),
    ("POST", "/v1/campaigns/{id}/recipients", "draft", {"recipients": [{"phone": "+77011111111"}]}),
    ("DELETE", "/v1/campaigns/{id}/recipients", "draft", None),
    ("POST", "/v1/campaigns/{id}/recipients/groups", "draft", {"groups": [1]}),
    ("POST", "/v1/campaigns/{id}/start", "draft", None),
    ("POST", "/v1/campaigns/{id}/pause", "campaign", None),
    ("POST", "/v1/campaigns/{id}/resume", "campaign", None),
    ("POST", "/v1/campaigns/{id}/renew", "campaign", None),
    ("POST", "/v1/campaigns/{id}/stop", "campaign", None),
    ("POST", "/v1/campaigns/{id}/retry", "campaign", None),
    ("GET", "/v1/campaigns/{id}/stats", "campaign", None),
    ("GET", "/v1/campaigns/{id}/messages", "campaign", None),
    ("GET", "/v1/campaigns/{id}/events", "campaign", None),
    ("GET", "/v1/campaigns/{id}/links", "campaign", None),
    ("GET", "/v1/tasks/{id}", "task", None),
    ("GET", "/v1/tasks/{id}/rejections", "task", None),
    ("GET", "/v1/contact-cards/{id}", "card", None),
    ("PATCH", "/v1/contact-cards/{id}", "card", {"name": "mine"}),
    ("DELETE", "/v1/contact-cards/{id}", "card", None),
    ("GET", "/v1/contact-groups/{id}", "group", None),
    ("PATCH", "/v1/contact-groups/{id}", "group", {"name": "mine"}),
    ("DELETE", "/v1/contact-groups/{id}", "group", None),
    ("GET", "/v1/links/{id}", "link", None),
    ("PATCH", "/v1/links/{id}", "link", {"comment": "mine"}),
    ("DELETE", "/v1/links/{id}", "link", None),
    ("GET", "/v1/links/{id}/stats", "link", None),
    ("GET", "/v1/links/{id}/recipients", "link", None),
]


async def test_v1_hides_other_accounts_records(client: httpx.AsyncClient, world: World) -> None:
    for method, template, what, body in V1_CALLS:
        real = getattr(world, what)
        kwargs: dict[str, Any] = {"headers": world.b.headers}
        if body is not None:
            kwargs["json"] = body
        status, _ = await same_as_missing(client, method, template, real, **kwargs)
        assert status == 404, (method, template)
    # a group of A's cannot be used by B, nor A's cards put in B's group
    own = await client.post(
        "/v1/campaigns", json={"name": "b", "text": "t"}, headers=world.b.headers
    )
    url = f"/v1/campaigns/{own.json()['id']}/recipients/groups"
    theirs = await client.post(url, json={"groups": [world.group]}, headers=world.b.headers)
    missing = await client.post(url, json={"groups": [MISSING]}, headers=world.b.headers)
    assert theirs.status_code == 404
    assert hidden(theirs, world.group, missing)
    r = await client.post(
        f"/v1/campaigns/{own.json()['id']}/recipients",
        json={"cards": [world.card]},
        headers=world.b.headers,
    )
    missing = await client.post(
        f"/v1/campaigns/{own.json()['id']}/recipients",
        json={"cards": [MISSING]},
        headers=world.b.headers,
    )
    assert hidden(r, world.card, missing)
    # the stop-list: B neither sees nor removes A's entry
    listed = await client.get("/v1/stop-list", headers=world.b.headers)
    assert listed.json()["total"] == 0
    theirs = await client.delete(f"/v1/stop-list/{world.stop_phone}", headers=world.b.headers)
    missing = await client.delete("/v1/stop-list/+77010000066", headers=world.b.headers)
    assert theirs.status_code == missing.status_code == 404
    # lists and searches show nothing of A's
    for path in ("/v1/campaigns", "/v1/contact-cards", "/v1/contact-groups", "/v1/links"):
        items = (await client.get(path, headers=world.b.headers)).json()["items"]
        assert [i["id"] for i in items] in ([], [own.json()["id"]]), path
    await assert_untouched(client, world)


def mobizon(key: str, call: str) -> str:
    return f"/service/{call}?output=json&api=v1&apiKey={key}"


BATCH = {"contactgroup/delete", "link/delete", "link/getstats"}
MOBIZON_CALLS = [
    ("campaign/get", "campaign", "id"),
    ("campaign/getinfo", "campaign", "id"),
    ("campaign/delete", "draft", "id"),
    ("campaign/send", "draft", "id"),
    ("campaign/addrecipients", "draft", "id"),
    ("taskqueue/getstatus", "task", "id"),
    ("contactcard/get", "card", "id"),
    ("contactcard/getgroups", "card", "id"),
    ("contactcard/setgroups", "card", "id"),
    ("contactgroup/update", "group", "id"),
    ("contactgroup/delete", "group", "id"),
    ("contactgroup/getcardscount", "group", "id"),
    ("link/get", "link", "id"),
    ("link/update", "link", "id"),
    ("link/delete", "link", "ids[]"),
    ("link/getstats", "link", "ids[]"),
]


async def test_mobizon_hides_other_accounts_records(
    client: httpx.AsyncClient, world: World
) -> None:
    for call, what, name in MOBIZON_CALLS:
        real = getattr(world, what)
        data = {"recipients[]": "+77011111111", "data[name]": "mine", "groupIds[]": "1"}
        url = mobizon(world.b.key, call)
        theirs = await client.post(url, data=data | {name: str(real)})
        missing = await client.post(url, data=data | {name: str(MISSING)})
        assert hidden(theirs, real, missing), (call, theirs.text, missing.text)
        if call not in BATCH:  # batch calls list the ids they did not process
            assert theirs.json()["code"] != 0, (call, theirs.text)
    # message statuses of A's messages: as unknown ids
    url = mobizon(world.b.key, "message/getsmsstatus")
    theirs = await client.post(url, data={"ids[]": [str(i) for i in world.messages]})
    missing = await client.post(url, data={"ids[]": [str(MISSING + i) for i in range(3)]})
    assert theirs.json() == missing.json() == {"code": 0, "data": [], "message": ""}
    # lists show nothing of A's
    for call in (
        "campaign/list",
        "message/list",
        "contactcard/list",
        "contactgroup/list",
        "link/list",
    ):
        body = (await client.post(mobizon(world.b.key, call))).json()
        assert body["code"] == 0, (call, body)
        data = body["data"]
        items = data.get("items", []) if isinstance(data, dict) else data
        assert items == [], (call, body)
    await assert_untouched(client, world)


async def test_bsg_hides_other_accounts_campaigns(client: httpx.AsyncClient, world: World) -> None:
    headers = {"x-api-key": world.b.key}
    for method, template in (
        ("GET", "/api/campaigns/{id}"),
        ("PUT", "/api/campaigns/{id}/renew"),
        ("PATCH", "/api/campaigns/{id}/stop"),
    ):
        status, text = await same_as_missing(
            client, method, template, world.campaign, headers=headers
        )
        assert (status, json.loads(text)) == (404, {"message": "Model not found"})
    body = {"sender": "B", "options": {"text": "hi"}, "groups": [world.group]}
    theirs = await client.post("/api/campaigns/rcs/send-groups", json=body, headers=headers)
    missing = await client.post(
        "/api/campaigns/rcs/send-groups", json=body | {"groups": [MISSING]}, headers=headers
    )
    assert theirs.status_code == missing.status_code == 422
    assert theirs.json() == missing.json()
    await assert_untouched(client, world)


async def assert_untouched(client: httpx.AsyncClient, world: World) -> None:
    h = world.a.headers
    campaign = (await client.get(f"/v1/campaigns/{world.campaign}", headers=h)).json()
    assert campaign["status"] == "RUNNING"
    draft = (await client.get(f"/v1/campaigns/{world.draft}", headers=h)).json()
    assert (draft["status"], draft["name"]) == ("DRAFT", "draft")
    stats = (await client.get(f"/v1/campaigns/{world.campaign}/stats", headers=h)).json()
    assert stats["total_messages"] == 3
    card = (await client.get(f"/v1/contact-cards/{world.card}", headers=h)).json()
    assert card["name"] == "Ann" and card["groups"] == [world.group]
    group = (await client.get(f"/v1/contact-groups/{world.group}", headers=h)).json()
    assert group["name"] == "vip"
    link = (await client.get(f"/v1/links/{world.link}", headers=h)).json()
    assert link["comment"] == "" and link["status"] == 1
    listed = (await client.get("/v1/stop-list", headers=h)).json()
    assert [i["phone"] for i in listed["items"]] == [world.stop_phone]
    assert (await client.get(f"/v1/tasks/{world.task}", headers=h)).status_code == 200
