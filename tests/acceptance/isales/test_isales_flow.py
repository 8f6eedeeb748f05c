"""An iSales client's campaign against the call engine, on a virtual clock: create, add
call data, start, calls placed by the predictive dialer, pause (the seed's answer),
pause again (0200011), resume, calls to the end, more numbers into the finished
campaign; the campaign's period (``strBeginTime`` / ``strEndTime``): started early it
waits for its begin time, at its end time it ends whatever it is doing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from tests.acceptance.isales.client import (
    BASE,
    NUMBERS,
    OK,
    Isales,
    campaign_body,
    expect,
    ivr_body,
    row_of,
)
from tests.conftest import Tenant
from tests.voice_driver import VoiceRig, drive, voice_rig

from clarion.config import Settings
from clarion.services import campaigns as campaign_service
from clarion.services import voice
from clarion.store.db import Database

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WHOLE_DAY = {"workdayBeginTime1": "00:00", "workdayEndTime1": "23:59"}


@pytest.fixture
def rig(settings: Settings, db: Database, app: FastAPI) -> VoiceRig:
    """The call engine on a virtual clock, which is the dialect's clock too."""
    made = voice_rig(settings, db, start=START, answer=0.4)
    app.state.isales_clock = made.clock.now
    return made


async def test_create_add_start_pause_resume_and_finish(
    isales: Isales, rig: VoiceRig, db: Database, tenant: Tenant
) -> None:
    number = await isales.create(campaign_body(scheduleParam=WHOLE_DAY, maxAlertingTime=25))
    added = await isales.add(number, NUMBERS[:12])
    assert added["returnObject"]["successCount"] == 12
    row = await row_of(db, tenant, isales.vdn, number)
    assert await isales.ok("PUT", isales.path(number, "start")) == OK

    def placed() -> int:
        return sum(rig.carrier.submissions.values())

    for _ in range(120):
        await rig.dispatcher.tick()
        rig.clock.advance(1.0)
        if placed() >= 5:
            break
    assert placed() >= 5

    r = await isales.call("PUT", isales.path(number, "pause"))
    assert (r.status_code, r.json()) == (200, OK)
    expect(await isales.call("PUT", isales.path(number, "pause")), "0200011")
    assert (await isales.ok("GET", isales.path(number)))["returnObject"]["status"] == 3

    before = placed()
    for _ in range(30):  # calls in progress end; no new call is placed while suspended
        await rig.dispatcher.tick()
        rig.clock.advance(10.0)
    assert placed() == before

    assert await isales.ok("PUT", isales.path(number, "resume")) == OK
    assert await drive(rig, row.id, until={"DONE"}) == "DONE"
    stats = await voice.stats(db, account_id=tenant.id, campaign_id=row.id)
    assert (stats.recipients, stats.waiting, stats.in_progress) == (12, 0, 0)
    assert stats.answered + stats.unreached == 12
    assert stats.answered > 0
    assert stats.attempts == placed()

    # calls complete: the vendor's status 2; pausing it is not allowed
    detail = (await isales.ok("GET", isales.path(number)))["returnObject"]
    assert detail["status"] == 2
    expect(await isales.call("PUT", isales.path(number, "pause")), "0200011")
    listing = await isales.ok("GET", f"{BASE}/{isales.vdn}", query=[("status", "2")])
    assert [c["id"] for c in listing["data"]] == [number]

    # new call data makes the finished campaign call again
    assert (await isales.add(number, NUMBERS[12:14]))["returnObject"]["successCount"] == 2
    assert (await row_of(db, tenant, isales.vdn, number)).status == "RUNNING"
    assert await drive(rig, row.id, until={"DONE"}) == "DONE"
    cdrs = await voice.attempts(db, account_id=tenant.id, campaign_id=row.id)
    assert {a.phone for a in cdrs} == {f"+{n}" for n in NUMBERS[:14]}
    assert all(a.outcome for a in cdrs)

    # done calling: no longer counted under the limit, and it may be deleted
    listing = await isales.ok("GET", f"{BASE}/{isales.vdn}")
    assert (listing["curSkillQueueCount"], listing["curIvrCount"]) == (0, 0)
    assert await isales.ok("DELETE", isales.path(number)) == OK
    expect(await isales.call("GET", isales.path(number)), "0200007")


async def test_outside_its_window_a_campaign_runs_until_the_user_pauses_it(
    isales: Isales, app: FastAPI, settings: Settings, db: Database, tenant: Tenant
) -> None:
    rig = voice_rig(settings, db, start=datetime(2026, 3, 2, 10, 0, tzinfo=UTC), answer=0.4)
    app.state.isales_clock = rig.clock.now
    window = {"workdayBeginTime1": "08:00", "workdayEndTime1": "09:00"}
    number = await isales.create(campaign_body(scheduleParam=window))
    await isales.add(number, NUMBERS[:5])
    row = await row_of(db, tenant, isales.vdn, number)
    await isales.ok("PUT", isales.path(number, "start"))

    # the engine holds it until 08:00 tomorrow: still the vendor's 2, not suspended
    assert await drive(rig, row.id, until={"PAUSED"}) == "PAUSED"
    assert (await row_of(db, tenant, isales.vdn, number)).pause_reason == "window"
    assert (await isales.ok("GET", isales.path(number)))["returnObject"]["status"] == 2
    expect(await isales.call("PUT", isales.path(number, "resume")), "0200011")
    expect(await isales.call("DELETE", isales.path(number)), "0200011")

    # pausing it makes the pause the user's: the window opening does not lift it
    assert await isales.ok("PUT", isales.path(number, "pause")) == OK
    assert (await isales.ok("GET", isales.path(number)))["returnObject"]["status"] == 3
    expect(await isales.call("PUT", isales.path(number, "pause")), "0200011")
    rig.clock.advance(22 * 3600 + 60)  # 08:01 the next day, inside the window
    for _ in range(5):
        await rig.dispatcher.tick()
    again = await row_of(db, tenant, isales.vdn, number)
    assert (again.status, again.pause_reason) == ("PAUSED", "user")
    assert sum(rig.carrier.submissions.values()) == 0

    assert await isales.ok("PUT", isales.path(number, "resume")) == OK
    assert await drive(rig, row.id, until={"DONE"}) == "DONE"
    cdrs = await voice.attempts(db, account_id=tenant.id, campaign_id=row.id)
    assert {a.phone for a in cdrs} == {f"+{n}" for n in NUMBERS[:5]}
    assert all(8 <= a.started_at.hour < 9 for a in cdrs)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


async def _messages(db: Database, campaign_id: int) -> list[Any]:
    from sqlalchemy import text

    async with db.read() as conn:
        result = await conn.execute(
            text("SELECT phone, status, error_code FROM messages WHERE campaign_id = :c"),
            {"c": campaign_id},
        )
        return list(result.all())


async def test_begin_and_end_times_start_and_end_the_calls(
    isales: Isales,
    app: FastAPI,
    settings: Settings,
    db: Database,
    tenant: Tenant,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Started at 09:00 for a period of 10:00-10:02: it waits (the vendor's 2), calls
    from 10:00 by itself, and at 10:02 ends (4): the call in progress finishes, the
    numbers not yet called never are."""
    rig = voice_rig(settings, db, start=START, answer=1.0)  # every call 18 s at least
    app.state.isales_clock = rig.clock.now
    # The scheduled start (campaigns.activate_due) reads the services' clock: virtual too.
    monkeypatch.setattr(campaign_service, "utcnow", rig.clock.now)
    begin, end = START + timedelta(hours=1), START + timedelta(hours=1, minutes=2)
    body = ivr_body(
        strBeginTime=_stamp(begin),
        strEndTime=_stamp(end),
        scheduleParam=WHOLE_DAY,
        ivrParam={"flowAccessCode": "10086", "maxCallNum": 1},  # one call at a time
    )
    number = await isales.create(body)
    assert (await isales.add(number, NUMBERS[:20]))["returnObject"]["successCount"] == 20
    rig.clock.advance(1)
    assert (await isales.add(number, NUMBERS[20:40]))["returnObject"]["successCount"] == 20
    row = await row_of(db, tenant, isales.vdn, number)

    def placed() -> int:
        return sum(rig.carrier.submissions.values())

    assert await isales.ok("PUT", isales.path(number, "start")) == OK
    assert (await row_of(db, tenant, isales.vdn, number)).status == "SCHEDULED"
    detail = (await isales.ok("GET", isales.path(number)))["returnObject"]
    assert (detail["status"], detail["strBeginTime"], detail["strEndTime"]) == (
        2,
        _stamp(begin),
        _stamp(end),
    )
    expect(await isales.call("PUT", isales.path(number, "pause")), "0200011")
    while rig.clock.now() < begin - timedelta(seconds=30):  # waiting: no call
        await rig.dispatcher.tick()
        rig.clock.advance(30)
    assert placed() == 0
    assert (await row_of(db, tenant, isales.vdn, number)).status == "SCHEDULED"

    while placed() == 0:  # the begin time: it starts calling by itself
        await rig.dispatcher.tick()
        rig.clock.advance(5)
    assert (await row_of(db, tenant, isales.vdn, number)).status == "RUNNING"
    assert begin <= rig.clock.now() <= begin + timedelta(seconds=15)
    assert (await isales.ok("GET", isales.path(number)))["returnObject"]["status"] == 2
    stopped = await drive(rig, row.id, until={"STOPPED"}, step=1.0, idle_step=1.0)
    assert stopped == "STOPPED"
    assert end <= rig.clock.now() <= end + timedelta(seconds=2)
    assert (await isales.ok("GET", isales.path(number)))["returnObject"]["status"] == 4
    for _ in range(60):  # the call in progress at the end finishes; no other starts
        await rig.dispatcher.tick()
        rig.clock.advance(5)
    stats = await voice.stats(db, account_id=tenant.id, campaign_id=row.id)
    assert (stats.recipients, stats.waiting, stats.in_progress) == (40, 0, 0)

    cdrs = await voice.attempts(db, account_id=tenant.id, campaign_id=row.id)
    assert 2 <= len(cdrs) == placed() <= 7  # 2 minutes of calls of 18 s and more
    assert all(begin <= a.started_at < end for a in cdrs)
    assert max(a.ended_at for a in cdrs) > end  # in progress at the end: finished, recorded
    called = {a.phone for a in cdrs}
    rows = await _messages(db, row.id)
    assert {p for p, status, _ in rows if status == "EXPIRED"} == {
        f"+{n}" for n in NUMBERS[:40]
    } - called
    assert all(code == "campaign-ended" for _, status, code in rows if status == "EXPIRED")

    # completed: no more numbers, no start again; nothing is called any more
    rig.clock.advance(1)
    expect(await isales.add_raw(number, NUMBERS[:1]), "0200016")
    expect(await isales.call("PUT", isales.path(number, "start")), "0200016")
    expect(await isales.call("PUT", isales.path(number, "resume")), "0200011")
    listing = await isales.ok("GET", f"{BASE}/{isales.vdn}", query=[("status", "4")])
    assert [c["id"] for c in listing["data"]] == [number]
    for _ in range(10):
        await rig.dispatcher.tick()
        rig.clock.advance(60)
    assert placed() == len(cdrs)


async def test_a_suspended_campaign_ends_at_its_end_time(
    isales: Isales, app: FastAPI, settings: Settings, db: Database, tenant: Tenant
) -> None:
    rig = voice_rig(settings, db, start=START, answer=1.0)
    app.state.isales_clock = rig.clock.now
    end = START + timedelta(minutes=30)
    body = ivr_body(
        strBeginTime=_stamp(START),
        strEndTime=_stamp(end),
        scheduleParam=WHOLE_DAY,
        ivrParam={"flowAccessCode": "10086", "maxCallNum": 1},
    )
    number = await isales.create(body)
    await isales.add(number, NUMBERS[:5])
    row = await row_of(db, tenant, isales.vdn, number)
    assert await isales.ok("PUT", isales.path(number, "start")) == OK
    assert (await row_of(db, tenant, isales.vdn, number)).status == "RUNNING"
    for _ in range(10):
        await rig.dispatcher.tick()
        if sum(rig.carrier.submissions.values()):
            break
    assert sum(rig.carrier.submissions.values()) == 1
    assert await isales.ok("PUT", isales.path(number, "pause")) == OK
    assert (await isales.ok("GET", isales.path(number)))["returnObject"]["status"] == 3

    rig.clock.advance((end - rig.clock.now()).total_seconds() - 1)
    for _ in range(3):
        await rig.dispatcher.tick()
    assert (await row_of(db, tenant, isales.vdn, number)).status == "PAUSED"
    rig.clock.advance(11)  # the end time, and the next housekeeping pass
    await rig.dispatcher.tick()
    ended = await row_of(db, tenant, isales.vdn, number)
    assert (ended.status, ended.pause_reason) == ("STOPPED", None)
    assert (await isales.ok("GET", isales.path(number)))["returnObject"]["status"] == 4
    expect(await isales.call("PUT", isales.path(number, "resume")), "0200011")
    rows = await _messages(db, row.id)
    assert sorted(status for _, status, _ in rows) == ["DELIVERED"] + ["EXPIRED"] * 4
    assert sum(rig.carrier.submissions.values()) == 1
