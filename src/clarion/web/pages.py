"""Dashboard routes. Pages are HTML; ``*.json`` endpoints feed the pages' scripts.

Every action calls the same services as ``/v1`` (campaigns, imports, stop-lists),
scoped to the signed-in account; every POST carries the session's CSRF token.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path as FilePath
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from clarion.api import uploads
from clarion.clock import utcnow
from clarion.domain import encoding, templates
from clarion.domain.lifecycle import CampaignStatus, MessageStatus
from clarion.domain.recipients import describe_code
from clarion.imports import readers
from clarion.services import accounts, imports, pricing, stoplists
from clarion.services import campaigns as service
from clarion.services import voice as voice_service
from clarion.services.errors import (
    Conflict,
    InsufficientFunds,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
)
from clarion.store import accounts as account_store
from clarion.store import dashboard as store
from clarion.web import actions, keys, session, views
from clarion.web import voice as voice_view
from clarion.web.render import (
    Operator,
    SignInRequired,
    WebRoute,
    current_operator,
    database,
    render,
    require_csrf,
    settings_of,
    state,
)

root = APIRouter(include_in_schema=False, route_class=WebRoute)
router = APIRouter(prefix="/ui", include_in_schema=False, route_class=WebRoute)

Op = Annotated[Operator, Depends(current_operator)]
CampaignId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Csrf = Annotated[str, Form()]
PAGE_SIZE = 20
MESSAGE_PAGE_SIZE = 50
CHANNELS: tuple[tuple[str, str, bool], ...] = (
    ("sms", "SMS", True),
    ("rcs", "RCS (SMS fallback optional)", True),
    ("voice", "Voice calls", True),
)
TYPES = (
    ("mass", "Mass: the same text to everyone"),
    ("template", "Template: {placeholders} filled per recipient"),
    ("single", "Single: exactly one recipient"),
)
VOICE_NO_FILES = (
    "Voice campaigns take numbers pasted here or through the API; file imports are not "
    "available for them"
)
ENCODINGS = ("", "UTF-8", "WINDOWS-1251", "WINDOWS-1252", "KOI8-R", "CP866", "ISO-8859-1", "UCS-2")


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _safe_next(target: str | None) -> str:
    """Only a local dashboard path may follow the sign-in (no open redirect)."""
    if not target:
        return "/ui/campaigns"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/ui/") or "\\" in target:
        return "/ui/campaigns"
    return target


# --- sign-in ------------------------------------------------------------------------


def _sign_in_page(
    request: Request, *, next_url: str, error: str | None = None, status_code: int = 200
) -> Response:
    nonce = session.new_nonce()
    response = render(
        request,
        "sign_in.html",
        {
            "next": _safe_next(next_url),
            "csrf": session.csrf_token(state(request).secret, nonce),
            "error": error,
        },
        status_code=status_code,
    )
    response.set_cookie(
        session.SIGN_IN_COOKIE,
        nonce,
        max_age=3600,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@root.get("/")
async def home(request: Request, next: str | None = None) -> Response:
    """The sign-in page, or the campaigns for a signed-in operator."""
    try:
        await current_operator(request)
    except SignInRequired:
        return _sign_in_page(request, next_url=next or "")
    return _see_other(_safe_next(next))


@router.post("/sign-in")
async def sign_in(
    request: Request,
    api_key: Annotated[str, Form(max_length=200)] = "",
    csrf: Csrf = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    web = state(request)
    if not session.csrf_valid(web.secret, request.cookies.get(session.SIGN_IN_COOKIE), csrf):
        return _sign_in_page(
            request,
            next_url=next,
            error="The sign-in form expired. Enter the key again.",
            status_code=403,
        )
    key = api_key.strip()
    async with database(request).read() as conn:
        found = await account_store.key_for_hash(conn, accounts.hash_key(key)) if key else None
    if found is None:
        return _sign_in_page(
            request,
            next_url=next,
            error="That API key is not valid (or has been revoked).",
            status_code=401,
        )
    cookie = session.encode(web.secret, session.Session(int(found.key_id), int(time.time())))
    response = _see_other(_safe_next(next))
    response.set_cookie(
        session.SESSION_COOKIE,
        cookie,
        max_age=web.max_age,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
    response.delete_cookie(session.SIGN_IN_COOKIE, path="/")
    return response


@router.post("/sign-out")
async def sign_out(request: Request, op: Op, csrf: Csrf = "") -> Response:
    require_csrf(request, csrf)
    response = _see_other("/")
    response.delete_cookie(session.SESSION_COOKIE, path="/")
    return response


# --- campaigns list -----------------------------------------------------------------


@router.get("/campaigns")
async def campaigns(
    request: Request,
    op: Op,
    status: Annotated[str, Query(max_length=20)] = "",
    q: Annotated[str, Query(max_length=200)] = "",
    page: Annotated[str | None, Query()] = None,
    notice: str | None = None,
) -> Response:
    db = database(request)
    status = status.upper() if status.upper() in CampaignStatus.__members__ else ""
    number = views.page_number(page)
    params = tuple((k, v) for k, v in (("status", status), ("q", q)) if v)
    rows, total = await service.search(
        db,
        account_id=op.account.id,
        statuses=[status] if status else [],
        text=q.strip() or None,
        sort="id",
        descending=True,
        limit=PAGE_SIZE,
        offset=(number - 1) * PAGE_SIZE,
    )
    async with db.read() as conn:
        counters = await store.counters_for(
            conn, account_id=op.account.id, campaign_ids=[r.id for r in rows]
        )
    items = [
        {
            "row": r,
            "summary": views.summarise({s: c.messages for s, c in counters[r.id].items()}),
        }
        for r in rows
    ]
    return render(
        request,
        "campaigns.html",
        {
            "items": items,
            "pager": views.Pager(number, PAGE_SIZE, total, params),
            "status": status,
            "q": q,
            "statuses": list(CampaignStatus),
            "notice": actions.NOTICES.get(notice or ""),
        },
        operator=op,
    )


# --- create -------------------------------------------------------------------------


def _form_defaults() -> dict[str, Any]:
    return {
        "name": "",
        "channel": "sms",
        "type": "mass",
        "sender": "",
        "text": "",
        "rate_limit": "",
        "rate_period": "",
        "validity_minutes": "",
        "start_at": "",
        "placeholders_flag": "3",
        "fallback_text": "",
        "fallback_sender": "",
        **voice_view.FORM_DEFAULTS,
    }


def _new_form(
    request: Request,
    op: Operator,
    values: dict[str, Any],
    *,
    error: str | None = None,
    field: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "campaign_new.html",
        {
            "values": values,
            "channels": CHANNELS,
            "types": TYPES,
            "error": error,
            "error_field": field,
            "price_per_segment": settings_of(request).price_per_segment,
            "voice": {
                "plays": voice_view.PLAYS,
                "dialers": voice_view.DIALERS,
                "units": voice_view.UNITS,
                "outcomes": [(o, voice_view.OUTCOME_LABELS[o]) for o in voice_view.RECALLABLE],
                "zones": voice_view.zone_names(),
                "default_zone": settings_of(request).voice_timezone or op.account.timezone or "UTC",
            },
        },
        status_code=status_code,
        operator=op,
    )


@router.get("/campaigns/new")
async def new_campaign(request: Request, op: Op) -> Response:
    return _new_form(request, op, _form_defaults())


def _optional_int(values: dict[str, Any], name: str, label: str) -> int | None:
    raw = str(values.get(name) or "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"{label} must be a whole number", field=name) from None
    if value <= 0:
        raise InvalidInput(f"{label} must be a positive number", field=name)
    return value


def _start_at(raw: str) -> datetime | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInput("start time must look like 2026-05-01T09:30", field="start_at") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


@router.post("/campaigns")
async def create_campaign(
    request: Request,
    op: Op,
    csrf: Csrf = "",
    name: Annotated[str, Form(max_length=300)] = "",
    channel: Annotated[str, Form(max_length=10)] = "sms",
    type: Annotated[str, Form(max_length=10)] = "mass",
    sender: Annotated[str, Form(max_length=100)] = "",
    text: Annotated[str, Form(max_length=5000)] = "",
    rate_limit: Annotated[str, Form(max_length=12)] = "",
    rate_period: Annotated[str, Form(max_length=12)] = "",
    validity_minutes: Annotated[str, Form(max_length=12)] = "",
    start_at: Annotated[str, Form(max_length=40)] = "",
    placeholders_flag: Annotated[str, Form(max_length=2)] = "3",
    fallback_text: Annotated[str, Form(max_length=2000)] = "",
    fallback_sender: Annotated[str, Form(max_length=100)] = "",
    voice_play: Annotated[str, Form(max_length=40)] = "",
    voice_template: Annotated[str, Form(max_length=5000)] = "",
    caller_id: Annotated[str, Form(max_length=100)] = "",
    concurrent_call: Annotated[str, Form(max_length=12)] = "",
    call_timeout: Annotated[str, Form(max_length=12)] = "",
    max_call_minutes: Annotated[str, Form(max_length=12)] = "",
    dialer: Annotated[str, Form(max_length=20)] = "",
    agents: Annotated[str, Form(max_length=12)] = "",
    recall_times: Annotated[str, Form(max_length=12)] = "",
    recall_status: Annotated[list[str] | None, Form()] = None,
    recall_delay: Annotated[str, Form(max_length=12)] = "",
    recall_unit: Annotated[str, Form(max_length=10)] = "",
    window_start: Annotated[str, Form(max_length=10)] = "",
    window_end: Annotated[str, Form(max_length=10)] = "",
    timezone: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    require_csrf(request, csrf)
    values = {
        "name": name,
        "channel": channel,
        "type": type,
        "sender": sender,
        "text": text,
        "rate_limit": rate_limit,
        "rate_period": rate_period,
        "validity_minutes": validity_minutes,
        "start_at": start_at,
        "placeholders_flag": placeholders_flag,
        "fallback_text": fallback_text,
        "fallback_sender": fallback_sender,
        "voice_play": voice_play,
        "voice_template": voice_template,
        "caller_id": caller_id,
        "concurrent_call": concurrent_call,
        "call_timeout": call_timeout,
        "max_call_minutes": max_call_minutes,
        "dialer": dialer,
        "agents": agents,
        "recall_times": recall_times,
        "recall_status": recall_status or [],
        "recall_delay": recall_delay,
        "recall_unit": recall_unit,
        "window_start": window_start,
        "window_end": window_end,
        "timezone": timezone,
    }
    settings = settings_of(request)
    if channel == voice_service.VOICE:
        return await _create_voice(request, op, values)
    try:
        if channel not in service.SENDING_CHANNELS:
            raise InvalidInput(
                f"{channel.upper()} campaigns are not available on this server yet",
                field="channel",
            )
        if placeholders_flag not in ("1", "2", "3"):
            raise InvalidInput("choose what happens with missing placeholders", field="ph")
        rcs = channel == "rcs"
        if rcs and not text.strip():
            raise InvalidInput("an RCS campaign needs its message text", field="text")
        spec = service.CampaignSpec(
            name=name,
            text="" if rcs else text,
            content={"text": text} if rcs else None,
            fallback=(
                service.Fallback(text=fallback_text, sender=fallback_sender.strip())
                if rcs and fallback_text.strip()
                else None
            ),
            channel=channel,
            type=type,
            sender=sender.strip(),
            rate_limit=_optional_int(values, "rate_limit", "Rate limit"),
            rate_period=_optional_int(values, "rate_period", "Rate period"),
            start_at=_start_at(start_at),
            validity_minutes=_optional_int(values, "validity_minutes", "Validity"),
            placeholders_flag=int(placeholders_flag),
        )
        row = await service.create(
            database(request),
            account_id=op.account.id,
            spec=spec,
            default_channel=settings.default_channel,
            price_per_segment=settings.price_per_segment,
            rcs_channel=settings.rcs_channel,
        )
    except InvalidInput as exc:
        return _new_form(request, op, values, error=exc.message, field=exc.field, status_code=422)
    return _see_other(f"/ui/campaigns/{row.id}/recipients?notice=created")


async def _create_voice(request: Request, op: Operator, values: dict[str, Any]) -> Response:
    """A voice campaign from the form: its settings validated by the voice service."""
    try:
        config = voice_view.config_from_form(values)
    except InvalidInput as exc:
        return _new_form(request, op, values, error=exc.message, field=exc.field, status_code=422)
    try:
        row = await voice_service.create(
            database(request),
            account_id=op.account.id,
            spec=voice_service.VoiceSpec(
                name=str(values["name"]), config=config, caller_id=values["caller_id"].strip()
            ),
            settings=settings_of(request),
        )
    except InvalidInput as exc:
        message, field = voice_view.form_error(exc)
        return _new_form(request, op, values, error=message, field=field, status_code=422)
    return _see_other(f"/ui/campaigns/{row.id}/recipients?notice=created")


class PreviewIn(BaseModel):
    text: str = Field("", max_length=5000)
    type: str = Field("mass", max_length=10)
    country: str = Field("", max_length=2)


@router.post("/preview.json")
async def preview(request: Request, op: Op, body: PreviewIn) -> Response:
    """Encoding, segments and a price estimate of an SMS text as it is typed."""
    require_csrf(request, None)
    measured = encoding.measure(body.text)
    gsm = measured.encoding == encoding.Encoding.GSM7
    single, part = (160, 153) if gsm else (70, 67)
    capacity = single if measured.segments == 1 else part * measured.segments
    names = sorted(templates.placeholders(body.text)) if body.type == "template" else []
    country = body.country.strip().upper()
    settings = settings_of(request)
    async with database(request).read() as conn:
        table = await pricing.table_for(
            conn, account_id=op.account.id, channel="sms", currency=op.account.currency
        )
    rule = table.rule(country=country, operator="")
    price = table.price(
        country=country,
        operator="",
        segments=measured.segments,
        per_segment=settings.price_per_segment,
    )
    if rule is None:
        basis = f"flat {views.money(settings.price_per_segment)} per segment"
    else:
        where = rule.country or "any country"
        basis = f"price table: {views.money(rule.price)} per {rule.unit} ({where})"
    return JSONResponse(
        {
            "encoding": measured.encoding.value,
            "units": measured.units,
            "segments": measured.segments,
            "capacity": capacity,
            "remaining": max(capacity - measured.units, 0),
            "unit_name": "characters" if gsm else "UCS-2 characters",
            "placeholders": names,
            "price": views.money(price),
            "price_text": views.money(price, op.account.currency),
            "basis": basis,
            "currency": op.account.currency,
        }
    )


# --- campaign detail ----------------------------------------------------------------


TIMELINE_TTL = 30.0
TIMELINE_CACHE = 256


async def _timeline(
    request: Request, campaign_id: int, counts_key: tuple[tuple[str, int], ...]
) -> dict[str, Any]:
    """Delivered / failed messages per time bucket. The grouping reads every message
    of the campaign, so it is recomputed only when the campaign's counters have
    changed (or after ``TIMELINE_TTL``), not on every poll of every open page."""
    cache = state(request).timelines
    now = time.monotonic()
    cached = cache.get(campaign_id)
    if cached is not None and cached[0] == counts_key and now - cached[1] < TIMELINE_TTL:
        return cached[2]
    buckets: list[dict[str, int]] = []
    size = 0
    async with database(request).read() as conn:
        first, last = await store.activity_span(conn, campaign_id=campaign_id)
        if first is not None and last is not None:
            size = views.bucket_size(first, last)
            counts = await store.status_timeline(
                conn,
                campaign_id=campaign_id,
                bucket_seconds=size,
                statuses=[*views.DELIVERED, *views.FAILED],
            )
            buckets = views.timeline(counts, bucket_seconds=size)
    result: dict[str, Any] = {"bucket_seconds": size, "buckets": buckets}
    if len(cache) >= TIMELINE_CACHE:
        cache.clear()
    cache[campaign_id] = (counts_key, now, result)
    return result


async def _voice_part(request: Request, op: Operator, row: Any, account: Any) -> dict[str, Any]:
    """A voice campaign's settings in words and its live voice object."""
    db = database(request)
    config = voice_service.config_of(row)
    stats = await voice_service.stats(db, account_id=op.account.id, campaign_id=row.id)
    async with db.read() as conn:
        recalls, recalls_waiting = await store.recall_queue(
            conn, account_id=op.account.id, campaign_id=row.id, limit=voice_view.RECALL_QUEUE
        )
        calls = await store.recent_calls(
            conn, account_id=op.account.id, campaign_id=row.id, limit=voice_view.RECENT_CALLS
        )
    zone = config.timezone or settings_of(request).voice_timezone or account.timezone or "UTC"
    now = utcnow()
    return {
        "config": config,
        "zone": zone,
        "zone_is_own": bool(config.timezone),
        "hours": voice_view.describe_hours(config.hours),
        "quiet_hours": (
            None if config.quiet_hours is None else voice_view.describe_hours(config.quiet_hours)
        ),
        "recall": voice_view.describe_recall(config.recall),
        "dialer": voice_view.describe_dialer(config),
        "play": voice_view.describe_play(config),
        "recent_limit": voice_view.RECENT_CALLS,
        "opens": voice_view.next_opening(config.hours, voice_view.zone_of(zone), now),
        "json": voice_view.live(
            config=config,
            stats=stats,
            zone=zone,
            recalls=recalls,
            recalls_waiting=recalls_waiting,
            calls=calls,
            currency=account.currency,
            now=now,
        ),
    }


async def _live(request: Request, op: Operator, campaign_id: int) -> dict[str, Any]:
    db = database(request)
    row = await service.get(db, account_id=op.account.id, campaign_id=campaign_id)
    stats = await service.stats(db, account_id=op.account.id, campaign_id=campaign_id)
    account = await accounts.get(db, op.account.id)
    summary = views.summarise(stats.messages)
    timeline = await _timeline(request, campaign_id, tuple(sorted(stats.messages.items())))
    voice = await _voice_part(request, op, row, account) if row.channel == "voice" else None
    offers = actions.offers(
        status=row.status,
        pause_reason=row.pause_reason,
        messages=stats.messages,
        importing=row.import_task_id is not None,
        channel=row.channel,
        window_opens=voice["opens"] if voice else None,
    )
    status_text = row.status + (f" ({row.pause_reason})" if row.pause_reason else "")
    return {
        "campaign": row,
        "stats": stats,
        "summary": summary,
        "offers": offers,
        "balance": account.balance,
        "currency": account.currency,
        "voice": voice,
        "json": {
            "id": row.id,
            "status": row.status,
            "status_text": status_text,
            "status_help": views.status_help(
                row.status, channel=row.channel, pause_reason=row.pause_reason
            ),
            "pause_reason": row.pause_reason,
            "live": row.status in views.LIVE_STATUSES or summary.in_flight > 0,
            "summary": summary.as_dict(),
            "messages": stats.messages,
            "segments": stats.segments,
            "total_segments": stats.total_segments,
            "cost": views.money(stats.cost, account.currency),
            "estimated_cost": views.money(stats.estimated_cost, account.currency),
            "balance": views.money(account.balance, account.currency),
            "importing": row.import_task_id is not None,
            "offers": [
                {
                    "action": o.action,
                    "allowed": o.allowed,
                    "reason": o.reason,
                    "visible": o.visible,
                    "note": o.note,
                }
                for o in offers
            ],
            "timeline": timeline,
            **({"voice": voice["json"]} if voice else {}),
        },
    }


async def _campaign_page(
    request: Request,
    op: Operator,
    campaign_id: int,
    *,
    notice: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    live = await _live(request, op, campaign_id)
    events = await service.audit(
        database(request), account_id=op.account.id, campaign_id=campaign_id
    )
    return render(
        request,
        "campaign.html",
        {
            **live,
            "events": list(events)[-20:][::-1],
            "statuses": [s.value for s in MessageStatus],
            "notice": actions.notice(notice, channel=live["campaign"].channel),
            "error": error,
        },
        status_code=status_code,
        operator=op,
    )


@router.get("/campaigns/{campaign_id}")
async def campaign(
    request: Request, op: Op, campaign_id: CampaignId, notice: str | None = None
) -> Response:
    return await _campaign_page(request, op, campaign_id, notice=notice)


@router.get("/campaigns/{campaign_id}/live.json")
async def campaign_live(request: Request, op: Op, campaign_id: CampaignId) -> Response:
    live = await _live(request, op, campaign_id)
    return JSONResponse(live["json"], headers={"Cache-Control": "no-store"})


@router.post("/campaigns/{campaign_id}/actions/{action}")
async def campaign_action(
    request: Request,
    op: Op,
    campaign_id: CampaignId,
    action: Annotated[str, Path(max_length=20)],
    csrf: Csrf = "",
) -> Response:
    require_csrf(request, csrf)
    db = database(request)
    account_id = op.account.id
    try:
        row = await service.get(db, account_id=account_id, campaign_id=campaign_id)
        voice = row.channel == voice_service.VOICE
        if voice and action == "retry":
            raise Conflict(actions.VOICE_RETRY_REASON)
        if action == "start":
            await service.start(
                db,
                account_id=account_id,
                campaign_id=campaign_id,
                base_url=settings_of(request).public_base_url,
            )
        elif action == "pause" and voice:  # a window pause becomes the operator's
            await voice_service.pause(db, account_id=account_id, campaign_id=campaign_id)
        elif action == "pause":
            await service.pause(db, account_id=account_id, campaign_id=campaign_id)
        elif action == "resume":
            await service.resume(db, account_id=account_id, campaign_id=campaign_id)
        elif action == "renew":
            await service.resume(
                db, account_id=account_id, campaign_id=campaign_id, funds_only=True
            )
        elif action == "stop":
            await service.stop(db, account_id=account_id, campaign_id=campaign_id)
        elif action == "retry":
            await service.retry(db, account_id=account_id, campaign_id=campaign_id)
        elif action == "delete":
            await service.delete(db, account_id=account_id, campaign_id=campaign_id)
            return _see_other("/ui/campaigns?notice=deleted")
        else:
            raise NotFound(f"there is no campaign action {action!r}")
    except (Conflict, InvalidInput) as exc:
        return await _campaign_page(request, op, campaign_id, error=exc.message, status_code=409)
    except InsufficientFunds as exc:
        return await _campaign_page(request, op, campaign_id, error=exc.message, status_code=402)
    return _see_other(f"/ui/campaigns/{campaign_id}?notice={action}")


# --- recipients and imports ---------------------------------------------------------


def _task_json(task: Any) -> dict[str, Any]:
    total = int(task.total or 0)
    done = int(task.done or 0)
    finished = task.status in ("DONE", "FAILED")
    percent = 100 if task.status == "DONE" else (min(done * 100 // total, 99) if total else 0)
    result = task.result or {}
    counts = {k: v for k, v in (task.counts or {}).items() if k != "0"}
    return {
        "id": task.id,
        "status": task.status,
        "finished": finished,
        "done": done,
        "total": total,
        "percent": percent,
        "added": int(result.get("added", (task.counts or {}).get("0", 0))),
        "rejected": int(result.get("rejected", sum(counts.values()))),
        "codes": [
            {"code": int(code), "count": count, "meaning": describe_code(int(code))}
            for code, count in sorted(counts.items(), key=lambda kv: int(kv[0]))
        ],
        "error": task.error,
        "report_url": f"/ui/tasks/{task.id}/rejections.csv",
        "campaign_url": f"/ui/campaigns/{task.campaign_id}",
    }


async def _recipients_page(
    request: Request,
    op: Operator,
    campaign_id: int,
    *,
    task_id: int | None = None,
    notice: str | None = None,
    error: str | None = None,
    added: Sequence[service.RecipientResult] | None = None,
    status_code: int = 200,
) -> Response:
    db = database(request)
    row = await service.get(db, account_id=op.account.id, campaign_id=campaign_id)
    stats = await service.stats(db, account_id=op.account.id, campaign_id=campaign_id)
    task_id = task_id or row.import_task_id
    task = (
        _task_json(await imports.get(db, account_id=op.account.id, task_id=task_id))
        if task_id
        else None
    )
    rejected = [r for r in added or [] if r.message_id is None]
    voice = row.channel == voice_service.VOICE
    return render(
        request,
        "recipients.html",
        {
            "campaign": row,
            "stats": stats,
            "summary": views.summarise(stats.messages),
            "task": task,
            "editable": row.status in (service.VOICE_OPEN if voice else (CampaignStatus.DRAFT,)),
            "voice": voice,
            "minutes": service.unit_segments(row) if voice else 0,
            "importing": row.import_task_id is not None,
            "notice": actions.notice(notice, channel=row.channel),
            "error": error,
            "encodings": ENCODINGS,
            "added_count": len(added or []) - len(rejected),
            "rejected": [(r.phone, int(r.code), describe_code(int(r.code))) for r in rejected],
            "currency": op.account.currency,
        },
        status_code=status_code,
        operator=op,
    )


@router.get("/campaigns/{campaign_id}/recipients")
async def recipients(
    request: Request,
    op: Op,
    campaign_id: CampaignId,
    task: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    notice: str | None = None,
) -> Response:
    return await _recipients_page(request, op, campaign_id, task_id=task, notice=notice)


@router.post("/campaigns/{campaign_id}/recipients/import")
async def import_file(
    request: Request,
    op: Op,
    campaign_id: CampaignId,
    file: Annotated[UploadFile, File()],
    csrf: Csrf = "",
    delimiter: Annotated[str, Form(max_length=5)] = ",",
    encoding_name: Annotated[str, Form(alias="encoding", max_length=20)] = "",
    skip_header: Annotated[bool, Form()] = False,
    replace: Annotated[bool, Form()] = False,
) -> Response:
    require_csrf(request, csrf)
    settings = settings_of(request)
    db = database(request)
    if delimiter == "tab":
        delimiter = "\t"
    try:
        if len(delimiter) != 1:
            raise InvalidInput("the column separator must be one character", field="delimiter")
        if not file.filename:
            raise InvalidInput("choose a CSV, XLS or XLSX file to upload", field="file")
        row = await service.get(db, account_id=op.account.id, campaign_id=campaign_id)
        if row.channel == voice_service.VOICE:
            raise InvalidInput(VOICE_NO_FILES, field="file")
        path = await uploads.save(
            file,
            directory=FilePath(settings.data_dir) / "uploads",
            limit=settings.max_import_bytes,
        )
        try:
            task_id = await imports.start_file_import(
                db,
                account_id=op.account.id,
                campaign_id=campaign_id,
                path=path,
                options=readers.CsvOptions(
                    delimiter=delimiter,
                    enclosure='"',
                    skip_header=skip_header,
                    encoding=encoding_name or None,
                ),
                replace=replace,
                owned_file=True,
            )
        except BaseException:
            path.unlink(missing_ok=True)
            raise
    except (InvalidInput, Conflict) as exc:
        code = 409 if isinstance(exc, Conflict) else 422
        if isinstance(exc, PayloadTooLarge):
            code = 413
        return await _recipients_page(request, op, campaign_id, error=exc.message, status_code=code)
    return _see_other(f"/ui/campaigns/{campaign_id}/recipients?task={task_id}")


@router.post("/campaigns/{campaign_id}/recipients/add")
async def add_numbers(
    request: Request,
    op: Op,
    campaign_id: CampaignId,
    csrf: Csrf = "",
    phones: Annotated[str, Form(max_length=400_000)] = "",
) -> Response:
    require_csrf(request, csrf)
    settings = settings_of(request)
    entries = [service.RecipientInput(line.strip()) for line in phones.splitlines() if line.strip()]
    try:
        results = await service.add_recipients(
            database(request),
            account_id=op.account.id,
            campaign_id=campaign_id,
            entries=entries,
            limit=settings.max_recipients_per_request,
        )
    except (InvalidInput, Conflict) as exc:
        status = 409 if isinstance(exc, Conflict) else 422
        return await _recipients_page(
            request, op, campaign_id, error=exc.message, status_code=status
        )
    return await _recipients_page(request, op, campaign_id, notice="added", added=results)


@router.post("/campaigns/{campaign_id}/recipients/clear")
async def clear_numbers(
    request: Request, op: Op, campaign_id: CampaignId, csrf: Csrf = ""
) -> Response:
    require_csrf(request, csrf)
    try:
        await service.clear_recipients(
            database(request), account_id=op.account.id, campaign_id=campaign_id
        )
    except Conflict as exc:
        return await _recipients_page(request, op, campaign_id, error=exc.message, status_code=409)
    return _see_other(f"/ui/campaigns/{campaign_id}/recipients?notice=cleared")


@router.get("/tasks/{task_id}.json")
async def task_progress(
    request: Request, op: Op, task_id: Annotated[int, Path(ge=1, le=2**63 - 1)]
) -> Response:
    task = await imports.get(database(request), account_id=op.account.id, task_id=task_id)
    return JSONResponse(_task_json(task), headers={"Cache-Control": "no-store"})


@router.get("/tasks/{task_id}/rejections.csv")
async def task_rejections(
    request: Request, op: Op, task_id: Annotated[int, Path(ge=1, le=2**63 - 1)]
) -> Response:
    rows = await imports.rejections(database(request), account_id=op.account.id, task_id=task_id)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["row", "value", "code", "reason"])
    for number, value, code in rows:
        writer.writerow([number, value, code, describe_code(code)])
    return PlainTextResponse(
        buffer.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="task-{task_id}-rejections.csv"'},
    )


# --- messages -----------------------------------------------------------------------


def _phone_filter(raw: str) -> str:
    digits = "".join(c for c in raw if c not in " \t()-.+")
    if digits and not (digits.isascii() and digits.isdigit()):
        raise InvalidInput("search by digits of the phone number, e.g. 7701123", field="phone")
    return digits


@router.get("/messages")
async def messages(
    request: Request,
    op: Op,
    phone: Annotated[str, Query(max_length=40)] = "",
    status: Annotated[str, Query(max_length=20)] = "",
    campaign: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    page: Annotated[str | None, Query()] = None,
) -> Response:
    db = database(request)
    status = status.upper() if status.upper() in MessageStatus.__members__ else ""
    number = views.page_number(page)
    error = None
    try:
        digits = _phone_filter(phone)
    except InvalidInput as exc:
        digits, error = "", exc.message
    campaign_row = (
        await service.get(db, account_id=op.account.id, campaign_id=campaign) if campaign else None
    )
    async with db.read() as conn:
        rows, total = await store.messages_page(
            conn,
            account_id=op.account.id,
            campaign_id=campaign,
            phone=digits or None,
            statuses=[status] if status else [],
            limit=MESSAGE_PAGE_SIZE,
            offset=(number - 1) * MESSAGE_PAGE_SIZE,
        )
    params = tuple(
        (k, v)
        for k, v in (("phone", phone), ("status", status), ("campaign", str(campaign or "")))
        if v
    )
    return render(
        request,
        "messages.html",
        {
            "rows": rows,
            "pager": views.Pager(number, MESSAGE_PAGE_SIZE, total, params),
            "phone": phone,
            "status": status,
            "campaign": campaign_row,
            "statuses": [s.value for s in MessageStatus],
            "error": error,
            "currency": op.account.currency,
        },
        status_code=422 if error else 200,
        operator=op,
    )


# --- account ------------------------------------------------------------------------


async def _account_page(
    request: Request,
    op: Operator,
    *,
    page: str | None = None,
    stop_phone: str = "",
    new_key: str | None = None,
    notice: str | None = None,
    error: str | None = None,
    stop_results: Sequence[stoplists.Entry] = (),
    status_code: int = 200,
) -> Response:
    db = database(request)
    account = await accounts.get(db, op.account.id)
    number = views.page_number(page)
    async with db.read() as conn:
        ledger, ledger_total = await store.ledger_page(
            conn, account_id=op.account.id, limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE
        )
    key_rows = await keys.listing(db, account_id=op.account.id)
    try:
        stop_rows, stop_total = await stoplists.entries(
            db, account_id=op.account.id, phone=stop_phone or None, limit=100
        )
    except InvalidInput as exc:
        stop_rows, stop_total, error = [], 0, exc.message
    return render(
        request,
        "account.html",
        {
            "account": account,
            "ledger": ledger,
            "pager": views.Pager(number, PAGE_SIZE, ledger_total),
            "keys": key_rows,
            "stop_rows": stop_rows,
            "stop_total": stop_total,
            "stop_phone": stop_phone,
            "new_key": new_key,
            "notice": notice,
            "error": error,
            "stop_results": [e for e in stop_results if e.normalized is None],
            "stop_added": sum(1 for e in stop_results if e.added),
        },
        status_code=status_code,
        operator=op,
    )


@router.get("/account")
async def account_page(
    request: Request,
    op: Op,
    page: Annotated[str | None, Query()] = None,
    stop_phone: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    return await _account_page(request, op, page=page, stop_phone=stop_phone)


@router.post("/account/keys")
async def create_key(
    request: Request,
    op: Op,
    csrf: Csrf = "",
    label: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    require_csrf(request, csrf)
    try:
        key = await keys.create(database(request), account_id=op.account.id, label=label)
    except (InvalidInput, Conflict) as exc:
        return await _account_page(request, op, error=exc.message, status_code=422)
    return await _account_page(
        request, op, new_key=key, notice=f"Key {label.strip()!r} created. Copy it now."
    )


@router.post("/account/keys/{key_id}/revoke")
async def revoke_key(
    request: Request,
    op: Op,
    key_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    csrf: Csrf = "",
) -> Response:
    require_csrf(request, csrf)
    try:
        revoked = await keys.revoke(
            database(request), account_id=op.account.id, key_id=key_id, current_key_id=op.key_id
        )
    except Conflict as exc:
        return await _account_page(request, op, error=exc.message, status_code=409)
    notice = f"Key {revoked.label!r} revoked."
    if revoked.count > 1:
        notice = f"{revoked.count} keys labelled {revoked.label!r} revoked."
    return await _account_page(request, op, notice=notice)


@router.post("/account/stop-list")
async def stop_list_add(
    request: Request,
    op: Op,
    csrf: Csrf = "",
    phones: Annotated[str, Form(max_length=400_000)] = "",
    comment: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    require_csrf(request, csrf)
    numbers = stoplists.first_column(phones)
    try:
        results = await stoplists.add(
            database(request), phones=numbers, comment=comment.strip(), account_id=op.account.id
        )
    except InvalidInput as exc:
        return await _account_page(request, op, error=exc.message, status_code=422)
    added = sum(1 for e in results if e.added)
    return await _account_page(
        request, op, notice=f"{added} number(s) added to the stop-list.", stop_results=results
    )


@router.post("/account/stop-list/remove")
async def stop_list_remove(
    request: Request,
    op: Op,
    csrf: Csrf = "",
    phone: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    require_csrf(request, csrf)
    try:
        e164 = await stoplists.remove(database(request), phone=phone, account_id=op.account.id)
    except (InvalidInput, NotFound) as exc:
        status = 404 if isinstance(exc, NotFound) else 422
        return await _account_page(request, op, error=exc.message, status_code=status)
    return await _account_page(request, op, notice=f"{e164} removed from the stop-list.")
