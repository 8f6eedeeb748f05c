"""Column types that behave the same on SQLite and PostgreSQL.

* ``Money``: Decimal in Python, stored as a BIGINT count of micro-units (10⁻⁶), so
  sums are exact integers on both databases and no float ever touches money.
* ``UtcDateTime``: aware UTC datetimes in Python, stored naive UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect, Integer
from sqlalchemy.types import TypeDecorator

MICROS = Decimal(1_000_000)
QUANTUM = Decimal("0.000001")

# BIGINT primary keys that still autoincrement as ROWID on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def to_micros(value: Decimal | int | str) -> int:
    return int((Decimal(value) * MICROS).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def from_micros(value: int) -> Decimal:
    return (Decimal(value) / MICROS).quantize(QUANTUM)


class Money(TypeDecorator[Decimal]):
    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> int | None:
        if value is None:
            return None
        return to_micros(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return from_micros(int(value))


class UtcDateTime(TypeDecorator[datetime]):
    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected datetime, got {type(value).__name__}")
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC)
