"""What the dashboard pages show, computed from counters and rows (no I/O here)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import urlencode

from clarion.domain.lifecycle import CampaignStatus, MessageStatus

M = MessageStatus
DELIVERED = (M.DELIVERED, M.PDLIVRD, M.READ)
FAILED = (M.UNDELIVERED, M.REJECTED, M.EXPIRED, M.UNKNOWN)
IN_FLIGHT = (M.SENDING, M.ACCEPTED)
# Campaigns whose counters can still move (the page keeps polling them).
LIVE_STATUSES = frozenset(
    {
        CampaignStatus.MODERATION,
        CampaignStatus.QUEUED,
        CampaignStatus.SCHEDULED,
        CampaignStatus.RUNNING,
        CampaignStatus.PAUSED,
        CampaignStatus.SENT,
    }
)
STATUS_HELP = {
    "DRAFT": "being prepared: add recipients, then start",
    "MODERATION": "waiting for a moderator",
    "DECLINED": "declined by moderation",
    "QUEUED": "approved, waiting for its start time",
    "SCHEDULED": "waiting for its start time",
    "RUNNING": "sending",
    "PAUSED": "paused",
    "STOPPED": "stopped by the operator",
    "SENT": "every message submitted; waiting for delivery reports",
    "DONE": "finished",
}


VOICE_STATUS_HELP = {
    **STATUS_HELP,
    "DRAFT": "being prepared: add numbers, then start",
    "RUNNING": "calling",
    "SENT": "every number called; waiting for the last calls to end",
}


def status_help(status: str, *, channel: str, pause_reason: str | None = None) -> str:
    """What a campaign's status means, in its channel's words."""
    if channel != "voice":
        return STATUS_HELP.get(status, "")
    if status == CampaignStatus.PAUSED and pause_reason == "window":
        return "waiting for its calling window"
    return VOICE_STATUS_HELP.get(status, "")


@dataclass(frozen=True, slots=True)
class Summary:
    """A campaign's progress in operator terms."""

    total: int  # every message except those deleted by a stop
    pending: int  # NEW: not yet sent
    in_flight: int  # SENDING / ACCEPTED: with the carrier, no final report yet
    delivered: int
    failed: int  # UNDELIVERED / REJECTED / EXPIRED / UNKNOWN
    deleted: int

    @property
    def sent(self) -> int:
        """Messages that left (or were settled without leaving): all but NEW."""
        return self.total - self.pending

    @property
    def final(self) -> int:
        return self.delivered + self.failed

    @property
    def percent(self) -> int:
        return int(self.final * 100 // self.total) if self.total else 0

    def as_dict(self) -> dict[str, int]:
        return {
            "total": self.total,
            "pending": self.pending,
            "in_flight": self.in_flight,
            "sent": self.sent,
            "delivered": self.delivered,
            "failed": self.failed,
            "deleted": self.deleted,
            "percent": self.percent,
        }


def summarise(messages: Mapping[str, int]) -> Summary:
    def total_of(statuses: Sequence[str]) -> int:
        return sum(messages.get(s, 0) for s in statuses)

    deleted = messages.get(M.DELETED, 0)
    return Summary(
        total=sum(messages.values()) - deleted,
        pending=messages.get(M.NEW, 0),
        in_flight=total_of(IN_FLIGHT),
        delivered=total_of(DELIVERED),
        failed=total_of(FAILED),
        deleted=deleted,
    )


def money(value: Decimal | None, currency: str = "") -> str:
    """A Decimal amount with at least 2 and at most 6 decimals (never a float)."""
    if value is None:
        return "—"
    cents = value.quantize(Decimal("0.01"))
    text = f"{cents:,}" if value == cents else f"{value.normalize():,f}"
    return f"{text} {currency}".strip()


def when(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def number(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


# --- delivery over time ---------------------------------------------------------

NICE_BUCKETS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400)
MAX_BUCKETS = 60


def bucket_size(first: datetime, last: datetime) -> int:
    """The smallest nice bucket (seconds) that covers [first, last] in at most
    ``MAX_BUCKETS`` buckets."""
    span = max((last - first).total_seconds(), 1.0)
    for size in NICE_BUCKETS:
        if span / size <= MAX_BUCKETS:
            return size
    return int(span // MAX_BUCKETS) + 1


def timeline(
    counts: Sequence[tuple[int, str, int]], *, bucket_seconds: int
) -> list[dict[str, int]]:
    """Per bucket (start in Unix seconds): delivered and failed messages; buckets
    without any are filled in so the chart's time axis is even."""
    by_bucket: dict[int, dict[str, int]] = {}
    for bucket, status, count in counts:
        slot = by_bucket.setdefault(bucket, {"delivered": 0, "failed": 0})
        if status in DELIVERED:
            slot["delivered"] += count
        elif status in FAILED:
            slot["failed"] += count
    if not by_bucket:
        return []
    first, last = min(by_bucket), max(by_bucket)
    return [
        {"t": b * bucket_seconds, **by_bucket.get(b, {"delivered": 0, "failed": 0})}
        for b in range(first, last + 1)
    ]


# --- pagination -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pager:
    page: int
    size: int
    total: int
    params: tuple[tuple[str, str], ...] = ()

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size

    @property
    def first_item(self) -> int:
        return self.offset + 1 if self.total else 0

    @property
    def last_item(self) -> int:
        return min(self.offset + self.size, self.total)

    def link(self, page: int) -> str:
        return "?" + urlencode([*self.params, ("page", str(page))])

    @property
    def previous(self) -> str | None:
        return self.link(self.page - 1) if self.page > 1 else None

    @property
    def next(self) -> str | None:
        return self.link(self.page + 1) if self.page < self.pages else None


def page_number(raw: str | None) -> int:
    try:
        value = int(raw or "1")
    except ValueError:
        return 1
    return min(max(value, 1), 100_000)
