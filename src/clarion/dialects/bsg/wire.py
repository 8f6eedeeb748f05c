"""BSG One-API (v2) on the wire: authentication, JSON bodies, errors, timestamps.

Authentication, both ways a BSG client does it:

* ``X-API-KEY: <key>`` on every request (BSG's v1 convention, kept by many clients);
* ``POST /api/auth/login`` with ``{"api_key": "<key>"}`` answers ``{"bearer": JWT}``;
  later requests send ``Authorization: Bearer <JWT>`` (BSG's pages print
  ``Bearer: <JWT>``; both spellings are accepted). ``POST /api/auth/refresh`` gives a
  fresh token. Tokens are HS256 JWTs (PyJWT) naming the API key's id, valid 30 days,
  keyed with HMAC(server secret, the key's stored hash) (clarion/server_secret.py):
  revoking the key invalidates its tokens, and a copy of the database alone cannot
  mint one.

Errors use BSG's Laravel-style envelope ``{"message": ..., "errors": ...}``:

* no / bad credentials: 401 ``{"message": "Unauthenticated."}``;
* invalid input: 422 ``{"message": "The given data was invalid.", "errors": {field:
  [text]}}``;
* a state that forbids the action (renew of a campaign not paused for funds, stop of
  a finished one): 422 ``{"message": "Invalid campaign status", "errors": []}``;
* balance too low (renew, single message): 422 ``{"message": "Not enough funds",
  "errors": []}``;
* unknown campaign (or another account's): 404 ``{"message": "Model not found"}``;
* the same request body again within 10 s: 429 ``{"message": "Too many duplicate
  request detected"}``.

Field keys in ``errors`` are flattened the way BSG's own examples show them
(``messages0phone`` for ``messages[0].phone``): the path with its separators removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

import jwt
from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy import Row

from clarion.config import Settings
from clarion.dialects.timestamps import zone
from clarion.server_secret import load_secret
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

TOKEN_LIFETIME = timedelta(days=30)
DUPLICATE_WINDOW = 10.0  # seconds
MAX_BODY = 4 * 1024 * 1024
INVALID = "The given data was invalid."


class BsgError(Exception):
    def __init__(self, status: int, message: str, errors: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors

    def response(self) -> JSONResponse:
        body: dict[str, Any] = {"message": self.message}
        if self.errors is not None:
            body["errors"] = self.errors
        return JSONResponse(body, status_code=self.status)


def invalid(field: str, text: str) -> BsgError:
    return BsgError(422, INVALID, {flat(field): [text]})


def flat(path: str) -> str:
    """BSG's error key for a field path: ``phones.0.number`` -> ``phones0number``."""
    return "".join(ch for ch in path if ch not in ".[]")


def from_validation(exc: ValidationError) -> BsgError:
    errors: dict[str, list[str]] = {}
    for err in exc.errors():
        key = flat(".".join(str(p) for p in err.get("loc", ())) or "body")
        errors.setdefault(key, []).append(str(err.get("msg", "invalid")))
    return BsgError(422, INVALID, errors)


def from_service(exc: ServiceError) -> BsgError:
    if isinstance(exc, NotFound):
        return BsgError(404, "Model not found")
    if isinstance(exc, PayloadTooLarge):
        return BsgError(413, exc.message, [])
    if isinstance(exc, InvalidInput):
        return invalid(exc.field or "body", exc.message)
    if isinstance(exc, InsufficientFunds):
        return BsgError(422, "Not enough funds", [])
    if isinstance(exc, Conflict):
        return BsgError(422, "Invalid campaign status", [])
    return BsgError(400, exc.message, [])


def local_time(moment: datetime | None, tz: tzinfo) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


# --- auth ----------------------------------------------------------------------------


def signing_key(secret: bytes, key_hash: str) -> str:
    """A token's HMAC key: the server secret over the API key's stored hash, so the
    database alone (which holds the hash) cannot mint tokens."""
    return hmac.new(secret, key_hash.encode(), hashlib.sha256).hexdigest()


def server_secret(request: Request) -> bytes:
    state = request.app.state
    found: bytes | None = getattr(state, "bsg_secret", None)
    if found is None:
        settings: Settings = state.settings
        found = state.bsg_secret = load_secret(settings.web_secret, settings.data_dir)
    return found


def issue_token(key_id: int, key_hash: str, *, secret: bytes, now: datetime | None = None) -> str:
    issued = now or datetime.now(UTC)
    payload = {
        "id": key_id,
        "iat": int(issued.timestamp()),
        "exp": int((issued + TOKEN_LIFETIME).timestamp()),
        "roles": [],
    }
    return jwt.encode(payload, signing_key(secret, key_hash), algorithm="HS256")


@dataclass(frozen=True, slots=True)
class Caller:
    account: Row[Any]
    key_id: int
    key_hash: str

    @property
    def tz(self) -> tzinfo:
        return zone(self.account.timezone)


async def authenticate(request: Request, db: Database) -> Caller:
    key = request.headers.get("x-api-key")
    if key:
        found = await accounts.authenticate_key(db, key.strip())
        if found is None:
            raise BsgError(401, "Unauthenticated.")
        return Caller(*found)
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.rstrip(":").lower() != "bearer" or not token.strip():
        raise BsgError(401, "Unauthenticated.")
    return await _from_token(db, token.strip(), server_secret(request))


async def _from_token(db: Database, token: str, secret: bytes) -> Caller:
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
        key_id = int(claims["id"])
    except (jwt.PyJWTError, KeyError, TypeError, ValueError):
        raise BsgError(401, "Unauthenticated.") from None
    found = await accounts.key_by_id(db, key_id)
    if found is None:
        raise BsgError(401, "Unauthenticated.")
    account, key_hash = found
    try:
        jwt.decode(
            token,
            signing_key(secret, key_hash),
            algorithms=["HS256"],
            options={"require": ["exp", "id"]},
        )
    except jwt.PyJWTError:
        raise BsgError(401, "Unauthenticated.") from None
    return Caller(account, key_id, key_hash)


# --- requests ------------------------------------------------------------------------


async def json_body(request: Request) -> Mapping[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise BsgError(413, "The request body is too large.", [])
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply
        raise invalid("body", "The request body must be valid JSON.") from None
    if not isinstance(value, dict):
        raise invalid("body", "The request body must be a JSON object.")
    return value


class Duplicates:
    """BSG answers 429 to the same request sent again at once (a client retrying a
    send it believes failed would otherwise create a second campaign). Kept per
    process: behind a load balancer each worker remembers its own requests."""

    def __init__(self, window: float = DUPLICATE_WINDOW) -> None:
        self.window = window
        self._seen: dict[str, float] = {}

    @contextlib.contextmanager
    def once(self, account_id: int, path: str, body: bytes) -> Iterator[None]:
        """Refuse a repeat of a request seen within the window; a request that fails
        is forgotten, so correcting nothing and retrying it is not a duplicate."""
        now = time.monotonic()
        if len(self._seen) > 10_000:
            self._seen = {k: t for k, t in self._seen.items() if now - t < self.window}
        key = hashlib.sha256(f"{account_id}:{path}:".encode() + body).hexdigest()
        seen = self._seen.get(key)
        if seen is not None and now - seen < self.window:
            raise BsgError(429, "Too many duplicate request detected")
        self._seen[key] = now
        try:
            yield
        except BaseException:
            self._seen.pop(key, None)
            raise


def duplicates(request: Request) -> Duplicates:
    """The application's duplicate-request memory (one per app, made on first use)."""
    state = request.app.state
    found: Duplicates | None = getattr(state, "bsg_duplicates", None)
    if found is None:
        found = state.bsg_duplicates = Duplicates()
    return found


def context(request: Request) -> tuple[Database, Settings]:
    db: Database = request.app.state.db
    settings: Settings = request.app.state.settings
    return db, settings
