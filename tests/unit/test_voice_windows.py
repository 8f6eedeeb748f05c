"""Weekly calling windows (ns since local midnight) and recipient-local quiet hours."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clarion.domain.voice.quiet_hours import (
    may_start_call,
    next_allowed_start,
    recipient_time_zones,
)
from clarion.domain.voice.windows import (
    NS_PER_DAY,
    WeeklyHours,
    WindowError,
    is_open,
    next_open,
    ns_of_day,
    window_end,
)

HOUR = 3600 * 10**9
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
HCM = ZoneInfo("Asia/Ho_Chi_Minh")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")  # a 30-minute DST shift
SEED_SCHEDULE = {  # the autocall v3 seed: 08:00-21:00 every day
    f"{day}_{edge}_time": value
    for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    for edge, value in (("start", 28800000000000), ("end", 75600000000000))
}
OFFICE = WeeklyHours.daily(time(8), time(21))
# Phonenumbers and zoneinfo load data lazily; a deadline would be a timing assertion.
no_deadline = settings(deadline=None)


def test_seed_schedule_is_eight_to_nine() -> None:
    hours = WeeklyHours.from_autocall([SEED_SCHEDULE])
    assert hours == OFFICE
    assert ns_of_day(time(8)) == 28800000000000
    assert ns_of_day(time(21)) == 75600000000000
    assert hours.to_autocall() == [SEED_SCHEDULE]


def test_empty_schedules_mean_always_open_and_zero_closes_a_day() -> None:
    assert WeeklyHours.from_autocall([]) == WeeklyHours.always()
    weekdays_only = {**SEED_SCHEDULE, "saturday_end_time": 0, "saturday_start_time": 0}
    del weekdays_only["sunday_start_time"], weekdays_only["sunday_end_time"]
    hours = WeeklyHours.from_autocall([weekdays_only])
    assert hours.days[5] == () and hours.days[6] == ()
    saturday_noon = datetime(2025, 3, 15, 11, 0, tzinfo=UTC)
    assert not is_open(hours, BERLIN, saturday_noon)
    assert next_open(hours, BERLIN, saturday_noon) == datetime(2025, 3, 17, 7, 0, tzinfo=UTC)


def test_several_schedules_are_several_intervals() -> None:
    morning = {"monday_start_time": 8 * HOUR, "monday_end_time": 12 * HOUR}
    afternoon = {"monday_start_time": 14 * HOUR, "monday_end_time": 18 * HOUR}
    hours = WeeklyHours.from_autocall([afternoon, morning])
    assert hours.days[0] == ((8 * HOUR, 12 * HOUR), (14 * HOUR, 18 * HOUR))
    assert WeeklyHours.from_autocall(hours.to_autocall()) == hours
    lunch = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)  # Monday 13:00 in Berlin
    assert not is_open(hours, BERLIN, lunch)
    assert next_open(hours, BERLIN, lunch) == datetime(2025, 3, 10, 13, 0, tzinfo=UTC)
    overlapping = WeeklyHours.from_autocall([morning, {**morning, "monday_end_time": 13 * HOUR}])
    assert overlapping.days[0] == ((8 * HOUR, 13 * HOUR),)


@pytest.mark.parametrize(
    ("schedules", "field", "words"),
    [
        ([{"monday_start_time": -1, "monday_end_time": 5}], "monday_start_time", "from 0 to"),
        (
            [{"monday_start_time": 0, "monday_end_time": NS_PER_DAY + 1}],
            "monday_end_time",
            "from 0 to",
        ),
        ([{"monday_start_time": 9 * HOUR, "monday_end_time": HOUR}], "monday_end_time", "midnight"),
        ([{"monday_start_time": "8:00", "monday_end_time": HOUR}], "monday_start_time", "whole"),
        ([{"monday_start_time": True, "monday_end_time": HOUR}], "monday_start_time", "whole"),
        ([{"monday_start_time": 8 * HOUR}], "monday_end_time", "missing"),
        ([{"funday_start_time": 0}], "schedules.funday_start_time", "not a weekday"),
        ([{}, {"moonday_end_time": 0}], "schedules[1].moonday_end_time", "not a weekday"),
        ("08:00", "schedules", "list"),
        ([5], "schedules", "object"),
    ],
)
def test_invalid_schedules_name_the_field(schedules: object, field: str, words: str) -> None:
    with pytest.raises(WindowError, match=words) as info:
        WeeklyHours.from_autocall(schedules)  # type: ignore[arg-type]
    assert info.value.field == field


def test_open_close_and_end_in_the_campaign_zone() -> None:
    monday = datetime(2025, 3, 10, 6, 59, 59, tzinfo=UTC)  # 07:59:59 in Berlin
    assert not is_open(OFFICE, BERLIN, monday)
    assert is_open(OFFICE, BERLIN, monday + timedelta(seconds=1))
    assert next_open(OFFICE, BERLIN, monday) == datetime(2025, 3, 10, 7, 0, tzinfo=UTC)
    assert window_end(OFFICE, BERLIN, monday) == monday  # closed: ends where it is
    noon = datetime(2025, 3, 10, 11, 0, tzinfo=UTC)
    assert window_end(OFFICE, BERLIN, noon) == datetime(2025, 3, 10, 20, 0, tzinfo=UTC)
    assert not is_open(OFFICE, BERLIN, datetime(2025, 3, 10, 20, 0, tzinfo=UTC))
    assert is_open(OFFICE, HCM, datetime(2025, 3, 10, 1, 0, tzinfo=UTC))  # 08:00 at UTC+7
    assert window_end(WeeklyHours.always(), BERLIN, noon) is None
    assert next_open(WeeklyHours(((),) * 7), BERLIN, noon) is None


def test_windows_joining_at_midnight_are_one_window() -> None:
    late = WeeklyHours((((20 * HOUR, NS_PER_DAY),), ((0, 2 * HOUR),), (), (), (), (), ()))
    monday_night = datetime(2025, 3, 10, 21, 0, tzinfo=UTC)  # 22:00 Monday in Berlin
    assert window_end(late, BERLIN, monday_night) == datetime(2025, 3, 11, 1, 0, tzinfo=UTC)


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        is_open(OFFICE, BERLIN, datetime(2025, 3, 10, 9, 0))


def test_spring_forward_opens_after_the_gap() -> None:
    # Berlin, 30 March 2025: 02:00 CET -> 03:00 CEST at 01:00 UTC.
    hours = WeeklyHours.daily(time(2, 30), time(21))
    night = datetime(2025, 3, 30, 0, 0, tzinfo=UTC)
    assert next_open(hours, BERLIN, night) == datetime(2025, 3, 30, 1, 0, tzinfo=UTC)
    inside_gap = WeeklyHours.daily(time(2, 10), time(2, 50))
    opened = next_open(inside_gap, BERLIN, night)
    assert opened == datetime(2025, 3, 31, 0, 10, tzinfo=UTC)  # not that day: next night
    # 08:00 is still 08:00 wall clock, one hour earlier in UTC than the day before.
    assert next_open(OFFICE, BERLIN, datetime(2025, 3, 29, 21, 0, tzinfo=UTC)) == datetime(
        2025, 3, 30, 6, 0, tzinfo=UTC
    )


def test_fall_back_repeats_the_hour() -> None:
    # New York, 2 November 2025: 02:00 EDT -> 01:00 EST at 06:00 UTC.
    hours = WeeklyHours.daily(time(1, 0), time(1, 30))
    evening = datetime(2025, 11, 2, 4, 0, tzinfo=UTC)
    first = next_open(hours, NEW_YORK, evening)
    assert first == datetime(2025, 11, 2, 5, 0, tzinfo=UTC)  # 01:00 EDT
    assert window_end(hours, NEW_YORK, first) == datetime(2025, 11, 2, 5, 30, tzinfo=UTC)
    second = next_open(hours, NEW_YORK, datetime(2025, 11, 2, 5, 30, tzinfo=UTC))
    assert second == datetime(2025, 11, 2, 6, 0, tzinfo=UTC)  # 01:00 EST, the repeat
    assert window_end(hours, NEW_YORK, second) == datetime(2025, 11, 2, 6, 30, tzinfo=UTC)
    # A window spanning the fold lasts an hour longer that day.
    span = WeeklyHours.daily(time(0), time(3))
    start = next_open(span, NEW_YORK, evening)
    end = window_end(span, NEW_YORK, start)  # type: ignore[arg-type]
    assert start is not None and end is not None and end - start == timedelta(hours=4)


ZONES = [BERLIN, NEW_YORK, LORD_HOWE, HCM, ZoneInfo("America/Santiago"), UTC]
DST_DAYS = [
    datetime(2025, 3, 30, tzinfo=UTC),
    datetime(2025, 10, 26, tzinfo=UTC),
    datetime(2025, 3, 9, tzinfo=UTC),
    datetime(2025, 11, 2, tzinfo=UTC),
    datetime(2025, 4, 6, tzinfo=UTC),
    datetime(2025, 9, 7, tzinfo=UTC),
]
interval = st.tuples(st.integers(0, NS_PER_DAY), st.integers(0, NS_PER_DAY)).map(
    lambda pair: (min(pair), max(pair))
)
hours_strategy = st.lists(st.lists(interval, max_size=2), min_size=7, max_size=7).map(
    lambda days: WeeklyHours(tuple(tuple(d) for d in days))
)
moments = st.builds(
    lambda day, offset: day + timedelta(seconds=offset),
    st.sampled_from(DST_DAYS),
    st.integers(-2 * 86_400, 2 * 86_400),
)


@no_deadline
@given(hours_strategy, st.sampled_from(ZONES), moments)
def test_next_open_and_window_end_agree_with_is_open(
    hours: WeeklyHours, tz: tzinfo, now: datetime
) -> None:
    opened = next_open(hours, tz, now)
    if opened is None:
        assert hours.is_never
        return
    assert not hours.is_never
    assert opened >= now
    assert is_open(hours, tz, opened)
    assert (opened == now) == is_open(hours, tz, now)
    if opened > now:  # nothing open in between: just before it is closed
        assert not is_open(hours, tz, opened - timedelta(microseconds=1))
        gap = opened - now
        assert not any(is_open(hours, tz, now + gap * k // 7) for k in range(7))
    end = window_end(hours, tz, opened)
    if end is not None:
        assert end > opened
        assert not is_open(hours, tz, end)
        assert is_open(hours, tz, end - timedelta(microseconds=1))
        span = end - opened
        assert all(is_open(hours, tz, opened + span * k // 7) for k in range(7))
        assert next_open(hours, tz, end) != end


@no_deadline
@given(hours_strategy)
def test_autocall_round_trip(hours: WeeklyHours) -> None:
    assert WeeklyHours.from_autocall(hours.to_autocall()) == (
        hours if any(hours.days) else WeeklyHours(((),) * 7)
    )


# --- recipient-local quiet hours ---------------------------------------------------


def test_recipient_zones_from_the_number() -> None:
    assert recipient_time_zones("+84912345678", fallback=UTC) == (HCM,)
    assert recipient_time_zones("+12125550123", fallback=UTC) == (NEW_YORK,)
    russia = recipient_time_zones("+79161234567", fallback=UTC)
    assert ZoneInfo("Europe/Moscow") in russia and ZoneInfo("Asia/Vladivostok") in russia
    assert recipient_time_zones("not a number", fallback=BERLIN) == (BERLIN,)
    assert recipient_time_zones("+84551234567", fallback=HCM) == (HCM,)  # Etc/Unknown


def test_quiet_hours_are_the_recipients_own() -> None:
    zones = recipient_time_zones("+12125550123", fallback=UTC)
    three_am_new_york = datetime(2025, 6, 2, 7, 0, tzinfo=UTC)
    assert not may_start_call(OFFICE, zones, three_am_new_york)
    assert next_allowed_start(OFFICE, zones, three_am_new_york) == datetime(
        2025, 6, 2, 12, 0, tzinfo=UTC
    )
    with pytest.raises(ValueError, match="empty"):
        may_start_call(OFFICE, (), three_am_new_york)


def test_several_zones_must_all_be_inside() -> None:
    zones = recipient_time_zones("+79161234567", fallback=UTC)  # Kaliningrad .. Kamchatka
    now = datetime(2025, 6, 2, 3, 0, tzinfo=UTC)  # 06:00 Moscow, 15:00 Kamchatka
    assert is_open(OFFICE, ZoneInfo("Asia/Kamchatka"), now)
    assert not may_start_call(OFFICE, zones, now)
    start = next_allowed_start(OFFICE, zones, now)
    assert start is not None and may_start_call(OFFICE, zones, start)
    assert all(is_open(OFFICE, z, start) for z in zones)
    assert not may_start_call(OFFICE, zones, start - timedelta(microseconds=1))


def test_zones_that_never_overlap_give_none() -> None:
    far_apart = (ZoneInfo("Pacific/Kiritimati"), ZoneInfo("Pacific/Pago_Pago"))  # 25 h apart
    short = WeeklyHours.daily(time(9), time(10))
    assert next_allowed_start(short, far_apart, datetime(2025, 6, 2, tzinfo=UTC)) is None


@no_deadline
@given(
    st.sampled_from(["+79161234567", "+61412345678", "+18005550123", "+5511961234567"]),
    moments,
)
def test_next_allowed_start_is_allowed_everywhere(phone: str, now: datetime) -> None:
    zones = recipient_time_zones(phone, fallback=UTC)
    start = next_allowed_start(OFFICE, zones, now)
    if start is not None:
        assert start >= now
        assert may_start_call(OFFICE, zones, start)
        assert (start == now) == may_start_call(OFFICE, zones, now)
