"""ContactGroup and ContactCard over the address book; User/GetOwnBalance."""

from __future__ import annotations

from decimal import Decimal

from tests.acceptance.mobizon.php import MobizonClient
from tests.conftest import Tenant

from clarion.services import accounts
from clarion.store.db import Database


async def test_groups(api: MobizonClient) -> None:
    created = await api.call("contactgroup", "create", {"data": {"name": "VIP"}})
    assert created["code"] == 0 and created["data"].isdigit()
    group_id = created["data"]
    duplicate = await api.call("contactgroup", "create", {"data": {"name": "VIP"}})
    assert duplicate["code"] == 1 and "name" in duplicate["data"]
    assert (await api.call("contactgroup", "create", {"data": {"name": " "}}))["code"] == 1

    listed = await api.call("contactgroup", "list")
    (item,) = listed["data"]["items"]
    assert item["id"] == group_id and item["name"] == "VIP" and item["cardsCnt"] == "0"
    assert listed["data"]["totalItemCount"] == "1"

    renamed = await api.call("contactgroup", "update", {"id": group_id, "data": {"name": "Gold"}})
    assert renamed["data"] is True
    assert (await api.call("contactgroup", "getcardscount", {"id": group_id}))["data"] == "0"
    assert (await api.call("contactgroup", "update", {"id": "999", "data": {"name": "x"}}))[
        "code"
    ] == 2
    deleted = await api.call("contactgroup", "delete", {"ids": f"{group_id},999"})
    assert deleted["data"] == {"processed": [group_id], "notProcessed": ["999"]}
    assert (await api.call("contactgroup", "delete"))["code"] == 11


async def test_cards(api: MobizonClient) -> None:
    group = (await api.call("contactgroup", "create", {"data": {"name": "Team"}}))["data"]
    created = await api.call(
        "contactcard",
        "create",
        {
            "data": {
                "name": "Ivan",
                "surname": "Petrov",
                "mobile": {"value": "+77001234567", "type": "JOB"},
                "email": "ivan@example.com",
                "telegram": "@ivan",
                "birth_date": "1990-01-02",
            }
        },
    )
    assert created["code"] == 0, created
    card_id = created["data"]
    assert (await api.call("contactcard", "setgroups", {"id": card_id, "groupIds[]": group}))[
        "data"
    ] is True

    got = (await api.call("contactcard", "get", {"id": card_id}))["data"]
    assert got["id"] == card_id and got["isAvailable"] == "1"
    fields = got["fields"]
    assert (fields["name"], fields["surname"], fields["birth_date"]) == (
        "Ivan",
        "Petrov",
        "1990-01-02",
    )
    assert fields["mobile"] == {"value": "77001234567", "type": "JOB"}
    assert fields["email"] == {"value": "ivan@example.com", "type": "MAIN"}
    assert fields["telegram"] == {"value": "@ivan", "type": "MAIN"}
    assert fields["viber"] == []
    assert got["groups"] == [{"id": group, "name": "Team"}]
    assert (await api.call("contactcard", "getgroups", {"id": card_id}))["data"] == [
        {"id": group, "name": "Team"}
    ]
    assert (await api.call("contactgroup", "getcardscount", {"id": group}))["data"] == "1"

    by_group = await api.call(
        "contactcard",
        "list",
        {"criteria": [{"field": "groupId", "operator": "equal", "value": group}]},
    )
    assert [c["id"] for c in by_group["data"]["items"]] == [card_id]
    by_phone = await api.call(
        "contactcard",
        "list",
        {"criteria": [{"field": "mobile", "operator": "contain", "value": "1234567"}]},
    )
    assert by_phone["data"]["totalItemCount"] == "1"
    unsupported = await api.call(
        "contactcard", "list", {"criteria": [{"field": "gender", "operator": "empty"}]}
    )
    assert unsupported["code"] == 12


async def test_card_errors(api: MobizonClient) -> None:
    no_mobile = await api.call("contactcard", "create", {"data": {"name": "X"}})
    assert no_mobile["code"] == 1 and "mobile" in no_mobile["data"]
    bad_mobile = await api.call("contactcard", "create", {"data": {"mobile": "12"}})
    assert bad_mobile["code"] == 1
    assert (await api.call("contactcard", "get", {"id": "999"}))["code"] == 2
    card_id = (await api.call("contactcard", "create", {"data": {"mobile": "77001234567"}}))["data"]
    unknown_group = await api.call("contactcard", "setgroups", {"id": card_id, "groupIds": "999"})
    assert unknown_group["code"] == 1 and "groupIds" in unknown_group["data"]


async def test_balance(api: MobizonClient, db: Database, tenant: Tenant) -> None:
    await accounts.topup(db, account_id=tenant.id, amount=Decimal("0.123456"))
    body = await api.call("user", "getownbalance")
    assert body["data"] == {"balance": "100.123456", "currency": "USD"}
