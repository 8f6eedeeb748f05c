"""Allowed calling hours in the RECIPIENT's local time, from the phone number.

A campaign's windows (:mod:`.windows`) are in the campaign's zone; a nationwide list
can still reach people whose clock says 07:00 or 22:00. With this option on, a call
may start only when the recipient's own local time is inside allowed
:class:`~.windows.WeeklyHours` (e.g. ``WeeklyHours.daily(time(8), time(21))``).

The zone(s) come from ``phonenumbers.timezone.time_zones_for_number``: the number's
prefix geography (a geographic number's area, or the whole country for mobiles and
non-geographic numbers). Number portability and roaming are invisible here.

Choice: when a number maps to SEVERAL zones (a Russian or Australian mobile, a US
toll-free number) we are conservative: a call may start only when the local time in
EVERY one of those zones is inside the allowed hours. Calling someone at 07:00 is a
complaint; calling them an hour later costs nothing. The price: a number spanning
many zones is callable only where their allowed hours overlap (a ``+1 800`` number
maps to 42 zones from Guam to Newfoundland: with 08:00-21:00, only around 22:00 UTC
in June), and if they never overlap :func:`next_allowed_start` returns ``None``, so
the engine can finish that recipient with a reason instead of waiting forever. When the
number is unparseable or phonenumbers does not know its zone (``Etc/Unknown``), the
caller's ``fallback`` zone (the campaign's) is used.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as number_zones

from clarion.domain.voice.windows import WeeklyHours, is_open, next_open

__all__ = [
    "may_start_call",
    "next_allowed_start",
    "recipient_time_zones",
]

_UNKNOWN = "Etc/Unknown"
_SEARCH = timedelta(days=8)


@lru_cache(maxsize=1024)
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def recipient_time_zones(phone: str, *, fallback: tzinfo) -> tuple[tzinfo, ...]:
    """The time zone(s) a phone number (E.164) may be in; ``(fallback,)`` when unknown."""
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return (fallback,)
    names = number_zones.time_zones_for_number(number)
    zones = tuple(z for n in names if n != _UNKNOWN and (z := _zone(n)) is not None)
    return zones or (fallback,)


def may_start_call(hours: WeeklyHours, zones: Sequence[tzinfo], now: datetime) -> bool:
    """Whether a call may start ``now``: ``now`` is inside ``hours`` in EVERY zone."""
    if not zones:
        raise ValueError("zones must not be empty")
    return all(is_open(hours, zone, now) for zone in zones)


def next_allowed_start(
    hours: WeeklyHours, zones: Sequence[tzinfo], now: datetime
) -> datetime | None:
    """The first instant at or after ``now`` allowed in every zone (UTC), or ``None``.

    ``None`` when the zones' allowed hours never overlap within 8 days.
    """
    if not zones:
        raise ValueError("zones must not be empty")
    moment: datetime | None = next_open(hours, zones[0], now)
    if moment is None:
        return None
    limit = moment + _SEARCH
    while moment <= limit:
        later = moment
        for zone in zones:
            opened = next_open(hours, zone, later)
            if opened is None:
                return None
            later = opened
        if later == moment:
            return moment
        moment = later
    return None
