"""The address book: contact cards, contacts and groups through /v1, and the store
functions the recipient importer reads."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
from tests.conftest import Tenant

from clarion.services import accounts
from clarion.store import contacts as store
from clarion.store.db import Database

PROBLEM = "application/problem+json"


async def other_tenant(db: Database) -> Tenant:
    new = await accounts.create(db, name="globex", balance=Decimal("10"), currency="USD")
    return Tenant(new.account_id, new.api_key)


def problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = r.json()
    assert body["detail"]
    return body


async def card(client: httpx.AsyncClient, tenant: Tenant, **body: Any) -> dict[str, Any]:
    r = await client.post("/v1/contact-cards", json=body, headers=tenant.headers)
    assert r.status_code == 201, r.text
    result: dict[str, Any] = r.json()
    return result


async def group(client: httpx.AsyncClient, tenant: Tenant, name: str) -> dict[str, Any]:
    r = await client.post("/v1/contact-groups", json={"name": name}, headers=tenant.headers)
    assert r.status_code == 201, r.text
    result: dict[str, Any] = r.json()
    return result


async def members(
    client: httpx.AsyncClient, tenant: Tenant, group_id: int, card_ids: list[int]
) -> httpx.Response:
    return await client.post(
        f"/v1/contact-groups/{group_id}/cards", json={"card_ids": card_ids}, headers=tenant.headers
    )


async def search(client: httpx.AsyncClient, tenant: Tenant, **params: Any) -> dict[str, Any]:
    r = await client.get("/v1/contact-cards", params=params, headers=tenant.headers)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


def mobile(value: str) -> dict[str, str]:
    return {"type": "mobile", "value": value}


async def test_card_crud(client: httpx.AsyncClient, tenant: Tenant) -> None:
    friends = await group(client, tenant, "friends")
    created = await card(
        client,
        tenant,
        name="  Ann Lee ",
        fields={"city": "Almaty", "tier": "gold"},
        contacts=[
            mobile("+7 (701) 000-00-01"),
            mobile("12345"),
            {"type": "phone", "value": "+7 727 258 0000"},
            {"type": "email", "value": " ann@example.com "},
        ],
        groups=[friends["id"]],
    )
    assert created["name"] == "Ann Lee"
    assert created["fields"] == {"city": "Almaty", "tier": "gold"}
    assert [(c["type"], c["value"], c["phone"]) for c in created["contacts"]] == [
        ("mobile", "+7 (701) 000-00-01", "+77010000001"),
        ("mobile", "12345", None),
        ("phone", "+7 727 258 0000", "+77272580000"),
        ("email", "ann@example.com", None),
    ]
    assert created["groups"] == [friends["id"]]

    r = await client.get(f"/v1/contact-cards/{created['id']}", headers=tenant.headers)
    assert r.status_code == 200
    assert r.json() == created

    r = await client.patch(
        f"/v1/contact-cards/{created['id']}",
        json={"name": "Ann Smith", "contacts": [mobile("77010000009")]},
        headers=tenant.headers,
    )
    assert r.status_code == 200, r.text
    patched = r.json()
    assert patched["name"] == "Ann Smith"
    assert patched["fields"] == created["fields"]
    assert patched["groups"] == [friends["id"]]
    assert [(c["value"], c["phone"]) for c in patched["contacts"]] == [
        ("77010000009", "+77010000009")
    ]

    r = await client.patch(
        f"/v1/contact-cards/{created['id']}",
        json={"fields": {}, "groups": []},
        headers=tenant.headers,
    )
    assert r.status_code == 200, r.text
    assert (r.json()["fields"], r.json()["groups"], len(r.json()["contacts"])) == ({}, [], 1)

    r = await client.delete(f"/v1/contact-cards/{created['id']}", headers=tenant.headers)
    assert r.status_code == 204
    problem(await client.get(f"/v1/contact-cards/{created['id']}", headers=tenant.headers), 404)
    problem(await client.delete(f"/v1/contact-cards/{created['id']}", headers=tenant.headers), 404)


async def test_card_validation(client: httpx.AsyncClient, tenant: Tenant) -> None:
    url = "/v1/contact-cards"
    h = tenant.headers
    bad_type = problem(
        await client.post(url, json={"contacts": [{"type": "fax", "value": "1"}]}, headers=h), 422
    )
    assert "contacts.0.type" in bad_type["detail"]
    assert "mobile" in bad_type["detail"]
    long_name = problem(await client.post(url, json={"name": "x" * 256}, headers=h), 422)
    assert "name" in long_name["detail"]
    assert "255" in long_name["detail"]
    unknown = problem(await client.post(url, json={"groups": [424242]}, headers=h), 422)
    assert "424242" in unknown["detail"]
    assert unknown["field"] == "groups"
    reserved = problem(await client.post(url, json={"fields": {"name": "x"}}, headers=h), 422)
    assert "reserved" in reserved["detail"]
    email = problem(
        await client.post(
            url, json={"contacts": [{"type": "email", "value": "nobody"}]}, headers=h
        ),
        422,
    )
    assert "contacts[0]" in email["detail"]
    problem(await client.post(url, json={"colour": "red"}, headers=h), 422)
    # nothing was created by the failed requests
    assert (await search(client, tenant))["total"] == 0

    created = await card(client, tenant, name="Bob")
    path = f"{url}/{created['id']}"
    null_name = problem(await client.patch(path, json={"name": None}, headers=h), 422)
    assert "name" in null_name["detail"]
    problem(await client.patch(path, json={}, headers=h), 422)
    problem(await client.patch(path, json={"groups": [1, 999999]}, headers=h), 422)
    assert (await client.get(path, headers=h)).json() == created


async def test_search(client: httpx.AsyncClient, tenant: Tenant) -> None:
    vip = await group(client, tenant, "vip")
    ann = await card(
        client,
        tenant,
        name="Ann Lee",
        contacts=[mobile("+77010000001"), {"type": "email", "value": "ann@example.com"}],
        groups=[vip["id"]],
    )
    olga = await card(client, tenant, name="Ольга Петрова", contacts=[mobile("+77020000002")])
    bob = await card(
        client, tenant, name="Bob 100%", contacts=[{"type": "phone", "value": "+77272580000"}]
    )

    def ids(page: dict[str, Any]) -> list[int]:
        return [c["id"] for c in page["items"]]

    assert ids(await search(client, tenant)) == [ann["id"], olga["id"], bob["id"]]
    assert ids(await search(client, tenant, q="ann")) == [ann["id"]]
    assert ids(await search(client, tenant, q="ОЛЬГА")) == [olga["id"]]
    assert ids(await search(client, tenant, q="EXAMPLE.com")) == [ann["id"]]
    assert ids(await search(client, tenant, q="+7 702 000")) == [olga["id"]]
    assert ids(await search(client, tenant, q="2580000")) == [bob["id"]]
    assert ids(await search(client, tenant, q="100%")) == [bob["id"]]
    assert ids(await search(client, tenant, q="%")) == [bob["id"]]
    assert ids(await search(client, tenant, q="nobody")) == []
    assert ids(await search(client, tenant, group=vip["id"])) == [ann["id"]]
    assert ids(await search(client, tenant, group=vip["id"], q="olga")) == []
    page = await search(client, tenant, limit=1, offset=1)
    assert (ids(page), page["total"]) == ([olga["id"]], 3)
    problem(await client.get("/v1/contact-cards?group=999999", headers=tenant.headers), 404)


async def test_groups(client: httpx.AsyncClient, tenant: Tenant) -> None:
    h = tenant.headers
    a = await group(client, tenant, "Alpha")
    b = await group(client, tenant, "Beta")
    dup = problem(await client.post("/v1/contact-groups", json={"name": " Alpha "}, headers=h), 409)
    assert "Alpha" in dup["detail"]
    problem(await client.post("/v1/contact-groups", json={"name": "   "}, headers=h), 422)

    cards = [(await card(client, tenant, name=f"c{i}"))["id"] for i in range(3)]
    r = await members(client, tenant, a["id"], cards)
    assert r.status_code == 200, r.text
    assert (r.json()["added"], r.json()["group"]["card_count"]) == (3, 3)
    r = await members(client, tenant, a["id"], [cards[0], cards[0]])
    assert (r.json()["added"], r.json()["group"]["card_count"]) == (0, 3)
    r = await members(client, tenant, b["id"], [cards[0]])
    assert r.json()["group"]["card_count"] == 1
    unknown = problem(await members(client, tenant, b["id"], [cards[1], 777777]), 422)
    assert "777777" in unknown["detail"]
    assert (await client.get(f"/v1/contact-groups/{b['id']}", headers=h)).json()["card_count"] == 1
    problem(await members(client, tenant, 888888, cards), 404)

    r = await client.get("/v1/contact-groups", headers=h)
    assert r.status_code == 200
    assert [(g["name"], g["card_count"]) for g in r.json()["items"]] == [("Alpha", 3), ("Beta", 1)]
    first = (await client.get(f"/v1/contact-cards/{cards[0]}", headers=h)).json()
    assert first["groups"] == [a["id"], b["id"]]

    r = await client.patch(f"/v1/contact-groups/{b['id']}", json={"name": "Gamma"}, headers=h)
    assert (r.status_code, r.json()["name"]) == (200, "Gamma")
    r = await client.patch(f"/v1/contact-groups/{b['id']}", json={"name": "Gamma"}, headers=h)
    assert r.status_code == 200  # renaming to its own name is fine
    problem(
        await client.patch(f"/v1/contact-groups/{b['id']}", json={"name": "Alpha"}, headers=h), 409
    )

    r = await client.delete(f"/v1/contact-groups/{a['id']}/cards/{cards[1]}", headers=h)
    assert r.status_code == 204
    problem(await client.delete(f"/v1/contact-groups/{a['id']}/cards/{cards[1]}", headers=h), 404)
    assert (await client.get(f"/v1/contact-groups/{a['id']}", headers=h)).json()["card_count"] == 2

    assert (await client.delete(f"/v1/contact-groups/{a['id']}", headers=h)).status_code == 204
    problem(await client.get(f"/v1/contact-groups/{a['id']}", headers=h), 404)
    first = (await client.get(f"/v1/contact-cards/{cards[0]}", headers=h)).json()
    assert first["groups"] == [b["id"]]
    assert (await search(client, tenant))["total"] == 3

    # deleting a card removes it from its groups
    assert (await client.delete(f"/v1/contact-cards/{cards[0]}", headers=h)).status_code == 204
    assert (await client.get(f"/v1/contact-groups/{b['id']}", headers=h)).json()["card_count"] == 0


async def test_accounts_are_isolated(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    other = await other_tenant(db)
    mine = await group(client, tenant, "mine")
    own_card = await card(client, tenant, name="Ann", groups=[mine["id"]])
    theirs = await group(client, other, "mine")  # same name, other account: fine
    their_card = await card(client, other, name="Zed")

    oh = other.headers
    problem(await client.get(f"/v1/contact-cards/{own_card['id']}", headers=oh), 404)
    problem(
        await client.patch(f"/v1/contact-cards/{own_card['id']}", json={"name": "x"}, headers=oh),
        404,
    )
    problem(await client.delete(f"/v1/contact-cards/{own_card['id']}", headers=oh), 404)
    problem(await client.get(f"/v1/contact-groups/{mine['id']}", headers=oh), 404)
    problem(
        await client.patch(f"/v1/contact-groups/{mine['id']}", json={"name": "y"}, headers=oh), 404
    )
    problem(await client.delete(f"/v1/contact-groups/{mine['id']}", headers=oh), 404)
    problem(await members(client, other, mine["id"], [their_card["id"]]), 404)
    problem(
        await client.delete(f"/v1/contact-groups/{mine['id']}/cards/{own_card['id']}", headers=oh),
        404,
    )
    problem(await client.get(f"/v1/contact-cards?group={mine['id']}", headers=oh), 404)
    foreign_card = problem(await members(client, other, theirs["id"], [own_card["id"]]), 422)
    assert str(own_card["id"]) in foreign_card["detail"]
    foreign_group = problem(
        await client.post("/v1/contact-cards", json={"groups": [mine["id"]]}, headers=oh), 422
    )
    assert str(mine["id"]) in foreign_group["detail"]

    assert [c["id"] for c in (await search(client, other))["items"]] == [their_card["id"]]
    assert (await search(client, other, q="Ann"))["total"] == 0
    r = await client.get("/v1/contact-groups", headers=oh)
    assert [g["id"] for g in r.json()["items"]] == [theirs["id"]]
    # the first account's data is untouched
    r = await client.get(f"/v1/contact-cards/{own_card['id']}", headers=tenant.headers)
    assert (r.json()["name"], r.json()["groups"]) == ("Ann", [mine["id"]])


async def test_importer_store_functions(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    other = await other_tenant(db)
    g1 = (await group(client, tenant, "g1"))["id"]
    g2 = (await group(client, tenant, "g2"))["id"]
    foreign_group = (await group(client, other, "g1"))["id"]
    two_mobiles = await card(
        client,
        tenant,
        name="Ann",
        fields={"city": "Almaty"},
        contacts=[
            {"type": "email", "value": "ann@example.com"},
            mobile("bad"),
            mobile("+77010000001"),
            {"type": "phone", "value": "+77272580000"},
            mobile("+77010000002"),
            mobile("+7 701 000 00 01"),
        ],
        groups=[g1, g2],
    )
    no_mobile = await card(
        client,
        tenant,
        name="Bob",
        contacts=[{"type": "phone", "value": "+77272580001"}],
        groups=[g1],
    )
    in_g2 = await card(client, tenant, name="Cid", contacts=[mobile("+77010000003")], groups=[g2])
    outside = await card(client, tenant, name="Dan", contacts=[mobile("+77010000004")])
    foreign = await card(client, other, name="Eve", contacts=[mobile("+77010000005")])
    r = await members(client, other, foreign_group, [foreign["id"]])
    assert r.status_code == 200
    missing = 99_999_999
    contact = {c["value"]: c["id"] for c in two_mobiles["contacts"]}

    async with db.read() as conn:
        numbers = await store.card_numbers(
            conn,
            account_id=tenant.id,
            card_ids=[two_mobiles["id"], no_mobile["id"], foreign["id"], missing],
        )
        assert numbers == {
            two_mobiles["id"]: ["+77010000001", "+77010000002"],
            no_mobile["id"]: [],
        }
        assert await store.card_numbers(conn, account_id=tenant.id, card_ids=[]) == {}

        found = await store.contact_numbers(
            conn,
            account_id=tenant.id,
            contact_ids=[
                contact["ann@example.com"],
                contact["bad"],
                contact["+77010000001"],
                contact["+77272580000"],
                foreign["contacts"][0]["id"],
                missing,
            ],
        )
        assert found == {
            contact["ann@example.com"]: None,
            contact["bad"]: None,
            contact["+77010000001"]: "+77010000001",
            contact["+77272580000"]: "+77272580000",
        }

        assert await store.existing_groups(
            conn, account_id=tenant.id, group_ids=[g1, g2, foreign_group, missing]
        ) == {g1, g2}

        everything = await store.group_numbers(
            conn, account_id=tenant.id, group_ids=[g1, g2, foreign_group]
        )
        # Ann is in both groups and has two mobiles: once, with her first mobile;
        # Bob has no mobile; Dan is in no group; Eve is another account's.
        assert everything == [(two_mobiles["id"], "+77010000001"), (in_g2["id"], "+77010000003")]
        assert await store.group_numbers(conn, account_id=tenant.id, group_ids=[g1]) == [
            (two_mobiles["id"], "+77010000001")
        ]
        assert await store.group_numbers(conn, account_id=other.id, group_ids=[g1, g2]) == []
        assert await store.group_numbers(conn, account_id=tenant.id, group_ids=[]) == []

        assert await store.card_variables(
            conn, account_id=tenant.id, card_ids=[two_mobiles["id"], outside["id"], foreign["id"]]
        ) == {
            two_mobiles["id"]: {"name": "Ann", "city": "Almaty"},
            outside["id"]: {"name": "Dan"},
        }

    # deleting a card takes its contacts with it
    await client.delete(f"/v1/contact-cards/{two_mobiles['id']}", headers=tenant.headers)
    async with db.read() as conn:
        gone = await store.contact_numbers(
            conn, account_id=tenant.id, contact_ids=list(contact.values())
        )
        assert gone == {}


async def test_group_numbers_pages_by_card_id(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    g1 = (await group(client, tenant, "g1"))["id"]
    g2 = (await group(client, tenant, "g2"))["id"]
    expected: list[tuple[int, str]] = []
    for n in range(7):
        groups = [g1, g2] if n % 2 == 0 else [g2]
        phone = f"+7701000{n:04d}"
        created = await card(client, tenant, name=f"n{n}", contacts=[mobile(phone)], groups=groups)
        expected.append((created["id"], phone))
    await card(client, tenant, name="no mobile", groups=[g1, g2])

    pages: list[list[tuple[int, str]]] = []
    after = 0
    async with db.read() as conn:
        while True:
            page = await store.group_numbers(
                conn, account_id=tenant.id, group_ids=[g1, g2], after_card_id=after, limit=3
            )
            if not page:
                break
            pages.append(page)
            after = page[-1][0]
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [row for p in pages for row in p] == expected

    async with db.read() as conn:
        resumed = await store.group_numbers(
            conn, account_id=tenant.id, group_ids=[g1], after_card_id=expected[2][0]
        )
    assert resumed == [expected[4], expected[6]]
