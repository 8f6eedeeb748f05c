"""The call engine: places a voice campaign's calls and records each call's fate.

The dispatcher hands every RUNNING voice campaign it holds the lease of to
:meth:`CallEngine.step`, and every report carrying a :class:`CallRecord` to
:meth:`CallEngine.apply`. The money and crash-safety path is the SMS one
(dispatch/engine.py): a call is claimed NEW -> SENDING with its hold debited in one
transaction BEFORE the carrier sees it, submitted, then recorded ACCEPTED; a stale
SENDING call is looked up at the carrier by its reference (``<message id>-<attempt>``)
and never placed twice blindly.

One step of a campaign:

0. **Period.** A campaign whose ``ends_at`` has come (iSales ``strEndTime``) ends:
   STOPPED, its numbers still waiting (first calls and recalls) EXPIRED with
   ``campaign-ended``, never called; calls in progress finish and are recorded, none
   is recalled. Housekeeping ends a PAUSED one the same way.
1. **Window.** Outside the campaign's calling windows (``hours`` in its time zone)
   the campaign is PAUSED with reason ``window``; housekeeping resumes it when a
   window opens. Calls already in progress finish; none starts outside a window.
2. **How many.** ``concurrent_call`` minus the calls in progress; for a preview
   campaign at most the free agents; for a predictive one what the
   :class:`PredictivePacer` allows (abandoned calls <= 3 % over a rolling hour) given
   the pool's state from the channel (``agent_state``).
3. **Which.** Due NEW messages (first calls, and recalls whose ``not_before`` has
   passed; ``priority_recall: recall`` puts recalls first), skipping recipients whose
   own local time is outside ``quiet_hours`` (their next call is moved to when it is
   allowed; never allowed within 8 days: EXPIRED ``quiet-hours``) and those whose
   operator bucket is full (the ``network`` split).
4. Claim (hold debited; too little balance pauses the campaign with reason
   ``funds``), submit, record.

A call's end (:meth:`apply`, one transaction per batch of reports): the attempt and
its CDR are inserted (unique per message and attempt, so a repeated report changes
nothing), the hold minus the call's cost (per started minute of ``billsec``) is
refunded, and the recall policy decides: answered -> DELIVERED; another call due ->
NEW with ``not_before``; otherwise UNDELIVERED with the last outcome as error code.
``call.cdr`` (and ``call.answered``) events go to the campaign's callback URLs and
account endpoints. A campaign with nothing left to call and no call in progress is
DONE.
"""

from __future__ import annotations

import logging
import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from decimal import Decimal
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from sqlalchemy import Row

from clarion.channels.base import AgentState, CallRecord, CallRequest, DeliveryReport
from clarion.dialects.timestamps import zone
from clarion.domain.lifecycle import (
    CAMPAIGN_TRANSITIONS,
    MESSAGE_TRANSITIONS,
    CampaignStatus,
    MessageStatus,
    PauseReason,
    report_transition,
)
from clarion.domain.voice import network as network_rules
from clarion.domain.voice.config import VoiceConfig
from clarion.domain.voice.outcomes import Attempt, CallOutcome
from clarion.domain.voice.pacing import PacingConfig, PredictivePacer
from clarion.domain.voice.quiet_hours import (
    may_start_call,
    next_allowed_start,
    recipient_time_zones,
)
from clarion.domain.voice.recall import next_attempt_at
from clarion.domain.voice.windows import is_open, next_open
from clarion.services import voice
from clarion.store import accounts as account_store
from clarion.store import calls as call_store
from clarion.store import campaigns as campaign_store
from clarion.store import events as event_store
from clarion.store import messages as message_store

if TYPE_CHECKING:
    from clarion.dispatch.engine import Dispatcher

log = logging.getLogger(__name__)

GRACE = timedelta(minutes=2)  # beyond ring + max length, a call without CDR is lost
QUIET_EXPIRED = "quiet-hours"
PERIOD_ENDED = "campaign-ended"


@dataclass(slots=True)
class _Voice:
    config: VoiceConfig
    tz: tzinfo
    pacer: PredictivePacer | None = None


@dataclass(slots=True)
class _Ended:
    """One ended call to record: its campaign and message rows, the carrier's record,
    and what the call cost out of the message's hold (per started minute of
    ``billsec``, at most the minutes held)."""

    campaign: Row[Any]
    message: Row[Any]
    record: CallRecord
    ref: str | None
    state: _Voice
    cost: Decimal
    refund: Decimal

    @classmethod
    def of(
        cls,
        campaign: Row[Any],
        message: Row[Any],
        record: CallRecord,
        ref: str | None,
        state: _Voice,
    ) -> _Ended:
        price: Decimal = message.price
        minutes = max(int(message.segments), 1)
        billed = min(math.ceil(record.billsec / 60), minutes) if record.billsec else 0
        cost = price / minutes * billed
        return cls(campaign, message, record, ref, state, cost, price - cost)

    def cdr(self) -> dict[str, Any]:
        """The call_attempts row."""
        r = self.record
        return {
            "message_id": self.message.id,
            "campaign_id": self.campaign.id,
            "attempt": r.attempt,
            "phone": self.message.phone,
            "outcome": r.outcome,
            "started_at": r.started_at,
            "answered_at": r.answered_at,
            "ended_at": r.ended_at,
            "duration": r.duration,
            "billsec": r.billsec,
            "cost": self.cost,
            "hangup_cause": r.hangup_cause,
            "channel_ref": self.ref,
            "agent": r.agent,
            "abandoned": r.abandoned,
        }

    def document(self) -> dict[str, Any]:
        """The CDR as callbacks and /v1 show it."""
        return voice.cdr_document(SimpleNamespace(**self.cdr()), campaign=self.campaign)


@dataclass(slots=True)
class CallEngine:
    dispatcher: Dispatcher
    _campaigns: dict[int, _Voice] = field(default_factory=dict)
    _zones: dict[int, str] = field(default_factory=dict)

    # --- settings --------------------------------------------------------------------

    async def _voice(self, campaign: Row[Any]) -> _Voice:
        config = voice.config_of(campaign)
        name = config.timezone or self.dispatcher.settings.voice_timezone
        if not name:
            if campaign.account_id not in self._zones:
                async with self.dispatcher.db.read() as conn:
                    account = await account_store.get(conn, campaign.account_id)
                self._zones[campaign.account_id] = "" if account is None else account.timezone
            name = self._zones[campaign.account_id]
        state = self._campaigns.get(campaign.id)
        if state is None or state.config != config:
            pacer = state.pacer if state is not None else None
            if config.dialer == "predictive" and pacer is None:
                pacer = PredictivePacer(PacingConfig(call_timeout=float(config.call_timeout)))
            state = _Voice(config, zone(name), pacer)
            self._campaigns[campaign.id] = state
        return state

    # --- placing calls ---------------------------------------------------------------

    async def step(self, campaign: Row[Any]) -> bool:
        """Place what the campaign may place now; True if anything happened."""
        d = self.dispatcher
        now = d.clock()
        if _over(campaign, now):
            return await self._end(campaign, now)
        state = await self._voice(campaign)
        config = state.config
        if not is_open(config.hours, state.tz, now):
            return await self._pause_for_window(campaign, now, state)
        async with d.db.read() as conn:
            in_flight = await call_store.in_flight(conn, campaign.id)
        room = config.concurrent_call - len(in_flight)
        if config.agent_campaign:
            agents = self._agents(campaign, config)
            if config.dialer == "preview":
                room = min(room, agents.free)
            else:
                assert state.pacer is not None
                room = min(
                    room,
                    state.pacer.calls_to_place(
                        d.monotonic(),
                        free_agents=agents.free,
                        ringing=list(agents.ringing),
                        agents_soon_free=agents.soon_free,
                        waiting=agents.waiting,
                        max_ringing=max(room, 0),
                    ),
                )
        if room <= 0:
            return False
        buckets = Counter(
            network_rules.bucket_for_operator(m.country, m.operator) for m in in_flight
        )
        from clarion.dispatch.engine import BatchResult  # the engine imports this module

        result = BatchResult()

        async def pick(conn: Any, campaign_id: int, limit: int) -> list[message_store.Claimed]:
            return await self._pick(conn, campaign, state, buckets, limit, now)

        claimed = await d.claim(campaign, room, result, picker=pick)
        if not claimed:
            return result.blocked > 0 or result.funds_paused
        request = CallRequest(
            campaign_id=campaign.id,
            call_timeout=config.call_timeout,
            max_seconds=config.max_call_minutes * 60,
            kind=config.type_autocall,
            dialer=config.dialer,
            agents=config.agents,
            concurrent_call=config.concurrent_call,
        )
        submissions = d.submissions(campaign, claimed, call=request)
        await d.submit_claimed(campaign, claimed, submissions, result)
        return True

    def _agents(self, campaign: Row[Any], config: VoiceConfig) -> AgentState:
        channel = self.dispatcher.channel(campaign.channel_name)
        probe = getattr(channel, "agent_state", None)
        if probe is None:  # a channel without an ACD: every agent counts as free
            return AgentState(free=config.agents)
        state: AgentState = probe(campaign.id, config.agents)
        return state

    async def _pick(
        self,
        conn: Any,
        campaign: Row[Any],
        state: _Voice,
        in_flight: Counter[network_rules.NetworkBucket],
        limit: int,
        now: datetime,
    ) -> list[message_store.Claimed]:
        config = state.config
        recalls_first = config.recall.priority_recall.value == "recall"
        rows = await call_store.due(
            conn,
            campaign_id=campaign.id,
            now=now,
            recalls_first=recalls_first,
            limit=limit * 4 + 16,
        )
        if config.quiet_hours is not None:
            rows = await self._quiet(conn, rows, config, state.tz, now)
        buckets = [network_rules.bucket_for_operator(r.country, r.operator) for r in rows]
        chosen = network_rules.admit(
            config.network,
            dict(in_flight),
            buckets,
            concurrent_call=config.concurrent_call,
            wanted=limit,
        )
        picked = [rows[i] for i in chosen][:limit]
        return [
            message_store.Claimed(
                r.id,
                r.phone,
                r.text,
                r.segments,
                int((r.price * 1_000_000).to_integral_value()),
                r.attempts,
            )
            for r in picked
        ]

    async def _quiet(
        self,
        conn: Any,
        rows: Sequence[Row[Any]],
        config: VoiceConfig,
        tz: tzinfo,
        now: datetime,
    ) -> list[Row[Any]]:
        """Recipients whose own clock allows a call now; the others wait for it."""
        hours = config.quiet_hours
        assert hours is not None
        allowed: list[Row[Any]] = []
        later: dict[datetime, list[int]] = defaultdict(list)
        never: list[int] = []
        for row in rows:
            zones = recipient_time_zones(row.phone, fallback=tz)
            if may_start_call(hours, zones, now):
                allowed.append(row)
                continue
            when = next_allowed_start(hours, zones, now)
            if when is None:
                never.append(row.id)
            else:
                later[when].append(row.id)
        for when, ids in later.items():
            await call_store.delay(conn, message_ids=ids, until=when)
        if never:
            changed = await message_store.transition(
                conn,
                ids=never,
                transition=MESSAGE_TRANSITIONS["expire"],
                now=now,
                values={"error_code": QUIET_EXPIRED},
            )
            await self.dispatcher.changed_events(conn, changed, now)
        return allowed

    async def _pause_for_window(self, campaign: Row[Any], now: datetime, state: _Voice) -> bool:
        opens = next_open(state.config.hours, state.tz, now)
        async with self.dispatcher.db.begin() as conn:
            await campaign_store.lock(conn, campaign.id)
            paused = await campaign_store.transition(
                conn,
                campaign_id=campaign.id,
                transition=CAMPAIGN_TRANSITIONS["pause"],
                now=now,
                account_id=campaign.account_id,
                values={"pause_reason": PauseReason.WINDOW.value},
                detail="outside the calling window; opens "
                + (opens.isoformat() if opens else "never"),
            )
        if paused is not None:
            log.info(
                "voice campaign paused: outside its calling window",
                extra={"action": "window_pause", "campaign_id": campaign.id},
            )
        return paused is not None

    # --- housekeeping ------------------------------------------------------------------

    async def housekeeping(self) -> bool:
        """Resume window-paused campaigns whose window opened, give up on calls whose
        CDR never came, and finish campaigns with nothing left to call."""
        d = self.dispatcher
        now = d.clock()
        busy = False
        async with d.db.read() as conn:
            rows = [
                c
                for c in await campaign_store.with_status(
                    conn, [CampaignStatus.RUNNING, CampaignStatus.PAUSED]
                )
                if c.channel == voice.VOICE
            ]
        for campaign in rows:
            if _over(campaign, now):
                busy = await self._end(campaign, now) or busy
                continue
            state = await self._voice(campaign)
            if campaign.status == CampaignStatus.PAUSED:
                if campaign.pause_reason == PauseReason.WINDOW and is_open(
                    state.config.hours, state.tz, now
                ):
                    busy = await self._resume(campaign, now) or busy
                continue
            busy = await self._lose_overdue(campaign, state.config, now) or busy
            busy = await self.complete(campaign.id) or busy
        return busy

    async def _end(self, campaign: Row[Any], now: datetime) -> bool:
        """The campaign's period is over: RUNNING / PAUSED -> STOPPED, waiting numbers
        EXPIRED (never charged: a call's hold is taken only when it is placed)."""
        async with self.dispatcher.db.begin() as conn:
            await campaign_store.lock(conn, campaign.id)
            ended = await campaign_store.transition(
                conn,
                campaign_id=campaign.id,
                transition=CAMPAIGN_TRANSITIONS["stop"],
                now=now,
                account_id=campaign.account_id,
                values={"pause_reason": None, "finished_at": now},
                detail="the campaign's end time has come",
            )
            if ended is None:
                return False
            changed = await message_store.transition_campaign(
                conn,
                campaign_id=campaign.id,
                transition=MESSAGE_TRANSITIONS["expire"],
                now=now,
                values={"error_code": PERIOD_ENDED},
            )
            await self.dispatcher.changed_events(conn, changed, now)
        self._campaigns.pop(campaign.id, None)
        self.dispatcher.forget_running()
        log.info(
            "voice campaign ended at its end time; %d numbers not called",
            len(changed),
            extra={"action": "period_end", "campaign_id": campaign.id},
        )
        return True

    async def _resume(self, campaign: Row[Any], now: datetime) -> bool:
        async with self.dispatcher.db.begin() as conn:
            await campaign_store.lock(conn, campaign.id)
            resumed = await campaign_store.transition(
                conn,
                campaign_id=campaign.id,
                transition=CAMPAIGN_TRANSITIONS["resume"],
                now=now,
                account_id=campaign.account_id,
                values={"pause_reason": None},
                detail="calling window opened",
                extra_where=[campaign_store.paused_for(PauseReason.WINDOW)],
            )
        if resumed is not None:
            self.dispatcher.forget_running()
        return resumed is not None

    async def _lose_overdue(self, campaign: Row[Any], config: VoiceConfig, now: datetime) -> bool:
        """ACCEPTED calls with no CDR long after they must have ended (the carrier
        lost them) become UNKNOWN, so the campaign can finish."""
        limit = timedelta(seconds=config.call_timeout + config.max_call_minutes * 60) + GRACE
        async with self.dispatcher.db.read() as conn:
            overdue = await call_store.overdue(conn, campaign_id=campaign.id, before=now - limit)
        if not overdue:
            return False
        async with self.dispatcher.db.begin() as conn:
            await campaign_store.lock(conn, campaign.id)
            changed = await message_store.transition(
                conn,
                ids=overdue,
                transition=MESSAGE_TRANSITIONS["lose"],
                now=now,
                values={"error_code": "cdr-missing"},
            )
            await self.dispatcher.changed_events(conn, changed, now)
        log.warning(
            "%d calls without a CDR marked UNKNOWN",
            len(changed),
            extra={"action": "cdr_missing", "campaign_id": campaign.id},
        )
        return bool(changed)

    async def complete(self, campaign_id: int) -> bool:
        """RUNNING -> SENT -> DONE (one transaction) once no call is waiting or in
        progress: a voice campaign is finished when its last call has its CDR."""
        d = self.dispatcher
        now = d.clock()
        pending_statuses = (MessageStatus.NEW, MessageStatus.SENDING, MessageStatus.ACCEPTED)
        async with d.db.read() as conn:  # the common answer, without a write lock
            if await campaign_store.pending_messages(conn, campaign_id, pending_statuses):
                return False
        async with d.db.begin() as conn:
            await campaign_store.lock(conn, campaign_id)
            if await campaign_store.pending_messages(conn, campaign_id, pending_statuses):
                return False
            row = await campaign_store.get(conn, campaign_id)
            if row is None or row.status != CampaignStatus.RUNNING:
                return False
            await campaign_store.transition(
                conn,
                campaign_id=campaign_id,
                transition=CAMPAIGN_TRANSITIONS["complete"],
                now=now,
                account_id=row.account_id,
                values={"sent_at": now},
            )
            await campaign_store.transition(
                conn,
                campaign_id=campaign_id,
                transition=CAMPAIGN_TRANSITIONS["finish"],
                now=now,
                account_id=row.account_id,
                values={"finished_at": now},
            )
        self._campaigns.pop(campaign_id, None)
        return True

    # --- call ends -------------------------------------------------------------------

    async def apply(self, reports: Sequence[DeliveryReport]) -> int:
        """Record ended calls (reports with a ``call``); returns how many. One
        transaction, and a fixed number of statements, per batch of reports."""
        d = self.dispatcher
        now = d.clock()
        ended = [(r.call, r.channel_ref) for r in reports if r.call is not None]
        if not ended:
            return 0
        async with d.db.begin() as conn:
            ids = list({record.message_id for record, _ in ended})
            rows = {r.id: r for r in await message_store.by_ids(conn, ids)}
            campaign_ids = sorted({r.campaign_id for r in rows.values()})
            campaigns: dict[int, Row[Any]] = {}
            for cid in campaign_ids:
                await campaign_store.lock(conn, cid)
                row = await campaign_store.get(conn, cid)
                if row is not None:
                    campaigns[cid] = row
            calls: list[_Ended] = []
            for record, ref in ended:
                message = rows.pop(record.message_id, None)  # a second report: ignored
                if (
                    message is None
                    or message.campaign_id not in campaigns
                    or message.status not in (MessageStatus.SENDING, MessageStatus.ACCEPTED)
                    or message.attempts != record.attempt
                ):
                    continue  # a late or repeated report: that attempt is already settled
                campaign = campaigns[message.campaign_id]
                state = await self._voice(campaign)
                calls.append(_Ended.of(campaign, message, record, ref, state))
            calls, moved = await self._end_calls(conn, calls, now)
            await d.changed_events(conn, moved, now)
        for cid in campaign_ids:
            await self.complete(cid)
        return len(calls)

    async def _end_calls(
        self, conn: Any, calls: list[_Ended], now: datetime
    ) -> tuple[list[_Ended], list[message_store.Changed]]:
        """Record the calls' attempts, refund their unused holds, move each message by
        the recall policy and emit the CDR events; returns the calls recorded (those
        not already on record) and the messages moved."""
        inserted = await call_store.record_attempts(conn, [c.cdr() for c in calls])
        calls = [c for c in calls if c.message.id in inserted]
        await self._refund(conn, [c for c in calls if c.refund > 0], now)
        histories = await call_store.attempts_of(conn, [c.message.id for c in calls])
        delivered: list[message_store.Outcome] = []
        undelivered: list[message_store.Outcome] = []
        recalls: list[message_store.Outcome] = []
        due_at: dict[int, datetime] = {}
        for c in calls:
            self._pace(c.state, c.record)
            outcome = CallOutcome(c.record.outcome)
            if outcome.is_answered:
                delivered.append(message_store.Outcome(c.message.id, c.ref))
                continue
            history = [
                Attempt(a.started_at, CallOutcome(a.outcome), a.ended_at)
                for a in histories[c.message.id]
            ]
            due = self._recall(c, history, now)
            row = message_store.Outcome(c.message.id, c.ref, outcome.value)
            if due is None:
                undelivered.append(row)
            else:
                recalls.append(row)
                due_at[c.message.id] = due
        moved: list[message_store.Changed] = []
        for rows, transition in (
            (delivered, report_transition(MessageStatus.DELIVERED)),
            (undelivered, report_transition(MessageStatus.UNDELIVERED)),
            (recalls, MESSAGE_TRANSITIONS["recall"]),
        ):
            moved += await message_store.transition_rows(
                conn, rows=rows, transition=transition, now=now
            )
        await call_store.recall_at(conn, {m.id: due_at[m.id] for m in moved if m.id in due_at})
        await self._cdr_events(conn, calls, now)
        return calls, moved

    @staticmethod
    def _recall(c: _Ended, history: list[Attempt], now: datetime) -> datetime | None:
        """When the recall policy calls again after this unanswered call; None: never."""
        if c.campaign.status == CampaignStatus.STOPPED:
            return None
        try:
            return next_attempt_at(
                c.state.config.recall,
                history,
                now=max(now, c.record.ended_at),
                hours=c.state.config.hours,
                tz=c.state.tz,
            )
        except OverflowError:  # a recall beyond the calendar is no recall
            return None

    @staticmethod
    async def _refund(conn: Any, calls: list[_Ended], now: datetime) -> None:
        """Give back each call's hold minus its cost: to the balance (one ledger row per
        call), off the message's charge and the campaign's spend."""
        if not calls:
            return
        accounts: defaultdict[int, Decimal] = defaultdict(Decimal)
        spent: defaultdict[int, Decimal] = defaultdict(Decimal)
        for c in calls:
            accounts[c.campaign.account_id] += c.refund
            spent[c.campaign.id] += c.refund
        for account_id, amount in sorted(accounts.items()):
            await account_store.credit(conn, account_id=account_id, amount=amount)
        await account_store.record_many(
            conn,
            [
                account_store.Entry(
                    account_id=c.campaign.account_id,
                    amount=c.refund,
                    reason="call-refund",
                    campaign_id=c.campaign.id,
                    message_id=c.message.id,
                    messages=1,
                )
                for c in calls
            ],
            now=now,
        )
        await call_store.uncharge(conn, {c.message.id: c.refund for c in calls})
        for campaign_id, amount in sorted(spent.items()):
            await campaign_store.add_spent(conn, campaign_id=campaign_id, amount=-amount)

    @staticmethod
    async def _cdr_events(conn: Any, calls: list[_Ended], now: datetime) -> None:
        """``call.cdr`` for every call, ``call.answered`` for the answered ones."""
        by_campaign: dict[int, list[_Ended]] = defaultdict(list)
        for c in calls:
            by_campaign[c.campaign.id].append(c)
        for group in by_campaign.values():
            campaign = group[0].campaign
            documents = [c.document() for c in group]
            answered = [
                doc
                for c, doc in zip(group, documents, strict=True)
                if c.record.answered_at is not None
            ]
            for event_type, payloads in (
                (voice.CDR_EVENT, documents),
                (voice.ANSWER_EVENT, answered),
            ):
                await event_store.emit_many(
                    conn,
                    account_id=campaign.account_id,
                    event_type=event_type,
                    payloads=payloads,
                    now=now,
                    campaign_id=campaign.id,
                )

    def _pace(self, state: _Voice, record: CallRecord) -> None:
        if state.pacer is None:
            return
        mono = self.dispatcher.monotonic()
        live = record.answered_at is not None
        ring_end = record.answered_at or record.ended_at
        state.pacer.record_attempt(
            mono, live=live, ring_seconds=(ring_end - record.started_at).total_seconds()
        )
        if live:
            state.pacer.record_live(mono, abandoned=record.abandoned)


def _over(campaign: Row[Any], now: datetime) -> bool:
    """Whether the campaign's period has ended (``ends_at`` reached)."""
    ends_at: datetime | None = campaign.ends_at
    return ends_at is not None and now >= ends_at
