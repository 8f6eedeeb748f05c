"""Stop-lists: the account's own list through /v1, the system list through the
service, and ``store.stoplist.blocked`` as the dispatcher uses it."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
from tests.conftest import Tenant
from tests.helpers import phones

from clarion.domain.recipients import ResultCode
from clarion.services import accounts, stoplists
from clarion.store import stoplist as store
from clarion.store.db import Database

PROBLEM = "application/problem+json"


async def other_tenant(db: Database) -> Tenant:
    new = await accounts.create(db, name="globex", balance=Decimal("10"), currency="USD")
    return Tenant(new.account_id, new.api_key)


async def add(client: httpx.AsyncClient, tenant: Tenant, numbers: list[Any], **body: Any) -> Any:
    r = await client.post("/v1/stop-list", json={"phones": numbers, **body}, headers=tenant.headers)
    assert r.status_code == 200, r.text
    return r.json()


async def listed(client: httpx.AsyncClient, tenant: Tenant, **params: Any) -> Any:
    r = await client.get("/v1/stop-list", params=params, headers=tenant.headers)
    assert r.status_code == 200, r.text
    return r.json()


def problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = r.json()
    assert body["detail"]
    return body


async def test_add_reports_each_entry_and_dedupes(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    body = await add(
        client,
        tenant,
        ["+7 (701) 000-00-01", "0077010000002", "not a number", 77010000001, ""],
        comment="asked to stop",
    )
    assert (body["added"], body["already_listed"], body["invalid"]) == (2, 1, 2)
    entries = body["entries"]
    assert [e["normalized"] for e in entries] == [
        "+77010000001",
        "+77010000002",
        None,
        "+77010000001",
        None,
    ]
    assert [e["added"] for e in entries] == [True, True, False, False, False]
    assert entries[0]["phone"] == "+7 (701) 000-00-01"
    assert entries[2]["code"] == ResultCode.BAD_FORMAT
    assert "international format" in entries[2]["error"]
    assert entries[4]["code"] == ResultCode.EMPTY
    assert entries[0]["error"] is None

    again = await add(client, tenant, ["+77010000002", "+77010000003"])
    assert (again["added"], again["already_listed"]) == (1, 1)
    assert [e["added"] for e in again["entries"]] == [False, True]

    page = await listed(client, tenant)
    assert page["total"] == 3
    assert [i["phone"] for i in page["items"]] == ["+77010000001", "+77010000002", "+77010000003"]
    assert page["items"][0]["comment"] == "asked to stop"


async def test_list_filters_by_prefix_and_pages(client: httpx.AsyncClient, tenant: Tenant) -> None:
    await add(client, tenant, [*phones(5), "+77771234567"])
    page = await listed(client, tenant, phone="+7 701", limit=2, offset=1)
    assert page["total"] == 5
    assert [i["phone"] for i in page["items"]] == phones(2, start=1)
    assert (await listed(client, tenant, phone="7777"))["total"] == 1
    assert (await listed(client, tenant, phone="+7702"))["total"] == 0
    problem(await client.get("/v1/stop-list?phone=abc", headers=tenant.headers), 422)


async def test_remove(client: httpx.AsyncClient, tenant: Tenant) -> None:
    await add(client, tenant, phones(2))
    r = await client.delete("/v1/stop-list/+7 (701) 000-00-00", headers=tenant.headers)
    assert r.status_code == 204, r.text
    assert [i["phone"] for i in (await listed(client, tenant))["items"]] == phones(1, start=1)
    body = problem(await client.delete("/v1/stop-list/77010000000", headers=tenant.headers), 404)
    assert "+77010000000" in body["detail"]
    problem(await client.delete("/v1/stop-list/hello", headers=tenant.headers), 422)


async def test_limits(client: httpx.AsyncClient, tenant: Tenant) -> None:
    body = problem(
        await client.post("/v1/stop-list", json={"phones": phones(10_001)}, headers=tenant.headers),
        422,
    )
    assert "10000" in body["detail"]
    problem(await client.post("/v1/stop-list", json={"phones": []}, headers=tenant.headers), 422)
    text = "\n".join(phones(10_001))
    r = await client.post(
        "/v1/stop-list/import",
        content=text,
        headers={**tenant.headers, "Content-Type": "text/plain"},
    )
    assert "10000" in problem(r, 422)["detail"]
    assert (await listed(client, tenant))["total"] == 0

    full = await add(client, tenant, phones(10_000))
    assert full["added"] == 10_000
    assert (await listed(client, tenant, limit=1))["total"] == 10_000


async def test_text_import(client: httpx.AsyncClient, tenant: Tenant) -> None:
    csv_body = (
        "\ufeffphone,name\r\n"
        "+77010000001,Ann\r\n"
        "\r\n"
        '"+7 701 000 00 02","Smith, Bob"\r\n'
        "77010000003;semicolon\r\n"
        "nonsense,x\r\n"
        "+77010000001,again\r\n"
    )
    r = await client.post(
        "/v1/stop-list/import?comment=csv",
        content=csv_body.encode(),
        headers={**tenant.headers, "Content-Type": "text/csv; charset=utf-8"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["added"], body["already_listed"], body["invalid"]) == (3, 1, 1)
    assert [e["phone"] for e in body["entries"]] == [
        "+77010000001",
        "+7 701 000 00 02",
        "77010000003",
        "nonsense",
        "+77010000001",
    ]
    page = await listed(client, tenant)
    assert [i["phone"] for i in page["items"]] == phones(3, start=1)
    assert {i["comment"] for i in page["items"]} == {"csv"}

    plain = await client.post(
        "/v1/stop-list/import",
        content="77010000004\n",
        headers={**tenant.headers, "Content-Type": "text/plain"},
    )
    assert plain.json()["added"] == 1
    json_body = await client.post(
        "/v1/stop-list/import", json={"phones": ["+77010000005"]}, headers=tenant.headers
    )
    problem(json_body, 415)
    empty = await client.post(
        "/v1/stop-list/import",
        content="phone\n\n",
        headers={**tenant.headers, "Content-Type": "text/plain"},
    )
    problem(empty, 422)


async def test_accounts_are_isolated(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    other = await other_tenant(db)
    await add(client, tenant, phones(2))
    assert (await listed(client, other))["total"] == 0
    problem(await client.delete(f"/v1/stop-list/{phones(1)[0]}", headers=other.headers), 404)
    # the other account can list the same number on its own list
    assert (await add(client, other, phones(1)))["added"] == 1
    async with db.read() as conn:
        assert await store.blocked(conn, account_id=tenant.id, phones=phones(3)) == set(phones(2))
        assert await store.blocked(conn, account_id=other.id, phones=phones(3)) == set(phones(1))
    r = await client.get("/v1/stop-list", headers={"Authorization": "Bearer " + "x" * 40})
    problem(r, 401)


async def test_system_list_applies_to_every_account(db: Database, tenant: Tenant) -> None:
    other = await other_tenant(db)
    system = await stoplists.add(db, phones=["+77019999999", "bad"], system=True, comment="ops")
    assert [e.added for e in system] == [True, False]
    await stoplists.add(db, phones=[phones(1)[0]], account_id=tenant.id)
    probe = [phones(1)[0], "+77019999999", "+77018888888"]
    async with db.read() as conn:
        assert await store.blocked(conn, account_id=tenant.id, phones=probe) == {
            phones(1)[0],
            "+77019999999",
        }
        assert await store.blocked(conn, account_id=other.id, phones=probe) == {"+77019999999"}
        assert await store.blocked(conn, account_id=other.id, phones=[]) == set()
    rows, total = await stoplists.entries(db, system=True)
    assert total == 1
    assert (rows[0].phone, rows[0].comment) == ("+77019999999", "ops")
    rows, total = await stoplists.entries(db, account_id=tenant.id)
    assert [r.phone for r in rows] == phones(1)
    assert await stoplists.remove(db, phone="77019999999", system=True) == "+77019999999"
    async with db.read() as conn:
        assert await store.blocked(conn, account_id=other.id, phones=probe) == set()


async def test_store_functions_chunk_and_count(db: Database, tenant: Tenant) -> None:
    now = datetime.now(UTC)
    many = phones(12_000)
    listed_every_thousandth = many[::1000]
    async with db.begin() as conn:
        assert (
            await store.add(
                conn, account_id=tenant.id, phones=listed_every_thousandth, comment="", now=now
            )
            == 12
        )
        assert (
            await store.add(
                conn,
                account_id=tenant.id,
                phones=[*listed_every_thousandth[:2], "+77771234567", "+77771234567"],
                comment="",
                now=now,
            )
            == 1
        )
        assert await store.add(
            conn, account_id=store.SYSTEM, phones=[many[-1]], comment="", now=now
        )
    async with db.read() as conn:
        found = await store.blocked(conn, account_id=tenant.id, phones=many)
        assert found == {*listed_every_thousandth, many[-1]}
        rows, total = await store.page(
            conn, account_id=tenant.id, phone_prefix="+7777", limit=10, offset=0
        )
        assert total == 1
        assert rows[0].phone == "+77771234567"
    async with db.begin() as conn:
        assert (
            await store.remove(
                conn, account_id=tenant.id, phones=[*listed_every_thousandth, "+79990000000"]
            )
            == 12
        )
    async with db.read() as conn:
        assert await store.blocked(conn, account_id=tenant.id, phones=many) == {many[-1]}
