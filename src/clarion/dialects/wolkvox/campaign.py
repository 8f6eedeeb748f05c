"""wolkvox's dialer API v2 (campaign start/stop, records, reports) over Clarion's voice
campaigns.

``/api/v2/campaign.php`` with ``type_campaign`` and ``campaign_id``:

* ``PUT ?api=start``: start a DRAFT, resume a PAUSED campaign; 202;
* ``PUT ?api=stop``: pause ("stop" is wolkvox's pause); 202;
* ``GET ?api=status``: the campaign object (a Clarion sibling of the vendor's list);
* ``POST ?api=add_record``: upload up to 10,000 records; 201;
* ``GET ?api=detail&date_ini=&date_end=``: the call-by-call report.

``GET /api/v2/reports_manager.php?api=campaign_3&campaign_id=&date_ini=&date_end=``
gives the same rows; ``GET /api/v2/information.php?api=campaigns`` lists every
wolkvox campaign of the account.

Choices where wolkvox's pages are silent (docs/dialects/wolkvox.md has the details):

* ``campaign_id`` is the Clarion campaign id. A wolkvox campaign is a voice campaign
  whose dialer is ``preview`` or ``predictive`` (campaigns are created in Clarion, as
  wolkvox's are created in its manager). ``type_campaign`` must name that dialer:
  wolkvox keeps preview and predictive campaigns apart, so another type (or an
  ``auto`` campaign, another channel, another account's campaign) is the same 404 as
  an id that does not exist. It never changes the campaign's dialer.
* ``start`` of a DRAFT starts it, of a PAUSED one resumes it; of one already started
  (RUNNING, QUEUED, SCHEDULED, MODERATION, SENT, or PAUSED outside its calling window,
  which the engine resumes when the window opens) it is a no-op answered 202.
  STOPPED, DECLINED and DONE cannot be started (412); a DONE campaign calls again
  once records are added to it.
* ``stop`` pauses (the vendor: "allows you to pause a campaign"; a stopped wolkvox
  campaign can be started again). A campaign paused for its window becomes paused by
  the user, so the engine does not resume it. The canonical actions come from
  ``domain.lifecycle.DIALECT_ACTIONS["wolkvox"]`` (start -> start, stop -> pause), the
  one table of them; ``start`` of a paused campaign resumes it (start undoes stop).
  Of a campaign already not calling (DRAFT, PAUSED, STOPPED, DECLINED, DONE) ``stop``
  is a no-op answered 202; QUEUED, SCHEDULED, MODERATION and SENT (its last calls
  under way) cannot be paused (412).
* ``status`` / ``information.php``: ``Started`` for the lifecycle's ``start`` states
  and for a campaign paused outside its calling window; ``Stopped`` otherwise.
* ``add_record`` takes a JSON array of records (a single object is one record), each
  with wolkvox's fields (``customer_name`` ... ``opt1-12``, ``tel1-10``,
  ``tel_extra``, ``email``, ``recall_date``, ``recall_telephone``, ``agent_id``; others
  are ignored). The number called is the first non-empty of ``tel1``..``tel10``, in
  international format; the record's non-empty fields become the recipient's
  variables (templates can use them). ``campaign_status`` is accepted and ignored.
  Records that cannot be called (no or invalid number, duplicate, do-not-call list)
  are listed in ``data``; the others are added (201) even when some are refused.
* Reports list call attempts whose start is within ``[date_ini, date_end]`` (both
  read in the account's time zone, to the second); more than 60,000 rows is a 416
  (narrow the dates) rather than a silent cut. Each row carries the record the number
  was uploaded with (``customer_name`` ... ``recall_telephone``, the add_record field
  names, ``""`` where the record had none; ``services.voice.recipients``, one lookup
  per page of calls). The record's ``agent_id`` is not repeated: the row's
  ``agent_id`` is the agent who took the call.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import Row
from starlette.exceptions import HTTPException

from clarion.config import Settings
from clarion.dialects.wolkvox import wire
from clarion.dialects.wolkvox.wire import Caller, Limits, WolkvoxError
from clarion.domain.lifecycle import (
    DIALECT_ACTIONS,
    CampaignStatus,
    PauseReason,
    campaign_transition,
    dialect_status,
)
from clarion.domain.recipients import ResultCode
from clarion.domain.text import NUL
from clarion.services import campaigns as campaign_service
from clarion.services import voice
from clarion.services.errors import NotFound, ServiceError, TransitionConflict
from clarion.store.db import Database

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)

TYPES = ("preview", "predictive")
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"]
TELS = tuple(f"tel{n}" for n in range(1, 11))
FIELDS = (
    "customer_name",
    "customer_last_name",
    "id_type",
    "customer_id",
    "age",
    "gender",
    "country",
    "state",
    "city",
    "zone",
    "address",
    *(f"opt{n}" for n in range(1, 13)),
    *TELS,
    "tel_extra",
    "email",
    "recall_date",
    "recall_telephone",
    "agent_id",
)
MAX_FIELD = 1000
PAGE = 5000
# The record fields a report row repeats: the call's own agent_id is the row's.
CUSTOMER = tuple(name for name in FIELDS if name != "agent_id")
# The wolkvox commands' canonical actions (start -> start, stop -> pause): one table.
ACTIONS = DIALECT_ACTIONS["wolkvox"]

STARTED = frozenset(
    {
        CampaignStatus.RUNNING,
        CampaignStatus.QUEUED,
        CampaignStatus.SCHEDULED,
        CampaignStatus.MODERATION,
        CampaignStatus.SENT,
    }
)
NOT_CALLING = frozenset(
    {
        CampaignStatus.DRAFT,
        CampaignStatus.PAUSED,
        CampaignStatus.STOPPED,
        CampaignStatus.DECLINED,
        CampaignStatus.DONE,
    }
)
# Clarion's call outcomes as wolkvox's machine codes.
RESULTS = {
    "answered": "answer",
    "busy": "busy",
    "no-answered": "no-answer",
    "voicemail": "answer-machine",
    "congestion": "congestion",
    "not-available": "chanunavail",
    "failed": "failed",
    "invalid-number": "failed",
    "phone-block": "failed",
}
REFUSED = {
    ResultCode.EMPTY: "no telephone in tel1..tel10",
    ResultCode.NOT_FOUND: "no telephone in tel1..tel10",
    ResultCode.BAD_FORMAT: "the telephone is not a valid international number",
    ResultCode.DUPLICATE: "the telephone is already in the campaign",
    ResultCode.STOP_LIST: "the telephone is on the do-not-call list",
    ResultCode.COUNTRY_NOT_ALLOWED: "calls to this country are not allowed for the account",
    ResultCode.UNKNOWN_DESTINATION: "the destination of the telephone is unknown",
    ResultCode.OPERATOR_NOT_SERVED: "the operator of the telephone is not served",
}


@dataclass(frozen=True, slots=True)
class Call:
    """One authenticated request: what every handler works with."""

    request: Request
    db: Database
    settings: Settings
    caller: Caller
    limits: Limits

    def param(self, name: str) -> str | None:
        value = self.request.query_params.get(name)
        return None if value is None else value.strip()

    @property
    def account_id(self) -> int:
        return int(self.caller.account.id)


Handler = Callable[[Call], Awaitable[Response]]


# --- the campaign ---------------------------------------------------------------------


def _type(call: Call) -> str:
    value = call.param("type_campaign")
    if not value:
        raise wire.bad(wire.REQUIRED)
    kind = value.lower()
    if kind not in TYPES:
        raise wire.bad("TYPE_CAMPAIGN MUST BE preview OR predictive")
    return kind


def _not_found(kind: str | None, text: str) -> WolkvoxError:
    what = f"{kind.upper()} CAMPAIGN_ID" if kind else "CAMPAIGN_ID"
    shown = f" {text}" if text.isdigit() and len(text) <= 20 else ""
    return WolkvoxError(404, f"THE {what}{shown} DOES NOT EXIST")


async def _campaign(call: Call, kind: str | None) -> Row[Any]:
    """The account's wolkvox campaign ``campaign_id`` of dialer ``kind`` (any wolkvox
    dialer when None), or 404."""
    text = call.param("campaign_id")
    if not text:
        raise wire.bad(wire.REQUIRED)
    if not text.isdigit() or not 0 < int(text) < 2**63:
        raise _not_found(kind, text)
    try:
        row = await voice.get(call.db, account_id=call.account_id, campaign_id=int(text))
    except NotFound:
        raise _not_found(kind, text) from None
    dialer = voice.config_of(row).dialer
    if dialer not in TYPES or (kind is not None and dialer != kind):
        raise _not_found(kind, text)
    return row


async def campaign_object(call: Call, row: Row[Any]) -> dict[str, str]:
    """wolkvox's campaign fields (information.php), all strings, with Clarion's counts."""
    config = voice.config_of(row)
    stats = await voice.stats(call.db, account_id=call.account_id, campaign_id=row.id)
    return {
        "campaign_id": str(row.id),
        "campaign_name": row.name,
        "campaign_description": config.description,
        "type_campaign": config.dialer,
        "status": "Started" if _started(row) else "Stopped",
        "records": str(stats.recipients),
        "speed": str(config.concurrent_call),
        "dial_mode": f"phone1 - ring: {config.call_timeout}(sec)",
        "last_use": wire.local_time(row.started_at, call.caller.tz),
        "agents": str(config.agents),
        "pending": str(stats.waiting),
        "in_progress": str(stats.in_progress),
        "answered": str(stats.answered),
        "unreached": str(stats.unreached),
        "attempts": str(stats.attempts),
        "clarion_status": str(row.status),
    }


def _started(row: Row[Any]) -> bool:
    """wolkvox's ``Started``: calling, or waiting for its calling window to open."""
    if row.status == CampaignStatus.PAUSED:
        return _waiting_for_window(row)
    return dialect_status("wolkvox", CampaignStatus(row.status)) == "start"


async def _apply(call: Call, row: Row[Any], action: str) -> None:
    """Apply the canonical ``action`` a wolkvox command maps to (``DIALECT_ACTIONS``)
    through its service."""
    account_id, campaign_id = call.account_id, int(row.id)
    if action == "start":
        await campaign_service.start(
            call.db,
            account_id=account_id,
            campaign_id=campaign_id,
            moderation_patterns=call.settings.moderation_patterns,
        )
    elif action == "resume":
        await campaign_service.resume(call.db, account_id=account_id, campaign_id=campaign_id)
    elif action == "pause":  # the user's pause, which also replaces a window pause
        await voice.pause(call.db, account_id=account_id, campaign_id=campaign_id)
    elif action == "stop":
        await campaign_service.stop(call.db, account_id=account_id, campaign_id=campaign_id)
    else:
        raise AssertionError(f"wolkvox has no service for the action {action!r}")


def _waiting_for_window(row: Row[Any]) -> bool:
    return bool(row.status == CampaignStatus.PAUSED and row.pause_reason == PauseReason.WINDOW)


async def start(call: Call) -> Response:
    """``start``: the table's action (DRAFT -> start) where its transition allows it;
    a campaign ``stop`` paused is resumed (start undoes stop)."""
    kind = _type(call)
    row = await _campaign(call, kind)
    status = CampaignStatus(row.status)
    action = ACTIONS["start"]
    if status in campaign_transition(action).allowed_from:
        await _apply(call, row, action)
    elif status == CampaignStatus.PAUSED and not _waiting_for_window(row):
        await _apply(call, row, "resume")
    elif status == CampaignStatus.DONE:
        raise WolkvoxError(
            412,
            f"THE CAMPAIGN_ID {row.id} HAS CALLED ALL ITS RECORDS; ADD RECORDS TO CALL AGAIN",
        )
    elif status not in STARTED and not _waiting_for_window(row):
        raise WolkvoxError(412, f"THE CAMPAIGN_ID {row.id} IS {status} AND CANNOT BE STARTED")
    log.info("wolkvox start", extra={"action": "wolkvox.start", "campaign_id": row.id})
    return wire.render(202, f"The {row.id} campaign_id has been started successfully")


async def stop(call: Call) -> Response:
    """``stop``: the table's action (``pause``) where its transition allows it, and to
    a campaign waiting for its calling window (the user's pause replaces the window's,
    so the engine does not lift it); a no-op for a campaign not calling."""
    kind = _type(call)
    row = await _campaign(call, kind)
    status = CampaignStatus(row.status)
    action = ACTIONS["stop"]
    if status in campaign_transition(action).allowed_from or _waiting_for_window(row):
        try:
            await _apply(call, row, action)
        except TransitionConflict as exc:  # its status changed meanwhile
            raise WolkvoxError(
                412, f"THE CAMPAIGN_ID {row.id} IS {exc.current} AND CANNOT BE STOPPED"
            ) from exc
    elif status not in NOT_CALLING:
        raise WolkvoxError(412, f"THE CAMPAIGN_ID {row.id} IS {status} AND CANNOT BE STOPPED")
    log.info("wolkvox stop", extra={"action": "wolkvox.stop", "campaign_id": row.id})
    return wire.render(202, f"The {row.id} campaign_id has been stopped successfully")


async def status(call: Call) -> Response:
    kind = _type(call)
    row = await _campaign(call, kind)
    return wire.render(200, "1 records found", [await campaign_object(call, row)])


async def campaigns(call: Call) -> Response:
    """information.php?api=campaigns: every wolkvox campaign of the account."""
    found: list[dict[str, str]] = []
    offset = 0
    while True:
        page, total = await campaign_service.search(
            call.db,
            account_id=call.account_id,
            sort="id",
            descending=False,
            limit=500,
            offset=offset,
        )
        for row in page:
            if row.channel == voice.VOICE and voice.config_of(row).dialer in TYPES:
                if len(found) >= call.limits.download:
                    raise _too_many(call.limits.download)
                found.append(await campaign_object(call, row))
        offset += len(page)
        if not page or offset >= total:
            break
    return _rows(call, found)


# --- records --------------------------------------------------------------------------


def _text(value: object, name: str, index: int) -> str:
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise wire.bad(f"THE FIELD {name} OF RECORD {index} MUST BE A STRING")
    if NUL in value:
        raise wire.bad(
            f"THE FIELD {name} OF RECORD {index} MUST NOT CONTAIN NUL (U+0000) CHARACTERS"
        )
    if len(value) > MAX_FIELD:
        raise wire.bad(f"THE FIELD {name} OF RECORD {index} IS LONGER THAN {MAX_FIELD}")
    return value.strip()


def _record(raw: object, index: int) -> campaign_service.RecipientInput:
    if not isinstance(raw, Mapping):
        raise wire.bad(f"RECORD {index} MUST BE A JSON OBJECT")
    values = {name: _text(raw.get(name), name, index) for name in FIELDS}
    phone = next((values[tel] for tel in TELS if values[tel]), "")
    return campaign_service.RecipientInput(phone, {k: v for k, v in values.items() if v})


def _records(body: Any, limit: int) -> list[campaign_service.RecipientInput]:
    items: Sequence[object] = [body] if isinstance(body, Mapping) else body
    if not isinstance(items, list):
        raise wire.bad("THE REQUEST BODY MUST BE A JSON ARRAY OF RECORDS")
    if not items:
        raise wire.bad(wire.REQUIRED)
    if len(items) > limit:
        raise WolkvoxError(
            413, f"THE LIMIT OF RECORDS THAT CAN BE UPLOADED PER CONSUMPTION IS {limit:,}"
        )
    return [_record(item, index) for index, item in enumerate(items)]


async def add_record(call: Call) -> Response:
    kind = _type(call)
    row = await _campaign(call, kind)
    entries = _records(await wire.json_body(call.request), call.limits.upload)
    results = await voice.add_numbers(
        call.db, account_id=call.account_id, campaign_id=row.id, entries=entries
    )
    refused = [
        {
            "index": index,
            "telephone": entry.phone,
            "error": REFUSED.get(result.code, "the record could not be added"),
        }
        for index, (entry, result) in enumerate(zip(entries, results, strict=True))
        if result.code != ResultCode.OK
    ]
    added = len(entries) - len(refused)
    msg = f"{added} records were added"
    if refused:
        msg += f", {len(refused)} were rejected"
    return wire.render(201, msg, refused)


# --- reports --------------------------------------------------------------------------


def _too_many(limit: int) -> WolkvoxError:
    return WolkvoxError(
        416,
        f"THE LIMIT OF RECORDS THAT CAN BE DOWNLOADED PER CONSUMPTION IS {limit:,}; "
        "NARROW THE DATES",
    )


def _rows(call: Call, rows: list[dict[str, str]]) -> Response:
    response = wire.render(200, f"{len(rows)} records found", rows)
    if len(response.body) > call.limits.result_bytes:
        raise WolkvoxError(
            416, f"THE RESULT IS LARGER THAN THE LIMIT OF {call.limits.result_bytes:,} BYTES"
        )
    return response


def _customer(recipient: Row[Any] | None) -> dict[str, str]:
    """The record's fields as it was uploaded (every name of :data:`CUSTOMER`, ``""``
    where it had none), from the recipient's variables."""
    variables: Mapping[str, object] = (recipient.variables if recipient is not None else None) or {}
    return {name: "" if variables.get(name) is None else str(variables[name]) for name in CUSTOMER}


def _attempt_row(
    attempt: Row[Any], campaign: Row[Any], call: Call, recipient: Row[Any] | None
) -> dict[str, str]:
    tz = call.caller.tz
    result = "abandon" if attempt.abandoned else RESULTS.get(attempt.outcome, "unknown")
    return {
        "campaign_id": str(campaign.id),
        "conn_id": attempt.channel_ref or f"{attempt.message_id}-{attempt.attempt}",
        "date": wire.local_time(attempt.started_at, tz),
        "telephone": attempt.phone.lstrip("+"),
        "result": result,
        "outcome": attempt.outcome,
        "attempt": str(attempt.attempt),
        "answer_date": wire.local_time(attempt.answered_at, tz),
        "end_date": wire.local_time(attempt.ended_at, tz),
        "duration": str(attempt.duration),
        "billsec": str(attempt.billsec),
        "agent_id": attempt.agent or "",
        "hangup_cause": attempt.hangup_cause,
        "cost": str(attempt.cost),
        **_customer(recipient),
    }


async def _report(call: Call, row: Row[Any]) -> Response:
    since, until = wire.date_range(call.param("date_ini"), call.param("date_end"), call.caller.tz)
    limit = call.limits.download
    rows: list[dict[str, str]] = []
    after = 0
    while True:
        wanted = min(PAGE, limit + 1 - len(rows))
        page = await voice.attempts(
            call.db,
            account_id=call.account_id,
            campaign_id=row.id,
            after_id=after,
            limit=wanted,
            since=since,
            until=until,
        )
        if len(rows) + len(page) > limit:
            raise _too_many(limit)
        customers = (
            await voice.recipients(
                call.db,
                account_id=call.account_id,
                campaign_id=row.id,
                message_ids=sorted({int(attempt.message_id) for attempt in page}),
            )
            if page
            else {}
        )
        rows.extend(
            _attempt_row(attempt, row, call, customers.get(int(attempt.message_id)))
            for attempt in page
        )
        if len(page) < wanted:
            break
        after = page[-1].id
    return _rows(call, rows)


async def detail(call: Call) -> Response:
    kind = _type(call)
    return await _report(call, await _campaign(call, kind))


async def campaign_3(call: Call) -> Response:
    return await _report(call, await _campaign(call, None))


# --- routing --------------------------------------------------------------------------


API_CAMPAIGN: dict[str, tuple[str, Handler]] = {
    "start": ("PUT", start),
    "stop": ("PUT", stop),
    "status": ("GET", status),
    "add_record": ("POST", add_record),
    "detail": ("GET", detail),
}
API_INFORMATION: dict[str, tuple[str, Handler]] = {"campaigns": ("GET", campaigns)}
API_REPORTS: dict[str, tuple[str, Handler]] = {"campaign_3": ("GET", campaign_3)}


async def serve(request: Request, table: Mapping[str, tuple[str, Handler]]) -> Response:
    """Resolve ``api=``, authenticate, apply the token's limits, run the handler."""
    db: Database = request.app.state.db
    settings: Settings = request.app.state.settings
    try:
        if any(NUL in key or NUL in value for key, value in request.query_params.multi_items()):
            raise wire.bad("PARAMETERS MUST NOT CONTAIN NUL (U+0000) CHARACTERS")
        api = (request.query_params.get("api") or "").strip()
        if api not in table:
            raise wire.bad(wire.NO_API)
        method, handler = table[api]
        if request.method != method:
            raise WolkvoxError(405, f"API {api.upper()} IS CONSUMED WITH THE {method} METHOD")
        token = wire.token(request)
        limits = wire.limits(request)
        with limits.slot(token):
            try:
                async with asyncio.timeout(limits.timeout):
                    caller = await wire.authenticate(db, token)
                    await limits.count(db, caller)
                    if limits.gate is not None:
                        await limits.gate()
                    return await handler(Call(request, db, settings, caller, limits))
            except TimeoutError:
                raise WolkvoxError(
                    408,
                    f"THE API CONSUMPTION TIME LIMIT OF {limits.timeout:g} SECONDS WAS EXCEEDED",
                ) from None
    except WolkvoxError as exc:
        return exc.response()
    except ServiceError as exc:
        return wire.from_service(exc).response()
    except HTTPException as exc:
        if exc.status_code != 413:  # the body-limit middleware cut a chunked body
            raise
        return WolkvoxError(413, str(exc.detail).upper()).response()


@router.api_route("/api/v2/campaign.php", methods=METHODS)
async def campaign_php(request: Request) -> Response:
    return await serve(request, API_CAMPAIGN)


@router.api_route("/api/v2/information.php", methods=METHODS)
async def information_php(request: Request) -> Response:
    return await serve(request, API_INFORMATION)


@router.api_route("/api/v2/reports_manager.php", methods=METHODS)
async def reports_manager_php(request: Request) -> Response:
    return await serve(request, API_REPORTS)
