"""Which lifecycle actions the dashboard offers for a campaign, and why not the others.

The answer comes from the transition table (``domain.lifecycle``) plus the few
preconditions the services check besides the status (recipients to send, an import
still running, failed messages to retry, a pause for funds). The services remain
the judges: an action offered here can still be refused (a race), and the page then
shows the service's reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from clarion.domain.lifecycle import (
    CAMPAIGN_TRANSITIONS,
    RETRYABLE_MESSAGE_STATUSES,
    CampaignStatus,
    MessageStatus,
    PauseReason,
)

ACTIONS = ("start", "pause", "resume", "renew", "stop", "retry")

LABELS = {
    "start": "Start",
    "pause": "Pause",
    "resume": "Resume",
    "renew": "Renew (after top-up)",
    "stop": "Stop",
    "retry": "Retry failed",
}

# Done message shown after an action succeeds (keyed, so no text is echoed from a URL).
NOTICES = {
    "start": "Campaign started.",
    "pause": "Campaign paused.",
    "resume": "Campaign resumed.",
    "renew": "Campaign renewed.",
    "stop": "Campaign stopped; messages not yet sent were deleted.",
    "retry": "Failed messages were queued again.",
    "created": "Campaign created. Add recipients, then start it.",
    "deleted": "Campaign deleted.",
    "added": "Recipients added.",
    "cleared": "Recipients removed.",
}


@dataclass(frozen=True, slots=True)
class Offer:
    action: str
    label: str
    allowed: bool
    reason: str = ""  # why not, when not allowed
    visible: bool = True
    danger: bool = False


def _statuses(action: str) -> str:
    return ", ".join(sorted(CAMPAIGN_TRANSITIONS[action].allowed_from))


def offers(
    *,
    status: str,
    pause_reason: str | None,
    messages: Mapping[str, int],
    importing: bool,
) -> list[Offer]:
    """One :class:`Offer` per action, in display order. ``messages`` counts the
    campaign's messages per status."""
    out: list[Offer] = []
    for action in ACTIONS:
        allowed_from = CAMPAIGN_TRANSITIONS["resume" if action == "renew" else action].allowed_from
        reason = ""
        visible = True
        if status not in allowed_from:
            if action == "renew":
                reason = "Renew resumes only a campaign paused for lack of funds"
            else:
                reason = (
                    f"{LABELS[action]} is possible only when the campaign is {_statuses(action)}"
                )
        elif action == "start":
            if importing:
                reason = "Recipients are still being imported"
            elif messages.get(MessageStatus.NEW, 0) == 0:
                reason = "Add recipients first"
        elif action == "renew" and pause_reason != PauseReason.FUNDS:
            reason = "Renew resumes only a campaign paused for lack of funds"
        elif action == "retry" and not any(messages.get(s, 0) for s in RETRYABLE_MESSAGE_STATUSES):
            reason = "No undelivered, expired or rejected messages to retry"
        if action == "renew" and not (
            status == CampaignStatus.PAUSED and pause_reason == PauseReason.FUNDS
        ):
            visible = False  # only meaningful after a funds pause
        out.append(
            Offer(
                action=action,
                label=LABELS[action],
                allowed=not reason,
                reason=reason,
                visible=visible,
                danger=action == "stop",
            )
        )
    return out
