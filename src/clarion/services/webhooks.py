"""Event webhooks: endpoints, their validation (no SSRF), the delivery log, replay.

An endpoint is a URL an account registers with the event types it wants
(``message.status_changed``, ``campaign.status_changed``, ``mo.received``,
``task.finished``, ``balance.low``). Each gets a random signing secret, shown in the
answer to its creation (and to ``GET`` by its owner). Deliveries are signed
(``Clarion-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``),
sent at least once with retries and backoff by the webhook sender
(``dispatch/webhooks.py``), and logged; any delivery can be replayed.

Targets are checked against server-side request forgery when the endpoint is created
or changed and again before every delivery (a name can start resolving elsewhere): the
scheme must be http or https, without credentials in the URL, and every address the
host resolves to must be public — not loopback, private (RFC 1918 / ULA), link-local
(cloud metadata at 169.254.169.254), multicast, reserved or unspecified — unless the
operator allows private targets (``CLARION_WEBHOOK_ALLOW_PRIVATE``).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import secrets
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Row

from clarion.clock import utcnow
from clarion.services.errors import InvalidInput, NotFound
from clarion.store import events as store
from clarion.store.db import Database

EVENT_TYPES = store.EVENT_TYPES
MAX_ENDPOINTS = 20
SIGNATURE_HEADER = "Clarion-Signature"


class UnsafeTarget(InvalidInput):
    """The URL is not one Clarion will send to."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Clarion-Signature`` header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, *, now: int, tolerance: int = 300) -> bool:
    """The receiver's check (the recipe in docs/webhooks.md): the signature matches and
    the timestamp is within ``tolerance`` seconds (replay protection)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def _public(address: str) -> bool:
    """A globally routable unicast address (not loopback, private, shared / CGNAT
    100.64/10, link-local, multicast, reserved, ...), looking through IPv6 tunnels that
    embed an IPv4 address (IPv4-mapped, 6to4, Teredo)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None and not _public(str(embedded)):
            return False
        if ip.is_site_local:
            return False
    return ip.is_global and not ip.is_multicast


async def check_target(url: str, *, allow_private: bool) -> list[str]:
    """Raise ``UnsafeTarget`` unless ``url`` is an http(s) URL whose host resolves only
    to public addresses (any address when ``allow_private``); returns the addresses,
    so the caller can connect to exactly what was checked (no DNS rebinding)."""
    if len(url) > 2000:
        raise UnsafeTarget("url is longer than 2000 characters", field="url")
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        raise UnsafeTarget("url is not a valid URL", field="url") from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeTarget("url must start with http:// or https://", field="url")
    if parts.username is not None or parts.password is not None:
        raise UnsafeTarget("url must not carry credentials", field="url")
    if not host:
        raise UnsafeTarget("url has no host", field="url")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UnsafeTarget("url has an invalid port", field="url") from None
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise UnsafeTarget(f"url host {host!r} does not resolve", field="url") from None
    addresses = sorted({str(info[4][0]) for info in infos})
    if not allow_private:
        bad = [a for a in addresses if not _public(a)]
        if bad:
            raise UnsafeTarget(
                f"url host {host!r} resolves to a non-public address ({bad[0]}); webhooks "
                "go to public addresses only",
                field="url",
            )
    return addresses


def _event_types(values: Sequence[str]) -> list[str]:
    if not values:
        raise InvalidInput("subscribe to at least one event type", field="events")
    unknown = [v for v in values if v not in EVENT_TYPES]
    if unknown:
        raise InvalidInput(
            f"unknown event type {unknown[0]!r}; known: {', '.join(EVENT_TYPES)}",
            field="events",
        )
    return list(dict.fromkeys(values))


@dataclass(frozen=True, slots=True)
class EndpointSpec:
    url: str
    events: Sequence[str]
    description: str = ""
    active: bool = True


async def create(
    db: Database, *, account_id: int, spec: EndpointSpec, allow_private: bool
) -> Row[Any]:
    types = _event_types(spec.events)
    await check_target(spec.url, allow_private=allow_private)
    async with db.begin() as conn:
        if len(await store.endpoints(conn, account_id=account_id)) >= MAX_ENDPOINTS:
            raise InvalidInput(f"at most {MAX_ENDPOINTS} webhook endpoints per account")
        endpoint_id = await store.insert_endpoint(
            conn,
            {
                "account_id": account_id,
                "url": spec.url,
                "secret": "whsec_" + secrets.token_hex(24),
                "events": types,
                "description": spec.description[:255],
                "active": spec.active,
                "created_at": utcnow(),
            },
        )
        row = await store.endpoint(conn, account_id=account_id, endpoint_id=endpoint_id)
    assert row is not None
    return row


async def get(db: Database, *, account_id: int, endpoint_id: int) -> Row[Any]:
    async with db.read() as conn:
        row = await store.endpoint(conn, account_id=account_id, endpoint_id=endpoint_id)
    if row is None:
        raise NotFound(f"webhook endpoint {endpoint_id} not found")
    return row


async def list_all(db: Database, *, account_id: int) -> Sequence[Row[Any]]:
    async with db.read() as conn:
        return await store.endpoints(conn, account_id=account_id)


async def change(
    db: Database,
    *,
    account_id: int,
    endpoint_id: int,
    changes: dict[str, Any],
    allow_private: bool,
) -> Row[Any]:
    values: dict[str, Any] = {}
    if "url" in changes:
        await check_target(changes["url"], allow_private=allow_private)
        values["url"] = changes["url"]
    if "events" in changes:
        values["events"] = _event_types(changes["events"])
    if "description" in changes:
        values["description"] = str(changes["description"])[:255]
    if "active" in changes:
        values["active"] = bool(changes["active"])
    async with db.begin() as conn:
        if values and not await store.update_endpoint(
            conn, account_id=account_id, endpoint_id=endpoint_id, values=values
        ):
            raise NotFound(f"webhook endpoint {endpoint_id} not found")
        row = await store.endpoint(conn, account_id=account_id, endpoint_id=endpoint_id)
    if row is None:
        raise NotFound(f"webhook endpoint {endpoint_id} not found")
    return row


async def delete(db: Database, *, account_id: int, endpoint_id: int) -> None:
    async with db.begin() as conn:
        if not await store.delete_endpoint(conn, account_id=account_id, endpoint_id=endpoint_id):
            raise NotFound(f"webhook endpoint {endpoint_id} not found")


async def deliveries(
    db: Database,
    *,
    account_id: int,
    endpoint_id: int,
    statuses: Sequence[str] = (),
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[Any], int]:
    bad = [s for s in statuses if s not in (store.PENDING, store.DELIVERED, store.FAILED)]
    if bad:
        raise InvalidInput(f"unknown delivery status {bad[0]!r}", field="status")
    await get(db, account_id=account_id, endpoint_id=endpoint_id)
    async with db.read() as conn:
        return await store.deliveries(
            conn,
            account_id=account_id,
            endpoint_id=endpoint_id,
            statuses=statuses,
            limit=limit,
            offset=offset,
        )


async def replay(db: Database, *, account_id: int, delivery_id: int) -> None:
    async with db.begin() as conn:
        if not await store.replay(
            conn, account_id=account_id, delivery_id=delivery_id, now=utcnow()
        ):
            raise NotFound(f"webhook delivery {delivery_id} not found")
