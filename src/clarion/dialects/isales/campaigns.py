"""Huawei CC-iSales outbound campaign interfaces over Clarion's voice campaigns.

Paths below ``/rest/isales/v1/openapi/campaigns`` (``v2`` where marked):

| interface | does |
|---|---|
| ``POST /{vdnId}`` (v1, v2) | add an outbound campaign (V2: caller list, ``retryPolicy``) |
| ``GET /{vdnId}?name=&status=&...`` | query outbound campaigns (paged) |
| ``GET /{vdnId}/{campaignId}`` | campaign details |
| ``PUT /{vdnId}/{campaignId}/start`` | start calling (Clarion, in the shape of pause) |
| ``PUT /{vdnId}/{campaignId}/pause`` | suspend a running campaign (the seed) |
| ``PUT /{vdnId}/{campaignId}/resume`` | resume a suspended campaign |
| ``PUT /{vdnId}/{campaignId}/stop`` | end a campaign for good (Clarion, shape of pause) |
| ``DELETE /{vdnId}/{campaignId}`` | delete a campaign that is not running |
| ``POST /{vdnId}/calldata/{campaignId}`` (v1, v2) | add outbound numbers |

Tenancy: ``vdnId`` is the account (wire.Caller.vdn). A campaign is
``external_id = "isales:<vdn>:<n>"`` with ``n`` its per-VDN integer id. A campaign path
whose ``vdnId`` is not the caller's answers ``0200007`` exactly as an unknown campaign;
create and query with a foreign ``vdnId`` answer ``0200001`` naming ``vdnId`` (the
same for every VDN that is not the caller's, so nothing is learnt about others).

Choices where the vendor's pages are silent or do not fit Clarion (docs/dialects/isales.md):

* Status codes shown: ``1`` created, not started (DRAFT, and MODERATION, QUEUED);
  ``2`` started: waiting for its ``strBeginTime`` (SCHEDULED), calling, waiting for
  its calling window (PAUSED by the engine, which resumes it), or calls complete
  (RUNNING, SENT, DONE; the vendor's 2 covers "executing, call complete, not
  started", and numbers may still be added); ``3`` suspended (PAUSED by the user or
  for funds); ``4`` completed (STOPPED, DECLINED, and any campaign whose
  ``strEndTime`` has come). A RUNNING campaign or one waiting for its window can be
  paused (the window's pause then becomes the user's, which the engine does not
  lift); pausing anything else is ``0200011``, as is resuming anything but a
  suspended (3) one.
* The vendor's pages document no start or stop interface for these campaigns; Clarion
  creates a campaign as ``1`` and adds ``/start`` and ``/stop`` in the shape of
  pause/resume (no body, the same envelope, ``0200011`` for a status that does not
  allow it, ``0200016`` for a campaign that has ended or whose ``strEndTime`` came).
  ``initStatus`` may only be ``0``, the value of every vendor example.
* ``deviceType``: 1 (intelligent IVR) and 3 (automatic IVR) are autocall campaigns
  (no agents; 1 plays TTS, 3 audio); 2 (predicted) is the predictive dialer; 5
  (previewed) and 6 (preempted: an agent is reserved before the call) are the preview
  dialer. Skill-queue campaigns get the account's ``licences`` as agents; IVR ones need
  ``ivrParam`` with ``flowAccessCode`` (kept as the template) and optionally
  ``maxCallNum`` (concurrent calls, 0 = Clarion's default of 10, at most 1000).
* ``maxAlertingTime`` is the ring time (``call_timeout``): 5-120 s (preview 9-120),
  V2 5-60; ``callerNo`` the caller id (V2: the entry with the smallest ``priority``).
* ``scheduleParam``: the three ``workday`` windows (``HH:mm``) are the calling hours
  every day of the week, in the account's time zone; an end of ``23:59`` means the end
  of the day. At least the first workday window is required. ``holiday`` windows are
  validated and echoed but unused: Clarion has no special dates.
* ``retryPolicy`` (V2): ``policyJson`` (JSON; the single quotes of the vendor's
  example are accepted) gives the recalls: the largest ``retryNumber`` and, from the
  smallest ``callInterval`` (seconds), the wait in whole minutes, rounded up; the
  outcomes recalled are Clarion's default (busy, no answer, ...).
* ``strBeginTime`` / ``strEndTime`` (UTC) are checked (begin not before 00:00 UTC
  today: ``0200002``; end after begin), echoed, and are the campaign's period
  (``start_at`` / ``ends_at`` of the voice core): ``/start`` before the begin time
  schedules the campaign (shown 2), which starts calling by itself at that time; at
  the end time the engine ends it (STOPPED, shown 4): calls in progress finish,
  numbers not yet called never are. A campaign whose end time has come is completed
  (4) whatever its status: start, stop and call data answer ``0200016``, pause and
  resume ``0200011``.
* At most 20 current campaigns per VDN of each kind, skill queue (``0200003``) and
  IVR (``0200004``), as the vendor's default ``max.liveliest.taskCount``; current =
  neither completed (4) nor done calling (DONE).
* Call data: at most 20 records per request (``02000011``), at most 10 ``called``
  numbers per record, each 3 to 24 characters of ``0-9 * #`` (``02000005`` /
  ``02000002``), unique within a record's ``sessionId`` (``02000009``); at most
  200,000 numbers waiting in a campaign. Numbers are read as international numbers
  (Clarion's rule: no default country). ``sessionId``, ``callData``, ``customField``
  and ``caller`` are kept as the number's variables. Numbers Clarion cannot call
  (invalid, stop-listed, already in the campaign) are reported in ``returnObject``
  (``successCount``, ``failCount``, ``failList`` of ``sessionId``, ``called``,
  ``failReason``); the answer is ``0200000`` when at least one number was added, else
  ``0200001``. Numbers can be added in statuses 1-3 and to a finished campaign (which
  starts calling again); a completed (4) one answers ``0200016``.
* Call data for one campaign at most once a second (the vendor's rule, "the
  interface invoking time cannot be less than 1 second" for the same campaign task):
  a request within a second of the last one let through answers ``0200022`` and adds
  nothing. Counted from valid requests about to add numbers (one whose body is
  refused does not take the turn), in a database row per campaign
  (``services.voice.take_turn``), so it holds across API processes; V1 and V2 share
  the turn.
* Query: ``name`` matches as a substring, ``beginTime`` / ``endTime`` bound the
  campaigns' own times; ``rowsPerPage`` above 100 is ``02000007``;
  ``curSkillQueueCount`` / ``curIvrCount`` count the VDN's current campaigns.
* Delete: a RUNNING campaign, or one waiting for its window, is ``0200011`` (as are
  calls still in progress); a suspended one is stopped, then deleted; one whose calls
  are complete (shown as 2) may be deleted, or it would hold its place under the
  limit for ever; ``archiveHistory`` is accepted and has no effect.
* Fields the voice engine has no use for (device type, begin/end times, the
  schedule as given, ``skillParam``, ``ivrParam``, the V2 caller list, ``priority``)
  are kept in the voice settings' ``extras`` under ``isales``.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Row
from sqlalchemy.exc import DBAPIError, IntegrityError

from clarion.config import Settings
from clarion.dialects.isales import wire
from clarion.dialects.isales.wire import Caller, Fields, IsalesError, field_error
from clarion.domain.lifecycle import CampaignStatus, PauseReason
from clarion.domain.recipients import ResultCode, describe
from clarion.domain.voice.config import MAX_CONCURRENT, VoiceConfig
from clarion.domain.voice.windows import NS_PER_DAY
from clarion.services import campaigns as campaign_service
from clarion.services import voice
from clarion.services.errors import (
    Conflict,
    InsufficientFunds,
    InvalidInput,
    NotFound,
    ServiceError,
    TransitionConflict,
)
from clarion.store.db import Database

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)

V1 = "/rest/isales/v1/openapi/campaigns"
V2 = "/rest/isales/v2/openapi/campaigns"
PREFIX = "isales"

IVR_TYPES = (1, 3)
SKILL_TYPES = (2, 5, 6)
DEVICE_TYPES = (1, 2, 3, 5, 6)
MAX_CURRENT = 20
MAX_CALL_DATA = 20
MAX_CALLED = 10
MAX_WAITING = 200_000
MAX_PARAM_JSON = 600
MAX_CALLERS = 10
CALL_DATA_GAP = timedelta(seconds=1)  # between two call-data requests of a campaign
PAGE = 500
INT_MAX = wire.INT32_MAX

STATUS: dict[str, int] = {
    CampaignStatus.DRAFT: 1,
    CampaignStatus.MODERATION: 1,
    CampaignStatus.QUEUED: 1,
    CampaignStatus.SCHEDULED: 2,
    CampaignStatus.RUNNING: 2,
    CampaignStatus.SENT: 2,
    CampaignStatus.DONE: 2,
    CampaignStatus.PAUSED: 3,
    CampaignStatus.STOPPED: 4,
    CampaignStatus.DECLINED: 4,
}
ENDED_STATUSES = frozenset({CampaignStatus.STOPPED, CampaignStatus.DECLINED})
SCHEDULE_KEYS = tuple(
    f"{kind}{edge}Time{rank}"
    for kind in ("workday", "holiday")
    for rank in (1, 2, 3)
    for edge in ("Begin", "End")
)


# --- plumbing ---------------------------------------------------------------------------


def _from_service(exc: ServiceError) -> IsalesError:
    if isinstance(exc, NotFound):
        return IsalesError(wire.NOT_FOUND)
    if isinstance(exc, InvalidInput):
        return IsalesError(wire.PARAMETER, exc.message)
    if isinstance(exc, Conflict | InsufficientFunds):
        return IsalesError(wire.BAD_STATUS, exc.message)
    return IsalesError(wire.PARAMETER, exc.message)


Work = Callable[[Caller, bytes, Database, Settings], Awaitable[JSONResponse]]


async def _handle(request: Request, work: Work) -> JSONResponse:
    db, settings = wire.context(request)
    try:
        body = await wire.raw_body(request)
        caller = await wire.authenticate(request, db, body)
        return await work(caller, body, db, settings)
    except IsalesError as exc:
        return exc.response()
    except ServiceError as exc:
        return _from_service(exc).response()
    except DBAPIError:
        log.exception("isales: database error", extra={"action": "isales.database_error"})
        return IsalesError(wire.DATABASE).response()


def _own_vdn(caller: Caller, text: str) -> int:
    vdn = wire.path_integer(text, "vdnId", low=1, high=9999)
    if vdn != caller.vdn:
        raise field_error(wire.PARAMETER, "vdnId", f"{vdn} is not the VDN of this account")
    return vdn


async def _campaign(db: Database, caller: Caller, vdn_text: str, id_text: str) -> Row[Any]:
    vdn = wire.path_integer(vdn_text, "vdnId", low=1, high=9999)
    number = wire.path_integer(id_text, "campaignId", low=1)
    if vdn != caller.vdn or number > 2**63 - 1:
        raise IsalesError(wire.NOT_FOUND)
    return await voice.find(db, account_id=caller.account_id, external_id=_external(vdn, number))


def _external(vdn: int, number: int) -> str:
    return f"{PREFIX}:{vdn}:{number}"


def _number(row: Row[Any]) -> int:
    return int(str(row.external_id).rsplit(":", 1)[1])


# --- the stored iSales fields -----------------------------------------------------------


def _pack(config: dict[str, Any], description: str | None, extras: dict[str, Any]) -> None:
    """Store the description and the iSales-only fields in the voice settings."""
    config["description"] = description or ""
    config["extras"] = {PREFIX: extras}


def _unpack(config: VoiceConfig) -> tuple[str | None, dict[str, Any]]:
    stored = config.extras.get(PREFIX)
    return config.description or None, dict(stored) if isinstance(stored, dict) else {}


def _waits_for_window(row: Row[Any]) -> bool:
    """Paused by the engine outside its calling windows: it resumes by itself."""
    return bool(row.status == CampaignStatus.PAUSED and row.pause_reason == PauseReason.WINDOW)


def _end_of(row: Row[Any]) -> datetime | None:
    """The campaign's end time: ``ends_at``, or the stored ``strEndTime`` of a campaign
    made before the core kept it."""
    if row.ends_at is not None:
        ends_at: datetime = row.ends_at
        return ends_at
    _, extras = _unpack(voice.config_of(row))
    return _stored_time(extras.get("strEndTime"))


def _ended(row: Row[Any], now: datetime) -> bool:
    """Completed (the vendor's 4): stopped, declined, or its end time has come."""
    if row.status in ENDED_STATUSES:
        return True
    end = _end_of(row)
    return end is not None and now >= end


def _current(row: Row[Any], now: datetime) -> bool:
    """Counts against the per-VDN limit: not completed, and not done calling."""
    return not _ended(row, now) and row.status != CampaignStatus.DONE


def _status(row: Row[Any], now: datetime) -> int:
    if _ended(row, now):
        return 4
    if _waits_for_window(row):
        return 2  # executing, waiting for its calling window
    return STATUS.get(str(row.status), 1)


def _device_type(config: VoiceConfig, extras: dict[str, Any]) -> int:
    stored = extras.get("deviceType")
    if isinstance(stored, int) and stored in DEVICE_TYPES:
        return stored
    return {"predictive": 2, "preview": 5}.get(config.dialer, 3)


# --- create --------------------------------------------------------------------------------


def _clock(value: str, name: str) -> int:
    """``HH:mm`` as minutes since midnight."""
    hours, _, minutes = value.partition(":")
    if not hours.isdigit() or len(hours) > 2:
        raise field_error(wire.CONVERSION, name, "must be a time of day HH:mm")
    if not minutes:
        raise field_error(wire.HOUR_MINUTE, name, "needs both the hour and the minute (HH:mm)")
    if not minutes.isdigit() or len(minutes) != 2:
        raise field_error(wire.CONVERSION, name, "must be a time of day HH:mm")
    hour, minute = int(hours), int(minutes)
    if hour > 23 or minute > 59:
        raise field_error(wire.VALUE, name, "must be from 00:00 to 23:59")
    return hour * 60 + minute


def _schedule(params: Fields) -> tuple[dict[str, str | None], list[dict[str, int]]]:
    """The twelve window bounds as given (None when unset) and the workday windows as
    autocall schedules, every day of the week."""
    given: dict[str, str | None] = {}
    for key in SCHEDULE_KEYS:
        value = params.string(key, max_length=5)
        given[key] = value
    schedules: list[dict[str, int]] = []
    for kind in ("workday", "holiday"):
        for rank in (1, 2, 3):
            begin_key, end_key = f"{kind}BeginTime{rank}", f"{kind}EndTime{rank}"
            begin, end = given[begin_key], given[end_key]
            if begin is None and end is None:
                continue
            if begin is None or end is None:
                missing = params.name(begin_key if begin is None else end_key)
                raise field_error(wire.COMBINATION, missing, "a window needs a begin and an end")
            start = _clock(begin, params.name(begin_key))
            stop = _clock(end, params.name(end_key))
            stop = 24 * 60 if stop == 23 * 60 + 59 else stop
            if stop <= start:
                raise field_error(
                    wire.COMBINATION, params.name(end_key), "must be later than the begin time"
                )
            if kind == "workday":
                bounds = (start * 60 * 10**9, min(stop * 60 * 10**9, NS_PER_DAY))
                schedules.append(
                    {
                        f"{day}_{edge}_time": bound
                        for day in (
                            "monday",
                            "tuesday",
                            "wednesday",
                            "thursday",
                            "friday",
                            "saturday",
                            "sunday",
                        )
                        for edge, bound in zip(("start", "end"), bounds, strict=True)
                    }
                )
    if not schedules:
        raise field_error(
            wire.EMPTY, params.name("workdayBeginTime1"), "at least one workday window is needed"
        )
    return given, schedules


def _param_json(params: Fields) -> dict[str, Any]:
    text = json.dumps(params.data, ensure_ascii=False, separators=(",", ":"))
    if len(text) > MAX_PARAM_JSON:
        raise field_error(
            wire.TOO_LONG, params.prefix.rstrip("."), f"must be at most {MAX_PARAM_JSON} characters"
        )
    return dict(params.data)


def _recall(policy: Fields) -> dict[str, Any]:
    policy.integer("policyType", low=0, high=INT_MAX)
    text = policy.string("policyJson", required=True, max_length=4000, multiline=True)
    assert text is not None
    name = policy.name("policyJson")
    try:
        rules = json.loads(text)
    except ValueError:
        try:
            rules = json.loads(text.replace("'", '"'))
        except ValueError:
            raise field_error(wire.CONVERSION, name, "is not a JSON list of policies") from None
    if not isinstance(rules, list):
        raise field_error(wire.TYPE, name, "must be a list of policies")
    numbers: list[int] = []
    intervals: list[int] = []
    for index, rule in enumerate(rules):
        if not isinstance(rule, dict):
            raise field_error(wire.TYPE, f"{name}[{index}]", "must be an object")
        steps = Fields(rule, f"{name}[{index}].").array("policy") or []
        for step_index, step in enumerate(steps):
            where = f"{name}[{index}].policy[{step_index}]."
            if not isinstance(step, dict):
                raise field_error(wire.TYPE, where.rstrip("."), "must be an object")
            fields = Fields(step, where)
            fields.integer("result", low=0, high=INT_MAX)
            retries = fields.integer("retryNumber", required=True, low=0, high=100)
            interval = fields.integer("callInterval", low=0, high=30 * 24 * 3600)
            assert retries is not None
            numbers.append(retries)
            if interval is not None:
                intervals.append(interval)
    if not numbers:
        return {"recall_times": 0}
    wait = math.ceil(min(intervals) / 60) if intervals else 1
    return {
        "recall_times": max(numbers),
        "schedule_recall": "minute",
        "schedule_recall_duration": wait,
    }


def _callers(body: Fields, *, v2: bool) -> tuple[str, list[dict[str, Any]] | None]:
    if not v2:
        caller = body.string("callerNo", required=True, max_length=24, number=True)
        assert caller is not None
        return caller, None
    entries = body.array("callerNo", required=True)
    assert entries is not None
    if len(entries) > MAX_CALLERS:
        raise field_error(wire.TOO_MANY, "callerNo", f"at most {MAX_CALLERS} calling numbers")
    kept: list[dict[str, Any]] = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise field_error(wire.TYPE, f"callerNo[{index}]", "must be an object")
        fields = Fields(entry, f"callerNo[{index}].")
        code = fields.string("accessCode", required=True, max_length=24, number=True)
        priority = fields.integer("priority", low=1, high=INT_MAX)
        kept.append({"accessCode": code, "priority": priority})
    first = min(kept, key=lambda e: e["priority"] if e["priority"] is not None else INT_MAX)
    return str(first["accessCode"]), kept


async def _everything(db: Database, caller: Caller, vdn: int) -> list[tuple[Row[Any], VoiceConfig]]:
    """Every campaign of the VDN with its settings, oldest first."""
    out: list[tuple[Row[Any], VoiceConfig]] = []
    offset = 0
    while True:
        rows, total = await voice.search(
            db,
            account_id=caller.account_id,
            prefix=f"{PREFIX}:{vdn}:",
            limit=PAGE,
            offset=offset,
        )
        out.extend((row, voice.config_of(row)) for row in rows)
        offset += len(rows)
        if not rows or offset >= total:
            return out


async def _create(request: Request, vdn_text: str, *, v2: bool) -> JSONResponse:
    async def work(caller: Caller, raw: bytes, db: Database, settings: Settings) -> JSONResponse:
        vdn = _own_vdn(caller, vdn_text)
        data = wire.json_object(raw)
        wire.no_nul(data)
        body = Fields(data)
        name = body.string("name", required=True, max_length=100)
        description = body.string(
            "description", max_length=200, forbidden='"[]=;<>', multiline=True
        )
        begin_text = body.string("strBeginTime", required=True)
        end_text = body.string("strEndTime", required=True)
        assert name is not None and begin_text is not None and end_text is not None
        begin = wire.parse_time(begin_text, "strBeginTime")
        end = wire.parse_time(end_text, "strEndTime")
        device = body.integer("deviceType", required=True, allowed=DEVICE_TYPES)
        assert device is not None
        caller_no, caller_list = _callers(body, v2=v2)
        low = 9 if device == 5 else 5
        high = 60 if v2 else 120
        alerting = body.integer("maxAlertingTime", required=True, low=low, high=high)
        priority = body.integer("priority", low=1, high=5) if v2 else None
        schedule = body.obj("scheduleParam", required=True)
        assert schedule is not None
        windows, schedules = _schedule(schedule)
        ivr = body.obj("ivrParam")
        skill = body.obj("skillParam")
        body.integer("initStatus", allowed=(0,))
        callback = body.string("callBackUrl", max_length=1024)
        retry = body.obj("retryPolicy")
        body.obj("callPolicy")
        recall = _recall(retry) if retry is not None else {}

        extras: dict[str, Any] = {
            "deviceType": device,
            "strBeginTime": begin_text,
            "strEndTime": end_text,
            "scheduleParam": windows,
        }
        config: dict[str, Any] = {
            "call_timeout": alerting,
            "hours": schedules,
            "recall": recall,
            "callback_url": callback or "",
        }
        if device in IVR_TYPES:
            if ivr is None:
                raise field_error(
                    wire.COMBINATION, "ivrParam", "is required for deviceType 1 and 3"
                )
            flow = ivr.string("flowAccessCode", required=True, max_length=24, number=True)
            calls = ivr.integer("maxCallNum", low=0, high=65535)
            extras["ivrParam"] = _param_json(ivr)
            config.update(
                type="autocall",
                type_autocall="autocall_voice_tts" if device == 1 else "autocall_audio",
                template=flow or "",
                dialer="auto",
                concurrent_call=min(calls, MAX_CONCURRENT) if calls else 10,
            )
        else:
            if skill is None:
                raise field_error(
                    wire.COMBINATION, "skillParam", "is required for deviceType 2, 5 and 6"
                )
            skill.integer("skillId", required=True, low=1, high=INT_MAX)
            skill.string("skillName", max_length=100)
            skill.integer("outBoundType", low=0, high=INT_MAX)
            extras["skillParam"] = _param_json(skill)
            agents = max(1, min(int(caller.account.licences or 1), MAX_CONCURRENT))
            predictive = device == 2
            config.update(
                type="autodialer" if device != 6 else "manual",
                dialer="predictive" if predictive else "preview",
                agents=agents,
                concurrent_call=min(3 * agents, MAX_CONCURRENT) if predictive else agents,
            )
        if caller_list is not None:
            extras["callerNo"] = caller_list
        if priority is not None:
            extras["priority"] = priority
        _pack(config, description, extras)

        now = wire.now(request)
        today = datetime.combine(now.date(), time(0), tzinfo=now.tzinfo)
        if begin < today:
            raise field_error(wire.BEGIN_BEFORE_TODAY, "strBeginTime", "is before 00:00 UTC today")
        if end <= begin:
            raise field_error(wire.COMBINATION, "strEndTime", "must be later than strBeginTime")
        if await voice.name_taken(db, account_id=caller.account_id, name=name):
            raise field_error(wire.NAME_TAKEN, "name", f"{name!r} is already used")
        skill_kind = device in SKILL_TYPES
        current = [
            row
            for row, stored in await _everything(db, caller, vdn)
            if _current(row, now)
            and (_device_type(stored, _unpack(stored)[1]) in SKILL_TYPES) == skill_kind
        ]
        if len(current) >= MAX_CURRENT:
            raise IsalesError(wire.SKILL_LIMIT if skill_kind else wire.IVR_LIMIT)
        parsed = voice.parse_config(config)
        number = await voice.next_external_number(
            db, account_id=caller.account_id, prefix=f"{PREFIX}:{vdn}:"
        )
        for _ in range(50):
            spec = voice.VoiceSpec(
                name=name,
                config=parsed,
                caller_id=caller_no,
                external_id=_external(vdn, number),
                start_at=begin,
                ends_at=end,
            )
            try:
                await voice.create(db, account_id=caller.account_id, spec=spec, settings=settings)
            except (Conflict, IntegrityError):
                number += 1
                continue
            return wire.envelope(returnObject={"id": number})
        raise IsalesError(wire.DATABASE, "no free campaign id")

    return await _handle(request, work)


@router.post(V1 + "/{vdn}")
async def create_v1(request: Request, vdn: str) -> JSONResponse:
    return await _create(request, vdn, v2=False)


@router.post(V2 + "/{vdn}")
async def create_v2(request: Request, vdn: str) -> JSONResponse:
    return await _create(request, vdn, v2=True)


# --- query ------------------------------------------------------------------------------


def _detail(row: Row[Any], now: datetime) -> dict[str, Any]:
    config = voice.config_of(row)
    description, extras = _unpack(config)
    schedule = extras.get("scheduleParam")
    return {
        "id": _number(row),
        "name": row.name,
        "description": description,
        "status": _status(row, now),
        "strBeginTime": extras.get("strBeginTime"),
        "strEndTime": extras.get("strEndTime"),
        "deviceType": _device_type(config, extras),
        "callerNo": row.sender,
        "maxAlertingTime": config.call_timeout,
        "scheduleParam": {key: (schedule or {}).get(key) for key in SCHEDULE_KEYS},
        "ivrParam": extras.get("ivrParam"),
        "skillParam": extras.get("skillParam"),
        "callBackUrl": config.callback_url or None,
    }


def _summary(row: Row[Any], config: VoiceConfig, now: datetime) -> dict[str, Any]:
    _, extras = _unpack(config)
    return {
        "id": _number(row),
        "name": row.name,
        "status": _status(row, now),
        "strBeginTime": extras.get("strBeginTime"),
        "strEndTime": extras.get("strEndTime"),
        "deviceType": _device_type(config, extras),
        "callerNo": row.sender,
    }


@router.get(V1 + "/{vdn}/{campaign}")
async def detail(request: Request, vdn: str, campaign: str) -> JSONResponse:
    async def work(caller: Caller, raw: bytes, db: Database, settings: Settings) -> JSONResponse:
        row = await _campaign(db, caller, vdn, campaign)
        return wire.envelope(returnObject=_detail(row, wire.now(request)))

    return await _handle(request, work)


def _query(request: Request) -> Fields:
    items = request.query_params.multi_items()
    seen: set[str] = set()
    for key, _ in items:
        if key in seen:
            raise field_error(wire.TOO_MANY, key, "is given more than once")
        seen.add(key)
    values = dict(items)
    wire.no_nul(values)
    return Fields(values)


@router.get(V1 + "/{vdn}")
async def query(request: Request, vdn: str) -> JSONResponse:
    async def work(caller: Caller, raw: bytes, db: Database, settings: Settings) -> JSONResponse:
        own = _own_vdn(caller, vdn)
        params = _query(request)
        name = params.string("name", max_length=30)
        status = params.integer("status", allowed=(0, 1, 2, 3, 4)) or 0
        device = params.integer("deviceType", allowed=(0, *DEVICE_TYPES)) or 0
        begin_text = params.string("beginTime")
        end_text = params.string("endTime")
        begin = wire.parse_time(begin_text, "beginTime") if begin_text else None
        end = wire.parse_time(end_text, "endTime") if end_text else None
        if begin is not None and end is not None and end < begin:
            raise field_error(wire.COMBINATION, "endTime", "must not be before beginTime")
        page = max(1, params.integer("curPage", low=-INT_MAX, high=INT_MAX) or 1)
        rows_per_page = params.integer("rowsPerPage", low=1, high=100) or 10

        now = wire.now(request)
        counts = {"skill": 0, "ivr": 0}
        matched: list[dict[str, Any]] = []
        for row, config in await _everything(db, caller, own):
            item = _summary(row, config, now)
            if _current(row, now):
                counts["skill" if item["deviceType"] in SKILL_TYPES else "ivr"] += 1
            if name and name not in row.name:
                continue
            if status and item["status"] != status:
                continue
            if device and item["deviceType"] != device:
                continue
            if begin is not None and not _at_or_after(item["strBeginTime"], begin):
                continue
            if end is not None and not _at_or_before(item["strEndTime"], end):
                continue
            matched.append(item)
        start = (page - 1) * rows_per_page
        return wire.envelope(
            curPage=page,
            totalSize=len(matched),
            rowsPerPage=rows_per_page,
            curSkillQueueCount=counts["skill"],
            curIvrCount=counts["ivr"],
            data=matched[start : start + rows_per_page],
        )

    return await _handle(request, work)


def _stored_time(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return wire.parse_time(text, "time")
    except IsalesError:
        return None


def _at_or_after(text: object, bound: datetime) -> bool:
    moment = _stored_time(text)
    return moment is not None and moment >= bound


def _at_or_before(text: object, bound: datetime) -> bool:
    moment = _stored_time(text)
    return moment is not None and moment <= bound


# --- status changes ---------------------------------------------------------------------


Action = Callable[[Database, Caller, Row[Any], datetime], Awaitable[None]]


def _status_route(action: Action) -> Callable[[Request, str, str], Awaitable[JSONResponse]]:
    async def endpoint(request: Request, vdn: str, campaign: str) -> JSONResponse:
        async def work(
            caller: Caller, raw: bytes, db: Database, settings: Settings
        ) -> JSONResponse:
            row = await _campaign(db, caller, vdn, campaign)
            await action(db, caller, row, wire.now(request))
            return wire.envelope()

        return await _handle(request, work)

    return endpoint


async def _start(db: Database, caller: Caller, row: Row[Any], now: datetime) -> None:
    """DRAFT -> RUNNING, or SCHEDULED until ``strBeginTime`` (the core's ``start_at``)."""
    if _ended(row, now):
        raise IsalesError(wire.ENDED)
    try:
        await campaign_service.start(db, account_id=caller.account_id, campaign_id=row.id)
    except Conflict as exc:
        raise IsalesError(wire.BAD_STATUS, f"It cannot be started: {exc.message}") from exc


async def _pause(db: Database, caller: Caller, row: Row[Any], now: datetime) -> None:
    """Suspend a RUNNING campaign, or one the engine paused outside its calling window
    (which would resume by itself): that pause becomes the user's (``voice.pause``)."""
    refused = IsalesError(
        wire.BAD_STATUS, "The outbound campaign in the current status cannot be suspended."
    )
    current = await campaign_service.get(db, account_id=caller.account_id, campaign_id=row.id)
    if _ended(current, now) or (
        current.status != CampaignStatus.RUNNING and not _waits_for_window(current)
    ):
        raise refused
    try:
        await voice.pause(db, account_id=caller.account_id, campaign_id=row.id)
    except TransitionConflict as exc:
        raise refused from exc


async def _resume(db: Database, caller: Caller, row: Row[Any], now: datetime) -> None:
    if row.status == CampaignStatus.PAUSED and _ended(row, now):
        raise IsalesError(wire.BAD_STATUS, "The campaign cannot be resumed: it has ended.")
    if _waits_for_window(row):
        raise IsalesError(
            wire.BAD_STATUS, "The campaign is not suspended: it waits for its calling window."
        )
    try:
        await campaign_service.resume(db, account_id=caller.account_id, campaign_id=row.id)
    except (Conflict, InsufficientFunds) as exc:
        raise IsalesError(
            wire.BAD_STATUS, f"The campaign cannot be resumed: {exc.message}"
        ) from exc


async def _stop(db: Database, caller: Caller, row: Row[Any], now: datetime) -> None:
    if _ended(row, now):
        raise IsalesError(wire.ENDED)
    try:
        await campaign_service.stop(db, account_id=caller.account_id, campaign_id=row.id)
    except Conflict as exc:
        raise IsalesError(wire.BAD_STATUS, f"It cannot be stopped: {exc.message}") from exc


for _verb, _action in (("start", _start), ("pause", _pause), ("resume", _resume), ("stop", _stop)):
    router.add_api_route(V1 + "/{vdn}/{campaign}/" + _verb, _status_route(_action), methods=["PUT"])


@router.delete(V1 + "/{vdn}/{campaign}")
async def delete(request: Request, vdn: str, campaign: str) -> JSONResponse:
    async def work(caller: Caller, raw: bytes, db: Database, settings: Settings) -> JSONResponse:
        row = await _campaign(db, caller, vdn, campaign)
        data = wire.json_object(raw, required=False)
        wire.no_nul(data)
        Fields(data).integer("archiveHistory", allowed=(0, 1))
        if row.status == CampaignStatus.RUNNING or _waits_for_window(row):
            raise IsalesError(wire.BAD_STATUS, "A running campaign cannot be deleted.")
        try:
            if row.status == CampaignStatus.PAUSED:
                await campaign_service.stop(db, account_id=caller.account_id, campaign_id=row.id)
            await voice.delete(db, account_id=caller.account_id, campaign_id=row.id)
        except Conflict as exc:
            raise IsalesError(wire.BAD_STATUS, exc.message) from exc
        return wire.envelope()

    return await _handle(request, work)


# --- call data ----------------------------------------------------------------------------


def _call_data(data: dict[str, Any]) -> list[tuple[campaign_service.RecipientInput, str, str]]:
    """(recipient, sessionId, called) per number of ``callDataList``."""
    records = Fields(data).array("callDataList", required=True)
    assert records is not None
    if len(records) > MAX_CALL_DATA:
        raise field_error(
            wire.TOO_MANY, "callDataList", f"at most {MAX_CALL_DATA} records per request"
        )
    out: list[tuple[campaign_service.RecipientInput, str, str]] = []
    for index, record in enumerate(records):
        where = f"callDataList[{index}]"
        if not isinstance(record, dict):
            raise field_error(wire.TYPE, where, "must be an object")
        fields = Fields(record, f"{where}.")
        session = fields.string("sessionId", max_length=32) or ""
        caller = fields.string("caller", max_length=24, number=True)
        call_data = fields.string("callData", max_length=1024, multiline=True)
        custom = fields.string("customField", max_length=200, multiline=True)
        called = record.get("called")
        if isinstance(called, str | int) and not isinstance(called, bool):
            numbers: list[Any] = [called]
        else:
            numbers = fields.array("called", required=True) or []
        if len(numbers) > MAX_CALLED:
            raise field_error(wire.TOO_MANY, f"{where}.called", f"at most {MAX_CALLED} numbers")
        variables = {
            key: value
            for key, value in (
                ("sessionId", session),
                ("caller", caller),
                ("callData", call_data),
                ("customField", custom),
            )
            if value
        }
        seen: set[str] = set()
        for position, number in enumerate(numbers):
            name = f"{where}.called[{position}]" if len(numbers) > 1 else f"{where}.called"
            text = Fields({"called": number}, "").string("called", required=True, number=True)
            assert text is not None
            if not 3 <= len(text) <= 24:
                raise field_error(wire.LENGTH_RANGE, name, "must be 3 to 24 characters")
            if text in seen:
                raise field_error(wire.COMBINATION, name, "is given twice for the same sessionId")
            seen.add(text)
            out.append((campaign_service.RecipientInput(text, variables), session, text))
    return out


def _failures(
    entries: Sequence[tuple[campaign_service.RecipientInput, str, str]],
    results: Sequence[campaign_service.RecipientResult],
) -> list[dict[str, Any]]:
    return [
        {"sessionId": session or None, "called": called, "failReason": describe(result.code)}
        for (_, session, called), result in zip(entries, results, strict=True)
        if result.code != ResultCode.OK
    ]


async def _add_call_data(request: Request, vdn: str, campaign: str) -> JSONResponse:
    async def work(caller: Caller, raw: bytes, db: Database, settings: Settings) -> JSONResponse:
        row = await _campaign(db, caller, vdn, campaign)
        data = wire.json_object(raw)
        wire.no_nul(data)
        entries = _call_data(data)
        now = wire.now(request)
        if _ended(row, now):
            raise IsalesError(wire.ENDED)
        if not await voice.take_turn(
            db, key=f"{PREFIX}:calldata:{row.id}", now=now, gap=CALL_DATA_GAP
        ):
            raise IsalesError(
                wire.TOO_FAST,
                "Call data for this campaign at most once a second; try again later.",
            )
        stats = await voice.stats(db, account_id=caller.account_id, campaign_id=row.id)
        if stats.waiting + stats.in_progress + len(entries) > MAX_WAITING:
            raise field_error(
                wire.TOO_MANY,
                "callDataList",
                f"a campaign holds at most {MAX_WAITING} waiting numbers",
            )
        try:
            results = await voice.add_numbers(
                db,
                account_id=caller.account_id,
                campaign_id=row.id,
                entries=[entry for entry, _, _ in entries],
            )
        except Conflict as exc:
            raise IsalesError(wire.ENDED, exc.message) from exc
        failures = _failures(entries, results)
        summary = {
            "successCount": len(entries) - len(failures),
            "failCount": len(failures),
            "failList": failures,
        }
        if len(failures) == len(entries):
            raise IsalesError(
                wire.PARAMETER,
                "None of the numbers could be added.",
                extra={"returnObject": summary},
            )
        return wire.envelope(returnObject=summary)

    return await _handle(request, work)


@router.post(V1 + "/{vdn}/calldata/{campaign}")
async def call_data_v1(request: Request, vdn: str, campaign: str) -> JSONResponse:
    return await _add_call_data(request, vdn, campaign)


@router.post(V2 + "/{vdn}/calldata/{campaign}")
async def call_data_v2(request: Request, vdn: str, campaign: str) -> JSONResponse:
    return await _add_call_data(request, vdn, campaign)


@router.api_route(
    "/rest/isales/{rest:anypath}",
    methods=["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"],
)
async def unknown(request: Request, rest: str) -> JSONResponse:
    """A path or method that is no iSales interface: the envelope, HTTP 404."""
    return IsalesError(wire.PARAMETER, "No such interface.", status=404).response()
