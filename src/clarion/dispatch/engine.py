"""The dispatcher loop.

One pass (``tick``) does, in order:

1. housekeeping (every ``housekeeping_interval`` s): start due QUEUED/SCHEDULED
   campaigns, expire NEW messages past the campaign's validity, reconcile stale
   SENDING messages, mark campaigns SENT / DONE;
2. for every RUNNING campaign whose pacer allows it: claim a batch and send it;
3. apply the delivery reports the channels have handed in since.

Sending one batch is three short transactions, never one per message:

* claim: ``SELECT`` due NEW rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), keep the
  prefix the balance covers, ``UPDATE ... SET status='SENDING'`` guarded on NEW,
  debit the account and write the ledger and counters, all in one commit. If the
  balance does not cover even the first message the campaign is PAUSED (funds).
* submit through the channel (outside any transaction);
* record: ACCEPTED rows with their carrier ids; TEMPORARY / THROTTLED back to NEW
  and refunded; PERMANENT to REJECTED and refunded.

The SENDING commit happens before the carrier sees the message, so a crash at any
point leaves either NEW (never submitted) or SENDING. SENDING rows older than
``claim_timeout`` are looked up at the carrier by their reference and become
ACCEPTED if it has them, UNKNOWN otherwise: never resent blindly. A submit call that
raises leaves its batch SENDING for the same reconciliation.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import socket
import time
import zlib
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Row

from clarion import metrics
from clarion.channels import base as channels
from clarion.channels.base import Channel, DeliveryReport, Outcome, Submission, SubmitResult
from clarion.clock import utcnow
from clarion.config import Settings
from clarion.dispatch.calls import CallEngine
from clarion.dispatch.rate import Pacer, effective_rate
from clarion.dispatch.webhooks import WebhookSender
from clarion.domain.lifecycle import (
    CAMPAIGN_TRANSITIONS,
    MESSAGE_TRANSITIONS,
    CampaignStatus,
    MessageStatus,
    PauseReason,
    report_transition,
)
from clarion.services import campaigns as campaign_service
from clarion.services import fallback, imports, inbound
from clarion.store import accounts as account_store
from clarion.store import campaigns as campaign_store
from clarion.store import events as event_store
from clarion.store import leases as lease_store
from clarion.store import messages as message_store
from clarion.store import stoplist
from clarion.store import tasks as task_store
from clarion.store.db import Database
from clarion.store.types import from_micros, to_micros

log = logging.getLogger(__name__)

PENDING_SEND = (MessageStatus.NEW, MessageStatus.SENDING)
PENDING_ANY = (MessageStatus.NEW, MessageStatus.SENDING, MessageStatus.ACCEPTED)
SENDING_ONLY = frozenset({MessageStatus.SENDING.value})
MAX_BACKOFF = 10.0  # seconds between passes while they keep failing (database down)
SUBSCRIPTIONS_TTL = 2.0  # seconds between re-reads of who subscribes to which events
REFUNDABLE = frozenset({MessageStatus.UNDELIVERED.value, MessageStatus.REJECTED.value})


@dataclass(slots=True)
class BatchResult:
    claimed: int = 0
    accepted: int = 0
    requeued: int = 0
    rejected: int = 0
    blocked: int = 0
    funds_paused: bool = False
    paced_for: float = 0.0  # seconds until the account's rate allows the next message


class _BalanceMoved(Exception):
    """The guarded debit at the end of a claim found less money than the balance
    read at its start: the claim is rolled back."""


# Chooses the messages a claim takes: (connection, campaign id, limit) -> rows.
Picker = Callable[[Any, int, int], Awaitable[list[message_store.Claimed]]]


@dataclass(slots=True)
class _CampaignState:
    pacer: Pacer
    key: tuple[int | None, int | None] = (None, None)
    idle: bool = False


@dataclass(slots=True)
class Dispatcher:
    db: Database
    settings: Settings
    clock: Callable[[], datetime] = utcnow
    monotonic: Callable[[], float] = time.monotonic
    channels: dict[str, Channel] = field(default_factory=dict)
    _reports: list[DeliveryReport] = field(default_factory=list)
    _wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    _campaigns: dict[int, _CampaignState] = field(default_factory=dict)
    _last_housekeeping: float = float("-inf")
    _running_rows: Sequence[Row[Any]] | None = None
    _running_at: float = float("-inf")
    _imports: dict[int, asyncio.Task[str]] = field(default_factory=dict)
    _executor: Executor | None = None
    owner: str = field(default_factory=imports.worker_id)
    _sender: WebhookSender | None = None
    _subscriptions: set[tuple[int, str]] = field(default_factory=set)
    _subscriptions_at: float = float("-inf")
    _account_of: dict[int, int] = field(default_factory=dict)
    _leases: dict[int, datetime] = field(default_factory=dict)
    _inbox: list[inbound.Inbound] = field(default_factory=list)
    _lease_view: set[int] = field(default_factory=set)
    _leases_at: float = float("-inf")
    _calls: CallEngine | None = None

    @property
    def calls(self) -> CallEngine:
        if self._calls is None:
            self._calls = CallEngine(self)
        return self._calls

    # --- channels ------------------------------------------------------------------

    def report_sink(self, reports: Sequence[DeliveryReport]) -> None:
        self._reports.extend(reports)
        self._wakeup.set()

    def _take_reports(self, message_ids: set[int]) -> dict[int, DeliveryReport]:
        """Remove and return the queued reports for these messages."""
        if not self._reports:
            return {}
        taken: dict[int, DeliveryReport] = {}
        rest: list[DeliveryReport] = []
        for report in self._reports:
            if (
                report.call is None  # a call's end is the call engine's
                and report.message_id in message_ids
                and report.message_id not in taken
            ):
                taken[report.message_id] = report
            else:
                rest.append(report)
        self._reports = rest
        return taken

    def channel(self, name: str) -> Channel:
        found = self.channels.get(name)
        if found is None:
            found = channels.build(name, self.settings, self.report_sink)
            if hasattr(found, "on_mo"):  # a channel that receives MO messages (SMPP)
                found.on_mo = self.mo_sink
            self.channels[name] = found
        return found

    def _open_inbound_channels(self) -> None:
        """Bind the channels that receive (MO messages, late receipts) at start, not
        only when a campaign first sends through them."""
        for name in ("routed" if self.settings.routes_config else "", "smpp"):
            if name == "smpp" and not self.settings.smpp_config:
                continue
            if name:
                try:
                    self.channel(name)
                except Exception:
                    log.exception("cannot open channel %s", name, extra={"action": "channel"})

    def mo_sink(self, message: Any) -> None:
        """MO messages from a channel's binds (duck-typed: source, destination, text,
        connection); stored and acted on in the next pass (services/inbound.py)."""
        clean = str(message.text).replace("\x00", "")  # PostgreSQL text cannot hold NUL
        self._inbox.append(
            inbound.Inbound(message.source, message.destination, clean, message.connection)
        )
        self._wakeup.set()

    async def receive_mo(self) -> int:
        if not self._inbox:
            return 0
        batch, self._inbox = self._inbox, []
        try:
            await inbound.receive(
                self.db,
                batch,
                extra_keywords=self.settings.mo_stop_keywords,
                now=self.clock(),
            )
        except Exception:
            self._inbox = batch + self._inbox  # kept for the next pass
            raise
        return len(batch)

    def webhooks(self) -> WebhookSender:
        if self._sender is None:
            self._sender = WebhookSender(self.db, self.settings, clock=self.clock)
        return self._sender

    # --- events ----------------------------------------------------------------------

    async def _refresh_subscriptions(self) -> None:
        """Which accounts want which events, re-read every ``SUBSCRIPTIONS_TTL`` s: a
        new endpoint receives message events within that time of its creation."""
        mono = self.monotonic()
        if mono - self._subscriptions_at < SUBSCRIPTIONS_TTL:
            return
        async with self.db.read() as conn:
            self._subscriptions = await event_store.subscriptions(conn)
        self._subscriptions_at = mono

    def _wants(self, account_id: int, event_type: str) -> bool:
        return (account_id, event_type) in self._subscriptions

    async def _message_events(
        self, conn: Any, by_account: dict[int, list[int]], now: datetime
    ) -> None:
        """``message.status_changed`` for these messages, in the caller's transaction;
        free when no account subscribes."""
        for account_id, ids in by_account.items():
            if ids and self._wants(account_id, "message.status_changed"):
                await event_store.emit_message_changes(
                    conn, account_id=account_id, message_ids=ids, now=now
                )

    def forget_running(self) -> None:
        """Re-read the RUNNING campaigns on the next pass (one was just resumed)."""
        self._running_rows = None

    async def changed_events(
        self, conn: Any, changed: Sequence[message_store.Changed], now: datetime
    ) -> None:
        await self._changed_events(conn, changed, now)

    async def claim(
        self, campaign: Row[Any], limit: int, result: BatchResult, picker: Picker | None = None
    ) -> list[message_store.Claimed]:
        """Claim up to ``limit`` messages (``picker`` chooses them; default: the oldest
        NEW ones), their price debited, in one transaction."""
        return await self._claim(campaign, limit, result, picker)

    async def _changed_events(
        self, conn: Any, changed: Sequence[message_store.Changed], now: datetime
    ) -> None:
        """``message.status_changed`` for rows moved by a store transition."""
        if not self._subscriptions or not changed:
            return
        owners = await self._accounts_of(conn, {c.campaign_id for c in changed})
        by_account: dict[int, list[int]] = defaultdict(list)
        for c in changed:
            if c.campaign_id in owners:
                by_account[owners[c.campaign_id]].append(c.id)
        await self._message_events(conn, by_account, now)

    async def _accounts_of(self, conn: Any, campaign_ids: set[int]) -> dict[int, int]:
        missing = [c for c in campaign_ids if c not in self._account_of]
        if missing:
            self._account_of.update(await campaign_store.accounts_of(conn, missing))
        return {c: self._account_of[c] for c in campaign_ids if c in self._account_of}

    async def _low_balance(
        self, conn: Any, account_id: int, charged: Decimal, now: datetime
    ) -> None:
        """``balance.low`` when this debit took the balance below the account's
        threshold (only the debit that crosses it)."""
        if not self._wants(account_id, "balance.low"):
            return
        account = await account_store.get(conn, account_id)
        if account is None or account.low_balance is None:
            return
        after: Decimal = account.balance
        if after < account.low_balance <= after + charged:
            await event_store.emit(
                conn,
                account_id=account_id,
                event_type="balance.low",
                payload={
                    "balance": str(after),
                    "threshold": str(account.low_balance),
                    "currency": account.currency,
                },
                now=now,
            )

    async def close(self) -> None:
        await self.release_leases()
        for run in self._imports.values():
            run.cancel()
        if self._imports:
            await asyncio.gather(*self._imports.values(), return_exceptions=True)
        self._imports.clear()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
        for ch in self.channels.values():
            await ch.close()
        if self._sender is not None:
            await self._sender.close()

    # --- background imports ----------------------------------------------------------

    async def start_imports(self) -> bool:
        """Start queued import tasks (and resume ones whose worker died) as background
        asyncio tasks; their CPU-heavy screening runs in a process pool."""
        for task_id, run in list(self._imports.items()):
            if run.done():
                del self._imports[task_id]
                if not run.cancelled() and run.exception() is not None:
                    log.error(
                        "import task %s crashed",
                        task_id,
                        exc_info=run.exception(),
                        extra={"action": "task_crashed"},
                    )
        async with self.db.read() as conn:
            runnable = await task_store.runnable(conn, now=self.clock())
        started = False
        for task_id in runnable:
            if task_id in self._imports:
                continue
            self._imports[task_id] = asyncio.create_task(
                imports.run(self.db, task_id, owner=self.owner, executor=self._pool()),
                name=f"import-{task_id}",
            )
            started = True
        return started

    def _pool(self) -> Executor | None:
        if self.settings.import_workers <= 0:
            return None
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                max_workers=self.settings.import_workers,
                mp_context=multiprocessing.get_context("spawn"),
            )
        return self._executor

    # --- the loop ------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        log.info("dispatcher started", extra={"action": "dispatcher_start"})
        sender = asyncio.create_task(self.webhooks().run(stop), name="webhooks")
        self._open_inbound_channels()
        failures = 0
        failing_since = 0.0
        try:
            while not stop.is_set():
                try:
                    busy, wait = await self.tick()
                except Exception as exc:
                    # A failed pass must not kill the loop; everything it did is
                    # transactional, so the next pass starts from a consistent state.
                    # Repeated failures (the database is down) back off exponentially
                    # up to MAX_BACKOFF, logging the first one in full and then one line
                    # per retry.
                    if failures == 0:
                        failing_since = self.monotonic()
                        log.exception("dispatcher pass failed", extra={"action": "tick_failed"})
                    failures += 1
                    wait = min(self.settings.poll_interval * 2**failures, MAX_BACKOFF)
                    log.warning(
                        "dispatcher pass failed %d time(s) in a row (%s: %s); retrying in %.1f s",
                        failures,
                        type(exc).__name__,
                        str(exc).splitlines()[0][:200] if str(exc) else "",
                        wait,
                        extra={"action": "backoff"},
                    )
                    busy = False
                else:
                    if failures:
                        log.warning(
                            "dispatcher recovered after %d failed passes (%.1f s)",
                            failures,
                            self.monotonic() - failing_since,
                            extra={"action": "recovered"},
                        )
                        failures = 0
                if busy:
                    await asyncio.sleep(0)
                    continue
                self._wakeup.clear()
                stop_task = asyncio.ensure_future(stop.wait())
                wake_task = asyncio.ensure_future(self._wakeup.wait())
                await asyncio.wait(
                    {stop_task, wake_task}, timeout=wait, return_when=asyncio.FIRST_COMPLETED
                )
                stop_task.cancel()
                wake_task.cancel()
        finally:
            stop.set()
            await asyncio.gather(sender, return_exceptions=True)
            await self.close()
            log.info("dispatcher stopped", extra={"action": "dispatcher_stop"})

    async def tick(self) -> tuple[bool, float]:
        """One pass. Returns (did work, seconds until the next pacing slot)."""
        busy = False
        await self._refresh_subscriptions()
        mono = self.monotonic()
        if mono - self._last_housekeeping >= self.settings.housekeeping_interval:
            self._last_housekeeping = mono
            busy = await self.housekeeping() or busy
        running = await self._running()
        wait = self.settings.poll_interval
        for campaign in running:
            if campaign.channel == "voice":
                # Ended calls first: they free the room the next calls take.
                busy = bool(await self.apply_reports()) or busy
                busy = await self.calls.step(campaign) or busy
                continue
            state = self._state(campaign)
            allowance = state.pacer.allowance(self.monotonic(), self.settings.batch_size)
            if allowance == 0:
                wait = min(wait, max(state.pacer.next_at - self.monotonic(), 0.0))
                continue
            result = await self.send_batch(campaign, limit=allowance)
            now_mono = self.monotonic()
            state.pacer.sent(now_mono, result.accepted + result.rejected)
            if result.requeued:
                state.pacer.back_off(now_mono, self.settings.throttle_backoff)
            if result.paced_for:
                wait = min(wait, result.paced_for)
            if (
                result.claimed
                or result.blocked
                or (not result.funds_paused and await self.complete_if_sent(campaign.id))
            ):
                busy = True
            if state.pacer.rate is not None:
                wait = min(wait, max(state.pacer.next_at - now_mono, 0.0))
            await self.apply_reports()
        if await self.apply_reports():
            busy = True
        if await self.receive_mo():
            busy = True
        if not busy:
            self._running_rows = None  # idle: look for newly started campaigns next pass
        return busy, wait

    async def _running(self) -> Sequence[Row[Any]]:
        """RUNNING campaigns, re-read at most every ``poll_interval`` while busy (a
        stale entry is harmless: the claim itself checks the campaign is RUNNING)."""
        mono = self.monotonic()
        if self._running_rows is not None and mono - self._running_at < self.settings.poll_interval:
            return self._running_rows
        async with self.db.read() as conn:
            rows = await campaign_store.sendable(conn)
        live = {r.id for r in rows}
        await self._balance_leases(live)
        mine = [r for r in rows if r.id in self._leases]
        self._running_rows, self._running_at = mine, mono
        for gone in set(self._campaigns) - live:
            del self._campaigns[gone]
        return mine

    # --- leases ----------------------------------------------------------------------

    async def tick_leases(self) -> list[int]:
        """Take (or renew) this worker's share of the sendable campaigns now; returns
        the ids held. A pass does this itself; tests and ``clarion status`` call it."""
        self._running_rows = None
        self._running_at = float("-inf")
        self._leases_at = float("-inf")
        return [r.id for r in await self._running()]

    async def _balance_leases(self, live: set[int]) -> None:
        """Hold a fair share of the sendable campaigns: renew ours every third of the
        lease, take free or expired ones up to ``ceil(campaigns / live workers)``, give
        back the rest (so a new worker gets work) and those no longer sendable."""
        mono = self.monotonic()
        ttl = self.settings.lease_seconds
        due = mono - self._leases_at >= ttl / 3
        if not due and live == self._lease_view:
            return
        now = self.clock()
        until = now + timedelta(seconds=ttl)
        gone = set(self._leases) - live
        async with self.db.begin() as conn:
            await lease_store.heartbeat(
                conn, worker_id=self.owner, host=socket.gethostname(), pid=os.getpid(), now=now
            )
            workers = max(
                1, await lease_store.live_workers(conn, since=now - timedelta(seconds=ttl))
            )
            held = await lease_store.holders(conn, live, now=now)
            share = -(-len(live) // workers)
            ours = sorted(c for c in live if held.get(c) == self.owner)
            keep, surplus = ours[:share], ours[share:]
            await lease_store.release(conn, campaign_ids=[*surplus, *gone], owner=self.owner)
            if due:
                await lease_store.prune_workers(conn, before=now - timedelta(seconds=10 * ttl))
        free = sorted(c for c in live if c not in held)
        # Workers looking at the same free campaigns start at different places, and one
        # that loses a race for a campaign tries the next. Each lease is taken in its own
        # short transaction, so workers taking several never wait on each other.
        if free:
            offset = zlib.crc32(self.owner.encode()) % len(free)
            free = free[offset:] + free[:offset]
        taken: dict[int, datetime] = {}
        for campaign_id in [*keep, *free]:
            if len(taken) >= share:
                break
            async with self.db.begin() as conn:
                if await lease_store.acquire(
                    conn, campaign_id=campaign_id, owner=self.owner, now=now, until=until
                ):
                    taken[campaign_id] = until
        lost = set(self._leases) - set(taken) - gone - set(surplus)
        if lost:
            log.warning(
                "lost the lease of campaigns %s to another worker",
                sorted(lost),
                extra={"action": "lease_lost"},
            )
        self._leases = taken
        self._lease_view = set(live)
        self._leases_at = mono
        metrics.set_campaign_leases(len(taken))
        metrics.heartbeat(now.timestamp())

    def _holds(self, campaign_id: int) -> bool:
        """Whether our lease on the campaign is still good for a submission: the
        reconciliation of another worker never looks at a claim younger than
        ``claim_timeout``, which exceeds the lease (see docs/architecture.md)."""
        until = self._leases.get(campaign_id)
        return until is not None and self.clock() < until

    async def release_leases(self) -> None:
        """Give back every lease and leave the registry (a clean shutdown)."""
        if not self._leases and self._leases_at == float("-inf"):
            return
        try:
            async with self.db.begin() as conn:
                await lease_store.forget_worker(conn, self.owner)
        except Exception:
            log.warning("could not release leases", exc_info=True, extra={"action": "lease"})
        self._leases = {}

    def _state(self, campaign: Row[Any]) -> _CampaignState:
        key = (campaign.rate_limit, campaign.rate_period)
        state = self._campaigns.get(campaign.id)
        if state is None or state.key != key:
            rate = effective_rate(
                campaign.rate_limit, campaign.rate_period, ceiling=self.settings.max_campaign_rate
            )
            state = _CampaignState(Pacer(rate), key)
            self._campaigns[campaign.id] = state
        return state

    # --- sending -------------------------------------------------------------------

    async def send_batch(self, campaign: Row[Any], *, limit: int) -> BatchResult:
        result = BatchResult()
        began = time.perf_counter()
        claimed = await self._claim(campaign, limit, result)
        metrics.observe_claim(time.perf_counter() - began)
        if not claimed:
            return result
        result.claimed = len(claimed)
        content = (campaign.settings or {}).get("rcs") if campaign.channel == "rcs" else None
        submissions = self.submissions(
            campaign,
            claimed,
            validity_minutes=campaign.validity_minutes,
            mclass=campaign.mclass,
            content=content,
        )
        return await self.submit_claimed(campaign, claimed, submissions, result)

    @staticmethod
    def submissions(
        campaign: Row[Any], claimed: Sequence[message_store.Claimed], **extra: Any
    ) -> list[Submission]:
        """One submission per claimed message (or call), ``extra`` fields on each. The
        reference ``{message id}-{attempt}`` is the idempotency key a carrier can be
        asked about after a crash (reconciliation), never reused by another attempt."""
        return [
            Submission(
                message_id=m.id,
                reference=f"{m.id}-{m.attempts + 1}",
                phone=m.phone,
                sender=campaign.sender,
                text=m.text if m.text is not None else campaign.text,
                segments=m.segments,
                account_id=campaign.account_id,
                **extra,
            )
            for m in claimed
        ]

    async def submit_claimed(
        self,
        campaign: Row[Any],
        claimed: Sequence[message_store.Claimed],
        submissions: Sequence[Submission],
        result: BatchResult,
    ) -> BatchResult:
        """Submit a claimed batch (messages or calls) and record the outcomes."""
        channel = self.channel(campaign.channel_name)
        if not self._holds(campaign.id):
            # Our lease ran out between claim and submit (a stall): another worker may
            # own the campaign now, so we must not submit. Nothing left the process:
            # the batch goes back to NEW and is refunded (guarded on SENDING at this
            # attempt, in case a reconciliation got there first).
            log.warning(
                "lease expired before submit; %d messages put back",
                len(submissions),
                extra={"action": "lease_expired", "campaign_id": campaign.id},
            )
            async with self.db.begin() as conn:
                await campaign_store.lock(conn, campaign.id)
                mine = await message_store.still_claimed(
                    conn, {m.id: m.attempts + 1 for m in claimed}
                )
                back = await self._fail(conn, sorted(mine), [], self.clock())
                await self._refund(conn, campaign, back, self.clock())
            result.requeued = len(mine)
            return result
        try:
            outcomes = await channel.submit(submissions)
        except Exception:
            # Outcome unknown: the batch stays SENDING and is reconciled later.
            log.exception(
                "submit failed; %d messages left for reconciliation",
                len(submissions),
                extra={"action": "submit_failed", "campaign_id": campaign.id},
            )
            return result
        await self._record(campaign, claimed, submissions, outcomes, result)
        if len(outcomes) == len(submissions):
            for outcome, count in Counter(o.outcome.value.lower() for o in outcomes).items():
                metrics.count_submissions(campaign.channel_name, outcome, count)
        return result

    async def _claim(
        self, campaign: Row[Any], limit: int, result: BatchResult, picker: Picker | None = None
    ) -> list[message_store.Claimed]:
        now = self.clock()
        # An SMS-fallback child pauses its parent when funds run out (services/fallback).
        holder = campaign.parent_id if campaign.parent_id is not None else campaign.id
        try:
            return await self._claim_once(campaign, limit, result, picker, now, holder)
        except _BalanceMoved:
            log.info(
                "balance changed during a claim; claiming again next pass",
                extra={"action": "claim_retry", "campaign_id": campaign.id},
            )
            return []

    async def _claim_once(
        self,
        campaign: Row[Any],
        limit: int,
        result: BatchResult,
        picker: Picker | None,
        now: datetime,
        holder: int,
    ) -> list[message_store.Claimed]:
        async with self.db.begin() as conn:
            if campaign.parent_id is not None:
                # Lock order: the parent first, as every service touching both does.
                await campaign_store.lock(conn, campaign.parent_id)
                if await campaign_store.status(conn, campaign.parent_id) != CampaignStatus.RUNNING:
                    return []
            await campaign_store.lock(conn, campaign.id)
            context = await lease_store.claim_context(
                conn,
                campaign_id=campaign.id,
                owner=self.owner,
                account_id=campaign.account_id,
                now=now,
            )
            if not context.held:
                self._leases.pop(campaign.id, None)
                return []
            # The account's own rate (all its campaigns, all workers): a shared bucket.
            rate = context if context.rate_limit is not None else None
            if rate is not None:
                tokens = account_store.available_tokens(rate, now)
                if tokens < 1:
                    result.paced_for = (1 - tokens) / float(rate.rate_limit)
                    return []
                limit = min(limit, int(tokens))
            due = (
                await picker(conn, campaign.id, limit)
                if picker is not None
                else await message_store.due_new(conn, campaign_id=campaign.id, limit=limit)
            )
            if not due:
                return []
            # Stop-lists are checked again at send time: a number stop-listed after it
            # was added is not sent to (REJECTED, never charged), unless the campaign was
            # created not to check them (BSG ``check_stop_list: false``).
            blocked = (
                await stoplist.blocked(
                    conn, account_id=campaign.account_id, phones=[m.phone for m in due]
                )
                if (campaign.settings or {}).get("check_stop_list", True)
                else set()
            )
            if blocked:
                await message_store.transition(
                    conn,
                    ids=[m.id for m in due if m.phone in blocked],
                    transition=MESSAGE_TRANSITIONS["block"],
                    now=now,
                    values={"error_code": "stop-list"},
                )
                due = [m for m in due if m.phone not in blocked]
                result.blocked += len(blocked)
                if not due:
                    return []
            # The balance as last committed (read with the lease, no lock) decides how
            # many messages to take; the account row is locked only by the guarded
            # debit at the very end, so concurrent workers (one account, many
            # campaigns) hold it for the commit alone. A debit that no longer fits
            # (another worker spent meanwhile) undoes this claim: the next pass
            # claims again with the new balance.
            balance: Decimal = context.balance
            budget = to_micros(balance)
            take: list[message_store.Claimed] = []
            total = 0
            for m in due:
                if total + m.price_micros > budget:
                    break
                total += m.price_micros
                take.append(m)
            if not take:
                await campaign_store.transition(
                    conn,
                    campaign_id=holder,
                    transition=CAMPAIGN_TRANSITIONS["pause"],
                    now=now,
                    account_id=campaign.account_id,
                    values={"pause_reason": PauseReason.FUNDS.value},
                    detail=f"balance {balance} below next message price {due[0].price}",
                )
                result.funds_paused = True
                log.info(
                    "campaign paused: insufficient funds",
                    extra={"action": "funds_pause", "campaign_id": holder},
                )
                return []
            await message_store.claim(
                conn,
                campaign_id=campaign.id,
                rows=take,
                now=now,
                claim=MESSAGE_TRANSITIONS["claim"],
            )
            charged = from_micros(total)
            if charged:
                await account_store.record_messages(
                    conn,
                    account_id=campaign.account_id,
                    message_ids=[m.id for m in take],
                    reason="charge",
                    now=now,
                )
                await campaign_store.add_spent(conn, campaign_id=campaign.id, amount=charged)
                # The account row last (the lock order), and only now.
                if not await account_store.debit(
                    conn, account_id=campaign.account_id, amount=charged
                ):
                    raise _BalanceMoved
                await self._low_balance(conn, campaign.account_id, charged, now)
            if rate is not None:
                await account_store.spend_tokens(
                    conn, account_id=campaign.account_id, state=rate, count=len(take), now=now
                )
        return take

    async def _record(
        self,
        campaign: Row[Any],
        claimed: Sequence[message_store.Claimed],
        submissions: Sequence[Submission],
        outcomes: Sequence[SubmitResult],
        result: BatchResult,
    ) -> None:
        if len(outcomes) != len(submissions):
            log.error(
                "channel returned %d results for %d submissions; batch left for reconciliation",
                len(outcomes),
                len(submissions),
                extra={"action": "submit_mismatch", "campaign_id": campaign.id},
            )
            return
        # Reports the channel already handed in for this batch (a synchronous carrier)
        # are applied in the same statement as the submit outcome: SENDING -> final.
        early = self._take_reports({sub.message_id for sub in submissions})
        accepted: list[message_store.Outcome] = []
        reported: dict[MessageStatus, list[message_store.Outcome]] = defaultdict(list)
        requeue: list[int] = []
        rejected: list[message_store.Outcome] = []
        for sub, out in zip(submissions, outcomes, strict=True):
            mid = sub.message_id
            if out.outcome is Outcome.ACCEPTED:
                ref = out.channel_ref or sub.reference
                report = early.get(mid)
                if report is None:
                    accepted.append(message_store.Outcome(mid, ref))
                else:
                    reported[report.status].append(message_store.Outcome(mid, ref, report.error))
            elif out.outcome in (Outcome.TEMPORARY, Outcome.THROTTLED):
                requeue.append(mid)
            else:
                rejected.append(message_store.Outcome(mid, None, out.error or "rejected"))
        now = self.clock()
        settled: dict[str, list[message_store.Outcome]] = {
            MessageStatus.ACCEPTED.value: accepted,
            **{status.value: rows for status, rows in reported.items()},
        }
        try:
            async with self.db.begin() as conn:
                await campaign_store.lock(conn, campaign.id)
                await message_store.settle_claimed(
                    conn,
                    campaign_id=campaign.id,
                    outcomes=settled,
                    claimed={m.id: m for m in claimed},
                    now=now,
                )
                refunded = await self._fail(conn, requeue, rejected, now)
                await self._drop_if_stopped(conn, campaign.id, requeue, now)
                await self._fall_back(conn, campaign, rejected, reported, now)
                await self._refund(conn, campaign, refunded, now)
                by_id = {m.id: m for m in claimed}
                await self._refund_failed(
                    conn,
                    [
                        message_store.Changed(
                            o.id,
                            campaign.id,
                            by_id[o.id].segments,
                            by_id[o.id].price_micros,
                            MessageStatus.SENDING.value,
                        )
                        for status, rows in reported.items()
                        if status in REFUNDABLE
                        for o in rows
                    ],
                    now,
                )
                await self._message_events(
                    conn, {campaign.account_id: self._recorded(settled, rejected)}, now
                )
        except message_store.ClaimRace:
            # Someone else moved one of our SENDING messages (a reconciliation after a
            # long stall): redo it exactly, row by row, with RETURNING.
            log.warning(
                "claimed messages changed under the dispatcher; recording exactly",
                extra={"action": "claim_race", "campaign_id": campaign.id},
            )
            async with self.db.begin() as conn:
                await campaign_store.lock(conn, campaign.id)
                undelivered: list[message_store.Changed] = []
                for status, rows in settled.items():
                    transition = (
                        MESSAGE_TRANSITIONS["accept"]
                        if status == MessageStatus.ACCEPTED
                        else report_transition(MessageStatus(status), allowed_from=SENDING_ONLY)
                    )
                    moved = await message_store.transition_rows(
                        conn, rows=rows, transition=transition, now=now
                    )
                    if status in REFUNDABLE:
                        undelivered += moved
                refunded = await self._fail(conn, requeue, rejected, now)
                await self._drop_if_stopped(conn, campaign.id, requeue, now)
                await self._fall_back(conn, campaign, rejected, reported, now)
                await self._refund(conn, campaign, refunded, now)
                await self._refund_failed(conn, undelivered, now)
                await self._message_events(
                    conn, {campaign.account_id: self._recorded(settled, rejected)}, now
                )
        result.accepted = len(accepted) + sum(len(r) for r in reported.values())
        result.requeued = len(requeue)
        result.rejected = len(rejected)

    @staticmethod
    def _recorded(
        settled: dict[str, list[message_store.Outcome]],
        rejected: Sequence[message_store.Outcome],
    ) -> list[int]:
        return [o.id for rows in settled.values() for o in rows] + [o.id for o in rejected]

    async def _fall_back(
        self,
        conn: Any,
        campaign: Row[Any],
        rejected: Sequence[message_store.Outcome],
        reported: dict[MessageStatus, list[message_store.Outcome]],
        now: datetime,
    ) -> None:
        """RCS messages that failed at submit (or with their report already in) fall
        back to SMS in the transaction recording the failure."""
        if campaign.channel != "rcs":
            return
        ids = [o.id for o in rejected]
        for status, rows in reported.items():
            if status in fallback.TRIGGERS:
                ids += [o.id for o in rows]
        await fallback.spawn(conn, campaign_ids=[campaign.id], message_ids=ids, now=now)

    @staticmethod
    async def _drop_if_stopped(
        conn: Any, campaign_id: int, ids: Sequence[int], now: datetime
    ) -> None:
        """Messages put back to NEW for a campaign that was stopped meanwhile would
        never be sent nor final: they are DELETED, like the campaign's other unsent
        messages at its stop."""
        if ids and await campaign_store.status(conn, campaign_id) == CampaignStatus.STOPPED:
            await message_store.transition(
                conn, ids=ids, transition=MESSAGE_TRANSITIONS["delete"], now=now
            )

    @staticmethod
    async def _fail(
        conn: Any,
        requeue: Sequence[int],
        rejected: Sequence[message_store.Outcome],
        now: datetime,
    ) -> list[message_store.Changed]:
        """TEMPORARY / THROTTLED back to NEW, PERMANENT to REJECTED; returns both, to be
        refunded. Within one transaction the account row is always touched last (after
        any fallback is inserted), so concurrent workers lock in one order."""
        refunded: list[message_store.Changed] = []
        if requeue:
            refunded += await message_store.transition(
                conn, ids=requeue, transition=MESSAGE_TRANSITIONS["requeue"], now=now
            )
        refunded += await message_store.transition_rows(
            conn, rows=rejected, transition=MESSAGE_TRANSITIONS["reject"], now=now
        )
        return refunded

    async def _refund(
        self,
        conn: Any,
        campaign: Row[Any],
        changed: Sequence[message_store.Changed],
        now: datetime,
    ) -> None:
        if not changed:
            return
        amount = sum((c.price for c in changed), Decimal(0))
        await message_store.refund_charge(conn, ids=[c.id for c in changed])
        if amount:
            await account_store.credit(conn, account_id=campaign.account_id, amount=amount)
            await account_store.record_messages(
                conn,
                account_id=campaign.account_id,
                message_ids=[c.id for c in changed],
                reason="refund",
                now=now,
                sign=1,
            )
            await campaign_store.add_spent(conn, campaign_id=campaign.id, amount=-amount)

    # --- delivery reports ----------------------------------------------------------

    async def apply_reports(self) -> int:
        """Apply every report received so far; returns how many were applied."""
        if not self._reports:
            return 0
        reports, self._reports = self._reports, []
        calls = [r for r in reports if r.call is not None]
        if calls:
            reports = [r for r in reports if r.call is None]
            try:
                applied_calls = await self.calls.apply(calls)
            except Exception:
                self._reports = calls + reports + self._reports
                raise
        else:
            applied_calls = 0
        applied = applied_calls
        size = max(self.settings.batch_size, 1)
        for start in range(0, len(reports), size):
            try:
                applied += await self._apply(reports[start : start + size])
            except Exception:
                # Nothing of this chunk was written: keep it (and the rest) for the
                # next pass rather than lose the carrier's word.
                self._reports = list(reports[start:]) + self._reports
                raise
        return applied

    async def _apply(self, reports: Sequence[DeliveryReport]) -> int:
        now = self.clock()
        missing = [r.channel_ref for r in reports if r.message_id is None and r.channel_ref]
        async with self.db.begin() as conn:
            by_ref = await message_store.ids_by_ref(conn, missing) if missing else {}
            if conn.dialect.name == "postgresql":
                # The lock order: the campaign rows first (parents before their fallback
                # children: lower ids), so a refund cannot deadlock with a claim.
                ids = [r.message_id for r in reports if r.message_id is not None]
                for campaign_id in sorted(
                    await message_store.campaigns_of(conn, [*ids, *by_ref.values()])
                ):
                    await campaign_store.lock(conn, campaign_id)
            groups: dict[MessageStatus, list[message_store.Outcome]] = defaultdict(list)
            for r in reports:
                mid = r.message_id if r.message_id is not None else by_ref.get(r.channel_ref or "")
                if mid is None:
                    log.warning(
                        "report for unknown message %s",
                        r.channel_ref,
                        extra={"action": "report_unknown"},
                    )
                    continue
                groups[r.status].append(message_store.Outcome(mid, r.channel_ref, r.error))
            applied = 0
            failed: list[message_store.Changed] = []
            refundable: list[message_store.Changed] = []
            moved_by_status: list[list[message_store.Changed]] = []
            for status, rows in groups.items():
                changed = await message_store.transition_rows(
                    conn, rows=rows, transition=report_transition(status), now=now
                )
                moved_by_status.append(changed)
                applied += len(changed)
                if status in REFUNDABLE:
                    refundable += changed
                if status in fallback.TRIGGERS:
                    failed += changed
            if failed:  # fallbacks first: the account row is always touched last
                await fallback.spawn(
                    conn,
                    campaign_ids={c.campaign_id for c in failed},
                    message_ids=[c.id for c in failed],
                    now=now,
                )
            if refundable:
                await self._refund_failed(conn, refundable, now)
            await self._changed_events(conn, [c for rows in moved_by_status for c in rows], now)
        return applied

    async def _refund_failed(
        self, conn: Any, failed: Sequence[message_store.Changed], now: datetime
    ) -> None:
        """Accounts with ``refund_policy = undelivered`` get back what a message that
        the carrier reports UNDELIVERED or REJECTED was charged (per-message ledger
        rows, reason ``refund-undelivered``)."""
        refundable = [c for c in failed if c.price_micros]
        if not refundable:
            return
        owners = await campaign_store.refunding_accounts(conn, {c.campaign_id for c in refundable})
        by_campaign: dict[int, list[message_store.Changed]] = defaultdict(list)
        for c in refundable:
            if c.campaign_id in owners:
                by_campaign[c.campaign_id].append(c)
        for campaign_id, changed in by_campaign.items():
            account_id = owners[campaign_id]
            amount = sum((c.price for c in changed), Decimal(0))
            await message_store.refund_charge(conn, ids=[c.id for c in changed])
            await account_store.credit(conn, account_id=account_id, amount=amount)
            await account_store.record_messages(
                conn,
                account_id=account_id,
                message_ids=[c.id for c in changed],
                reason="refund-undelivered",
                now=now,
                sign=1,
            )
            await campaign_store.add_spent(conn, campaign_id=campaign_id, amount=-amount)

    # --- housekeeping --------------------------------------------------------------

    async def housekeeping(self) -> bool:
        busy = bool(await campaign_service.activate_due(self.db))
        busy = await self.start_imports() or busy
        busy = await self.expire() or busy
        busy = await self.reconcile() or busy
        busy = await self.calls.housekeeping() or busy
        return await self.finish_campaigns() or busy

    async def expire(self) -> bool:
        """NEW messages of RUNNING / PAUSED campaigns past their validity -> EXPIRED."""
        now = self.clock()
        expired = 0
        async with self.db.begin() as conn:
            for c in await campaign_store.with_status(
                conn, [CampaignStatus.RUNNING, CampaignStatus.PAUSED]
            ):
                if c.expires_at is not None and c.expires_at <= now:
                    changed = await message_store.transition_campaign(
                        conn, campaign_id=c.id, transition=MESSAGE_TRANSITIONS["expire"], now=now
                    )
                    expired += len(changed)
                    await self._changed_events(conn, changed, now)
                    if changed and c.channel == "rcs":
                        await fallback.spawn(
                            conn,
                            campaign_ids=[c.id],
                            message_ids=[m.id for m in changed],
                            now=now,
                        )
        return expired > 0

    async def reconcile(self) -> bool:
        """Stale SENDING messages: ask the carrier, never resend blindly."""
        now = self.clock()
        before = now - timedelta(seconds=self.settings.claim_timeout)
        async with self.db.read() as conn:
            stale = await message_store.stale_sending(conn, before=before)
            channel_names: dict[int, str] = {}
            for cid in {s.campaign_id for s in stale}:
                row = await campaign_store.get(conn, cid)
                if row is not None:
                    channel_names[cid] = row.channel_name
        if not stale:
            return False
        by_channel: dict[str, list[Row[Any]]] = defaultdict(list)
        for s in stale:
            by_channel[channel_names.get(s.campaign_id, "")].append(s)
        for name, rows in by_channel.items():
            refs = {f"{r.id}-{r.attempts}": r.id for r in rows}
            known: dict[str, SubmitResult] = {}
            if name:
                try:
                    known = await self.channel(name).lookup(list(refs))
                except Exception:
                    log.exception("lookup failed", extra={"action": "reconcile_failed"})
                    continue
            found = [
                message_store.Outcome(refs[ref], res.channel_ref or ref)
                for ref, res in known.items()
                if res.outcome is Outcome.ACCEPTED and ref in refs
            ]
            found_ids = {o.id for o in found}
            lost = [mid for mid in refs.values() if mid not in found_ids]
            # A carrier whose record is authoritative never got these: they go back to
            # NEW (refunded) and are sent again. Otherwise they may have gone out and
            # become UNKNOWN: never resent blindly.
            certain = bool(name) and getattr(self.channel(name), "authoritative_lookup", False)
            async with self.db.begin() as conn:
                for campaign_id in sorted({r.campaign_id for r in rows}):
                    await campaign_store.lock(conn, campaign_id)  # the lock order
                # Only rows still SENDING at the attempt that was looked up: another
                # worker may have reconciled (and re-sent) one meanwhile.
                current = await message_store.still_claimed(
                    conn, {r.id: int(r.attempts) for r in rows}
                )
                found = [o for o in found if o.id in current]
                lost = [mid for mid in lost if mid in current]
                moved = await message_store.transition_rows(
                    conn, rows=found, transition=MESSAGE_TRANSITIONS["accept"], now=now
                )
                if lost and certain:
                    requeued = await message_store.transition(
                        conn, ids=lost, transition=MESSAGE_TRANSITIONS["requeue"], now=now
                    )
                    for campaign_id, group in _by_campaign(requeued).items():
                        row = await campaign_store.get(conn, campaign_id)
                        if row is not None:
                            await self._refund(conn, row, group, now)
                            await self._drop_if_stopped(
                                conn, campaign_id, [c.id for c in group], now
                            )
                elif lost:
                    moved += await message_store.transition(
                        conn,
                        ids=lost,
                        transition=MESSAGE_TRANSITIONS["lose"],
                        now=now,
                        values={"error_code": "submit-outcome-unknown"},
                    )
                await self._changed_events(conn, moved, now)
            log.warning(
                "reconciled %d stale messages: %d accepted, %d %s",
                len(refs),
                len(found),
                len(lost),
                "never received, sent again" if certain else "unknown",
                extra={"action": "reconcile"},
            )
        return True

    async def complete_if_sent(self, campaign_id: int) -> bool:
        """RUNNING -> SENT once nothing is left to submit."""
        now = self.clock()
        async with self.db.begin() as conn:
            if await campaign_store.pending_messages(conn, campaign_id, PENDING_SEND):
                return False
            row = await campaign_store.get(conn, campaign_id)
            if row is None or row.parent_id is not None:
                return False  # a fallback child ends with its parent
            if row.channel == "rcs":
                kid = await campaign_store.child(conn, campaign_id)
                # Failures still to come may fall back: an RCS campaign with a fallback
                # is sending until its own messages are final and the fallbacks are out.
                if kid is not None and (
                    await campaign_store.pending_messages(conn, campaign_id, PENDING_ANY)
                    or await campaign_store.pending_messages(conn, kid.id, PENDING_SEND)
                ):
                    return False
            done = await campaign_store.transition(
                conn,
                campaign_id=campaign_id,
                transition=CAMPAIGN_TRANSITIONS["complete"],
                now=now,
                account_id=row.account_id,
                values={"sent_at": now},
            )
        return done is not None

    async def finish_campaigns(self) -> bool:
        """SENT -> DONE when every message is final or the status wait is over;
        then ACCEPTED stragglers become UNKNOWN and counters never change again."""
        now = self.clock()
        wait = timedelta(seconds=self.settings.max_status_wait)
        finished = False
        async with self.db.begin() as conn:
            for c in await campaign_store.with_status(
                conn, [CampaignStatus.RUNNING, CampaignStatus.SENT, CampaignStatus.STOPPED]
            ):
                if c.status == CampaignStatus.RUNNING:
                    continue
                reference_time = c.sent_at if c.status == CampaignStatus.SENT else c.finished_at
                timed_out = reference_time is not None and reference_time + wait <= now
                kid = await campaign_store.child(conn, c.id) if c.channel == "rcs" else None
                group = [c.id] if kid is None else [c.id, kid.id]
                pending = await self._pending(conn, group)
                if pending and timed_out:
                    for cid in group:
                        lost_rows = await message_store.transition_campaign(
                            conn,
                            campaign_id=cid,
                            transition=MESSAGE_TRANSITIONS["lose"],
                            now=now,
                            values={"error_code": "status-wait-exceeded"},
                        )
                        await self._changed_events(conn, lost_rows, now)
                    pending = await self._pending(conn, group)
                if pending == 0 and c.status == CampaignStatus.SENT:
                    finished = True
                    await campaign_store.transition(
                        conn,
                        campaign_id=c.id,
                        transition=CAMPAIGN_TRANSITIONS["finish"],
                        now=now,
                        account_id=c.account_id,
                        values={"finished_at": now},
                    )
                    if kid is not None:
                        await campaign_service.end_child(conn, kid, now=now)
        return finished

    @staticmethod
    async def _pending(conn: Any, campaign_ids: Sequence[int]) -> int:
        total = 0
        for cid in campaign_ids:
            total += await campaign_store.pending_messages(conn, cid, PENDING_ANY)
        return total


def _by_campaign(
    changed: Sequence[message_store.Changed],
) -> dict[int, list[message_store.Changed]]:
    groups: dict[int, list[message_store.Changed]] = defaultdict(list)
    for c in changed:
        groups[c.campaign_id].append(c)
    return groups


def build_dispatcher(settings: Settings, db: Database) -> Dispatcher:
    return Dispatcher(db=db, settings=settings)
