"""Voice campaigns: the use cases every voice facade (/v1, autocall, wolkvox, iSales) calls.

A voice campaign is a ``campaigns`` row with ``channel = 'voice'``: ``sender`` is the
caller id, ``text`` the call template, ``settings["voice"]`` the validated
:class:`VoiceConfig`, ``price_per_segment`` the flat price per started minute, and
``external_id`` the dialect's own id when a dialect created it (``autocall:<uuid>``,
``isales:<vdn>:<n>``, ``wolkvox:<id>``). Each recipient is one ``messages`` row whose
``segments`` are the minutes a call holds (``max_call_minutes``) and whose ``price``
is that hold; every call attempt is a ``call_attempts`` row (the CDR).

Status control is the common one (``services.campaigns.start / pause / resume /
stop``); the call engine (dispatch/calls.py) places the calls.

A campaign may have a period (iSales ``strBeginTime`` / ``strEndTime``): ``start_at``
is the common scheduled start (started before it, the campaign is SCHEDULED and
``campaigns.activate_due`` makes it RUNNING then), ``ends_at`` its end: the call engine
ends the campaign at that time (STOPPED; calls in progress finish, numbers still
waiting become EXPIRED, never called).

Unlike an SMS campaign, a voice campaign takes new numbers while it runs or is paused
(wolkvox uploads records into a live campaign, iSales adds call data to a running
task): they are called in their turn. A campaign that has finished (SENT/DONE) goes
back to RUNNING when numbers are added to it, so they are called too.

Callback URLs are webhook endpoints scoped to the campaign (``webhook_endpoints.
campaign_id``): ``callback_url`` gets ``call.cdr`` events, ``answer_callback_url``
``call.answered``; both are checked against SSRF like any webhook target, signed
and retried by the same sender.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Row

from clarion.clock import utcnow
from clarion.config import Settings
from clarion.domain.lifecycle import CampaignStatus, MessageStatus, PauseReason
from clarion.domain.voice.config import VoiceConfig
from clarion.domain.voice.errors import InvalidField
from clarion.services import campaigns as campaign_service
from clarion.services import webhooks
from clarion.services.errors import Conflict, InvalidInput, NotFound
from clarion.store import calls as call_store
from clarion.store import campaigns as campaign_store
from clarion.store import events as event_store
from clarion.store import messages as message_store
from clarion.store.db import Database

VOICE = "voice"
CDR_EVENT = "call.cdr"
ANSWER_EVENT = "call.answered"
OPEN_FOR_NUMBERS = campaign_service.VOICE_OPEN


@dataclass(slots=True)
class VoiceSpec:
    name: str
    config: VoiceConfig = field(default_factory=VoiceConfig)
    caller_id: str = ""
    external_id: str | None = None
    channel_name: str | None = None
    start_at: datetime | None = None
    ends_at: datetime | None = None


def config_of(row: Row[Any]) -> VoiceConfig:
    """The stored settings of a voice campaign row."""
    if row.channel != VOICE:
        raise InvalidInput(f"campaign {row.id} is not a voice campaign", field="campaign_id")
    return VoiceConfig.from_dict((row.settings or {}).get(VOICE) or {})


def parse_config(data: dict[str, Any]) -> VoiceConfig:
    """:meth:`VoiceConfig.from_dict` with its errors as :class:`InvalidInput`."""
    try:
        return VoiceConfig.from_dict(data)
    except InvalidField as exc:
        raise InvalidInput(str(exc), field=exc.field) from exc


def _check_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidInput("campaign name must not be empty", field="name")
    if len(name) > 255:
        raise InvalidInput("campaign name is longer than 255 characters", field="name")
    return name


async def _check_callbacks(config: VoiceConfig, settings: Settings) -> None:
    for name in ("callback_url", "answer_callback_url"):
        url = getattr(config, name)
        if url:
            try:
                await webhooks.check_target(url, allow_private=settings.webhook_allow_private)
            except InvalidInput as exc:
                raise InvalidInput(f"{name}: {exc.message}", field=name) from exc


async def _sync_callbacks(
    conn: Any, *, account_id: int, campaign_id: int, config: VoiceConfig
) -> None:
    """Make the campaign's callback endpoints match its config (one per URL kind)."""
    wanted = {CDR_EVENT: config.callback_url, ANSWER_EVENT: config.answer_callback_url}
    existing = {
        (row.events or [None])[0]: row
        for row in await event_store.campaign_endpoints(conn, campaign_id=campaign_id)
    }
    for event, url in wanted.items():
        row = existing.get(event)
        if row is not None and row.url == url:
            continue
        if row is not None:
            await event_store.delete_endpoint(conn, account_id=account_id, endpoint_id=row.id)
        if url:
            await event_store.insert_endpoint(
                conn,
                {
                    "account_id": account_id,
                    "campaign_id": campaign_id,
                    "url": url,
                    "secret": secrets.token_hex(32),
                    "events": [event],
                    "description": f"campaign {campaign_id} {event}",
                    "active": True,
                    "created_at": utcnow(),
                },
            )


async def name_taken(
    db: Database, *, account_id: int, name: str, exclude: int | None = None
) -> bool:
    """Whether another voice campaign of the account has this name (autocall refuses
    ``campaign_name is already taken``)."""
    async with db.read() as conn:
        return await call_store.name_taken(
            conn, account_id=account_id, name=name.strip(), channel=VOICE, exclude=exclude
        )


async def create(db: Database, *, account_id: int, spec: VoiceSpec, settings: Settings) -> Row[Any]:
    name = _check_name(spec.name)
    if len(spec.caller_id) > 64:
        raise InvalidInput("caller id is longer than 64 characters", field="caller_id")
    if spec.start_at is not None and spec.ends_at is not None and spec.ends_at <= spec.start_at:
        raise InvalidInput("the end of the campaign must be after its start", field="ends_at")
    await _check_callbacks(spec.config, settings)
    now = utcnow()
    async with db.begin() as conn:
        if spec.external_id is not None and await call_store.by_external_id(
            conn, account_id=account_id, external_id=spec.external_id
        ):
            raise Conflict(f"campaign {spec.external_id} already exists")
        campaign_id = await campaign_store.insert_campaign(
            conn,
            {
                "account_id": account_id,
                "name": name,
                "channel": VOICE,
                "channel_name": spec.channel_name or settings.voice_channel,
                "type": "mass",
                "sender": spec.caller_id,
                "text": spec.config.template,
                "status": CampaignStatus.DRAFT,
                "price_per_segment": settings.price_per_minute,
                "settings": {VOICE: spec.config.to_dict()},
                "created_at": now,
                "external_id": spec.external_id,
                "start_at": spec.start_at,
                "ends_at": spec.ends_at,
            },
        )
        await _sync_callbacks(
            conn, account_id=account_id, campaign_id=campaign_id, config=spec.config
        )
        row = await campaign_store.get(conn, campaign_id)
    assert row is not None
    return row


async def get(db: Database, *, account_id: int, campaign_id: int) -> Row[Any]:
    row = await campaign_service.get(db, account_id=account_id, campaign_id=campaign_id)
    if row.channel != VOICE:
        raise NotFound(f"voice campaign {campaign_id} not found")
    return row


async def find(db: Database, *, account_id: int, external_id: str) -> Row[Any]:
    async with db.read() as conn:
        row = await call_store.by_external_id(conn, account_id=account_id, external_id=external_id)
    if row is None or row.channel != VOICE:
        raise NotFound(f"campaign {external_id} not found")
    return row


async def search(
    db: Database, *, account_id: int, prefix: str = "", limit: int = 50, offset: int = 0
) -> tuple[Sequence[Row[Any]], int]:
    """Voice campaigns whose external id starts with ``prefix`` (a dialect lists its
    own namespace; ``""`` lists those with any external id... and none without: use
    ``campaigns.search`` for every campaign)."""
    async with db.read() as conn:
        return await call_store.voice_campaigns(
            conn, account_id=account_id, prefix=prefix, limit=limit, offset=offset
        )


async def next_external_number(db: Database, *, account_id: int, prefix: str) -> int:
    """A dialect id number never given before in ``prefix`` (iSales campaign ids)."""
    async with db.begin() as conn:
        return await call_store.next_external_number(conn, account_id=account_id, prefix=prefix)


async def update(
    db: Database,
    *,
    account_id: int,
    campaign_id: int,
    settings: Settings,
    name: str | None = None,
    config: VoiceConfig | None = None,
    caller_id: str | None = None,
) -> Row[Any]:
    """Change a voice campaign's name, caller id or settings in any status; calls
    already placed keep what they were placed with, later ones use the new values."""
    values: dict[str, Any] = {}
    if name is not None:
        values["name"] = _check_name(name)
    if caller_id is not None:
        if len(caller_id) > 64:
            raise InvalidInput("caller id is longer than 64 characters", field="caller_id")
        values["sender"] = caller_id
    if config is not None:
        await _check_callbacks(config, settings)
    async with db.begin() as conn:
        row = await campaign_store.get(conn, campaign_id, account_id=account_id)
        if row is None or row.channel != VOICE:
            raise NotFound(f"voice campaign {campaign_id} not found")
        if config is not None:
            values["settings"] = {**(row.settings or {}), VOICE: config.to_dict()}
            values["text"] = config.template
            await _sync_callbacks(
                conn, account_id=account_id, campaign_id=campaign_id, config=config
            )
        if values:
            await campaign_store.set_fields(conn, campaign_id, values)
        fresh = await campaign_store.get(conn, campaign_id)
    assert fresh is not None
    return fresh


async def delete(db: Database, *, account_id: int, campaign_id: int) -> None:
    """Delete a voice campaign that is not calling: a running or paused one must be
    stopped first (Conflict)."""
    async with db.begin() as conn:
        row = await campaign_store.get(conn, campaign_id, account_id=account_id)
        if row is None or row.channel != VOICE:
            raise NotFound(f"voice campaign {campaign_id} not found")
        if row.status in (CampaignStatus.RUNNING, CampaignStatus.PAUSED):
            raise Conflict(f"campaign {campaign_id} is {row.status}; stop it first")
        if await call_store.calls_in_progress(conn, campaign_id):
            raise Conflict(f"campaign {campaign_id} still has calls in progress")
        await campaign_store.delete_any(conn, campaign_id)


async def add_numbers(
    db: Database,
    *,
    account_id: int,
    campaign_id: int,
    entries: Sequence[campaign_service.RecipientInput],
) -> list[campaign_service.RecipientResult]:
    """Add recipients (phone + variables) in any status of :data:`OPEN_FOR_NUMBERS`;
    the per-entry result codes are the common ones (duplicate, invalid, stop-list)."""
    return await campaign_service.add_voice_recipients(
        db, account_id=account_id, campaign_id=campaign_id, entries=entries
    )


@dataclass(frozen=True, slots=True)
class VoiceStats:
    recipients: int
    waiting: int  # NEW: first call or recall still to come
    in_progress: int  # SENDING / ACCEPTED
    answered: int  # messages DELIVERED
    unreached: int  # messages finished without an answer
    attempts: int
    outcomes: dict[str, int]  # attempts per outcome
    cost: Decimal


async def stats(db: Database, *, account_id: int, campaign_id: int) -> VoiceStats:
    row = await get(db, account_id=account_id, campaign_id=campaign_id)
    async with db.read() as conn:
        counts = await campaign_store.status_counts(conn, row.id)
        outcomes = await call_store.outcome_counts(conn, row.id)
        cost = await call_store.total_cost(conn, row.id)
    by = {str(k): int(v) for k, v in counts.items()}
    waiting = by.get(MessageStatus.NEW, 0)
    in_progress = by.get(MessageStatus.SENDING, 0) + by.get(MessageStatus.ACCEPTED, 0)
    answered = by.get(MessageStatus.DELIVERED, 0)
    total = sum(v for k, v in by.items() if k != MessageStatus.DELETED)
    return VoiceStats(
        recipients=total,
        waiting=waiting,
        in_progress=in_progress,
        answered=answered,
        unreached=total - waiting - in_progress - answered,
        attempts=sum(outcomes.values()),
        outcomes=outcomes,
        cost=cost,
    )


async def attempts(
    db: Database,
    *,
    account_id: int,
    campaign_id: int,
    after_id: int = 0,
    limit: int = 1000,
    since: datetime | None = None,
    until: datetime | None = None,
    phone: str | None = None,
) -> Sequence[Row[Any]]:
    """The campaign's call attempts (CDRs), oldest first, ``id > after_id``."""
    row = await get(db, account_id=account_id, campaign_id=campaign_id)
    async with db.read() as conn:
        return await call_store.attempts(
            conn,
            campaign_id=row.id,
            after_id=after_id,
            limit=limit,
            since=since,
            until=until,
            phone=phone,
        )


async def pause(db: Database, *, account_id: int, campaign_id: int) -> Row[Any]:
    """The user's pause: a RUNNING campaign is PAUSED (reason ``user``); one paused by
    its calling window becomes paused by the user, so the window opening does not
    resume it (only ``resume`` does)."""
    row = await get(db, account_id=account_id, campaign_id=campaign_id)
    if row.status == CampaignStatus.PAUSED and row.pause_reason == PauseReason.WINDOW:
        async with db.begin() as conn:
            await campaign_store.lock(conn, row.id)
            await campaign_store.repause(
                conn, campaign_id=row.id, old=PauseReason.WINDOW, new=PauseReason.USER
            )
        return await get(db, account_id=account_id, campaign_id=campaign_id)
    return await campaign_service.pause(db, account_id=account_id, campaign_id=campaign_id)


async def recipients(
    db: Database, *, account_id: int, campaign_id: int, message_ids: Sequence[int]
) -> dict[int, Row[Any]]:
    """The campaign's recipient rows (phone, variables, status) by message id, for
    reports that show the customer with each call."""
    row = await get(db, account_id=account_id, campaign_id=campaign_id)
    async with db.read() as conn:
        found = await message_store.by_ids(conn, list(message_ids))
    return {m.id: m for m in found if m.campaign_id == row.id}


async def take_quota(db: Database, *, key: str, day: str, limit: int) -> bool:
    """Count one request against a daily quota (see ``store.calls.take_quota``)."""
    async with db.begin() as conn:
        return await call_store.take_quota(conn, key=key, day=day, limit=limit)


async def take_turn(db: Database, *, key: str, now: datetime, gap: timedelta) -> bool:
    """Space requests: True (and ``key``'s turn taken at ``now``) when the last request
    let through for ``key`` was at least ``gap`` before (``store.calls.take_spacing``;
    one database row per key, so it holds across API processes)."""
    async with db.begin() as conn:
        return await call_store.take_spacing(conn, key=key, now=now, gap=gap)


def cdr_document(attempt: Any, *, campaign: Row[Any]) -> dict[str, Any]:
    """One CDR as JSON (callbacks, /v1): times ISO 8601 UTC, seconds as integers."""

    def iso(value: datetime | None) -> str | None:
        return None if value is None else value.isoformat().replace("+00:00", "Z")

    return {
        "call_id": attempt.channel_ref or f"{attempt.message_id}-{attempt.attempt}",
        "campaign_id": campaign.id,
        "external_id": campaign.external_id,
        "message_id": attempt.message_id,
        "attempt": attempt.attempt,
        "phone": attempt.phone,
        "caller_id": campaign.sender,
        "outcome": attempt.outcome,
        "start_time": iso(attempt.started_at),
        "answer_time": iso(attempt.answered_at),
        "end_time": iso(attempt.ended_at),
        "duration": attempt.duration,
        "billsec": attempt.billsec,
        "hangup_cause": attempt.hangup_cause,
        "cost": str(attempt.cost),
        "agent": attempt.agent,
        "abandoned": bool(attempt.abandoned),
    }
