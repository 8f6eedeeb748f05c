"""Mobizon's Message module: SendSmsMessage, GetSMSStatus, List.

Only messages of the account's own SMS campaigns are seen (``campaign.CHANNELS``, in
the query): a message of a voice or RCS campaign, or an RCS campaign's SMS fallback,
is left out of GetSMSStatus and List exactly as an id that does not exist
(campaign.py's docstring says why).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from clarion.dialects.mobizon import campaign, criteria, form, statuses, values
from clarion.dialects.mobizon.wire import (
    NOT_FOUND,
    PARAMETER_LIMIT,
    Context,
    MobizonError,
    register,
)
from clarion.domain import schedule
from clarion.domain.lifecycle import CampaignStatus, MessageStatus
from clarion.services import mobizon_support as support

MAX_STATUS_IDS = 100
MAX_CAMPAIGN_IDS = 100
SINGLE = 1

SORT_FIELDS = {
    "id": "id",
    "campaignId": "campaign_id",
    "from": "sender",
    "to": "phone",
    "text": "text",
    "status": "status",
    "startSendTs": "claimed_at",
    "statusUpdateTs": "status_updated_at",
    "segNum": "segments",
}


@register("message", "sendsmsmessage")
async def send_sms_message(ctx: Context) -> dict[str, Any]:
    """A single-message campaign: created, its one recipient added, started."""
    extra = criteria.mapping(ctx.params.get("params"))
    fields = values.Fields(
        {
            **{k: v for k, v in extra.items() if k in ("name", "deferredToTs", "mclass")},
            "validity": extra.get("validity"),
            "text": ctx.params.get("text"),
            "from": ctx.params.get("from"),
        }
    )
    recipient = ctx.params.get("recipient")
    if recipient is None or recipient == "":
        fields.fail("recipient", "recipient must not be empty")
    spec = campaign.spec_of(fields, ctx, kind=SINGLE)
    row, result = await support.send_single_message(
        ctx.db,
        account_id=ctx.account_id,
        spec=spec,
        phone=recipient,
        default_channel=ctx.settings.default_channel,
        price_per_segment=ctx.settings.price_per_segment,
        min_deferral=schedule.MOBIZON_MIN_DEFERRAL,
        base_url=ctx.settings.public_base_url,
    )
    moderation = row.status == CampaignStatus.MODERATION
    return {
        "campaignId": str(row.id),
        "messageId": values.text_id(result.message_id),
        "status": campaign.SEND_MODERATION if moderation else campaign.SEND_SENDING,
    }


@register("message", "getsmsstatus")
async def get_sms_status(ctx: Context) -> list[dict[str, Any]]:
    """Statuses of up to 100 messages; unknown ids are left out."""
    items = form.items(ctx.params.get("ids"))
    if not items:
        raise MobizonError(NOT_FOUND, "no message ids given")
    if len(items) > MAX_STATUS_IDS:
        raise MobizonError(PARAMETER_LIMIT, f"at most {MAX_STATUS_IDS} message ids per request")
    ids = [n for n in (values.integer(i) for i in items) if n is not None and n > 0]
    rows = await support.messages_by_id(
        ctx.db, account_id=ctx.account_id, ids=ids, channels=campaign.CHANNELS
    )
    return [
        {
            "id": str(row.id),
            "status": statuses.MESSAGE_STATUS[MessageStatus(row.status)],
            "segNum": str(row.segments),
            # Never null here: clients parse both with strptime (e.g. PyPI's
            # mobizon-client), so a message not yet handed over shows its creation time.
            "startSendTs": values.timestamp(row.claimed_at or row.created_at, ctx.tz),
            "statusUpdateTs": values.timestamp(
                row.status_updated_at or row.claimed_at or row.created_at, ctx.tz
            ),
        }
        for row in rows
    ]


def query_of(ctx: Context) -> support.MessageQuery | None:
    found = criteria.mapping(ctx.params.get("criteria"))
    page = criteria.page(ctx.params)
    sort, descending = criteria.sort(ctx.params, SORT_FIELDS, "id")
    campaign_ids = None
    if values.given(found.get("campaignIds")):
        campaign_ids = criteria.ids(
            found.get("campaignIds"), limit=MAX_CAMPAIGN_IDS, name="criteria[campaignIds]"
        )
    if values.given(found.get("groups")):
        raise MobizonError(
            PARAMETER_LIMIT, "criteria[groups] is not supported: Clarion does not record groups"
        )
    status_filter = None
    if values.given(found.get("status")):
        wanted = statuses.message_statuses(str(found["status"]))
        if not wanted:
            raise MobizonError(PARAMETER_LIMIT, f"unknown message status {found['status']!r}")
        status_filter = sorted(wanted)
    campaign_status_filter = None
    if values.given(found.get("campaignStatus")):
        wanted = statuses.campaign_statuses(str(found["campaignStatus"]))
        if not wanted:
            raise MobizonError(
                PARAMETER_LIMIT, f"unknown campaign status {found['campaignStatus']!r}"
            )
        campaign_status_filter = sorted(wanted)
    digits = None
    if values.given(found.get("to")):
        digits = "".join(c for c in str(found["to"]) if c.isascii() and c.isdigit())
        if not digits:
            raise MobizonError(PARAMETER_LIMIT, "criteria[to] must hold digits")
    created = criteria.stamps(found, "campaignCreateTsFrom", "campaignCreateTsTo", ctx.tz)
    started = criteria.stamps(found, "campaignSentTsFrom", "campaignSentTsTo", ctx.tz)
    claimed = criteria.stamps(found, "startSendTsFrom", "startSendTsTo", ctx.tz)
    updated = criteria.stamps(found, "statusUpdateTsFrom", "statusUpdateTsTo", ctx.tz)
    if any(w.empty for w in (created, started, claimed, updated)):
        return None
    sender, text = found.get("from"), found.get("text")
    return support.MessageQuery(
        campaign_ids=campaign_ids,
        channels=campaign.CHANNELS,
        sender=str(sender) if values.given(sender) else None,
        phone_digits=digits,
        text=str(text) if values.given(text) else None,
        statuses=status_filter,
        campaign_statuses=campaign_status_filter,
        campaign_created_from=created.start,
        campaign_created_to=created.end,
        campaign_started_from=started.start,
        campaign_started_to=started.end,
        claimed_from=claimed.start,
        claimed_to=claimed.end,
        updated_from=updated.start,
        updated_to=updated.end,
        sort=sort,
        descending=descending,
        limit=page.size,
        offset=page.offset,
    )


def item(ctx: Context, row: Any, *, number_info: bool) -> dict[str, Any]:
    price: Decimal = row.price
    out: dict[str, Any] = {
        "id": str(row.id),
        "campaignId": str(row.campaign_id),
        "segNum": str(row.segments),
        "segUserBuy": values.money(price / row.segments if row.segments else price),
        "from": row.sender,
        "to": row.phone.lstrip("+"),
        "text": row.text,
        "status": statuses.MESSAGE_STATUS[MessageStatus(row.status)],
        "groups": "",
        "uuid": row.channel_ref,
        "startSendTs": values.timestamp(row.claimed_at, ctx.tz),
        "statusUpdateTs": values.timestamp(row.status_updated_at, ctx.tz),
    }
    if number_info:
        out["countryA2"] = row.country or None
        out["operatorName"] = row.operator or None
    return out


@register("message", "list")
async def list_messages(ctx: Context) -> dict[str, Any]:
    number_info = values.Fields(ctx.params).flag("withNumberInfo")
    query = query_of(ctx)
    if query is None:
        return {"items": [], "totalItemCount": "0"}
    rows, total = await support.search_messages(ctx.db, account_id=ctx.account_id, query=query)
    return {
        "items": [item(ctx, row, number_info=number_info) for row in rows],
        "totalItemCount": str(total),
    }
