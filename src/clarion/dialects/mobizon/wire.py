"""Mobizon's wire protocol: routing, request parameters, authentication, the envelope.

Requests go to ``/service/{module}/{method}`` (both case-insensitive, as the PHP SDK
sends them lowercase) with ``output=json&api=v1&apiKey=KEY`` in the query. GET and
POST both work; the parameters are the query merged with the body, the body winning
(top-level keys, like PHP's ``array_merge($_GET, $_POST)``). A body may be
``application/x-www-form-urlencoded`` or ``multipart/form-data`` in PHP bracket
notation (:mod:`.form`), or a JSON object.

Every answer is HTTP 200 with ``{"code": int, "data": ..., "message": str}``.

Handlers are registered per ``(module, method)`` with :func:`register`; they return
the ``data`` of a code-0 answer, a :class:`Reply` for another success code (98, 99,
100), or raise :class:`MobizonError`. Service exceptions become codes here:

============================  ====  =============================================
``InvalidInput``              1     ``data`` maps the Mobizon field to a message
``PayloadTooLarge``           12    a parameter over its limit
``NotFound``                  2
``Conflict`` (and             10    the state does not allow it; nothing changed
``TransitionConflict``)
``InsufficientFunds``         15    an operation (not a data update) failed
a database driver error       999   logged; the service is unavailable
any other exception           3     logged with its traceback
============================  ====  =============================================

Checks run in this order: output format (6), module (4), method (5), API key (8).
"""

from __future__ import annotations

import json
import logging
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Row
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException

from clarion.clock import utcnow
from clarion.config import Settings
from clarion.dialects.mobizon import form, values
from clarion.domain.text import NUL_MESSAGE, nul_path
from clarion.services import accounts
from clarion.services.errors import (
    Conflict,
    InsufficientFunds,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    ServiceError,
)
from clarion.store.db import Database

log = logging.getLogger(__name__)

# Result codes (Mobizon's table, docs/dialects/mobizon.md).
OK = 0
VALIDATION = 1
NOT_FOUND = 2
APPLICATION_ERROR = 3
UNKNOWN_MODULE = 4
UNKNOWN_METHOD = 5
BAD_FORMAT = 6
AUTH_FAILED = 8
FORBIDDEN = 9
SAVE_ERROR = 10
MISSING_PARAMETER = 11
PARAMETER_LIMIT = 12
WRONG_SERVER = 13
ACCOUNT_BLOCKED = 14
OPERATION_ERROR = 15
RATE_LIMIT = 30
PARTIAL = 98
NOTHING_DONE = 99
BACKGROUND = 100
GENERAL_ERROR = 999

MAX_BODY = 16 * 1024 * 1024  # urlencoded / JSON bodies; files have their own limit
MAX_FIELDS = 100_000
MAX_FILES = 10

# Modules Clarion knows; an unregistered method of one of them is code 5, not 4.
# ``link`` is served by dialects/mobizon/link.py (Link/* and Campaign/GetLinks).
MODULES = frozenset(
    {"campaign", "message", "taskqueue", "user", "contactgroup", "contactcard", "link"}
)

# Service field names -> Mobizon's, for code-1 ``data``.
FIELD_NAMES = {
    "sender": "from",
    "start_at": "deferredToTs",
    "validity_minutes": "validity",
    "rate_limit": "rateLimit",
    "rate_period": "ratePeriod",
    "placeholders_flag": "placeholdersFlag",
    "encoding": "recipientsFileEncoding",
    "file": "recipientsFile",
    "groups": "groupIds",
}


class MobizonError(Exception):
    """An answer with a non-zero result code."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = [] if data is None else data


@dataclass(frozen=True, slots=True)
class Reply:
    """A successful answer whose code is not 0 (98, 99, 100)."""

    code: int
    data: Any
    message: str = ""


@dataclass(frozen=True, slots=True)
class Context:
    db: Database
    settings: Settings
    account: Row[Any]
    params: form.PhpArray
    now: datetime
    tz: tzinfo
    request: Request | None = field(default=None, compare=False)

    @property
    def account_id(self) -> int:
        return int(self.account.id)


Handler = Callable[[Context], Awaitable[Any]]
HANDLERS: dict[tuple[str, str], Handler] = {}


def register(module: str, method: str) -> Callable[[Handler], Handler]:
    """Serve ``module/method`` (any case) with the decorated handler."""
    key = (module.lower(), method.lower())

    def decorate(handler: Handler) -> Handler:
        if key in HANDLERS:
            raise ValueError(f"Mobizon method {module}/{method} is registered twice")
        HANDLERS[key] = handler
        return handler

    return decorate


def envelope(code: int, data: Any, message: str = "") -> JSONResponse:
    return JSONResponse({"code": code, "data": data, "message": message}, status_code=200)


# --- parameters -----------------------------------------------------------------------


def query_params(query: str) -> form.PhpArray:
    try:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except ValueError as exc:
        raise MobizonError(PARAMETER_LIMIT, "too many query parameters") from exc
    return form.parse(pairs)


async def _read_body(request: Request) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise MobizonError(
                PARAMETER_LIMIT, f"the request body is larger than {MAX_BODY:,} bytes"
            )
        chunks.append(chunk)
    return b"".join(chunks)


async def body_params(request: Request) -> form.PhpArray:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "multipart/form-data":
        try:
            data = await request.form(max_files=MAX_FILES, max_fields=MAX_FIELDS)
        except HTTPException as exc:  # a malformed or oversized multipart body
            raise MobizonError(PARAMETER_LIMIT, str(exc.detail)) from exc
        return form.parse(data.multi_items())
    body = await _read_body(request)
    if not body.strip():
        return form.PhpArray()
    if media == "application/json" or media.endswith("+json"):
        try:
            decoded = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise MobizonError(PARAMETER_LIMIT, "the request body is not valid JSON") from exc
        if not isinstance(decoded, dict):
            raise MobizonError(PARAMETER_LIMIT, "a JSON request body must be an object")
        parsed = form.from_json(decoded)
        assert isinstance(parsed, form.PhpArray)
        return parsed
    if media in ("application/x-www-form-urlencoded", ""):
        return query_params(body.decode("utf-8", errors="replace"))
    return form.PhpArray()  # PHP ignores other bodies for $_POST


def record_id(params: Mapping[str, Any], name: str = "id", *, what: str = "record") -> int:
    """A required id parameter: missing is code 11; one that cannot be an id names no
    record (code 2, as Mobizon answers for an incorrect id)."""
    value = params.get(name)
    if value is None or value == "":
        raise MobizonError(MISSING_PARAMETER, f"parameter {name} is required")
    number = values.integer(value)
    if number is None or number < 1:
        raise MobizonError(NOT_FOUND, f"{what} {value!r} not found")
    return number


# --- errors ---------------------------------------------------------------------------


def service_error(exc: ServiceError) -> MobizonError:
    if isinstance(exc, NotFound):
        return MobizonError(NOT_FOUND, exc.message)
    if isinstance(exc, PayloadTooLarge):
        return MobizonError(PARAMETER_LIMIT, exc.message)
    if isinstance(exc, InvalidInput):
        name = FIELD_NAMES.get(exc.field or "", exc.field)
        return MobizonError(VALIDATION, exc.message, {name: exc.message} if name else {})
    if isinstance(exc, Conflict):
        return MobizonError(SAVE_ERROR, exc.message)
    if isinstance(exc, InsufficientFunds):
        return MobizonError(OPERATION_ERROR, exc.message)
    return MobizonError(APPLICATION_ERROR, exc.message)


# --- the route ------------------------------------------------------------------------

router = APIRouter(tags=["mobizon"], include_in_schema=False)


async def _answer(request: Request, module: str, method: str) -> JSONResponse:
    query = query_params(request.url.query)
    output = query.get("output")
    if output not in (None, "", "json"):
        raise MobizonError(BAD_FORMAT, f"output format {output!r} is not supported; use json")
    module, method = module.lower(), method.lower()
    if module not in MODULES:
        raise MobizonError(UNKNOWN_MODULE, f"unknown module {module!r}")
    handler = HANDLERS.get((module, method))
    if handler is None:
        raise MobizonError(UNKNOWN_METHOD, f"unknown method {module}/{method}")
    params = form.merge(query, await body_params(request))
    key = params.get("apiKey")
    db: Database = request.app.state.db
    account = await accounts.authenticate(db, key) if isinstance(key, str) and key else None
    if account is None:
        raise MobizonError(AUTH_FAILED, "API key is missing or invalid")
    where = nul_path(params)
    if where is not None:
        name = form.bracket_name(where)
        raise MobizonError(VALIDATION, f"{name} {NUL_MESSAGE}", {name: NUL_MESSAGE})
    context = Context(
        db=db,
        settings=request.app.state.settings,
        account=account,
        params=params,
        now=utcnow(),
        tz=values.zone(account.timezone),
        request=request,
    )
    result = await handler(context)
    if isinstance(result, Reply):
        return envelope(result.code, result.data, result.message)
    return envelope(OK, result)


async def serve(request: Request, module: str, method: str) -> JSONResponse:
    """Answer one API call; every outcome is an HTTP 200 envelope."""
    try:
        return await _answer(request, module, method)
    except MobizonError as exc:
        return envelope(exc.code, exc.data, exc.message)
    except values.FieldErrors as exc:
        first = next(iter(exc.errors.values()))
        return envelope(VALIDATION, exc.errors, first)
    except ServiceError as exc:
        error = service_error(exc)
        return envelope(error.code, error.data, error.message)
    except DBAPIError:
        log.exception("database error", extra={"action": "mobizon_db_error"})
        return envelope(GENERAL_ERROR, [], "service temporarily unavailable; retry later")
    except Exception:
        log.exception("Mobizon %s/%s failed", module, method, extra={"action": "mobizon_app_error"})
        return envelope(APPLICATION_ERROR, [], "application error")
    finally:
        await request.close()  # uploaded files of a multipart body


@router.api_route("/service/{module}/{method}", methods=["GET", "POST"])
async def service(request: Request, module: str, method: str) -> JSONResponse:
    return await serve(request, module, method)


@router.api_route("/service/{rest:anypath}", methods=["GET", "POST"])
async def unknown(request: Request, rest: str) -> JSONResponse:
    """Paths that are not ``module/method``: code 4 or 5 in the envelope."""
    parts = [p for p in rest.split("/") if p]
    if len(parts) == 2:  # a trailing or doubled slash
        return await serve(request, parts[0], parts[1])
    module = parts[0].lower() if parts else ""
    if module in MODULES:
        return envelope(UNKNOWN_METHOD, [], f"no such method: /service/{rest}")
    return envelope(UNKNOWN_MODULE, [], f"no such module: /service/{rest}")
