"""Campaign use cases: create, edit, list, delete, recipients, lifecycle, stats.

Choices where the issue is silent:

* Recipients can be added while the campaign is a DRAFT (as with Mobizon, where a
  campaign is filled before it is started). A ``single`` campaign holds exactly one.
* ``mass`` campaigns send the campaign text to everyone and ignore variables;
  ``template`` campaigns render ``{placeholder}``s per recipient when the recipient is
  added, so segments and price are known (and shown) before the start.
* Start: a campaign with no recipients cannot start. With a future ``start_at`` it
  becomes SCHEDULED; when the account requires moderation it goes to MODERATION.
* Stop deletes the messages not yet sent (NEW -> DELETED, never charged); messages
  already with the carrier keep receiving reports.
* Retry re-queues only UNDELIVERED / EXPIRED / REJECTED messages and restarts the
  validity window; it is a conflict when there is nothing to retry.
* Resuming a campaign paused for funds needs a balance covering its next message.
* RCS campaigns carry their content (BSG's ``options``, domain/rcs.py) in
  ``settings.rcs`` and ``text`` holds its plain-text summary (searched, moderated);
  an RCS message is one unit (``segments`` = 1) priced with the ``rcs`` price rules.
  An alternative SMS (``Fallback``) creates the internal child campaign described in
  services/fallback.py; start / pause / stop / retry / delete act on both.
* ``channels`` (get, delete, add_recipients, start, stop, resume, stats, breakdown):
  a dialect that speaks only some channels (Mobizon: sms; BSG: rcs) passes them and
  any other campaign is ``NotFound`` with the same message as a missing id, checked
  in the same query that loads the campaign. ``None`` (the default) is any channel.
* Moderation: a campaign is held for review (MODERATION, BSG ``spam``) when its
  account requires moderation or its content matches one of the operator's content
  rules (``CLARION_MODERATION_PATTERNS``); an operator approves or declines it.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Row
from sqlalchemy.exc import IntegrityError

from clarion.clock import utcnow
from clarion.domain import encoding, rcs, recipients, schedule, templates
from clarion.domain.lifecycle import (
    CAMPAIGN_TRANSITIONS,
    DELETABLE_CAMPAIGN_STATUSES,
    EDITABLE_CAMPAIGN_STATUSES,
    MESSAGE_TRANSITIONS,
    CampaignStatus,
    MessageStatus,
    PauseReason,
)
from clarion.services import links, pricing
from clarion.services.errors import (
    Conflict,
    InsufficientFunds,
    InvalidInput,
    NotFound,
    ServiceError,
    TransitionConflict,
)
from clarion.store import accounts as account_store
from clarion.store import campaigns as store
from clarion.store import contacts as contact_store
from clarion.store import messages as message_store
from clarion.store import stoplist
from clarion.store.db import Database

CHANNELS = ("sms", "rcs", "voice")

# Voice campaigns take numbers in these states (services/voice.py).
VOICE_OPEN = frozenset(
    {
        CampaignStatus.DRAFT,
        CampaignStatus.QUEUED,
        CampaignStatus.SCHEDULED,
        CampaignStatus.RUNNING,
        CampaignStatus.PAUSED,
        CampaignStatus.SENT,
        CampaignStatus.DONE,
    }
)
SENDING_CHANNELS = ("sms", "rcs")  # voice campaigns come with the call engine
TYPES = ("single", "mass", "template")
MAX_TEXT = 2000


@dataclass(frozen=True, slots=True)
class Fallback:
    """The alternative SMS of an RCS campaign (BSG ``alternative_channel.sms``)."""

    text: str
    sender: str = ""
    validity_minutes: int | None = None
    check_stop_list: bool = True


@dataclass(slots=True)
class CampaignSpec:
    name: str
    text: str
    channel: str = "sms"
    type: str = "mass"
    sender: str = ""
    rate_limit: int | None = None
    rate_period: int | None = None
    start_at: datetime | None = None
    validity_minutes: int | None = None
    placeholders_flag: int = int(templates.PlaceholdersFlag.REJECT)
    mclass: int | None = None
    channel_name: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    # RCS: the rich content (BSG ``options``) and the optional SMS fallback.
    content: Mapping[str, Any] | None = None
    fallback: Fallback | None = None
    check_stop_list: bool = True


@dataclass(frozen=True, slots=True)
class RecipientInput:
    phone: object
    variables: Mapping[str, str] = field(default_factory=dict)
    # Set when the recipient came from the address book (its id is echoed back), or
    # when the source already decided its fate (codes 30/31/32).
    contact_id: int | None = None
    card_id: int | None = None
    code: recipients.ResultCode | None = None


@dataclass(frozen=True, slots=True)
class RecipientResult:
    phone: str
    code: recipients.ResultCode
    message_id: int | None
    e164: str | None = None
    contact_id: int | None = None
    card_id: int | None = None


@dataclass(frozen=True, slots=True)
class Stats:
    messages: dict[str, int]
    segments: dict[str, int]
    cost: Decimal
    # Pre-cost: what the campaign's messages cost at their computed price (segments x
    # price), leaving out those deleted by a stop; known as soon as recipients are added.
    estimated_cost: Decimal
    total_messages: int
    total_segments: int


def _validate_rcs(spec: CampaignSpec) -> None:
    """Normalise an RCS campaign's content into ``settings`` / ``text``."""
    if spec.channel != "rcs":
        if spec.content is not None or spec.fallback is not None:
            raise InvalidInput("content and fallback apply to rcs campaigns only", field="channel")
        return
    if spec.type == "template":
        raise InvalidInput("rcs campaigns are mass or single, not template", field="type")
    if spec.content is None:
        raise InvalidInput("an rcs campaign needs content (text or cards)", field="content")
    try:
        content = rcs.validate(spec.content, field="content")
    except rcs.ContentError as exc:
        raise InvalidInput(str(exc), field=exc.field) from exc
    spec.settings = {**spec.settings, "rcs": content}
    spec.text = rcs.summary(content)[:MAX_TEXT]
    fb = spec.fallback
    if fb is not None:
        if not fb.text.strip():
            raise InvalidInput("fallback text must not be empty", field="fallback.text")
        if len(fb.text) > MAX_TEXT:
            raise InvalidInput(
                f"fallback text is longer than {MAX_TEXT} characters", field="fallback.text"
            )
        if len(fb.sender) > 64:
            raise InvalidInput(
                "fallback sender is longer than 64 characters", field="fallback.sender"
            )
        if fb.validity_minutes is not None:
            try:
                schedule.check_validity(fb.validity_minutes)
            except schedule.ScheduleError as exc:
                raise InvalidInput(str(exc), field="fallback.validity_minutes") from exc


def _validate(spec: CampaignSpec, *, now: datetime, min_deferral: timedelta) -> None:
    _validate_rcs(spec)
    if not spec.name.strip():
        raise InvalidInput("name must not be empty", field="name")
    if len(spec.name) > 255:
        raise InvalidInput("name is longer than 255 characters", field="name")
    if spec.channel not in CHANNELS:
        raise InvalidInput(f"channel must be one of {', '.join(CHANNELS)}", field="channel")
    if spec.type not in TYPES:
        raise InvalidInput(f"type must be one of {', '.join(TYPES)}", field="type")
    if not spec.text.strip():
        raise InvalidInput("text must not be empty", field="text")
    if len(spec.text) > MAX_TEXT:
        raise InvalidInput(f"text is longer than {MAX_TEXT} characters", field="text")
    if len(spec.sender) > 64:
        raise InvalidInput("sender is longer than 64 characters", field="sender")
    if spec.rate_limit is not None and spec.rate_limit <= 0:
        raise InvalidInput("rate_limit must be a positive integer", field="rate_limit")
    if spec.rate_period is not None and spec.rate_period <= 0:
        raise InvalidInput("rate_period must be a positive number of seconds", field="rate_period")
    if spec.start_at is not None:
        try:
            schedule.check_deferred_start(spec.start_at, now=now, min_delay=min_deferral)
        except schedule.ScheduleError as exc:
            raise InvalidInput(str(exc), field="start_at") from exc
    if spec.validity_minutes is not None:
        try:
            schedule.check_validity(spec.validity_minutes)
        except schedule.ScheduleError as exc:
            raise InvalidInput(str(exc), field="validity_minutes") from exc
    try:
        templates.PlaceholdersFlag(spec.placeholders_flag)
    except ValueError as exc:
        raise InvalidInput(
            "placeholders_flag must be 1, 2 or 3", field="placeholders_flag"
        ) from exc


async def create(
    db: Database,
    *,
    account_id: int,
    spec: CampaignSpec,
    default_channel: str,
    price_per_segment: Decimal,
    min_deferral: timedelta = timedelta(0),
    rcs_channel: str = "sim_rcs",
) -> Row[Any]:
    now = utcnow()
    _validate(spec, now=now, min_deferral=min_deferral)
    if not spec.check_stop_list:
        spec.settings = {**spec.settings, "check_stop_list": False}
    channel_name = spec.channel_name or (rcs_channel if spec.channel == "rcs" else default_channel)
    async with db.begin() as conn:
        campaign_id = await store.insert_campaign(
            conn,
            {
                "account_id": account_id,
                "name": spec.name.strip(),
                "channel": spec.channel,
                "channel_name": channel_name,
                "type": spec.type,
                "sender": spec.sender,
                "text": spec.text,
                "status": CampaignStatus.DRAFT,
                "rate_limit": spec.rate_limit,
                "rate_period": spec.rate_period,
                "start_at": spec.start_at,
                "validity_minutes": spec.validity_minutes,
                "placeholders_flag": spec.placeholders_flag,
                "mclass": spec.mclass,
                "price_per_segment": price_per_segment,
                "settings": spec.settings or None,
                "created_at": now,
            },
        )
        if spec.fallback is not None:
            await _create_child(
                conn,
                parent_id=campaign_id,
                account_id=account_id,
                fallback=spec.fallback,
                channel_name=default_channel,
                price_per_segment=price_per_segment,
                now=now,
            )
        row = await store.get(conn, campaign_id)
    assert row is not None
    return row


async def _create_child(
    conn: Any,
    *,
    parent_id: int,
    account_id: int,
    fallback: Fallback,
    channel_name: str,
    price_per_segment: Decimal,
    now: datetime,
) -> int:
    """The internal SMS campaign holding an RCS campaign's fallback messages."""
    return await store.insert_campaign(
        conn,
        {
            "account_id": account_id,
            "name": f"sms fallback of campaign {parent_id}",
            "channel": "sms",
            "channel_name": channel_name,
            "type": "mass",
            "sender": fallback.sender,
            "text": fallback.text,
            "status": CampaignStatus.RUNNING,
            "validity_minutes": fallback.validity_minutes,
            "placeholders_flag": int(templates.PlaceholdersFlag.REJECT),
            "price_per_segment": price_per_segment,
            "settings": None if fallback.check_stop_list else {"check_stop_list": False},
            "created_at": now,
            "started_at": now,
            "parent_id": parent_id,
        },
    )


async def end_child(conn: Any, kid: Row[Any], *, now: datetime) -> None:
    """The fallback child ends with its parent: RUNNING -> SENT -> DONE."""
    for action, values in (("complete", {"sent_at": now}), ("finish", {"finished_at": now})):
        await store.transition(
            conn,
            campaign_id=kid.id,
            transition=CAMPAIGN_TRANSITIONS[action],
            now=now,
            account_id=kid.account_id,
            values=values,
        )


async def fallback_stats(db: Database, *, account_id: int, campaign_id: int) -> Stats | None:
    """Counters of an RCS campaign's SMS fallback; None when it has none."""
    async with db.read() as conn:
        await _load(conn, campaign_id, account_id)
        kid = await store.child(conn, campaign_id)
        if kid is None:
            return None
        return await _stats(conn, kid)


async def get(
    db: Database,
    *,
    account_id: int,
    campaign_id: int,
    channels: Collection[str] | None = None,
) -> Row[Any]:
    async with db.read() as conn:
        row = await store.get(conn, campaign_id, account_id=account_id, channels=channels)
    if row is None:
        raise NotFound(f"campaign {campaign_id} not found")
    return row


async def search(
    db: Database, *, account_id: int, **filters: Any
) -> tuple[Sequence[Row[Any]], int]:
    async with db.read() as conn:
        return await store.search(conn, account_id=account_id, **filters)


PATCHABLE = {
    "name",
    "text",
    "type",
    "sender",
    "rate_limit",
    "rate_period",
    "start_at",
    "validity_minutes",
    "placeholders_flag",
    "mclass",
}


async def patch(
    db: Database,
    *,
    account_id: int,
    campaign_id: int,
    changes: dict[str, Any],
    min_deferral: timedelta = timedelta(0),
) -> Row[Any]:
    if isinstance(changes.get("name"), str):
        changes = {**changes, "name": changes["name"].strip()}
    unknown = set(changes) - PATCHABLE
    if unknown:
        raise InvalidInput(f"cannot change {', '.join(sorted(unknown))}", field=sorted(unknown)[0])
    async with db.begin() as conn:
        row = await store.get(conn, campaign_id, account_id=account_id)
        if row is None:
            raise NotFound(f"campaign {campaign_id} not found")
        if row.status not in EDITABLE_CAMPAIGN_STATUSES:
            raise Conflict(f"campaign {campaign_id} is {row.status}; only a DRAFT can be edited")
        if row.channel == "rcs" and "text" in changes:
            raise InvalidInput(
                "an rcs campaign's text is its content; it cannot be patched", field="text"
            )
        merged = CampaignSpec(
            name=changes.get("name", row.name),
            text=changes.get("text", row.text),
            channel=row.channel,
            type=changes.get("type", row.type),
            sender=changes.get("sender", row.sender),
            rate_limit=changes.get("rate_limit", row.rate_limit),
            rate_period=changes.get("rate_period", row.rate_period),
            start_at=changes.get("start_at", row.start_at),
            validity_minutes=changes.get("validity_minutes", row.validity_minutes),
            placeholders_flag=changes.get("placeholders_flag", row.placeholders_flag),
            mclass=changes.get("mclass", row.mclass),
            content=(row.settings or {}).get("rcs") if row.channel == "rcs" else None,
        )
        _validate(merged, now=utcnow(), min_deferral=min_deferral)
        content = {"text", "type", "placeholders_flag"} & set(changes)
        if content and await store.pending_messages(conn, campaign_id, list(MessageStatus)):
            raise Conflict(
                "cannot change text, type or placeholders_flag of a campaign that has "
                "recipients; delete its recipients first"
            )
        if not await store.update_fields(
            conn, campaign_id=campaign_id, allowed=EDITABLE_CAMPAIGN_STATUSES, values=changes
        ):
            raise Conflict(f"campaign {campaign_id} changed status; not edited")
        return await _reloaded(conn, campaign_id)


async def delete(
    db: Database,
    *,
    account_id: int,
    campaign_id: int,
    min_start_lead: timedelta | None = None,
    channels: Collection[str] | None = None,
) -> None:
    """Delete a campaign that never started. With ``min_start_lead`` (Mobizon: 5
    minutes) a campaign already sent with a start time must still be at least that far
    from it; checked and deleted in one guarded statement."""
    async with db.begin() as conn:
        row = await store.get(conn, campaign_id, account_id=account_id, channels=channels)
        if row is None:
            raise NotFound(f"campaign {campaign_id} not found")
        if row.import_task_id is not None:
            raise Conflict(f"campaign {campaign_id} is importing recipients; not deleted")
        start_after = utcnow() + min_start_lead if min_start_lead is not None else None
        if (
            start_after is not None
            and row.status != CampaignStatus.DRAFT
            and row.start_at is not None
            and row.start_at <= start_after
        ):
            minutes = int(min_start_lead.total_seconds() // 60) if min_start_lead else 0
            raise Conflict(
                f"campaign {campaign_id} starts in less than {minutes} minutes; it can no "
                "longer be deleted"
            )
        if not await store.delete_campaign(
            conn,
            campaign_id=campaign_id,
            allowed=DELETABLE_CAMPAIGN_STATUSES,
            start_after=start_after,
        ):
            raise Conflict(
                f"campaign {campaign_id} is {row.status}; only a campaign that never "
                "started can be deleted"
            )
        await store.delete_children(conn, campaign_id)


async def clear_recipients(db: Database, *, account_id: int, campaign_id: int) -> int:
    async with db.begin() as conn:
        row = await store.get(conn, campaign_id, account_id=account_id)
        if row is None:
            raise NotFound(f"campaign {campaign_id} not found")
        if row.status not in EDITABLE_CAMPAIGN_STATUSES:
            raise Conflict(f"campaign {campaign_id} is {row.status}; recipients are fixed")
        if row.import_task_id is not None:
            raise Conflict(f"campaign {campaign_id} is importing recipients; nothing removed")
        return await message_store.delete_all(conn, campaign_id=campaign_id)


def _policy(account: Row[Any]) -> recipients.Policy:
    allowed = account.allowed_countries
    blocked = account.blocked_operators or []
    return recipients.Policy(
        allowed_countries=frozenset(c.upper() for c in allowed) if allowed is not None else None,
        blocked_operators=frozenset(o.lower() for o in blocked),
    )


async def add_recipients(
    db: Database,
    *,
    account_id: int,
    campaign_id: int,
    entries: Sequence[RecipientInput],
    limit: int,
    replace: bool = False,
    placeholders_flag: int | None = None,
    channels: Collection[str] | None = None,
) -> list[RecipientResult]:
    """Screen and add recipients; one result (Mobizon code) per entry, in order.

    All accepted recipients are written in one transaction: either all of them are
    added or, on error, none. ``replace`` first deletes the campaign's recipients, in
    the same transaction. ``placeholders_flag`` overrides the campaign's for this call
    (Mobizon passes it per request).
    """
    if placeholders_flag is not None:
        try:
            templates.PlaceholdersFlag(placeholders_flag)
        except ValueError as exc:
            raise InvalidInput(
                "placeholders_flag must be 1, 2 or 3", field="placeholders_flag"
            ) from exc
    if len(entries) > limit:
        raise InvalidInput(
            f"at most {limit} recipients per request; nothing was added", field="recipients"
        )
    if not entries:
        raise InvalidInput("recipients must not be empty", field="recipients")
    return await _add_retrying(
        db,
        account_id,
        campaign_id,
        entries,
        replace,
        placeholders_flag,
        voice=False,
        channels=channels,
    )


async def _add_retrying(
    db: Database,
    account_id: int,
    campaign_id: int,
    entries: Sequence[RecipientInput],
    replace: bool,
    placeholders_flag: int | None,
    *,
    voice: bool,
    channels: Collection[str] | None = None,
) -> list[RecipientResult]:
    for attempt in range(3):
        try:
            return await _add_recipients(
                db,
                account_id,
                campaign_id,
                entries,
                replace,
                placeholders_flag,
                voice=voice,
                channels=channels,
            )
        except IntegrityError:  # a concurrent request added the same phone
            if attempt == 2:
                raise Conflict("recipients changed concurrently; retry the request") from None
    raise AssertionError("unreachable")


async def add_voice_recipients(
    db: Database, *, account_id: int, campaign_id: int, entries: Sequence[RecipientInput]
) -> list[RecipientResult]:
    """Add numbers to a voice campaign in any status of ``VOICE_OPEN`` (see
    services/voice.py); a SENT or DONE campaign goes back to RUNNING to call them."""
    if not entries:
        raise InvalidInput("recipients must not be empty", field="recipients")
    return await _add_retrying(db, account_id, campaign_id, entries, False, None, voice=True)


async def cards_as_recipients(
    db: Database, *, account_id: int, card_ids: Sequence[int]
) -> list[RecipientInput]:
    """Every mobile number of each card (code 30 for a missing card, 31 for a card
    without one); the card's name and fields are its placeholder variables."""
    async with db.read() as conn:
        numbers = await contact_store.card_numbers(conn, account_id=account_id, card_ids=card_ids)
        variables = await contact_store.card_variables(
            conn, account_id=account_id, card_ids=list(numbers)
        )
    out: list[RecipientInput] = []
    for card_id in card_ids:
        if card_id not in numbers:
            out.append(
                RecipientInput(None, card_id=card_id, code=recipients.ResultCode.CARD_NOT_FOUND)
            )
        elif not numbers[card_id]:
            out.append(
                RecipientInput(
                    None, card_id=card_id, code=recipients.ResultCode.CARD_WITHOUT_MOBILE
                )
            )
        else:
            out.extend(
                RecipientInput(phone, variables.get(card_id, {}), card_id=card_id)
                for phone in numbers[card_id]
            )
    return out


async def contacts_as_recipients(
    db: Database, *, account_id: int, contact_ids: Sequence[int]
) -> list[RecipientInput]:
    """The number of each contact (code 32 for a missing contact, 31 when it is not a
    phone number); its card's name and fields are its placeholder variables."""
    async with db.read() as conn:
        numbers = await contact_store.contact_numbers(
            conn, account_id=account_id, contact_ids=contact_ids
        )
        cards = await contact_store.contact_cards_of(
            conn, account_id=account_id, contact_ids=list(numbers)
        )
        variables = await contact_store.card_variables(
            conn, account_id=account_id, card_ids=sorted(set(cards.values()))
        )
    out: list[RecipientInput] = []
    for contact_id in contact_ids:
        if contact_id not in numbers:
            out.append(
                RecipientInput(
                    None, contact_id=contact_id, code=recipients.ResultCode.CONTACT_NOT_FOUND
                )
            )
        elif numbers[contact_id] is None:
            out.append(
                RecipientInput(
                    None, contact_id=contact_id, code=recipients.ResultCode.CARD_WITHOUT_MOBILE
                )
            )
        else:
            out.append(
                RecipientInput(
                    numbers[contact_id],
                    variables.get(cards.get(contact_id, 0), {}),
                    contact_id=contact_id,
                )
            )
    return out


async def _add_recipients(
    db: Database,
    account_id: int,
    campaign_id: int,
    entries: Sequence[RecipientInput],
    replace: bool,
    placeholders_flag: int | None,
    *,
    voice: bool = False,
    channels: Collection[str] | None = None,
) -> list[RecipientResult]:
    now = utcnow()
    async with db.begin() as conn:
        campaign = await store.get(conn, campaign_id, account_id=account_id, channels=channels)
        if campaign is None:
            raise NotFound(f"campaign {campaign_id} not found")
        if voice and campaign.channel != "voice":
            raise NotFound(f"voice campaign {campaign_id} not found")
        if campaign.channel == "voice":  # /v1 and the dialects add numbers the same way
            if replace:
                raise InvalidInput("replace is not available for voice campaigns", field="replace")
            voice = True
        if voice:
            if campaign.status not in VOICE_OPEN:
                raise Conflict(
                    f"campaign {campaign_id} is {campaign.status}; numbers cannot be added"
                )
            await store.lock(conn, campaign_id)
        elif campaign.status not in EDITABLE_CAMPAIGN_STATUSES:
            raise Conflict(
                f"campaign {campaign_id} is {campaign.status}; recipients can only be "
                "added to a DRAFT"
            )
        if campaign.import_task_id is not None:
            raise Conflict(
                f"campaign {campaign_id} is locked: import task {campaign.import_task_id} "
                "is adding recipients"
            )
        if replace:
            await message_store.delete_all(conn, campaign_id=campaign_id)
        account = await account_store.get(conn, account_id)
        assert account is not None
        policy = _policy(account)
        flag = templates.PlaceholdersFlag(
            campaign.placeholders_flag if placeholders_flag is None else placeholders_flag
        )
        seen: set[str] = set()
        screened = [
            None if e.code is not None else recipients.screen(e.phone, policy=policy, seen=seen)
            for e in entries
        ]
        ok_phones = [
            s.phone.e164 for s in screened if s is not None and s.phone is not None and s.code == 0
        ]
        existing = await message_store.existing_phones(
            conn, campaign_id=campaign_id, phones=ok_phones
        )
        checks_stop_list = (campaign.settings or {}).get("check_stop_list", True)
        blocked = (
            await stoplist.blocked(conn, account_id=account_id, phones=ok_phones)
            if checks_stop_list
            else set()
        )
        if campaign.type == "single":
            already = await store.pending_messages(conn, campaign_id, list(MessageStatus))
            fresh = {p for p in ok_phones if p not in existing and p not in blocked}
            if already + len(fresh) > 1:
                raise Conflict("a single campaign takes exactly one recipient")
        base_segments = unit_segments(campaign)  # voice: the minutes a call holds
        price_per_segment: Decimal = campaign.price_per_segment
        prices = await pricing.table_for(
            conn, account_id=account_id, channel=campaign.channel, currency=account.currency
        )
        results: list[RecipientResult] = []
        rows: list[dict[str, Any]] = []
        slots: list[int] = []
        for entry, s in zip(entries, screened, strict=True):
            cid, kid = entry.contact_id, entry.card_id
            if s is None:
                assert entry.code is not None
                results.append(RecipientResult("", entry.code, None, None, cid, kid))
                continue
            code = s.code
            phone = s.phone
            text: str | None = None
            segments = base_segments
            if code == recipients.ResultCode.OK and phone is not None:
                if phone.e164 in blocked:
                    code = recipients.ResultCode.STOP_LIST
                elif phone.e164 in existing:
                    code = recipients.ResultCode.DUPLICATE
                elif campaign.type == "template":
                    try:
                        text = templates.render(campaign.text, entry.variables, flag=flag)
                    except templates.MissingPlaceholderError:
                        code = recipients.ResultCode.MISSING_PLACEHOLDER
                    else:
                        segments = encoding.segments(text)
            if code != recipients.ResultCode.OK or phone is None:
                results.append(RecipientResult(s.raw, code, None, None, cid, kid))
                continue
            slots.append(len(results))
            results.append(RecipientResult(s.raw, code, None, phone.e164, cid, kid))
            rows.append(
                {
                    "phone": phone.e164,
                    "country": phone.country,
                    "operator": phone.operator,
                    "variables": dict(entry.variables) or None,
                    "text": text,
                    "segments": segments,
                    "price": prices.price(
                        country=phone.country,
                        operator=phone.operator,
                        segments=segments,
                        per_segment=price_per_segment,
                    ),
                }
            )
        message_ids = await message_store.insert_new(
            conn, campaign_id=campaign_id, rows=rows, now=now
        )
        for slot, message_id in zip(slots, message_ids, strict=True):
            r = results[slot]
            results[slot] = RecipientResult(
                r.phone, r.code, message_id, r.e164, r.contact_id, r.card_id
            )
        await store.add_rejected(
            conn, campaign_id=campaign_id, count=len(results) - len(message_ids)
        )
        if voice and message_ids and campaign.status in (CampaignStatus.SENT, CampaignStatus.DONE):
            await store.transition(
                conn,
                campaign_id=campaign_id,
                transition=CAMPAIGN_TRANSITIONS["retry"],
                now=now,
                account_id=account_id,
                detail=f"{len(message_ids)} numbers added",
            )
    return results


def unit_segments(campaign: Row[Any]) -> int:
    """Billing units of one message of a mass campaign: SMS segments of its text, 1
    for an RCS message (priced per message), the minutes a call holds for voice."""
    if campaign.channel == "voice":
        return _voice_minutes(campaign)
    return 1 if campaign.channel == "rcs" else encoding.segments(campaign.text)


def _voice_minutes(campaign: Row[Any]) -> int:
    """Minutes one call of a voice campaign holds (``max_call_minutes``): its price is
    the per-minute price times these, charged when the call is placed; the unused
    minutes are refunded with the call's CDR."""
    voice = (campaign.settings or {}).get("voice") or {}
    return int(voice.get("max_call_minutes") or 5)


def _conflict(action: str, campaign_id: int, current: str) -> TransitionConflict:
    allowed = ", ".join(sorted(CAMPAIGN_TRANSITIONS[action].allowed_from))
    return TransitionConflict(
        f"cannot {action} campaign {campaign_id}: it is {current} "
        f"({action} is allowed from {allowed})",
        action=action,
        current=current,
    )


async def _apply(
    conn: Any,
    row: Row[Any],
    action: str,
    now: datetime,
    values: dict[str, Any],
    *,
    reported: str | None = None,
) -> None:
    """Run ``action``'s guarded transition on ``row``'s campaign or raise a conflict
    (named after ``reported``, the action the caller asked for)."""
    previous = await store.transition(
        conn,
        campaign_id=row.id,
        transition=CAMPAIGN_TRANSITIONS[action],
        now=now,
        account_id=row.account_id,
        values=values,
    )
    if previous is None:
        raise _conflict(reported or action, row.id, row.status)


async def _reloaded(conn: Any, campaign_id: int) -> Row[Any]:
    updated = await store.get(conn, campaign_id)
    assert updated is not None
    return updated


async def _load(
    conn: Any, campaign_id: int, account_id: int, channels: Collection[str] | None = None
) -> Row[Any]:
    row = await store.get(conn, campaign_id, account_id=account_id, channels=channels)
    if row is None:
        raise NotFound(f"campaign {campaign_id} not found")
    return row


def _expiry(row: Row[Any], start: datetime) -> datetime | None:
    return schedule.expires_at(start, row.validity_minutes)


def needs_moderation(row: Row[Any], patterns: Sequence[str], fallback_text: str = "") -> bool:
    """Whether the campaign's content matches one of the operator's content rules."""
    content = f"{row.text}\n{fallback_text}"
    return any(re.search(p, content, re.IGNORECASE) for p in patterns)


async def start(
    db: Database,
    *,
    account_id: int,
    campaign_id: int,
    base_url: str | None = None,
    moderation_patterns: Sequence[str] = (),
    channels: Collection[str] | None = None,
) -> Row[Any]:
    """DRAFT -> RUNNING / SCHEDULED / MODERATION. With ``base_url`` (the public base of
    short links) a campaign tracking short-link recipients first gets a personal short
    link per message, so no message can leave with the shared one."""
    if base_url is not None:
        async with db.read() as conn:
            row = await _load(conn, campaign_id, account_id, channels)
        if row.status == CampaignStatus.DRAFT and links.tracks_recipients(row.settings):
            await links.personalise_campaign(db, campaign_id=campaign_id, base_url=base_url)
    now = utcnow()
    async with db.begin() as conn:
        row = await _load(conn, campaign_id, account_id, channels)
        if row.status != CampaignStatus.DRAFT:
            raise _conflict("start", campaign_id, row.status)
        if row.import_task_id is not None:
            raise Conflict(
                f"campaign {campaign_id} is still importing recipients (task "
                f"{row.import_task_id}); start it when the import has finished"
            )
        if not await store.pending_messages(conn, campaign_id, [MessageStatus.NEW]):
            raise Conflict(f"campaign {campaign_id} has no recipients to send to")
        account = await account_store.get(conn, account_id)
        assert account is not None
        values: dict[str, Any]
        kid = await store.child(conn, campaign_id)
        if account.moderation_required or needs_moderation(
            row, moderation_patterns, kid.text if kid is not None else ""
        ):
            action, values = "moderate", {}
        elif row.start_at is not None and row.start_at > now:
            action, values = "schedule", {}
        else:
            action = "start"
            values = {"started_at": now, "expires_at": _expiry(row, now)}
        await _apply(conn, row, action, now, values, reported="start")
        return await _reloaded(conn, campaign_id)


async def launch(
    db: Database,
    *,
    account_id: int,
    spec: CampaignSpec,
    entries: Sequence[RecipientInput],
    limit: int,
    default_channel: str,
    price_per_segment: Decimal,
    rcs_channel: str = "sim_rcs",
    moderation_patterns: Sequence[str] = (),
    require_funds: bool = False,
) -> tuple[Row[Any], list[RecipientResult]]:
    """Create, fill and start in one request (BSG's send). Recipients that cannot be
    sent to are left out; with none left, or (``require_funds``) a balance short of the
    campaign's price, or any other failure, nothing remains: the campaign is deleted."""
    row = await create(
        db,
        account_id=account_id,
        spec=spec,
        default_channel=default_channel,
        price_per_segment=price_per_segment,
        rcs_channel=rcs_channel,
    )
    try:
        results = await add_recipients(
            db, account_id=account_id, campaign_id=row.id, entries=entries, limit=limit
        )
        if not any(r.code == recipients.ResultCode.OK for r in results):
            raise InvalidInput(
                "None of the phone numbers can receive this message.", field="phones"
            )
        if require_funds:
            cost = (await stats(db, account_id=account_id, campaign_id=row.id)).estimated_cost
            async with db.read() as conn:
                balance = await account_store.balance(conn, account_id)
            if balance < cost:
                raise InsufficientFunds(f"balance {balance} does not cover {cost}")
        started = await start(
            db,
            account_id=account_id,
            campaign_id=row.id,
            moderation_patterns=moderation_patterns,
        )
    except ServiceError:
        await delete(db, account_id=account_id, campaign_id=row.id)
        raise
    return started, results


async def activate_due(db: Database) -> int:
    """QUEUED / SCHEDULED campaigns whose time has come start RUNNING."""
    now = utcnow()
    count = 0
    async with db.begin() as conn:
        for due in await store.due(conn, now=now):
            row = await store.get(conn, due.id)
            assert row is not None
            if await store.transition(
                conn,
                campaign_id=row.id,
                transition=CAMPAIGN_TRANSITIONS["activate"],
                now=now,
                account_id=row.account_id,
                values={"started_at": now, "expires_at": _expiry(row, now)},
            ):
                count += 1
    return count


async def pause(
    db: Database, *, account_id: int, campaign_id: int, reason: PauseReason = PauseReason.USER
) -> Row[Any]:
    return await _simple(db, account_id, campaign_id, "pause", {"pause_reason": reason.value})


async def resume(
    db: Database,
    *,
    account_id: int,
    campaign_id: int,
    funds_only: bool = False,
    channels: Collection[str] | None = None,
) -> Row[Any]:
    """PAUSED -> RUNNING. A campaign paused for funds needs a balance covering its
    next message. ``funds_only`` is BSG's ``renew``: it resumes only a campaign paused
    for funds; any other status or reason is a conflict and nothing changes."""
    now = utcnow()
    async with db.begin() as conn:
        row = await _load(conn, campaign_id, account_id, channels)
        if funds_only and row.status != CampaignStatus.PAUSED:
            raise TransitionConflict(
                f"cannot renew campaign {campaign_id}: it is {row.status} (renew is allowed "
                "only for a campaign paused for lack of funds)",
                action="renew",
                current=row.status,
            )
        if row.status != CampaignStatus.PAUSED:
            raise _conflict("resume", campaign_id, row.status)
        if funds_only and row.pause_reason != PauseReason.FUNDS:
            raise TransitionConflict(
                f"cannot renew campaign {campaign_id}: it is paused by "
                f"{row.pause_reason or 'the user'}, not for lack of funds (use resume)",
                action="renew",
                current=f"{row.status}:{row.pause_reason}",
            )
        if row.pause_reason == PauseReason.FUNDS:
            price = await message_store.first_new_price(conn, campaign_id)
            kid = await store.child(conn, campaign_id)
            if price is None and kid is not None:  # out of money on its SMS fallbacks
                price = await message_store.first_new_price(conn, kid.id)
            balance = await account_store.balance(conn, account_id)
            if price is not None and balance < price:
                raise InsufficientFunds(
                    f"balance {balance} does not cover the next message ({price}); top up "
                    "the account before resuming"
                )
        await _apply(conn, row, "resume", now, {"pause_reason": None}, reported="resume")
        return await _reloaded(conn, campaign_id)


async def stop(
    db: Database,
    *,
    account_id: int,
    campaign_id: int,
    channels: Collection[str] | None = None,
) -> Row[Any]:
    now = utcnow()
    async with db.begin() as conn:
        row = await _load(conn, campaign_id, account_id, channels)
        await _apply(
            conn, row, "stop", now, {"pause_reason": None, "finished_at": now}, reported="stop"
        )
        await message_store.transition_campaign(
            conn, campaign_id=campaign_id, transition=MESSAGE_TRANSITIONS["delete"], now=now
        )
        await _stop_child(conn, campaign_id, now)
        return await _reloaded(conn, campaign_id)


async def _stop_child(conn: Any, parent_id: int, now: datetime) -> None:
    """Stop (or decline) takes the fallback child down too: its unsent messages are
    deleted, never charged; those already with the carrier keep their reports."""
    kid = await store.child(conn, parent_id)
    if kid is None:
        return
    await store.transition(
        conn,
        campaign_id=kid.id,
        transition=CAMPAIGN_TRANSITIONS["stop"],
        now=now,
        account_id=kid.account_id,
        values={"finished_at": now},
    )
    await message_store.transition_campaign(
        conn, campaign_id=kid.id, transition=MESSAGE_TRANSITIONS["delete"], now=now
    )


async def retry(db: Database, *, account_id: int, campaign_id: int) -> tuple[Row[Any], int]:
    """Re-queue UNDELIVERED / EXPIRED / REJECTED messages; returns (campaign, count)."""
    now = utcnow()
    async with db.begin() as conn:
        row = await _load(conn, campaign_id, account_id)
        await _apply(
            conn,
            row,
            "retry",
            now,
            {
                "sent_at": None,
                "finished_at": None,
                "pause_reason": None,
                "expires_at": _expiry(row, now),
            },
            reported="retry",
        )
        kid = await store.child(conn, campaign_id)
        if kid is None:
            changed = await message_store.transition_campaign(
                conn,
                campaign_id=campaign_id,
                transition=MESSAGE_TRANSITIONS["retry"],
                now=now,
                values={"error_code": None},
            )
        else:
            changed = await _retry_with_fallback(conn, campaign_id, kid, now)
        if not changed:
            raise Conflict(
                f"campaign {campaign_id} has no UNDELIVERED, EXPIRED or REJECTED messages to retry"
            )
        return await _reloaded(conn, campaign_id), len(changed)


async def _retry_with_fallback(
    conn: Any, campaign_id: int, kid: Row[Any], now: datetime
) -> list[message_store.Changed]:
    """Retry on an RCS campaign with an SMS fallback: the failed fallback SMS are sent
    again, and the failed RCS messages that never fell back; an RCS message whose
    fallback exists is not sent a second time over RCS."""
    retry = MESSAGE_TRANSITIONS["retry"]
    ids = await message_store.retryable_without_fallback(
        conn, campaign_id=campaign_id, child_id=kid.id, statuses=retry.allowed_from
    )
    changed = await message_store.transition(
        conn, ids=ids, transition=retry, now=now, values={"error_code": None}
    )
    changed += await message_store.transition_campaign(
        conn, campaign_id=kid.id, transition=retry, now=now, values={"error_code": None}
    )
    if kid.status != CampaignStatus.RUNNING:
        await store.transition(
            conn,
            campaign_id=kid.id,
            transition=CAMPAIGN_TRANSITIONS["retry"],
            now=now,
            account_id=kid.account_id,
            values={"sent_at": None, "finished_at": None},
        )
    return changed


async def _simple(
    db: Database, account_id: int, campaign_id: int, action: str, values: dict[str, Any]
) -> Row[Any]:
    now = utcnow()
    async with db.begin() as conn:
        row = await _load(conn, campaign_id, account_id)
        await _apply(conn, row, action, now, values, reported=action)
        return await _reloaded(conn, campaign_id)


async def approve(db: Database, *, account_id: int, campaign_id: int) -> Row[Any]:
    return await _simple(db, account_id, campaign_id, "approve", {"moderated": True})


async def decline(db: Database, *, account_id: int, campaign_id: int) -> Row[Any]:
    now = utcnow()
    async with db.begin() as conn:
        row = await _load(conn, campaign_id, account_id)
        await _apply(conn, row, "decline", now, {"finished_at": now}, reported="decline")
        await _stop_child(conn, campaign_id, now)
        return await _reloaded(conn, campaign_id)


async def moderation_queue(db: Database) -> Sequence[Row[Any]]:
    """Campaigns of every account waiting for a moderator, oldest first."""
    async with db.read() as conn:
        return await store.with_status(conn, [CampaignStatus.MODERATION])


async def moderate(db: Database, *, campaign_id: int, approve: bool) -> Row[Any]:
    """An operator's verdict on a campaign held for moderation (any account)."""
    async with db.read() as conn:
        row = await store.get(conn, campaign_id)
    if row is None or row.parent_id is not None:
        raise NotFound(f"campaign {campaign_id} not found")
    if approve:
        return await _simple(db, row.account_id, campaign_id, "approve", {"moderated": True})
    return await decline(db, account_id=row.account_id, campaign_id=campaign_id)


@dataclass(frozen=True, slots=True)
class Breakdown:
    """Messages per status of a campaign and, apart, of its SMS fallback; REJECTED ones
    also by error code (not RCS-capable, stop-listed, refused by the carrier)."""

    campaign: Row[Any]
    messages: dict[str, int]
    rejected: dict[str, int]
    fallback: dict[str, int] | None = None
    fallback_rejected: dict[str, int] | None = None


async def breakdown(
    db: Database,
    *,
    account_id: int,
    campaign_id: int,
    channels: Collection[str] | None = None,
) -> Breakdown:
    async with db.read() as conn:
        row = await _load(conn, campaign_id, account_id, channels)
        counters = await store.counters(conn, campaign_id)
        rejected = await message_store.rejected_by_error(conn, campaign_id)
        kid = await store.child(conn, campaign_id)
        if kid is None:
            return Breakdown(row, {s: c.messages for s, c in counters.items()}, rejected)
        kid_counters = await store.counters(conn, kid.id)
        kid_rejected = await message_store.rejected_by_error(conn, kid.id)
    return Breakdown(
        row,
        {s: c.messages for s, c in counters.items()},
        rejected,
        {s: c.messages for s, c in kid_counters.items()},
        kid_rejected,
    )


async def stats(
    db: Database,
    *,
    account_id: int,
    campaign_id: int,
    channels: Collection[str] | None = None,
) -> Stats:
    async with db.read() as conn:
        row = await _load(conn, campaign_id, account_id, channels)
        return await _stats(conn, row)


async def _stats(conn: Any, row: Row[Any]) -> Stats:
    counters = await store.counters(conn, row.id)
    msgs = {s.value: counters[s.value].messages for s in MessageStatus}
    segs = {s.value: counters[s.value].segments for s in MessageStatus}
    return Stats(
        messages=msgs,
        segments=segs,
        cost=row.spent,
        estimated_cost=sum(
            (c.cost for s, c in counters.items() if s != MessageStatus.DELETED), Decimal(0)
        ),
        total_messages=sum(msgs.values()),
        total_segments=sum(segs.values()),
    )


async def messages(
    db: Database,
    *,
    account_id: int,
    campaign_id: int,
    statuses: Sequence[str] = (),
    limit: int = 100,
    offset: int = 0,
) -> tuple[Sequence[Row[Any]], int]:
    bad = [s for s in statuses if s not in MessageStatus.__members__]
    if bad:
        raise InvalidInput(f"unknown message status {bad[0]!r}", field="status")
    async with db.read() as conn:
        await _load(conn, campaign_id, account_id)
        return await message_store.page(
            conn, campaign_id=campaign_id, statuses=statuses, limit=limit, offset=offset
        )


async def audit(db: Database, *, account_id: int, campaign_id: int) -> Sequence[Row[Any]]:
    async with db.read() as conn:
        await _load(conn, campaign_id, account_id)
        return await store.audit_trail(conn, campaign_id)
