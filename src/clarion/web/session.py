"""Dashboard sessions and CSRF tokens (HMAC-SHA256, standard library only).

* The session cookie carries the id of the API key the operator signed in with and
  when it was issued, signed with the server secret: ``<payload>.<signature>``. It
  is HTTP-only and SameSite=Lax; every request re-reads the key, so revoking it ends
  every session made with it.
* The CSRF token is bound to the session: an HMAC of the session cookie under a
  separate purpose, sent as a hidden form field (or the ``X-CSRF-Token`` header by
  the dashboard's scripts) with every POST. The sign-in form, which has no session
  yet, uses a double-submit cookie instead.
* The secret is ``CLARION_WEB_SECRET`` or, when that is empty, a random one created
  once in ``{data_dir}/web-secret`` (mode 0600) and shared by every process that
  uses that directory.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

SESSION_COOKIE = "clarion_session"
SIGN_IN_COOKIE = "clarion_sign_in"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"


def _mac(secret: bytes, purpose: str, value: str) -> str:
    return hmac.new(secret, f"{purpose}|{value}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Session:
    key_id: int
    issued_at: int  # Unix seconds


def encode(secret: bytes, session: Session) -> str:
    payload = json.dumps({"k": session.key_id, "t": session.issued_at}, separators=(",", ":"))
    body = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")
    return f"{body}.{_mac(secret, 'session', body)}"


def decode(secret: bytes, cookie: str | None, *, now: int, max_age: int) -> Session | None:
    """The session in a cookie, or None if it is missing, forged, malformed or old."""
    if not cookie or cookie.count(".") != 1:
        return None
    body, signature = cookie.split(".")
    if not hmac.compare_digest(signature, _mac(secret, "session", body)):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        session = Session(int(data["k"]), int(data["t"]))
    except (binascii.Error, ValueError, KeyError, TypeError):
        return None
    if session.issued_at > now + 60 or now - session.issued_at > max_age:
        return None
    return session


def csrf_token(secret: bytes, cookie: str) -> str:
    """The CSRF token of a session (or of a sign-in form's cookie)."""
    return _mac(secret, "csrf", cookie)[:40]


def csrf_valid(secret: bytes, cookie: str | None, token: str | None) -> bool:
    if not cookie or not token:
        return False
    return hmac.compare_digest(csrf_token(secret, cookie), token)


def new_nonce() -> str:
    return secrets.token_urlsafe(24)
