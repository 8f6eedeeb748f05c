"""Message rows: one durable row per recipient, the record of its fate.

Every status change is ``UPDATE messages SET status=:to WHERE id IN (...) AND
status=:from RETURNING ...`` (one statement per allowed from-status); the counters
are adjusted from exactly the rows that changed, in the same transaction.
"""

from __future__ import annotations

import functools
import json
import operator
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Row,
    Select,
    bindparam,
    func,
    insert,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from clarion.domain.lifecycle import CampaignStatus, MessageStatus, Transition
from clarion.store import binds, statements
from clarion.store import campaigns as campaign_store
from clarion.store.schema import IN_FLIGHT, campaigns, messages
from clarion.store.types import UtcDateTime, from_micros

CHUNK = 5000  # bound parameters per IN list / executemany


@dataclass(frozen=True, slots=True)
class Changed:
    """A message that moved ``from_status`` -> the transition's target."""

    id: int
    campaign_id: int
    segments: int
    price_micros: int
    from_status: str

    @property
    def price(self) -> Decimal:
        return _price(self.price_micros)


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    phone: str
    text: str | None
    segments: int
    price_micros: int
    attempts: int

    @property
    def price(self) -> Decimal:
        return _price(self.price_micros)


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def existing_phones(
    conn: AsyncConnection, *, campaign_id: int, phones: Sequence[str]
) -> set[str]:
    found: set[str] = set()
    statement = statements.cached(
        conn,
        "existing_phones",
        lambda: select(messages.c.phone).where(
            messages.c.campaign_id == bindparam("cid"), _phone_filter(conn)
        ),
    )
    for chunk in _chunks(phones):
        result = await conn.execute(
            statement, {"cid": campaign_id, "phones": _ids_value(conn, chunk)}
        )
        found.update(result.scalars())
    return found


def _phone_filter(conn: AsyncConnection) -> ColumnElement[bool]:
    return binds.in_list(conn, messages.c.phone, "phones", text=True)


async def insert_new(
    conn: AsyncConnection,
    *,
    campaign_id: int,
    rows: Sequence[dict[str, Any]],
    now: datetime,
    returning: bool = True,
) -> list[int]:
    """Insert NEW messages (dicts with phone, country, operator, variables, text,
    segments, price) and count them; returns their ids in order (``returning=False``,
    for bulk imports that do not need them: an empty list, and a faster insert)."""
    ids: list[int] = []
    bulk = not returning and conn.dialect.name == "sqlite"
    if bulk and rows:
        await _insert_bulk(conn, campaign_id=campaign_id, rows=rows, now=now)
    for chunk in () if bulk else _chunks(rows, 1000):
        params = [
            {**row, "campaign_id": campaign_id, "status": MessageStatus.NEW, "created_at": now}
            for row in chunk
        ]
        if not returning:
            await conn.execute(
                statements.cached(conn, "insert_message", lambda: insert(messages)), params
            )
            continue
        result = await conn.execute(
            insert(messages).returning(messages.c.id, sort_by_parameter_order=True), params
        )
        ids.extend(int(i) for i in result.scalars())
    if rows:
        await campaign_store.adjust_counters(
            conn,
            {
                (campaign_id, MessageStatus.NEW.value): (
                    len(rows),
                    sum(int(r["segments"]) for r in rows),
                    sum((Decimal(r["price"]) for r in rows), Decimal(0)),
                )
            },
        )
    return ids


async def insert_fallbacks(
    conn: AsyncConnection, *, campaign_id: int, rows: Sequence[dict[str, Any]], now: datetime
) -> int:
    """Insert NEW fallback messages (dicts as for ``insert_new`` plus ``origin_id``)
    into an RCS campaign's SMS child, skipping phones it already holds (a message falls
    back at most once, whatever retries or concurrent workers do); returns how many
    were inserted, and counts exactly those."""
    if not rows:
        return 0
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as upsert
    else:
        from sqlalchemy.dialects.sqlite import insert as upsert  # type: ignore[assignment]
    statement = (
        upsert(messages)
        .on_conflict_do_nothing(index_elements=["campaign_id", "phone"])
        .returning(messages.c.segments, type_coerce(messages.c.price, BigInteger))
    )
    inserted = 0
    segments = 0
    micros = 0
    for chunk in _chunks(rows, 1000):
        params = [
            {**row, "campaign_id": campaign_id, "status": MessageStatus.NEW, "created_at": now}
            for row in chunk
        ]
        result = await conn.execute(statement, params)
        for seg, price in result.all():
            inserted += 1
            segments += int(seg)
            micros += int(price)
    if inserted:
        await campaign_store.adjust_counters(
            conn,
            {(campaign_id, MessageStatus.NEW.value): (inserted, segments, from_micros(micros))},
        )
    return inserted


async def retryable_without_fallback(
    conn: AsyncConnection, *, campaign_id: int, child_id: int, statuses: Iterable[str]
) -> list[int]:
    """Ids of the campaign's messages in ``statuses`` that have no fallback message in
    the child campaign ``child_id``."""
    fallbacks = messages.alias("fallbacks")
    result = await conn.execute(
        select(messages.c.id)
        .where(
            messages.c.campaign_id == campaign_id,
            messages.c.status.in_(list(statuses)),
            ~select(fallbacks.c.id)
            .where(fallbacks.c.campaign_id == child_id, fallbacks.c.origin_id == messages.c.id)
            .exists(),
        )
        .order_by(messages.c.id)
    )
    return [int(i) for i in result.scalars()]


async def by_ids(conn: AsyncConnection, ids: Sequence[int]) -> Sequence[Row[Any]]:
    """Message rows by id (any campaign), in id order."""
    found: list[Row[Any]] = []
    for chunk in _chunks(ids):
        result = await conn.execute(
            select(messages).where(messages.c.id.in_(chunk)).order_by(messages.c.id)
        )
        found.extend(result.all())
    return found


_BULK_CONSTANT = ("campaign_id", "status", "created_at")  # the same for every row
_BULK_ROW = ("phone", "country", "operator", "variables", "text", "segments", "price")


@dataclass(frozen=True, slots=True)
class _BulkInsert:
    sql: str
    values: Callable[[Mapping[str, Any]], tuple[Any, ...]]  # a row -> the parameters
    processors: dict[str, Callable[[Any], Any]]  # SQLAlchemy's bind processors, by column


def _build_bulk_insert(conn: AsyncConnection) -> _BulkInsert:
    dialect = conn.dialect
    names = _BULK_CONSTANT + _BULK_ROW
    compiled = insert(messages).values({n: bindparam(n) for n in names}).compile(dialect=dialect)
    order = tuple(compiled.positiontup or ())
    if sorted(order) != sorted(names):
        raise RuntimeError(f"unexpected parameters {order} in {compiled.string}")
    processors: dict[str, Callable[[Any], Any]] = {}
    for name in names:
        processor = messages.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        if processor is not None:
            processors[name] = processor
    return _BulkInsert(compiled.string, operator.itemgetter(*order), processors)


async def _insert_bulk(
    conn: AsyncConnection, *, campaign_id: int, rows: Sequence[dict[str, Any]], now: datetime
) -> None:
    """``insert_new(returning=False)`` on SQLite: exactly the values Core's
    ``executemany`` of ``insert(messages)`` would bind, through the same bind
    processors (JSON, Money, UtcDateTime), but each processor runs once per distinct
    value rather than once per row (status, campaign and timestamp are the same for
    every row; prices and ``variables=None`` repeat), then one driver-level
    ``executemany``: Core's per-row parameter handling costs several times what
    SQLite spends storing the row."""
    bulk = statements.cached(conn, "insert_message_bulk", lambda: _build_bulk_insert(conn))
    constant = {"campaign_id": campaign_id, "status": MessageStatus.NEW, "created_at": now}
    fixed = {
        name: bulk.processors[name](value) if name in bulk.processors else value
        for name, value in constant.items()
    }
    # (column, its processor, results by (type, value): 1 and True are equal keys, but
    # not the same JSON)
    per_row: list[tuple[str, Callable[[Any], Any], dict[tuple[type, Any], Any]]] = [
        (name, bulk.processors[name], {}) for name in _BULK_ROW if name in bulk.processors
    ]
    params = []
    for row in rows:
        values = {**row, **fixed}
        for name, processor, memo in per_row:
            value = row[name]
            key = (type(value), value)
            try:
                values[name] = memo[key]
            except KeyError:
                values[name] = memo[key] = processor(value)
            except TypeError:  # unhashable: template variables
                values[name] = processor(value)
        params.append(bulk.values(values))
    await conn.exec_driver_sql(bulk.sql, params)


async def last_id(conn: AsyncConnection, *, campaign_id: int) -> int:
    """The highest message id of the campaign (0 if none)."""
    result = await conn.execute(
        select(func.coalesce(func.max(messages.c.id), 0)).where(
            messages.c.campaign_id == campaign_id
        )
    )
    return int(result.scalar_one())


async def delete_all(conn: AsyncConnection, *, campaign_id: int, after_id: int = 0) -> int:
    """Remove the messages of a never-started campaign with id > ``after_id`` (all by
    default; an import rolled back removes only its own), adjusting the counters."""
    result = await conn.execute(
        messages.delete()
        .where(messages.c.campaign_id == campaign_id, messages.c.id > after_id)
        .returning(messages.c.status, messages.c.segments, messages.c.price)
    )
    deltas: dict[tuple[int, str], list[Any]] = {}
    count = 0
    for row in result:
        count += 1
        d = deltas.setdefault((campaign_id, row.status), [0, 0, Decimal(0)])
        d[0] -= 1
        d[1] -= row.segments
        d[2] -= row.price
    await campaign_store.adjust_counters(conn, {k: (v[0], v[1], v[2]) for k, v in deltas.items()})
    return count


def _count(changed: Sequence[Changed], to: str) -> dict[tuple[int, str], tuple[int, int, Decimal]]:
    acc: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for m in changed:
        src = acc[(m.campaign_id, m.from_status)]
        dst = acc[(m.campaign_id, to)]
        src[0] -= 1
        src[1] -= m.segments
        src[2] -= m.price_micros
        dst[0] += 1
        dst[1] += m.segments
        dst[2] += m.price_micros
    return {k: (v[0], v[1], from_micros(v[2])) for k, v in acc.items()}


_RETURNING = (
    messages.c.id,
    messages.c.campaign_id,
    messages.c.segments,
    type_coerce(messages.c.price, BigInteger).label("price_micros"),
)
_price = functools.lru_cache(maxsize=4096)(from_micros)  # one Decimal per distinct price


def _id_filter(conn: AsyncConnection) -> ColumnElement[bool]:
    """``id`` in the list bound as ``:ids`` (see store/binds.py)."""
    return binds.in_list(conn, messages.c.id, "ids")


def _ids_value(conn: AsyncConnection, ids: Sequence[int] | Sequence[str]) -> object:
    return binds.list_value(conn, ids)


async def transition(
    conn: AsyncConnection,
    *,
    ids: Sequence[int],
    transition: Transition,
    now: datetime,
    values: dict[str, Any] | None = None,
) -> list[Changed]:
    """Move the listed messages that are in an allowed status; returns what moved."""
    changed: list[Changed] = []
    if not ids:
        return changed
    extra = values or {}
    remaining: Sequence[int] = ids
    for from_status in sorted(transition.allowed_from):
        statement = (
            update(messages)
            .where(_id_filter(conn), messages.c.status == from_status)
            .values(status=transition.to, status_updated_at=now, **extra)
            .returning(*_RETURNING)
        )
        moved: list[Changed] = []
        for chunk in _chunks(remaining):
            result = await conn.execute(statement, {"ids": _ids_value(conn, chunk)})
            moved.extend(Changed(r[0], r[1], r[2], r[3], from_status) for r in result.all())
        changed.extend(moved)
        if len(moved) == len(remaining):
            break
        done = {m.id for m in moved}
        remaining = [i for i in remaining if i not in done]
    await campaign_store.adjust_counters(conn, _count(changed, transition.to))
    return changed


_ROWS_SQLITE = """
UPDATE messages
SET status = :to, status_updated_at = :now,
    channel_ref = COALESCE(json_extract(r.value, '$[1]'), messages.channel_ref),
    error_code = COALESCE(json_extract(r.value, '$[2]'), messages.error_code)
FROM json_each(:rows) AS r
WHERE messages.id = json_extract(r.value, '$[0]') AND messages.status = :from_status
"""
_ROWS_POSTGRESQL = """
UPDATE messages
SET status = :to, status_updated_at = :now,
    channel_ref = COALESCE(r.ref, messages.channel_ref),
    error_code = COALESCE(r.err, messages.error_code)
FROM unnest(CAST(:ids AS BIGINT[]), CAST(:refs AS TEXT[]), CAST(:errs AS TEXT[]))
     AS r(id, ref, err)
WHERE messages.id = r.id AND messages.status = :from_status
"""
_ROWS_RETURNING = "RETURNING messages.id, messages.campaign_id, messages.segments, messages.price"


@dataclass(frozen=True, slots=True)
class Outcome:
    """A message's new carrier id and/or error code (None keeps the current one)."""

    id: int
    channel_ref: str | None = None
    error_code: str | None = None


async def transition_rows(
    conn: AsyncConnection,
    *,
    rows: Sequence[Outcome],
    transition: Transition,
    now: datetime,
) -> list[Changed]:
    """Like ``transition`` but also records a per-message carrier id / error, in the
    same single statement (``UPDATE ... FROM`` a bound list)."""
    changed: list[Changed] = []
    if not rows:
        return changed
    sql = _ROWS_POSTGRESQL if conn.dialect.name == "postgresql" else _ROWS_SQLITE
    statement = (
        text(sql + _ROWS_RETURNING)
        .bindparams(bindparam("now", type_=UtcDateTime))
        .columns(id=BigInteger, campaign_id=BigInteger, segments=Integer, price=BigInteger)
    )
    remaining: Sequence[Outcome] = rows
    for from_status in sorted(transition.allowed_from):
        moved: list[Changed] = []
        for chunk in _chunks(remaining):
            params = _rows_params(conn, chunk, to=transition.to, now=now, from_status=from_status)
            result = await conn.execute(statement, params)
            moved.extend(Changed(r[0], r[1], r[2], r[3], from_status) for r in result.all())
        changed.extend(moved)
        if len(moved) == len(remaining):
            break
        done = {m.id for m in moved}
        remaining = [r for r in remaining if r.id not in done]
    await campaign_store.adjust_counters(conn, _count(changed, transition.to))
    return changed


def _rows_params(
    conn: AsyncConnection, chunk: Sequence[Outcome], *, to: str, now: datetime, from_status: str
) -> dict[str, Any]:
    params: dict[str, Any] = {"to": to, "now": now, "from_status": from_status}
    if conn.dialect.name == "postgresql":
        params["ids"] = [r.id for r in chunk]
        params["refs"] = [r.channel_ref for r in chunk]
        params["errs"] = [r.error_code for r in chunk]
    else:
        params["rows"] = json.dumps([[r.id, r.channel_ref, r.error_code] for r in chunk])
    return params


async def settle_claimed(
    conn: AsyncConnection,
    *,
    campaign_id: int,
    outcomes: Mapping[str, Sequence[Outcome]],
    claimed: Mapping[int, Claimed],
    now: datetime,
) -> None:
    """Fast path for messages this worker claimed and still holds in SENDING: each
    group of ``outcomes`` moves SENDING -> its status key with its carrier id / error,
    one UPDATE per group and no RETURNING; counters come from the ``claimed`` rows.

    Raises ``ClaimRace`` when an UPDATE changes fewer rows than listed (another worker
    reconciled one meanwhile); the caller rolls back and uses ``transition_rows``."""
    sql = _ROWS_POSTGRESQL if conn.dialect.name == "postgresql" else _ROWS_SQLITE
    statement = statements.cached(
        conn, "settle", lambda: text(sql).bindparams(bindparam("now", type_=UtcDateTime))
    )
    deltas: dict[tuple[int, str], tuple[int, int, Decimal]] = {}
    total = [0, 0, 0]
    for to, rows in outcomes.items():
        if not rows:
            continue
        changed = 0
        for chunk in _chunks(rows):
            params = _rows_params(conn, chunk, to=to, now=now, from_status=MessageStatus.SENDING)
            result = await conn.execute(statement, params)
            changed += result.rowcount
        if changed != len(rows):
            raise ClaimRace(f"{len(rows) - changed} claimed messages were no longer SENDING")
        segments = sum(claimed[r.id].segments for r in rows)
        micros = sum(claimed[r.id].price_micros for r in rows)
        deltas[(campaign_id, to)] = (len(rows), segments, from_micros(micros))
        total[0] += len(rows)
        total[1] += segments
        total[2] += micros
    if total[0]:
        deltas[(campaign_id, MessageStatus.SENDING.value)] = (
            -total[0],
            -total[1],
            -from_micros(total[2]),
        )
        await campaign_store.adjust_counters(conn, deltas)


async def transition_campaign(
    conn: AsyncConnection,
    *,
    campaign_id: int,
    transition: Transition,
    now: datetime,
    values: dict[str, Any] | None = None,
) -> list[Changed]:
    """Move every message of a campaign that is in an allowed status."""
    changed: list[Changed] = []
    for from_status in sorted(transition.allowed_from):
        result = await conn.execute(
            update(messages)
            .where(messages.c.campaign_id == campaign_id, messages.c.status == from_status)
            .values(status=transition.to, status_updated_at=now, **(values or {}))
            .returning(*_RETURNING)
        )
        changed.extend(Changed(r[0], r[1], r[2], r[3], from_status) for r in result.all())
    await campaign_store.adjust_counters(conn, _count(changed, transition.to))
    return changed


def _due_new_query(postgres: bool) -> Any:
    query = (
        select(
            messages.c.id,
            messages.c.phone,
            messages.c.text,
            messages.c.segments,
            type_coerce(messages.c.price, BigInteger),
            messages.c.attempts,
        )
        .where(
            messages.c.campaign_id == bindparam("cid"),
            messages.c.status == MessageStatus.NEW.value,
            # Only while the campaign is RUNNING, checked in the claiming transaction:
            # a pause or stop committed before it is always honoured.
            select(campaigns.c.status).where(campaigns.c.id == bindparam("cid")).scalar_subquery()
            == CampaignStatus.RUNNING.value,
        )
        .order_by(messages.c.id)
        .limit(bindparam("limit"))
    )
    if postgres:
        query = query.with_for_update(of=messages, skip_locked=True)
    return query


async def due_new(conn: AsyncConnection, *, campaign_id: int, limit: int) -> list[Claimed]:
    """NEW messages of a RUNNING campaign, oldest first; locked with SKIP LOCKED on
    PostgreSQL so concurrent workers take disjoint batches."""
    postgres = conn.dialect.name == "postgresql"
    query = statements.cached(conn, "due_new", lambda: _due_new_query(postgres))
    result = await conn.execute(query, {"cid": campaign_id, "limit": limit})
    return [Claimed(r[0], r[1], r[2], r[3], r[4], r[5]) for r in result.all()]


class ClaimRace(RuntimeError):
    """A message selected for claiming was no longer NEW (the transaction is undone)."""


async def claim(
    conn: AsyncConnection,
    *,
    campaign_id: int,
    rows: Sequence[Claimed],
    now: datetime,
    claim: Transition,
) -> None:
    """NEW -> SENDING for rows just selected by ``due_new`` in this transaction (locked
    on PostgreSQL, under the write lock on SQLite): one more attempt, the price added to
    what the message was charged. Counters come from the selected rows; if the guarded
    UPDATE does not change every one of them, ``ClaimRace`` is raised."""
    if not rows:
        return
    (from_status,) = claim.allowed_from
    statement = statements.cached(
        conn,
        ("claim", from_status, claim.to),
        lambda: (
            update(messages)
            .where(_id_filter(conn), messages.c.status == from_status)
            .values(
                status=claim.to,
                status_updated_at=bindparam("now", type_=UtcDateTime),
                claimed_at=bindparam("now", type_=UtcDateTime),
                attempts=messages.c.attempts + 1,
                charged=messages.c.charged + messages.c.price,
            )
        ),
    )
    changed = 0
    for chunk in _chunks(rows):
        ids = _ids_value(conn, [r.id for r in chunk])
        result = await conn.execute(statement, {"ids": ids, "now": now})
        changed += result.rowcount
    if changed != len(rows):
        raise ClaimRace(f"claimed {changed} of {len(rows)} selected messages")
    segments = sum(r.segments for r in rows)
    cost = from_micros(sum(r.price_micros for r in rows))
    await campaign_store.adjust_counters(
        conn,
        {
            (campaign_id, from_status): (-len(rows), -segments, -cost),
            (campaign_id, claim.to): (len(rows), segments, cost),
        },
    )


async def refund_charge(conn: AsyncConnection, *, ids: Sequence[int]) -> None:
    """Undo the charge of the current attempt (submission never reached the carrier)."""
    for chunk in _chunks(ids):
        await conn.execute(
            update(messages)
            .where(messages.c.id.in_(chunk))
            .values(charged=messages.c.charged - messages.c.price)
        )


async def campaigns_of(conn: AsyncConnection, ids: Sequence[int]) -> set[int]:
    """The campaigns of these messages."""
    found: set[int] = set()
    for chunk in _chunks(ids):
        result = await conn.execute(
            select(messages.c.campaign_id).where(messages.c.id.in_(chunk)).distinct()
        )
        found.update(int(c) for c in result.scalars())
    return found


async def still_claimed(conn: AsyncConnection, attempts: Mapping[int, int]) -> set[int]:
    """Which of these messages are still SENDING at exactly the given attempt (locked
    on PostgreSQL until the transaction ends): what a reconciliation may settle."""
    found: set[int] = set()
    ids = list(attempts)
    for chunk in _chunks(ids):
        query = select(messages.c.id, messages.c.attempts).where(
            messages.c.id.in_(chunk), messages.c.status == MessageStatus.SENDING
        )
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        for mid, attempt in await conn.execute(query):
            if attempts.get(int(mid)) == int(attempt):
                found.add(int(mid))
    return found


async def ids_by_ref(conn: AsyncConnection, refs: Sequence[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in _chunks(refs):
        result = await conn.execute(
            select(messages.c.channel_ref, messages.c.id).where(messages.c.channel_ref.in_(chunk))
        )
        found.update({r.channel_ref: r.id for r in result})
    return found


def stale_sending_query(*, before: datetime, limit: int = 1000) -> Select[Any]:
    """SENDING messages claimed before ``before``, the oldest claims first. The
    condition is the literal predicate of the partial index ``ix_messages_in_flight``
    (a bound status would hide it from both planners) and the order is the index's
    (ordered by id, SQLite would rather walk the whole table in rowid order), so this
    reads the in-flight rows only."""
    return (
        select(messages.c.id, messages.c.campaign_id, messages.c.attempts, messages.c.channel_ref)
        .where(text(IN_FLIGHT), messages.c.claimed_at < before)
        .order_by(messages.c.claimed_at, messages.c.id)
        .limit(limit)
    )


async def stale_sending(
    conn: AsyncConnection, *, before: datetime, limit: int = 1000
) -> Sequence[Any]:
    result = await conn.execute(stale_sending_query(before=before, limit=limit))
    return list(result)


async def page(
    conn: AsyncConnection,
    *,
    campaign_id: int,
    statuses: Iterable[str] = (),
    limit: int = 100,
    offset: int = 0,
) -> tuple[Sequence[Row[Any]], int]:
    where = [messages.c.campaign_id == campaign_id]
    status_list = list(statuses)
    if status_list:
        where.append(messages.c.status.in_(status_list))
    rows = await conn.execute(
        select(messages).where(*where).order_by(messages.c.id).limit(limit).offset(offset)
    )
    total = await conn.execute(select(func.count()).select_from(messages).where(*where))
    return rows.all(), int(total.scalar_one())


async def group_by_status(
    conn: AsyncConnection, campaign_id: int
) -> dict[str, tuple[int, int, Decimal]]:
    """(messages, segments, sum of price) per status, straight from the rows."""
    result = await conn.execute(
        select(
            messages.c.status,
            func.count(),
            func.coalesce(func.sum(messages.c.segments), 0),
            func.coalesce(func.sum(messages.c.price), 0, type_=BigInteger),
        )
        .where(messages.c.campaign_id == campaign_id)
        .group_by(messages.c.status)
    )
    return {r[0]: (int(r[1]), int(r[2]), from_micros(int(r[3]))) for r in result}


async def rejected_by_error(conn: AsyncConnection, campaign_id: int) -> dict[str, int]:
    """REJECTED messages of a campaign counted by error code ("" for none)."""
    result = await conn.execute(
        select(messages.c.error_code, func.count())
        .where(messages.c.campaign_id == campaign_id, messages.c.status == MessageStatus.REJECTED)
        .group_by(messages.c.error_code)
    )
    return {str(code or ""): int(n) for code, n in result}


async def sum_charged(conn: AsyncConnection, campaign_id: int) -> Decimal:
    result = await conn.execute(
        select(func.coalesce(func.sum(messages.c.charged), 0, type_=BigInteger)).where(
            messages.c.campaign_id == campaign_id
        )
    )
    return from_micros(int(result.scalar_one()))


async def first_new_price(conn: AsyncConnection, campaign_id: int) -> Decimal | None:
    result = await conn.execute(
        select(messages.c.price)
        .where(messages.c.campaign_id == campaign_id, messages.c.status == MessageStatus.NEW)
        .order_by(messages.c.id)
        .limit(1)
    )
    value: Decimal | None = result.scalar_one_or_none()
    return value
