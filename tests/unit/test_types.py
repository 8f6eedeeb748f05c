"""Portable column types (store/types.py): Money and UtcDateTime."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from clarion.store.types import Money, UtcDateTime, from_micros, to_micros

DIALECTS: list[Dialect] = [sqlite.dialect(), postgresql.dialect()]
ALMATY = timezone(timedelta(hours=5))
NEW_YORK_WINTER = timezone(timedelta(hours=-5))


# --- Money -------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
def test_money_round_trip(dialect: Dialect) -> None:
    money = Money()
    stored = money.process_bind_param(Decimal("0.05"), dialect)
    assert stored == 50000
    assert isinstance(stored, int)
    loaded = money.process_result_value(50000, dialect)
    assert loaded == Decimal("0.05")
    assert isinstance(loaded, Decimal)
    assert str(loaded) == "0.050000"


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
def test_money_none_passes_through(dialect: Dialect) -> None:
    money = Money()
    assert money.process_bind_param(None, dialect) is None
    assert money.process_result_value(None, dialect) is None


@pytest.mark.parametrize(
    ("value", "micros"),
    [
        (Decimal("0"), 0),
        (Decimal("100.00"), 100_000_000),
        (Decimal("12.5"), 12_500_000),
        (Decimal("0.000001"), 1),
        (Decimal("-0.05"), -50_000),
        (5, 5_000_000),
        ("0.05", 50_000),
        # Half-even at the 7th decimal.
        (Decimal("0.0000005"), 0),
        (Decimal("0.0000015"), 2),
        (Decimal("0.0000025"), 2),
        (Decimal("0.0000035"), 4),
        (Decimal("0.00000051"), 1),
        (Decimal("0.00000049"), 0),
        (Decimal("1.2345675"), 1_234_568),
        (Decimal("1.2345665"), 1_234_566),
        (Decimal("-0.0000015"), -2),
    ],
)
def test_to_micros(value: Decimal | int | str, micros: int) -> None:
    assert to_micros(value) == micros
    assert Money().process_bind_param(value, sqlite.dialect()) == micros


def test_result_from_string_or_large_int() -> None:
    # Some drivers hand back numbers as other int-like types.
    assert Money().process_result_value("123456789", sqlite.dialect()) == Decimal("123.456789")
    big = 9_000_000_000_000_000_000
    assert from_micros(big) == Decimal("9000000000000.000000")


@given(st.integers(min_value=-(2**62), max_value=2**62))
def test_micros_round_trip(micros: int) -> None:
    assert to_micros(from_micros(micros)) == micros


@given(st.decimals(min_value=-(10**9), max_value=10**9, places=6, allow_nan=False))
def test_six_place_decimals_round_trip(value: Decimal) -> None:
    assert from_micros(to_micros(value)) == value


# --- UtcDateTime ---------------------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
def test_utc_datetime_rejects_naive(dialect: Dialect) -> None:
    with pytest.raises(ValueError, match="naive"):
        UtcDateTime().process_bind_param(datetime(2025, 1, 1, 12, 0), dialect)


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
def test_utc_datetime_rejects_non_datetime(dialect: Dialect) -> None:
    with pytest.raises(TypeError):
        UtcDateTime().process_bind_param("2025-01-01T00:00:00Z", dialect)


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        (datetime(2025, 1, 1, 12, 0, tzinfo=UTC), datetime(2025, 1, 1, 12, 0)),
        (datetime(2025, 1, 1, 5, 30, tzinfo=ALMATY), datetime(2025, 1, 1, 0, 30)),
        (datetime(2025, 1, 1, 2, 0, tzinfo=ALMATY), datetime(2024, 12, 31, 21, 0)),
        (datetime(2025, 1, 1, 20, 0, tzinfo=NEW_YORK_WINTER), datetime(2025, 1, 2, 1, 0)),
        (
            datetime(2025, 6, 1, 0, 0, 0, 123456, tzinfo=UTC),
            datetime(2025, 6, 1, 0, 0, 0, 123456),
        ),
    ],
)
def test_utc_datetime_binds_naive_utc(value: datetime, stored: datetime) -> None:
    for dialect in DIALECTS:
        bound = UtcDateTime().process_bind_param(value, dialect)
        assert bound == stored
        assert bound is not None
        assert bound.tzinfo is None


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
def test_utc_datetime_result_is_aware_utc(dialect: Dialect) -> None:
    loaded = UtcDateTime().process_result_value(datetime(2025, 1, 1, 0, 30), dialect)
    assert loaded == datetime(2025, 1, 1, 0, 30, tzinfo=UTC)
    assert loaded is not None
    assert loaded.tzinfo is UTC


def test_utc_datetime_result_from_sqlite_string() -> None:
    loaded = UtcDateTime().process_result_value("2025-01-01 00:30:00.000001", sqlite.dialect())
    assert loaded == datetime(2025, 1, 1, 0, 30, 0, 1, tzinfo=UTC)


def test_utc_datetime_none_passes_through() -> None:
    assert UtcDateTime().process_bind_param(None, sqlite.dialect()) is None
    assert UtcDateTime().process_result_value(None, sqlite.dialect()) is None


@given(
    st.datetimes(
        min_value=datetime(1970, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from([UTC, ALMATY, NEW_YORK_WINTER, timezone(timedelta(hours=13))]),
    )
)
def test_utc_datetime_round_trip_preserves_the_instant(moment: datetime) -> None:
    t = UtcDateTime()
    dialect = sqlite.dialect()
    loaded = t.process_result_value(t.process_bind_param(moment, dialect), dialect)
    assert loaded == moment
    assert loaded is not None
    assert loaded.utcoffset() == timedelta(0)
