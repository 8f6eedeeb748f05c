"""Use cases the Mobizon dialect needs beyond ``services.campaigns``, ``imports`` and
``contacts``. Each is dialect-neutral in shape and meant to move into those modules:

* a placeholders flag per request (Mobizon's ``params[placeholdersFlag]``): the
  campaign's flag is set, guarded on "DRAFT and not importing", before the recipients
  are added or the import starts (the import task reads it when it runs);
* recipients from contact-card fields: one number per card, its first mobile
  contact or the field a reference names;
* one message in one call (a single-recipient campaign created, filled and started);
* deleting a scheduled campaign only while its start is far enough away;
* campaign and message searches with the filters Mobizon's ``List`` methods take.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Row

from clarion.domain import recipients
from clarion.services import campaigns
from clarion.services.errors import InvalidInput, NotFound, ServiceError
from clarion.store import campaigns as campaign_store
from clarion.store import contacts as contact_store
from clarion.store import mobizon_queries as queries
from clarion.store.campaigns import Counter
from clarion.store.db import Database

log = logging.getLogger(__name__)

CampaignQuery = queries.CampaignQuery
MessageQuery = queries.MessageQuery

# A card reference's key -> the contact type it reads (other keys: a custom field).
CARD_CONTACT_TYPES = {"mobile": "mobile", "phone": "phone", "landline": "phone"}


# --- recipients from the address book -----------------------------------------------


def _card_value(contacts: Sequence[Any], fields: dict[str, str], key: str | None) -> str | None:
    """The number a card reference names: its first normalised contact of the key's
    type (first mobile when there is no key), else the custom field ``key`` as given."""
    kind = CARD_CONTACT_TYPES.get((key or "mobile").lower())
    if kind is not None:
        return next((c.phone for c in contacts if c.type == kind and c.phone is not None), None)
    assert key is not None
    value = fields.get(key)
    return value if key != "name" and value and value.strip() else None


async def card_recipients(
    db: Database, *, account_id: int, refs: Sequence[tuple[int, str | None]]
) -> list[campaigns.RecipientInput]:
    """One recipient per ``(card id, key)`` reference, in order: code 30 for a missing
    card, 31 when it has no such number. The card's name and fields fill placeholders."""
    card_ids = list(dict.fromkeys(card_id for card_id, _ in refs))
    async with db.read() as conn:
        variables = await contact_store.card_variables(
            conn, account_id=account_id, card_ids=card_ids
        )
        contacts = await contact_store.contacts_of(conn, card_ids=list(variables))
    out: list[campaigns.RecipientInput] = []
    for card_id, key in refs:
        if card_id not in variables:
            out.append(
                campaigns.RecipientInput(
                    None, card_id=card_id, code=recipients.ResultCode.CARD_NOT_FOUND
                )
            )
            continue
        value = _card_value(contacts[card_id], variables[card_id], key)
        if value is None:
            out.append(
                campaigns.RecipientInput(
                    None, card_id=card_id, code=recipients.ResultCode.CARD_WITHOUT_MOBILE
                )
            )
        else:
            out.append(campaigns.RecipientInput(value, variables[card_id], card_id=card_id))
    return out


# --- one message ----------------------------------------------------------------------


async def send_single_message(
    db: Database,
    *,
    account_id: int,
    spec: campaigns.CampaignSpec,
    phone: object,
    default_channel: str,
    price_per_segment: Decimal,
    min_deferral: timedelta = timedelta(0),
    base_url: str | None = None,
) -> tuple[Row[Any], campaigns.RecipientResult]:
    """Create a single campaign for ``phone``, add it and start the campaign. Returns
    (the started campaign, the recipient's result). A recipient that is not added is
    InvalidInput (field ``recipient``) and the campaign is removed again."""
    row = await campaigns.create(
        db,
        account_id=account_id,
        spec=spec,
        default_channel=default_channel,
        price_per_segment=price_per_segment,
        min_deferral=min_deferral,
    )
    try:
        (result,) = await campaigns.add_recipients(
            db,
            account_id=account_id,
            campaign_id=row.id,
            entries=[campaigns.RecipientInput(phone)],
            limit=1,
        )
        if result.message_id is None:
            raise InvalidInput(recipients.describe(result.code), field="recipient")
        started = await campaigns.start(
            db, account_id=account_id, campaign_id=row.id, base_url=base_url
        )
    except Exception:
        try:
            await campaigns.delete(db, account_id=account_id, campaign_id=row.id)
        except ServiceError:
            log.warning(
                "could not remove unsent single campaign %s",
                row.id,
                extra={"action": "single_cleanup_failed"},
            )
        raise
    return started, result


# --- deleting -------------------------------------------------------------------------


async def delete_campaign(
    db: Database,
    *,
    account_id: int,
    campaign_id: int,
    min_lead: timedelta,
    channels: Collection[str] | None = None,
) -> None:
    """Delete a campaign that never started; one already sent with a start time must
    still be at least ``min_lead`` away from it. ``channels``: as in services.campaigns
    (a campaign of another channel is not found)."""
    await campaigns.delete(
        db,
        account_id=account_id,
        campaign_id=campaign_id,
        min_start_lead=min_lead,
        channels=channels,
    )


# --- reading --------------------------------------------------------------------------


async def search_campaigns(
    db: Database, *, account_id: int, query: CampaignQuery
) -> tuple[Sequence[Row[Any]], int, dict[int, dict[str, Counter]]]:
    """A page of campaigns, the total matching, and the page's counters."""
    async with db.read() as conn:
        rows, total = await queries.search_campaigns(conn, account_id=account_id, query=query)
        counters = await queries.counters_for(conn, [int(r.id) for r in rows])
    return rows, total, counters


async def campaign_info(
    db: Database,
    *,
    account_id: int,
    campaign_id: int,
    filled_text: bool = False,
    channels: Collection[str] | None = None,
) -> tuple[Row[Any], dict[str, Counter], str | None]:
    """The campaign, its counters and (``filled_text``) its first message's text."""
    async with db.read() as conn:
        row = await campaign_store.get(conn, campaign_id, account_id=account_id, channels=channels)
        if row is None:
            raise NotFound(f"campaign {campaign_id} not found")
        counters = (await queries.counters_for(conn, [campaign_id]))[campaign_id]
        text = await queries.first_message_text(conn, campaign_id) if filled_text else None
    return row, counters, text


async def messages_by_id(
    db: Database,
    *,
    account_id: int,
    ids: Sequence[int],
    channels: Sequence[str] | None = None,
) -> Sequence[Row[Any]]:
    async with db.read() as conn:
        return await queries.messages_by_id(conn, account_id=account_id, ids=ids, channels=channels)


async def search_messages(
    db: Database, *, account_id: int, query: MessageQuery
) -> tuple[Sequence[Row[Any]], int]:
    async with db.read() as conn:
        return await queries.search_messages(conn, account_id=account_id, query=query)
