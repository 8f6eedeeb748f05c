"""Search parameters of Mobizon's ``List`` methods: pagination, sorting, date windows.

Pure: ``now`` and the account's zone are passed in. A bad value is code 12 (a
parameter that does not meet the method's conditions).

Campaign/List date windows (Mobizon's rules):

* ``criteria[createDateFrom]`` + optional ``createTimeFrom`` (and ``...To``,
  likewise ``sentDate...`` / ``sentTime...``, also spelled ``sendTime...``) are dates
  and times in the account's zone; a date alone starts at 00:00:00 and ends at
  23:59:59; a time without its date is ignored. ``createTsFrom`` / ``createTsTo`` /
  ``sentTsFrom`` / ``sentTsTo`` (``YYYY-MM-DD HH:MM:SS``) are accepted too.
* A window is at most 90 days: a longer one keeps the 90 days before its end; with
  only one end given, the other is set 90 days away.
* Without any creation or launch window, and without ``id`` / ``ids``, the creation
  window is from 00:00:00 of the day 24 hours ago until now.
* A window whose start is after its end finds nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Any

from clarion.dialects.mobizon import form, values
from clarion.dialects.mobizon.wire import PARAMETER_LIMIT, MobizonError

MAX_WINDOW = timedelta(days=90)
DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 100
_DAY_END = time(23, 59, 59)


def _fail(message: str) -> MobizonError:
    return MobizonError(PARAMETER_LIMIT, message)


def mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


@dataclass(frozen=True, slots=True)
class Page:
    size: int
    number: int

    @property
    def offset(self) -> int:
        return self.size * self.number


def page(params: Mapping[str, Any]) -> Page:
    """``pagination[pageSize]`` (default 25, at most 100) and ``pagination[currentPage]``
    (from 0)."""
    source = mapping(params.get("pagination"))
    size, number = DEFAULT_PAGE_SIZE, 0
    if source.get("pageSize") not in (None, ""):
        parsed = values.integer(source.get("pageSize"))
        if parsed is None or parsed < 1:
            raise _fail("pagination[pageSize] must be a positive integer")
        size = min(parsed, MAX_PAGE_SIZE)
    if source.get("currentPage") not in (None, ""):
        parsed = values.integer(source.get("currentPage"))
        if parsed is None or parsed < 0 or parsed > 10_000_000:
            raise _fail("pagination[currentPage] must be an integer from 0")
        number = parsed
    return Page(size, number)


def sort(params: Mapping[str, Any], fields: Mapping[str, str], default: str) -> tuple[str, bool]:
    """``sort[field]=ASC|DESC`` -> (store sort key, descending). The first field given
    counts; without one, ``default`` descending."""
    source = mapping(params.get("sort"))
    for name, direction in source.items():
        if name not in fields:
            listed = ", ".join(sorted(fields))
            raise _fail(f"cannot sort by {name!r}; sort by one of {listed}")
        word = str(direction).strip().upper() if isinstance(direction, str | int) else ""
        if word not in ("ASC", "DESC"):
            raise _fail(f"sort[{name}] must be ASC or DESC")
        return fields[name], word == "DESC"
    return default, True


def ids(value: Any, *, limit: int, name: str) -> list[int]:
    """An id list (array or comma-separated); only the first ``limit`` count."""
    out: list[int] = []
    for item in form.items(value):
        number = values.integer(item)
        if number is None or number < 1:
            raise _fail(f"{name} must hold positive integer ids")
        out.append(number)
    return out[:limit]


def _date(text: Any, name: str) -> datetime | None:
    if text in (None, ""):
        return None
    try:
        return datetime.strptime(str(text).strip(), values.DATE)
    except ValueError:
        raise _fail(f"criteria[{name}] must be a date as YYYY-MM-DD") from None


def _time(text: Any, name: str) -> time | None:
    if text in (None, ""):
        return None
    try:
        return datetime.strptime(str(text).strip(), values.TIME).time()
    except ValueError:
        raise _fail(f"criteria[{name}] must be a time as HH:MM:SS") from None


def _stamp(text: Any, name: str, tz: tzinfo) -> datetime | None:
    if text in (None, ""):
        return None
    try:
        return values.parse_timestamp(str(text), tz)
    except ValueError:
        raise _fail(f"criteria[{name}] must be a date and time as YYYY-MM-DD HH:MM:SS") from None


def _local(day: datetime, at: time, tz: tzinfo) -> datetime:
    return datetime.combine(day.date(), at).replace(tzinfo=tz).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime | None
    end: datetime | None

    @property
    def given(self) -> bool:
        return self.start is not None or self.end is not None

    @property
    def empty(self) -> bool:
        return self.start is not None and self.end is not None and self.start > self.end


def window(
    criteria: Mapping[str, Any],
    *,
    date_from: str,
    time_from: tuple[str, ...],
    date_to: str,
    time_to: tuple[str, ...],
    stamp_from: str,
    stamp_to: str,
    tz: tzinfo,
) -> Window:
    """A date window from its date / time criteria (time names: accepted spellings)."""
    start = _stamp(criteria.get(stamp_from), stamp_from, tz)
    end = _stamp(criteria.get(stamp_to), stamp_to, tz)
    if start is None:
        day = _date(criteria.get(date_from), date_from)
        if day is not None:
            at = next((_time(criteria.get(n), n) for n in time_from if criteria.get(n)), None)
            start = _local(day, at or time(0, 0, 0), tz)
    if end is None:
        day = _date(criteria.get(date_to), date_to)
        if day is not None:
            at = next((_time(criteria.get(n), n) for n in time_to if criteria.get(n)), None)
            end = _local(day, at or _DAY_END, tz)
    return Window(start, end)


def stamps(criteria: Mapping[str, Any], low: str, high: str, tz: tzinfo) -> Window:
    """A window of two ``YYYY-MM-DD HH:MM:SS`` criteria (Message/List)."""
    return Window(_stamp(criteria.get(low), low, tz), _stamp(criteria.get(high), high, tz))


def bounded(found: Window) -> Window:
    """At most :data:`MAX_WINDOW`: keep the end; a lone end gets its partner."""
    start, end = found.start, found.end
    if start is None and end is None:
        return found
    if start is None:
        assert end is not None
        return Window(end - MAX_WINDOW, end)
    if end is None:
        return Window(start, start + MAX_WINDOW)
    if end - start > MAX_WINDOW:
        return Window(end - MAX_WINDOW, end)
    return found


def last_day(now: datetime, tz: tzinfo) -> Window:
    """From 00:00:00 (account time) of the day 24 hours ago until ``now``."""
    earlier = (now - timedelta(hours=24)).astimezone(tz)
    start = datetime.combine(earlier.date(), time(0, 0, 0)).replace(tzinfo=tz)
    return Window(start.astimezone(UTC), now)
