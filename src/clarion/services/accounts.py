"""Accounts and API keys.

API keys are 40 lowercase alphanumeric characters, shown once and stored as a
SHA-256 hash (the key carries 206 bits of entropy, so a slow hash adds nothing).
"""

from __future__ import annotations

import hashlib
import secrets
import string
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Row

from clarion.clock import utcnow
from clarion.services.errors import Conflict, InvalidInput, NotFound
from clarion.store import accounts as store
from clarion.store.db import Database

KEY_ALPHABET = string.ascii_lowercase + string.digits
KEY_LENGTH = 40


@dataclass(frozen=True, slots=True)
class NewAccount:
    account_id: int
    api_key: str


def new_key() -> str:
    return "".join(secrets.choice(KEY_ALPHABET) for _ in range(KEY_LENGTH))


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _check_amount(amount: Decimal, *, field: str) -> None:
    if not amount.is_finite() or amount < 0:
        raise InvalidInput(f"{field} must be a non-negative amount", field=field)
    if amount.as_tuple().exponent < -6:  # type: ignore[operator]
        raise InvalidInput(f"{field} has more than 6 decimal places", field=field)


async def create(
    db: Database, *, name: str, balance: Decimal, currency: str, label: str = "default"
) -> NewAccount:
    _check_amount(balance, field="balance")
    if not name.strip():
        raise InvalidInput("name must not be empty", field="name")
    if len(currency) != 3 or not currency.isalpha():
        raise InvalidInput("currency must be a 3-letter ISO 4217 code", field="currency")
    now = utcnow()
    key = new_key()
    async with db.begin() as conn:
        account_id = await store.create(
            conn, name=name.strip(), balance=balance, currency=currency.upper(), now=now
        )
        await store.add_key(
            conn, account_id=account_id, key_hash=hash_key(key), now=now, label=label
        )
        if balance:
            await store.record(conn, account_id=account_id, amount=balance, reason="topup", now=now)
    return NewAccount(account_id, key)


async def rotate_key(db: Database, *, account_id: int, label: str = "default") -> str:
    """Revoke the account's keys with ``label`` and issue a new one."""
    now = utcnow()
    key = new_key()
    async with db.begin() as conn:
        if await store.get(conn, account_id) is None:
            raise NotFound(f"account {account_id} not found")
        await store.revoke_keys(conn, account_id=account_id, label=label, now=now)
        await store.add_key(
            conn, account_id=account_id, key_hash=hash_key(key), now=now, label=label
        )
    return key


async def authenticate(db: Database, key: str) -> Row[Any] | None:
    if len(key) != KEY_LENGTH:
        return None
    async with db.read() as conn:
        return await store.for_key(conn, hash_key(key))


async def authenticate_key(db: Database, key: str) -> tuple[Row[Any], int, str] | None:
    """(account, key id, key hash) for a live API key; None otherwise."""
    if len(key) != KEY_LENGTH:
        return None
    async with db.read() as conn:
        row = await store.key_for_hash(conn, hash_key(key))
    return None if row is None else (row, int(row.key_id), str(row.key_hash))


async def key_by_id(db: Database, key_id: int) -> tuple[Row[Any], str] | None:
    """(account, key hash) of the live API key ``key_id``; None if unknown or revoked."""
    async with db.read() as conn:
        row = await store.key_by_id(conn, key_id)
    return None if row is None else (row, str(row.key_hash))


async def get(db: Database, account_id: int) -> Row[Any]:
    async with db.read() as conn:
        row = await store.get(conn, account_id)
    if row is None:
        raise NotFound(f"account {account_id} not found")
    return row


async def find_by_name(db: Database, name: str) -> Row[Any] | None:
    async with db.read() as conn:
        return await store.find_by_name(conn, name)


async def list_all(db: Database) -> list[Row[Any]]:
    async with db.read() as conn:
        return list(await store.list_all(conn))


async def topup(db: Database, *, account_id: int, amount: Decimal) -> Decimal:
    """Add ``amount`` to the balance; returns the new balance."""
    _check_amount(amount, field="amount")
    if amount == 0:
        raise InvalidInput("amount must be positive", field="amount")
    async with db.begin() as conn:
        if not await store.credit(conn, account_id=account_id, amount=amount):
            raise NotFound(f"account {account_id} not found")
        await store.record(conn, account_id=account_id, amount=amount, reason="topup", now=utcnow())
        return await store.balance(conn, account_id)


REFUND_POLICIES = ("none", "undelivered")


async def configure(
    db: Database,
    *,
    account_id: int,
    refund_policy: str | None = None,
    is_operator: bool | None = None,
    moderation_required: bool | None = None,
    low_balance: Decimal | None = None,
    set_low_balance: bool = False,
    rate_limit: int | None = None,
    set_rate_limit: bool = False,
    licences: int | None = None,
    vdn_id: int | None = None,
    set_vdn_id: bool = False,
) -> Row[Any]:
    """Settings of an account. Refund policy, operator role, moderation, voice licences
    (wolkvox's daily quota is licences x 1000 requests) and the iSales VDN id are the
    operator's (CLI); the ``balance.low`` threshold (``set_low_balance``, None = off)
    is the account's own choice too (``PATCH /v1/account``)."""
    values: dict[str, Any] = {}
    if set_rate_limit:
        if rate_limit is not None and not 0 < rate_limit <= 1_000_000:
            raise InvalidInput("rate limit must be 1 to 1,000,000 messages/s", field="rate_limit")
        values.update(rate_limit=rate_limit, rate_tokens=0.0, rate_at=None)
    if set_low_balance:
        if low_balance is not None:
            _check_amount(low_balance, field="low_balance")
        values["low_balance"] = low_balance
    if refund_policy is not None:
        if refund_policy not in REFUND_POLICIES:
            raise InvalidInput(
                f"refund policy must be one of {', '.join(REFUND_POLICIES)}", field="refund_policy"
            )
        values["refund_policy"] = refund_policy
    if is_operator is not None:
        values["is_operator"] = is_operator
    if moderation_required is not None:
        values["moderation_required"] = moderation_required
    if licences is not None:
        if not 1 <= licences <= 100_000:
            raise InvalidInput("licences must be 1 to 100,000", field="licences")
        values["licences"] = licences
    if set_vdn_id:
        if vdn_id is not None and not 1 <= vdn_id <= 9999:
            raise InvalidInput("the VDN id must be 1 to 9999", field="vdn_id")
        values["vdn_id"] = vdn_id
    async with db.begin() as conn:
        if (
            set_vdn_id
            and vdn_id is not None
            and await store.vdn_taken(conn, vdn_id=vdn_id, account_id=account_id)
        ):
            raise Conflict(f"VDN {vdn_id} belongs to another account")
        if values and not await store.set_fields(conn, account_id=account_id, values=values):
            raise NotFound(f"account {account_id} not found")
        row = await store.get(conn, account_id)
    if row is None:
        raise NotFound(f"account {account_id} not found")
    return row
