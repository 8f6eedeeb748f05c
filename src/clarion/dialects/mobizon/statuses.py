"""Mobizon's names for Clarion's statuses and types (the tables in docs/dialects/mobizon.md).

Campaign statuses come from :func:`clarion.domain.lifecycle.dialect_status`; this
module adds the reverse lookup for ``Campaign/List`` searches, the message statuses
and the counter buckets of ``Campaign/GetInfo``.
"""

from __future__ import annotations

from typing import Any

from clarion.domain.lifecycle import (
    DELETABLE_CAMPAIGN_STATUSES,
    CampaignStatus,
    MessageStatus,
    dialect_status,
)

DIALECT = "mobizon"

# data[type] / criteria[type]
CAMPAIGN_TYPES: dict[int, str] = {1: "single", 2: "mass", 3: "template"}
TYPE_CODES: dict[str, int] = {name: code for code, name in CAMPAIGN_TYPES.items()}

# Clarion message status -> Mobizon SMS status (Message/GetSMSStatus, Message/List).
MESSAGE_STATUS: dict[MessageStatus, str] = {
    MessageStatus.NEW: "NEW",
    MessageStatus.SENDING: "ENQUEUD",
    MessageStatus.ACCEPTED: "ACCEPTD",
    MessageStatus.DELIVERED: "DELIVRD",
    MessageStatus.UNDELIVERED: "UNDELIV",
    MessageStatus.REJECTED: "REJECTD",
    MessageStatus.EXPIRED: "EXPIRED",
    MessageStatus.DELETED: "DELETED",
    MessageStatus.UNKNOWN: "UNKNOWN",
    MessageStatus.PDLIVRD: "PDLIVRD",
    MessageStatus.READ: "DELIVRD",  # RCS only; a read message was delivered
}

# GetInfo counters have no ENQUEUD bucket: a message being submitted (SENDING) is
# still counted as New, as Mobizon counts a message until the operator accepts it.
COUNTER_BUCKETS: tuple[str, ...] = (
    "New",
    "Acceptd",
    "Delivrd",
    "Rejectd",
    "Expired",
    "Undeliv",
    "Deleted",
    "Unknown",
    "Pdlivrd",
)
COUNTER_BUCKET: dict[MessageStatus, str] = {
    MessageStatus.NEW: "New",
    MessageStatus.SENDING: "New",
    MessageStatus.ACCEPTED: "Acceptd",
    MessageStatus.DELIVERED: "Delivrd",
    MessageStatus.READ: "Delivrd",
    MessageStatus.UNDELIVERED: "Undeliv",
    MessageStatus.REJECTED: "Rejectd",
    MessageStatus.EXPIRED: "Expired",
    MessageStatus.DELETED: "Deleted",
    MessageStatus.UNKNOWN: "Unknown",
    MessageStatus.PDLIVRD: "Pdlivrd",
}

NOT_YET_SENT = "NOT_YET_SENT"


def campaign_status(row: Any) -> str:
    """The Mobizon name of a campaign row's status."""
    return dialect_status(DIALECT, CampaignStatus(row.status), moderated=bool(row.moderated))


def campaign_statuses(name: str) -> frozenset[str]:
    """The Clarion statuses a ``criteria[status]`` name finds (empty: an unknown name).

    ``NOT_YET_SENT`` is every status of a campaign that never started."""
    wanted = name.strip().upper()
    if wanted == NOT_YET_SENT:
        return frozenset(DELETABLE_CAMPAIGN_STATUSES)
    return frozenset(
        s.value
        for s in CampaignStatus
        if wanted in (dialect_status(DIALECT, s), dialect_status(DIALECT, s, moderated=False))
    )


def message_statuses(name: str) -> frozenset[str]:
    """The Clarion message statuses a Mobizon SMS status name finds (empty: unknown)."""
    wanted = name.strip().upper()
    return frozenset(s.value for s, mobizon in MESSAGE_STATUS.items() if mobizon == wanted)


def moderation_status(row: Any) -> str | None:
    """``moderationStatus`` of GetInfo: None until the campaign is sent."""
    status = CampaignStatus(row.status)
    if status in (CampaignStatus.MODERATION, CampaignStatus.DECLINED):
        return status.value
    if status is CampaignStatus.DRAFT:
        return None
    return "READY_FOR_SEND" if row.moderated else "AUTO_READY_FOR_SEND"


SENDING_STATUSES = frozenset(
    {
        CampaignStatus.RUNNING,
        CampaignStatus.PAUSED,
        CampaignStatus.SENT,
        CampaignStatus.DONE,
        CampaignStatus.STOPPED,
    }
)


def send_status(row: Any) -> str | None:
    """``sendStatus`` of GetInfo: RUNNING, SENT or DONE once sending started, else None."""
    if CampaignStatus(row.status) in SENDING_STATUSES:
        return campaign_status(row)
    return None
