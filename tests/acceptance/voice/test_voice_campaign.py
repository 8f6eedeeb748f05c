"""A voice campaign end to end through raw /v1 HTTP, on a virtual clock.

2,000 simulated numbers, 20 calls at once, recalls of busy and unanswered calls, a
calling window of an hour a day that closes and opens again during the run: the
campaign reaches DONE with every recipient's attempts and outcomes on record, no call
outside the window, never more than 20 at once, recalls only as the policy says, and
the money equal to the calls' costs.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from tests.conftest import Tenant
from tests.voice_driver import drive, voice_rig

from clarion.config import Settings
from clarion.store import accounts as account_store
from clarion.store.db import Database

H = 3600 * 10**9
COUNT = 2000
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
WINDOW = {f"{d}_start_time": 9 * H for d in DAYS} | {f"{d}_end_time": 10 * H for d in DAYS}
RECALLED = {"busy", "no-answered"}


def numbers() -> list[str]:
    return [f"+4917{i:08d}" for i in range(COUNT)]


async def test_2000_numbers_with_recalls_and_windows(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: Tenant
) -> None:
    h = tenant.headers
    # Monday 08:30 UTC: the window opens at 09:00.
    rig = voice_rig(settings, db, start=datetime(2026, 3, 2, 8, 30, tzinfo=UTC))
    body: dict[str, Any] = {
        "name": "reminders",
        "channel": "voice",
        "sender": "+4930123456",
        "text": "Hello {name}, your appointment is tomorrow.",
        "voice": {
            "type": "autocall",
            "type_autocall": "autocall_voice_tts",
            "concurrent_call": 20,
            "call_timeout": 30,
            "recall": {
                "recall_times": 2,
                "recall_status": sorted(RECALLED),
                "schedule_recall": "minute",
                "schedule_recall_duration": 5,
                "priority_recall": "recall",
            },
            "hours": [WINDOW],
            "timezone": "UTC",
        },
    }
    r = await client.post("/v1/campaigns", json=body, headers=h)
    assert r.status_code == 201, r.text
    campaign = r.json()
    cid = campaign["id"]
    assert campaign["channel"] == "voice"
    assert campaign["voice"]["concurrent_call"] == 20
    assert campaign["voice"]["hours"] == [WINDOW]
    phones = numbers()
    for start in range(0, COUNT, 500):
        chunk = [{"phone": p, "variables": {"name": "Ann"}} for p in phones[start : start + 500]]
        r = await client.post(
            f"/v1/campaigns/{cid}/recipients", json={"recipients": chunk}, headers=h
        )
        assert r.status_code == 200, r.text
        assert r.json()["added"] == 500
    r = await client.post(f"/v1/campaigns/{cid}/start", headers=h)
    assert r.status_code == 200, r.text

    # Before 09:00 the campaign waits, paused for its window.
    assert await drive(rig, cid, until={"PAUSED"}) == "PAUSED"
    r = await client.get(f"/v1/campaigns/{cid}", headers=h)
    assert (r.json()["status"], r.json()["pause_reason"]) == ("PAUSED", "window")
    assert rig.carrier.records == []
    # It opens at 09:00, calls until 10:00, pauses, and goes on the next day.
    assert await drive(rig, cid, until={"RUNNING"}, step=20) == "RUNNING"
    assert await drive(rig, cid, until={"PAUSED"}, step=20) == "PAUSED"
    first_day = len(rig.carrier.records)
    assert first_day > 0
    assert await drive(rig, cid, until={"DONE"}, step=20) == "DONE"

    # Every call attempt, through the API, paged.
    calls: list[dict[str, Any]] = []
    after = 0
    while True:
        r = await client.get(
            f"/v1/campaigns/{cid}/calls", params={"after_id": after, "limit": 1000}, headers=h
        )
        assert r.status_code == 200, r.text
        page = r.json()
        calls += page["items"]
        if page["next_after_id"] is None:
            break
        after = page["next_after_id"]
    assert len(calls) == len(rig.carrier.records) > first_day
    by_phone: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for c in calls:
        by_phone[c["phone"]].append(c)
    assert set(by_phone) == set(phones)  # every recipient was called
    assert max(rig.carrier.submissions.values()) == 1  # no call placed twice

    def at(value: str) -> datetime:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))

    for phone, attempts in by_phone.items():
        attempts.sort(key=lambda c: c["attempt"])
        assert [c["attempt"] for c in attempts] == list(range(1, len(attempts) + 1))
        assert len(attempts) <= 3
        for earlier, later in itertools.pairwise(attempts):
            assert earlier["outcome"] in RECALLED, (phone, attempts)
            assert at(later["start_time"]) >= at(earlier["end_time"]) + timedelta(minutes=5)
        last = attempts[-1]
        if len(attempts) < 3:
            assert last["outcome"] not in RECALLED, (phone, attempts)
    for c in calls:
        started = at(c["start_time"])
        assert started.hour == 9, c  # inside 09:00-10:00
    # Never more than 20 calls at once.
    edges = sorted(
        [(at(c["start_time"]), 1) for c in calls] + [(at(c["end_time"]), -1) for c in calls]
    )
    live = peak = 0
    for _, step in edges:
        live += step
        peak = max(peak, live)
    assert 1 < peak <= 20

    # Messages final, stats and money consistent with the calls.
    r = await client.get(f"/v1/campaigns/{cid}/voice-stats", headers=h)
    stats = r.json()
    answered = {c["phone"] for c in calls if c["outcome"] == "answered"}
    assert stats["recipients"] == COUNT
    assert stats["waiting"] == stats["in_progress"] == 0
    assert stats["answered"] == len(answered)
    assert stats["unreached"] == COUNT - len(answered)
    assert stats["attempts"] == len(calls)
    assert sum(stats["outcomes"].values()) == len(calls)
    cost = sum((Decimal(c["cost"]) for c in calls), Decimal(0))
    assert Decimal(stats["cost"]) == cost > 0
    r = await client.get(f"/v1/campaigns/{cid}/stats", headers=h)
    counted = r.json()["messages"]
    assert counted.get("DELIVERED", 0) == len(answered)
    assert counted.get("DELIVERED", 0) + counted.get("UNDELIVERED", 0) == COUNT
    async with db.read() as conn:
        account = await account_store.get(conn, tenant.id)
    assert account is not None
    assert account.balance == Decimal("100.00") - cost
