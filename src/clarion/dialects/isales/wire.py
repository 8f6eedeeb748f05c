"""Huawei CC-iSales open API on the wire: result codes, the envelope, AK/SK signatures,
path and body readers.

Envelope
--------
Every answer is JSON with ``resultCode``, ``resultDesc``, ``returnCode`` and
``returnDesc`` (the same code twice, as the vendor sends it), plus the interface's own
fields (``returnObject``, or the list fields). Success is ``0200000`` with empty
descriptions, exactly as the seed's example. Failures keep HTTP 200 and carry the
vendor's code, except an authentication failure (HTTP 401, the documented status) and
a path that is no interface (HTTP 404); both still carry the envelope, with code
``0200001`` and the reason in ``resultDesc``.

Parameter codes (the vendor's generic table, used field by field):

==========  ===================================================================
02000001    a mandatory parameter is absent, ``null`` or ``""``
02000002    a string holds a character the field does not allow (NUL and other
            control characters anywhere; digits, ``*`` and ``#`` only in numbers;
            ``"[]=;<>`` in a description)
02000003    a string is longer than its maximum (also a body over 1 MiB)
02000004    a string is shorter than its minimum (a timestamp under 19 characters)
02000005    a string's length is outside its range (a called number: 3 to 24)
02000006    a value of the wrong JSON type (an object where a number belongs, a
            body that is not a JSON object)
02000007    a value out of its range or not among its allowed values
02000008    a value that cannot be converted: a body that is not JSON (or not
            UTF-8), a non-numeric ``vdnId`` / ``campaignId`` in the path or number
            in a query, a timestamp or time of day that does not parse
02000009    parameters that do not go together (a window's start without its end,
            an end time before the start, ``ivrParam`` missing for an IVR campaign)
02000010    a time of day with an hour but no minute (``"08"``, ``"8:"``)
02000011    more values than allowed (over 20 call data records in one request, a
            query parameter given twice)
==========  ===================================================================

Numbers are Jackson-lenient as the vendor's Java server is: an integer field takes
``5`` or ``"5"``; a string field takes a JSON integer (``"callerNo": 10085``).

Authentication ("C2 Monitoring, System Outbound Call, CDR, and Knowledge Base
Interface Authentication")
------------------------------------------------------------------------------------
The vendor signs each request with an AK/SK pair::

    Authorization: auth-v2/{AK}/{timestamp}/{signedHeaders}/{signature}

    authStringPrefix = "auth-v2/" + AK + "/" + timestamp + "/" + signedHeaders
    signingKey       = HexHMAC-SHA256(SK, authStringPrefix)
    signature        = HexHMAC-SHA256(signingKey, CanonicalRequest)
    CanonicalRequest = METHOD "\\n" URI "\\n" CanonicalQuery "\\n" signedHeaders "\\n"
                       CanonicalHeaders "\\n" Normalize(body)

``timestamp`` is UTC ``yyyy-MM-dd'T'HH:mm:ss.SSS'Z'``; ``signedHeaders`` the signed
header names, lower case, sorted, joined with ``;`` (``host`` is required,
``authorization`` never signed); ``CanonicalHeaders`` one ``name:Normalize(value)``
line per signed header in that order, joined with ``\\n``; ``CanonicalQuery`` the
``Normalize(name)=Normalize(value)`` pairs sorted and joined with ``&``;
``Normalize`` percent-encodes the UTF-8 bytes of everything but ``A-Z a-z 0-9 - . _
~``. ``HexHMAC`` is the lower-case hex digest (the vendor demo's
``SignerUtils.sha256Hex``); a signature computed with raw-byte keys and encoded in
base64, as some community ports do, is accepted too.

Business codes of the interfaces (each interface's own table on the vendor's pages):
``0200002`` begin before today, ``0200003`` / ``0200004`` campaign limits, ``0200005``
name taken, ``0200006`` database error, ``0200007`` no such campaign, ``0200011`` not
in this status, ``0200016`` the campaign has ended, ``0200022`` call data requested
too fast (the vendor's "接口调用太快": at least one second between two call-data
requests for the same campaign).

Choices where the vendor's pages are silent: the timestamp may differ from the
server's clock by at most 15 minutes; ``URI`` is the request path exactly as sent
(not percent-decoded, as a servlet's ``getRequestURI``); a signed header missing
from the request, a repeated name or an unknown version is a failure. Signed
requests are not remembered, so a captured request can be replayed within the 15
minutes (use HTTPS, as the vendor requires).
The vendor's pages do not offer a bearer token for these interfaces, so Clarion does
not accept ``Authorization: Bearer <API key>`` here.

Clarion keeps API keys only hashed, so the SK cannot be the key itself. Both halves are
derived from the key with the server secret (clarion/server_secret.py), like the BSG
bearer-token keys: ``AK = "<key id>-" + first 24 hex of HMAC(secret, "isales-ak|<key
id>|<key hash>")`` and ``SK = HexHMAC(secret, "isales-sk|<key hash>")``. The AK names
the key, so the server finds the account from it; revoking the key revokes the pair; a
copy of the database alone cannot compute either. :func:`credentials` gives the pair.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy import Row

from clarion.clock import utcnow
from clarion.config import Settings
from clarion.domain.text import nul_path
from clarion.server_secret import load_secret
from clarion.services import accounts
from clarion.services.errors import NotFound
from clarion.store.db import Database

# --- result codes ----------------------------------------------------------------------

SUCCESS = "0200000"
PARAMETER = "0200001"  # parameter error, details in resultDesc
BEGIN_BEFORE_TODAY = "0200002"  # strBeginTime earlier than 00:00 today (UTC)
SKILL_LIMIT = "0200003"  # skill-queue campaign limit reached
IVR_LIMIT = "0200004"  # IVR campaign limit reached
NAME_TAKEN = "0200005"  # campaign name already used
DATABASE = "0200006"  # database operation error
NOT_FOUND = "0200007"  # the outbound campaign does not exist
BAD_STATUS = "0200011"  # not allowed in the campaign's current status
ENDED = "0200016"  # the outbound campaign has ended
TOO_FAST = "0200022"  # call data for the campaign again within a second
EMPTY = "02000001"
CHARACTERS = "02000002"
TOO_LONG = "02000003"
TOO_SHORT = "02000004"
LENGTH_RANGE = "02000005"
TYPE = "02000006"
VALUE = "02000007"
CONVERSION = "02000008"
COMBINATION = "02000009"
HOUR_MINUTE = "02000010"
TOO_MANY = "02000011"

DESCRIPTIONS: dict[str, str] = {
    PARAMETER: "Parameter error.",
    BEGIN_BEFORE_TODAY: "The start time of the outbound campaign is earlier than today.",
    SKILL_LIMIT: "The number of outbound campaigns of the skill queue type reached the limit.",
    IVR_LIMIT: "The number of outbound campaigns of the IVR type reached the limit.",
    NAME_TAKEN: "The outbound campaign name already exists.",
    DATABASE: "Database operation error.",
    NOT_FOUND: "The outbound campaign does not exist.",
    BAD_STATUS: "The operation is not allowed in the current status of the campaign.",
    ENDED: "The outbound campaign has ended.",
    TOO_FAST: "The interface is invoked too frequently.",
    EMPTY: "Empty parameter.",
    CHARACTERS: "The parameter contains invalid characters.",
    TOO_LONG: "The parameter length cannot exceed the maximum length.",
    TOO_SHORT: "The parameter length cannot be less than the minimum length.",
    LENGTH_RANGE: "The parameter length must be within the specified range.",
    TYPE: "Incorrect parameter type.",
    VALUE: "Incorrect parameter value.",
    CONVERSION: "Parameter conversion error. Check the request parameters.",
    COMBINATION: "Incorrect parameter combination. Check the request parameters.",
    HOUR_MINUTE: "The hour and minute parameters must be set at the same time.",
    TOO_MANY: "The number of parameters cannot exceed the specified number.",
}

MAX_BODY = 1024 * 1024
AUTH_VERSION = "auth-v2"
CLOCK_SKEW = timedelta(minutes=15)
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
TIME_LENGTH = 19
_NUMBER = re.compile(r"^[0-9*#]+$")
_DIGITS = re.compile(r"^[+-]?[0-9]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_BUT_SPACE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
INT32_MAX = 2**31 - 1


class IsalesError(Exception):
    """An answer other than success: the vendor's code, a description, the HTTP status."""

    def __init__(
        self,
        code: str,
        detail: str = "",
        *,
        status: int = 200,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        text = DESCRIPTIONS.get(code, "")
        self.description = f"{text} {detail}".strip() if detail else text
        super().__init__(self.description)
        self.code = code
        self.status = status
        self.extra = dict(extra or {})

    def response(self) -> JSONResponse:
        return envelope(self.code, self.description, status=self.status, **self.extra)


def envelope(
    code: str = SUCCESS, desc: str = "", *, status: int = 200, **fields: Any
) -> JSONResponse:
    body: dict[str, Any] = {
        "resultCode": code,
        "resultDesc": desc,
        "returnCode": code,
        "returnDesc": desc,
        **fields,
    }
    return JSONResponse(body, status_code=status)


def field_error(code: str, name: str, what: str) -> IsalesError:
    return IsalesError(code, f"{name}: {what}")


# --- credentials and signatures ----------------------------------------------------------


def _hex(key: str | bytes, message: str) -> str:
    raw = key.encode() if isinstance(key, str) else key
    return hmac.new(raw, message.encode(), hashlib.sha256).hexdigest()


def derive(secret: bytes, key_id: int, key_hash: str) -> tuple[str, str]:
    """The (AK, SK) pair of API key ``key_id`` whose stored hash is ``key_hash``."""
    tag = _hex(secret, f"isales-ak|{key_id}|{key_hash}")[:24]
    return f"{key_id}-{tag}", _hex(secret, f"isales-sk|{key_hash}")


async def credentials(db: Database, settings: Settings, api_key: str) -> tuple[str, str]:
    """The iSales (AK, SK) of a live API key; NotFound for an unknown or revoked key."""
    found = await accounts.authenticate_key(db, api_key.strip())
    if found is None:
        raise NotFound("unknown or revoked API key")
    _, key_id, key_hash = found
    return derive(load_secret(settings.web_secret, settings.data_dir), key_id, key_hash)


def normalize(value: str | bytes) -> str:
    """Percent-encode all but the unreserved characters (RFC 3986), from UTF-8."""
    return urllib.parse.quote(value, safe="-._~")


def canonical_request(
    method: str,
    path: str,
    query: list[tuple[str, str]],
    signed: list[str],
    headers: Mapping[str, str],
    body: bytes,
) -> str:
    pairs = sorted((normalize(k), normalize(v)) for k, v in query)
    lines = "\n".join(f"{normalize(name)}:{normalize(headers[name].strip())}" for name in signed)
    return "\n".join(
        [
            method.upper(),
            path,
            "&".join(f"{k}={v}" for k, v in pairs),
            ";".join(signed),
            lines,
            normalize(body) if body else "",
        ]
    )


def sign(sk: str, prefix: str, canonical: str) -> str:
    """The vendor demo's signature: hex HMACs, the first one's hex text as the key."""
    return _hex(_hex(sk, prefix), canonical)


def _sign_base64(sk: str, prefix: str, canonical: str) -> str:
    key = hmac.new(sk.encode(), prefix.encode(), hashlib.sha256).digest()
    digest = hmac.new(key, canonical.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _timestamp(text: str) -> datetime | None:
    for fmt in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


@dataclass(frozen=True, slots=True)
class Caller:
    account: Row[Any]

    @property
    def account_id(self) -> int:
        return int(self.account.id)

    @property
    def vdn(self) -> int | None:
        """The account's VDN: ``vdn_id``, else its id when that is in 1..9999."""
        if self.account.vdn_id is not None:
            return int(self.account.vdn_id)
        return self.account_id if 1 <= self.account_id <= 9999 else None


def server_secret(request: Request) -> bytes:
    state = request.app.state
    found: bytes | None = getattr(state, "isales_secret", None)
    if found is None:
        settings: Settings = state.settings
        found = state.isales_secret = load_secret(settings.web_secret, settings.data_dir)
    return found


def _raw_path(request: Request) -> str:
    """The path exactly as the client sent it (as a Java servlet's getRequestURI)."""
    raw = request.scope.get("raw_path")
    if isinstance(raw, bytes) and raw:
        return raw.decode("latin-1")
    return request.url.path


def _unauthorized(why: str) -> IsalesError:
    return IsalesError(PARAMETER, f"Authentication failed: {why}.", status=401)


async def authenticate(request: Request, db: Database, body: bytes) -> Caller:
    header = request.headers.get("authorization", "").strip()
    if not header:
        raise _unauthorized("the Authorization header is missing")
    parts = header.split("/", 4)  # a base64 signature may hold "/"
    if len(parts) != 5 or parts[0] != AUTH_VERSION:
        raise _unauthorized("the header is not auth-v2/AK/timestamp/signedHeaders/signature")
    _, ak, stamp, signed_text, signature = parts
    moment = _timestamp(stamp)
    if moment is None:
        raise _unauthorized("the timestamp is not yyyy-MM-ddTHH:mm:ss.SSSZ")
    if abs(utcnow() - moment) > CLOCK_SKEW:
        raise _unauthorized("the timestamp is more than 15 minutes from the server's time")
    signed = signed_text.split(";")
    if (
        "host" not in signed
        or "authorization" in signed
        or len(set(signed)) != len(signed)
        or any(not name or name != name.lower() for name in signed)
    ):
        raise _unauthorized("the signed headers must include host, in lower case, once each")
    headers: dict[str, str] = {}
    for name in signed:
        value = request.headers.get(name)
        if value is None:
            raise _unauthorized(f"the signed header {name} is not in the request")
        headers[name] = value
    key_id_text, _, _ = ak.partition("-")
    if not key_id_text.isdigit() or len(key_id_text) > 18:
        raise _unauthorized("unknown AK")
    found = await accounts.key_by_id(db, int(key_id_text))
    if found is None:
        raise _unauthorized("unknown AK")
    account, key_hash = found
    expected_ak, sk = derive(server_secret(request), int(key_id_text), key_hash)
    if not hmac.compare_digest(ak.encode(), expected_ak.encode()):
        raise _unauthorized("unknown AK")
    prefix = f"{AUTH_VERSION}/{ak}/{stamp}/{signed_text}"
    canonical = canonical_request(
        request.method,
        _raw_path(request),
        list(request.query_params.multi_items()),
        signed,
        headers,
        body,
    )
    given = signature.encode()
    if not (
        hmac.compare_digest(given, sign(sk, prefix, canonical).encode())
        or hmac.compare_digest(given, _sign_base64(sk, prefix, canonical).encode())
    ):
        raise _unauthorized("the signature does not match")
    return Caller(account)


# --- requests -----------------------------------------------------------------------------


async def raw_body(request: Request) -> bytes:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise field_error(TOO_LONG, "body", f"the request body is larger than {MAX_BODY} bytes")
    return raw


def json_object(raw: bytes, *, required: bool = True) -> dict[str, Any]:
    """The body as a JSON object; ``{}`` for an absent optional body."""
    if not raw.strip():
        if required:
            raise field_error(EMPTY, "body", "the request body is empty")
        return {}
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise field_error(CONVERSION, "body", "the request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise field_error(TYPE, "body", "the request body must be a JSON object")
    return value


def path_integer(text: str, name: str, *, low: int = 1, high: int | None = None) -> int:
    if not _DIGITS.match(text):
        raise field_error(CONVERSION, name, f"{text!r} is not an integer")
    value = int(text)
    if value < low or (high is not None and value > high):
        bound = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise field_error(VALUE, name, f"must be {bound}")
    return value


def parse_time(value: str, name: str) -> datetime:
    """A ``yyyy-MM-dd HH:mm:ss`` time, read as UTC."""
    if len(value) < TIME_LENGTH:
        raise field_error(TOO_SHORT, name, "must be yyyy-MM-dd HH:mm:ss (19 characters)")
    if len(value) > TIME_LENGTH:
        raise field_error(TOO_LONG, name, "must be yyyy-MM-dd HH:mm:ss (19 characters)")
    try:
        return datetime.strptime(value, TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise field_error(CONVERSION, name, "must be a date and time yyyy-MM-dd HH:mm:ss") from None


class Fields:
    """Typed reads of one JSON object, each failure with the vendor's parameter code."""

    def __init__(self, data: Mapping[str, Any], prefix: str = "") -> None:
        self.data = data
        self.prefix = prefix

    def name(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def present(self, key: str) -> bool:
        value = self.data.get(key)
        return value is not None and value != ""

    def string(
        self,
        key: str,
        *,
        required: bool = False,
        max_length: int | None = None,
        number: bool = False,
        forbidden: str = "",
        multiline: bool = False,
    ) -> str | None:
        name = self.name(key)
        value = self.data.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if value is None or value == "":
            if required:
                raise field_error(EMPTY, name, "must not be empty")
            return None
        if not isinstance(value, str):
            raise field_error(TYPE, name, "must be a string")
        control = _CONTROL_BUT_SPACE if multiline else _CONTROL
        if control.search(value):
            raise field_error(CHARACTERS, name, "must not contain control characters")
        if number and not _NUMBER.match(value):
            raise field_error(CHARACTERS, name, "may contain only digits, * and #")
        if forbidden and any(ch in forbidden for ch in value):
            raise field_error(CHARACTERS, name, f"must not contain any of {forbidden}")
        if max_length is not None and len(value) > max_length:
            raise field_error(TOO_LONG, name, f"must be at most {max_length} characters")
        return value

    def integer(
        self,
        key: str,
        *,
        required: bool = False,
        low: int | None = None,
        high: int | None = None,
        allowed: tuple[int, ...] = (),
    ) -> int | None:
        name = self.name(key)
        value = self.data.get(key)
        if value is None or value == "":
            if required:
                raise field_error(EMPTY, name, "must not be empty")
            return None
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise field_error(TYPE, name, "must be an integer")
        if isinstance(value, str):
            if _CONTROL.search(value):
                raise field_error(CHARACTERS, name, "must not contain control characters")
            if not _DIGITS.match(value.strip()):
                raise field_error(CONVERSION, name, f"{value!r} is not an integer")
            value = int(value.strip())
        if allowed and value not in allowed:
            raise field_error(VALUE, name, f"must be one of {', '.join(map(str, allowed))}")
        if (low is not None and value < low) or (high is not None and value > high):
            raise field_error(VALUE, name, f"must be from {low} to {high}")
        return int(value)

    def obj(self, key: str, *, required: bool = False) -> Fields | None:
        value = self.data.get(key)
        if value is None:
            if required:
                raise field_error(EMPTY, self.name(key), "must not be empty")
            return None
        if not isinstance(value, dict):
            raise field_error(TYPE, self.name(key), "must be an object")
        return Fields(value, f"{self.name(key)}.")

    def array(self, key: str, *, required: bool = False) -> list[Any] | None:
        value = self.data.get(key)
        if value is None or value == []:
            if required:
                raise field_error(EMPTY, self.name(key), "must not be empty")
            return None
        if not isinstance(value, list):
            raise field_error(TYPE, self.name(key), "must be a list")
        return value


def no_nul(value: Any) -> None:
    """A NUL character anywhere in a body (keys included) is an invalid character."""
    where = nul_path(value)
    if where is not None:
        raise field_error(CHARACTERS, where or "body", "must not contain NUL characters")


def now(request: Request) -> datetime:
    """The time the campaign rules go by (begin and end times, call-data spacing): the
    app's ``state.isales_clock`` when one is installed (tests), else the wall clock.
    Signature timestamps are always checked against the wall clock."""
    clock: Callable[[], datetime] | None = getattr(request.app.state, "isales_clock", None)
    return clock() if clock is not None else utcnow()


def context(request: Request) -> tuple[Database, Settings]:
    db: Database = request.app.state.db
    settings: Settings = request.app.state.settings
    return db, settings
