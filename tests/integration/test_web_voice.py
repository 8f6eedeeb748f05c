"""The dashboard's voice campaign view over HTTP: create a voice campaign through the
form (bad voice fields are form errors naming the field), add numbers (also while it
runs), start it, run its calls on a virtual clock (tests/voice_driver.py) and read the
campaign page and its live JSON: counters, outcomes, recall queue, recent calls,
settings in words, and the actions each status allows (a calling-window pause
explained)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import httpx
from tests.conftest import Tenant
from tests.integration.test_web import csrf_of, offer, sign_in, text_of
from tests.voice_driver import drive, voice_rig

from clarion.config import Settings
from clarion.domain.voice.outcomes import CallOutcome
from clarion.domain.voice.recall import RecallPolicy, RecallPriority, RecallUnit
from clarion.domain.voice.windows import WeeklyHours
from clarion.services import campaigns as campaign_service
from clarion.services import voice
from clarion.store.db import Database
from clarion.web import voice as voice_words

H = 3600 * 10**9
STEP, IDLE = 15.0, 1800.0  # virtual seconds per step while calling / idle (the hour-long
# window is never skipped)

FORM: dict[str, Any] = {
    "name": "Appointment reminders",
    "channel": "voice",
    "voice_play": "autocall_voice_tts",
    "voice_template": "Hello, your appointment is tomorrow at nine.",
    "caller_id": "+4930123456",
    "concurrent_call": "4",
    "call_timeout": "25",
    "max_call_minutes": "2",
    "dialer": "auto",
    "agents": "",
    "recall_times": "1",
    "recall_status": ["busy", "no-answered"],
    "recall_delay": "2",
    "recall_unit": "hour",
    "window_start": "10:00",
    "window_end": "11:00",
    "timezone": "Europe/Berlin",
}


def numbers(count: int, start: int = 0) -> list[str]:
    return [f"+4917{n:08d}" for n in range(start, start + count)]


async def create_through_form(client: httpx.AsyncClient, csrf: str, **fields: Any) -> int:
    r = await client.post("/ui/campaigns", data={"csrf": csrf, **FORM, **fields})
    assert r.status_code == 303, text_of(r.text)
    found = re.fullmatch(r"/ui/campaigns/(\d+)/recipients\?notice=created", r.headers["location"])
    assert found
    return int(found.group(1))


def allowed(live: dict[str, Any]) -> set[str]:
    return {o["action"] for o in live["offers"] if o["allowed"]}


async def live_of(client: httpx.AsyncClient, cid: int) -> dict[str, Any]:
    r = await client.get(f"/ui/campaigns/{cid}/live.json")
    assert r.status_code == 200
    data: dict[str, Any] = r.json()
    return data


def rows_of(page: str, tbody: str) -> list[str]:
    body = re.search(rf'<tbody data-voice="{tbody}">(.*?)</tbody>', page, re.S)
    assert body, tbody
    return [text_of(row) for row in re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)]


def hidden(page: str, marker: str) -> bool:
    tag = re.search(rf"<[^>]*{re.escape(marker)}[^>]*>", page)
    assert tag, marker
    return " hidden" in tag.group(0)


async def test_form_creates_a_voice_campaign_with_its_settings(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    csrf = await sign_in(client, tenant.key)
    form = await client.get("/ui/campaigns/new")
    assert '<option value="voice">Voice calls</option>' in form.text
    for label in ("Caller ID", "Concurrent calls", "Ring timeout (seconds)", "Dialer", "Agents"):
        assert f">{label}</label>" in form.text, label
    assert 'id="recall_status-busy"' in form.text
    assert 'id="recall_status-answered"' not in form.text  # an answer is never recalled
    assert 'type="time"' in form.text
    assert '<option value="Europe/Berlin">' in form.text  # time zone suggestions
    cid = await create_through_form(client, csrf)

    row = await voice.get(db, account_id=tenant.id, campaign_id=cid)
    assert (row.name, row.channel, row.sender, row.status) == (
        "Appointment reminders",
        "voice",
        "+4930123456",
        "DRAFT",
    )
    config = voice.config_of(row)
    assert config.template == FORM["voice_template"]
    assert (config.type_autocall, config.dialer, config.agents) == ("autocall_voice_tts", "auto", 0)
    assert (config.concurrent_call, config.call_timeout, config.max_call_minutes) == (4, 25, 2)
    assert config.recall == RecallPolicy(
        recall_times=1,
        recall_status=frozenset({CallOutcome.BUSY, CallOutcome.NO_ANSWERED}),
        schedule_recall=RecallUnit.HOUR,
        schedule_recall_duration=2,
    )
    assert config.hours == WeeklyHours.daily(10 * H, 11 * H)
    assert config.timezone == "Europe/Berlin"

    numbers_page = await client.get(f"/ui/campaigns/{cid}/recipients?notice=created")
    assert "Campaign created. Add numbers, then start it." in numbers_page.text
    assert 'name="phones"' in numbers_page.text
    assert 'name="file"' not in numbers_page.text  # numbers are pasted (or sent by /v1)
    refused = await client.post(
        f"/ui/campaigns/{cid}/recipients/import",
        data={"csrf": csrf},
        files={"file": ("list.csv", b"+4917000000001\n", "text/csv")},
    )
    assert refused.status_code == 422
    assert "file imports are not available" in refused.text

    # A predictive campaign with agents and no window; the zone left to the account.
    other = await create_through_form(
        client,
        csrf,
        name="Sales",
        dialer="predictive",
        agents="12",
        window_start="",
        window_end="",
        timezone="",
        recall_times="0",
        recall_status=[],
    )
    config = voice.config_of(await voice.get(db, account_id=tenant.id, campaign_id=other))
    assert (config.dialer, config.agents, config.timezone) == ("predictive", 12, "")
    assert config.hours == WeeklyHours.always()
    assert config.recall.recall_times == 0
    assert config.recall.recall_status == frozenset()
    page = text_of((await client.get(f"/ui/campaigns/{other}")).text)
    assert "Predictive, 12 agents" in page
    assert "Any time (no calling window)" in page
    assert "No recalls: each number is called once." in page
    assert "UTC (the account's; the campaign sets none)" in page


async def test_bad_voice_fields_are_form_errors_and_create_nothing(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    csrf = await sign_in(client, tenant.key)
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"concurrent_call": "5000"}, "concurrent_call", "Concurrent calls: must be at most 1000"),
        ({"concurrent_call": "ten"}, "concurrent_call", "Concurrent calls: must be a whole number"),
        ({"call_timeout": "0"}, "call_timeout", "Ring timeout: must be at least 1"),
        ({"recall_times": "-1"}, "recall_times", "Recalls: must be at least 0"),
        ({"recall_delay": "soon"}, "recall_delay", "Wait before a recall: must be a whole number"),
        ({"recall_status": ["answered"]}, "recall_status", "'answered' cannot be recalled"),
        (
            {"dialer": "preview", "agents": ""},
            "agents",
            "Agents: a preview campaign needs at least 1 agent",
        ),
        ({"dialer": "robot"}, "dialer", "Dialer: must be one of auto, preview, predictive"),
        ({"timezone": "Mars/Olympus"}, "timezone", "Time zone: unknown time zone 'Mars/Olympus'"),
        ({"window_start": "8am"}, "window_start", "must be a time of day like 09:00"),
        ({"window_end": "25:00"}, "window_end", "must be a time of day like 09:00"),
        ({"window_end": ""}, "window_end", "give both its start and its end"),
        (
            {"window_start": "18:00", "window_end": "08:00"},
            "window_end",
            "the end must be after the start",
        ),
        ({"voice_template": "x" * 4001}, "voice_template", "Call text: is longer than 4000"),
        ({"caller_id": "1" * 65}, "caller_id", "caller id is longer than 64 characters"),
        ({"name": "  "}, "name", "campaign name must not be empty"),
    ]
    for fields, field, message in cases:
        r = await client.post("/ui/campaigns", data={"csrf": csrf, **FORM, **fields})
        assert r.status_code == 422, fields
        error = re.search(r'<p class="error" role="alert" id="page-error">(.*?)</p>', r.text, re.S)
        assert error and message in text_of(error.group(1)), (fields, r.text[-2000:])
        # The field is marked and described by the error; what was typed is kept.
        control = re.search(rf'<(?:input|select|textarea|fieldset)[^>]*id="{field}"[^>]*>', r.text)
        assert control and 'aria-invalid="true"' in control.group(0), field
        assert "page-error" in control.group(0)
        assert '<option value="voice" selected>' in r.text
        assert f'value="{FORM["caller_id"]}"' in r.text or field == "caller_id"
    _rows, total = await campaign_service.search(db, account_id=tenant.id)
    assert total == 0


async def test_voice_campaign_page_while_calling_paused_by_its_window_and_done(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, settings: Settings
) -> None:
    csrf = await sign_in(client, tenant.key)
    cid = await create_through_form(client, csrf)
    draft = await client.get(f"/ui/campaigns/{cid}")
    assert draft.status_code == 200
    assert "Add numbers first" in offer(draft.text, "start")
    assert "hidden" in offer(draft.text, "retry").split(">")[0]  # recalls, not retries
    page = text_of(draft.text)
    for heading in (
        "Calls",
        "Dialer",
        "Calling window and recalls",
        "Outcomes",
        "Recall queue",
        "Recent calls",
        "Money",
    ):
        assert f" {heading} " in page, heading
    assert "Every day 10:00–11:00" in page
    assert "Europe/Berlin" in page
    assert "Automatic: plays the message, no agents" in page
    assert (
        "Up to 1 recall (2 calls in all) after no answer, busy; 2 hours after the previous "
        "call ends." in page
    )
    assert "No call has ended yet." in page
    assert not hidden(draft.text, 'data-empty="calls"')

    added = await client.post(
        f"/ui/campaigns/{cid}/recipients/add",
        data={"csrf": csrf, "phones": "\n".join(numbers(8))},
    )
    assert added.status_code == 200
    assert "Numbers added." in added.text
    page = await client.get(f"/ui/campaigns/{cid}")
    assert "disabled" not in offer(page.text, "start")
    assert "only when the campaign is RUNNING" in offer(page.text, "pause")
    r = await client.post(f"/ui/campaigns/{cid}/actions/start", data={"csrf": csrf})
    assert r.status_code == 303
    running = await live_of(client, cid)
    assert running["status"] == "RUNNING"
    assert running["status_help"] == "calling"
    assert allowed(running) == {"pause", "stop"}
    # Numbers are taken while the campaign runs.
    more = await client.post(
        f"/ui/campaigns/{cid}/recipients/add",
        data={"csrf": csrf, "phones": "\n".join(numbers(2, start=100))},
    )
    assert more.status_code == 200
    assert (await live_of(client, cid))["voice"]["recipients"] == 10

    # Monday 09:00 UTC is 10:00 in Berlin: the window opens; it closes at 11:00 with
    # the unanswered numbers waiting for their recall (2 hours later: tomorrow's window).
    rig = voice_rig(settings, db, start=datetime(2026, 3, 2, 9, 0, tzinfo=UTC), answer=0.4)
    assert await drive(rig, cid, until={"PAUSED"}, step=STEP, idle_step=IDLE) == "PAUSED"
    stats = await voice.stats(db, account_id=tenant.id, campaign_id=cid)
    assert stats.answered > 0 and stats.waiting > 0 and stats.in_progress == 0

    paused = await live_of(client, cid)
    assert paused["status_text"] == "PAUSED (window)"
    assert paused["status_help"] == "waiting for its calling window"
    v = paused["voice"]
    assert {k: v[k] for k in ("recipients", "waiting", "in_progress", "answered", "unreached")} == {
        "recipients": stats.recipients,
        "waiting": stats.waiting,
        "in_progress": 0,
        "answered": stats.answered,
        "unreached": stats.unreached,
    }
    assert v["attempts"] == stats.attempts == 10
    assert v["cost"] == f"{stats.cost:.2f} USD"
    assert {o["outcome"]: o["count"] for o in v["outcomes"] if o["count"]} == stats.outcomes
    assert v["recalls_waiting"] == stats.waiting == len(v["recall_queue"])
    assert {r["due"] for r in v["recall_queue"]} == {"2026-03-03 10:00 CET"}
    assert {r["outcome"] for r in v["recall_queue"]} <= {"Busy", "No answer"}
    assert v["lines"] == "0 of 4"
    assert len(v["calls"]) == 10
    assert [c["id"] for c in v["calls"]] == sorted((c["id"] for c in v["calls"]), reverse=True)
    assert all(c["start"].startswith("2026-03-02 10:") for c in v["calls"])
    assert all(c["start"].endswith(" CET") for c in v["calls"])
    # The window pause is explained: Pause makes it the operator's, Resume is not needed.
    assert allowed(paused) == {"pause", "stop"}
    offers = {o["action"]: o for o in paused["offers"]}
    assert "keeps it paused when the window opens" in offers["pause"]["note"]
    assert "resumes by itself" in offers["resume"]["reason"]
    assert "opens" in offers["resume"]["reason"]

    page = await client.get(f"/ui/campaigns/{cid}")
    pause_form = offer(page.text, "pause")
    assert "disabled" not in pause_form
    assert 'aria-describedby="note-pause"' in pause_form
    assert "keeps it paused when the window opens" in text_of(pause_form)
    recall_rows = rows_of(page.text, "recall_queue")
    assert len(recall_rows) == stats.waiting
    assert all("2026-03-03 10:00 CET" in row for row in recall_rows)
    call_rows = rows_of(page.text, "calls")
    assert len(call_rows) == 10
    assert hidden(page.text, 'data-empty="calls"')
    assert hidden(page.text, 'data-empty="recall_queue"')
    assert "0 of 4" in text_of(page.text)

    r = await client.post(f"/ui/campaigns/{cid}/actions/pause", data={"csrf": csrf})
    assert r.status_code == 303
    row = await voice.get(db, account_id=tenant.id, campaign_id=cid)
    assert (row.status, row.pause_reason) == ("PAUSED", "user")
    user_paused = await live_of(client, cid)
    assert allowed(user_paused) == {"resume", "stop"}
    assert user_paused["status_help"] == "paused"
    r = await client.post(f"/ui/campaigns/{cid}/actions/resume", data={"csrf": csrf})
    assert r.status_code == 303

    # The next day's window: the recalls are made and the campaign is done.
    assert await drive(rig, cid, until={"DONE"}, step=STEP, idle_step=IDLE) == "DONE"
    done_stats = await voice.stats(db, account_id=tenant.id, campaign_id=cid)
    done = await live_of(client, cid)
    assert done["voice"]["attempts"] == done_stats.attempts == 10 + stats.waiting
    assert done["voice"]["answered"] + done["voice"]["unreached"] == 10
    assert done["voice"]["recall_queue"] == []
    assert done["summary"]["percent"] == 100
    assert allowed(done) == set()
    page = await client.get(f"/ui/campaigns/{cid}")
    assert not hidden(page.text, 'data-empty="recall_queue"')
    assert "No number is waiting for a recall." in page.text
    assert len(rows_of(page.text, "calls")) == done_stats.attempts
    retry = await client.post(f"/ui/campaigns/{cid}/actions/retry", data={"csrf": csrf})
    assert retry.status_code == 409
    assert "recall policy" in retry.text
    assert await campaign_service.get(db, account_id=tenant.id, campaign_id=cid) is not None

    listing = await client.get("/ui/campaigns")
    row_html = re.search(rf'<tr data-campaign-id="{cid}">(.*?)</tr>', listing.text, re.S)
    assert row_html
    cells = text_of(row_html.group(1))
    assert "VOICE" in cells and "DONE" in cells and "100%" in cells
    assert f"{done['voice']['answered']} answered" in cells
    assert f"{done['voice']['unreached']} unreached" in cells
    assert "10 / 10 finished" in cells


async def test_stop_a_voice_campaign_from_its_page(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, settings: Settings
) -> None:
    csrf = await sign_in(client, tenant.key)
    cid = await create_through_form(
        client, csrf, window_start="", window_end="", concurrent_call="2", recall_times="0"
    )
    r = await client.post(
        f"/ui/campaigns/{cid}/recipients/add",
        data={"csrf": csrf, "phones": "\n".join(numbers(6))},
    )
    assert r.status_code == 200
    page = await client.get(f"/ui/campaigns/{cid}")
    assert "Numbers not yet called are dropped" in offer(page.text, "stop")
    await client.post(f"/ui/campaigns/{cid}/actions/start", data={"csrf": csrf})
    rig = voice_rig(settings, db)
    await rig.dispatcher.tick()  # two calls placed
    calling = await live_of(client, cid)
    assert calling["voice"]["in_progress"] == 2
    assert calling["voice"]["lines"] == "2 of 2"
    r = await client.post(f"/ui/campaigns/{cid}/actions/stop", data={"csrf": csrf})
    assert r.status_code == 303
    stopped = await client.get(r.headers["location"])
    assert "numbers not yet called were dropped" in stopped.text
    data = await live_of(client, cid)
    assert data["status"] == "STOPPED"
    assert allowed(data) == set()
    assert data["voice"]["waiting"] == 0
    numbers_page = await client.get(f"/ui/campaigns/{cid}/recipients")
    assert "Numbers cannot be added to a STOPPED campaign." in numbers_page.text
    assert csrf_of(numbers_page.text) == csrf


def test_windows_and_recalls_in_words() -> None:
    nine, six = 9 * H, 18 * H
    week = WeeklyHours(
        (
            *([((nine, six),)] * 5),
            ((10 * H, 13 * H), (14 * H, 16 * H + 30 * 60 * 10**9)),
            (),
        )
    )
    assert voice_words.describe_hours(week) == [
        "Mon–Fri 09:00–18:00",
        "Sat 10:00–13:00, 14:00–16:30",
        "Sun closed",
    ]
    assert voice_words.describe_hours(WeeklyHours.daily(0, 24 * H)) == [
        "Any time (no calling window)"
    ]
    assert voice_words.describe_hours(WeeklyHours.daily(nine, nine)) == [
        "Never: every day is closed"
    ]
    assert voice_words.clock(24 * H) == "24:00"
    assert voice_words.clock(9 * H + 90 * 10**9) == "09:01:30"
    policy = RecallPolicy(
        recall_times=2,
        recall_status=frozenset({CallOutcome.BUSY}),
        schedule_recall_duration=0,
        limit_recall_duration=7200,
        priority_recall=RecallPriority.RECALL,
    )
    assert voice_words.describe_recall(policy) == (
        "Up to 2 recalls (3 calls in all) after busy; as soon as possible. No recall starts "
        "later than 2 h after the first call. Due recalls go before first calls."
    )
    assert voice_words.describe_recall(RecallPolicy(recall_times=3, recall_status=frozenset())) == (
        "No recalls: no call outcome is set to be recalled."
    )
    berlin = voice_words.zone_of("Europe/Berlin")
    monday_8 = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)  # 08:00 in Berlin
    assert (
        voice_words.window_now(week, berlin, monday_8) == "Closed now; opens Mon 02 Mar 09:00 CET"
    )
    assert voice_words.window_now(week, berlin, monday_8.replace(hour=9)) == (
        "Open now, until Mon 02 Mar 18:00 CET"
    )
    assert voice_words.zone_of("Nowhere/Land") is UTC
