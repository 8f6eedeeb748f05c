"""An autocall campaign end to end through the v3 API: create (the seed's object), add
leads, start, the call engine and the simulated carrier on a virtual clock until the
campaign is done, then its CDRs read back in the vendor's shape."""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from tests.acceptance.autocall.seed import SEED_CURL, bearer
from tests.conftest import Tenant
from tests.voice_driver import drive, voice_rig

from clarion.api.app import create_app
from clarion.config import Settings
from clarion.domain.voice.outcomes import CallOutcome
from clarion.services import voice
from clarion.store.db import Database

TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
CDR_KEYS = [
    "id",
    "parent_id",
    "sip_call_id",
    "cause",
    "duration",
    "direction",
    "recording_url",
    "extension",
    "from_number",
    "to_number",
    "receive_dest",
    "time_started",
    "time_answered",
    "time_ended",
    "time_ringging",
    "status",
    "billsec",
    "app",
    "press_key",
    "fullname",
    "email",
    "username",
    "sip_hangup_disposition",
    "campaign_uuid",
    "lead_uuid",
    "rate",
    "digits",
    "note",
    "customer_fullname",
    "customer_email",
    "demand_customer",
    "interest_segment",
    "additional",
    "autocall_presskey_epoch",
    "time_presskey",
    "presskey_delay",
    "autocall_recording_url",
]
LEADS = [f"03326{n:05d}" for n in range(12)]


@pytest.fixture
async def api(settings: Settings, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, db=db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://autocall.test") as c:
        yield c


async def test_create_add_leads_start_call_and_list_cdrs(
    api: httpx.AsyncClient, tenant: Tenant, settings: Settings, db: Database
) -> None:
    # Monday 09:00 UTC, inside the seed's 08:00-21:00 windows (a UTC account).
    rig = voice_rig(settings, db, start=datetime(2026, 3, 2, 9, 0, tzinfo=UTC), answer=0.4)
    body: dict[str, Any] = json.loads(SEED_CURL) | {"recall_times": 1}
    r = await api.post("/v3/campaign", json=body, headers=bearer(tenant))
    assert r.status_code == 200, r.text
    key = r.json()["campaign_uuid"]

    r = await api.post(
        f"/v3/campaign/{key}/leads",
        json={
            "leads": [
                {"phone_number": p, "lead_name": f"lead {p}", "additional": {"data1": n}}
                for n, p in enumerate(LEADS[:-1])
            ]
        },
        headers=bearer(tenant),
    )
    assert r.status_code == 200 and r.json()["created"] == len(LEADS) - 1, r.text
    leads = {d["lead_uuid"]: d["phone_number"] for d in r.json()["data"]}
    r = await api.post(
        "/v3/autocall/otp",
        json={
            "campaign_uuid": key,
            "phone_number": LEADS[-1],
            "code_otp": "4711",
            "ref_id": "R1",
        },
        headers=bearer(tenant),
    )
    assert r.status_code == 200, r.text
    otp = r.json()
    leads[otp["lead_uuid"]] = LEADS[-1]

    r = await api.put(f"/v3/campaign/{key}", json={"status": "start"}, headers=bearer(tenant))
    assert r.status_code == 200, r.text
    row = await voice.find(db, account_id=tenant.id, external_id=f"autocall:{key}")
    assert await drive(rig, int(row.id)) == "DONE"

    got = (await api.get(f"/v3/campaign/{key}", headers=bearer(tenant))).json()
    assert (got["status"], got["active"], got["run_id"]) == ("stop", True, "")

    r = await api.get(f"/v3/cdr?campaign_uuid={key}&limit=1000", headers=bearer(tenant))
    assert r.status_code == 200, r.text
    cdrs = r.json()["data"]
    stats = await voice.stats(db, account_id=tenant.id, campaign_id=int(row.id))
    assert r.json()["total"] == len(cdrs) == stats.attempts >= len(LEADS)
    assert stats.answered + stats.unreached == len(LEADS)

    outcomes = {o.value for o in CallOutcome}
    per_lead = Counter(c["lead_uuid"] for c in cdrs)
    assert set(per_lead) == set(leads)  # every lead called, and nothing else
    assert max(per_lead.values()) <= 2  # recall_times 1
    assert len({c["id"] for c in cdrs}) == len(cdrs)
    for c in cdrs:
        assert list(c) == CDR_KEYS
        assert c["campaign_uuid"] == key and c["id"] == c["parent_id"]
        assert c["to_number"] == leads[c["lead_uuid"]]  # the vendor's national form
        if c["lead_uuid"] == otp["lead_uuid"]:
            assert c["customer_fullname"] == ""
            assert c["additional"] == {
                "otp": "4711",
                "code_otp": "4711",
                "ref_id": "R1",
                "phone_number": LEADS[-1],
            }
        else:  # the lead's name and its additional values (as text)
            assert c["customer_fullname"] == f"lead {c['to_number']}"
            data1 = str(LEADS.index(c["to_number"]))
            assert c["additional"] == {"data1": data1, "phone_number": c["to_number"]}
        assert c["status"] in outcomes and c["cause"]
        assert (c["app"], c["direction"]) == ("autocall", "outbound")
        assert TIME.match(c["time_started"]) and TIME.match(c["time_ended"])
        assert c["time_ringging"] == c["time_started"]
        assert c["duration"] >= c["billsec"] >= 0
        if c["status"] == "answered":
            assert TIME.match(c["time_answered"])
        else:
            assert c["time_answered"] == "" and c["billsec"] == 0
    assert any(c["status"] == "answered" for c in cdrs)
    assert otp["call_id"] in {c["id"] for c in cdrs}  # the OTP lead's first call
    assert uuid.UUID(otp["call_id"])

    # the campaign's own path and paging give the same records
    paged: list[dict[str, Any]] = []
    for offset in range(0, len(cdrs), 5):
        r = await api.get(
            f"/v3/campaign/{key}/cdrs?limit=5&offset={offset}", headers=bearer(tenant)
        )
        paged += r.json()["data"]
    assert paged == cdrs
    r = await api.get(f"/v3/campaign/{key}/cdrs?limit=5&offset={len(cdrs)}", headers=bearer(tenant))
    assert r.json() == {"data": [], "total": len(cdrs)}

    # a finished campaign takes new leads and calls them; an inactive one waits
    r = await api.put(f"/v3/campaign/{key}", json={"active": False}, headers=bearer(tenant))
    assert r.status_code == 200, r.text
    r = await api.post(
        "/v3/lead", json={"list_uuid": key, "phone_number": "0332699999"}, headers=bearer(tenant)
    )
    assert r.status_code == 200, r.text

    async def status() -> str:
        got = await api.get(f"/v3/campaign/{key}", headers=bearer(tenant))
        shown: str = got.json()["status"]
        return shown

    assert await status() == "pause"
    for _ in range(3):
        await rig.dispatcher.tick()
    assert await status() == "pause"
    r = await api.put(
        f"/v3/campaign/{key}", json={"active": True, "status": "start"}, headers=bearer(tenant)
    )
    assert r.status_code == 200, r.text
    assert await status() == "start"
    assert await drive(rig, int(row.id)) == "DONE"
    r = await api.get(f"/v3/cdr?campaign_uuid={key}&limit=1000", headers=bearer(tenant))
    assert r.json()["data"][: len(cdrs)] == cdrs
    assert {c["to_number"] for c in r.json()["data"][len(cdrs) :]} == {"0332699999"}


H = 3600 * 10**9  # an hour in ns
NINE_TO_TEN = {
    f"{day}_{edge}": bound
    for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    for edge, bound in (("start_time", 9 * H), ("end_time", 10 * H))
}


async def test_outside_its_calling_window_a_campaign_is_start_until_the_user_pauses_it(
    api: httpx.AsyncClient, tenant: Tenant, settings: Settings, db: Database
) -> None:
    rig = voice_rig(settings, db, start=datetime(2026, 3, 2, 9, 58, tzinfo=UTC), answer=0.4)
    body = {
        "campaign_name": "nine to ten",
        "type": "autocall",
        "concurrent_call": 1,
        "schedules": [NINE_TO_TEN],
    }
    key = (await api.post("/v3/campaign", json=body, headers=bearer(tenant))).json()[
        "campaign_uuid"
    ]
    r = await api.post(
        f"/v3/campaign/{key}/leads",
        json={"leads": [{"phone_number": p} for p in LEADS]},
        headers=bearer(tenant),
    )
    assert r.json()["created"] == len(LEADS)
    assert (
        await api.put(f"/v3/campaign/{key}", json={"status": "start"}, headers=bearer(tenant))
    ).status_code == 200
    row = await voice.find(db, account_id=tenant.id, external_id=f"autocall:{key}")
    assert await drive(rig, int(row.id), until={"PAUSED"}) == "PAUSED"  # 10:00: closed

    async def shown() -> tuple[str, str | None]:
        got = (await api.get(f"/v3/campaign/{key}", headers=bearer(tenant))).json()
        fresh = await voice.get(db, account_id=tenant.id, campaign_id=int(row.id))
        return got["status"], fresh.pause_reason

    assert await shown() == ("start", "window")  # on, waiting for its window
    r = await api.put(f"/v3/campaign/{key}", json={"status": "start"}, headers=bearer(tenant))
    assert r.status_code == 200
    assert await shown() == ("start", "window")  # left to the engine
    r = await api.put(f"/v3/campaign/{key}", json={"status": "pause"}, headers=bearer(tenant))
    assert r.status_code == 200, r.text
    assert await shown() == ("pause", "user")  # the user's pause: the engine keeps it
    rig.clock.advance(23 * 3600 + 5 * 60)  # 09:03 the next day: the window is open...
    for _ in range(5):
        await rig.dispatcher.tick()
    assert await shown() == ("pause", "user")  # ...and the campaign stays paused
    r = await api.put(f"/v3/campaign/{key}", json={"status": "start"}, headers=bearer(tenant))
    assert r.status_code == 200, r.text
    assert await drive(rig, int(row.id)) == "DONE"
    r = await api.get(f"/v3/cdr?campaign_uuid={key}&limit=1000", headers=bearer(tenant))
    starts = {c["time_started"][11:13] for c in r.json()["data"]}
    assert starts == {"09"}  # every call inside 09:00-10:00
