"""Wall-clock timestamps as the vendors write them: ``YYYY-MM-DD HH:MM:SS`` in the
account's time zone (Mobizon, BSG). Pure functions; stored times are aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

TIMESTAMP = "%Y-%m-%d %H:%M:%S"


def zone(name: str | None) -> tzinfo:
    """The account's IANA time zone; UTC when unset or unknown."""
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def timestamp(moment: datetime | None, tz: tzinfo) -> str | None:
    """An aware moment as ``YYYY-MM-DD HH:MM:SS`` in ``tz`` (None stays None)."""
    if moment is None:
        return None
    return moment.astimezone(tz).strftime(TIMESTAMP)


def parse_timestamp(text: str, tz: tzinfo) -> datetime:
    """``YYYY-MM-DD HH:MM:SS`` read in ``tz``, as an aware UTC datetime (ValueError if
    malformed). A wall time that occurs twice (DST end) is its first occurrence."""
    local = datetime.strptime(text.strip(), TIMESTAMP)
    return local.replace(tzinfo=tz).astimezone(UTC)
