"""SMS fallback of RCS campaigns (BSG's ``alternative_channel``).

An RCS campaign created with an alternative SMS text gets an internal child campaign
(channel ``sms``, ``parent_id`` = the RCS campaign, the alternative sender and text).
Users never see the child: every account-scoped read skips it; dialects show its
counters as the parent's ``alternative_channels.sms.statistic``.

When an RCS message ends UNDELIVERED, EXPIRED or REJECTED (the number is not RCS
capable, the carrier refused it, or it was not delivered within its validity), the
same transaction that records that status inserts one NEW message into the child for
the same phone, with ``origin_id`` pointing at the RCS message. Both rows stay on
record. The child's unique ``(campaign_id, phone)`` makes the fallback happen at most
once per recipient whatever retries, replays or concurrent workers do. A message
REJECTED because its number is stop-listed does not fall back.

The child is RUNNING from its creation until its parent finishes, but the dispatcher
only sends for it while the parent is RUNNING (``store.campaigns.sendable``): the
parent's pause (user or funds), moderation, schedule and stop hold it. Funds running
out while sending fallbacks pause the *parent* (reason funds), so BSG's ``renew`` on
the parent resumes both. The parent completes (SENT) only when its own messages are
all final and every fallback has been submitted, and is DONE only when the fallbacks'
reports are in too; the child ends with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from clarion.domain import encoding, templates
from clarion.domain.lifecycle import CampaignStatus, MessageStatus
from clarion.services import pricing
from clarion.store import accounts as account_store
from clarion.store import campaigns as campaign_store
from clarion.store import messages as message_store

TRIGGERS: frozenset[str] = frozenset(
    {MessageStatus.UNDELIVERED, MessageStatus.EXPIRED, MessageStatus.REJECTED}
)
NO_FALLBACK_ERRORS = frozenset({"stop-list"})


async def spawn(
    conn: AsyncConnection,
    *,
    campaign_ids: Iterable[int],
    message_ids: Sequence[int],
    now: datetime,
) -> int:
    """Fall back the listed messages (of the listed campaigns) that now stand in a
    trigger status; returns how many fallback messages were created. Cheap when none
    of the campaigns has an SMS fallback: one indexed look-up."""
    if not message_ids:
        return 0
    kids = {
        pid: kid
        for pid, kid in (await campaign_store.children(conn, campaign_ids)).items()
        if kid.status == CampaignStatus.RUNNING
    }
    if not kids:
        return 0
    candidates = [
        m
        for m in await message_store.by_ids(conn, message_ids)
        if m.campaign_id in kids and m.status in TRIGGERS and m.error_code not in NO_FALLBACK_ERRORS
    ]
    created = 0
    by_parent: dict[int, list[Any]] = {}
    for m in candidates:
        by_parent.setdefault(m.campaign_id, []).append(m)
    for parent_id, originals in by_parent.items():
        kid = kids[parent_id]
        account = await account_store.get(conn, kid.account_id)
        assert account is not None
        prices = await pricing.table_for(
            conn, account_id=kid.account_id, channel="sms", currency=account.currency
        )
        base_segments = encoding.segments(kid.text)
        rows: list[dict[str, Any]] = []
        for m in originals:
            text: str | None = None
            segments = base_segments
            if kid.type == "template":
                text = templates.render(
                    kid.text, m.variables or {}, flag=templates.PlaceholdersFlag.REMOVE
                )
                segments = encoding.segments(text)
            rows.append(
                {
                    "phone": m.phone,
                    "country": m.country,
                    "operator": m.operator,
                    "variables": m.variables,
                    "text": text,
                    "segments": segments,
                    "price": prices.price(
                        country=m.country,
                        operator=m.operator,
                        segments=segments,
                        per_segment=kid.price_per_segment,
                    ),
                    "origin_id": m.id,
                }
            )
        created += await message_store.insert_fallbacks(
            conn, campaign_id=kid.id, rows=rows, now=now
        )
    return created
