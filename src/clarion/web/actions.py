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
# The same notices for a voice campaign where its words differ.
VOICE_NOTICES = {
    **NOTICES,
    "start": "Campaign started: calls are being placed.",
    "pause": "Campaign paused: calls in progress finish, no new call starts.",
    "stop": "Campaign stopped; numbers not yet called were dropped.",
    "created": "Campaign created. Add numbers, then start it.",
    "added": "Numbers added.",
    "cleared": "Numbers removed.",
}
WINDOW_PAUSE_NOTE = (
    "It is waiting for its calling window. Pause keeps it paused when the window opens, "
    "until you resume it."
)
WINDOW_RESUME_REASON = "Paused outside its calling window: calling resumes by itself when it opens"
VOICE_RETRY_REASON = "Voice campaigns call numbers again by their recall policy"


def notice(key: str | None, *, channel: str) -> str | None:
    """The message shown after an action (keyed, so no text is echoed from a URL)."""
    return (VOICE_NOTICES if channel == "voice" else NOTICES).get(key or "")


@dataclass(frozen=True, slots=True)
class Offer:
    action: str
    label: str
    allowed: bool
    reason: str = ""  # why not, when not allowed
    visible: bool = True
    danger: bool = False
    note: str = ""  # what an allowed action does here, when that needs saying


def _statuses(action: str) -> str:
    return ", ".join(sorted(CAMPAIGN_TRANSITIONS[action].allowed_from))


def offers(
    *,
    status: str,
    pause_reason: str | None,
    messages: Mapping[str, int],
    importing: bool,
    channel: str = "sms",
    window_opens: str | None = None,
) -> list[Offer]:
    """One :class:`Offer` per action, in display order. ``messages`` counts the
    campaign's messages per status.

    A voice campaign recalls by its policy, not by "retry" (hidden); paused by its
    calling window (``window_opens`` says when it opens), it resumes by itself, so
    Resume is not offered and Pause is: it makes the pause the operator's."""
    out: list[Offer] = []
    voice = channel == "voice"
    window_pause = voice and status == CampaignStatus.PAUSED and pause_reason == PauseReason.WINDOW
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
        note = ""
        if voice:
            if action == "retry":
                reason, visible = VOICE_RETRY_REASON, False
            elif action == "start" and reason == "Add recipients first":
                reason = "Add numbers first"
            elif window_pause and action == "pause":
                reason, note = "", WINDOW_PAUSE_NOTE
            elif window_pause and action == "resume":
                reason = WINDOW_RESUME_REASON + (f" ({window_opens})" if window_opens else "")
        out.append(
            Offer(
                action=action,
                label=LABELS[action],
                allowed=not reason,
                reason=reason,
                visible=visible,
                danger=action == "stop",
                note=note,
            )
        )
    return out
