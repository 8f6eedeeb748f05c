"""Deferred campaign start and message validity (time to live).

Rules
-----
* A deferred start must be timezone-aware: a naive datetime is ambiguous
  across the server's and the client's zones, so it is refused rather than
  guessed. Dialects whose wire format has no offset (Mobizon's
  ``YYYY-MM-DD HH:MM:SS``) attach the account's zone before calling here.
* :func:`check_deferred_start` accepts ``now + min_delay <= start_at`` and,
  when ``max_delay`` is given, ``start_at <= now + max_delay``. Both bounds
  are inclusive. The native API uses the defaults: any time from ``now`` on is
  accepted and a past time is an error. The Mobizon dialect passes
  :data:`MOBIZON_MIN_DEFERRAL` (1 hour) and :data:`MOBIZON_MAX_DEFERRAL`
  (14 days), as documented for ``data[deferredToTs]``.
* Validity is a whole number of minutes counted from the moment a message is
  sent; :func:`expires_at` is ``sent_from + validity`` (``None`` when the
  message has no validity, i.e. the carrier default applies).

Choices
-------
* Validity bounds. Mobizon's Campaign page documents two ranges:
  ``ttl`` on ``Campaign/Get`` and ``Campaign/GetInfo`` is "from 1 min to 3
  days (4320 min)", while ``data[validity]`` on ``Campaign/Create`` is "from
  60 (1 hour) to 1440 (24 hours)". The general bounds
  :data:`MIN_VALIDITY_MINUTES` / :data:`MAX_VALIDITY_MINUTES` are the wider,
  documented ``ttl`` range 1..4320, which is what :func:`check_validity`
  enforces by default. The narrower create-time range is exported as
  :data:`MOBIZON_CREATE_MIN_VALIDITY_MINUTES` /
  :data:`MOBIZON_CREATE_MAX_VALIDITY_MINUTES`; a dialect that wants to
  enforce it passes them as ``minimum`` / ``maximum``.
* ``bool`` is refused as a validity even though it is an ``int`` subclass:
  ``True`` minutes is always a client bug.
* ``now`` is always passed in; this module never reads the clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta

__all__ = [
    "MAX_VALIDITY_MINUTES",
    "MIN_VALIDITY_MINUTES",
    "MOBIZON_CREATE_MAX_VALIDITY_MINUTES",
    "MOBIZON_CREATE_MIN_VALIDITY_MINUTES",
    "MOBIZON_MAX_DEFERRAL",
    "MOBIZON_MIN_DEFERRAL",
    "ScheduleError",
    "check_deferred_start",
    "check_validity",
    "expires_at",
]

MOBIZON_MIN_DEFERRAL = timedelta(hours=1)
MOBIZON_MAX_DEFERRAL = timedelta(days=14)

MIN_VALIDITY_MINUTES = 1
MAX_VALIDITY_MINUTES = 4320  # 72 hours, Mobizon's documented ``ttl`` maximum

MOBIZON_CREATE_MIN_VALIDITY_MINUTES = 60
MOBIZON_CREATE_MAX_VALIDITY_MINUTES = 1440


class ScheduleError(ValueError):
    """A deferred start or a validity is outside what is allowed."""


def _is_aware(moment: datetime) -> bool:
    return moment.tzinfo is not None and moment.utcoffset() is not None


def check_deferred_start(
    start_at: datetime,
    *,
    now: datetime,
    min_delay: timedelta = timedelta(0),
    max_delay: timedelta | None = None,
) -> None:
    """Raise :class:`ScheduleError` unless ``start_at`` is an allowed deferred start."""
    if not _is_aware(start_at):
        raise ScheduleError(
            f"deferred start {start_at.isoformat()} has no timezone; give an explicit UTC offset"
        )
    if not _is_aware(now):
        raise ValueError("now must be timezone-aware")
    earliest = now + min_delay
    if start_at < earliest:
        if min_delay:
            raise ScheduleError(
                f"deferred start {start_at.isoformat()} is too soon: it must be at least "
                f"{min_delay} after now, i.e. not before {earliest.isoformat()}"
            )
        raise ScheduleError(
            f"deferred start {start_at.isoformat()} is in the past (now is {now.isoformat()})"
        )
    if max_delay is not None:
        latest = now + max_delay
        if start_at > latest:
            raise ScheduleError(
                f"deferred start {start_at.isoformat()} is too far ahead: it must be at most "
                f"{max_delay} after now, i.e. not after {latest.isoformat()}"
            )


def check_validity(
    minutes: int,
    *,
    minimum: int = MIN_VALIDITY_MINUTES,
    maximum: int = MAX_VALIDITY_MINUTES,
) -> None:
    """Raise :class:`ScheduleError` unless ``minimum <= minutes <= maximum``."""
    if isinstance(minutes, bool) or not isinstance(minutes, int):
        raise ScheduleError(f"validity must be a whole number of minutes, got {minutes!r}")
    if not minimum <= minutes <= maximum:
        raise ScheduleError(
            f"validity of {minutes} minutes is out of range: "
            f"it must be from {minimum} to {maximum} minutes"
        )


def expires_at(sent_from: datetime, validity_minutes: int | None) -> datetime | None:
    """Return when a message sent at ``sent_from`` expires, or ``None`` without validity.

    The validity is checked with :func:`check_validity` (default bounds).
    """
    if validity_minutes is None:
        return None
    check_validity(validity_minutes)
    return sent_from + timedelta(minutes=validity_minutes)
