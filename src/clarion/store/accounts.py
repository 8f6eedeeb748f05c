"""Accounts, API keys and the money ledger."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Row,
    String,
    and_,
    bindparam,
    insert,
    literal,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from clarion.store import binds, statements
from clarion.store.schema import accounts, api_keys, ledger, messages
from clarion.store.types import Money, UtcDateTime


async def create(
    conn: AsyncConnection,
    *,
    name: str,
    balance: Decimal,
    currency: str,
    now: datetime,
    moderation_required: bool = False,
    allowed_countries: list[str] | None = None,
) -> int:
    result = await conn.execute(
        insert(accounts)
        .values(
            name=name,
            balance=balance,
            currency=currency,
            created_at=now,
            moderation_required=moderation_required,
            allowed_countries=allowed_countries,
        )
        .returning(accounts.c.id)
    )
    return int(result.scalar_one())


async def get(conn: AsyncConnection, account_id: int) -> Row[Any] | None:
    result = await conn.execute(select(accounts).where(accounts.c.id == account_id))
    return result.first()


async def list_all(conn: AsyncConnection) -> Sequence[Row[Any]]:
    result = await conn.execute(select(accounts).order_by(accounts.c.id))
    return result.all()


async def add_key(
    conn: AsyncConnection, *, account_id: int, key_hash: str, now: datetime, label: str = ""
) -> None:
    await conn.execute(
        insert(api_keys).values(
            account_id=account_id, key_hash=key_hash, label=label, created_at=now
        )
    )


async def revoke_keys(conn: AsyncConnection, *, account_id: int, label: str, now: datetime) -> None:
    await conn.execute(
        update(api_keys)
        .where(
            api_keys.c.account_id == account_id,
            api_keys.c.label == label,
            api_keys.c.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )


async def for_key(conn: AsyncConnection, key_hash: str) -> Row[Any] | None:
    result = await conn.execute(
        select(accounts)
        .join(api_keys, api_keys.c.account_id == accounts.c.id)
        .where(api_keys.c.key_hash == key_hash, api_keys.c.revoked_at.is_(None))
    )
    return result.first()


async def key_for_hash(conn: AsyncConnection, key_hash: str) -> Row[Any] | None:
    """The live API key with this hash, with its account's columns (``key_id``)."""
    result = await conn.execute(
        select(accounts, api_keys.c.id.label("key_id"), api_keys.c.key_hash)
        .join(api_keys, api_keys.c.account_id == accounts.c.id)
        .where(api_keys.c.key_hash == key_hash, api_keys.c.revoked_at.is_(None))
    )
    return result.first()


async def key_by_id(conn: AsyncConnection, key_id: int) -> Row[Any] | None:
    """The live API key ``key_id`` with its account's columns (``key_hash``,
    ``key_label``)."""
    result = await conn.execute(
        select(
            accounts,
            api_keys.c.id.label("key_id"),
            api_keys.c.key_hash,
            api_keys.c.label.label("key_label"),
        )
        .join(api_keys, api_keys.c.account_id == accounts.c.id)
        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
    )
    return result.first()


async def find_by_name(conn: AsyncConnection, name: str) -> Row[Any] | None:
    result = await conn.execute(
        select(accounts).where(accounts.c.name == name).order_by(accounts.c.id).limit(1)
    )
    return result.first()


async def vdn_taken(conn: AsyncConnection, *, vdn_id: int, account_id: int) -> bool:
    """Whether another account holds this iSales VDN id, set or by default (its id)."""
    result = await conn.execute(
        select(accounts.c.id).where(
            accounts.c.id != account_id,
            or_(
                accounts.c.vdn_id == vdn_id,
                and_(accounts.c.vdn_id.is_(None), accounts.c.id == vdn_id),
            ),
        )
    )
    return result.first() is not None


async def set_fields(conn: AsyncConnection, *, account_id: int, values: dict[str, Any]) -> bool:
    result = await conn.execute(
        update(accounts).where(accounts.c.id == account_id).values(**values)
    )
    return result.rowcount == 1


async def balance(conn: AsyncConnection, account_id: int, *, lock: bool = False) -> Decimal:
    query = select(accounts.c.balance).where(accounts.c.id == account_id)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    result = await conn.execute(query)
    value: Decimal = result.scalar_one()
    return value


async def debit(conn: AsyncConnection, *, account_id: int, amount: Decimal) -> bool:
    """Take ``amount`` if the balance covers it; False (nothing changed) otherwise."""
    statement = statements.cached(
        conn,
        "debit",
        lambda: (
            update(accounts)
            .where(
                accounts.c.id == bindparam("aid"),
                accounts.c.balance >= bindparam("amount", type_=Money),
            )
            .values(balance=accounts.c.balance - bindparam("amount", type_=Money))
        ),
    )
    result = await conn.execute(statement, {"aid": account_id, "amount": amount})
    return result.rowcount == 1


async def credit(conn: AsyncConnection, *, account_id: int, amount: Decimal) -> bool:
    result = await conn.execute(
        update(accounts)
        .where(accounts.c.id == account_id)
        .values(balance=accounts.c.balance + amount)
    )
    return result.rowcount == 1


async def record(
    conn: AsyncConnection,
    *,
    account_id: int,
    amount: Decimal,
    reason: str,
    now: datetime,
    campaign_id: int | None = None,
    message_id: int | None = None,
    messages: int = 0,
) -> None:
    """Append a ledger entry: negative amounts are debits, positive credits."""
    await record_many(
        conn,
        [
            Entry(
                account_id=account_id,
                amount=amount,
                reason=reason,
                campaign_id=campaign_id,
                message_id=message_id,
                messages=messages,
            )
        ],
        now=now,
    )


@dataclass(frozen=True, slots=True)
class Entry:
    """One ledger row to append (see ``record``)."""

    account_id: int
    amount: Decimal
    reason: str
    campaign_id: int | None = None
    message_id: int | None = None
    messages: int = 0


async def record_many(conn: AsyncConnection, entries: Sequence[Entry], *, now: datetime) -> None:
    """Append several ledger entries in one executemany."""
    if entries:
        await conn.execute(
            statements.cached(conn, "ledger", lambda: insert(ledger)),
            [
                {
                    "account_id": e.account_id,
                    "campaign_id": e.campaign_id,
                    "message_id": e.message_id,
                    "amount": e.amount,
                    "reason": e.reason,
                    "messages": e.messages,
                    "at": now,
                }
                for e in entries
            ],
        )


async def record_messages(
    conn: AsyncConnection,
    *,
    account_id: int,
    message_ids: Sequence[int],
    reason: str,
    now: datetime,
    sign: int = -1,
) -> None:
    """One ledger row per message, for its current price: ``sign`` -1 records debits
    (charges), +1 credits (refunds). A single ``INSERT ... SELECT`` over the message
    rows (the id list bound as one parameter), so a batch of 500 charges costs one
    statement executed inside the database. Free messages get no row."""
    if not message_ids:
        return
    statement = statements.cached(
        conn,
        ("ledger_messages", sign),
        lambda: insert(ledger).from_select(
            ["account_id", "campaign_id", "message_id", "amount", "reason", "messages", "at"],
            select(
                bindparam("aid", type_=BigInteger),
                messages.c.campaign_id,
                messages.c.id,
                type_coerce(messages.c.price, BigInteger) * sign,
                bindparam("reason", type_=String),
                literal(1),
                bindparam("at", type_=UtcDateTime),
            ).where(binds.in_list(conn, messages.c.id, "ids"), messages.c.price != 0),
        ),
    )
    for start in range(0, len(message_ids), 5000):
        chunk = message_ids[start : start + 5000]
        await conn.execute(
            statement,
            {
                "aid": account_id,
                "reason": reason,
                "at": now,
                "ids": binds.list_value(conn, chunk),
            },
        )


async def rate_state(conn: AsyncConnection, account_id: int) -> Any:
    """(rate_limit, rate_tokens, rate_at) of an account with a rate limit; else None."""
    result = await conn.execute(
        select(accounts.c.rate_limit, accounts.c.rate_tokens, accounts.c.rate_at).where(
            accounts.c.id == account_id, accounts.c.rate_limit.is_not(None)
        )
    )
    return result.first()


def available_tokens(state: Any, now: datetime) -> float:
    """Tokens in the account's one-second bucket at ``now`` (may be below zero after a
    concurrent overdraw: the debt is paid back by waiting)."""
    rate = float(state.rate_limit)
    if state.rate_at is None:
        return rate
    elapsed = max((now - state.rate_at).total_seconds(), 0.0)
    return float(min(rate, float(state.rate_tokens) + elapsed * rate))


async def spend_tokens(
    conn: AsyncConnection, *, account_id: int, state: Any, count: int, now: datetime
) -> None:
    """Take ``count`` tokens: compare-and-set on ``rate_at`` so two workers spending
    at once both count (the loser re-reads and spends from the fresh state)."""
    for _ in range(5):
        left = available_tokens(state, now) - count
        condition = (
            accounts.c.rate_at.is_(None)
            if state.rate_at is None
            else accounts.c.rate_at == state.rate_at
        )
        result = await conn.execute(
            update(accounts)
            .where(accounts.c.id == account_id, condition)
            .values(rate_tokens=left, rate_at=now)
        )
        if result.rowcount == 1:
            return
        fresh = await rate_state(conn, account_id)
        if fresh is None:
            return
        state = fresh
