"""The wire protocol: paths, methods, bodies, authentication and envelope codes."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest
from sqlalchemy.exc import OperationalError
from tests.acceptance.mobizon.php import MobizonClient, http_build_query
from tests.conftest import Tenant

from clarion.dialects.mobizon import wire
from clarion.services import accounts
from clarion.store.db import Database


async def test_get_and_lowercase_path_as_the_php_sdk_sends(api: MobizonClient) -> None:
    body = await api.call("User", "GetOwnBalance")  # the SDK lowercases the path
    assert body == {"code": 0, "data": {"balance": "100.0000", "currency": "USD"}, "message": ""}


@pytest.mark.parametrize("path", ["/service/User/GetOwnBalance", "/service/USER/getownbalance"])
async def test_module_and_method_are_case_insensitive(
    client: httpx.AsyncClient, tenant: Tenant, path: str
) -> None:
    r = await client.post(f"{path}?output=json&api=v1&apiKey={tenant.key}")
    assert r.status_code == 200 and r.json()["code"] == 0


async def test_the_key_may_come_in_the_body(client: httpx.AsyncClient, tenant: Tenant) -> None:
    r = await client.post(
        "/service/user/getownbalance",
        content=http_build_query({"apiKey": tenant.key}),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.json()["code"] == 0


async def test_json_bodies(client: httpx.AsyncClient, tenant: Tenant) -> None:
    r = await client.post(
        f"/service/campaign/create?apiKey={tenant.key}",
        content=json.dumps({"data": {"type": 2, "text": "hi", "from": "Alpha"}}),
        headers={"Content-Type": "application/json"},
    )
    assert r.json()["code"] == 0
    campaign_id = r.json()["data"]
    r = await client.post(
        "/service/campaign/get",
        json={"apiKey": tenant.key, "id": int(campaign_id)},
    )
    assert r.json()["data"]["from"] == "Alpha"


async def test_body_wins_over_the_query(api: MobizonClient) -> None:
    created = await api.call("campaign", "create", {"data": {"text": "a"}})
    body = await api.call("campaign", "get", {"id": created["data"]}, query={"id": "999999"})
    assert body["code"] == 0 and body["data"]["id"] == created["data"]


@pytest.mark.parametrize("key", [None, "", "x" * 40, "short"])
async def test_a_missing_or_wrong_key_is_code_8(client: httpx.AsyncClient, key: str | None) -> None:
    api = MobizonClient(client, key or "")
    query = {} if key is None else {"apiKey": key}
    r = await client.get("/service/user/getownbalance?" + http_build_query(query))
    body = api.envelope(r)
    assert body["code"] == 8 and body["data"] == []


async def test_unknown_module_is_code_4_and_unknown_method_code_5(api: MobizonClient) -> None:
    assert (await api.call("nosuch", "list"))["code"] == 4
    assert (await api.call("campaign", "nosuch"))["code"] == 5
    # a module Clarion reserves but whose method does not exist
    assert (await api.call("link", "nosuch"))["code"] == 5


async def test_paths_that_are_not_module_and_method(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    r = await client.get("/service/nosuch")
    assert (r.status_code, r.json()["code"]) == (200, 4)
    r = await client.get("/service/campaign/create/extra")
    assert r.json()["code"] == 5
    r = await client.get(f"/service/user/getownbalance/?apiKey={tenant.key}")
    assert r.json()["code"] == 0  # a trailing slash is harmless


async def test_only_json_output(api: MobizonClient) -> None:
    body = await api.call("user", "getownbalance", query={"output": "xml"})
    assert body["code"] == 6


async def test_format_and_routing_are_checked_before_the_key(client: httpx.AsyncClient) -> None:
    r = await client.get("/service/nosuch/list?apiKey=bad")
    assert r.json()["code"] == 4


async def test_a_missing_id_is_code_11_and_a_malformed_one_code_2(api: MobizonClient) -> None:
    assert (await api.call("campaign", "get"))["code"] == 11
    assert (await api.call("campaign", "get", {"id": "abc"}))["code"] == 2
    assert (await api.call("campaign", "get", {"id": "99999"}))["code"] == 2


async def test_bad_json_body_is_code_12(client: httpx.AsyncClient, tenant: Tenant) -> None:
    r = await client.post(
        f"/service/campaign/create?apiKey={tenant.key}",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert r.json()["code"] == 12


async def test_accounts_are_isolated(
    api: MobizonClient, client: httpx.AsyncClient, db: Database
) -> None:
    other = await accounts.create(db, name="other", balance=Decimal(5), currency="EUR")
    created = await api.call("campaign", "create", {"data": {"text": "mine"}})
    theirs = MobizonClient(client, other.api_key)
    assert (await theirs.call("campaign", "get", {"id": created["data"]}))["code"] == 2
    assert (await theirs.call("user", "getownbalance"))["data"]["currency"] == "EUR"


async def test_an_unexpected_failure_is_code_3(
    api: MobizonClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(ctx: wire.Context) -> None:
        raise RuntimeError("bug")

    monkeypatch.setitem(wire.HANDLERS, ("user", "getownbalance"), broken)
    body = await api.call("user", "getownbalance")
    assert body == {"code": 3, "data": [], "message": "application error"}


async def test_a_database_failure_is_code_999(
    api: MobizonClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def unavailable(ctx: wire.Context) -> None:
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setitem(wire.HANDLERS, ("user", "getownbalance"), unavailable)
    assert (await api.call("user", "getownbalance"))["code"] == 999


async def test_a_multipart_body_over_its_limits_is_code_12(api: MobizonClient) -> None:
    files = {f"f{n}": (f"{n}.csv", b"1", "text/csv") for n in range(wire.MAX_FILES + 1)}
    body = await api.upload("campaign", "addrecipients", {"id": "1"}, files)
    assert body["code"] == 12
