"""autocall v3 on the wire: Bearer auth, JSON bodies, the ``{"error": ...}`` envelope.

Every answer that is not a success is ``{"error": "<text>"}`` (the campaign
endpoints; the seed's ``{"error": "campaign_name is already taken"}``) or, on the
lead endpoints, the vendor's list form ``{"error": [{"<field>": "<text>"}]}``. HTTP
statuses (the vendor documents bodies, not statuses; these are Clarion's choices):

=====  ==================================================================================
400    the body or a parameter is invalid (``"<field>: <reason>"``), including
       ``campaign_name is already taken``: one status for "the request as sent cannot
       be applied", so a client branching on 400 sees every such error
401    no ``Authorization: Bearer <key>``, or not a live Clarion API key
402    the balance does not cover what the request needs (resuming a campaign paused
       for lack of funds)
404    no such campaign in the caller's account (another account's is the same), an
       unknown path
405    a known path with another method
409    the campaign's state does not allow it (pause a campaign that is not calling,
       delete one that is, add leads to a stopped one)
413    a body over :data:`MAX_BODY` bytes
=====  ==================================================================================

Bodies are read here, with a size limit, and parsed with ``json.loads``: a client of
the vendor never sees FastAPI's 422 or a 5xx for bad input.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy import Row

from clarion.config import Settings
from clarion.dialects.timestamps import zone
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

MAX_BODY = 4 * 1024 * 1024
PREFIX = "autocall:"
NOT_FOUND = "campaign not found"
UNAUTHORIZED = "unauthorized: send Authorization: Bearer <API key>"
_INTEGER = re.compile(r"-?[0-9]{1,18}")

# Clarion's field names -> autocall's, for errors raised below the dialect.
FIELD_NAMES = {
    "name": "campaign_name",
    "carrier": "carrier_uuid",
    "template": "template_uuid",
    "hours": "schedules",
    "caller_id": "carrier_uuid",
}


class AutocallError(Exception):
    """An answer in autocall's error envelope."""

    def __init__(self, status: int, error: str | list[dict[str, str]]) -> None:
        super().__init__(str(error))
        self.status = status
        self.error = error

    def response(self) -> JSONResponse:
        return JSONResponse({"error": self.error}, status_code=self.status)


def invalid(field: str, reason: str) -> AutocallError:
    """400 ``{"error": "<field>: <reason>"}``."""
    return AutocallError(400, f"{field}: {reason}")


def field_message(field: str | None, message: str) -> str:
    """``"<autocall field>: <reason>"`` for a service or domain error message that may
    already start with Clarion's own field name."""
    if not field:
        return message
    name = FIELD_NAMES.get(field, field)
    for prefix in (f"{field}: ", f"{name}: "):
        if message.startswith(prefix):
            return f"{name}: {message[len(prefix) :]}"
    if field == "name" and message.startswith("campaign name "):
        return f"{name}: {message[len('campaign name ') :]}"
    return f"{name}: {message}"


def from_service(exc: ServiceError) -> AutocallError:
    if isinstance(exc, NotFound):
        return AutocallError(404, NOT_FOUND)
    if isinstance(exc, PayloadTooLarge):
        return AutocallError(413, exc.message)
    if isinstance(exc, InvalidInput):
        return AutocallError(400, field_message(exc.field, exc.message))
    if isinstance(exc, InsufficientFunds):
        return AutocallError(402, exc.message)
    if isinstance(exc, Conflict):
        return AutocallError(409, exc.message)
    return AutocallError(400, exc.message)


# --- requests ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Caller:
    account: Row[Any]

    @property
    def id(self) -> int:
        return int(self.account.id)

    @property
    def tz(self) -> tzinfo:
        return zone(self.account.timezone)


async def authenticate(request: Request, db: Database) -> Caller:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AutocallError(401, UNAUTHORIZED)
    account = await accounts.authenticate(db, token.strip())
    if account is None:
        raise AutocallError(401, UNAUTHORIZED)
    return Caller(account)


async def raw_body(request: Request) -> bytes:
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_BODY:
        raise AutocallError(413, f"request body is larger than {MAX_BODY} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise AutocallError(413, f"request body is larger than {MAX_BODY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_object(raw: bytes) -> dict[str, Any]:
    """A JSON object, or ``ValueError`` with the reason."""
    if not raw.strip():
        raise ValueError("request body is empty; send a JSON object")
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise ValueError("request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise ValueError("request body must be a JSON object")
    return value


async def json_object(request: Request) -> dict[str, Any]:
    """The request's JSON object; text holding NUL is refused with its path."""
    try:
        body = parse_object(await raw_body(request))
    except ValueError as exc:
        raise AutocallError(400, str(exc)) from None
    where = nul_path(body)
    if where is not None:
        raise invalid(where or "body", NUL_MESSAGE)
    return body


def campaign_uuid(value: object, field: str = "campaign_uuid") -> str:
    """The canonical (lower-case, hyphenated) form of a campaign UUID."""
    if not isinstance(value, str):
        raise invalid(field, f"must be a UUID string, got {value!r}")
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        raise invalid(field, f"{value!r} is not a valid UUID") from None


def external_id(uuid_text: str) -> str:
    return PREFIX + uuid_text


def uuid_of(row: Row[Any]) -> str:
    return str(row.external_id or "").removeprefix(PREFIX)


def query_int(
    params: Mapping[str, str], name: str, *, default: int, low: int, high: int | None = None
) -> int:
    text = params.get(name)
    if text is None or text == "":
        return default
    if _INTEGER.fullmatch(text.strip()) is None:
        raise invalid(name, f"must be a whole number, got {text[:40]!r}")
    value = int(text.strip())
    if value < low:
        raise invalid(name, f"must be at least {low}, got {value}")
    if high is not None and value > high:
        raise invalid(name, f"must be at most {high}, got {value}")
    return value


def context(request: Request) -> tuple[Database, Settings]:
    db: Database = request.app.state.db
    settings: Settings = request.app.state.settings
    return db, settings


Work = Callable[[Caller, Database, Settings], Awaitable[JSONResponse]]


async def guarded(request: Request, work: Work) -> JSONResponse:
    """Authenticate, run ``work``, and render every failure in autocall's envelope."""
    db, settings = context(request)
    try:
        caller = await authenticate(request, db)
        return await work(caller, db, settings)
    except AutocallError as exc:
        return exc.response()
    except ServiceError as exc:
        return from_service(exc).response()


# --- ids -----------------------------------------------------------------------------------

LEAD_NAMESPACE = uuid.UUID("6a0c7f0e-2d1b-4f8e-9c3a-1e5b7d9f0a21")
CALL_NAMESPACE = uuid.UUID("b3e1a6d2-8c4f-4e0a-a7b9-5d2c1f3e6a48")


def lead_uuid(campaign_key: str, message_id: int) -> str:
    """A lead's UUID: a stable name for the campaign's recipient row."""
    return str(uuid.uuid5(LEAD_NAMESPACE, f"{campaign_key}/{message_id}"))


def call_uuid(campaign_key: str, message_id: int, attempt: int) -> str:
    """A CDR's UUID: a stable name for one attempt of one lead (known before the call
    is placed, so the OTP answer can give the first call's id)."""
    return str(uuid.uuid5(CALL_NAMESPACE, f"{campaign_key}/{message_id}/{attempt}"))
