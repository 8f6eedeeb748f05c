"""An iSales client's campaign against the call engine, on a virtual clock: create, add
call data, start, calls placed by the predictive dialer, pause (the seed's answer),
pause again (0200011), resume, calls to the end, more numbers into the finished
campaign."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from tests.acceptance.isales.client import (
    BASE,
    NUMBERS,
    OK,
    Isales,
    campaign_body,
    expect,
    row_of,
)
from tests.conftest import Tenant
from tests.voice_driver import VoiceRig, drive, voice_rig

from clarion.config import Settings
from clarion.services import voice
from clarion.store.db import Database

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WHOLE_DAY = {"workdayBeginTime1": "00:00", "workdayEndTime1": "23:59"}


@pytest.fixture
def rig(settings: Settings, db: Database) -> VoiceRig:
    return voice_rig(settings, db, start=START, answer=0.4)


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
    isales: Isales, settings: Settings, db: Database, tenant: Tenant
) -> None:
    rig = voice_rig(settings, db, start=datetime(2026, 3, 2, 10, 0, tzinfo=UTC), answer=0.4)
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
