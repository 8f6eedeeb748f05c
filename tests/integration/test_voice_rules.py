"""The call engine's rules on the simulated carrier: network split, recipient-local
quiet hours, preview and predictive dialling with agents, crash recovery, and a
repeated CDR changing nothing."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from tests.conftest import Tenant
from tests.voice_driver import drive, voice_rig

from clarion.channels.base import CallRequest, DeliveryReport, Submission
from clarion.config import Settings
from clarion.dispatch.engine import BatchResult
from clarion.domain.lifecycle import MessageStatus
from clarion.domain.voice.config import VoiceConfig
from clarion.domain.voice.network import NetworkLimits, bucket_for_number
from clarion.domain.voice.recall import RecallPolicy
from clarion.domain.voice.windows import WeeklyHours
from clarion.services import campaigns as campaign_service
from clarion.services import voice
from clarion.services.campaigns import RecipientInput
from clarion.store import calls as call_store
from clarion.store.db import Database

H = 3600 * 10**9


async def launch(
    db: Database, settings: Settings, tenant: Tenant, config: VoiceConfig, phones: Sequence[str]
) -> int:
    row = await voice.create(
        db,
        account_id=tenant.id,
        spec=voice.VoiceSpec(name="rules", config=config, caller_id="+4930123456"),
        settings=settings,
    )
    await voice.add_numbers(
        db,
        account_id=tenant.id,
        campaign_id=row.id,
        entries=[RecipientInput(p, {}) for p in phones],
    )
    await campaign_service.start(db, account_id=tenant.id, campaign_id=row.id)
    return int(row.id)


async def calls_of(db: Database, campaign_id: int) -> list:  # type: ignore[type-arg]
    async with db.read() as conn:
        return list(await call_store.attempts(conn, campaign_id=campaign_id, limit=100_000))


def peak(intervals: Sequence[tuple[datetime, datetime]]) -> int:
    edges = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    live = top = 0
    for _, step in edges:
        live += step
        top = max(top, live)
    return top


async def test_network_split_limits_calls_per_operator(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    prefixes = {"viettel": "+8496", "mobi": "+8490", "vina": "+8491"}
    phones = [f"{p}{i:07d}" for p in prefixes.values() for i in range(30)]
    limits = NetworkLimits.from_autocall({"viettel": 1, "mobi": 2, "vina": 0})
    rig = voice_rig(settings, db)
    cid = await launch(db, settings, tenant, VoiceConfig(concurrent_call=6, network=limits), phones)
    assert await drive(rig, cid) == "DONE"
    calls = await calls_of(db, cid)
    assert {c.phone for c in calls} == set(phones)
    by_bucket: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    for c in calls:
        by_bucket[bucket_for_number(c.phone).value].append((c.started_at, c.ended_at))
    assert peak(by_bucket["viettel"]) == 1
    assert peak(by_bucket["mobi"]) == 2
    assert 2 < peak(by_bucket["vina"]) <= 6  # no limit of its own: the campaign's 6
    assert peak([(c.started_at, c.ended_at) for c in calls]) <= 6


async def test_quiet_hours_in_the_recipients_own_time_zone(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    # Monday 2 March 2026, 08:00 UTC: 09:00 in Berlin, 03:00 in New York (EST).
    rig = voice_rig(settings, db, start=datetime(2026, 3, 2, 8, 0, tzinfo=UTC))
    berlin = [f"+4930{i:07d}" for i in range(10)]
    new_york = [f"+1212555{i:04d}" for i in range(10)]
    config = VoiceConfig(
        concurrent_call=4,
        timezone="UTC",
        quiet_hours=WeeklyHours.daily(9 * H, 18 * H),
        recall=RecallPolicy(recall_times=0),
    )
    cid = await launch(db, settings, tenant, config, berlin + new_york)
    assert await drive(rig, cid) == "DONE"
    calls = await calls_of(db, cid)
    assert {c.phone for c in calls} == set(berlin + new_york)
    for c in calls:
        zone = ZoneInfo("Europe/Berlin" if c.phone.startswith("+49") else "America/New_York")
        local = c.started_at.astimezone(zone)
        assert 9 <= local.hour < 18, (c.phone, local)
    first_ny = min(c.started_at for c in calls if c.phone.startswith("+1"))
    assert first_ny >= datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # 09:00 EST
    assert min(c.started_at for c in calls if c.phone.startswith("+49")) < first_ny


async def test_preview_never_abandons_and_calls_no_more_than_agents(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    rig = voice_rig(settings, db, answer=0.5)
    phones = [f"+4915{i:09d}" for i in range(60)]
    config = VoiceConfig(dialer="preview", agents=3, concurrent_call=10)
    cid = await launch(db, settings, tenant, config, phones)
    assert await drive(rig, cid) == "DONE"
    calls = await calls_of(db, cid)
    assert not any(c.abandoned for c in calls)
    assert peak([(c.started_at, c.ended_at) for c in calls]) <= 3
    answered = [c for c in calls if c.outcome == "answered"]
    assert answered and all(c.agent for c in answered)


async def test_predictive_dials_ahead_of_agents_within_the_abandon_cap(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    rig = voice_rig(settings, db, answer=0.3)
    phones = [f"+4916{i:09d}" for i in range(200)]
    config = VoiceConfig(
        dialer="predictive", agents=5, concurrent_call=30, recall=RecallPolicy(recall_times=0)
    )
    cid = await launch(db, settings, tenant, config, phones)
    assert await drive(rig, cid, step=2) == "DONE"
    calls = await calls_of(db, cid)
    assert len(calls) == 200
    live = [c for c in calls if c.answered_at is not None]
    abandoned = [c for c in live if c.abandoned]
    assert len(abandoned) <= 0.03 * len(live), (len(abandoned), len(live))
    # more calls at once than agents: the dialer bets on who answers
    assert peak([(c.started_at, c.ended_at) for c in calls]) > 5
    talking = [(c.answered_at, c.ended_at) for c in live if not c.abandoned]
    assert peak(talking) <= 5  # never more bridged calls than agents


async def test_a_crash_between_claim_and_record_places_no_call_twice(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    rig = voice_rig(settings, db)
    phones = [f"+4917{i:08d}" for i in range(6)]
    cid = await launch(
        db, settings, tenant, VoiceConfig(concurrent_call=6, recall=RecallPolicy()), phones
    )
    campaign = await campaign_service.get(db, account_id=tenant.id, campaign_id=cid)
    d = rig.dispatcher
    await d.tick_leases()
    # Crash 1: two calls claimed (SENDING, hold debited), never submitted.
    never = await d.claim(campaign, 2, BatchResult())
    # Crash 2: two calls claimed and placed, the submit outcome never recorded.
    placed = await d.claim(campaign, 2, BatchResult())
    request = CallRequest(campaign_id=cid, call_timeout=30, max_seconds=300)
    await rig.carrier.submit(
        [
            Submission(m.id, f"{m.id}-{m.attempts + 1}", m.phone, "", "", 1, call=request)
            for m in placed
        ]
    )
    assert len(never) == len(placed) == 2
    # The process restarts: a new dispatcher, the same carrier (the PBX lived on).
    restarted = voice_rig(settings, db, start=rig.clock.now())
    restarted.clock = rig.clock
    restarted.dispatcher.clock = rig.clock.now
    restarted.dispatcher.monotonic = rig.clock.monotonic
    restarted.dispatcher.channels["sim_voice"] = rig.carrier
    rig.carrier.sink = restarted.dispatcher.report_sink
    restarted.carrier = rig.carrier
    assert await drive(restarted, cid, step=5) == "DONE"
    # The placed calls were found at the carrier, not placed again; the others were
    # placed once, as attempt 2 (attempt 1 never reached the carrier).
    assert max(rig.carrier.submissions.values()) == 1
    for m in placed:
        assert rig.carrier.submissions[f"{m.id}-1"] == 1
    for m in never:
        assert f"{m.id}-1" not in rig.carrier.submissions
        assert rig.carrier.submissions[f"{m.id}-2"] == 1
    calls = await calls_of(db, cid)
    assert {c.phone for c in calls} == set(phones)
    first = {c.message_id: c.attempt for c in calls if c.message_id in {m.id for m in never}}
    assert min(first.values()) == 2


async def test_a_repeated_cdr_changes_nothing(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    rig = voice_rig(settings, db)
    phones = [f"+4917{i:08d}" for i in range(3)]
    cid = await launch(
        db, settings, tenant, VoiceConfig(recall=RecallPolicy(recall_times=0)), phones
    )
    assert await drive(rig, cid) == "DONE"
    before = await voice.stats(db, account_id=tenant.id, campaign_id=cid)
    replay = [
        DeliveryReport(MessageStatus.DELIVERED, "x", r.message_id, None, r)
        for r in rig.carrier.records
    ]
    assert await rig.dispatcher.calls.apply(replay) == 0
    assert await voice.stats(db, account_id=tenant.id, campaign_id=cid) == before
    assert len(await calls_of(db, cid)) == 3
