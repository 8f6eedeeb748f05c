"""wolkvox's dialer API v2 as a wolkvox client calls it: the seed's PHP curl requests
(``PUT /api/v2/campaign.php?api=start&type_campaign=...&campaign_id=...`` with the
``wolkvox-token`` header), the ``{code, error, msg}`` envelope, the per-token limits."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select, update
from tests.acceptance.wolkvox.client import (
    Api,
    envelope,
    new_campaign,
    other_tenant,
    phones,
    record,
    status_of,
)
from tests.conftest import Tenant

from clarion.config import Settings
from clarion.dialects.bsg import wire as bsg_wire
from clarion.dialects.wolkvox import wire
from clarion.domain.lifecycle import DIALECT_ACTIONS, PauseReason
from clarion.services import accounts, voice
from clarion.services import campaigns as campaign_service
from clarion.store import calls as call_store
from clarion.store.db import Database
from clarion.store.schema import accounts as accounts_table
from clarion.store.schema import api_quota

# --- start / stop -------------------------------------------------------------------------


async def test_start_answers_exactly_as_the_seed(
    api: Api, db: Database, settings: Settings, tenant: Tenant
) -> None:
    cid = await new_campaign(db, settings, tenant.id)
    r = await api.call(
        "POST",
        "add_record",
        type_campaign="predictive",
        campaign_id=cid,
        campaign_status="stopped",
        body=[record(p) for p in phones(3)],
    )
    assert r.status_code == 201, r.text

    r = await api.call("PUT", "start", type_campaign="predictive", campaign_id=cid)

    assert r.status_code == 202
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {
        "code": 202,
        "error": None,
        "msg": f"The {cid} campaign_id has been started successfully",
    }
    assert await status_of(db, tenant.id, cid) == ("RUNNING", None)


async def test_stop_pauses_and_start_resumes(
    api: Api, db: Database, settings: Settings, tenant: Tenant
) -> None:
    cid = await new_campaign(db, settings, tenant.id, dialer="preview")
    await voice.add_numbers(
        db,
        account_id=tenant.id,
        campaign_id=cid,
        entries=[campaign_service.RecipientInput(p) for p in phones(2)],
    )
    assert (
        await api.call("PUT", "start", type_campaign="preview", campaign_id=cid)
    ).status_code == 202

    r = await api.call("PUT", "stop", type_campaign="preview", campaign_id=cid)
    assert r.status_code == 202
    assert r.json() == envelope(202, None, f"The {cid} campaign_id has been stopped successfully")
    assert await status_of(db, tenant.id, cid) == ("PAUSED", "user")

    again = await api.call("PUT", "stop", type_campaign="preview", campaign_id=cid)
    assert again.json() == r.json()  # a stopped campaign stays stopped
    assert await status_of(db, tenant.id, cid) == ("PAUSED", "user")

    r = await api.call("PUT", "start", type_campaign="preview", campaign_id=cid)
    assert r.json() == envelope(202, None, f"The {cid} campaign_id has been started successfully")
    assert await status_of(db, tenant.id, cid) == ("RUNNING", None)
    again = await api.call("PUT", "start", type_campaign="preview", campaign_id=cid)
    assert again.json() == r.json()
    assert await status_of(db, tenant.id, cid) == ("RUNNING", None)


async def test_states_that_cannot_start_or_stop(
    api: Api, db: Database, settings: Settings, tenant: Tenant
) -> None:
    cid = await new_campaign(db, settings, tenant.id)
    r = await api.call("PUT", "start", type_campaign="predictive", campaign_id=cid)
    assert r.status_code == 412
    assert r.json() == envelope(
        412, "PRECONDITION FAILED", f"CAMPAIGN {cid} HAS NO RECIPIENTS TO SEND TO"
    )
    # Stopping a campaign that never started is a no-op.
    r = await api.call("PUT", "stop", type_campaign="predictive", campaign_id=cid)
    assert r.status_code == 202
    assert await status_of(db, tenant.id, cid) == ("DRAFT", None)

    await voice.add_numbers(
        db,
        account_id=tenant.id,
        campaign_id=cid,
        entries=[campaign_service.RecipientInput(phones(1)[0])],
    )
    await campaign_service.start(db, account_id=tenant.id, campaign_id=cid)
    await campaign_service.stop(db, account_id=tenant.id, campaign_id=cid)  # Clarion's final stop
    r = await api.call("PUT", "start", type_campaign="predictive", campaign_id=cid)
    assert r.json() == envelope(
        412, "PRECONDITION FAILED", f"THE CAMPAIGN_ID {cid} IS STOPPED AND CANNOT BE STARTED"
    )
    r = await api.call("PUT", "stop", type_campaign="predictive", campaign_id=cid)
    assert r.status_code == 202
    assert await status_of(db, tenant.id, cid) == ("STOPPED", None)


async def test_a_campaign_waiting_for_its_window_is_started_and_stop_holds_it(
    api: Api, db: Database, settings: Settings, tenant: Tenant
) -> None:
    cid = await new_campaign(db, settings, tenant.id)
    await voice.add_numbers(
        db,
        account_id=tenant.id,
        campaign_id=cid,
        entries=[campaign_service.RecipientInput(p) for p in phones(2)],
    )
    await api.call("PUT", "start", type_campaign="predictive", campaign_id=cid)
    # The call engine pauses a campaign outside its calling hours and resumes it later.
    await campaign_service.pause(
        db, account_id=tenant.id, campaign_id=cid, reason=PauseReason.WINDOW
    )

    async def shown() -> str:
        r = await api.call("GET", "status", type_campaign="predictive", campaign_id=cid)
        return str(r.json()["data"][0]["status"])

    assert await shown() == "Started"  # active, waiting for its hours
    r = await api.call("PUT", "start", type_campaign="predictive", campaign_id=cid)
    assert r.status_code == 202
    assert await status_of(db, tenant.id, cid) == ("PAUSED", "window")

    # stop makes it the user's pause, which the engine does not lift when hours open.
    r = await api.call("PUT", "stop", type_campaign="predictive", campaign_id=cid)
    assert r.json() == envelope(202, None, f"The {cid} campaign_id has been stopped successfully")
    assert await status_of(db, tenant.id, cid) == ("PAUSED", "user")
    assert await shown() == "Stopped"
    await api.call("PUT", "start", type_campaign="predictive", campaign_id=cid)
    assert await status_of(db, tenant.id, cid) == ("RUNNING", None)


# --- status and list ----------------------------------------------------------------------


async def test_status_and_campaign_list(
    api: Api, db: Database, settings: Settings, tenant: Tenant
) -> None:
    predictive = await new_campaign(db, settings, tenant.id, name="Cartera")
    preview = await new_campaign(db, settings, tenant.id, dialer="preview", name="Ventas")
    await new_campaign(db, settings, tenant.id, dialer="auto", name="IVR")  # not wolkvox's
    await api.call(
        "POST",
        "add_record",
        type_campaign="predictive",
        campaign_id=predictive,
        body=[record(p, n) for n, p in enumerate(phones(3))],
    )
    await api.call("PUT", "start", type_campaign="predictive", campaign_id=predictive)

    r = await api.call("GET", "status", type_campaign="predictive", campaign_id=predictive)
    assert r.status_code == 200
    body = r.json()
    assert (body["code"], body["error"], body["msg"]) == (200, None, "1 records found")
    (item,) = body["data"]
    assert {k: item[k] for k in ("campaign_id", "campaign_name", "campaign_description")} == {
        "campaign_id": str(predictive),
        "campaign_name": "Cartera",
        "campaign_description": "Cobro",
    }
    assert item["type_campaign"] == "predictive"
    assert item["status"] == "Started"
    assert item["records"] == "3"
    assert item["pending"] == "3"
    assert item["dial_mode"] == "phone1 - ring: 30(sec)"
    assert item["clarion_status"] == "RUNNING"
    assert all(isinstance(v, str) for v in item.values())

    r = await api.call("GET", "campaigns", php="information.php")
    assert r.status_code == 200
    listed = {c["campaign_id"]: c for c in r.json()["data"]}
    assert set(listed) == {str(predictive), str(preview)}
    assert r.json()["msg"] == "2 records found"
    assert listed[str(preview)]["status"] == "Stopped"
    assert listed[str(preview)]["type_campaign"] == "preview"
    assert listed[str(predictive)] == item


# --- errors -------------------------------------------------------------------------------


async def test_token_errors(api: Api, db: Database, settings: Settings, tenant: Tenant) -> None:
    cid = await new_campaign(db, settings, tenant.id)
    r = await api.client.put(
        f"/api/v2/campaign.php?api=start&type_campaign=predictive&campaign_id={cid}"
    )
    assert r.status_code == 401
    assert r.json() == envelope(401, "UNAUTHORIZED", "PLEASE ENTER THE WOLKVOX-TOKEN")

    r = await api.call("PUT", "start", key="  ", type_campaign="predictive", campaign_id=cid)
    assert r.json() == envelope(401, "UNAUTHORIZED", "PLEASE ENTER THE WOLKVOX-TOKEN")

    for bad in ("7b69645f6469737472697d2d3230323430353231", "x" * 40, "short"):
        r = await api.call("PUT", "start", key=bad, type_campaign="predictive", campaign_id=cid)
        assert r.status_code == 403
        assert r.json() == envelope(403, "FORBIDDEN", "PLEASE VALIDATE TOKEN")

    await accounts.rotate_key(db, account_id=tenant.id)  # revokes the fixture's key
    r = await api.call("PUT", "start", type_campaign="predictive", campaign_id=cid)
    assert r.json() == envelope(403, "FORBIDDEN", "PLEASE VALIDATE TOKEN")


async def test_api_and_method_errors(
    api: Api, db: Database, settings: Settings, tenant: Tenant
) -> None:
    cid = await new_campaign(db, settings, tenant.id)
    no_api = envelope(400, "BAD REQUEST", "THE API YOU WANT TO CONSULT DOES NOT EXIST")
    for name in ("create_campaign", "START", "", "campaigns"):
        r = await api.call("PUT", name, type_campaign="predictive", campaign_id=cid)
        assert r.status_code == 400
        assert r.json() == no_api
    r = await api.client.put("/api/v2/campaign.php", headers={"wolkvox-token": api.key})
    assert r.json() == no_api
    r = await api.call("GET", "campaign_1", php="reports_manager.php")
    assert r.json() == no_api

    r = await api.call("GET", "start", type_campaign="predictive", campaign_id=cid)
    assert r.status_code == 405
    assert r.json() == envelope(
        405, "METHOD NOT ALLOWED", "API START IS CONSUMED WITH THE PUT METHOD"
    )
    r = await api.call("PUT", "add_record", type_campaign="predictive", campaign_id=cid, body=[])
    assert r.json()["code"] == 405
    assert await status_of(db, tenant.id, cid) == ("DRAFT", None)


async def test_campaign_and_type_errors(
    api: Api, db: Database, settings: Settings, tenant: Tenant
) -> None:
    cid = await new_campaign(db, settings, tenant.id)
    auto = await new_campaign(db, settings, tenant.id, dialer="auto")
    sms = await campaign_service.create(
        db,
        account_id=tenant.id,
        spec=campaign_service.CampaignSpec(name="sms", text="Hola"),
        default_channel="fake",
        price_per_segment=Decimal("0.01"),
    )
    required = envelope(400, "BAD REQUEST", "SOME PARAMETERS ARE REQUIRED")

    r = await api.call("PUT", "start", campaign_id=cid)
    assert r.json() == required
    r = await api.call("PUT", "start", type_campaign="predictive")
    assert r.json() == required
    r = await api.call("PUT", "start", type_campaign="", campaign_id=cid)
    assert r.json() == required
    r = await api.call("PUT", "start", type_campaign="blaster", campaign_id=cid)
    assert r.status_code == 400
    assert r.json() == envelope(400, "BAD REQUEST", "TYPE_CAMPAIGN MUST BE preview OR predictive")

    # type_campaign must be the campaign's dialer: a predictive campaign is no preview one.
    r = await api.call("PUT", "start", type_campaign="preview", campaign_id=cid)
    assert r.status_code == 404
    assert r.json() == envelope(404, "NOT FOUND", f"THE PREVIEW CAMPAIGN_ID {cid} DOES NOT EXIST")
    # The type is case-insensitive.
    r = await api.call("GET", "status", type_campaign="Predictive", campaign_id=cid)
    assert r.status_code == 200

    for other in (auto, sms.id, 987654, 2**63):
        r = await api.call("PUT", "start", type_campaign="predictive", campaign_id=other)
        assert r.status_code == 404
        assert r.json() == envelope(
            404, "NOT FOUND", f"THE PREDICTIVE CAMPAIGN_ID {other} DOES NOT EXIST"
        )
    for garbage in ("abc", "-1", "1.5", "7a"):
        r = await api.call("PUT", "stop", type_campaign="predictive", campaign_id=garbage)
        assert r.json() == envelope(404, "NOT FOUND", "THE PREDICTIVE CAMPAIGN_ID DOES NOT EXIST")
    r = await api.call("PUT", "start", type_campaign="predictive", campaign_id="1%002")
    assert r.status_code == 400
    assert r.json()["msg"] == "PARAMETERS MUST NOT CONTAIN NUL (U+0000) CHARACTERS"
    assert await status_of(db, tenant.id, auto) == ("DRAFT", None)


# --- records ------------------------------------------------------------------------------


async def test_upload_of_10000_records_is_accepted_and_10001_refused(
    api: Api, db: Database, settings: Settings, tenant: Tenant
) -> None:
    cid = await new_campaign(db, settings, tenant.id)
    too_many = [{"customer_id": str(n), "tel1": p} for n, p in enumerate(phones(10_001))]

    r = await api.call(
        "POST",
        "add_record",
        type_campaign="predictive",
        campaign_id=cid,
        campaign_status="stopped",
        body=too_many,
    )
    assert r.status_code == 413
    assert r.json() == envelope(
        413,
        "PAYLOAD TOO LARGE",
        "THE LIMIT OF RECORDS THAT CAN BE UPLOADED PER CONSUMPTION IS 10,000",
    )
    assert (await voice.stats(db, account_id=tenant.id, campaign_id=cid)).recipients == 0

    r = await api.call(
        "POST",
        "add_record",
        type_campaign="predictive",
        campaign_id=cid,
        campaign_status="stopped",
        body=too_many[:10_000],
    )
    assert r.status_code == 201
    assert r.json() == {"code": 201, "error": None, "msg": "10000 records were added", "data": []}
    assert (await voice.stats(db, account_id=tenant.id, campaign_id=cid)).recipients == 10_000


async def test_upload_reports_records_that_cannot_be_called(
    api: Api, db: Database, settings: Settings, tenant: Tenant
) -> None:
    cid = await new_campaign(db, settings, tenant.id, dialer="preview")
    a, b, c = phones(3)
    body = [
        record(a, 1),
        record(a, 2),  # the same number again
        record("", 3, tel2=b),  # tel1 empty: the first non-empty telephone is called
        record("12", 4),
        record("", 5),
        {"tel1": int(c), "customer_name": "Numeric", "opt1": 7, "unknown": {"x": 1}},
    ]
    r = await api.call(
        "POST",
        "add_record",
        type_campaign="preview",
        campaign_id=cid,
        campaign_status="start",
        body=body,
    )

    assert r.status_code == 201, r.text
    assert r.json() == {
        "code": 201,
        "error": None,
        "msg": "3 records were added, 3 were rejected",
        "data": [
            {"index": 1, "telephone": a, "error": "the telephone is already in the campaign"},
            {
                "index": 3,
                "telephone": "12",
                "error": "the telephone is not a valid international number",
            },
            {"index": 4, "telephone": "", "error": "no telephone in tel1..tel10"},
        ],
    }
    rows, total = await campaign_service.messages(db, account_id=tenant.id, campaign_id=cid)
    assert total == 3
    by_phone = {row.phone: row.variables for row in rows}
    assert by_phone["+" + a] == {
        "customer_name": "Cliente 1",
        "customer_last_name": "Perez",
        "id_type": "CC",
        "customer_id": "1001",
        "country": "CO",
        "city": "Medellin",
        "tel1": a,
    }
    assert by_phone["+" + b]["tel2"] == b
    assert by_phone["+" + c] == {"tel1": c, "customer_name": "Numeric", "opt1": "7"}

    # A single object is one record.
    r = await api.call(
        "POST",
        "add_record",
        type_campaign="preview",
        campaign_id=cid,
        body=record(phones(1, 50)[0]),
    )
    assert r.json()["msg"] == "1 records were added"


@pytest.mark.parametrize(
    ("body", "msg"),
    [
        ([], "SOME PARAMETERS ARE REQUIRED"),
        ("", "THE REQUEST BODY MUST BE A JSON ARRAY OF RECORDS"),
        ("not a list", "THE REQUEST BODY MUST BE A JSON ARRAY OF RECORDS"),
        ([["573000000001"]], "RECORD 0 MUST BE A JSON OBJECT"),
        (
            [{"tel1": "573000000001"}, {"tel1": {"n": 1}}],
            "THE FIELD tel1 OF RECORD 1 MUST BE A STRING",
        ),
        ([{"tel1": True}], "THE FIELD tel1 OF RECORD 0 MUST BE A STRING"),
        (
            [{"customer_name": "a\u0000b", "tel1": "573000000001"}],
            "THE FIELD customer_name OF RECORD 0 MUST NOT CONTAIN NUL (U+0000) CHARACTERS",
        ),
        (
            [{"opt1": "x" * 1001, "tel1": "573000000001"}],
            "THE FIELD opt1 OF RECORD 0 IS LONGER THAN 1000",
        ),
    ],
)
async def test_upload_validation(
    api: Api, db: Database, settings: Settings, tenant: Tenant, body: Any, msg: str
) -> None:
    cid = await new_campaign(db, settings, tenant.id)
    r = await api.call("POST", "add_record", type_campaign="predictive", campaign_id=cid, body=body)
    assert r.status_code == 400, r.text
    assert r.json() == envelope(400, "BAD REQUEST", msg)
    assert (await voice.stats(db, account_id=tenant.id, campaign_id=cid)).recipients == 0


async def test_upload_bodies_that_are_not_json(
    api: Api, db: Database, settings: Settings, tenant: Tenant
) -> None:
    cid = await new_campaign(db, settings, tenant.id)
    url = f"/api/v2/campaign.php?api=add_record&type_campaign=predictive&campaign_id={cid}"
    for content in (b"{", b"\xff\xfe", b"tel1=573000000001", b"[" * 100_000 + b"]" * 100_000):
        r = await api.client.post(url, content=content, headers={"wolkvox-token": api.key})
        assert r.json() == envelope(400, "BAD REQUEST", "THE REQUEST BODY MUST BE VALID JSON")
    r = await api.client.post(url, headers={"wolkvox-token": api.key})
    assert r.json() == envelope(400, "BAD REQUEST", "SOME PARAMETERS ARE REQUIRED")


async def test_upload_to_a_stopped_campaign_is_refused(
    api: Api, db: Database, settings: Settings, tenant: Tenant
) -> None:
    cid = await new_campaign(db, settings, tenant.id)
    await voice.add_numbers(
        db,
        account_id=tenant.id,
        campaign_id=cid,
        entries=[campaign_service.RecipientInput(phones(1)[0])],
    )
    await campaign_service.start(db, account_id=tenant.id, campaign_id=cid)
    r = await api.call(
        "POST",
        "add_record",
        type_campaign="predictive",
        campaign_id=cid,
        body=[record(phones(1, 1)[0])],
    )
    assert r.status_code == 201  # a running campaign takes new records
    await campaign_service.stop(db, account_id=tenant.id, campaign_id=cid)
    r = await api.call(
        "POST",
        "add_record",
        type_campaign="predictive",
        campaign_id=cid,
        body=[record(phones(1, 2)[0])],
    )
    assert r.status_code == 412
    assert r.json() == envelope(
        412, "PRECONDITION FAILED", f"CAMPAIGN {cid} IS STOPPED; NUMBERS CANNOT BE ADDED"
    )


# --- reports ------------------------------------------------------------------------------


async def record_calls(
    db: Database, account_id: int, campaign_id: int, calls: list[tuple[str, datetime, str]]
) -> None:
    """CDRs as the call engine writes them: (E.164 phone, start, outcome)."""
    rows, _ = await campaign_service.messages(
        db, account_id=account_id, campaign_id=campaign_id, limit=1000
    )
    ids = {row.phone: row.id for row in rows}
    attempt: dict[str, int] = {}
    cdrs: list[dict[str, object]] = []
    for phone, started, outcome in calls:
        attempt[phone] = attempt.get(phone, 0) + 1
        answered = started + timedelta(seconds=5) if outcome == "answered" else None
        cdrs.append(
            {
                "message_id": ids[phone],
                "campaign_id": campaign_id,
                "attempt": attempt[phone],
                "phone": phone,
                "outcome": outcome,
                "started_at": started,
                "answered_at": answered,
                "ended_at": started + timedelta(seconds=65),
                "duration": 65,
                "billsec": 60 if answered else 0,
                "cost": Decimal("0.02") if answered else Decimal(0),
                "hangup_cause": "NORMAL_CLEARING" if answered else "USER_BUSY",
                "agent": "1001" if answered else None,
                "abandoned": False,
            },
        )
    async with db.begin() as conn:
        await call_store.record_attempts(conn, cdrs)


async def test_detail_report_lists_the_calls_between_the_dates(
    api: Api, db: Database, settings: Settings, tenant: Tenant
) -> None:
    cid = await new_campaign(db, settings, tenant.id)
    a, b = phones(2)
    customer: dict[str, object] = {
        **record(
            a,
            1,
            customer_name="Ana",
            tel2="573009999999",
            tel_extra="6045551234",
            opt3="debt 120000",
            email="ana@example.com",
            agent_id="7",  # the record's agent: the row's agent_id is the call's
        ),
        "age": 41,  # integers are written as digits
        "gender": None,  # null is empty
    }
    r = await api.call(
        "POST",
        "add_record",
        type_campaign="predictive",
        campaign_id=cid,
        body=[customer, record(b, 2)],
    )
    assert r.status_code == 201, r.text
    # The account works in Bogota time (UTC-5): dates are read and written in it.
    async with db.begin() as conn:
        await conn.execute(
            update(accounts_table)
            .where(accounts_table.c.id == tenant.id)
            .values(timezone="America/Bogota")
        )
    day = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # 09:00 in Bogota
    await record_calls(
        db,
        tenant.id,
        cid,
        [
            ("+" + a, day, "busy"),
            ("+" + b, day + timedelta(minutes=1), "answered"),
            ("+" + a, day + timedelta(minutes=30), "answered"),
            ("+" + b, day + timedelta(days=3), "no-answered"),
        ],
    )

    r = await api.call(
        "GET",
        "detail",
        type_campaign="predictive",
        campaign_id=cid,
        date_ini="20260302090000",
        date_end="20260302093000",
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["code"], body["error"], body["msg"]) == (200, None, "3 records found")
    first, second, third = body["data"]
    expected = {
        "campaign_id": str(cid),
        "conn_id": first["conn_id"],
        "date": "2026-03-02 09:00:00",
        "telephone": a,
        "result": "busy",
        "outcome": "busy",
        "attempt": "1",
        "answer_date": "",
        "end_date": "2026-03-02 09:01:05",
        "duration": "65",
        "billsec": "0",
        "agent_id": "",
        "hangup_cause": "USER_BUSY",
        "cost": "0.000000",
        # The record the number was uploaded with, every field named as add_record's.
        "customer_name": "Ana",
        "customer_last_name": "Perez",
        "id_type": "CC",
        "customer_id": "1001",
        "age": "41",
        "gender": "",
        "country": "CO",
        "state": "",
        "city": "Medellin",
        "zone": "",
        "address": "",
        **{f"opt{n}": "" for n in range(1, 13)},
        "opt3": "debt 120000",
        "tel1": a,
        **{f"tel{n}": "" for n in range(2, 11)},
        "tel2": "573009999999",
        "tel_extra": "6045551234",
        "email": "ana@example.com",
        "recall_date": "",
        "recall_telephone": "",
    }
    assert first == expected
    assert list(first) == list(expected)  # the call's fields, then the record's
    assert (second["telephone"], second["result"], second["agent_id"]) == (b, "answer", "1001")
    assert (second["customer_name"], second["customer_id"], second["tel1"]) == (
        "Cliente 2",
        "1002",
        b,
    )
    assert (third["customer_name"], third["tel2"], third["opt3"]) == (
        "Ana",
        "573009999999",
        "debt 120000",
    )
    assert second["answer_date"] == "2026-03-02 09:01:05"
    assert (third["telephone"], third["attempt"], third["date"]) == (a, "2", "2026-03-02 09:30:00")

    # reports_manager.php's phone-to-phone report gives the same rows.
    r = await api.call(
        "GET",
        "campaign_3",
        php="reports_manager.php",
        campaign_id=cid,
        date_ini="20260302090000",
        date_end="20260302093000",
    )
    assert r.json() == body

    r = await api.call(
        "GET",
        "detail",
        type_campaign="predictive",
        campaign_id=cid,
        date_ini="20260301000000",
        date_end="20260331000000",
    )
    assert r.json()["msg"] == "4 records found"


async def test_report_dates_and_size_limits(
    api: Api, db: Database, settings: Settings, tenant: Tenant
) -> None:
    cid = await new_campaign(db, settings, tenant.id)
    a, b = phones(2)
    await api.call(
        "POST",
        "add_record",
        type_campaign="predictive",
        campaign_id=cid,
        body=[record(a), record(b)],
    )
    day = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    await record_calls(
        db,
        tenant.id,
        cid,
        [
            ("+" + a, day, "busy"),
            ("+" + b, day, "busy"),
            ("+" + a, day + timedelta(hours=1), "busy"),
        ],
    )

    async def detail(ini: str | None, end: str | None) -> httpx.Response:
        dates = {k: v for k, v in (("date_ini", ini), ("date_end", end)) if v is not None}
        return await api.call("GET", "detail", type_campaign="predictive", campaign_id=cid, **dates)

    r = await detail("20260301000000", "20260402000000")  # 32 days
    assert r.status_code == 416
    assert r.json() == envelope(
        416, "REQUESTED RANGE NOT SATISFIABLE", "THE LIMIT OF DAYS QUERIED IN DATES IS 31 DAYS"
    )
    r = await detail("20260301000000", "20260401000001")  # 31 days and a second
    assert r.status_code == 416
    r = await detail("20260301000000", "20260401000000")  # exactly 31 days
    assert r.status_code == 200
    assert r.json()["msg"] == "3 records found"

    required = envelope(400, "BAD REQUEST", "SOME PARAMETERS ARE REQUIRED")
    assert (await detail(None, "20260302000000")).json() == required
    assert (await detail("20260302000000", None)).json() == required
    r = await detail("2026-03-01", "20260302000000")
    assert r.json() == envelope(400, "BAD REQUEST", "DATE_INI MUST HAVE THE FORMAT YYYYMMDDHHIISS")
    r = await detail("20260301000000", "20261340000000")
    assert r.json() == envelope(400, "BAD REQUEST", "DATE_END IS NOT A VALID DATE")
    r = await detail("20260302000000", "20260301000000")
    assert r.json() == envelope(400, "BAD REQUEST", "DATE_END MUST NOT BE BEFORE DATE_INI")

    api.limits.download = 2
    r = await detail("20260301000000", "20260310000000")
    assert r.status_code == 416
    assert r.json() == envelope(
        416,
        "REQUESTED RANGE NOT SATISFIABLE",
        "THE LIMIT OF RECORDS THAT CAN BE DOWNLOADED PER CONSUMPTION IS 2; NARROW THE DATES",
    )
    r = await detail("20260302090000", "20260302093000")  # two calls: within the limit
    assert r.json()["msg"] == "2 records found"

    api.limits.result_bytes = 100
    r = await detail("20260302090000", "20260302093000")
    assert r.status_code == 416
    assert r.json()["msg"] == "THE RESULT IS LARGER THAN THE LIMIT OF 100 BYTES"


# --- per-token limits ---------------------------------------------------------------------


async def test_a_third_simultaneous_request_is_refused(
    api: Api, db: Database, settings: Settings, tenant: Tenant
) -> None:
    cid = await new_campaign(db, settings, tenant.id)
    await voice.add_numbers(
        db,
        account_id=tenant.id,
        campaign_id=cid,
        entries=[campaign_service.RecipientInput(phones(1)[0])],
    )
    other = await other_tenant(db)
    entered = 0
    both_in = asyncio.Event()
    release = asyncio.Event()

    async def gate() -> None:
        nonlocal entered
        entered += 1
        if entered <= 2:  # hold the first two requests inside the API
            if entered == 2:
                both_in.set()
            await release.wait()

    api.limits.gate = gate
    first = asyncio.create_task(
        api.call("PUT", "start", type_campaign="predictive", campaign_id=cid)
    )
    second = asyncio.create_task(
        api.call("GET", "status", type_campaign="predictive", campaign_id=cid)
    )
    await asyncio.wait_for(both_in.wait(), timeout=30)
    assert api.limits.in_flight(api.key) == 2

    third = await api.call("PUT", "stop", type_campaign="predictive", campaign_id=cid)
    assert third.status_code == 403
    assert third.json() == envelope(
        403, "FORBIDDEN", "EXCEEDS THE LIMIT OF SIMULTANEOUS REQUESTS PER TOKEN (2)"
    )
    # Another token is not held back by this one's requests.
    elsewhere = await api.call("GET", "campaigns", php="information.php", key=other.key)
    assert elsewhere.status_code == 200

    release.set()
    assert (await first).status_code == 202
    assert (await second).status_code == 200
    assert api.limits.in_flight(api.key) == 0
    assert await status_of(db, tenant.id, cid) == ("RUNNING", None)  # the stop never ran
    # The refused request was not counted against the daily quota.
    key_id = (await accounts.authenticate_key(db, api.key) or (None, 0, ""))[1]
    async with db.read() as conn:
        used = (
            await conn.execute(
                select(api_quota.c.used).where(api_quota.c.key == f"wolkvox:{key_id}")
            )
        ).scalar_one()
    assert used == 2
    r = await api.call("PUT", "stop", type_campaign="predictive", campaign_id=cid)
    assert r.status_code == 202


async def test_a_request_over_the_time_limit_is_cut(
    api: Api, db: Database, settings: Settings, tenant: Tenant
) -> None:
    cid = await new_campaign(db, settings, tenant.id)
    never = asyncio.Event()

    async def stuck() -> None:
        await never.wait()

    api.limits.gate = stuck
    api.limits.timeout = 0.05
    r = await api.call("GET", "status", type_campaign="predictive", campaign_id=cid)
    assert r.status_code == 408
    assert r.json() == envelope(
        408, "REQUEST TIMEOUT", "THE API CONSUMPTION TIME LIMIT OF 0.05 SECONDS WAS EXCEEDED"
    )
    assert api.limits.in_flight(api.key) == 0  # the slot is given back
    api.limits.gate = None
    api.limits.timeout = wire.TIMEOUT
    r = await api.call("GET", "status", type_campaign="predictive", campaign_id=cid)
    assert r.status_code == 200


async def test_daily_quota_is_licences_times_1000_per_token(
    api: Api, db: Database, settings: Settings, tenant: Tenant
) -> None:
    cid = await new_campaign(db, settings, tenant.id)
    found = await accounts.authenticate_key(db, api.key)
    assert found is not None
    key_id = found[1]
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    async with db.begin() as conn:
        await conn.execute(
            update(accounts_table).where(accounts_table.c.id == tenant.id).values(licences=1)
        )
        # 999 requests already made today with this token.
        await conn.execute(insert(api_quota).values(key=f"wolkvox:{key_id}", day=today, used=999))

    r = await api.call("GET", "status", type_campaign="predictive", campaign_id=cid)
    assert r.status_code == 200  # the 1000th
    exceeded = envelope(403, "FORBIDDEN", "TOKEN LIMIT EXCEEDED")
    r = await api.call("GET", "status", type_campaign="predictive", campaign_id=cid)
    assert r.status_code == 403
    assert r.json() == exceeded
    r = await api.call("PUT", "start", type_campaign="predictive", campaign_id=cid)
    assert r.json() == exceeded

    # The quota is per token: another key of the same account has its own.
    second = await accounts.rotate_key(db, account_id=tenant.id, label="crm")
    r = await api.call("GET", "status", key=second, type_campaign="predictive", campaign_id=cid)
    assert r.status_code == 200
    # And per UTC day: tomorrow the first token may call again.
    caller = await wire.authenticate(db, api.key)
    await api.limits.count(db, caller, now=datetime.now(UTC) + timedelta(days=1))


async def test_daily_quota_override(
    api: Api, db: Database, settings: Settings, tenant: Tenant
) -> None:
    cid = await new_campaign(db, settings, tenant.id)
    api.limits.daily = 2
    for _ in range(2):
        r = await api.call("GET", "status", type_campaign="predictive", campaign_id=cid)
        assert r.status_code == 200
    r = await api.call("GET", "status", type_campaign="predictive", campaign_id=cid)
    assert r.json() == envelope(403, "FORBIDDEN", "TOKEN LIMIT EXCEEDED")


# --- isolation ----------------------------------------------------------------------------


async def test_another_accounts_campaign_is_invisible(
    api: Api, db: Database, settings: Settings, tenant: Tenant
) -> None:
    cid = await new_campaign(db, settings, tenant.id)
    await api.call(
        "POST",
        "add_record",
        type_campaign="predictive",
        campaign_id=cid,
        body=[record(p) for p in phones(2)],
    )
    other = await other_tenant(db)
    missing = envelope(404, "NOT FOUND", f"THE PREDICTIVE CAMPAIGN_ID {cid} DOES NOT EXIST")
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("PUT", "start", {}),
        ("PUT", "stop", {}),
        ("GET", "status", {}),
        ("POST", "add_record", {"body": [record(phones(1, 9)[0])]}),
        ("GET", "detail", {"date_ini": "20260301000000", "date_end": "20260302000000"}),
    ]
    for method, name, extra in calls:
        r = await api.call(
            method, name, key=other.key, type_campaign="predictive", campaign_id=cid, **extra
        )
        assert r.status_code == 404, (name, r.text)
        assert r.json() == missing
    r = await api.call(
        "GET",
        "campaign_3",
        php="reports_manager.php",
        key=other.key,
        campaign_id=cid,
        date_ini="20260301000000",
        date_end="20260302000000",
    )
    assert r.json() == envelope(404, "NOT FOUND", f"THE CAMPAIGN_ID {cid} DOES NOT EXIST")
    r = await api.call("GET", "campaigns", php="information.php", key=other.key)
    assert r.json() == {"code": 200, "error": None, "msg": "0 records found", "data": []}

    assert await status_of(db, tenant.id, cid) == ("DRAFT", None)
    assert (await voice.stats(db, account_id=tenant.id, campaign_id=cid)).recipients == 2


async def test_an_oversized_streamed_body_gets_the_wolkvox_envelope(
    api: Api, db: Database, settings: Settings, tenant: Tenant
) -> None:
    cid = await new_campaign(db, settings, tenant.id)

    async def chunks() -> AsyncIterator[bytes]:
        yield b"["
        for _ in range(33):  # 33 MiB, no Content-Length: counted as it arrives
            yield b" " * (1024 * 1024)
        yield b"]"

    r = await api.client.post(
        f"/api/v2/campaign.php?api=add_record&type_campaign=predictive&campaign_id={cid}",
        content=chunks(),
        headers={"wolkvox-token": api.key, "Content-Type": "application/json"},
    )
    assert r.status_code == 413
    body = r.json()
    assert (body["code"], body["error"]) == (413, "PAYLOAD TOO LARGE")
    assert body["msg"].startswith("THE REQUEST BODY IS LARGER THAN ")
    assert (await voice.stats(db, account_id=tenant.id, campaign_id=cid)).recipients == 0


async def test_an_upload_over_bsgs_4_mib_is_wolkvoxs_to_judge(
    api: Api, db: Database, settings: Settings, tenant: Tenant
) -> None:
    """The body limit of ``/api/v2/`` is wolkvox's own (32 MiB, its envelope), not the
    4 MiB of BSG's ``/api/``: full records for 2,000 numbers, sent with a
    ``Content-Length`` as the vendor's curl examples do, are added."""
    cid = await new_campaign(db, settings, tenant.id)
    records = [
        record(p, n, **{f"opt{i}": f"{n}:{i}:" + "x" * 240 for i in range(1, 13)})
        for n, p in enumerate(phones(2_000))
    ]
    content = json.dumps(records).encode()
    assert bsg_wire.MAX_BODY < len(content) < wire.MAX_BODY
    query = f"api=add_record&type_campaign=predictive&campaign_id={cid}"
    headers = {"wolkvox-token": api.key, "Content-Type": "application/json"}

    r = await api.client.post(f"/api/v2/campaign.php?{query}", content=content, headers=headers)
    assert r.request.headers["content-length"] == str(len(content))
    assert r.status_code == 201, r.text
    assert r.json() == {"code": 201, "error": None, "msg": "2000 records were added", "data": []}
    rows, _ = await campaign_service.messages(db, account_id=tenant.id, campaign_id=cid, limit=5)
    assert rows[0].variables["opt12"] == "0:12:" + "x" * 240

    # Past wolkvox's own limit: refused from the Content-Length, in wolkvox's envelope.
    over = b"[" + b" " * (wire.MAX_BODY - 1) + b"]"
    r = await api.client.post(f"/api/v2/campaign.php?{query}", content=over, headers=headers)
    assert r.status_code == 413
    assert r.json() == envelope(
        413, "PAYLOAD TOO LARGE", f"THE REQUEST BODY IS LARGER THAN {wire.MAX_BODY:,} BYTES"
    )
    assert (await voice.stats(db, account_id=tenant.id, campaign_id=cid)).recipients == 2_000


async def test_start_and_stop_apply_the_lifecycle_table(
    api: Api, db: Database, settings: Settings, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``DIALECT_ACTIONS["wolkvox"]`` says what the facade does (stop is a pause), and the
    facade takes its actions from it: the table is the one source."""
    assert DIALECT_ACTIONS["wolkvox"] == {"start": "start", "stop": "pause"}
    cid = await new_campaign(db, settings, tenant.id)
    await voice.add_numbers(
        db,
        account_id=tenant.id,
        campaign_id=cid,
        entries=[campaign_service.RecipientInput(p) for p in phones(2)],
    )
    await api.call("PUT", "start", type_campaign="predictive", campaign_id=cid)
    assert await status_of(db, tenant.id, cid) == ("RUNNING", None)
    await api.call("PUT", "stop", type_campaign="predictive", campaign_id=cid)
    assert await status_of(db, tenant.id, cid) == ("PAUSED", "user")
    await api.call("PUT", "start", type_campaign="predictive", campaign_id=cid)
    assert await status_of(db, tenant.id, cid) == ("RUNNING", None)

    # Were the table to map stop to Clarion's final stop, the facade would follow it.
    monkeypatch.setitem(DIALECT_ACTIONS["wolkvox"], "stop", "stop")
    r = await api.call("PUT", "stop", type_campaign="predictive", campaign_id=cid)
    assert r.status_code == 202
    assert await status_of(db, tenant.id, cid) == ("STOPPED", None)
