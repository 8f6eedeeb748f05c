"""Deferred start and validity rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clarion.domain.schedule import (
    MAX_VALIDITY_MINUTES,
    MIN_VALIDITY_MINUTES,
    MOBIZON_CREATE_MAX_VALIDITY_MINUTES,
    MOBIZON_CREATE_MIN_VALIDITY_MINUTES,
    MOBIZON_MAX_DEFERRAL,
    MOBIZON_MIN_DEFERRAL,
    ScheduleError,
    check_deferred_start,
    check_validity,
    expires_at,
)

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
ALMATY = timezone(timedelta(hours=5))


def mobizon(start_at: datetime) -> None:
    check_deferred_start(
        start_at, now=NOW, min_delay=MOBIZON_MIN_DEFERRAL, max_delay=MOBIZON_MAX_DEFERRAL
    )


def test_constants() -> None:
    assert timedelta(hours=1) == MOBIZON_MIN_DEFERRAL
    assert timedelta(days=14) == MOBIZON_MAX_DEFERRAL
    assert (MIN_VALIDITY_MINUTES, MAX_VALIDITY_MINUTES) == (1, 4320)
    assert (MOBIZON_CREATE_MIN_VALIDITY_MINUTES, MOBIZON_CREATE_MAX_VALIDITY_MINUTES) == (60, 1440)
    assert issubclass(ScheduleError, ValueError)


def test_native_defaults_accept_now_and_any_future_time() -> None:
    check_deferred_start(NOW, now=NOW)
    check_deferred_start(NOW + timedelta(seconds=1), now=NOW)
    check_deferred_start(NOW + timedelta(days=3650), now=NOW)


def test_native_defaults_reject_the_past() -> None:
    with pytest.raises(ScheduleError, match="in the past"):
        check_deferred_start(NOW - timedelta(microseconds=1), now=NOW)


def test_naive_start_is_rejected() -> None:
    with pytest.raises(ScheduleError, match="no timezone"):
        check_deferred_start(datetime(2030, 1, 1, 9, 0), now=NOW)


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="now must be timezone-aware"):
        check_deferred_start(NOW, now=datetime(2025, 3, 10, 12, 0))


def test_mobizon_bounds_are_inclusive() -> None:
    mobizon(NOW + timedelta(hours=1))
    mobizon(NOW + timedelta(days=14))
    mobizon(NOW + timedelta(days=7))


def test_mobizon_rejects_less_than_one_hour_ahead() -> None:
    with pytest.raises(ScheduleError, match="too soon") as info:
        mobizon(NOW + timedelta(minutes=59, seconds=59))
    assert "2025-03-10T13:00:00+00:00" in str(info.value)


def test_mobizon_rejects_more_than_fourteen_days_ahead() -> None:
    with pytest.raises(ScheduleError, match="too far ahead") as info:
        mobizon(NOW + timedelta(days=14, seconds=1))
    assert "2025-03-24T12:00:00+00:00" in str(info.value)


def test_offsets_are_compared_as_instants() -> None:
    # 17:30 at UTC+5 is 12:30 UTC: only 30 minutes after NOW.
    with pytest.raises(ScheduleError, match="too soon"):
        mobizon(datetime(2025, 3, 10, 17, 30, tzinfo=ALMATY))
    mobizon(datetime(2025, 3, 10, 18, 0, tzinfo=ALMATY))


@given(st.timedeltas(min_value=timedelta(days=-30), max_value=timedelta(days=30)))
def test_mobizon_accepts_exactly_the_window(offset: timedelta) -> None:
    start_at = NOW + offset
    if MOBIZON_MIN_DEFERRAL <= offset <= MOBIZON_MAX_DEFERRAL:
        mobizon(start_at)
    else:
        with pytest.raises(ScheduleError):
            mobizon(start_at)


@pytest.mark.parametrize("minutes", [1, 60, 1440, 4320])
def test_validity_in_bounds(minutes: int) -> None:
    check_validity(minutes)


@pytest.mark.parametrize("minutes", [-5, 0, 4321, 100_000])
def test_validity_out_of_bounds(minutes: int) -> None:
    with pytest.raises(ScheduleError, match="from 1 to 4320 minutes"):
        check_validity(minutes)


def test_validity_with_mobizon_create_bounds() -> None:
    bounds = {
        "minimum": MOBIZON_CREATE_MIN_VALIDITY_MINUTES,
        "maximum": MOBIZON_CREATE_MAX_VALIDITY_MINUTES,
    }
    check_validity(60, **bounds)
    check_validity(1440, **bounds)
    for minutes in (59, 1441):
        with pytest.raises(ScheduleError, match="from 60 to 1440 minutes"):
            check_validity(minutes, **bounds)


def test_validity_must_be_an_int() -> None:
    with pytest.raises(ScheduleError, match="whole number"):
        check_validity(True)
    with pytest.raises(ScheduleError, match="whole number"):
        check_validity(1.5)  # type: ignore[arg-type]


def test_expires_at_adds_the_validity() -> None:
    assert expires_at(NOW, 90) == datetime(2025, 3, 10, 13, 30, tzinfo=UTC)
    assert expires_at(NOW, 4320) == datetime(2025, 3, 13, 12, 0, tzinfo=UTC)


def test_expires_at_without_validity_is_none() -> None:
    assert expires_at(NOW, None) is None


def test_expires_at_checks_the_validity() -> None:
    with pytest.raises(ScheduleError):
        expires_at(NOW, 0)


@given(st.integers(min_value=MIN_VALIDITY_MINUTES, max_value=MAX_VALIDITY_MINUTES))
def test_expires_at_is_after_sending_by_the_validity(minutes: int) -> None:
    expiry = expires_at(NOW, minutes)
    assert expiry is not None
    assert expiry - NOW == timedelta(minutes=minutes)
    assert expiry.tzinfo is UTC
