"""wolkvox API v2 on the wire: the ``wolkvox-token`` header, the ``{code, error, msg}``
envelope, and the per-token limits every wolkvox API page lists.

Envelope: every answer is a JSON object ``{"code": int, "error": str | null, "msg":
str}`` (plus ``data`` where the vendor returns rows), and the HTTP status equals
``code`` ("standardized response codes in accordance with the HTTP protocol"). On
success ``error`` is ``null``; on failure it is the HTTP reason phrase in capitals and
``msg`` the explanation, as in wolkvox's table of response codes:

* 400 BAD REQUEST, THE API YOU WANT TO CONSULT DOES NOT EXIST: unknown ``api=``;
* 400 BAD REQUEST, SOME PARAMETERS ARE REQUIRED: a required parameter is missing;
* 401 UNAUTHORIZED, PLEASE ENTER THE WOLKVOX-TOKEN: no ``wolkvox-token`` header;
* 403 FORBIDDEN, TOKEN LIMIT EXCEEDED: the token's daily quota is used up;
* 403 FORBIDDEN, EXCEEDS THE LIMIT OF SIMULTANEOUS REQUESTS PER TOKEN (2): a third
  request while two are in flight;
* 403 FORBIDDEN, PLEASE VALIDATE TOKEN: an unknown or revoked token.

Clarion's own choices, in the same style (the vendor documents no code for them):

| code | error | when |
|---|---|---|
| 400 | BAD REQUEST | a malformed value (``type_campaign``, dates, a record, JSON, NUL) |
| 404 | NOT FOUND | no campaign of that type with that id for this token's account |
| 405 | METHOD NOT ALLOWED | a known ``api=`` with another HTTP method |
| 408 | REQUEST TIMEOUT | the request ran past the 60 s consumption limit |
| 412 | PRECONDITION FAILED | the campaign's state forbids the action (or funds run short) |
| 413 | PAYLOAD TOO LARGE | more than 10,000 records uploaded, or a body over 32 MiB |
| 416 | REQUESTED RANGE NOT SATISFIABLE | dates over 31 days apart, over 60,000 rows, over 256 MB |

Limits (per token, as the vendor's pages list them):

* at most 2 requests in flight per token: a third is refused at once (never queued).
  Counted in this process only: N API processes behind a balancer allow up to 2N;
* a daily quota of ``licences x 1000`` requests per token and UTC day, counted in the
  database (``services.voice.take_quota``, key ``wolkvox:<api key id>``), so it holds
  across processes. Every authenticated request counts, whatever its outcome; requests
  refused before authentication (no token, too many in flight) do not;
* 60 s per request (``asyncio.timeout``): the work is cancelled and 408 answered;
* 10,000 records per upload, 60,000 rows per download, 31 days between dates, 256 MB
  per result.

The token is a Clarion API key. :class:`Limits` (one per app, ``app.state``) holds the
in-flight counts and the limits; tests may install their own with a lower quota, a
shorter timeout or a ``gate`` awaited inside each request.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Row

from clarion.clock import utcnow
from clarion.dialects.timestamps import zone
from clarion.services import accounts, voice
from clarion.services.errors import (
    Conflict,
    InsufficientFunds,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    ServiceError,
)
from clarion.store.db import Database

HEADER = "wolkvox-token"
MAX_BODY = 32 * 1024 * 1024
CONCURRENT = 2
TIMEOUT = 60.0
LICENCE_REQUESTS = 1000
MAX_UPLOAD = 10_000
MAX_DOWNLOAD = 60_000
MAX_DAYS = 31
MAX_RESULT_BYTES = 256 * 1024 * 1024
DATE = re.compile(r"^\d{14}$")
DATE_FORMAT = "%Y%m%d%H%M%S"

REASONS = {
    200: None,
    201: None,
    202: None,
    400: "BAD REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT FOUND",
    405: "METHOD NOT ALLOWED",
    408: "REQUEST TIMEOUT",
    412: "PRECONDITION FAILED",
    413: "PAYLOAD TOO LARGE",
    416: "REQUESTED RANGE NOT SATISFIABLE",
}

NO_API = "THE API YOU WANT TO CONSULT DOES NOT EXIST"
REQUIRED = "SOME PARAMETERS ARE REQUIRED"
ENTER_KEY = "PLEASE ENTER THE WOLKVOX-TOKEN"
DAILY_LIMIT = "TOKEN LIMIT EXCEEDED"
SIMULTANEOUS = f"EXCEEDS THE LIMIT OF SIMULTANEOUS REQUESTS PER TOKEN ({CONCURRENT})"
VALIDATE_KEY = "PLEASE VALIDATE TOKEN"


class WolkvoxError(Exception):
    """An error answer: ``code`` (= HTTP status) and ``msg``; ``error`` is its reason."""

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg

    def response(self) -> Response:
        return render(self.code, self.msg)


def render(code: int, msg: str, data: Any = None) -> Response:
    """The envelope as a response whose status is ``code``; ``data`` when not None."""
    body: dict[str, Any] = {"code": code, "error": REASONS.get(code), "msg": msg}
    if data is not None:
        body["data"] = data
    return Response(encode(body), status_code=code, media_type="application/json")


def encode(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def bad(msg: str) -> WolkvoxError:
    return WolkvoxError(400, msg)


def from_service(exc: ServiceError) -> WolkvoxError:
    if isinstance(exc, NotFound):
        return WolkvoxError(404, exc.message.upper())
    if isinstance(exc, PayloadTooLarge):
        return WolkvoxError(413, exc.message.upper())
    if isinstance(exc, InvalidInput):
        return bad(exc.message.upper())
    if isinstance(exc, Conflict | InsufficientFunds):
        return WolkvoxError(412, exc.message.upper())
    return bad(exc.message.upper())


# --- limits ---------------------------------------------------------------------------


Gate = Callable[[], Awaitable[None]]


@dataclass
class Limits:
    """The per-token limits of one app. ``daily`` replaces ``licences x 1000`` when set;
    ``gate`` (tests) is awaited inside every request, after the quota is counted."""

    concurrent: int = CONCURRENT
    timeout: float = TIMEOUT
    daily: int | None = None
    upload: int = MAX_UPLOAD
    download: int = MAX_DOWNLOAD
    result_bytes: int = MAX_RESULT_BYTES
    gate: Gate | None = None
    _in_flight: dict[str, int] = field(default_factory=dict)

    @contextlib.contextmanager
    def slot(self, token: str) -> Iterator[None]:
        """Hold one of the token's in-flight slots, or refuse at once (403)."""
        key = hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
        held = self._in_flight.get(key, 0)
        if held >= self.concurrent:
            raise WolkvoxError(403, SIMULTANEOUS)
        self._in_flight[key] = held + 1
        try:
            yield
        finally:
            left = self._in_flight[key] - 1
            if left:
                self._in_flight[key] = left
            else:
                del self._in_flight[key]

    def in_flight(self, token: str) -> int:
        key = hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
        return self._in_flight.get(key, 0)

    def daily_limit(self, account: Row[Any]) -> int:
        if self.daily is not None:
            return self.daily
        return max(0, int(account.licences)) * LICENCE_REQUESTS

    async def count(self, db: Database, caller: Caller, *, now: datetime | None = None) -> None:
        """Count one request against the token's quota of the UTC day (403 when used up)."""
        day = (now or utcnow()).astimezone(UTC).strftime("%Y-%m-%d")
        limit = self.daily_limit(caller.account)
        if not await voice.take_quota(db, key=quota_key(caller.key_id), day=day, limit=limit):
            raise WolkvoxError(403, DAILY_LIMIT)


def quota_key(key_id: int) -> str:
    return f"wolkvox:{key_id}"


def limits(request: Request) -> Limits:
    """The app's :class:`Limits` (made on first use)."""
    state = request.app.state
    found: Limits | None = getattr(state, "wolkvox_limits", None)
    if found is None:
        found = state.wolkvox_limits = Limits()
    return found


# --- auth -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Caller:
    account: Row[Any]
    key_id: int

    @property
    def tz(self) -> tzinfo:
        return zone(self.account.timezone)


def token(request: Request) -> str:
    value = request.headers.get(HEADER, "").strip()
    if not value:
        raise WolkvoxError(401, ENTER_KEY)
    return value


async def authenticate(db: Database, value: str) -> Caller:
    found = await accounts.authenticate_key(db, value)
    if found is None:
        raise WolkvoxError(403, VALIDATE_KEY)
    account, key_id, _hash = found
    return Caller(account, key_id)


# --- request values -------------------------------------------------------------------


def parse_date(text: str | None, name: str, tz: tzinfo) -> datetime:
    """``YYYYmmddHHiiss`` read in the account's zone, as aware UTC."""
    if text is None or not text.strip():
        raise bad(REQUIRED)
    if not DATE.match(text.strip()):
        raise bad(f"{name.upper()} MUST HAVE THE FORMAT YYYYMMDDHHIISS")
    try:
        local = datetime.strptime(text.strip(), DATE_FORMAT)
    except ValueError:
        raise bad(f"{name.upper()} IS NOT A VALID DATE") from None
    return local.replace(tzinfo=tz).astimezone(UTC)


def date_range(
    ini: str | None, end: str | None, tz: tzinfo, *, max_days: int = MAX_DAYS
) -> tuple[datetime, datetime]:
    """``[date_ini, date_end]`` (both inclusive, to the second) as ``[since, until)``."""
    since = parse_date(ini, "date_ini", tz)
    last = parse_date(end, "date_end", tz)
    if last < since:
        raise bad("DATE_END MUST NOT BE BEFORE DATE_INI")
    if last - since > timedelta(days=max_days):
        raise WolkvoxError(416, f"THE LIMIT OF DAYS QUERIED IN DATES IS {max_days} DAYS")
    return since, last + timedelta(seconds=1)


def local_time(moment: datetime | None, tz: tzinfo) -> str:
    """A stored moment as wolkvox prints dates (``YYYY-mm-dd HH:MM:SS``), "" for none."""
    if moment is None:
        return ""
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


async def json_body(request: Request) -> Any:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise WolkvoxError(413, f"THE REQUEST BODY IS LARGER THAN {MAX_BODY:,} BYTES")
    if not raw.strip():
        raise bad(REQUIRED)
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested too deep to read
        raise bad("THE REQUEST BODY MUST BE VALID JSON") from None


def too_large(limit: int) -> JSONResponse:
    """The answer to a body over ``limit`` bytes, for the app's body-limit middleware
    (``api/limits.py`` rules take a ``Callable[[int], JSONResponse]``)."""
    return JSONResponse(
        {
            "code": 413,
            "error": REASONS[413],
            "msg": f"THE REQUEST BODY IS LARGER THAN {limit:,} BYTES",
        },
        status_code=413,
    )
