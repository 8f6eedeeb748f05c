"""Scalar values on Mobizon's wire: timestamps, money, ids, and typed request fields.

Mobizon returns what it stores in its database as strings (``"id": "1111111"``,
``"0.0600"``) and times as ``YYYY-MM-DD HH:MM:SS`` in the account's time zone;
computed values (result codes, progress) are numbers. Pure functions only.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, tzinfo
from decimal import Decimal
from typing import Any

from clarion.dialects.timestamps import TIMESTAMP, parse_timestamp, timestamp, zone

__all__ = ["TIMESTAMP", "parse_timestamp", "timestamp", "zone"]

DATE = "%Y-%m-%d"
TIME = "%H:%M:%S"
_FOUR_PLACES = Decimal("0.0001")


def money(amount: Decimal) -> str:
    """Money with Mobizon's four decimal places (``"0.0600"``), more only when needed."""
    rounded = amount.quantize(_FOUR_PLACES)
    if rounded == amount:
        return format(rounded, "f")
    return format(amount.normalize(), "f")


def given(value: Any) -> bool:
    """Whether a parameter was sent with a value (not absent, ``""`` or an empty array)."""
    if value is None or value == "":
        return False
    return not (isinstance(value, Mapping | list) and not value)


def scalar(value: Any) -> bool:
    """A plain value (string or number), not an array, file or boolean."""
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def text_id(value: int | None) -> str | None:
    return None if value is None else str(value)


def integer(value: Any) -> int | None:
    """An integer as PHP clients send one: an int, or a string of digits with an
    optional sign (surrounding spaces allowed). None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text[:1] in "+-" else text
        if digits and digits.isascii() and digits.isdigit() and len(digits) <= 18:
            return int(text)
    return None


class FieldErrors(Exception):
    """Invalid request fields: ``errors`` maps each Mobizon field name to a message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class Fields:
    """Typed reads of one parameter array, collecting an error per bad field.

    ``check()`` raises :class:`FieldErrors` if any read failed."""

    def __init__(self, source: Any) -> None:
        self.source: Mapping[str, Any] = source if isinstance(source, Mapping) else {}
        self.errors: dict[str, str] = {}

    def present(self, name: str) -> bool:
        value = self.source.get(name)
        return value is not None and value != ""

    def fail(self, name: str, message: str) -> None:
        self.errors.setdefault(name, message)

    def string(self, name: str, *, max_length: int | None = None) -> str | None:
        value = self.source.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int):
            self.fail(name, f"{name} must be a string")
            return None
        text = str(value)
        if max_length is not None and len(text) > max_length:
            self.fail(name, f"{name} is longer than {max_length} characters")
            return None
        return text

    def integer(
        self,
        name: str,
        *,
        minimum: int | None = None,
        maximum: int | None = None,
        choices: tuple[int, ...] | None = None,
    ) -> int | None:
        if not self.present(name):
            return None
        number = integer(self.source.get(name))
        if number is None:
            self.fail(name, f"{name} must be an integer")
            return None
        if choices is not None and number not in choices:
            listed = ", ".join(str(c) for c in choices)
            self.fail(name, f"{name} must be one of {listed}")
            return None
        if minimum is not None and number < minimum:
            self.fail(name, f"{name} must be at least {minimum}")
            return None
        if maximum is not None and number > maximum:
            self.fail(name, f"{name} must be at most {maximum}")
            return None
        return number

    def flag(self, name: str, default: bool = False) -> bool:
        number = self.integer(name, choices=(0, 1))
        return default if number is None else bool(number)

    def timestamp(self, name: str, tz: tzinfo) -> datetime | None:
        text = self.string(name)
        if not text:
            return None
        try:
            return parse_timestamp(text, tz)
        except ValueError:
            self.fail(name, f"{name} must be a date and time as YYYY-MM-DD HH:MM:SS")
            return None

    def check(self) -> None:
        if self.errors:
            raise FieldErrors(dict(self.errors))
