"""Address-book use cases: contact cards, their contacts, groups.

Model
-----
* A *contact card* is a person: ``name`` (up to 255 characters, may be empty) and
  custom ``fields`` (str -> str; up to 50 keys of up to 64 characters, values up to
  1,000). ``name`` is reserved: template placeholders see the card's name as
  ``{name}`` next to its fields, so no field may be called that.
* Its *contacts* are typed values, ``type`` one of mobile | phone | email (up to 100
  per card). ``value`` is kept as given (trimmed); for mobile / phone it is also
  normalised (:func:`clarion.domain.recipients.normalise`) into ``phone`` (E.164),
  NULL when it does not normalise — such a contact is kept but never messaged. An
  email value must contain ``@``.
* *Groups* (name unique per account, 409 otherwise) hold cards; a card may be in
  many groups. Deleting a group keeps its cards; deleting a card removes its
  contacts and memberships.

Every account sees only its own cards and groups: anything else is NotFound (or,
for ids given in a body, InvalidInput naming them).

PATCH semantics: ``name`` and ``fields`` replace the old values; ``contacts`` and
``groups``, when given, replace the card's contacts / memberships wholesale.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from clarion.clock import utcnow
from clarion.domain import recipients
from clarion.services.errors import Conflict, InvalidInput, NotFound
from clarion.store import contacts as store
from clarion.store.db import Database

CONTACT_TYPES = ("mobile", "phone", "email")
MAX_NAME = 255
MAX_VALUE = 255
MAX_FIELDS = 50
MAX_FIELD_NAME = 64
MAX_FIELD_VALUE = 1000
MAX_CONTACTS = 100
MAX_GROUPS_PER_CARD = 100
MAX_MEMBERS = 10_000
RESERVED_FIELDS = frozenset({"name"})
_FORMATTING = frozenset(" \t().-+")


@dataclass(frozen=True, slots=True)
class ContactIn:
    type: str
    value: str


@dataclass(frozen=True, slots=True)
class Contact:
    id: int
    type: str
    value: str
    phone: str | None


@dataclass(frozen=True, slots=True)
class Card:
    id: int
    name: str
    fields: dict[str, str]
    contacts: list[Contact]
    groups: list[int]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Group:
    id: int
    name: str
    card_count: int
    created_at: datetime


@dataclass(slots=True)
class CardChanges:
    """A PATCH: ``None`` means "leave as it is"."""

    name: str | None = None
    fields: Mapping[str, str] | None = None
    contacts: Sequence[ContactIn] | None = None
    groups: Sequence[int] | None = None


@dataclass(slots=True)
class CardSpec:
    name: str = ""
    fields: Mapping[str, str] = field(default_factory=dict)
    contacts: Sequence[ContactIn] = ()
    groups: Sequence[int] = ()


# -- validation (pure) -------------------------------------------------------------


def _name(name: str) -> str:
    name = name.strip()
    if len(name) > MAX_NAME:
        raise InvalidInput(f"name is longer than {MAX_NAME} characters", field="name")
    return name


def _fields(fields: Mapping[str, str]) -> dict[str, str]:
    if len(fields) > MAX_FIELDS:
        raise InvalidInput(f"at most {MAX_FIELDS} custom fields per card", field="fields")
    clean: dict[str, str] = {}
    for key, value in fields.items():
        if not isinstance(key, str) or not key.strip():
            raise InvalidInput("custom field names must not be empty", field="fields")
        if len(key) > MAX_FIELD_NAME:
            raise InvalidInput(
                f"custom field name {key[:20]!r}... is longer than {MAX_FIELD_NAME} characters",
                field="fields",
            )
        if key in RESERVED_FIELDS:
            raise InvalidInput(
                f"custom field {key!r} is reserved (the card's name is used as {{{key}}})",
                field="fields",
            )
        if not isinstance(value, str):
            raise InvalidInput(f"custom field {key!r} must be a string", field="fields")
        if len(value) > MAX_FIELD_VALUE:
            raise InvalidInput(
                f"custom field {key!r} is longer than {MAX_FIELD_VALUE} characters",
                field="fields",
            )
        clean[key] = value
    return clean


def contact_value(contact: ContactIn, index: int = 0) -> store.NewContact:
    """Validate one contact and compute its E.164 ``phone`` (mobile / phone types)."""
    where = f"contacts[{index}]"
    if contact.type not in CONTACT_TYPES:
        raise InvalidInput(
            f"{where}.type {contact.type!r} is not one of {', '.join(CONTACT_TYPES)}",
            field="contacts",
        )
    value = contact.value.strip()
    if not value:
        raise InvalidInput(f"{where}.value must not be empty", field="contacts")
    if len(value) > MAX_VALUE:
        raise InvalidInput(f"{where}.value is longer than {MAX_VALUE} characters", field="contacts")
    phone: str | None = None
    if contact.type in store.PHONE_TYPES:
        try:
            phone = recipients.normalise(value).e164
        except recipients.PhoneError:
            phone = None
    elif "@" not in value.strip("@"):
        raise InvalidInput(f"{where}.value {value!r} is not an email address", field="contacts")
    return store.NewContact(contact.type, value, phone)


def _contacts(values: Sequence[ContactIn]) -> list[store.NewContact]:
    if len(values) > MAX_CONTACTS:
        raise InvalidInput(f"at most {MAX_CONTACTS} contacts per card", field="contacts")
    return [contact_value(c, i) for i, c in enumerate(values)]


def _phone_digits(q: str) -> str | None:
    """The digits of a search term that looks like (part of) a phone number."""
    digits = "".join(c for c in q if c not in _FORMATTING)
    return digits if digits and digits.isascii() and digits.isdigit() else None


# -- helpers over one transaction ----------------------------------------------------


async def _check_groups(conn: AsyncConnection, account_id: int, group_ids: Sequence[int]) -> None:
    if len(group_ids) > MAX_GROUPS_PER_CARD:
        raise InvalidInput(f"at most {MAX_GROUPS_PER_CARD} groups per card", field="groups")
    existing = await store.existing_groups(conn, account_id=account_id, group_ids=group_ids)
    unknown = [g for g in dict.fromkeys(group_ids) if g not in existing]
    if unknown:
        listed = ", ".join(str(g) for g in unknown)
        noun = "group" if len(unknown) == 1 else "groups"
        raise InvalidInput(f"unknown contact {noun} {listed}", field="groups")


async def _cards(conn: AsyncConnection, rows: Sequence[Row[Any]]) -> list[Card]:
    ids = [int(r.id) for r in rows]
    contacts = await store.contacts_of(conn, card_ids=ids)
    groups = await store.groups_of(conn, card_ids=ids)
    return [
        Card(
            id=int(r.id),
            name=r.name,
            fields=dict(r.fields or {}),
            contacts=[Contact(int(c.id), c.type, c.value, c.phone) for c in contacts[int(r.id)]],
            groups=groups[int(r.id)],
            created_at=r.created_at,
            updated_at=r.updated_at,
        )
        for r in rows
    ]


async def _card(conn: AsyncConnection, account_id: int, card_id: int) -> Card:
    row = await store.get_card(conn, account_id=account_id, card_id=card_id)
    if row is None:
        raise NotFound(f"contact card {card_id} not found")
    return (await _cards(conn, [row]))[0]


def _group(row: Row[Any]) -> Group:
    return Group(int(row.id), row.name, int(row.card_count), row.created_at)


async def _group_row(conn: AsyncConnection, account_id: int, group_id: int) -> Row[Any]:
    row = await store.get_group(conn, account_id=account_id, group_id=group_id)
    if row is None:
        raise NotFound(f"contact group {group_id} not found")
    return row


# -- cards ---------------------------------------------------------------------------


async def create_card(db: Database, *, account_id: int, spec: CardSpec) -> Card:
    name = _name(spec.name)
    fields = _fields(spec.fields)
    values = _contacts(spec.contacts)
    now = utcnow()
    try:
        async with db.begin() as conn:
            await _check_groups(conn, account_id, spec.groups)
            card_id = await store.insert_card(
                conn, account_id=account_id, name=name, fields=fields or None, now=now
            )
            await store.replace_contacts(
                conn, account_id=account_id, card_id=card_id, values=values, now=now
            )
            await store.set_groups(conn, card_id=card_id, group_ids=spec.groups)
            return await _card(conn, account_id, card_id)
    except IntegrityError:  # a group was deleted concurrently
        raise Conflict("the card's groups changed concurrently; retry the request") from None


async def get_card(db: Database, *, account_id: int, card_id: int) -> Card:
    async with db.read() as conn:
        return await _card(conn, account_id, card_id)


async def search_cards(
    db: Database,
    *,
    account_id: int,
    q: str | None = None,
    group_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Card], int]:
    """Cards matching ``q`` in the name, a contact value, or (when ``q`` looks like a
    phone number) a contact's E.164 phone; optionally only members of ``group_id``."""
    text = q.strip() if q else None
    async with db.read() as conn:
        if group_id is not None:
            await _group_row(conn, account_id, group_id)
        rows, total = await store.search_cards(
            conn,
            account_id=account_id,
            text=text or None,
            phone_digits=_phone_digits(text) if text else None,
            group_id=group_id,
            limit=limit,
            offset=offset,
        )
        return await _cards(conn, rows), total


async def update_card(db: Database, *, account_id: int, card_id: int, changes: CardChanges) -> Card:
    values: dict[str, Any] = {}
    if changes.name is not None:
        values["name"] = _name(changes.name)
    if changes.fields is not None:
        values["fields"] = _fields(changes.fields) or None
    new_contacts = _contacts(changes.contacts) if changes.contacts is not None else None
    now = utcnow()
    try:
        async with db.begin() as conn:
            if await store.get_card(conn, account_id=account_id, card_id=card_id) is None:
                raise NotFound(f"contact card {card_id} not found")
            if changes.groups is not None:
                await _check_groups(conn, account_id, changes.groups)
                await store.set_groups(conn, card_id=card_id, group_ids=changes.groups)
            if new_contacts is not None:
                await store.replace_contacts(
                    conn, account_id=account_id, card_id=card_id, values=new_contacts, now=now
                )
            await store.update_card(
                conn, account_id=account_id, card_id=card_id, values=values, now=now
            )
            return await _card(conn, account_id, card_id)
    except IntegrityError:
        raise Conflict("the card changed concurrently; retry the request") from None


async def delete_card(db: Database, *, account_id: int, card_id: int) -> None:
    async with db.begin() as conn:
        if not await store.delete_card(conn, account_id=account_id, card_id=card_id):
            raise NotFound(f"contact card {card_id} not found")


# -- groups --------------------------------------------------------------------------


def _group_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidInput("name must not be empty", field="name")
    if len(name) > MAX_NAME:
        raise InvalidInput(f"name is longer than {MAX_NAME} characters", field="name")
    return name


def _duplicate(name: str) -> Conflict:
    return Conflict(f"a contact group named {name!r} already exists")


async def create_group(db: Database, *, account_id: int, name: str) -> Group:
    name = _group_name(name)
    try:
        async with db.begin() as conn:
            if await store.group_named(conn, account_id=account_id, name=name) is not None:
                raise _duplicate(name)
            group_id = await store.insert_group(
                conn, account_id=account_id, name=name, now=utcnow()
            )
            return _group(await _group_row(conn, account_id, group_id))
    except IntegrityError:  # created concurrently
        raise _duplicate(name) from None


async def get_group(db: Database, *, account_id: int, group_id: int) -> Group:
    async with db.read() as conn:
        return _group(await _group_row(conn, account_id, group_id))


async def list_groups(
    db: Database, *, account_id: int, limit: int = 100, offset: int = 0
) -> tuple[list[Group], int]:
    async with db.read() as conn:
        rows, total = await store.groups_page(
            conn, account_id=account_id, limit=limit, offset=offset
        )
    return [_group(r) for r in rows], total


async def rename_group(db: Database, *, account_id: int, group_id: int, name: str) -> Group:
    name = _group_name(name)
    try:
        async with db.begin() as conn:
            await _group_row(conn, account_id, group_id)
            other = await store.group_named(conn, account_id=account_id, name=name)
            if other is not None and other != group_id:
                raise _duplicate(name)
            await store.rename_group(conn, account_id=account_id, group_id=group_id, name=name)
            return _group(await _group_row(conn, account_id, group_id))
    except IntegrityError:
        raise _duplicate(name) from None


async def delete_group(db: Database, *, account_id: int, group_id: int) -> None:
    async with db.begin() as conn:
        if not await store.delete_group(conn, account_id=account_id, group_id=group_id):
            raise NotFound(f"contact group {group_id} not found")


async def add_cards(
    db: Database, *, account_id: int, group_id: int, card_ids: Sequence[int]
) -> tuple[int, Group]:
    """Put cards in a group (those already in it are skipped); all the cards must be
    the account's, else nothing changes. Returns (newly added, the group)."""
    if not card_ids:
        raise InvalidInput("card_ids must not be empty", field="card_ids")
    if len(card_ids) > MAX_MEMBERS:
        raise InvalidInput(f"at most {MAX_MEMBERS} card ids per request", field="card_ids")
    try:
        async with db.begin() as conn:
            await _group_row(conn, account_id, group_id)
            existing = await store.existing_cards(conn, account_id=account_id, card_ids=card_ids)
            unknown = [c for c in dict.fromkeys(card_ids) if c not in existing]
            if unknown:
                listed = ", ".join(str(c) for c in unknown[:20])
                more = f" (and {len(unknown) - 20} more)" if len(unknown) > 20 else ""
                noun = "card" if len(unknown) == 1 else "cards"
                raise InvalidInput(f"unknown contact {noun} {listed}{more}", field="card_ids")
            added = await store.add_members(conn, group_id=group_id, card_ids=card_ids)
            return added, _group(await _group_row(conn, account_id, group_id))
    except IntegrityError:  # a card was deleted concurrently
        raise Conflict("the cards changed concurrently; retry the request") from None


async def remove_card(db: Database, *, account_id: int, group_id: int, card_id: int) -> None:
    async with db.begin() as conn:
        await _group_row(conn, account_id, group_id)
        if not await store.remove_member(conn, group_id=group_id, card_id=card_id):
            raise NotFound(f"contact card {card_id} is not in contact group {group_id}")


async def add_numbers(db: Database, *, account_id: int, phones: Sequence[str]) -> int:
    """Put each E.164 number the address book does not know yet on a new card of its
    own (one mobile contact, no name): BSG's ``add_to_contact_book``. Returns how many
    cards were created; numbers already on a card are left alone."""
    unique = list(dict.fromkeys(phones))
    now = utcnow()
    async with db.begin() as conn:
        known = await store.known_phones(conn, account_id=account_id, phones=unique)
        created = 0
        for phone in unique:
            if phone in known:
                continue
            card_id = await store.insert_card(
                conn, account_id=account_id, name="", fields=None, now=now
            )
            await store.replace_contacts(
                conn,
                account_id=account_id,
                card_id=card_id,
                values=[store.NewContact(store.MOBILE, phone, phone)],
                now=now,
            )
            created += 1
    return created


async def group_members(
    db: Database, *, account_id: int, group_ids: Sequence[int], limit: int
) -> list[tuple[int, str]] | None:
    """``(card id, E.164 mobile)`` of the cards in the account's groups, one number per
    card, at most ``limit + 1`` (so a caller can tell "more than limit"); None when a
    group is not the account's."""
    async with db.read() as conn:
        existing = await store.existing_groups(conn, account_id=account_id, group_ids=group_ids)
        if any(g not in existing for g in group_ids):
            return None
        return await store.group_numbers(
            conn, account_id=account_id, group_ids=group_ids, limit=limit + 1
        )
