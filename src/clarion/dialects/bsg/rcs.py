"""BSG's RCS campaign endpoints (One-API v2), over Clarion's campaign core.

| endpoint | does |
|---|---|
| ``POST /api/auth/login`` / ``POST /api/auth/refresh`` | API key -> bearer token (wire.py) |
| ``POST /api/campaigns/rcs/send`` | create, fill and start a campaign for 1-5000 ``phones`` |
| ``POST /api/campaigns/rcs/send-groups`` | the same for the cards of address-book ``groups`` |
| ``POST /api/messages/rcs/send`` | one message now (a single-recipient campaign) |
| ``GET /api/campaigns/{id}`` | the campaign object of the seed |
| ``PUT /api/campaigns/{id}/renew`` | resume a campaign paused for lack of funds |
| ``PATCH /api/campaigns/{id}/stop`` | stop (final) from scheduled / sending / paused / spam |

Choices where BSG's documents are silent (see docs/dialects/bsg.md):

* A send creates the campaign, adds the numbers and starts it in one request. Without
  ``start_at`` it starts at once (``sending``); with it, ``scheduled``. A campaign whose
  content matches the operator's moderation rules is ``spam`` until approved. Numbers
  that cannot be sent to (invalid, stop-listed when ``check_stop_list`` is true,
  outside the account's countries) are left out; a request with none left is a 422.
* ``start_at`` is read in the account's time zone; it may not be in the past and may
  be at most until 23:59:59 of the 30th day counting today.
* ``validity`` (hours) or ``validity_seconds`` is the RCS message's life, rounded up to
  whole minutes; after it the message is EXPIRED and falls back to SMS when
  ``alternative_channel.sms`` is given. The SMS part keeps its own validity.
* ``reference_id`` is kept with the message; duplicates within a request are a 422.
* ``tariff_code`` is accepted and kept; prices come from Clarion's price tables
  (``rcs`` rules per message, ``sms`` rules for the fallback).
* ``callback_url`` (single message) is validated and kept; status callbacks are sent
  by the event-webhook machinery when it is configured, not by this facade.
* Statistics count exactly the seed's sets: ``sent`` = SENDING, SENT (Clarion
  ACCEPTED), ACCEPTED, DELIVERED, UNDELIVERED, FAILED (REJECTED by the carrier),
  EXPIRED, UNKNOWN; ``delivered`` = DELIVERED, READ. A number that is not RCS-capable
  (BSG ``not_rcs_user``) or stop-listed is in neither.
* ``calculated_price`` is the preliminary price of the RCS messages (float); the
  fallback SMS are priced as they are created.
* BSG speaks RCS (``CHANNELS``): ``GET /api/campaigns/{id}``, renew and stop find only
  the account's RCS campaigns (made here or through /v1), in the query that loads the
  campaign. A voice campaign, or a plain SMS one (Mobizon's or /v1's), is 404 ``Model
  not found`` exactly as an id that does not exist; nothing about it is read or
  changed. The seed's ``message_type`` may be ``sms`` for BSG's own SMS campaigns,
  which Clarion's BSG facade cannot create (the seed names the three RCS sends as where
  the id comes from), so here it is always ``rcs``. An RCS campaign's SMS fallback is
  shown under it (``alternative_channels.sms``), never as a campaign of its own.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)
from sqlalchemy import Row

from clarion.clock import utcnow
from clarion.config import Settings
from clarion.dialects.bsg import wire
from clarion.dialects.bsg.wire import BsgError, Caller
from clarion.domain import rcs as rcs_content
from clarion.domain import text
from clarion.domain.lifecycle import dialect_status
from clarion.domain.recipients import ResultCode
from clarion.services import accounts, contacts
from clarion.services import campaigns as service
from clarion.services.errors import ServiceError
from clarion.store.db import Database

router = APIRouter(tags=["bsg"])
log = logging.getLogger(__name__)

MAX_PHONES = 5000
MAX_GROUPS = 1000
SENT = frozenset({"SENDING", "ACCEPTED", "DELIVERED", "UNDELIVERED", "EXPIRED", "UNKNOWN"})
DELIVERED = frozenset({"DELIVERED", "READ"})
NOT_SENT_ERRORS = frozenset({"rcs-not-capable", "stop-list"})
CHANNELS = ("rcs",)  # the campaigns BSG sees (module docstring)
_REFERENCE = re.compile(r"^[A-Za-z0-9]{1,32}$")


def _digits(value: object) -> object:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


Number = Annotated[str, BeforeValidator(_digits), Field(pattern=r"^[0-9]{9,15}$")]


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=False)

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        return value if isinstance(value, BaseModel) else text.checked(value)


class Phone(_In):
    number: Number
    reference_id: Annotated[str, Field(pattern=_REFERENCE.pattern)] | None = None


class SmsChannel(_In):
    text: Annotated[str, Field(min_length=1, max_length=765)]
    sender: Annotated[str, Field(min_length=1, max_length=15)]
    validity: Annotated[int, Field(ge=1, le=72)] = 72
    validity_seconds: Annotated[int, Field(ge=30, le=86400)] | None = None
    check_stop_list: bool = True


class AlternativeChannel(_In):
    sms: SmsChannel | None = None


class _Send(_In):
    sender: Annotated[str, Field(min_length=1, max_length=40)]
    options: dict[str, Any]
    validity: Annotated[int, Field(ge=1, le=72)] = 72
    validity_seconds: Annotated[int, Field(ge=30, le=86400)] | None = None
    alternative_channel: AlternativeChannel | None = None
    add_to_contact_book: bool = True
    tariff_code: Annotated[int, BeforeValidator(_digits), Field(ge=0)] | None = None
    check_stop_list: bool = True


class SendCampaign(_Send):
    phones: Annotated[list[Phone], Field(min_length=1, max_length=MAX_PHONES)]
    start_at: str | None = None


class SendGroups(_Send):
    # ids the database can hold (BIGINT): a larger one is a 422, not a driver error
    groups: Annotated[
        list[Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]],
        Field(min_length=1, max_length=MAX_GROUPS),
    ]
    start_at: str | None = None


class SendMessage(_Send):
    phone: Phone
    callback_url: Annotated[str, Field(max_length=100, pattern=r"^https?://")] | None = None


def _minutes(validity_hours: int, validity_seconds: int | None) -> int:
    if validity_seconds is not None:
        return max(1, math.ceil(validity_seconds / 60))
    return validity_hours * 60


def _start_at(text: str | None, tz: tzinfo, now: datetime) -> datetime | None:
    """BSG's ``start_at``: local wall time, not past, at most until 23:59:59 of the
    30th day counting today."""
    if text is None:
        return None
    try:
        moment = datetime.strptime(text.strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=tz)
    except ValueError:
        raise wire.invalid(
            "start_at", "The start at does not match the format Y-m-d H:i:s."
        ) from None
    local_now = now.astimezone(tz)
    last = (local_now + timedelta(days=29)).replace(hour=23, minute=59, second=59, microsecond=0)
    if moment < local_now.replace(microsecond=0):
        raise wire.invalid("start_at", "The start at must be a date after or equal to now.")
    if moment > last:
        raise wire.invalid(
            "start_at",
            "The start at may be at most 30 days ahead (until 23:59:59 of the 30th day).",
        )
    return moment.astimezone(UTC)


def _parse(model: type[_In], body: Any) -> Any:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise wire.from_validation(exc) from None


def _content(options: dict[str, Any]) -> dict[str, Any]:
    try:
        return rcs_content.validate(options, field="options")
    except rcs_content.ContentError as exc:
        raise wire.invalid(exc.field, str(exc)) from None


def _unique(phones: Sequence[Phone]) -> None:
    seen: set[str] = set()
    refs: set[str] = set()
    for i, p in enumerate(phones):
        if p.number in seen:
            raise wire.invalid(f"phones.{i}.number", "The phone numbers must be unique.")
        seen.add(p.number)
        if p.reference_id is not None:
            if p.reference_id in refs:
                raise wire.invalid(f"phones.{i}.reference_id", "The reference_id must be unique.")
            refs.add(p.reference_id)


def _spec(body: _Send, caller: Caller, *, kind: str, start_at: datetime | None) -> Any:
    sms = body.alternative_channel.sms if body.alternative_channel else None
    created = utcnow().astimezone(caller.tz).strftime("%Y-%m-%d %H:%M:%S")
    return service.CampaignSpec(
        name=f"RCS api campaign / {created}",
        text="",
        channel="rcs",
        type="single" if kind == "message" else "mass",
        sender=body.sender,
        start_at=start_at,
        validity_minutes=_minutes(body.validity, body.validity_seconds),
        content=body.options,
        check_stop_list=body.check_stop_list,
        settings={
            "dialect": "bsg",
            **({"tariff_code": body.tariff_code} if body.tariff_code is not None else {}),
            **(
                {"callback_url": body.callback_url}
                if isinstance(body, SendMessage) and body.callback_url
                else {}
            ),
        },
        fallback=(
            service.Fallback(
                text=sms.text,
                sender=sms.sender,
                validity_minutes=_minutes(sms.validity, sms.validity_seconds),
                check_stop_list=sms.check_stop_list,
            )
            if sms is not None
            else None
        ),
    )


async def _launch(
    db: Database,
    settings: Settings,
    caller: Caller,
    spec: Any,
    entries: Sequence[service.RecipientInput],
    *,
    add_to_contact_book: bool,
) -> tuple[Row[Any], list[service.RecipientResult]]:
    """services.campaigns.launch, then BSG's ``add_to_contact_book``."""
    account = caller.account
    started, results = await service.launch(
        db,
        account_id=account.id,
        spec=spec,
        entries=entries,
        limit=MAX_PHONES,
        default_channel=settings.default_channel,
        price_per_segment=settings.price_per_segment,
        rcs_channel=settings.rcs_channel,
        moderation_patterns=settings.moderation_patterns,
        require_funds=spec.type == "single",  # sent "provided the client has enough funds"
    )
    if add_to_contact_book:
        # The campaign is started: a failure here must not turn the request into an
        # error a client would retry (and so send twice).
        try:
            await contacts.add_numbers(
                db,
                account_id=account.id,
                phones=[r.e164 for r in results if r.code == ResultCode.OK and r.e164],
            )
        except Exception:
            log.exception("could not add recipients to the contact book", extra={"action": "bsg"})
    return started, results


def _entries(phones: Sequence[Phone]) -> list[service.RecipientInput]:
    return [
        service.RecipientInput(
            "+" + p.number, {"reference_id": p.reference_id} if p.reference_id else {}
        )
        for p in phones
    ]


# --- the campaign object ---------------------------------------------------------------


def _statistic(messages: dict[str, int], rejected: dict[str, int]) -> dict[str, int]:
    failed = sum(n for code, n in rejected.items() if code not in NOT_SENT_ERRORS)
    return {
        "delivered": sum(messages.get(s, 0) for s in DELIVERED),
        "sent": sum(messages.get(s, 0) for s in SENT) + failed,
    }


async def campaign_object(db: Database, caller: Caller, campaign_id: int) -> dict[str, Any]:
    account_id = caller.account.id
    b = await service.breakdown(
        db, account_id=account_id, campaign_id=campaign_id, channels=CHANNELS
    )
    stats = await service.stats(
        db, account_id=account_id, campaign_id=campaign_id, channels=CHANNELS
    )
    row, tz = b.campaign, caller.tz
    alternative: dict[str, Any] | None = None
    if b.fallback is not None:
        alternative = {"sms": {"statistic": _statistic(b.fallback, b.fallback_rejected or {})}}
    return {
        "id": row.id,
        "name": row.name,
        "sender": row.sender,
        "status": dialect_status("bsg", row.status),
        "message_type": "rcs" if row.channel == "rcs" else "sms",
        "start_at": wire.local_time(row.start_at or row.started_at or row.created_at, tz),
        "real_start_at": wire.local_time(row.started_at, tz),
        "finished_at": wire.local_time(row.finished_at, tz),
        "created_at": wire.local_time(row.created_at, tz),
        "statistics": _statistic(b.messages, b.rejected),
        "calculated_price": float(stats.estimated_cost),
        "alternative_channels": alternative,
    }


# --- endpoints ---------------------------------------------------------------------------


Work = Callable[[Caller, Database, Settings], Awaitable[JSONResponse]]


async def _guarded(request: Request, work: Work) -> JSONResponse:
    db, settings = wire.context(request)
    try:
        caller = await wire.authenticate(request, db)
        return await work(caller, db, settings)
    except BsgError as exc:
        return exc.response()
    except ServiceError as exc:
        return wire.from_service(exc).response()


@router.post("/api/auth/login")
async def login(request: Request) -> JSONResponse:
    db, _settings = wire.context(request)
    try:
        body = await wire.json_body(request)
        key = body.get("api_key")
        if not isinstance(key, str) or not key:
            raise wire.invalid("api_key", "The api key field is required.")
        found = await accounts.authenticate_key(db, key)
        if found is None:
            raise BsgError(401, "Unauthenticated.")
    except BsgError as exc:
        return exc.response()
    _row, key_id, key_hash = found
    secret = wire.server_secret(request)
    return JSONResponse({"bearer": wire.issue_token(key_id, key_hash, secret=secret)})


@router.post("/api/auth/refresh")
async def refresh(request: Request) -> JSONResponse:
    async def work(caller: Caller, db: Database, settings: Settings) -> JSONResponse:
        token = wire.issue_token(caller.key_id, caller.key_hash, secret=wire.server_secret(request))
        return JSONResponse({"bearer": token})

    return await _guarded(request, work)


@router.post("/api/campaigns/rcs/send")
async def send_campaign(request: Request) -> JSONResponse:
    async def work(caller: Caller, db: Database, settings: Settings) -> JSONResponse:
        raw = await wire.json_body(request)
        raw_bytes = await request.body()
        body: SendCampaign = _parse(SendCampaign, raw)
        body.options = _content(body.options)
        _unique(body.phones)
        start_at = _start_at(body.start_at, caller.tz, utcnow())
        with wire.duplicates(request).once(caller.account.id, request.url.path, raw_bytes):
            row, _results = await _launch(
                db,
                settings,
                caller,
                _spec(body, caller, kind="campaign", start_at=start_at),
                _entries(body.phones),
                add_to_contact_book=body.add_to_contact_book,
            )
        return JSONResponse({"data": await campaign_object(db, caller, row.id)})

    return await _guarded(request, work)


@router.post("/api/campaigns/rcs/send-groups")
async def send_groups(request: Request) -> JSONResponse:
    async def work(caller: Caller, db: Database, settings: Settings) -> JSONResponse:
        raw = await wire.json_body(request)
        raw_bytes = await request.body()
        body: SendGroups = _parse(SendGroups, raw)
        body.options = _content(body.options)
        start_at = _start_at(body.start_at, caller.tz, utcnow())
        numbers = await contacts.group_members(
            db, account_id=caller.account.id, group_ids=body.groups, limit=MAX_PHONES
        )
        if numbers is None:
            raise wire.invalid("groups", "The selected groups is invalid.")
        if len(numbers) > MAX_PHONES:
            raise wire.invalid(
                "groups", "The maximum allowed number of contacts in one campaign is 5000."
            )
        if not numbers:
            raise wire.invalid("groups", "The selected groups hold no mobile numbers.")
        with wire.duplicates(request).once(caller.account.id, request.url.path, raw_bytes):
            row, _results = await _launch(
                db,
                settings,
                caller,
                _spec(body, caller, kind="campaign", start_at=start_at),
                [service.RecipientInput(phone, card_id=card) for card, phone in numbers],
                add_to_contact_book=False,  # they come from the contact book
            )
        return JSONResponse({"data": await campaign_object(db, caller, row.id)})

    return await _guarded(request, work)


@router.post("/api/messages/rcs/send")
async def send_message(request: Request) -> JSONResponse:
    async def work(caller: Caller, db: Database, settings: Settings) -> JSONResponse:
        raw = await wire.json_body(request)
        raw_bytes = await request.body()
        body: SendMessage = _parse(SendMessage, raw)
        body.options = _content(body.options)
        with wire.duplicates(request).once(caller.account.id, request.url.path, raw_bytes):
            row, results = await _launch(
                db,
                settings,
                caller,
                _spec(body, caller, kind="message", start_at=None),
                _entries([body.phone]),
                add_to_contact_book=body.add_to_contact_book,
            )
        (result,) = [r for r in results if r.message_id is not None]
        stats = await service.stats(db, account_id=caller.account.id, campaign_id=row.id)
        return JSONResponse(
            {
                "data": {
                    "id": result.message_id,
                    "reference_id": body.phone.reference_id,
                    "source": "rest",
                    "type": "rcs",
                    "phone": int(body.phone.number),
                    "status": "accepted",
                    "validity": math.ceil(_minutes(body.validity, body.validity_seconds) / 60),
                    "amount": {
                        "value": f"{stats.estimated_cost:.7f}",
                        "currency": caller.account.currency,
                    },
                    "sender": body.sender,
                    "created_at": wire.local_time(row.created_at, caller.tz),
                    "sent_at": None,
                    "delivered_at": None,
                    "campaign_id": row.id,
                }
            }
        )

    return await _guarded(request, work)


def _campaign_id(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 2**63:
        raise BsgError(404, "Model not found")
    return int(text)


@router.get("/api/campaigns/{campaign_id}")
async def get_campaign(request: Request, campaign_id: str) -> JSONResponse:
    async def work(caller: Caller, db: Database, settings: Settings) -> JSONResponse:
        cid = _campaign_id(campaign_id)
        return JSONResponse({"data": await campaign_object(db, caller, cid)})

    return await _guarded(request, work)


@router.put("/api/campaigns/{campaign_id}/renew")
async def renew(request: Request, campaign_id: str) -> JSONResponse:
    async def work(caller: Caller, db: Database, settings: Settings) -> JSONResponse:
        cid = _campaign_id(campaign_id)
        await service.resume(
            db, account_id=caller.account.id, campaign_id=cid, funds_only=True, channels=CHANNELS
        )
        return JSONResponse({"data": await campaign_object(db, caller, cid)})

    return await _guarded(request, work)


@router.patch("/api/campaigns/{campaign_id}/stop")
async def stop(request: Request, campaign_id: str) -> JSONResponse:
    async def work(caller: Caller, db: Database, settings: Settings) -> JSONResponse:
        cid = _campaign_id(campaign_id)
        await service.stop(db, account_id=caller.account.id, campaign_id=cid, channels=CHANNELS)
        return JSONResponse({"data": await campaign_object(db, caller, cid)})

    return await _guarded(request, work)
