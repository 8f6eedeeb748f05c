"""Unit tests of the dialect's pure parts: values, search windows, status tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from clarion.dialects.mobizon import criteria, form, statuses, values
from clarion.dialects.mobizon.wire import PARAMETER_LIMIT, MobizonError
from clarion.domain.lifecycle import CampaignStatus, MessageStatus

ALMATY = ZoneInfo("Asia/Almaty")  # UTC+5, no DST
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (Decimal("0.06"), "0.0600"),
        (Decimal("0.050000"), "0.0500"),
        (Decimal("100"), "100.0000"),
        (Decimal("0.012345"), "0.012345"),
        (Decimal("0"), "0.0000"),
        (Decimal("12.5"), "12.5000"),
    ],
)
def test_money_has_four_places_and_more_only_when_needed(amount: Decimal, text: str) -> None:
    assert values.money(amount) == text


def test_timestamps_in_the_account_zone() -> None:
    moment = datetime(2026, 3, 1, 10, 0, 0, tzinfo=UTC)
    assert values.timestamp(moment, ALMATY) == "2026-03-01 15:00:00"
    assert values.timestamp(None, ALMATY) is None
    assert values.parse_timestamp("2026-03-01 15:00:00", ALMATY) == moment
    with pytest.raises(ValueError):
        values.parse_timestamp("2026-03-01T15:00:00", ALMATY)


def test_an_ambiguous_wall_time_is_its_first_occurrence() -> None:
    # 2026-10-25 02:30 happens twice in Berlin; the first is still summer time (UTC+2)
    assert values.parse_timestamp("2026-10-25 02:30:00", BERLIN) == datetime(
        2026, 10, 25, 0, 30, tzinfo=UTC
    )


def test_zone_falls_back_to_utc() -> None:
    assert values.zone(None) is UTC
    assert values.zone("Not/AZone") is UTC
    assert values.zone("Asia/Almaty") == ALMATY


@pytest.mark.parametrize(
    ("raw", "number"),
    [(5, 5), ("5", 5), (" 12 ", 12), ("-3", -3), ("+4", 4), ("1.5", None), ("", None)],
)
def test_integer(raw: object, number: int | None) -> None:
    assert values.integer(raw) == number


def test_integer_refuses_booleans_and_arrays() -> None:
    assert values.integer(True) is None
    assert values.integer(form.PhpArray()) is None


def test_fields_collect_one_error_per_field() -> None:
    fields = values.Fields({"type": "9", "mclass": "x", "name": "a" * 300, "ok": "1"})
    assert fields.integer("type", choices=(1, 2, 3)) is None
    assert fields.integer("mclass") is None
    assert fields.string("name", max_length=255) is None
    assert fields.flag("ok") is True
    assert fields.flag("absent", True) is True
    with pytest.raises(values.FieldErrors) as caught:
        fields.check()
    assert set(caught.value.errors) == {"type", "mclass", "name"}


def test_fields_of_a_non_array_are_empty() -> None:
    assert values.Fields("text").string("x") is None


def test_page_defaults_and_bounds() -> None:
    assert criteria.page({}) == criteria.Page(25, 0)
    page = criteria.page({"pagination": {"pageSize": "50", "currentPage": "2"}})
    assert (page.size, page.offset) == (50, 100)
    assert criteria.page({"pagination": {"pageSize": "1000"}}).size == 100
    for bad in ({"pageSize": "0"}, {"pageSize": "x"}, {"currentPage": "-1"}):
        with pytest.raises(MobizonError) as caught:
            criteria.page({"pagination": bad})
        assert caught.value.code == PARAMETER_LIMIT


def test_sort() -> None:
    fields = {"id": "id", "createTs": "created_at"}
    assert criteria.sort({}, fields, "id") == ("id", True)
    assert criteria.sort({"sort": {"createTs": "asc"}}, fields, "id") == ("created_at", False)
    for bad in ({"nope": "ASC"}, {"id": "UP"}):
        with pytest.raises(MobizonError):
            criteria.sort({"sort": bad}, fields, "id")


def test_ids_take_the_first_ones() -> None:
    assert criteria.ids("1,2,3", limit=2, name="ids") == [1, 2]
    with pytest.raises(MobizonError):
        criteria.ids("1,x", limit=10, name="ids")


CREATE = {
    "date_from": "createDateFrom",
    "time_from": ("createTimeFrom",),
    "date_to": "createDateTo",
    "time_to": ("createTimeTo",),
    "stamp_from": "createTsFrom",
    "stamp_to": "createTsTo",
}


def test_window_dates_start_at_midnight_and_end_at_235959() -> None:
    found = criteria.window(
        {"createDateFrom": "2026-03-01", "createDateTo": "2026-03-02"}, tz=ALMATY, **CREATE
    )
    assert found.start == datetime(2026, 2, 28, 19, 0, 0, tzinfo=UTC)
    assert found.end == datetime(2026, 3, 2, 18, 59, 59, tzinfo=UTC)


def test_window_times_apply_only_with_their_date() -> None:
    found = criteria.window(
        {"createDateFrom": "2026-03-01", "createTimeFrom": "10:30:00", "createTimeTo": "11:00"},
        tz=UTC,
        **CREATE,
    )
    assert found == criteria.Window(datetime(2026, 3, 1, 10, 30, tzinfo=UTC), None)


def test_window_timestamps_win_over_dates() -> None:
    found = criteria.window(
        {"createTsFrom": "2026-03-01 08:00:00", "createDateFrom": "2026-01-01"}, tz=UTC, **CREATE
    )
    assert found.start == datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def test_window_rejects_bad_dates() -> None:
    with pytest.raises(MobizonError):
        criteria.window({"createDateFrom": "01.03.2026"}, tz=UTC, **CREATE)
    with pytest.raises(MobizonError):
        criteria.window(
            {"createDateFrom": "2026-03-01", "createTimeFrom": "25:00"}, tz=UTC, **CREATE
        )


def test_windows_are_at_most_90_days() -> None:
    end = datetime(2026, 6, 30, tzinfo=UTC)
    long = criteria.Window(end - timedelta(days=200), end)
    assert criteria.bounded(long) == criteria.Window(end - timedelta(days=90), end)
    assert criteria.bounded(criteria.Window(None, end)).start == end - timedelta(days=90)
    assert criteria.bounded(criteria.Window(end, None)).end == end + timedelta(days=90)
    assert criteria.bounded(criteria.Window(None, None)) == criteria.Window(None, None)
    assert criteria.Window(end, end - timedelta(seconds=1)).empty


def test_the_default_window_starts_at_midnight_a_day_ago() -> None:
    now = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)  # 07:00 in Almaty
    found = criteria.last_day(now, ALMATY)
    assert found == criteria.Window(datetime(2026, 3, 8, 19, 0, tzinfo=UTC), now)


def row(status: CampaignStatus, moderated: bool = False) -> SimpleNamespace:
    return SimpleNamespace(status=status.value, moderated=moderated)


def test_campaign_status_names() -> None:
    assert statuses.campaign_status(row(CampaignStatus.DRAFT)) == "NEW"
    assert statuses.campaign_status(row(CampaignStatus.PAUSED)) == "RUNNING"
    assert statuses.campaign_status(row(CampaignStatus.STOPPED)) == "DONE"
    assert statuses.campaign_status(row(CampaignStatus.SCHEDULED)) == "DEFERRED"
    assert statuses.campaign_status(row(CampaignStatus.QUEUED, True)) == "READY_FOR_SEND"
    assert statuses.campaign_status(row(CampaignStatus.QUEUED)) == "AUTO_READY_FOR_SEND"


def test_status_searches() -> None:
    assert statuses.campaign_statuses("running") == {"RUNNING", "PAUSED"}
    assert statuses.campaign_statuses("DONE") == {"DONE", "STOPPED"}
    assert statuses.campaign_statuses("NOT_YET_SENT") == {
        "DRAFT",
        "MODERATION",
        "DECLINED",
        "QUEUED",
        "SCHEDULED",
    }
    assert statuses.campaign_statuses("AUTO_READY_FOR_SEND") == {"QUEUED"}
    assert statuses.campaign_statuses("BOGUS") == frozenset()
    assert statuses.message_statuses("DELIVRD") == {"DELIVERED", "READ"}
    assert statuses.message_statuses("ENQUEUD") == {"SENDING"}
    assert statuses.message_statuses("NOPE") == frozenset()


def test_every_message_status_has_a_name_and_a_counter_bucket() -> None:
    assert set(statuses.MESSAGE_STATUS) == set(MessageStatus)
    assert set(statuses.COUNTER_BUCKET) == set(MessageStatus)
    assert set(statuses.COUNTER_BUCKET.values()) == set(statuses.COUNTER_BUCKETS)


def test_moderation_and_send_status() -> None:
    assert statuses.moderation_status(row(CampaignStatus.DRAFT)) is None
    assert statuses.moderation_status(row(CampaignStatus.MODERATION)) == "MODERATION"
    assert statuses.moderation_status(row(CampaignStatus.RUNNING)) == "AUTO_READY_FOR_SEND"
    assert statuses.moderation_status(row(CampaignStatus.DONE, True)) == "READY_FOR_SEND"
    assert statuses.send_status(row(CampaignStatus.SCHEDULED)) is None
    assert statuses.send_status(row(CampaignStatus.SENT)) == "SENT"
