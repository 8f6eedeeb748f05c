"""Mobizon's ContactGroup and ContactCard modules, over Clarion's address book.

Mobizon clients build ``recipientGroups`` with these. A Mobizon card maps onto a
Clarion card like this: ``name`` is the card's name; ``mobile``, ``landline`` and
``email`` are its contacts (types mobile, phone, email); every other field
(``surname``, ``title``, ``viber``, ``birth_date``, ...) is a custom field of the same
name, so templates can use it as a placeholder. Served: ContactGroup/List, Create,
Update, Delete, GetCardsCount; ContactCard/List, Get, Create, SetGroups, GetGroups.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from clarion.dialects.mobizon import criteria, form, values
from clarion.dialects.mobizon.wire import (
    PARAMETER_LIMIT,
    Context,
    MobizonError,
    record_id,
    register,
)
from clarion.domain import recipients
from clarion.services import contacts
from clarion.services.errors import Conflict, InvalidInput, NotFound

# Mobizon card field -> Clarion contact type.
CONTACT_FIELDS = {"mobile": "mobile", "landline": "phone", "email": "email"}
# Mobizon card fields shown as ``{"value": ..., "type": ...}`` objects.
OBJECT_FIELDS = ("mobile", "email", "viber", "whatsapp", "landline", "skype", "telegram")
SCALAR_FIELDS = (
    "title",
    "surname",
    "birth_date",
    "gender",
    "company_name",
    "company_url",
    "info",
)
MOBILE_TYPE = "mobile_type"  # custom field keeping data[mobile][type]
SEARCHABLE = frozenset({"name", "mobile", "email", "landline"})
MAX_DELETE = 100


# --- groups ---------------------------------------------------------------------------


def group_item(ctx: Context, group: contacts.Group) -> dict[str, Any]:
    return {
        "id": str(group.id),
        "userId": str(ctx.account_id),
        "name": group.name,
        "cardsCnt": str(group.card_count),
        "isHidden": "0",
        "createTs": values.timestamp(group.created_at, ctx.tz),
    }


def _group_name(ctx: Context) -> str:
    data = values.Fields(ctx.params.get("data"))
    name = data.string("name", max_length=contacts.MAX_NAME)
    if not name or not name.strip():
        data.fail("name", "name must not be empty")
    data.check()
    assert name is not None
    return name


@register("contactgroup", "list")
async def list_groups(ctx: Context) -> dict[str, Any]:
    page = criteria.page(ctx.params)
    groups, total = await contacts.list_groups(
        ctx.db, account_id=ctx.account_id, limit=page.size, offset=page.offset
    )
    return {"items": [group_item(ctx, g) for g in groups], "totalItemCount": str(total)}


@register("contactgroup", "create")
async def create_group(ctx: Context) -> str:
    name = _group_name(ctx)
    try:
        group = await contacts.create_group(ctx.db, account_id=ctx.account_id, name=name)
    except Conflict as exc:  # a taken name is a validation error of the field
        raise values.FieldErrors({"name": exc.message}) from None
    return str(group.id)


@register("contactgroup", "update")
async def update_group(ctx: Context) -> bool:
    group_id = record_id(ctx.params, what="contact group")
    name = _group_name(ctx)
    try:
        await contacts.rename_group(ctx.db, account_id=ctx.account_id, group_id=group_id, name=name)
    except Conflict as exc:
        raise values.FieldErrors({"name": exc.message}) from None
    return True


@register("contactgroup", "delete")
async def delete_groups(ctx: Context) -> dict[str, list[str]]:
    """``id`` or ``ids`` (array or comma-separated): which were deleted, which not."""
    raw = form.items(ctx.params.get("ids")) or form.items(ctx.params.get("id"))
    if not raw:
        record_id(ctx.params, what="contact group")  # code 11
    if len(raw) > MAX_DELETE:
        raise MobizonError(PARAMETER_LIMIT, f"at most {MAX_DELETE} groups per request")
    processed: list[str] = []
    not_processed: list[str] = []
    for item in raw:
        group_id = values.integer(item)
        try:
            if group_id is None or group_id < 1:
                raise NotFound(f"contact group {item!r} not found")
            await contacts.delete_group(ctx.db, account_id=ctx.account_id, group_id=group_id)
        except NotFound:
            not_processed.append(str(item))
        else:
            processed.append(str(group_id))
    return {"processed": processed, "notProcessed": not_processed}


@register("contactgroup", "getcardscount")
async def get_cards_count(ctx: Context) -> str:
    group_id = record_id(ctx.params, what="contact group")
    group = await contacts.get_group(ctx.db, account_id=ctx.account_id, group_id=group_id)
    return str(group.card_count)


# --- cards ----------------------------------------------------------------------------


def _contact(card: contacts.Card, kind: str) -> contacts.Contact | None:
    return next((c for c in card.contacts if c.type == kind), None)


def _object(value: str | None, kind: str = "MAIN") -> dict[str, str] | list[Any]:
    return {"value": value, "type": kind} if value else []


def card_item(ctx: Context, card: contacts.Card, names: Mapping[int, str]) -> dict[str, Any]:
    fields = dict(card.fields)
    mobile = _contact(card, "mobile")
    landline = _contact(card, "phone")
    email = _contact(card, "email")
    shown: dict[str, Any] = {"name": card.name}
    for key in SCALAR_FIELDS:
        shown[key] = fields.pop(key, "")
    mobile_type = fields.pop(MOBILE_TYPE, "MAIN")
    number = (mobile.phone or mobile.value).lstrip("+") if mobile else None
    shown["mobile"] = _object(number, mobile_type)
    shown["email"] = _object(email.value if email else None)
    shown["landline"] = _object(
        (landline.phone or landline.value).lstrip("+") if landline else None
    )
    for key in ("viber", "whatsapp", "skype", "telegram"):
        shown[key] = _object(fields.pop(key, None))
    shown.update(fields)  # other custom fields, as they are
    return {
        "id": str(card.id),
        "userId": str(ctx.account_id),
        "isDeleted": "0",
        "isAvailable": "1" if mobile is not None and mobile.phone else "0",
        "fields": shown,
        "groups": [{"id": str(g), "name": names.get(g, "")} for g in card.groups],
    }


async def _group_names(ctx: Context, cards: Sequence[contacts.Card]) -> dict[int, str]:
    names: dict[int, str] = {}
    for group_id in dict.fromkeys(g for card in cards for g in card.groups):
        try:
            group = await contacts.get_group(ctx.db, account_id=ctx.account_id, group_id=group_id)
        except NotFound:  # deleted meanwhile
            continue
        names[group_id] = group.name
    return names


def _value(raw: Any) -> tuple[str | None, str | None]:
    """A card field sent as a string or as ``[value]`` / ``[type]``."""
    if isinstance(raw, Mapping):
        value, kind = raw.get("value"), raw.get("type")
        return (
            str(value).strip() if values.scalar(value) else None,
            str(kind).strip() if values.scalar(kind) else None,
        )
    return (str(raw).strip() if values.scalar(raw) else None), None


@register("contactcard", "create")
async def create_card(ctx: Context) -> str:
    data = criteria.mapping(ctx.params.get("data"))
    check = values.Fields(data)
    name = check.string("name", max_length=contacts.MAX_NAME) or ""
    mobile, mobile_type = _value(data.get("mobile"))
    if not mobile:
        check.fail("mobile", "a contact card needs a mobile number")
    else:
        try:
            recipients.normalise(mobile)
        except recipients.PhoneError as exc:
            check.fail("mobile", str(exc))
    check.check()
    new_contacts = [contacts.ContactIn("mobile", mobile or "")]
    fields: dict[str, str] = {}
    for key, raw in data.items():
        if key in ("name", "mobile"):
            continue
        value, _kind = _value(raw)
        if not value:
            continue
        if key in CONTACT_FIELDS:
            new_contacts.append(contacts.ContactIn(CONTACT_FIELDS[key], value))
        else:
            fields[key] = value
    if mobile_type and mobile_type.upper() != "MAIN":
        fields[MOBILE_TYPE] = mobile_type
    try:
        card = await contacts.create_card(
            ctx.db,
            account_id=ctx.account_id,
            spec=contacts.CardSpec(name=name, fields=fields, contacts=new_contacts),
        )
    except InvalidInput as exc:
        raise values.FieldErrors({exc.field or "data": exc.message}) from None
    return str(card.id)


def _filters(ctx: Context) -> tuple[str | None, int | None]:
    """``criteria[i][field|operator|value]`` -> (text to search, group id)."""
    text: str | None = None
    group: int | None = None
    for entry in form.items(ctx.params.get("criteria")):
        spec = criteria.mapping(entry)
        field = str(spec.get("field", "")).strip()
        operator = str(spec.get("operator", "equal")).strip().lower()
        value = spec.get("value")
        if field == "groupId" and operator == "equal":
            group = values.integer(value)
            if group is None or group < 1:
                raise MobizonError(PARAMETER_LIMIT, "groupId must be a contact group id")
        elif field in SEARCHABLE and operator in ("equal", "contain") and text is None:
            text = str(value).strip() if values.scalar(value) else None
        else:
            raise MobizonError(
                PARAMETER_LIMIT,
                f"unsupported criterion {field} {operator}: use groupId equal, or one of "
                f"{', '.join(sorted(SEARCHABLE))} with equal / contain",
            )
    return text or None, group


@register("contactcard", "list")
async def list_cards(ctx: Context) -> dict[str, Any]:
    text, group = _filters(ctx)
    page = criteria.page(ctx.params)
    cards, total = await contacts.search_cards(
        ctx.db,
        account_id=ctx.account_id,
        q=text,
        group_id=group,
        limit=page.size,
        offset=page.offset,
    )
    names = await _group_names(ctx, cards)
    return {"items": [card_item(ctx, c, names) for c in cards], "totalItemCount": str(total)}


@register("contactcard", "get")
async def get_card(ctx: Context) -> dict[str, Any]:
    card_id = record_id(ctx.params, what="contact card")
    card = await contacts.get_card(ctx.db, account_id=ctx.account_id, card_id=card_id)
    return card_item(ctx, card, await _group_names(ctx, [card]))


@register("contactcard", "setgroups")
async def set_groups(ctx: Context) -> bool:
    card_id = record_id(ctx.params, what="contact card")
    raw = form.items(ctx.params.get("groupIds"))
    group_ids = [values.integer(g) for g in raw]
    if any(g is None or g < 1 for g in group_ids):
        raise values.FieldErrors({"groupIds": "groupIds must hold contact group ids"})
    await contacts.update_card(
        ctx.db,
        account_id=ctx.account_id,
        card_id=card_id,
        changes=contacts.CardChanges(groups=[g for g in group_ids if g is not None]),
    )
    return True


@register("contactcard", "getgroups")
async def get_groups(ctx: Context) -> list[dict[str, str]]:
    card_id = record_id(ctx.params, what="contact card")
    card = await contacts.get_card(ctx.db, account_id=ctx.account_id, card_id=card_id)
    names = await _group_names(ctx, [card])
    return [{"id": str(g), "name": names[g]} for g in card.groups if g in names]
