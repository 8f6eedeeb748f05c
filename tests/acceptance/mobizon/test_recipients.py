"""Campaign/AddRecipients from every source, with Mobizon's rules and result codes, and
TaskQueue/GetStatus of the background imports."""

from __future__ import annotations

from typing import Any

from tests.acceptance.mobizon.php import MobizonClient
from tests.conftest import Tenant
from tests.helpers import phones

from clarion.services import contacts, imports, stoplists
from clarion.store.db import Database


async def create(api: MobizonClient, **data: Any) -> str:
    body = await api.call("campaign", "create", {"data": {"text": "Hello", **data}})
    assert body["code"] == 0, body
    return str(body["data"])


async def add(api: MobizonClient, campaign_id: str, **params: Any) -> dict[str, Any]:
    return await api.call("campaign", "addrecipients", {"id": campaign_id, **params})


async def card(api: MobizonClient, mobile: str, **data: Any) -> str:
    body = await api.call("contactcard", "create", {"data": {"mobile": {"value": mobile}, **data}})
    assert body["code"] == 0, body
    return str(body["data"])


async def messages_text(api: MobizonClient, campaign_id: str) -> list[str]:
    body = await api.call(
        "message", "list", {"criteria": {"campaignIds": campaign_id}, "sort": {"id": "ASC"}}
    )
    return [item["text"] for item in body["data"]["items"]]


async def test_numbers_as_an_array(api: MobizonClient) -> None:
    campaign_id = await create(api)
    body = await add(api, campaign_id, recipients=["+7 (701) 000-00-01", "77010000002"])
    assert body["code"] == 0 and body["message"] == ""
    first, second = body["data"]
    assert first["recipient"] == "77010000001" and first["number"] == "+7 (701) 000-00-01"
    assert (first["code"], first["type"]) == (0, "number")
    assert first["messageId"].isdigit() and second["messageId"].isdigit()


async def test_numbers_as_a_string_separated_by_commas_or_lines(api: MobizonClient) -> None:
    campaign_id = await create(api)
    body = await add(api, campaign_id, recipients="77010000001, 77010000002\n77010000003")
    assert body["code"] == 0 and len(body["data"]) == 3


async def test_partial_and_nothing_done(api: MobizonClient, db: Database, tenant: Tenant) -> None:
    await stoplists.add(db, account_id=tenant.id, phones=["+77010000009"])
    campaign_id = await create(api)
    body = await add(
        api,
        campaign_id,
        recipients=["77010000001", "77010000001", "7701000000x", "77010000009", "800123"],
    )
    assert body["code"] == 98 and body["message"]
    assert [r["code"] for r in body["data"]] == [0, 4, 3, 5, 3]
    assert [r["messageId"] is None for r in body["data"]] == [False, True, True, True, True]
    assert body["data"][3]["recipient"] == "77010000009"
    nothing = await add(api, campaign_id, recipients=["77010000001", "abc"])
    assert nothing["code"] == 99
    assert [r["code"] for r in nothing["data"]] == [4, 3]


async def test_a_row_without_recipient_is_code_2_and_an_empty_one_code_1(
    api: MobizonClient,
) -> None:
    campaign_id = await create(api)
    body = await add(
        api,
        campaign_id,
        recipients=[{"name": "x"}, {"recipient": ""}, {"recipient": "77010000001"}],
    )
    assert [r["code"] for r in body["data"]] == [2, 1, 0]
    assert body["data"][0]["recipient"] is None


async def test_template_rows_and_the_placeholders_flag(api: MobizonClient) -> None:
    campaign_id = await create(api, type=3, text="Hi {name}, {balance} due")
    rows = [
        {"recipient": "77010000001", "name": "Ann", "balance": "10"},
        {"recipient": "77010000002", "name": "Bob"},
    ]
    keep = await add(api, campaign_id, recipients=rows)  # Mobizon's default flag: 1 = keep
    assert keep["code"] == 0
    assert await messages_text(api, campaign_id) == ["Hi Ann, 10 due", "Hi Bob, {balance} due"]

    remove = await add(
        api,
        campaign_id,
        recipients=[{"recipient": "77010000003", "name": "Cy"}],
        params={"placeholdersFlag": 2},
    )
    assert remove["code"] == 0
    reject = await add(
        api,
        campaign_id,
        recipients=[{"recipient": "77010000004", "name": "Di"}],
        params={"placeholdersFlag": 3},
    )
    assert (reject["code"], reject["data"][0]["code"]) == (99, 20)
    texts = await messages_text(api, campaign_id)
    assert texts[-1] == "Hi Cy,  due"


async def test_replace(api: MobizonClient) -> None:
    campaign_id = await create(api)
    await add(api, campaign_id, recipients=phones(3))
    body = await add(api, campaign_id, recipients=phones(1, start=10), params={"replace": 1})
    assert body["code"] == 0
    info = (await api.call("campaign", "getinfo", {"id": campaign_id}))["data"]
    assert info["counters"]["totalMsgNum"] == "1"


async def test_at_most_500_per_request_and_nothing_added_beyond(api: MobizonClient) -> None:
    campaign_id = await create(api)
    body = await add(api, campaign_id, recipients=phones(501))
    assert body["code"] == 12
    info = (await api.call("campaign", "getinfo", {"id": campaign_id}))["data"]
    assert info["counters"]["totalMsgNum"] == "0"
    assert (await add(api, campaign_id, recipients=phones(500)))["code"] == 0


async def test_exactly_one_source(api: MobizonClient) -> None:
    campaign_id = await create(api)
    assert (await add(api, campaign_id))["code"] == 12
    assert (await add(api, campaign_id, recipients=""))["code"] == 12
    both = await add(api, campaign_id, recipients=phones(1), recipientsCardIds="1")
    assert both["code"] == 12


async def test_campaign_errors(api: MobizonClient) -> None:
    assert (await add(api, "999999", recipients=phones(1)))["code"] == 2
    single = await create(api, type=1)
    assert (await add(api, single, recipients=phones(2)))["code"] == 10
    assert (await add(api, single, recipients=phones(1)))["code"] == 0
    await api.call("campaign", "send", {"id": single})
    assert (await add(api, single, recipients=phones(1, start=5)))["code"] == 10
    bad = await add(api, single, recipients=phones(1), params={"placeholdersFlag": 7})
    assert bad["code"] == 1 and "placeholdersFlag" in bad["data"]


async def test_contact_cards_contacts_and_card_fields(
    api: MobizonClient, db: Database, tenant: Tenant
) -> None:
    ann = await card(api, "77010000001", name="Ann", landline="+77272000001")
    bob = await card(api, "77010000002", name="Bob", surname="Stone", whatsapp="77010000003")
    campaign_id = await create(api, type=3, text="Hi {name} {surname}")

    by_card = await add(api, campaign_id, recipientsCardIds=f"{ann},999999")
    assert [r["code"] for r in by_card["data"]] == [0, 30]
    assert by_card["data"][0]["contactCardId"] == ann
    assert by_card["data"][1]["recipient"] is None

    full = await contacts.get_card(db, account_id=tenant.id, card_id=int(bob))
    mobile = next(c for c in full.contacts if c.type == "mobile")
    by_contact = await add(api, campaign_id, recipientsContactIds=[mobile.id, 999999])
    assert [r["code"] for r in by_contact["data"]] == [0, 32]
    assert by_contact["data"][0]["contactId"] == str(mobile.id)

    refs = await add(
        api,
        campaign_id,
        recipientContacts=f"{ann}:landline\n{bob}:whatsapp,{bob}:telegram,999999,junk",
    )
    assert [r["code"] for r in refs["data"]] == [0, 0, 31, 30, 32]
    assert refs["data"][0]["recipient"] == "77272000001"
    assert refs["data"][1]["contact"] == f"{bob}:whatsapp"
    texts = await messages_text(api, campaign_id)
    assert texts == ["Hi Ann {surname}", "Hi Bob Stone", "Hi Ann {surname}", "Hi Bob Stone"]


async def test_groups_start_a_background_task(
    api: MobizonClient, db: Database, tenant: Tenant
) -> None:
    group = (await api.call("contactgroup", "create", {"data": {"name": "VIP"}}))["data"]
    for n in range(3):
        card_id = await card(api, f"7701000001{n}")
        assert (await api.call("contactcard", "setgroups", {"id": card_id, "groupIds": [group]}))[
            "data"
        ] is True
    campaign_id = await create(api)
    body = await add(api, campaign_id, recipientGroups=group)
    assert body["code"] == 100 and body["data"].isdigit()
    task_id = body["data"]

    status = await api.call("taskqueue", "getstatus", {"id": task_id})
    assert status["data"] == {"id": task_id, "status": 0, "progress": 0}
    locked = await add(api, campaign_id, recipients=phones(1))
    assert locked["code"] == 10
    assert (await api.call("campaign", "send", {"id": campaign_id}))["code"] == 10

    assert await imports.run(db, int(task_id)) == "DONE"
    status = await api.call("taskqueue", "getstatus", {"id": task_id})
    assert status["data"] == {"id": task_id, "status": 2, "progress": 100}
    info = (await api.call("campaign", "getinfo", {"id": campaign_id}))["data"]
    assert info["counters"]["totalMsgNum"] == "3"
    assert (await add(api, campaign_id, recipientsGroupIds="424242"))["code"] == 2


async def test_a_file_starts_a_background_task(api: MobizonClient, db: Database) -> None:
    campaign_id = await create(api, type=3, text="Hi {name}")
    csv = "recipient;name\n'77010000001';'Ann; Jr'\n77010000002;Bob\nbad;Cy\n".encode("cp1251")
    body = await api.upload(
        "campaign",
        "addrecipients",
        {
            "id": campaign_id,
            "params": {
                "recipientsFileDelimiter": ";",
                "recipientsFileEncoding": "WINDOWS-1251",
                "placeholdersFlag": 3,
            },
        },
        {"recipientsFile": ("people.csv", csv, "text/csv")},
    )
    assert body["code"] == 100, body
    task_id = int(body["data"])
    assert await imports.run(db, task_id) == "DONE"
    assert await messages_text(api, campaign_id) == ["Hi Ann; Jr", "Hi Bob"]
    info = (await api.call("campaign", "getinfo", {"id": campaign_id}))["data"]
    assert info["counters"]["recipientsRejected"] == "1"


async def test_a_files_placeholders_flag_applies_to_its_import_only(
    api: MobizonClient, db: Database
) -> None:
    campaign_id = await create(api, type=3, text="Hi {name}!")
    csv = b"recipient,name\n77010000001,Ann\n77010000002\n"
    body = await api.upload(
        "campaign",
        "addrecipients",
        {"id": campaign_id, "params": {"placeholdersFlag": 2}},
        {"recipientsFile": ("people.csv", csv, "text/csv")},
    )
    assert body["code"] == 100, body
    assert await imports.run(db, int(body["data"])) == "DONE"
    assert await messages_text(api, campaign_id) == ["Hi Ann!", "Hi !"]
    # The next request with Mobizon's default flag (1, keep) is not affected.
    keep = await add(api, campaign_id, recipients=[{"recipient": "77010000003"}])
    assert keep["code"] == 0
    assert (await messages_text(api, campaign_id))[-1] == "Hi {name}!"


async def test_a_file_for_a_regular_campaign_with_a_header(
    api: MobizonClient, db: Database
) -> None:
    campaign_id = await create(api)
    body = await api.upload(
        "campaign",
        "addrecipients",
        {"id": campaign_id, "params": {"recipientsFileSkipHeader": 1}},
        {"recipientsFile": ("n.csv", b"phone\n77010000001\n77010000002\n", "text/csv")},
    )
    assert body["code"] == 100
    assert await imports.run(db, int(body["data"])) == "DONE"
    info = (await api.call("campaign", "getinfo", {"id": campaign_id}))["data"]
    assert info["counters"]["totalMsgNum"] == "2"


async def test_file_errors(api: MobizonClient) -> None:
    campaign_id = await create(api)
    not_a_file = await add(api, campaign_id, recipientsFile="77010000001")
    assert not_a_file["code"] == 1 and "recipientsFile" in not_a_file["data"]
    empty = await api.upload(
        "campaign", "addrecipients", {"id": campaign_id}, {"recipientsFile": ("e.csv", b"", "")}
    )
    assert empty["code"] == 1
    huge = await api.upload(
        "campaign",
        "addrecipients",
        {"id": campaign_id},
        {"recipientsFile": ("h.csv", b"77010000001\n" * 10_000, "text/csv")},
    )
    assert huge["code"] == 12
    encoding = await api.upload(
        "campaign",
        "addrecipients",
        {"id": campaign_id, "params": {"recipientsFileEncoding": "KLINGON"}},
        {"recipientsFile": ("n.csv", b"77010000001\n", "text/csv")},
    )
    assert encoding["code"] == 1 and "recipientsFileEncoding" in encoding["data"]


async def test_taskqueue_errors(api: MobizonClient) -> None:
    assert (await api.call("taskqueue", "getstatus", {"id": "424242"}))["code"] == 2
    assert (await api.call("taskqueue", "getstatus"))["code"] == 11
