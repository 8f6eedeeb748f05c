"""Address book: contact cards, their contacts and groups of cards.

* A *contact card* is a person: ``name`` and custom ``fields`` (str -> str).
* Its *contacts* are typed values (``type`` mobile | phone | email): ``value`` as
  given (trimmed) and ``phone``, the E.164 form when a mobile / phone value
  normalises (NULL otherwise, and always NULL for email).
* *Groups* hold cards; a card may be in many groups.

Every query is scoped by ``account_id``: a card, contact or group of another account
behaves exactly like one that does not exist. Id lists are bound as ONE parameter
(``json_each`` on SQLite, ``= ANY(array)`` on PostgreSQL), :data:`CHUNK` ids per
statement.

The recipient importer reads numbers through :func:`card_numbers`,
:func:`contact_numbers`, :func:`existing_groups`, :func:`group_numbers` (paged by
card id, so an import task can checkpoint) and :func:`card_variables`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Insert,
    Row,
    String,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from clarion.store import binds, statements
from clarion.store.schema import contact_cards, contact_group_cards, contact_groups, contacts

CHUNK = 5000  # ids per statement
MOBILE = "mobile"
PHONE_TYPES = ("mobile", "phone")  # types whose value is normalised to ``phone``


class NewContact(NamedTuple):
    type: str
    value: str
    phone: str | None


def _chunks(items: Sequence[int], size: int = CHUNK) -> Iterable[list[int]]:
    unique = list(dict.fromkeys(items))
    for start in range(0, len(unique), size):
        yield unique[start : start + size]


def _in_ids(conn: AsyncConnection, column: Any) -> ColumnElement[bool]:
    """``column`` in the id list bound as ``:ids`` (see store/binds.py)."""
    return binds.in_list(conn, column, "ids")


def _ids(conn: AsyncConnection, ids: Sequence[int]) -> object:
    return binds.list_value(conn, ids)


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# -- cards -------------------------------------------------------------------------


async def insert_card(
    conn: AsyncConnection,
    *,
    account_id: int,
    name: str,
    fields: dict[str, str] | None,
    now: datetime,
) -> int:
    result = await conn.execute(
        insert(contact_cards)
        .values(account_id=account_id, name=name, fields=fields, created_at=now, updated_at=now)
        .returning(contact_cards.c.id)
    )
    return int(result.scalar_one())


async def get_card(conn: AsyncConnection, *, account_id: int, card_id: int) -> Row[Any] | None:
    result = await conn.execute(
        select(contact_cards).where(
            contact_cards.c.id == card_id, contact_cards.c.account_id == account_id
        )
    )
    return result.first()


async def update_card(
    conn: AsyncConnection,
    *,
    account_id: int,
    card_id: int,
    values: dict[str, Any],
    now: datetime,
) -> bool:
    result = await conn.execute(
        update(contact_cards)
        .where(contact_cards.c.id == card_id, contact_cards.c.account_id == account_id)
        .values(**values, updated_at=now)
    )
    return result.rowcount == 1


async def delete_card(conn: AsyncConnection, *, account_id: int, card_id: int) -> bool:
    """Delete a card with its contacts and group memberships."""
    owned = contact_cards.c.account_id == account_id
    if await get_card(conn, account_id=account_id, card_id=card_id) is None:
        return False
    await conn.execute(delete(contacts).where(contacts.c.card_id == card_id))
    await conn.execute(delete(contact_group_cards).where(contact_group_cards.c.card_id == card_id))
    result = await conn.execute(delete(contact_cards).where(contact_cards.c.id == card_id, owned))
    return result.rowcount == 1


async def replace_contacts(
    conn: AsyncConnection,
    *,
    account_id: int,
    card_id: int,
    values: Sequence[NewContact],
    now: datetime,
) -> None:
    """Make ``values`` the card's contacts (the card must be the account's)."""
    await conn.execute(delete(contacts).where(contacts.c.card_id == card_id))
    if values:
        await conn.execute(
            insert(contacts),
            [
                {
                    "account_id": account_id,
                    "card_id": card_id,
                    "type": c.type,
                    "value": c.value,
                    "phone": c.phone,
                    "created_at": now,
                }
                for c in values
            ],
        )


async def contacts_of(
    conn: AsyncConnection, *, card_ids: Sequence[int]
) -> dict[int, list[Row[Any]]]:
    """The contacts of the given cards (already known to be the caller's), by card,
    in creation order."""
    found: dict[int, list[Row[Any]]] = {card_id: [] for card_id in card_ids}
    for chunk in _chunks(card_ids):
        result = await conn.execute(
            select(contacts)
            .where(_in_ids(conn, contacts.c.card_id))
            .order_by(contacts.c.card_id, contacts.c.id),
            {"ids": _ids(conn, chunk)},
        )
        for row in result:
            found[row.card_id].append(row)
    return found


async def groups_of(conn: AsyncConnection, *, card_ids: Sequence[int]) -> dict[int, list[int]]:
    """The group ids of the given cards, by card, ascending."""
    found: dict[int, list[int]] = {card_id: [] for card_id in card_ids}
    for chunk in _chunks(card_ids):
        result = await conn.execute(
            select(contact_group_cards.c.card_id, contact_group_cards.c.group_id)
            .where(_in_ids(conn, contact_group_cards.c.card_id))
            .order_by(contact_group_cards.c.card_id, contact_group_cards.c.group_id),
            {"ids": _ids(conn, chunk)},
        )
        for card_id, group_id in result:
            found[card_id].append(int(group_id))
    return found


async def set_groups(conn: AsyncConnection, *, card_id: int, group_ids: Sequence[int]) -> None:
    """Make the card a member of exactly ``group_ids`` (already checked to be the
    card's account's)."""
    await conn.execute(delete(contact_group_cards).where(contact_group_cards.c.card_id == card_id))
    unique = list(dict.fromkeys(group_ids))
    if unique:
        await conn.execute(
            insert(contact_group_cards), [{"group_id": g, "card_id": card_id} for g in unique]
        )


async def search_cards(
    conn: AsyncConnection,
    *,
    account_id: int,
    text: str | None = None,
    phone_digits: str | None = None,
    group_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[Sequence[Row[Any]], int]:
    """Cards of one account, by id. ``text`` matches (case-insensitively, anywhere)
    the name or a contact value; ``phone_digits`` matches anywhere in a contact's
    E.164 phone; both given means either. Returns (page, total matching)."""
    where: list[ColumnElement[bool]] = [contact_cards.c.account_id == account_id]
    if group_id is not None:
        where.append(
            contact_cards.c.id.in_(
                select(contact_group_cards.c.card_id).where(
                    contact_group_cards.c.group_id == group_id
                )
            )
        )
    matches: list[ColumnElement[bool]] = []
    if text:
        pattern = _like(text)
        matches.append(func.lower(contact_cards.c.name).like(pattern, escape="\\"))
        matches.append(
            exists().where(
                contacts.c.card_id == contact_cards.c.id,
                func.lower(contacts.c.value).like(pattern, escape="\\"),
            )
        )
    if phone_digits:
        matches.append(
            exists().where(
                contacts.c.card_id == contact_cards.c.id,
                contacts.c.phone.like(_like(phone_digits), escape="\\"),
            )
        )
    if matches:
        where.append(or_(*matches))
    page = await conn.execute(
        select(contact_cards)
        .where(and_(*where))
        .order_by(contact_cards.c.id)
        .limit(limit)
        .offset(offset)
    )
    total = await conn.execute(select(func.count()).select_from(contact_cards).where(and_(*where)))
    return page.all(), int(total.scalar_one())


async def existing_cards(
    conn: AsyncConnection, *, account_id: int, card_ids: Sequence[int]
) -> set[int]:
    found: set[int] = set()
    for chunk in _chunks(card_ids):
        result = await conn.execute(
            select(contact_cards.c.id).where(
                contact_cards.c.account_id == account_id, _in_ids(conn, contact_cards.c.id)
            ),
            {"ids": _ids(conn, chunk)},
        )
        found.update(int(i) for i in result.scalars())
    return found


async def known_phones(
    conn: AsyncConnection, *, account_id: int, phones: Sequence[str]
) -> set[str]:
    """Which of the E.164 ``phones`` are already a phone contact of the account."""
    found: set[str] = set()
    for start in range(0, len(phones), 1000):
        chunk = list(phones[start : start + 1000])
        result = await conn.execute(
            select(contacts.c.phone).where(
                contacts.c.account_id == account_id, contacts.c.phone.in_(chunk)
            )
        )
        found.update(str(p) for p in result.scalars())
    return found


# -- groups ------------------------------------------------------------------------

_CARD_COUNT = (
    select(func.count())
    .where(contact_group_cards.c.group_id == contact_groups.c.id)
    .scalar_subquery()
    .label("card_count")
)


async def insert_group(conn: AsyncConnection, *, account_id: int, name: str, now: datetime) -> int:
    result = await conn.execute(
        insert(contact_groups)
        .values(account_id=account_id, name=name, created_at=now)
        .returning(contact_groups.c.id)
    )
    return int(result.scalar_one())


async def group_named(conn: AsyncConnection, *, account_id: int, name: str) -> int | None:
    result = await conn.execute(
        select(contact_groups.c.id).where(
            contact_groups.c.account_id == account_id, contact_groups.c.name == name
        )
    )
    found = result.scalar_one_or_none()
    return None if found is None else int(found)


async def get_group(conn: AsyncConnection, *, account_id: int, group_id: int) -> Row[Any] | None:
    """The group with its ``card_count``."""
    result = await conn.execute(
        select(contact_groups, _CARD_COUNT).where(
            contact_groups.c.id == group_id, contact_groups.c.account_id == account_id
        )
    )
    return result.first()


async def groups_page(
    conn: AsyncConnection, *, account_id: int, limit: int, offset: int
) -> tuple[Sequence[Row[Any]], int]:
    """The account's groups by name, each with its ``card_count``; (page, total)."""
    owned = contact_groups.c.account_id == account_id
    page = await conn.execute(
        select(contact_groups, _CARD_COUNT)
        .where(owned)
        .order_by(contact_groups.c.name, contact_groups.c.id)
        .limit(limit)
        .offset(offset)
    )
    total = await conn.execute(select(func.count()).select_from(contact_groups).where(owned))
    return page.all(), int(total.scalar_one())


async def rename_group(conn: AsyncConnection, *, account_id: int, group_id: int, name: str) -> bool:
    result = await conn.execute(
        update(contact_groups)
        .where(contact_groups.c.id == group_id, contact_groups.c.account_id == account_id)
        .values(name=name)
    )
    return result.rowcount == 1


async def delete_group(conn: AsyncConnection, *, account_id: int, group_id: int) -> bool:
    """Delete a group and its memberships (the cards stay)."""
    if await get_group(conn, account_id=account_id, group_id=group_id) is None:
        return False
    await conn.execute(
        delete(contact_group_cards).where(contact_group_cards.c.group_id == group_id)
    )
    result = await conn.execute(
        delete(contact_groups).where(
            contact_groups.c.id == group_id, contact_groups.c.account_id == account_id
        )
    )
    return result.rowcount == 1


def _build_add_members(conn: AsyncConnection) -> Insert:
    gid = bindparam("gid", type_=BigInteger)
    if conn.dialect.name == "postgresql":
        pg_ids = (
            func.unnest(bindparam("ids", type_=postgresql.ARRAY(BigInteger)))
            .table_valued("value")
            .render_derived()
        )
        pg_insert = postgresql.insert(contact_group_cards).from_select(
            ["group_id", "card_id"], select(gid, pg_ids.c.value)
        )
        return pg_insert.on_conflict_do_nothing(index_elements=["group_id", "card_id"]).returning(
            contact_group_cards.c.card_id
        )
    ids = func.json_each(bindparam("ids", type_=String)).table_valued("value")
    # SQLite needs a WHERE in INSERT ... SELECT ... ON CONFLICT (parsing ambiguity).
    lite_insert = sqlite.insert(contact_group_cards).from_select(
        ["group_id", "card_id"], select(gid, ids.c.value).where(true())
    )
    return lite_insert.on_conflict_do_nothing(index_elements=["group_id", "card_id"]).returning(
        contact_group_cards.c.card_id
    )


async def add_members(conn: AsyncConnection, *, group_id: int, card_ids: Sequence[int]) -> int:
    """Put cards (already checked to be the group's account's) in a group, ignoring
    those already in it; returns how many were new."""
    statement = statements.cached(conn, "contacts_add_members", lambda: _build_add_members(conn))
    added = 0
    for chunk in _chunks(card_ids):
        result = await conn.execute(statement, {"gid": group_id, "ids": _ids(conn, chunk)})
        added += len(result.all())
    return added


async def remove_member(conn: AsyncConnection, *, group_id: int, card_id: int) -> bool:
    result = await conn.execute(
        delete(contact_group_cards).where(
            contact_group_cards.c.group_id == group_id, contact_group_cards.c.card_id == card_id
        )
    )
    return result.rowcount == 1


# -- what the recipient importer reads ----------------------------------------------


async def card_numbers(
    conn: AsyncConnection, *, account_id: int, card_ids: Sequence[int]
) -> dict[int, list[str]]:
    """For each EXISTING card of the account among ``card_ids``: the E.164 phones of
    its mobile contacts that normalised (in contact order, without repeats; possibly
    empty). Missing and foreign cards are absent from the result."""
    found: dict[int, list[str]] = {}
    joined = contact_cards.outerjoin(
        contacts,
        and_(
            contacts.c.card_id == contact_cards.c.id,
            contacts.c.type == MOBILE,
            contacts.c.phone.is_not(None),
        ),
    )
    statement = (
        select(contact_cards.c.id, contacts.c.phone)
        .select_from(joined)
        .where(contact_cards.c.account_id == account_id, _in_ids(conn, contact_cards.c.id))
        .order_by(contact_cards.c.id, contacts.c.id)
    )
    for chunk in _chunks(card_ids):
        result = await conn.execute(statement, {"ids": _ids(conn, chunk)})
        for card_id, phone in result:
            phones = found.setdefault(int(card_id), [])
            if phone is not None and phone not in phones:
                phones.append(phone)
    return found


async def contact_numbers(
    conn: AsyncConnection, *, account_id: int, contact_ids: Sequence[int]
) -> dict[int, str | None]:
    """For each existing contact of the account among ``contact_ids``: its E.164
    phone if it is a mobile / phone contact that normalised, else None. Missing and
    foreign contacts are absent."""
    found: dict[int, str | None] = {}
    statement = select(contacts.c.id, contacts.c.type, contacts.c.phone).where(
        contacts.c.account_id == account_id, _in_ids(conn, contacts.c.id)
    )
    for chunk in _chunks(contact_ids):
        result = await conn.execute(statement, {"ids": _ids(conn, chunk)})
        for contact_id, kind, phone in result:
            found[int(contact_id)] = phone if kind in PHONE_TYPES else None
    return found


async def contact_cards_of(
    conn: AsyncConnection, *, account_id: int, contact_ids: Sequence[int]
) -> dict[int, int]:
    """contact id -> its card id, for existing contacts of the account."""
    found: dict[int, int] = {}
    statement = select(contacts.c.id, contacts.c.card_id).where(
        contacts.c.account_id == account_id, _in_ids(conn, contacts.c.id)
    )
    for chunk in _chunks(contact_ids):
        result = await conn.execute(statement, {"ids": _ids(conn, chunk)})
        found.update((int(c), int(k)) for c, k in result)
    return found


async def existing_groups(
    conn: AsyncConnection, *, account_id: int, group_ids: Sequence[int]
) -> set[int]:
    """Which of ``group_ids`` are groups of the account."""
    found: set[int] = set()
    for chunk in _chunks(group_ids):
        result = await conn.execute(
            select(contact_groups.c.id).where(
                contact_groups.c.account_id == account_id, _in_ids(conn, contact_groups.c.id)
            ),
            {"ids": _ids(conn, chunk)},
        )
        found.update(int(i) for i in result.scalars())
    return found


async def group_numbers(
    conn: AsyncConnection,
    *,
    account_id: int,
    group_ids: Sequence[int],
    after_card_id: int = 0,
    limit: int = 5000,
) -> list[tuple[int, str]]:
    """``(card_id, E.164 mobile phone)`` for cards of the account in any of
    ``group_ids`` with ``card_id > after_card_id``, ordered by card id, at most
    ``limit`` of them.

    Each card appears at most once, however many of the groups hold it and however
    many mobile contacts it has (its first mobile contact that normalised is used);
    cards without such a contact are skipped. Page by passing the last card id
    returned as ``after_card_id``; a page shorter than ``limit`` is the last."""
    unique = list(dict.fromkeys(group_ids))
    if not unique or limit <= 0:
        return []
    members = (
        select(contact_group_cards.c.card_id)
        .join(contact_groups, contact_groups.c.id == contact_group_cards.c.group_id)
        .where(contact_groups.c.account_id == account_id, _in_ids(conn, contact_groups.c.id))
    )
    first = (
        select(contacts.c.card_id, func.min(contacts.c.id).label("contact_id"))
        .where(
            contacts.c.account_id == account_id,
            contacts.c.type == MOBILE,
            contacts.c.phone.is_not(None),
            contacts.c.card_id > after_card_id,
            contacts.c.card_id.in_(members),
        )
        .group_by(contacts.c.card_id)
        .order_by(contacts.c.card_id)
        .limit(limit)
        .subquery()
    )
    result = await conn.execute(
        select(first.c.card_id, contacts.c.phone)
        .join(contacts, contacts.c.id == first.c.contact_id)
        .order_by(first.c.card_id),
        {"ids": _ids(conn, unique)},
    )
    return [(int(card_id), str(phone)) for card_id, phone in result]


async def card_variables(
    conn: AsyncConnection, *, account_id: int, card_ids: Sequence[int]
) -> dict[int, dict[str, str]]:
    """For each existing card of the account: its custom fields plus its name as
    ``"name"`` (template placeholders). Missing and foreign cards are absent."""
    found: dict[int, dict[str, str]] = {}
    statement = select(contact_cards.c.id, contact_cards.c.name, contact_cards.c.fields).where(
        contact_cards.c.account_id == account_id, _in_ids(conn, contact_cards.c.id)
    )
    for chunk in _chunks(card_ids):
        result = await conn.execute(statement, {"ids": _ids(conn, chunk)})
        for card_id, name, fields in result:
            found[int(card_id)] = {**(fields or {}), "name": name}
    return found
