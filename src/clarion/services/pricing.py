"""Price tables: load from CSV, list, clear; the table a campaign is priced with.

An account's own table is reached with ``account_id=``; the default table (account
0, applied to every account) with ``default=True`` — the CLI and operators only,
never the API. See docs/billing.md.

CSV: a header ``channel,country,operator,unit,price`` then one rule per row; blank
lines are skipped. Rows are numbered as lines of the file (the header is row 1).
Every row is checked before anything is written; on any error nothing changes and
:class:`PriceTableError` lists each bad row. A valid file REPLACES the table in one
transaction.

Choices where the issue is silent:

* A rule is in the currency of its table: an account's table in the account's
  currency, the default table in the currency given when it is loaded (USD unless
  told). Default rules in another currency than the account's do not apply to it.
* A recipient no rule matches (or every recipient, with no rules at all) is priced
  at the campaign's flat ``price_per_segment`` x segments.
* Prices have at most 6 decimal places (the exactness of stored money).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import phonenumbers
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from clarion.clock import utcnow
from clarion.domain import pricing
from clarion.services.errors import InvalidInput, NotFound
from clarion.store import accounts as account_store
from clarion.store import prices as store
from clarion.store.db import Database

HEADER = ("channel", "country", "operator", "unit", "price")
MAX_RULES = 100_000
MAX_OPERATOR = 100
MAX_PRICE = Decimal(1_000_000)
DEFAULT_CURRENCY = "USD"
_SHOWN_ERRORS = 20


class PriceTableError(InvalidInput):
    """A price CSV with bad rows; ``errors`` holds (row number, reason) for each."""

    def __init__(self, errors: Sequence[tuple[int, str]]) -> None:
        shown = "; ".join(f"row {row}: {reason}" for row, reason in errors[:_SHOWN_ERRORS])
        more = f" (and {len(errors) - _SHOWN_ERRORS} more)" if len(errors) > _SHOWN_ERRORS else ""
        super().__init__(
            f"the price table has {len(errors)} bad row(s), nothing was loaded: {shown}{more}",
            field="body",
        )
        self.errors = list(errors)


def _owner(account_id: int | None, default: bool) -> int:
    if default:
        if account_id is not None:
            raise ValueError("give either account_id or default=True, not both")
        return store.DEFAULT
    if account_id is None or account_id <= 0:
        raise ValueError("an account's price table needs its positive account_id")
    return account_id


def _price(value: str) -> Decimal:
    try:
        price = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"price {value!r} is not a decimal amount like 0.05") from None
    if not price.is_finite() or price < 0:
        raise ValueError(f"price {value!r} must be a non-negative amount")
    if price.as_tuple().exponent < -6:  # type: ignore[operator]
        raise ValueError(f"price {value!r} has more than 6 decimal places")
    if price > MAX_PRICE:
        raise ValueError(f"price {value!r} is above {MAX_PRICE}")
    return price


def _rule(cells: list[str]) -> pricing.PriceRule:
    if len(cells) != len(HEADER):
        raise ValueError(f"expected {len(HEADER)} columns ({','.join(HEADER)}), got {len(cells)}")
    channel, country, operator, unit, price = (c.strip() for c in cells)
    country = country.upper()
    if country and country not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"country {country!r} is not an ISO 3166 alpha-2 code")
    if len(operator) > MAX_OPERATOR:
        raise ValueError(f"operator is longer than {MAX_OPERATOR} characters")
    return pricing.PriceRule(
        channel=channel.lower(),
        country=country,
        operator=operator,
        unit=unit.lower(),
        price=_price(price),
    )


def readable_rows(reader: Any) -> Iterator[list[str]]:
    """The reader's rows; a line CSV cannot read is a bad file, not a crash."""
    try:
        yield from reader
    except csv.Error as exc:
        raise InvalidInput(
            f"line {reader.line_num} is not readable CSV ({exc})", field="body"
        ) from None


def parse_csv(text: str) -> list[pricing.PriceRule]:
    """Every rule of a price CSV, or :class:`PriceTableError` naming each bad row."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    errors: list[tuple[int, str]] = []
    rules: list[pricing.PriceRule] = []
    seen: dict[tuple[str, str, str], int] = {}
    header_seen = False
    count = 0
    for cells in readable_rows(reader):
        row = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if not header_seen:
            header_seen = True
            if tuple(c.strip().lower() for c in cells) != HEADER:
                errors.append((row, f"the header must be {','.join(HEADER)}"))
            continue
        count += 1
        if count > MAX_RULES:
            errors.append((row, f"a table holds at most {MAX_RULES} rules"))
            break
        try:
            rule = _rule(cells)
        except ValueError as exc:
            errors.append((row, str(exc)))
            continue
        key = (rule.channel, rule.country, pricing.operator_key(rule.operator))
        if key in seen:
            errors.append((row, f"same channel, country and operator as row {seen[key]}"))
            continue
        seen[key] = row
        rules.append(rule)
    if not header_seen:
        errors.append((1, f"the header must be {','.join(HEADER)}"))
    if errors:
        raise PriceTableError(errors)
    return rules


def _currency(value: str) -> str:
    if len(value) != 3 or not value.isascii() or not value.isalpha():
        raise InvalidInput("currency must be a 3-letter ISO 4217 code", field="currency")
    return value.upper()


async def load(
    db: Database,
    *,
    text: str,
    account_id: int | None = None,
    default: bool = False,
    currency: str = DEFAULT_CURRENCY,
) -> int:
    """Replace a price table with the rules of a CSV; returns how many were loaded.
    ``currency`` is the default table's (an account's table is in its currency)."""
    owner = _owner(account_id, default)
    rules = parse_csv(text)
    async with db.begin() as conn:
        if owner == store.DEFAULT:
            unit_currency = _currency(currency)
        else:
            account = await account_store.get(conn, owner)
            if account is None:
                raise NotFound(f"account {owner} not found")
            unit_currency = account.currency
        rows = [
            {
                "channel": r.channel,
                "country": r.country,
                "operator": r.operator,
                "unit": r.unit,
                "price": r.price,
                "currency": unit_currency,
            }
            for r in rules
        ]
        return await store.replace(conn, account_id=owner, rows=rows, now=utcnow())


async def rules(
    db: Database, *, account_id: int | None = None, default: bool = False
) -> Sequence[Row[Any]]:
    """One table's rules (an account's own, or the default table)."""
    owner = _owner(account_id, default)
    async with db.read() as conn:
        return await store.table(conn, account_id=owner)


async def clear(db: Database, *, account_id: int | None = None, default: bool = False) -> int:
    """Empty a table; returns how many rules it had."""
    owner = _owner(account_id, default)
    async with db.begin() as conn:
        return await store.clear(conn, account_id=owner)


def to_csv(rows: Sequence[Row[Any]]) -> str:
    """A table as the CSV :func:`load` takes."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows((r.channel, r.country, r.operator, r.unit, r.price) for r in rows)
    return out.getvalue()


async def table_for(
    conn: AsyncConnection, *, account_id: int, channel: str, currency: str
) -> pricing.PriceTable:
    """The price table a campaign of ``channel`` is priced with (read once per call,
    inside the caller's transaction): the account's rules over the default table."""
    rows = await store.effective(conn, account_id=account_id, channel=channel, currency=currency)
    return pricing.PriceTable(
        (
            pricing.PriceRule(
                channel=r.channel,
                country=r.country,
                operator=r.operator,
                unit=r.unit,
                price=r.price,
            )
            for r in rows
        ),
        channel=channel,
    )
