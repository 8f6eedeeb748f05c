"""Campaign and message state machines: one transition table each.

Every status change in Clarion is an *action* looked up here; the store turns it
into ``UPDATE ... SET status=:to WHERE id=:id AND status IN (:allowed_from)``. A
zero row count means the current status did not allow the action (a conflict),
and nothing changes.

Campaign states (canonical)::

    DRAFT --start--> RUNNING --all submitted--> SENT --all final--> DONE
      |  \\--schedule--> SCHEDULED --due--> RUNNING
      |   \\--moderate--> MODERATION --approve--> QUEUED --due--> RUNNING
      |                             \\--decline--> DECLINED
    RUNNING --pause(user|funds|window)--> PAUSED --resume--> RUNNING
    QUEUED|SCHEDULED|MODERATION|RUNNING|PAUSED --stop--> STOPPED
    SENT|DONE|STOPPED --retry--> RUNNING

Dialect names map onto these states (see ``DIALECT_CAMPAIGN_STATUS`` and
docs/lifecycle.md). Mobizon shows a user-paused campaign as RUNNING (it has no
pause) and STOPPED as DONE; BSG shows QUEUED as ``scheduled``; and so on.

Message states::

    NEW --claim--> SENDING --accept--> ACCEPTED --report--> DELIVERED | UNDELIVERED
     |                |                                     | EXPIRED | REJECTED
     |                |--requeue (temporary/throttled)--> NEW   | PDLIVRD | READ | UNKNOWN
     |                |--reject (permanent)--> REJECTED
     |                \\--lose (stale, carrier has no record)--> UNKNOWN
     |--expire (validity passed before sending)--> EXPIRED
     |--block (stop-listed after it was added; checked at send)--> REJECTED
     \\--delete (campaign stopped)--> DELETED
    UNDELIVERED | EXPIRED | REJECTED --retry--> NEW
    SENDING | ACCEPTED --recall (voice: the call ended unanswered, called again)--> NEW

A crash while SENDING never leads to a blind resend: a stale SENDING message is
looked up at the carrier by its reference and otherwise becomes UNKNOWN.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class CampaignStatus(StrEnum):
    DRAFT = "DRAFT"
    MODERATION = "MODERATION"
    DECLINED = "DECLINED"
    QUEUED = "QUEUED"
    SCHEDULED = "SCHEDULED"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    STOPPED = "STOPPED"
    SENT = "SENT"
    DONE = "DONE"


class PauseReason(StrEnum):
    USER = "user"
    FUNDS = "funds"
    WINDOW = "window"


class MessageStatus(StrEnum):
    NEW = "NEW"
    SENDING = "SENDING"
    ACCEPTED = "ACCEPTED"
    DELIVERED = "DELIVERED"
    UNDELIVERED = "UNDELIVERED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    DELETED = "DELETED"
    UNKNOWN = "UNKNOWN"
    PDLIVRD = "PDLIVRD"
    READ = "READ"


FINAL_MESSAGE_STATUSES: frozenset[MessageStatus] = frozenset(MessageStatus) - {
    MessageStatus.NEW,
    MessageStatus.SENDING,
    MessageStatus.ACCEPTED,
}
PENDING_MESSAGE_STATUSES: frozenset[MessageStatus] = frozenset(MessageStatus) - (
    FINAL_MESSAGE_STATUSES
)
RETRYABLE_MESSAGE_STATUSES: frozenset[MessageStatus] = frozenset(
    {MessageStatus.UNDELIVERED, MessageStatus.EXPIRED, MessageStatus.REJECTED}
)
REPORT_STATUSES: frozenset[MessageStatus] = frozenset(
    {
        MessageStatus.DELIVERED,
        MessageStatus.UNDELIVERED,
        MessageStatus.EXPIRED,
        MessageStatus.REJECTED,
        MessageStatus.PDLIVRD,
        MessageStatus.READ,
        MessageStatus.UNKNOWN,
    }
)


class TransitionError(Exception):
    """An action is not allowed from the current status."""

    def __init__(self, action: str, current: str, allowed: frozenset[str]) -> None:
        self.action = action
        self.current = current
        self.allowed = allowed
        allowed_list = ", ".join(sorted(allowed))
        super().__init__(
            f"cannot {action} a campaign in status {current}; allowed from: {allowed_list}"
        )


@dataclass(frozen=True, slots=True)
class Transition:
    action: str
    allowed_from: frozenset[str]
    to: str


def _t(action: str, allowed_from: set[str], to: str) -> Transition:
    return Transition(action, frozenset(allowed_from), to)


C = CampaignStatus
M = MessageStatus

CAMPAIGN_TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in (
        _t("start", {C.DRAFT}, C.RUNNING),
        _t("schedule", {C.DRAFT}, C.SCHEDULED),
        _t("moderate", {C.DRAFT}, C.MODERATION),
        _t("approve", {C.MODERATION}, C.QUEUED),
        _t("decline", {C.MODERATION}, C.DECLINED),
        _t("activate", {C.QUEUED, C.SCHEDULED}, C.RUNNING),
        _t("pause", {C.RUNNING}, C.PAUSED),
        _t("resume", {C.PAUSED}, C.RUNNING),
        _t(
            "stop",
            {C.MODERATION, C.QUEUED, C.SCHEDULED, C.RUNNING, C.PAUSED},
            C.STOPPED,
        ),
        _t("complete", {C.RUNNING}, C.SENT),
        _t("finish", {C.SENT}, C.DONE),
        _t("retry", {C.SENT, C.DONE, C.STOPPED}, C.RUNNING),
    )
}

# Campaigns that may be deleted (never started).
DELETABLE_CAMPAIGN_STATUSES: frozenset[str] = frozenset(
    {C.DRAFT, C.MODERATION, C.DECLINED, C.QUEUED, C.SCHEDULED}
)
# Campaigns whose text, type and recipients may still be edited.
EDITABLE_CAMPAIGN_STATUSES: frozenset[str] = frozenset({C.DRAFT})

MESSAGE_TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in (
        _t("claim", {M.NEW}, M.SENDING),
        _t("accept", {M.SENDING}, M.ACCEPTED),
        _t("requeue", {M.SENDING}, M.NEW),
        _t("reject", {M.SENDING}, M.REJECTED),
        _t("lose", {M.SENDING, M.ACCEPTED}, M.UNKNOWN),
        _t("expire", {M.NEW}, M.EXPIRED),
        _t("block", {M.NEW}, M.REJECTED),
        _t("delete", {M.NEW}, M.DELETED),
        _t("retry", set(RETRYABLE_MESSAGE_STATUSES), M.NEW),
        # Voice: a call ended without reaching anyone and the recall policy calls again.
        _t("recall", {M.SENDING, M.ACCEPTED}, M.NEW),
    )
}

# A delivery report may arrive before the submit outcome has been recorded.
REPORT_FROM: frozenset[str] = frozenset({M.SENDING, M.ACCEPTED})


def campaign_transition(action: str) -> Transition:
    """The transition for ``action``; KeyError for an unknown action."""
    return CAMPAIGN_TRANSITIONS[action]


def check_campaign_action(action: str, current: str) -> Transition:
    """Return the transition if ``action`` is allowed from ``current``, else raise."""
    transition = CAMPAIGN_TRANSITIONS[action]
    if current not in transition.allowed_from:
        raise TransitionError(action, current, transition.allowed_from)
    return transition


def report_transition(
    to: MessageStatus, *, allowed_from: frozenset[str] = REPORT_FROM
) -> Transition:
    """Transition for a delivery report that ends in ``to``. The dispatcher narrows
    ``allowed_from`` to SENDING for a report that arrives with the submit outcome."""
    if to not in REPORT_STATUSES:
        raise ValueError(f"{to} is not a delivery report outcome")
    if not allowed_from <= REPORT_FROM:
        raise ValueError(f"a report applies only from {', '.join(sorted(REPORT_FROM))}")
    return Transition(f"report:{to}", allowed_from, to)


# --- Dialect name mapping --------------------------------------------------------
# Canonical state -> the name each dialect shows. ``None`` marks a state the dialect
# cannot express; its facade picks the nearest (documented in docs/lifecycle.md).

DIALECT_CAMPAIGN_STATUS: dict[str, dict[CampaignStatus, str]] = {
    "mobizon": {
        C.DRAFT: "NEW",
        C.MODERATION: "MODERATION",
        C.DECLINED: "DECLINED",
        C.QUEUED: "READY_FOR_SEND",
        C.SCHEDULED: "DEFERRED",
        C.RUNNING: "RUNNING",
        C.PAUSED: "RUNNING",
        C.STOPPED: "DONE",
        C.SENT: "SENT",
        C.DONE: "DONE",
    },
    "bsg": {
        C.DRAFT: "creation",
        C.MODERATION: "spam",
        C.DECLINED: "stopped",
        C.QUEUED: "scheduled",
        C.SCHEDULED: "scheduled",
        C.RUNNING: "sending",
        C.PAUSED: "paused",
        C.STOPPED: "stopped",
        C.SENT: "sending",
        C.DONE: "done",
    },
    "autocall": {
        C.DRAFT: "stop",
        C.MODERATION: "stop",
        C.DECLINED: "stop",
        C.QUEUED: "start",
        C.SCHEDULED: "start",
        C.RUNNING: "start",
        C.PAUSED: "pause",
        C.STOPPED: "stop",
        C.SENT: "start",
        C.DONE: "stop",
    },
    "isales": {
        C.DRAFT: "created",
        C.MODERATION: "created",
        C.DECLINED: "stopped",
        C.QUEUED: "created",
        C.SCHEDULED: "created",
        C.RUNNING: "running",
        C.PAUSED: "suspended",
        C.STOPPED: "stopped",
        C.SENT: "running",
        C.DONE: "completed",
    },
    "wolkvox": {
        C.DRAFT: "stop",
        C.MODERATION: "stop",
        C.DECLINED: "stop",
        C.QUEUED: "start",
        C.SCHEDULED: "start",
        C.RUNNING: "start",
        C.PAUSED: "stop",
        C.STOPPED: "stop",
        C.SENT: "start",
        C.DONE: "stop",
    },
}

# Dialect command -> canonical action.
DIALECT_ACTIONS: dict[str, dict[str, str]] = {
    "mobizon": {"start": "start"},
    "bsg": {"renew": "resume", "pause": "pause", "stop": "stop"},
    "autocall": {"start": "start", "pause": "pause", "stop": "stop"},
    "isales": {"running": "resume", "suspended": "pause", "stopped": "stop"},
    # wolkvox's stop is a pause (a stopped campaign can be started again); its start
    # also resumes what stop paused. The facade applies these (dialects/wolkvox).
    "wolkvox": {"start": "start", "stop": "pause"},
}


def dialect_status(dialect: str, status: CampaignStatus, *, moderated: bool = True) -> str:
    """The name ``dialect`` uses for canonical ``status``.

    Mobizon distinguishes a campaign that passed moderation automatically
    (AUTO_READY_FOR_SEND) from one a moderator approved (READY_FOR_SEND).
    """
    if dialect == "mobizon" and status is C.QUEUED and not moderated:
        return "AUTO_READY_FOR_SEND"
    return DIALECT_CAMPAIGN_STATUS[dialect][status]
