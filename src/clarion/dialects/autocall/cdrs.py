"""autocall v3 CDRs: one record per call attempt, in the vendor's ``/v3/cdr`` shape.

* ``GET /v3/cdr?campaign_uuid=&limit=&offset=``: the vendor's list ->
  ``{"data": [cdr...], "total": n}``
* ``GET /v3/campaign/{campaign_uuid}/cdrs?limit=&offset=``: the same, campaign in the path

Choices:

* Oldest first; ``limit`` 1-1000 (default 100), ``offset`` >= 0. ``total`` counts the
  campaign's finished attempts.
* ``campaign_uuid`` is required on ``/v3/cdr``: Clarion lists CDRs per campaign (the
  vendor's list spans the account).
* Fields (the vendor's sample): ``id``/``parent_id`` a stable UUID per attempt,
  ``sip_call_id`` the carrier's call id (the ``call_id`` of the CDR callbacks),
  ``cause`` the hang-up cause (a Q.850 name, derived from the outcome when the
  carrier gave none), ``status`` the outcome (autocall's names: answered, busy,
  no-answered, ...), ``duration``/``billsec`` in seconds, ``time_*`` as
  ``YYYY-MM-DD HH:MM:SS`` in the account's time zone (``""`` when absent),
  ``to_number`` in the vendor's national form (``0...`` for Vietnamese numbers),
  ``from_number`` the caller id, ``app: "autocall"``, ``direction: "outbound"``,
  ``extension``/``username`` the agent (agent campaigns), ``customer_fullname`` the
  lead's ``lead_name``, ``additional`` the lead's ``additional`` values (and the OTP's
  ``code_otp``, ``ref_id``) with the called ``phone_number``. Recording and key-press
  fields are empty: Clarion records neither audio nor key presses.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import tzinfo
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Row

from clarion.config import Settings
from clarion.dialects.autocall import wire
from clarion.dialects.autocall.leads import LEAD_TEXT_FIELDS
from clarion.dialects.autocall.wire import AutocallError, Caller
from clarion.dialects.timestamps import timestamp
from clarion.services import voice
from clarion.store.db import Database

router = APIRouter()

MAX_PAGE = 1000
DEFAULT_PAGE = 100
CHUNK = 1000
# Q.850 names for outcomes whose attempt carries no hang-up cause.
CAUSES = {
    "answered": "NORMAL_CLEARING",
    "voicemail": "NORMAL_CLEARING",
    "busy": "USER_BUSY",
    "no-answered": "NO_ANSWER",
    "not-available": "SUBSCRIBER_ABSENT",
    "congestion": "NORMAL_CIRCUIT_CONGESTION",
    "invalid-number": "UNALLOCATED_NUMBER",
    "phone-block": "CALL_REJECTED",
    "failed": "NORMAL_TEMPORARY_FAILURE",
}


def national(phone: str) -> str:
    """``+84775702541`` -> ``0775702541`` (the vendor's form); others stay E.164."""
    return "0" + phone[3:] if phone.startswith("+84") else phone


def cdr_object(
    attempt: Row[Any], campaign: Row[Any], tz: tzinfo, variables: Mapping[str, Any]
) -> dict[str, Any]:
    """One attempt in the vendor's CDR shape; ``variables`` are its lead's."""
    document = voice.cdr_document(attempt, campaign=campaign)
    key = wire.uuid_of(campaign)
    call_id = wire.call_uuid(key, int(attempt.message_id), int(attempt.attempt))
    agent = attempt.agent or ""
    to_number = national(str(attempt.phone))
    started = timestamp(attempt.started_at, tz) or ""
    return {
        "id": call_id,
        "parent_id": call_id,
        "sip_call_id": document["call_id"],
        "cause": attempt.hangup_cause or CAUSES.get(str(attempt.outcome), ""),
        "duration": int(attempt.duration),
        "direction": "outbound",
        "recording_url": "",
        "extension": agent,
        "from_number": campaign.sender or "",
        "to_number": to_number,
        "receive_dest": "",
        "time_started": started,
        "time_answered": timestamp(attempt.answered_at, tz) or "",
        "time_ended": timestamp(attempt.ended_at, tz) or "",
        "time_ringging": started,
        "status": str(attempt.outcome),
        "billsec": int(attempt.billsec),
        "app": "autocall",
        "press_key": "{}",
        "fullname": "",
        "email": "",
        "username": agent,
        "sip_hangup_disposition": "",
        "campaign_uuid": key,
        "lead_uuid": wire.lead_uuid(key, int(attempt.message_id)),
        "rate": "",
        "digits": "",
        "note": "",
        "customer_fullname": str(variables.get("lead_name", "")),
        "customer_email": "",
        "demand_customer": "",
        "interest_segment": "",
        "additional": {
            **{k: v for k, v in variables.items() if k not in LEAD_TEXT_FIELDS},
            "phone_number": to_number,
        },
        "autocall_presskey_epoch": "",
        "time_presskey": "",
        "presskey_delay": 0,
        "autocall_recording_url": "",
    }


def _variables(message: Row[Any] | None) -> Mapping[str, Any]:
    found = None if message is None else message.variables
    return found if isinstance(found, Mapping) else {}


async def page(
    db: Database, caller: Caller, campaign: Row[Any], *, limit: int, offset: int
) -> list[Row[Any]]:
    """``limit`` attempts after the first ``offset`` (the service pages by id)."""
    after = 0
    skipped = 0
    while skipped < offset:
        rows = await voice.attempts(
            db,
            account_id=caller.id,
            campaign_id=int(campaign.id),
            after_id=after,
            limit=min(CHUNK, offset - skipped),
        )
        if not rows:
            return []
        skipped += len(rows)
        after = int(rows[-1].id)
    found = await voice.attempts(
        db, account_id=caller.id, campaign_id=int(campaign.id), after_id=after, limit=limit
    )
    return list(found)


async def listing(request: Request, caller: Caller, db: Database, key: str) -> JSONResponse:
    params = request.query_params
    limit = wire.query_int(params, "limit", default=DEFAULT_PAGE, low=1, high=MAX_PAGE)
    offset = wire.query_int(params, "offset", default=0, low=0, high=2**62)
    campaign = await voice.find(db, account_id=caller.id, external_id=wire.external_id(key))
    rows = await page(db, caller, campaign, limit=limit, offset=offset)
    stats = await voice.stats(db, account_id=caller.id, campaign_id=int(campaign.id))
    leads = await voice.recipients(
        db,
        account_id=caller.id,
        campaign_id=int(campaign.id),
        message_ids=sorted({int(row.message_id) for row in rows}),
    )
    data = [
        cdr_object(row, campaign, caller.tz, _variables(leads.get(int(row.message_id))))
        for row in rows
    ]
    return JSONResponse({"data": data, "total": stats.attempts})


@router.get("/v3/cdr")
async def list_cdrs(request: Request) -> JSONResponse:
    async def work(caller: Caller, db: Database, settings: Settings) -> JSONResponse:
        value = request.query_params.get("campaign_uuid")
        if not value:
            raise AutocallError(400, "campaign_uuid is missing")
        return await listing(request, caller, db, wire.campaign_uuid(value))

    return await wire.guarded(request, work)


@router.get("/v3/campaign/{campaign_uuid}/cdrs")
async def campaign_cdrs(request: Request, campaign_uuid: str) -> JSONResponse:
    async def work(caller: Caller, db: Database, settings: Settings) -> JSONResponse:
        return await listing(request, caller, db, wire.campaign_uuid(campaign_uuid))

    return await wire.guarded(request, work)
