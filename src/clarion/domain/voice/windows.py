"""Weekly calling windows: per weekday, from/to as nanoseconds since local midnight.

Representation
--------------
autocall v3 stores a campaign's ``schedules`` as a list of objects with
``monday_start_time`` ... ``sunday_end_time``, each an integer number of
nanoseconds since local midnight (``28800000000000`` = 08:00,
``75600000000000`` = 21:00). :class:`WeeklyHours` keeps exactly that: for each
weekday (Monday first) a sorted tuple of half-open intervals ``[start, end)`` in
nanoseconds, ``0 <= start <= end <= 86_400 * 10**9``. Several schedule objects
give several intervals a day (overlaps are merged). ``start == end`` (autocall
writes ``0``/``0``) closes the day. ``end < start`` (a window across midnight) is
refused: write it as two days' intervals instead.

Meaning in a time zone
----------------------
The numbers are WALL-CLOCK times of day in the campaign's time zone, not elapsed
time since midnight: ``08:00`` stays ``08:00`` on the day the clocks change. An
instant is inside the windows when its local wall-clock time (date, weekday and time
of day in ``tz``) falls in one of that weekday's intervals. That one definition
settles daylight saving time:

* spring forward (a wall-clock hour is skipped): a window that starts inside the
  skipped hour opens at the first instant after the gap (e.g. Berlin 02:30 -> 03:00
  CEST); a window lying wholly inside the gap does not open that day;
* fall back (a wall-clock hour happens twice): both occurrences are inside a window
  that covers that wall time, so a window from 02:00 to 02:30 is open twice that
  night, and a window's length on that day is one hour longer if it spans the fold.

:func:`is_open` tests one instant, :func:`next_open` finds the first open instant
at or after ``now``, :func:`window_end` the instant the current window closes (the
engine pauses the campaign with reason ``window`` there, and resumes it at
:func:`next_open`). All three agree exactly, to the microsecond (``datetime``'s
resolution; nanosecond bounds are rounded up to the next microsecond). Results are
aware datetimes in UTC. An empty ``schedules`` list means "no windows": always open.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from clarion.domain.voice.errors import WindowError

__all__ = [
    "DAYS",
    "NS_PER_DAY",
    "WeeklyHours",
    "WindowError",
    "is_open",
    "next_open",
    "ns_of_day",
    "window_end",
]

NS_PER_DAY = 86_400 * 10**9
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_HORIZON = timedelta(days=15)  # a non-empty week always opens within 7 days (+ a DST gap)
_PROBE = timedelta(hours=6)  # no zone has changed its offset twice within 6 hours
_MICRO = timedelta(microseconds=1)

Interval = tuple[int, int]


def ns_of_day(moment: time) -> int:
    """Nanoseconds since midnight of a wall-clock time (``time(8)`` -> ``28800000000000``)."""
    seconds = moment.hour * 3600 + moment.minute * 60 + moment.second
    return seconds * 10**9 + moment.microsecond * 1000


def _merge(intervals: Sequence[Interval]) -> tuple[Interval, ...]:
    merged: list[Interval] = []
    for start, end in sorted(i for i in intervals if i[0] < i[1]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return tuple(merged)


def _bound(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise WindowError(name, f"must be a whole number of nanoseconds, got {value!r}")
    if not 0 <= value <= NS_PER_DAY:
        raise WindowError(name, f"must be from 0 to {NS_PER_DAY} (24:00), got {value}")
    return value


@dataclass(frozen=True, slots=True)
class WeeklyHours:
    """Open intervals per weekday (``days[0]`` is Monday), ns since local midnight."""

    days: tuple[tuple[Interval, ...], ...]

    def __post_init__(self) -> None:
        if len(self.days) != 7:
            raise WindowError("schedules", f"needs 7 weekdays, got {len(self.days)}")
        normalised = []
        for name, intervals in zip(DAYS, self.days, strict=True):
            for start, end in intervals:
                _bound(start, f"{name}_start_time")
                _bound(end, f"{name}_end_time")
                if end < start:
                    raise WindowError(
                        f"{name}_end_time",
                        f"{end} is before {name}_start_time {start}; "
                        "a window cannot cross midnight",
                    )
            normalised.append(_merge(intervals))
        object.__setattr__(self, "days", tuple(normalised))

    @classmethod
    def always(cls) -> WeeklyHours:
        return cls((((0, NS_PER_DAY),),) * 7)

    @classmethod
    def daily(cls, start: int | time, end: int | time) -> WeeklyHours:
        """The same interval every day; ``start``/``end`` in ns or as ``time``."""
        s = ns_of_day(start) if isinstance(start, time) else start
        e = ns_of_day(end) if isinstance(end, time) else end
        return cls((((s, e),),) * 7)

    @classmethod
    def from_autocall(cls, schedules: Sequence[Mapping[str, Any]]) -> WeeklyHours:
        """Read autocall's ``schedules`` list; ``[]`` means always open.

        Each object must have both or neither of a day's ``_start_time``/``_end_time``
        (neither = closed that day); unknown keys are refused.
        """
        if isinstance(schedules, str | bytes | Mapping) or not isinstance(schedules, Sequence):
            raise WindowError("schedules", f"must be a list of objects, got {schedules!r}")
        if not schedules:
            return cls.always()
        known = {f"{d}_{edge}_time" for d in DAYS for edge in ("start", "end")}
        days: list[list[Interval]] = [[] for _ in DAYS]
        for index, schedule in enumerate(schedules):
            where = f"schedules[{index}]" if len(schedules) > 1 else "schedules"
            if not isinstance(schedule, Mapping):
                raise WindowError(where, f"must be an object, got {schedule!r}")
            unknown = sorted(set(schedule) - known)
            if unknown:
                raise WindowError(f"{where}.{unknown[0]}", "is not a weekday start/end time")
            for day, name in enumerate(DAYS):
                start_key, end_key = f"{name}_start_time", f"{name}_end_time"
                if start_key not in schedule and end_key not in schedule:
                    continue
                for key in (start_key, end_key):
                    if key not in schedule:
                        raise WindowError(key, f"is missing while {name}'s other bound is given")
                start = _bound(schedule[start_key], start_key)
                end = _bound(schedule[end_key], end_key)
                if end < start:
                    raise WindowError(
                        end_key,
                        f"{end} is before {start_key} {start}; a window cannot cross midnight",
                    )
                days[day].append((start, end))
        return cls(tuple(tuple(d) for d in days))

    def to_autocall(self) -> list[dict[str, int]]:
        """autocall's ``schedules``: one object per interval rank (a closed day is 0/0)."""
        count = max(1, *(len(d) for d in self.days))
        out: list[dict[str, int]] = []
        for rank in range(count):
            entry: dict[str, int] = {}
            for name, intervals in zip(DAYS, self.days, strict=True):
                start, end = intervals[rank] if rank < len(intervals) else (0, 0)
                entry[f"{name}_start_time"] = start
                entry[f"{name}_end_time"] = end
            out.append(entry)
        return out

    @property
    def is_never(self) -> bool:
        """No instant is ever inside (``datetime`` counts microseconds: ``[1, 2)`` ns is empty)."""
        return not any(-(-s // 1000) * 1000 < e for day in self.days for s, e in day)


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(UTC)


def is_open(hours: WeeklyHours, tz: tzinfo, now: datetime) -> bool:
    """Whether ``now``'s wall-clock time in ``tz`` is inside one of its weekday's intervals."""
    local = _aware(now).astimezone(tz)
    ns = ns_of_day(local.time())
    return any(start <= ns < end for start, end in hours.days[local.weekday()])


def _offset(tz: tzinfo, moment: datetime) -> timedelta:
    offset = moment.astimezone(tz).utcoffset()
    if offset is None:  # pragma: no cover - astimezone always gives an offset
        raise ValueError(f"time zone {tz} has no UTC offset")
    return offset


def _segments(tz: tzinfo, start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Split ``[start, end)`` (UTC) into pieces over which ``tz``'s offset is constant."""
    lo = start
    while lo < end:
        offset = _offset(tz, lo)
        probe = min(lo + _PROBE, end)
        while probe < end and _offset(tz, probe) == offset:
            probe = min(probe + _PROBE, end)
        last = probe - _MICRO
        if _offset(tz, last) == offset:
            yield lo, probe
            lo = probe
            continue
        # The offset changes in (probe - _PROBE, probe): find the first instant that differs.
        good, bad = max(lo, probe - _PROBE), last
        while bad - good > _MICRO:
            mid = good + (bad - good) // 2
            if _offset(tz, mid) == offset:
                good = mid
            else:
                bad = mid
        yield lo, bad
        lo = bad


def _micros_ceil(ns: int) -> timedelta:
    return timedelta(microseconds=-(-ns // 1000))


def _pieces(hours: WeeklyHours, tz: tzinfo, start: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Open pieces ``[lo, hi)`` (UTC, ascending, maybe adjacent) within the horizon."""
    for seg_lo, seg_hi in _segments(tz, start, start + _HORIZON):
        offset = _offset(tz, seg_lo)
        wall_lo = (seg_lo + offset).replace(tzinfo=None)
        wall_hi = (seg_hi + offset).replace(tzinfo=None)
        day: date = wall_lo.date()
        found: list[tuple[datetime, datetime]] = []
        while day <= (wall_hi - _MICRO).date():
            midnight = datetime.combine(day, time(), tzinfo=UTC) - offset
            for begin, finish in hours.days[day.weekday()]:
                lo = max(seg_lo, midnight + _micros_ceil(begin))
                hi = min(seg_hi, midnight + _micros_ceil(finish))
                if lo < hi:
                    found.append((lo, hi))
            day += timedelta(days=1)
        yield from sorted(found)


def _runs(hours: WeeklyHours, tz: tzinfo, start: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Maximal open runs ``[lo, hi)`` from ``start`` on; ``hi`` is capped at the horizon."""
    run: tuple[datetime, datetime] | None = None
    for lo, hi in _pieces(hours, tz, start):
        if run is not None and lo <= run[1]:
            run = (run[0], max(run[1], hi))
            continue
        if run is not None:
            yield run
        run = (lo, hi)
    if run is not None:
        yield run


def next_open(hours: WeeklyHours, tz: tzinfo, now: datetime) -> datetime | None:
    """The first instant at or after ``now`` inside a window (``now`` if open), in UTC.

    ``None`` when no window opens within 15 days (a week with no open interval).
    """
    start = _aware(now)
    if is_open(hours, tz, start):
        return start
    for lo, _hi in _runs(hours, tz, start):
        return lo
    return None


def window_end(hours: WeeklyHours, tz: tzinfo, now: datetime) -> datetime | None:
    """When the window open at ``now`` closes (UTC): the first later instant not open.

    ``now`` itself when closed at ``now``; ``None`` when it stays open for the next
    15 days (always-open hours).
    """
    start = _aware(now)
    if not is_open(hours, tz, start):
        return start
    for lo, hi in _runs(hours, tz, start):
        if lo > start:  # pragma: no cover - start is open, so the first run starts there
            return start
        return None if hi >= start + _HORIZON else hi
    return None  # pragma: no cover - unreachable while start is open
