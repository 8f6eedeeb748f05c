"""autocall v3 campaigns: create, get, list, update (the seed), delete.

* ``POST /v3/campaign``: create from a campaign object -> ``{"campaign_uuid"}``
* ``GET /v3/campaign/{campaign_uuid}``: the campaign object, every field of the seed
* ``GET /v3/campaign?limit=&offset=`` (also ``/v3/campaigns``): the account's autocall
  campaigns, oldest first -> ``{"data": [...], "total": n}``
* ``PUT /v3/campaign/{campaign_uuid}``: update (the seed) -> ``{"campaign_uuid"}``
* ``DELETE /v3/campaign/{campaign_uuid}``: delete one that is not calling ->
  ``{"campaign_uuid"}``

Choices where the vendor's page is silent (docs/dialects/autocall.md has the rest):

* The campaign is a Clarion voice campaign whose ``external_id`` is
  ``autocall:<campaign_uuid>``; the server makes the UUID (uuid4) on create, a
  ``campaign_uuid`` in a create body is ignored, one in an update body must match the
  URL. Campaigns made through other facades are not listed here.
* Stored (``VoiceConfig``): ``type``, ``type_autocall``, ``description``,
  ``concurrent_call``, ``call_timeout``, ``mode_call`` (``"parralel"``, the vendor
  table's spelling, is read as ``parallel``), ``carrier_uuid`` (-> ``carrier``),
  ``template_uuid`` (-> ``template``), the recall fields, ``schedules`` (calling
  windows, in the account's time zone), ``network``, ``callback_url``,
  ``answer_callback_url``; ``campaign_name`` is the campaign's name.
* Kept for the dialect (``VoiceConfig.extras["autocall"]``) and echoed: ``active``
  (default true), ``template_name``, ``carrier_name``, ``domain_name``,
  ``orig_campaign_uuid`` (strings), ``users``, ``groups``, ``statuses`` (lists),
  ``enable_encrypt`` (boolean): Clarion has no carrier, template, user or group
  objects to resolve them against.
* Derived, read-only: ``status`` (from the lifecycle, below), ``created_at``,
  ``updated_at`` (the latest lifecycle time: Clarion keeps no edit time), ``run_id``
  (a UUID naming the current run while the campaign is ``start`` or ``pause``, else
  ``""``); values sent for them are type-checked and ignored.
* Update is a merge: a field absent (or ``null``) keeps its value; create gives
  absent fields Clarion's defaults. ``campaign_name`` and ``type`` are required on
  create (the table's "x").
* ``campaign_name`` is unique among the account's voice campaigns:
  400 ``{"error": "campaign_name is already taken"}``.
* ``status`` drives the campaign: ``start`` starts a new one (it needs leads),
  resumes a paused one, and starts a new run of a finished one (the numbers not
  reached are called again); ``pause`` pauses a calling one; ``stop`` stops (final).
  Asking for the status the campaign already shows changes nothing. While ``active``
  is false the campaign places no calls: a calling campaign is paused (the user's
  pause) and ``start`` is not applied; ``active: true`` alone resumes nothing.
  Lifecycle -> ``status``: DRAFT, MODERATION, DECLINED, STOPPED, DONE -> ``stop``;
  QUEUED, SCHEDULED, RUNNING, SENT -> ``start``; PAUSED -> ``pause``, except a campaign
  the engine paused outside its calling windows (``schedules``): that one is ``start``
  (on, waiting for its window, which the engine opens by itself); ``start`` leaves it
  to the engine, ``pause`` turns it into the user's pause.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Row

from clarion.config import Settings
from clarion.dialects.autocall import wire
from clarion.dialects.autocall.wire import AutocallError, Caller
from clarion.domain.lifecycle import CampaignStatus, PauseReason, dialect_status
from clarion.domain.voice.config import VoiceConfig
from clarion.domain.voice.errors import InvalidField
from clarion.domain.voice.recall import AUTOCALL_FIELDS as RECALL_FIELDS
from clarion.services import campaigns as campaign_service
from clarion.services import voice
from clarion.store.db import Database

router = APIRouter()

C = CampaignStatus
STATUSES = ("stop", "start", "pause")
NAME_TAKEN = "campaign_name is already taken"
MAX_PAGE = 1000
DEFAULT_PAGE = 10
RUN_NAMESPACE = uuid.UUID("0d6f1d3e-4a57-4c43-9a43-4b1f4f2a7c11")

# autocall field -> VoiceConfig field (same JSON types).
CONFIG_FIELDS = {
    "type": "type",
    "type_autocall": "type_autocall",
    "description": "description",
    "concurrent_call": "concurrent_call",
    "call_timeout": "call_timeout",
    "mode_call": "mode_call",
    "callback_url": "callback_url",
    "answer_callback_url": "answer_callback_url",
    "carrier_uuid": "carrier",
    "template_uuid": "template",
}
MODE_ALIASES = {"parralel": "parallel"}
# Fields Clarion keeps for the dialect only (extras["autocall"]), with their defaults.
KEPT: dict[str, Any] = {
    "active": True,
    "template_name": "",
    "carrier_name": "",
    "domain_name": "",
    "users": [],
    "groups": [],
    "statuses": [],
    "enable_encrypt": False,
    "orig_campaign_uuid": "",
}
DERIVED = ("run_id", "created_at", "updated_at")  # strings, ignored on input
EXTRAS = "autocall"


# --- the campaign object ---------------------------------------------------------------


def rfc3339(moment: datetime, tz: tzinfo) -> str:
    """``2023-03-06T16:27:17.784242+07:00``: microseconds and the account's offset."""
    return moment.astimezone(tz).isoformat(timespec="microseconds")


def waits_for_window(row: Row[Any]) -> bool:
    """Paused by the engine outside the calling windows (it resumes by itself)."""
    return bool(row.status == C.PAUSED and row.pause_reason == PauseReason.WINDOW)


def autocall_status(row: Row[Any]) -> str:
    if waits_for_window(row):
        return "start"
    return dialect_status("autocall", C(row.status))


def run_id(row: Row[Any], status: str) -> str:
    if status == "stop" or row.started_at is None:
        return ""
    return str(uuid.uuid5(RUN_NAMESPACE, f"{wire.uuid_of(row)}/{row.started_at.isoformat()}"))


def kept_fields(config: VoiceConfig) -> dict[str, Any]:
    stored = config.extras.get(EXTRAS)
    found = stored if isinstance(stored, Mapping) else {}
    return {name: found.get(name, default) for name, default in KEPT.items()}


def campaign_object(row: Row[Any], tz: tzinfo) -> dict[str, Any]:
    """The seed's campaign object, every field, in the seed's order."""
    config = voice.config_of(row)
    kept = kept_fields(config)
    recall = config.recall.to_autocall()
    status = autocall_status(row)
    times = [t for t in (row.created_at, row.started_at, row.sent_at, row.finished_at) if t]
    return {
        "campaign_uuid": wire.uuid_of(row),
        "campaign_name": row.name,
        "type": config.type,
        "description": config.description,
        "active": kept["active"],
        "concurrent_call": config.concurrent_call,
        "carrier_uuid": config.carrier,
        "template_uuid": config.template,
        "recall_times": recall["recall_times"],
        "limit_recall_duration": recall["limit_recall_duration"],
        "schedule_recall": recall["schedule_recall"],
        "schedule_recall_duration": recall["schedule_recall_duration"],
        "answer_callback_url": config.answer_callback_url,
        "status": status,
        "created_at": rfc3339(row.created_at, tz),
        "updated_at": rfc3339(max(times), tz),
        "template_name": kept["template_name"],
        "carrier_name": kept["carrier_name"],
        "mode_call": config.mode_call,
        "network": config.network.to_autocall(),
        "run_id": run_id(row, status),
        "type_autocall": config.type_autocall,
        "call_timeout": config.call_timeout,
        "domain_name": kept["domain_name"],
        "users": kept["users"],
        "groups": kept["groups"],
        "statuses": kept["statuses"],
        "schedules": config.hours.to_autocall(),
        "priority_recall": recall["priority_recall"],
        "recall_status": recall["recall_status"],
        "enable_encrypt": kept["enable_encrypt"],
        "callback_url": config.callback_url,
        "orig_campaign_uuid": kept["orig_campaign_uuid"],
    }


# --- reading a campaign object -----------------------------------------------------------


def _given(body: Mapping[str, Any], name: str) -> bool:
    return body.get(name) is not None


def check_kept_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """The dialect-only fields ``body`` gives, type-checked; derived ones are checked
    and dropped."""
    kept: dict[str, Any] = {}
    for name, default in KEPT.items():
        if not _given(body, name):
            continue
        value = body[name]
        if isinstance(default, bool) and not isinstance(value, bool):
            raise wire.invalid(name, f"must be true or false, got {value!r}")
        if isinstance(default, str) and not isinstance(value, str):
            raise wire.invalid(name, f"must be a string, got {value!r}")
        if isinstance(default, list) and not isinstance(value, list):
            raise wire.invalid(name, f"must be a list, got {value!r}")
        kept[name] = value
    for name in DERIVED:
        if _given(body, name) and not isinstance(body[name], str):
            raise wire.invalid(name, f"must be a string, got {body[name]!r}")
    return kept


def read_name(body: Mapping[str, Any], *, required: bool) -> str | None:
    value = body.get("campaign_name")
    if value is None:
        if required:
            raise wire.invalid("campaign_name", "is required")
        return None
    if not isinstance(value, str):
        raise wire.invalid("campaign_name", f"must be a string, got {value!r}")
    if not value.strip():
        raise wire.invalid("campaign_name", "must not be empty")
    if len(value.strip()) > 255:
        raise wire.invalid("campaign_name", "is longer than 255 characters")
    return value.strip()


def read_status(body: Mapping[str, Any]) -> str | None:
    value = body.get("status")
    if value is None:
        return None
    if value not in STATUSES:
        raise wire.invalid("status", f"must be one of {', '.join(STATUSES)}, got {value!r}")
    assert isinstance(value, str)
    return value


def read_config(body: Mapping[str, Any], base: VoiceConfig) -> VoiceConfig:
    """``base`` with the autocall fields ``body`` gives (absent or null: kept)."""
    data = base.to_dict()
    kept = check_kept_fields(body)
    if kept:
        data["extras"] = {**data["extras"], EXTRAS: {**kept_fields(base), **kept}}
    for wire_name, name in CONFIG_FIELDS.items():
        if _given(body, wire_name):
            value = body[wire_name]
            if wire_name == "mode_call" and isinstance(value, str):
                value = MODE_ALIASES.get(value, value)
            data[name] = value
    recall = dict(data["recall"])
    for name in RECALL_FIELDS:
        if _given(body, name):
            recall[name] = body[name]
    if _given(body, "recall_status") and not isinstance(body["recall_status"], list):
        raise wire.invalid("recall_status", "must be a list of call outcomes")
    data["recall"] = recall
    if _given(body, "schedules"):
        if not isinstance(body["schedules"], list):
            raise wire.invalid("schedules", "must be a list of schedule objects")
        data["hours"] = body["schedules"]
    if _given(body, "network"):
        network = body["network"]
        if not isinstance(network, dict):
            raise wire.invalid("network", "must be an object")
        data["network"] = {**data["network"], **network}
    try:
        return VoiceConfig.from_dict(data)
    except InvalidField as exc:
        if exc.field == "extras":
            names = ", ".join(n for n in KEPT if n != "active")
            raise wire.invalid(names, f"together {exc.reason}") from None
        raise wire.invalid(wire.FIELD_NAMES.get(exc.field, exc.field), exc.reason) from None


# --- status --------------------------------------------------------------------------------


def plan(row: Row[Any], wanted: str | None, active: bool | None) -> str | None:
    """The service action (``start``, ``resume``, ``retry``, ``pause``, ``hold``,
    ``stop``) that takes the campaign to the autocall ``wanted`` status, or None when
    nothing is to be done; AutocallError 409 when it cannot get there."""
    current = C(row.status)
    waiting = waits_for_window(row)
    if active is False and wanted != "stop":
        if current == C.RUNNING or waiting:
            wanted = "pause"
        elif wanted == "start":
            wanted = None
    if wanted is None:
        return None
    if wanted == "start":
        if current == C.DRAFT:
            return "start"
        if current == C.PAUSED:
            return None if waiting else "resume"
        if current in (C.STOPPED, C.DONE):
            return "retry"
        if current in (C.MODERATION, C.DECLINED):
            raise AutocallError(
                409,
                "status: the campaign is held for review by the operator"
                if current == C.MODERATION
                else "status: the campaign was declined by the operator; it cannot start",
            )
        return None
    if wanted == "pause":
        if current == C.RUNNING:
            return "pause"
        if current == C.PAUSED:
            return "hold" if waiting else None
        shown = autocall_status(row)
        raise AutocallError(409, f"status: only a calling campaign can pause (it is {shown})")
    if current in (C.MODERATION, C.QUEUED, C.SCHEDULED, C.RUNNING, C.PAUSED):
        return "stop"
    return None  # DRAFT, STOPPED, DONE, DECLINED show "stop"; SENT finishes by itself


async def run(db: Database, caller: Caller, row: Row[Any], action: str | None) -> None:
    account_id, campaign_id = caller.id, int(row.id)
    if action == "start":
        await campaign_service.start(db, account_id=account_id, campaign_id=campaign_id)
    elif action == "resume":
        await campaign_service.resume(db, account_id=account_id, campaign_id=campaign_id)
    elif action == "retry":
        await campaign_service.retry(db, account_id=account_id, campaign_id=campaign_id)
    elif action in ("pause", "hold"):  # hold: the window's pause becomes the user's
        await voice.pause(db, account_id=account_id, campaign_id=campaign_id)
    elif action == "stop":
        await campaign_service.stop(db, account_id=account_id, campaign_id=campaign_id)


async def precheck(db: Database, caller: Caller, row: Row[Any], action: str | None) -> None:
    """Refuse before anything is written what is known to fail."""
    if action == "start":
        stats = await voice.stats(db, account_id=caller.id, campaign_id=int(row.id))
        if stats.waiting == 0:
            raise AutocallError(
                409, "status: the campaign has no leads to call; add leads, then start it"
            )


# --- endpoints -----------------------------------------------------------------------------


async def find(db: Database, caller: Caller, text: str) -> Row[Any]:
    key = wire.campaign_uuid(text)
    return await voice.find(db, account_id=caller.id, external_id=wire.external_id(key))


@router.post("/v3/campaign")
async def create(request: Request) -> JSONResponse:
    async def work(caller: Caller, db: Database, settings: Settings) -> JSONResponse:
        body = await wire.json_object(request)
        name = read_name(body, required=True)
        assert name is not None
        if not _given(body, "type"):
            raise wire.invalid("type", "is required")
        config = read_config(body, VoiceConfig())
        status = read_status(body)
        if status == "pause":
            raise AutocallError(409, "status: only a calling campaign can pause (it is stop)")
        if status == "start" and kept_fields(config)["active"]:
            raise AutocallError(
                409,
                "status: a new campaign has no leads to call; create it with status stop, "
                "add leads, then set status start",
            )
        if await voice.name_taken(db, account_id=caller.id, name=name):
            raise AutocallError(400, NAME_TAKEN)
        key = str(uuid.uuid4())
        await voice.create(
            db,
            account_id=caller.id,
            spec=voice.VoiceSpec(name=name, config=config, external_id=wire.external_id(key)),
            settings=settings,
        )
        return JSONResponse({"campaign_uuid": key})

    return await wire.guarded(request, work)


async def _list(request: Request) -> JSONResponse:
    async def work(caller: Caller, db: Database, settings: Settings) -> JSONResponse:
        params = request.query_params
        limit = wire.query_int(params, "limit", default=DEFAULT_PAGE, low=1, high=MAX_PAGE)
        offset = wire.query_int(params, "offset", default=0, low=0, high=2**62)
        rows, total = await voice.search(
            db, account_id=caller.id, prefix=wire.PREFIX, limit=limit, offset=offset
        )
        data = [campaign_object(row, caller.tz) for row in rows]
        return JSONResponse({"data": data, "total": total})

    return await wire.guarded(request, work)


@router.get("/v3/campaign")
async def list_campaigns(request: Request) -> JSONResponse:
    return await _list(request)


@router.get("/v3/campaigns")
async def list_campaigns_plural(request: Request) -> JSONResponse:
    return await _list(request)


@router.get("/v3/campaign/{campaign_uuid}")
async def get(request: Request, campaign_uuid: str) -> JSONResponse:
    async def work(caller: Caller, db: Database, settings: Settings) -> JSONResponse:
        row = await find(db, caller, campaign_uuid)
        return JSONResponse(campaign_object(row, caller.tz))

    return await wire.guarded(request, work)


@router.put("/v3/campaign/{campaign_uuid}")
async def update(request: Request, campaign_uuid: str) -> JSONResponse:
    async def work(caller: Caller, db: Database, settings: Settings) -> JSONResponse:
        row = await find(db, caller, campaign_uuid)
        key = wire.uuid_of(row)
        body = await wire.json_object(request)
        if _given(body, "campaign_uuid") and wire.campaign_uuid(body["campaign_uuid"]) != key:
            raise wire.invalid("campaign_uuid", "does not match the campaign in the URL")
        name = read_name(body, required=False)
        current = voice.config_of(row)
        config = read_config(body, current)
        action = plan(row, read_status(body), kept_fields(config)["active"])
        if name == row.name:
            name = None
        if name is not None and await voice.name_taken(
            db, account_id=caller.id, name=name, exclude=int(row.id)
        ):
            raise AutocallError(400, NAME_TAKEN)
        await precheck(db, caller, row, action)
        if name is not None or config != current:  # (callback URLs are checked again)
            await voice.update(
                db,
                account_id=caller.id,
                campaign_id=int(row.id),
                settings=settings,
                name=name,
                config=None if config == current else config,
            )
        await run(db, caller, row, action)
        return JSONResponse({"campaign_uuid": key})

    return await wire.guarded(request, work)


@router.delete("/v3/campaign/{campaign_uuid}")
async def delete(request: Request, campaign_uuid: str) -> JSONResponse:
    async def work(caller: Caller, db: Database, settings: Settings) -> JSONResponse:
        row = await find(db, caller, campaign_uuid)
        if C(row.status) in (C.RUNNING, C.PAUSED):
            raise AutocallError(
                409,
                f"the campaign is {autocall_status(row)}; set status stop before deleting it",
            )
        await voice.delete(db, account_id=caller.id, campaign_id=int(row.id))
        return JSONResponse({"campaign_uuid": wire.uuid_of(row)})

    return await wire.guarded(request, work)
