"""A wolkvox client's day against the call engine: upload records, start, calls placed
by the predictive dialer on a virtual clock, stop and start again, download the
call-by-call report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from tests.acceptance.wolkvox.client import (
    Api,
    envelope,
    new_campaign,
    phones,
    record,
    status_of,
)
from tests.conftest import Tenant
from tests.voice_driver import VoiceRig, drive, voice_rig

from clarion.config import Settings
from clarion.dialects.wolkvox import campaign as wolkvox_campaign
from clarion.services import voice
from clarion.store.db import Database

START = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
RESULTS = {
    "answer",
    "busy",
    "no-answer",
    "answer-machine",
    "congestion",
    "chanunavail",
    "failed",
    "abandon",
}


@pytest.fixture
def rig(settings: Settings, db: Database) -> VoiceRig:
    return voice_rig(settings, db, start=START, answer=0.4)


async def attempts(db: Database, tenant: Tenant, campaign_id: int) -> int:
    return (await voice.stats(db, account_id=tenant.id, campaign_id=campaign_id)).attempts


def customer(tel: str, n: int) -> dict[str, str]:
    """A record with the customer's data: name, id, extra phones, variables."""
    return record(
        tel,
        n,
        customer_last_name=f"Perez {n}",
        tel2=f"57604{n:07d}",
        tel_extra=f"ext {n}",
        opt1=f"debt {n * 1000}",
        opt12=f"segment {n % 3}",
        email=f"cliente{n}@example.com",
    )


async def test_upload_start_call_stop_and_download_the_report(
    api: Api,
    rig: VoiceRig,
    db: Database,
    settings: Settings,
    tenant: Tenant,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cid = await new_campaign(db, settings, tenant.id)
    numbers = phones(20)
    records = {p: customer(p, n) for n, p in enumerate(numbers)}
    r = await api.call(
        "POST",
        "add_record",
        type_campaign="predictive",
        campaign_id=cid,
        campaign_status="stopped",
        body=list(records.values()),
    )
    assert r.json()["msg"] == "20 records were added"

    r = await api.call("PUT", "start", type_campaign="predictive", campaign_id=cid)
    assert r.json() == envelope(202, None, f"The {cid} campaign_id has been started successfully")

    # Let the dialer place some calls, then stop: nothing new is dialled while stopped.
    def placed() -> int:
        return len(rig.carrier.submissions)

    for _ in range(60):
        await rig.dispatcher.tick()
        rig.clock.advance(1.0)
        if placed() >= 5:
            break
    assert placed() >= 5
    r = await api.call("PUT", "stop", type_campaign="predictive", campaign_id=cid)
    assert r.json() == envelope(202, None, f"The {cid} campaign_id has been stopped successfully")
    assert await status_of(db, tenant.id, cid) == ("PAUSED", "user")
    before = placed()
    for _ in range(30):  # calls in progress end; no call starts
        await rig.dispatcher.tick()
        rig.clock.advance(10.0)
    assert placed() == before
    assert await status_of(db, tenant.id, cid) == ("PAUSED", "user")

    r = await api.call("PUT", "start", type_campaign="predictive", campaign_id=cid)
    assert r.status_code == 202
    assert await drive(rig, cid, until={"DONE"}) == "DONE"

    r = await api.call("GET", "status", type_campaign="predictive", campaign_id=cid)
    (item,) = r.json()["data"]
    stats = await voice.stats(db, account_id=tenant.id, campaign_id=cid)
    assert item["status"] == "Stopped"
    assert (item["records"], item["pending"], item["in_progress"]) == ("20", "0", "0")
    assert item["attempts"] == str(stats.attempts)
    assert int(item["answered"]) + int(item["unreached"]) == 20

    # Every call attempt of the day, in the account's zone (UTC here); the report is
    # read in pages of 7 calls, so the customers are joined page by page.
    monkeypatch.setattr(wolkvox_campaign, "PAGE", 7)
    r = await api.call(
        "GET",
        "detail",
        type_campaign="predictive",
        campaign_id=cid,
        date_ini="20260302000000",
        date_end="20260302235959",
    )
    body = r.json()
    assert (body["code"], body["error"]) == (200, None)
    rows = body["data"]
    assert body["msg"] == f"{stats.attempts} records found"
    assert len(rows) == stats.attempts
    assert {row["telephone"] for row in rows} == set(numbers)
    assert {row["result"] for row in rows} <= RESULTS
    assert "answer" in {row["result"] for row in rows}
    for row in rows:
        assert "2026-03-02 14:00:00" <= row["date"] <= "2026-03-02 23:59:59"
        assert (row["answer_date"] != "") == (row["outcome"] == "answered")
    answered = [row for row in rows if row["result"] == "answer"]
    assert all(row["agent_id"] for row in answered)  # predictive: an agent took each
    assert len({row["conn_id"] for row in rows}) == len(rows)
    # Each row carries the record its number was uploaded with.
    for row in rows:
        uploaded = records[row["telephone"]]
        assert {k: row[k] for k in uploaded} == uploaded
        assert row["customer_name"] == f"Cliente {numbers.index(row['telephone'])}"
        assert row["tel2"].startswith("57604")

    # A finished campaign cannot be started, but new records make it call again.
    r = await api.call("PUT", "start", type_campaign="predictive", campaign_id=cid)
    assert r.status_code == 412
    extra = phones(2, 100)
    r = await api.call(
        "POST",
        "add_record",
        type_campaign="predictive",
        campaign_id=cid,
        body=[{"tel1": p} for p in extra],
    )
    assert r.status_code == 201
    assert await status_of(db, tenant.id, cid) == ("RUNNING", None)
    assert await drive(rig, cid, until={"DONE"}) == "DONE"
    end = (rig.clock.now() + timedelta(minutes=1)).strftime("%Y%m%d%H%M%S")
    r = await api.call(
        "GET",
        "campaign_3",
        php="reports_manager.php",
        campaign_id=cid,
        date_ini="20260302000000",
        date_end=end,
    )
    later = [row for row in r.json()["data"] if row["telephone"] in extra]
    assert {row["telephone"] for row in later} == set(extra)
    for row in later:  # records with only a telephone: the other fields are empty
        assert row["tel1"] == row["telephone"]
        assert (row["customer_name"], row["customer_id"], row["tel2"], row["opt1"]) == (
            "",
            "",
            "",
            "",
        )
