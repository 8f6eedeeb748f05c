"""Stop-list use cases: add (bulk, per-entry results), remove, list.

Every number is normalised with :func:`clarion.domain.recipients.normalise` and stored
in E.164, so ``+7 (701) 123-45-67`` and ``0077011234567`` are the same entry. An
account's own list is reached with ``account_id=``; the system list (account_id 0,
applied to every account) with ``system=True`` — the CLI and operators only, never
the API.

Choices where the brief is silent:

* Adding is all-or-nothing per request (one transaction) and idempotent: a number
  already on the list, or repeated within the request, is reported ``added=False``
  without an error; an invalid number is reported with its Mobizon result code and
  message, and the valid ones are still added.
* Text imports (:func:`first_column`) skip blank lines and a first line whose first
  column has no digit at all (a header such as ``phone``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row

from clarion.clock import utcnow
from clarion.domain import recipients
from clarion.services.errors import InvalidInput, NotFound
from clarion.services.pricing import readable_rows
from clarion.store import stoplist as store
from clarion.store.db import Database

MAX_ENTRIES = 10_000
MAX_COMMENT = 255
MAX_PAGE = 1000
_FORMATTING = frozenset(" \t().-")


@dataclass(frozen=True, slots=True)
class Entry:
    """The outcome of one number given to :func:`add`."""

    phone: str
    normalized: str | None
    added: bool
    code: int | None = None
    error: str | None = None


def _owner(account_id: int | None, system: bool) -> int:
    if system:
        if account_id is not None:
            raise ValueError("give either account_id or system=True, not both")
        return store.SYSTEM
    if account_id is None or account_id <= 0:
        raise ValueError("an account's stop-list needs its positive account_id")
    return account_id


def _e164(phone: object) -> str:
    try:
        return recipients.normalise(phone).e164
    except recipients.PhoneError as exc:
        raise InvalidInput(f"{phone!r} is not a valid phone number: {exc}", field="phone") from None


def first_column(text: str) -> list[str]:
    """The first column of each line of a text/CSV body (comma, semicolon or tab
    separated, CSV quoting honoured); blank lines and a header line are skipped."""
    values: list[str] = []
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    for row in readable_rows(reader):
        first = _split(row[0]).strip() if row else ""
        if not first:
            continue
        if not values and not any(c.isdigit() for c in first):
            continue  # a header
        values.append(first)
    return values


def _split(value: str) -> str:
    for separator in (";", "\t"):
        value = value.split(separator, 1)[0]
    return value


async def add(
    db: Database,
    *,
    phones: Sequence[object],
    comment: str = "",
    account_id: int | None = None,
    system: bool = False,
) -> list[Entry]:
    """Add numbers to a stop-list; one :class:`Entry` per input, in order."""
    owner = _owner(account_id, system)
    if not phones:
        raise InvalidInput("phones must not be empty", field="phones")
    if len(phones) > MAX_ENTRIES:
        raise InvalidInput(
            f"at most {MAX_ENTRIES} numbers per request (got {len(phones)})", field="phones"
        )
    if len(comment) > MAX_COMMENT:
        raise InvalidInput(f"comment is longer than {MAX_COMMENT} characters", field="comment")
    parsed: list[tuple[str, str | None, recipients.PhoneError | None]] = []
    for raw in phones:
        text = "" if raw is None else str(raw)
        try:
            parsed.append((text, recipients.normalise(raw).e164, None))
        except recipients.PhoneError as exc:
            parsed.append((text, None, exc))
    valid = [e164 for _, e164, _ in parsed if e164 is not None]
    async with db.begin() as conn:
        added = await store.insert_missing(
            conn, account_id=owner, phones=valid, comment=comment, now=utcnow()
        )
    entries: list[Entry] = []
    for text, e164, error in parsed:
        if error is not None:
            entries.append(Entry(text, None, False, int(error.code), str(error)))
            continue
        assert e164 is not None
        entries.append(Entry(text, e164, e164 in added))
        added.discard(e164)  # a repeat within the request is not added twice
    return entries


async def remove(
    db: Database, *, phone: object, account_id: int | None = None, system: bool = False
) -> str:
    """Take one number off a stop-list; returns its E.164 form. NotFound if absent."""
    owner = _owner(account_id, system)
    e164 = _e164(phone)
    async with db.begin() as conn:
        removed = await store.remove(conn, account_id=owner, phones=[e164])
    if not removed:
        raise NotFound(f"{e164} is not on the stop-list")
    return e164


async def remove_many(
    db: Database,
    *,
    phones: Sequence[object],
    account_id: int | None = None,
    system: bool = False,
) -> int:
    """Take numbers off a stop-list (invalid or absent ones are ignored); returns how
    many were removed."""
    owner = _owner(account_id, system)
    if len(phones) > MAX_ENTRIES:
        raise InvalidInput(f"at most {MAX_ENTRIES} numbers per request", field="phones")
    valid: list[str] = []
    for raw in phones:
        try:
            valid.append(recipients.normalise(raw).e164)
        except recipients.PhoneError:
            continue
    async with db.begin() as conn:
        return await store.remove(conn, account_id=owner, phones=valid)


def _prefix(phone: str | None) -> str | None:
    """A search prefix in E.164 shape: formatting removed, one leading ``+``."""
    if phone is None or not phone.strip():
        return None
    digits = "".join(c for c in phone if c not in _FORMATTING).removeprefix("+")
    if not digits or not digits.isascii() or not digits.isdigit():
        raise InvalidInput("phone filter must contain digits, e.g. +7701", field="phone")
    return "+" + digits


async def entries(
    db: Database,
    *,
    account_id: int | None = None,
    system: bool = False,
    phone: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[Sequence[Row[Any]], int]:
    """A page of a stop-list (ordered by phone), optionally numbers starting with
    ``phone``; returns (rows, total matching)."""
    owner = _owner(account_id, system)
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}", field="limit")
    if offset < 0:
        raise InvalidInput("offset must not be negative", field="offset")
    prefix = _prefix(phone)
    async with db.read() as conn:
        return await store.page(
            conn, account_id=owner, phone_prefix=prefix, limit=limit, offset=offset
        )
