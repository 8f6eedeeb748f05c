"""Recipient imports: files and groups as checkpointed background tasks."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from tests.conftest import Tenant
from tests.helpers import drain, make_campaign, phones

from clarion.config import Settings
from clarion.dispatch.engine import Dispatcher
from clarion.imports.readers import CsvOptions
from clarion.services import imports
from clarion.store import stoplist
from clarion.store.db import Database
from clarion.store.schema import messages, tasks


def write_csv(path: Path, rows: list[list[str]], *, encoding: str = "utf-8") -> Path:
    """Comma-separated, no quoting (Mobizon's default enclosure is ')."""
    path.write_text("".join(",".join(row) + "\n" for row in rows), encoding=encoding)
    return path


async def message_phones(db: Database, campaign_id: int) -> list[str]:
    async with db.read() as conn:
        result = await conn.execute(
            select(messages.c.phone)
            .where(messages.c.campaign_id == campaign_id)
            .order_by(messages.c.id)
        )
        return list(result.scalars())


async def task_row(db: Database, task_id: int) -> Any:
    async with db.read() as conn:
        return (await conn.execute(select(tasks).where(tasks.c.id == task_id))).one()


async def test_csv_import_codes_report_and_counters(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, tmp_path: Path
) -> None:
    campaign = await make_campaign(client, tenant.headers)
    cid = campaign["id"]
    good = phones(6)
    # One number is already in the campaign, one is stop-listed.
    r = await client.post(
        f"/v1/campaigns/{cid}/recipients",
        headers=tenant.headers,
        json={"recipients": [{"phone": good[0]}]},
    )
    assert r.json()["recipients"][0]["code"] == 0
    from clarion.clock import utcnow

    async with db.begin() as conn:
        await stoplist.add(conn, account_id=tenant.id, phones=[good[1]], comment="", now=utcnow())
    rows = [
        [good[0]],
        [good[1]],
        [good[2]],
        ["not a number"],
        [""],
        [good[3]],
        [good[3]],
        [good[4].replace("+", "00")],
        ["+800 1234 5678"],
        [good[5]],
    ]
    path = write_csv(tmp_path / "list.csv", rows)
    task_id = await imports.start_file_import(
        db, account_id=tenant.id, campaign_id=cid, path=path, options=CsvOptions()
    )
    assert await imports.run(db, task_id, chunk_size=3) == "DONE"
    task = await task_row(db, task_id)
    assert task.result["codes"] == {"0": 4, "4": 2, "5": 1, "3": 1, "7": 1}
    assert task.checkpoint == 10 and task.done == 9  # the blank row is skipped
    assert sorted(await message_phones(db, cid)) == sorted(
        [good[0], good[2], good[3], good[4], good[5]]
    )
    report = await imports.rejections(db, account_id=tenant.id, task_id=task_id)
    assert [(n, c) for n, _, c in report] == [(1, 4), (2, 5), (4, 3), (7, 4), (9, 7)]
    # The API shows the task and the CSV report; counters equal the rows.
    r = await client.get(f"/v1/tasks/{task_id}", headers=tenant.headers)
    assert r.json()["status"] == "DONE" and r.json()["progress"] == 100
    r = await client.get(f"/v1/tasks/{task_id}/rejections", headers=tenant.headers)
    assert r.headers["content-type"].startswith("text/csv")
    lines = r.text.strip().splitlines()
    assert lines[0] == "row,value,code,reason" and len(lines) == 6
    stats = (await client.get(f"/v1/campaigns/{cid}/stats", headers=tenant.headers)).json()
    assert stats["messages"]["NEW"] == 5
    assert Decimal(stats["cost"]) == 0
    c = (await client.get(f"/v1/campaigns/{cid}", headers=tenant.headers)).json()
    assert c["recipients_rejected"] == 5


async def test_template_import_with_headers(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, tmp_path: Path
) -> None:
    campaign = await make_campaign(
        client, tenant.headers, type="template", text="Hi {name}, code {code}"
    )
    p = phones(3)
    path = write_csv(
        tmp_path / "t.csv",
        [["code", "Recipient", "name"], ["1", p[0], "Ann"], ["2", p[1], ""], ["3", p[2]]],
    )
    task_id = await imports.start_file_import(
        db, account_id=tenant.id, campaign_id=campaign["id"], path=path, options=CsvOptions()
    )
    assert await imports.run(db, task_id) == "DONE"
    r = await client.get(f"/v1/campaigns/{campaign['id']}/messages", headers=tenant.headers)
    texts = {m["phone"]: m["text"] for m in r.json()["items"]}
    assert texts == {p[0]: "Hi Ann, code 1", p[1]: "Hi , code 2"}
    assert (await task_row(db, task_id)).result["codes"] == {"0": 2, "20": 1}


async def test_xlsx_import(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, tmp_path: Path
) -> None:
    import xlsxwriter

    campaign = await make_campaign(client, tenant.headers)
    path = tmp_path / "list.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet()
    for i, number in enumerate(phones(4)):
        sheet.write_number(i, 0, int(number[1:]))
    book.close()
    task_id = await imports.start_file_import(
        db, account_id=tenant.id, campaign_id=campaign["id"], path=path, options=CsvOptions()
    )
    assert await imports.run(db, task_id) == "DONE"
    assert sorted(await message_phones(db, campaign["id"])) == phones(4)


async def test_campaign_locked_while_importing(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, tmp_path: Path
) -> None:
    campaign = await make_campaign(client, tenant.headers)
    cid = campaign["id"]
    path = write_csv(tmp_path / "l.csv", [[n] for n in phones(3)])
    task_id = await imports.start_file_import(
        db, account_id=tenant.id, campaign_id=cid, path=path, options=CsvOptions()
    )
    for method, url, body in [
        (
            "POST",
            f"/v1/campaigns/{cid}/recipients",
            {"recipients": [{"phone": phones(1, start=9)[0]}]},
        ),
        ("POST", f"/v1/campaigns/{cid}/start", None),
        ("DELETE", f"/v1/campaigns/{cid}", None),
        ("DELETE", f"/v1/campaigns/{cid}/recipients", None),
    ]:
        r = await client.request(method, url, json=body, headers=tenant.headers)
        assert r.status_code == 409, (url, r.text)
    with pytest.raises(Exception, match="locked"):
        await imports.start_file_import(
            db, account_id=tenant.id, campaign_id=cid, path=path, options=CsvOptions()
        )
    assert await imports.run(db, task_id) == "DONE"
    r = await client.post(f"/v1/campaigns/{cid}/start", headers=tenant.headers)
    assert r.status_code == 200


async def test_replace_deletes_previous_recipients(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, tmp_path: Path
) -> None:
    campaign = await make_campaign(client, tenant.headers)
    cid = campaign["id"]
    await client.post(
        f"/v1/campaigns/{cid}/recipients",
        headers=tenant.headers,
        json={"recipients": [{"phone": n} for n in phones(3)]},
    )
    path = write_csv(tmp_path / "r.csv", [[n] for n in phones(2, start=100)])
    task_id = await imports.start_file_import(
        db, account_id=tenant.id, campaign_id=cid, path=path, options=CsvOptions(), replace=True
    )
    await imports.run(db, task_id)
    assert sorted(await message_phones(db, cid)) == phones(2, start=100)
    stats = (await client.get(f"/v1/campaigns/{cid}/stats", headers=tenant.headers)).json()
    assert stats["total_messages"] == 2


class Crash(Exception):
    pass


async def test_crash_resumes_from_checkpoint_without_duplicates(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, tmp_path: Path
) -> None:
    campaign = await make_campaign(client, tenant.headers)
    cid = campaign["id"]
    numbers = phones(95)
    path = write_csv(tmp_path / "c.csv", [[n] for n in numbers] + [["bad"]])
    task_id = await imports.start_file_import(
        db, account_id=tenant.id, campaign_id=cid, path=path, options=CsvOptions()
    )

    def crash_after_three(done: int, total: int | None) -> None:
        if done >= 30:
            raise Crash

    with pytest.raises(Crash):
        await imports.run(db, task_id, chunk_size=10, progress=crash_after_three)
    task = await task_row(db, task_id)
    assert task.status == "RUNNING" and task.checkpoint == 30
    assert len(await message_phones(db, cid)) == 30
    # Its lease still runs: another worker does not take it yet.
    assert await imports.run(db, task_id, chunk_size=10) == "RUNNING"
    async with db.begin() as conn:
        await conn.execute(
            update(tasks).where(tasks.c.id == task_id).values(lease_until=task.created_at)
        )
    assert await imports.run(db, task_id, chunk_size=10) == "DONE"
    assert await message_phones(db, cid) == numbers
    task = await task_row(db, task_id)
    assert task.result["codes"] == {"0": 95, "3": 1}
    stats = (await client.get(f"/v1/campaigns/{cid}/stats", headers=tenant.headers)).json()
    assert stats["messages"]["NEW"] == 95


async def test_unreadable_file_fails_and_rolls_back(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, tmp_path: Path
) -> None:
    campaign = await make_campaign(client, tenant.headers)
    cid = campaign["id"]
    await client.post(
        f"/v1/campaigns/{cid}/recipients",
        headers=tenant.headers,
        json={"recipients": [{"phone": phones(1, start=500)[0]}]},
    )
    path = tmp_path / "broken.csv"
    good = "\n".join(phones(20)).encode()
    path.write_bytes(good + b"\n\xff\xfe\xfa broken\n")
    task_id = await imports.start_file_import(
        db, account_id=tenant.id, campaign_id=cid, path=path, options=CsvOptions(encoding="UTF-8")
    )
    assert await imports.run(db, task_id, chunk_size=5) == "FAILED"
    task = await task_row(db, task_id)
    assert "utf-8" in task.error.lower()
    # Only what was there before the import remains; the campaign is unlocked.
    assert await message_phones(db, cid) == phones(1, start=500)
    stats = (await client.get(f"/v1/campaigns/{cid}/stats", headers=tenant.headers)).json()
    assert stats["total_messages"] == 1
    r = await client.post(
        f"/v1/campaigns/{cid}/recipients",
        headers=tenant.headers,
        json={"recipients": [{"phone": phones(1, start=600)[0]}]},
    )
    assert r.status_code == 200


async def test_upload_runs_in_dispatcher(
    client: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    dispatcher: Dispatcher,
    settings: Settings,
    tmp_path: Path,
) -> None:
    campaign = await make_campaign(client, tenant.headers)
    body = "\n".join(["number", *phones(12)]).encode("utf-16")
    r = await client.post(
        f"/v1/campaigns/{campaign['id']}/recipients/import",
        headers=tenant.headers,
        files={"file": ("list.csv", body, "text/csv")},
        data={"encoding": "UCS-2", "skip_header": "true"},
    )
    assert r.status_code == 202, r.text
    task = r.json()
    assert task["status"] == "QUEUED"
    await dispatcher.housekeeping()
    for _ in range(200):
        r = await client.get(f"/v1/tasks/{task['id']}", headers=tenant.headers)
        if r.json()["status"] == "DONE":
            break
        await asyncio.sleep(0.02)
    assert r.json()["status"] == "DONE" and r.json()["result"]["added"] == 12
    assert sorted(await message_phones(db, campaign["id"])) == phones(12)
    # The uploaded copy is removed once imported.
    uploads = Path(settings.data_dir) / "uploads"
    assert not any(uploads.iterdir())


async def test_bad_uploads(client: httpx.AsyncClient, tenant: Tenant, settings: Settings) -> None:
    campaign = await make_campaign(client, tenant.headers)
    url = f"/v1/campaigns/{campaign['id']}/recipients/import"
    r = await client.post(url, headers=tenant.headers, files={"file": ("e.csv", b"", "text/csv")})
    assert r.status_code == 422 and "empty" in r.json()["detail"]
    big = b"1" * (settings.max_import_bytes + 1)
    r = await client.post(url, headers=tenant.headers, files={"file": ("b.csv", big, "text/csv")})
    assert r.status_code == 413
    r = await client.post(
        url,
        headers=tenant.headers,
        files={"file": ("x.csv", b"+77010000001", "text/csv")},
        data={"encoding": "EBCDIC-XX"},
    )
    assert r.status_code == 422


async def test_stop_list_checked_again_at_send(
    client: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    dispatcher: Dispatcher,
) -> None:
    from clarion.clock import utcnow

    campaign = await make_campaign(client, tenant.headers)
    cid = campaign["id"]
    numbers = phones(4)
    await client.post(
        f"/v1/campaigns/{cid}/recipients",
        headers=tenant.headers,
        json={"recipients": [{"phone": n} for n in numbers]},
    )
    async with db.begin() as conn:  # stop-listed after it was added: system list
        await stoplist.add(conn, account_id=0, phones=[numbers[2]], comment="", now=utcnow())
    await client.post(f"/v1/campaigns/{cid}/start", headers=tenant.headers)
    await drain(dispatcher)
    r = await client.get(f"/v1/campaigns/{cid}/messages", headers=tenant.headers)
    fate = {m["phone"]: (m["status"], m["error_code"], m["charged"]) for m in r.json()["items"]}
    assert fate[numbers[2]] == ("REJECTED", "stop-list", "0.000000")
    assert {fate[n][0] for n in numbers if n != numbers[2]} == {"DELIVERED"}
    account = (await client.get("/v1/account", headers=tenant.headers)).json()
    assert Decimal(account["balance"]) == Decimal("100.00") - 3 * Decimal("0.05")
    assert (await client.get(f"/v1/campaigns/{cid}", headers=tenant.headers)).json()[
        "status"
    ] == "DONE"
    async with db.read() as conn:
        total = (await conn.execute(select(func.count()).select_from(messages))).scalar_one()
    assert total == 4


async def make_card(
    client: httpx.AsyncClient,
    tenant: Tenant,
    name: str,
    contacts: list[dict[str, str]],
    groups: list[int] | None = None,
    fields: dict[str, str] | None = None,
) -> int:
    r = await client.post(
        "/v1/contact-cards",
        headers=tenant.headers,
        json={"name": name, "contacts": contacts, "groups": groups or [], "fields": fields or {}},
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def test_cards_and_contacts_as_sources(client: httpx.AsyncClient, tenant: Tenant) -> None:
    campaign = await make_campaign(client, tenant.headers, type="template", text="Hi {name}")
    cid = campaign["id"]
    p = phones(3)
    ann = await make_card(client, tenant, "Ann", [{"type": "mobile", "value": p[0]}])
    mail = await make_card(client, tenant, "Mail", [{"type": "email", "value": "m@example.com"}])
    r = await client.post(
        f"/v1/campaigns/{cid}/recipients",
        headers=tenant.headers,
        json={"cards": [ann, mail, 999_999]},
    )
    assert r.status_code == 200, r.text
    assert [(x["card_id"], x["code"]) for x in r.json()["recipients"]] == [
        (ann, 0),
        (mail, 31),
        (999_999, 30),
    ]
    card = (await client.get(f"/v1/contact-cards/{ann}", headers=tenant.headers)).json()
    bo = await make_card(client, tenant, "Bo", [{"type": "mobile", "value": p[1]}])
    bo_card = (await client.get(f"/v1/contact-cards/{bo}", headers=tenant.headers)).json()
    contact_ids = [bo_card["contacts"][0]["id"], card["contacts"][0]["id"], 888_888]
    r = await client.post(
        f"/v1/campaigns/{cid}/recipients", headers=tenant.headers, json={"contacts": contact_ids}
    )
    assert [(x["contact_id"], x["code"]) for x in r.json()["recipients"]] == [
        (contact_ids[0], 0),
        (contact_ids[1], 4),
        (888_888, 32),
    ]
    r = await client.get(f"/v1/campaigns/{cid}/messages", headers=tenant.headers)
    assert {m["phone"]: m["text"] for m in r.json()["items"]} == {p[0]: "Hi Ann", p[1]: "Hi Bo"}
    # Exactly one source per request.
    r = await client.post(
        f"/v1/campaigns/{cid}/recipients",
        headers=tenant.headers,
        json={"cards": [ann], "contacts": [1]},
    )
    assert r.status_code == 422
    r = await client.post(f"/v1/campaigns/{cid}/recipients", headers=tenant.headers, json={})
    assert r.status_code == 422


async def test_group_import_task(client: httpx.AsyncClient, tenant: Tenant, db: Database) -> None:
    r = await client.post("/v1/contact-groups", headers=tenant.headers, json={"name": "vip"})
    vip = r.json()["id"]
    r = await client.post("/v1/contact-groups", headers=tenant.headers, json={"name": "all"})
    everyone = r.json()["id"]
    p = phones(5)
    for i, number in enumerate(p):
        await make_card(
            client,
            tenant,
            f"N{i}",
            [{"type": "mobile", "value": number}],
            groups=[vip, everyone] if i < 2 else [everyone],
        )
    await make_card(client, tenant, "nomobile", [{"type": "email", "value": "x@y.z"}], groups=[vip])
    campaign = await make_campaign(client, tenant.headers)
    r = await client.post(
        f"/v1/campaigns/{campaign['id']}/recipients/groups",
        headers=tenant.headers,
        json={"groups": [vip, everyone]},
    )
    assert r.status_code == 202, r.text
    task_id = r.json()["id"]
    assert await imports.run(db, task_id, chunk_size=2) == "DONE"
    assert sorted(await message_phones(db, campaign["id"])) == sorted(p)  # each card once
    r = await client.post(
        f"/v1/campaigns/{campaign['id']}/recipients/groups",
        headers=tenant.headers,
        json={"groups": [123_456]},
    )
    assert r.status_code == 404


async def test_request_rules_overall_code_and_precost(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    from clarion.services import campaigns as service
    from clarion.services.errors import InvalidInput

    campaign = await make_campaign(client, tenant.headers, type="template", text="{t}")
    cid = campaign["id"]
    # Over the per-request limit (Mobizon: 500): refused, nothing added.
    entries = [service.RecipientInput(n, {"t": "x"}) for n in phones(501)]
    with pytest.raises(InvalidInput, match="at most 500"):
        await service.add_recipients(
            db, account_id=tenant.id, campaign_id=cid, entries=entries, limit=500
        )
    assert await message_phones(db, cid) == []
    p = phones(3)
    long_text = "ж" * 71  # UCS-2, 2 segments
    r = await client.post(
        f"/v1/campaigns/{cid}/recipients",
        headers=tenant.headers,
        json={
            "recipients": [
                {"phone": p[0], "variables": {"t": "short"}},
                {"phone": p[1], "variables": {"t": long_text}},
                {"phone": "87011234567", "variables": {"t": "local format"}},
            ]
        },
    )
    body = r.json()
    assert body["code"] == 98 and [x["code"] for x in body["recipients"]] == [0, 0, 3]
    stats = (await client.get(f"/v1/campaigns/{cid}/stats", headers=tenant.headers)).json()
    assert stats["segments"]["NEW"] == 3
    assert Decimal(stats["estimated_cost"]) == 3 * Decimal("0.05")
    r = await client.post(
        f"/v1/campaigns/{cid}/recipients",
        headers=tenant.headers,
        json={"recipients": [{"phone": p[0], "variables": {"t": "again"}}]},
    )
    assert r.json()["code"] == 99
    r = await client.post(
        f"/v1/campaigns/{cid}/recipients",
        headers=tenant.headers,
        json={"recipients": [{"phone": p[2], "variables": {"t": "x"}}], "replace": True},
    )
    assert r.json()["code"] == 0
    assert await message_phones(db, cid) == [p[2]]
