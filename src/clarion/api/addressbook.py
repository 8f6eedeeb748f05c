"""``/v1`` routes of the stop-list and the address book (contact cards, groups).

Every route is scoped to the caller's account; the system stop-list is not reachable
here (operators manage it with the CLI). See ``docs/addressbook.md``.
"""

from __future__ import annotations

import csv
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel, Field

from clarion.api import problems
from clarion.api.deps import DB, Account
from clarion.api.models import PHONE_MAX, Strict, reject_nul
from clarion.services import contacts as contact_service
from clarion.services import stoplists as stoplist_service
from clarion.services.errors import InvalidInput

router = APIRouter(
    prefix="/v1",
    tags=["address book"],
    responses=problems.RESPONSES,
    dependencies=[Depends(reject_nul)],
)

MAX_IMPORT_BYTES = 2 * 1024 * 1024
TEXT_TYPES = ("text/plain", "text/csv")
Id = Annotated[int, Path(ge=1, le=2**63 - 1)]


# -- stop-list ---------------------------------------------------------------------


class StopListIn(Strict):
    phones: Annotated[
        list[Annotated[str, Field(max_length=PHONE_MAX)] | int],
        Field(min_length=1, max_length=stoplist_service.MAX_ENTRIES),
    ]
    comment: Annotated[str, Field(max_length=stoplist_service.MAX_COMMENT)] = ""


class StopListEntryOut(BaseModel):
    phone: str
    normalized: str | None
    added: bool
    code: int | None = None
    error: str | None = None


class StopListResultOut(BaseModel):
    added: int
    already_listed: int
    invalid: int
    entries: list[StopListEntryOut]


class StopListItem(BaseModel):
    phone: str
    comment: str
    created_at: datetime


class StopListPage(BaseModel):
    items: list[StopListItem]
    total: int
    limit: int
    offset: int


def _results(entries: list[stoplist_service.Entry]) -> StopListResultOut:
    invalid = sum(1 for e in entries if e.normalized is None)
    added = sum(1 for e in entries if e.added)
    return StopListResultOut(
        added=added,
        already_listed=len(entries) - added - invalid,
        invalid=invalid,
        entries=[
            StopListEntryOut(
                phone=e.phone, normalized=e.normalized, added=e.added, code=e.code, error=e.error
            )
            for e in entries
        ],
    )


@router.get("/stop-list", response_model=StopListPage)
async def stop_list(
    account: Account,
    db: DB,
    phone: Annotated[str | None, Query(max_length=PHONE_MAX, description="Prefix")] = None,
    limit: Annotated[int, Query(ge=1, le=stoplist_service.MAX_PAGE)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Any:
    """The account's stop-list, by phone; ``phone`` keeps numbers starting with it."""
    rows, total = await stoplist_service.entries(
        db, account_id=account.id, phone=phone, limit=limit, offset=offset
    )
    return StopListPage(
        items=[StopListItem.model_validate(dict(r._mapping)) for r in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.post("/stop-list", response_model=StopListResultOut)
async def add_to_stop_list(body: StopListIn, account: Account, db: DB) -> Any:
    """Add up to 10,000 numbers; one result per number, in order."""
    entries = await stoplist_service.add(
        db, account_id=account.id, phones=body.phones, comment=body.comment
    )
    return _results(entries)


@router.post(
    "/stop-list/import",
    response_model=StopListResultOut,
    responses=problems.TEXT_BODY,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {t: {"schema": {"type": "string"}} for t in TEXT_TYPES},
        }
    },
)
async def import_stop_list(
    request: Request,
    account: Account,
    db: DB,
    comment: Annotated[str, Query(max_length=stoplist_service.MAX_COMMENT)] = "",
) -> Any:
    """A text/plain or text/csv body, one number per line (first column); at most
    10,000 numbers. A header line without digits and blank lines are skipped."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type not in TEXT_TYPES:
        raise HTTPException(415, "send the numbers as text/plain or text/csv, one per line")
    body = await request.body()
    if len(body) > MAX_IMPORT_BYTES:
        raise HTTPException(413, f"the body is larger than {MAX_IMPORT_BYTES} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("the body is not UTF-8 text", field="body") from None
    try:
        phones = stoplist_service.first_column(text)
    except csv.Error as exc:  # e.g. a bare carriage return, an oversized field
        raise InvalidInput(f"the body is not readable as CSV: {exc}", field="body") from None
    if not phones:
        raise InvalidInput("the body holds no numbers", field="body")
    entries = await stoplist_service.add(db, account_id=account.id, phones=phones, comment=comment)
    return _results(entries)


@router.delete("/stop-list/{phone}", status_code=204)
async def remove_from_stop_list(
    phone: Annotated[str, Path(max_length=PHONE_MAX)], account: Account, db: DB
) -> Response:
    """Take a number off the account's stop-list (any format; 404 if absent)."""
    await stoplist_service.remove(db, account_id=account.id, phone=phone)
    return Response(status_code=204)


# -- contact cards -------------------------------------------------------------------

FieldName = Annotated[str, Field(min_length=1, max_length=contact_service.MAX_FIELD_NAME)]
FieldValue = Annotated[str, Field(max_length=contact_service.MAX_FIELD_VALUE)]
Fields = Annotated[dict[FieldName, FieldValue], Field(max_length=contact_service.MAX_FIELDS)]
GroupIds = Annotated[
    list[Annotated[int, Field(ge=1, le=2**63 - 1)]],
    Field(max_length=contact_service.MAX_GROUPS_PER_CARD),
]


class ContactIn(Strict):
    type: Literal["mobile", "phone", "email"]
    value: Annotated[str, Field(min_length=1, max_length=contact_service.MAX_VALUE)]


Contacts = Annotated[list[ContactIn], Field(max_length=contact_service.MAX_CONTACTS)]


class CardCreate(Strict):
    name: Annotated[str, Field(max_length=contact_service.MAX_NAME)] = ""
    fields: Fields = Field(default_factory=dict)
    contacts: Contacts = Field(default_factory=list)
    groups: GroupIds = Field(default_factory=list)


class CardPatch(Strict):
    name: Annotated[str, Field(max_length=contact_service.MAX_NAME)] | None = None
    fields: Fields | None = None
    contacts: Contacts | None = None
    groups: GroupIds | None = None


class ContactOut(BaseModel):
    id: int
    type: str
    value: str
    phone: str | None


class CardOut(BaseModel):
    id: int
    name: str
    fields: dict[str, str]
    contacts: list[ContactOut]
    groups: list[int]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, card: contact_service.Card) -> CardOut:
        return cls(
            id=card.id,
            name=card.name,
            fields=card.fields,
            contacts=[
                ContactOut(id=c.id, type=c.type, value=c.value, phone=c.phone)
                for c in card.contacts
            ],
            groups=card.groups,
            created_at=card.created_at,
            updated_at=card.updated_at,
        )


class CardPage(BaseModel):
    items: list[CardOut]
    total: int
    limit: int
    offset: int


def _contacts_in(items: list[ContactIn]) -> list[contact_service.ContactIn]:
    return [contact_service.ContactIn(c.type, c.value) for c in items]


@router.post("/contact-cards", status_code=201, response_model=CardOut)
async def create_card(body: CardCreate, account: Account, db: DB) -> Any:
    card = await contact_service.create_card(
        db,
        account_id=account.id,
        spec=contact_service.CardSpec(
            name=body.name,
            fields=body.fields,
            contacts=_contacts_in(body.contacts),
            groups=body.groups,
        ),
    )
    return CardOut.of(card)


@router.get("/contact-cards", response_model=CardPage)
async def list_cards(
    account: Account,
    db: DB,
    q: Annotated[
        str | None, Query(max_length=200, description="Name, contact value or phone digits")
    ] = None,
    group: Annotated[int | None, Query(ge=1, le=2**63 - 1, description="Group id")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Any:
    cards, total = await contact_service.search_cards(
        db, account_id=account.id, q=q, group_id=group, limit=limit, offset=offset
    )
    return CardPage(items=[CardOut.of(c) for c in cards], total=total, limit=limit, offset=offset)


@router.get("/contact-cards/{card_id}", response_model=CardOut)
async def get_card(card_id: Id, account: Account, db: DB) -> Any:
    return CardOut.of(await contact_service.get_card(db, account_id=account.id, card_id=card_id))


@router.patch("/contact-cards/{card_id}", response_model=CardOut)
async def patch_card(card_id: Id, body: CardPatch, account: Account, db: DB) -> Any:
    """Change a card; ``contacts`` and ``groups``, when given, replace the old ones."""
    given = body.model_dump(exclude_unset=True)
    if not given:
        raise InvalidInput("nothing to change", field="body")
    nulls = [k for k, v in given.items() if v is None]
    if nulls:
        raise InvalidInput(f"{nulls[0]} cannot be null", field=nulls[0])
    card = await contact_service.update_card(
        db,
        account_id=account.id,
        card_id=card_id,
        changes=contact_service.CardChanges(
            name=body.name,
            fields=body.fields,
            contacts=_contacts_in(body.contacts) if body.contacts is not None else None,
            groups=body.groups,
        ),
    )
    return CardOut.of(card)


@router.delete("/contact-cards/{card_id}", status_code=204)
async def delete_card(card_id: Id, account: Account, db: DB) -> Response:
    await contact_service.delete_card(db, account_id=account.id, card_id=card_id)
    return Response(status_code=204)


# -- contact groups ------------------------------------------------------------------

GroupName = Annotated[str, Field(min_length=1, max_length=contact_service.MAX_NAME)]


class GroupIn(Strict):
    name: GroupName


class GroupOut(BaseModel):
    id: int
    name: str
    card_count: int
    created_at: datetime

    @classmethod
    def of(cls, group: contact_service.Group) -> GroupOut:
        return cls(
            id=group.id, name=group.name, card_count=group.card_count, created_at=group.created_at
        )


class GroupPage(BaseModel):
    items: list[GroupOut]
    total: int
    limit: int
    offset: int


class MembersIn(Strict):
    card_ids: Annotated[
        list[Annotated[int, Field(ge=1, le=2**63 - 1)]],
        Field(min_length=1, max_length=contact_service.MAX_MEMBERS),
    ]


class MembersOut(BaseModel):
    added: int
    group: GroupOut


@router.post("/contact-groups", status_code=201, response_model=GroupOut)
async def create_group(body: GroupIn, account: Account, db: DB) -> Any:
    """409 if the account already has a group with this name."""
    return GroupOut.of(
        await contact_service.create_group(db, account_id=account.id, name=body.name)
    )


@router.get("/contact-groups", response_model=GroupPage)
async def list_groups(
    account: Account,
    db: DB,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Any:
    """The account's groups by name, with the number of cards in each."""
    groups, total = await contact_service.list_groups(
        db, account_id=account.id, limit=limit, offset=offset
    )
    return GroupPage(
        items=[GroupOut.of(g) for g in groups], total=total, limit=limit, offset=offset
    )


@router.get("/contact-groups/{group_id}", response_model=GroupOut)
async def get_group(group_id: Id, account: Account, db: DB) -> Any:
    return GroupOut.of(
        await contact_service.get_group(db, account_id=account.id, group_id=group_id)
    )


@router.patch("/contact-groups/{group_id}", response_model=GroupOut)
async def rename_group(group_id: Id, body: GroupIn, account: Account, db: DB) -> Any:
    """Rename; 409 if another group of the account has the name."""
    return GroupOut.of(
        await contact_service.rename_group(
            db, account_id=account.id, group_id=group_id, name=body.name
        )
    )


@router.delete("/contact-groups/{group_id}", status_code=204)
async def delete_group(group_id: Id, account: Account, db: DB) -> Response:
    """Delete the group; its cards stay in the address book."""
    await contact_service.delete_group(db, account_id=account.id, group_id=group_id)
    return Response(status_code=204)


@router.post("/contact-groups/{group_id}/cards", response_model=MembersOut)
async def add_group_cards(group_id: Id, body: MembersIn, account: Account, db: DB) -> Any:
    """Add cards to the group (already members are skipped); 422 naming any card id
    that is not the account's, in which case nothing is added."""
    added, group = await contact_service.add_cards(
        db, account_id=account.id, group_id=group_id, card_ids=body.card_ids
    )
    return MembersOut(added=added, group=GroupOut.of(group))


@router.delete("/contact-groups/{group_id}/cards/{card_id}", status_code=204)
async def remove_group_card(group_id: Id, card_id: Id, account: Account, db: DB) -> Response:
    """Take a card out of the group (404 if it is not in it)."""
    await contact_service.remove_card(db, account_id=account.id, group_id=group_id, card_id=card_id)
    return Response(status_code=204)
