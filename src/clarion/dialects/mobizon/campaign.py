"""Mobizon's Campaign module: Create, AddRecipients, Delete, Get, GetInfo, List, Send.

``Campaign/GetLinks`` belongs to the Link module (``link.py``). Choices where
Mobizon's documentation is silent are in docs/dialects/mobizon.md.

Mobizon speaks SMS (``CHANNELS``). Every method here, in ``message.py`` and
``Campaign/GetLinks`` looks campaigns and messages up among the account's SMS
campaigns only, in the query itself: a voice or RCS campaign (made through /v1 or
another dialect) and its messages answer exactly as an id that does not exist (code
2, ``campaign N not found``; left out of List, of ``totalItemCount`` and of
GetSMSStatus), so a Mobizon client can neither see, change nor detect them.

An RCS campaign's SMS fallback (the internal child campaign, ``parent_id`` set) is
SMS, but it is part of its RCS campaign: a Mobizon client never created it, never got
its id, and could not act on it alone (it starts, stops and ends with its parent). It
is not found either, and its messages are left out of Message/List and GetSMSStatus;
its counters are seen under the RCS campaign (BSG ``alternative_channels.sms``, /v1
``stats.fallback``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi import UploadFile
from starlette.datastructures import UploadFile as StarletteUpload

from clarion.api import uploads
from clarion.dialects.mobizon import criteria, form, statuses, values
from clarion.dialects.mobizon.wire import (
    BACKGROUND,
    NOTHING_DONE,
    PARAMETER_LIMIT,
    PARTIAL,
    Context,
    MobizonError,
    Reply,
    record_id,
    register,
)
from clarion.domain import recipients, schedule, templates
from clarion.domain.lifecycle import CampaignStatus, MessageStatus
from clarion.imports import readers
from clarion.services import campaigns, imports
from clarion.services import mobizon_support as support
from clarion.store.campaigns import Counter

MAX_SYNC_RECIPIENTS = 500
MAX_GROUPS = 1000
DELETE_LEAD = timedelta(minutes=5)
RATE_PERIODS = (60, 3600, 86400)
DEFAULT_RATE_PERIOD = 60
MAX_IDS = 10
SEND_MODERATION = 1
SEND_SENDING = 2
TRACK_LINKS = "track_short_link_recipients"  # campaign settings key (Link module reads it)
CHANNELS = ("sms",)  # the campaigns Mobizon sees (module docstring)

# Request keys of each recipient source; the value says which kind it is.
SOURCES: dict[str, str] = {
    "recipients": "numbers",
    "recipientContacts": "card_refs",
    "recipientsContactIds": "contacts",
    "recipientsCardIds": "cards",
    "recipientGroups": "groups",
    "recipientsGroupIds": "groups",
    "recipientsFile": "file",
}

SORT_FIELDS = {
    "id": "id",
    "name": "name",
    "from": "sender",
    "text": "text",
    "status": "status",
    "type": "type",
    "recipient": "recipient",
    "createTs": "created_at",
    "startSendTs": "started_at",
    "endSendTs": "sent_at",
    "counters.totalMsgNum": "total_messages",
    "counters.totalCost": "total_cost",
}


# --- rendering ------------------------------------------------------------------------


def _flag(value: bool) -> str:
    return "1" if value else "0"


def _tracking(row: Any) -> bool:
    return bool((row.settings or {}).get(TRACK_LINKS))


def counters(ctx: Context, row: Any, by_status: Mapping[str, Counter]) -> dict[str, Any]:
    """GetInfo's ``counters``: messages, segments and cost per Mobizon status bucket."""
    messages = dict.fromkeys(statuses.COUNTER_BUCKETS, 0)
    segments = dict.fromkeys(statuses.COUNTER_BUCKETS, 0)
    costs = dict.fromkeys(statuses.COUNTER_BUCKETS, Decimal(0))
    for status, counter in by_status.items():
        bucket = statuses.COUNTER_BUCKET[MessageStatus(status)]
        messages[bucket] += counter.messages
        segments[bucket] += counter.segments
        costs[bucket] += counter.cost
    out: dict[str, Any] = {
        "campaignId": str(row.id),
        "updateTs": values.timestamp(ctx.now, ctx.tz),
    }
    out.update({f"total{b}SegNum": str(segments[b]) for b in statuses.COUNTER_BUCKETS})
    out["totalSegNum"] = str(sum(segments.values()))
    out.update({f"total{b}MsgNum": str(messages[b]) for b in statuses.COUNTER_BUCKETS})
    out["totalMsgNum"] = str(sum(messages.values()))
    out.update({f"total{b}MsgCost": values.money(costs[b]) for b in statuses.COUNTER_BUCKETS})
    out["totalCost"] = values.money(
        sum((v for b, v in costs.items() if b != "Deleted"), Decimal(0))
    )
    out["recipientsRejected"] = str(row.recipients_rejected)
    out["userCurrency"] = ctx.account.currency
    return out


def basics(ctx: Context, row: Any) -> dict[str, Any]:
    """The fields Campaign/Get returns."""
    validity = values.text_id(row.validity_minutes)
    return {
        "id": str(row.id),
        "type": str(statuses.TYPE_CODES[row.type]),
        "name": row.name,
        "text": row.text,
        "msgType": "SMS",
        "from": row.sender,
        "rateLimit": values.text_id(row.rate_limit),
        "ratePeriod": values.text_id(row.rate_period),
        "deferredToTs": values.timestamp(row.start_at, ctx.tz),
        "mclass": str(1 if row.mclass is None else row.mclass),
        "ttl": validity,
        "validity": validity,
        "trackShortLinkRecipients": _flag(_tracking(row)),
    }


def info(
    ctx: Context, row: Any, by_status: Mapping[str, Counter], text: str | None = None
) -> dict[str, Any]:
    """The fields Campaign/GetInfo returns (and each item of Campaign/List)."""
    out = basics(ctx, row)
    if text is not None:
        out["text"] = text
    out.update(
        {
            "userId": str(row.account_id),
            "commonStatus": statuses.campaign_status(row),
            "status": statuses.campaign_status(row),
            "moderationStatus": statuses.moderation_status(row),
            "sendStatus": statuses.send_status(row),
            "isDeleted": "0",
            "creationWay": "1",
            "createTs": values.timestamp(row.created_at, ctx.tz),
            "startSendTs": values.timestamp(row.started_at, ctx.tz),
            "endSendTs": values.timestamp(row.sent_at, ctx.tz),
            "expirationTs": values.timestamp(row.expires_at, ctx.tz),
            "groups": "",
            "groupsList": [],
            "globalComment": None,
            "extra": {
                "validity": out["validity"],
                "ttl": out["ttl"],
                "mclass": out["mclass"],
                "trackShortLinkRecipients": out["trackShortLinkRecipients"],
            },
            "counters": counters(ctx, row, by_status),
        }
    )
    return out


# --- Create ---------------------------------------------------------------------------


def _deferral(data: values.Fields, ctx: Context) -> Any:
    start_at = data.timestamp("deferredToTs", ctx.tz)
    if start_at is None:
        return None
    try:
        schedule.check_deferred_start(
            start_at,
            now=ctx.now,
            min_delay=schedule.MOBIZON_MIN_DEFERRAL,
            max_delay=schedule.MOBIZON_MAX_DEFERRAL,
        )
    except schedule.ScheduleError:
        earliest = values.timestamp(ctx.now + schedule.MOBIZON_MIN_DEFERRAL, ctx.tz)
        latest = values.timestamp(ctx.now + schedule.MOBIZON_MAX_DEFERRAL, ctx.tz)
        data.fail(
            "deferredToTs",
            f"deferredToTs must be from one hour to 14 days ahead: {earliest} to {latest}",
        )
        return None
    return start_at


def spec_of(
    data: values.Fields, ctx: Context, *, kind: int | None = None
) -> campaigns.CampaignSpec:
    """A CampaignSpec from Mobizon's campaign fields (Create's ``data``, and the
    ``params`` of Message/SendSmsMessage); FieldErrors if any is bad."""
    if kind is None:
        kind = data.integer("type", choices=tuple(statuses.CAMPAIGN_TYPES)) or 2
    name = data.string("name", max_length=255)
    text = data.string("text")
    sender = data.string("from", max_length=64)
    rate_limit = data.integer("rateLimit", minimum=0, maximum=1_000_000)
    rate_period = data.integer("ratePeriod", choices=RATE_PERIODS)
    start_at = _deferral(data, ctx)
    mclass = data.integer("mclass", choices=(0, 1))
    validity = data.integer(
        "validity",
        minimum=schedule.MOBIZON_CREATE_MIN_VALIDITY_MINUTES,
        maximum=schedule.MOBIZON_CREATE_MAX_VALIDITY_MINUTES,
    )
    ttl = data.integer(
        "ttl", minimum=schedule.MIN_VALIDITY_MINUTES, maximum=schedule.MAX_VALIDITY_MINUTES
    )
    track = data.flag("trackShortLinkRecipients")
    if not text or not text.strip():
        data.fail("text", "text must not be empty")
    elif len(text) > campaigns.MAX_TEXT:
        data.fail("text", f"text is longer than {campaigns.MAX_TEXT} characters")
    data.check()
    assert text is not None
    default_name = f"Campaign {values.timestamp(ctx.now, ctx.tz)}"
    return campaigns.CampaignSpec(
        name=name.strip() if name and name.strip() else default_name,
        text=text,
        type=statuses.CAMPAIGN_TYPES[kind],
        sender=(sender or "").strip(),
        rate_limit=rate_limit or None,
        rate_period=(rate_period or DEFAULT_RATE_PERIOD) if rate_limit else None,
        start_at=start_at,
        validity_minutes=validity if validity is not None else ttl,
        # Mobizon's default; AddRecipients sets the flag each request sends.
        placeholders_flag=int(templates.PlaceholdersFlag.KEEP),
        mclass=mclass,
        settings={TRACK_LINKS: True} if track else {},
    )


@register("campaign", "create")
async def create(ctx: Context) -> str:
    spec = spec_of(values.Fields(ctx.params.get("data")), ctx)
    row = await campaigns.create(
        ctx.db,
        account_id=ctx.account_id,
        spec=spec,
        default_channel=ctx.settings.default_channel,
        price_per_segment=ctx.settings.price_per_segment,
        min_deferral=schedule.MOBIZON_MIN_DEFERRAL,
    )
    return str(row.id)


# --- AddRecipients --------------------------------------------------------------------


async def check_sms(ctx: Context, campaign_id: int) -> None:
    """NotFound (code 2, as for a missing id) unless ``campaign_id`` is one of the
    account's SMS campaigns: for the services that take a campaign of any channel
    (imports, links). A campaign's channel never changes, so the answer holds for the
    call that follows."""
    await campaigns.get(
        ctx.db, account_id=ctx.account_id, campaign_id=campaign_id, channels=CHANNELS
    )


def _digits(value: Any) -> str:
    """A recipient number as Mobizon writes it: digits only (E.164 without ``+``)."""
    try:
        return recipients.normalise(value).e164.lstrip("+")
    except recipients.PhoneError:
        return str(value)


def _numbers(items: Sequence[Any]) -> tuple[list[campaigns.RecipientInput], list[Any]]:
    """Entries from ``recipients``: numbers, or arrays with ``recipient`` and
    placeholder values."""
    entries: list[campaigns.RecipientInput] = []
    originals: list[Any] = []
    for item in items:
        if isinstance(item, Mapping):
            variables = {
                str(k): str(v) for k, v in item.items() if k != "recipient" and values.scalar(v)
            }
            if "recipient" not in item:
                entries.append(campaigns.RecipientInput(None, code=recipients.ResultCode.NOT_FOUND))
                originals.append(None)
                continue
            phone = item["recipient"]
        else:
            phone, variables = item, {}
        entries.append(campaigns.RecipientInput(phone, variables))
        originals.append(phone)
    return entries, originals


def _card_ref(token: Any) -> tuple[int, str | None] | None:
    """``"123"`` or ``"123:field"`` (a contact card and, optionally, its field)."""
    text = str(token).strip() if values.scalar(token) else ""
    card, _, key = text.partition(":")
    number = values.integer(card)
    if number is None or number < 1:
        return None
    return number, (key.strip() or None)


async def _card_refs(
    ctx: Context, items: Sequence[Any]
) -> tuple[list[campaigns.RecipientInput], list[Any]]:
    refs = [_card_ref(item) for item in items]
    found = iter(
        await support.card_recipients(
            ctx.db, account_id=ctx.account_id, refs=[r for r in refs if r is not None]
        )
    )
    entries = [
        next(found)
        if ref is not None
        else campaigns.RecipientInput(None, code=recipients.ResultCode.CONTACT_NOT_FOUND)
        for ref in refs
    ]
    return entries, [str(item) if values.scalar(item) else None for item in items]


async def _ids_source(
    ctx: Context, items: Sequence[Any], kind: str
) -> tuple[list[campaigns.RecipientInput], list[Any]]:
    """``recipientsContactIds`` / ``recipientsCardIds``."""
    parsed = [values.integer(item) for item in items]
    good = [n for n in parsed if n is not None and n > 0]
    if kind == "contacts":
        missing = recipients.ResultCode.CONTACT_NOT_FOUND
        found = await campaigns.contacts_as_recipients(
            ctx.db, account_id=ctx.account_id, contact_ids=good
        )
    else:
        missing = recipients.ResultCode.CARD_NOT_FOUND
        found = await support.card_recipients(
            ctx.db, account_id=ctx.account_id, refs=[(n, None) for n in good]
        )
    resolved = iter(found)
    entries = [
        next(resolved) if n is not None and n > 0 else campaigns.RecipientInput(None, code=missing)
        for n in parsed
    ]
    return entries, [values.text_id(n) for n in parsed]


def _result(result: campaigns.RecipientResult, kind: str, original: Any) -> dict[str, Any]:
    if result.e164 is not None:
        recipient: str | None = result.e164.lstrip("+")
    elif result.phone:
        recipient = _digits(result.phone)
    else:
        recipient = None
    out: dict[str, Any] = {
        "recipient": recipient,
        "code": int(result.code),
        "messageId": values.text_id(result.message_id),
    }
    if kind == "numbers":
        out["type"] = "number"
        out["number"] = None if original is None else str(original)
    elif kind == "cards":
        out["type"] = "card"
        out["contactCardId"] = original
    elif kind == "contacts":
        out["type"] = "contact"
        out["contactId"] = original
    else:
        out["type"] = "contact"
        out["contact"] = original
        out["contactCardId"] = values.text_id(result.card_id)
    return out


def _options(ctx: Context) -> tuple[bool, int, readers.CsvOptions]:
    options = values.Fields(ctx.params.get("params"))
    top = values.Fields(ctx.params)
    replace = options.flag("replace") if options.present("replace") else top.flag("replace")
    flag = options.integer("placeholdersFlag", choices=(1, 2, 3))
    encoding = options.string("recipientsFileEncoding")
    skip_header = options.flag("recipientsFileSkipHeader")
    delimiter = options.string("recipientsFileDelimiter") or ","
    enclosure = options.string("recipientsFileEnclosure") or "'"
    for name, char in (
        ("recipientsFileDelimiter", delimiter),
        ("recipientsFileEnclosure", enclosure),
    ):
        if len(char) != 1:
            options.fail(name, f"{name} must be one character")
    options.check()
    top.check()
    csv = readers.CsvOptions(
        delimiter=delimiter,
        enclosure=enclosure,
        skip_header=skip_header,
        encoding=(encoding or "").strip() or None,
    )
    return replace, flag or int(templates.PlaceholdersFlag.KEEP), csv


async def _import_file(
    ctx: Context,
    campaign_id: int,
    upload: Any,
    replace: bool,
    flag: int,
    csv: readers.CsvOptions,
) -> Reply:
    if not isinstance(upload, StarletteUpload):
        raise values.FieldErrors(
            {"recipientsFile": "recipientsFile must be a file sent as multipart/form-data"}
        )
    await check_sms(ctx, campaign_id)
    file = UploadFile(
        upload.file, size=upload.size, filename=upload.filename, headers=upload.headers
    )
    path = await uploads.save(
        file,
        directory=Path(ctx.settings.data_dir) / "uploads",
        limit=ctx.settings.max_import_bytes,
    )
    try:
        task_id = await imports.start_file_import(
            ctx.db,
            account_id=ctx.account_id,
            campaign_id=campaign_id,
            path=path,
            options=csv,
            replace=replace,
            owned_file=True,
            placeholders_flag=flag,
        )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return Reply(BACKGROUND, str(task_id), "background task started")


@register("campaign", "addrecipients")
async def add_recipients(ctx: Context) -> Any:
    campaign_id = record_id(ctx.params, what="campaign")
    replace, flag, csv = _options(ctx)
    given = [key for key in SOURCES if values.given(ctx.params.get(key))]
    if len(given) != 1:
        raise MobizonError(
            PARAMETER_LIMIT,
            "give exactly one recipient source: recipients, recipientContacts, "
            "recipientsContactIds, recipientsCardIds, recipientGroups or recipientsFile"
            + (f" (got {', '.join(given)})" if given else ""),
        )
    (key,) = given
    kind = SOURCES[key]
    value = ctx.params[key]
    if kind == "file":
        return await _import_file(ctx, campaign_id, value, replace, flag, csv)
    items = form.items(value)
    if kind == "groups":
        group_ids = [values.integer(item) for item in items]
        if not group_ids or any(g is None or g < 1 for g in group_ids):
            raise values.FieldErrors({key: f"{key} must hold contact group ids"})
        if len(group_ids) > MAX_GROUPS:
            raise MobizonError(PARAMETER_LIMIT, f"at most {MAX_GROUPS} groups per request")
        await check_sms(ctx, campaign_id)
        task_id = await imports.start_group_import(
            ctx.db,
            account_id=ctx.account_id,
            campaign_id=campaign_id,
            group_ids=[g for g in group_ids if g is not None],
            replace=replace,
            placeholders_flag=flag,
        )
        return Reply(BACKGROUND, str(task_id), "background task started")
    if not items:
        raise MobizonError(PARAMETER_LIMIT, f"{key} holds no recipients")
    if len(items) > MAX_SYNC_RECIPIENTS:
        raise MobizonError(
            PARAMETER_LIMIT,
            f"at most {MAX_SYNC_RECIPIENTS} recipients per request ({len(items)} given); "
            "none was added",
        )
    if kind == "numbers":
        entries, originals = _numbers(items)
    elif kind == "card_refs":
        entries, originals = await _card_refs(ctx, items)
    else:
        entries, originals = await _ids_source(ctx, items, kind)
    results = await campaigns.add_recipients(
        ctx.db,
        account_id=ctx.account_id,
        campaign_id=campaign_id,
        entries=entries,
        limit=MAX_SYNC_RECIPIENTS,
        replace=replace,
        placeholders_flag=flag,
        channels=CHANNELS,
    )
    data = [_result(r, kind, o) for r, o in zip(results, originals, strict=True)]
    code = recipients.overall([int(r.code) for r in results])
    if code == PARTIAL:
        return Reply(PARTIAL, data, "not all recipients were added")
    if code == NOTHING_DONE:
        return Reply(NOTHING_DONE, data, "no recipient was added")
    return data


# --- Delete, Get, GetInfo, Send -------------------------------------------------------


@register("campaign", "delete")
async def delete(ctx: Context) -> bool:
    campaign_id = record_id(ctx.params, what="campaign")
    await support.delete_campaign(
        ctx.db,
        account_id=ctx.account_id,
        campaign_id=campaign_id,
        min_lead=DELETE_LEAD,
        channels=CHANNELS,
    )
    return True


@register("campaign", "get")
async def get(ctx: Context) -> dict[str, Any]:
    campaign_id = record_id(ctx.params, what="campaign")
    row = await campaigns.get(
        ctx.db, account_id=ctx.account_id, campaign_id=campaign_id, channels=CHANNELS
    )
    return basics(ctx, row)


@register("campaign", "getinfo")
async def get_info(ctx: Context) -> dict[str, Any]:
    campaign_id = record_id(ctx.params, what="campaign")
    filled = values.Fields(ctx.params).flag("getFilledTplCampaignText")
    row, by_status, text = await support.campaign_info(
        ctx.db,
        account_id=ctx.account_id,
        campaign_id=campaign_id,
        filled_text=filled,
        channels=CHANNELS,
    )
    return info(ctx, row, by_status, text if row.type == "template" else None)


@register("campaign", "send")
async def send(ctx: Context) -> int:
    campaign_id = record_id(ctx.params, what="campaign")
    row = await campaigns.start(
        ctx.db,
        account_id=ctx.account_id,
        campaign_id=campaign_id,
        base_url=ctx.settings.public_base_url,  # personal short links when tracking
        channels=CHANNELS,
    )
    return SEND_MODERATION if row.status == CampaignStatus.MODERATION else SEND_SENDING


# --- List -----------------------------------------------------------------------------


def query_of(ctx: Context) -> support.CampaignQuery | None:
    """The store query of a Campaign/List request (None: it finds nothing)."""
    found = criteria.mapping(ctx.params.get("criteria"))
    page = criteria.page(ctx.params)
    sort, descending = criteria.sort(ctx.params, SORT_FIELDS, "id")
    ids: list[int] | None = None
    if values.given(found.get("id")):
        ids = criteria.ids(found.get("id"), limit=1, name="criteria[id]")
    if values.given(found.get("ids")):
        ids = (ids or []) + criteria.ids(found.get("ids"), limit=MAX_IDS, name="criteria[ids]")
    status_filter: list[str] | None = None
    if values.given(found.get("status")):
        wanted = statuses.campaign_statuses(str(found["status"]))
        if not wanted:
            raise MobizonError(PARAMETER_LIMIT, f"unknown campaign status {found['status']!r}")
        status_filter = sorted(wanted)
    type_filter: list[str] | None = None
    if values.given(found.get("type")):
        kind = values.integer(found["type"])
        if kind not in statuses.CAMPAIGN_TYPES:
            raise MobizonError(PARAMETER_LIMIT, "criteria[type] must be 1, 2 or 3")
        type_filter = [statuses.CAMPAIGN_TYPES[kind]]
    digits: str | None = None
    if values.given(found.get("recipient")):
        digits = "".join(c for c in str(found["recipient"]) if c.isascii() and c.isdigit())
        if not digits:
            raise MobizonError(PARAMETER_LIMIT, "criteria[recipient] must hold digits")
    created = criteria.window(
        found,
        date_from="createDateFrom",
        time_from=("createTimeFrom",),
        date_to="createDateTo",
        time_to=("createTimeTo",),
        stamp_from="createTsFrom",
        stamp_to="createTsTo",
        tz=ctx.tz,
    )
    sent = criteria.window(
        found,
        date_from="sentDateFrom",
        time_from=("sentTimeFrom", "sendTimeFrom"),
        date_to="sentDateTo",
        time_to=("sentTimeTo", "sendTimeTo"),
        stamp_from="sentTsFrom",
        stamp_to="sentTsTo",
        tz=ctx.tz,
    )
    if ids is None and not created.given and not sent.given:
        created = criteria.last_day(ctx.now, ctx.tz)
    created, sent = criteria.bounded(created), criteria.bounded(sent)
    if created.empty or sent.empty:
        return None
    sender = found.get("from")
    text = found.get("text")
    return support.CampaignQuery(
        ids=ids,
        channels=CHANNELS,
        phone_digits=digits,
        sender=str(sender) if values.given(sender) and values.scalar(sender) else None,
        text=str(text) if values.given(text) and values.scalar(text) else None,
        statuses=status_filter,
        types=type_filter,
        created_from=created.start,
        created_to=created.end,
        started_from=sent.start,
        started_to=sent.end,
        sort=sort,
        descending=descending,
        limit=page.size,
        offset=page.offset,
    )


@register("campaign", "list")
async def list_campaigns(ctx: Context) -> dict[str, Any]:
    query = query_of(ctx)
    if query is None:
        return {"items": [], "totalItemCount": "0"}
    rows, total, by_campaign = await support.search_campaigns(
        ctx.db, account_id=ctx.account_id, query=query
    )
    return {
        "items": [info(ctx, row, by_campaign[int(row.id)]) for row in rows],
        "totalItemCount": str(total),
    }
