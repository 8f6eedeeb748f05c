"""The webhook sender: delivers the event outbox at least once.

Each round claims up to ``batch`` due deliveries (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, so several workers share the work) and leases them for ``lease`` seconds,
POSTs them concurrently, and records each outcome. A 2xx answer is delivered;
anything else (status, timeout, refused connection, a target that now resolves to a
private address) is retried after ``webhook_retry_base`` x 3^(attempt-1) seconds, at
most an hour apart, until ``webhook_max_attempts``, then ``failed`` (replayable). A
worker that dies mid-round leaves its deliveries leased; they are sent again when the
lease passes, so a receiver may see an event twice and should deduplicate on the
``Clarion-Event-Id`` header. Redirects are not followed (they could lead anywhere).

Request: ``POST`` the JSON ``{"id", "type", "created_at", "data"}`` with headers
``Content-Type: application/json``, ``Clarion-Event-Id``, ``Clarion-Event-Type``,
``Clarion-Delivery-Id`` and ``Clarion-Signature`` (services/webhooks.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from sqlalchemy import Row

from clarion.clock import utcnow
from clarion.config import Settings
from clarion.services import webhooks as service
from clarion.store import events as store
from clarion.store.db import Database

log = logging.getLogger(__name__)
MAX_DELAY = 3600.0


def body_of(row: Row[Any]) -> bytes:
    """The event envelope; a voice campaign's own callback endpoint gets the bare
    payload (the CDR object), as autocall's ``callback_url`` expects."""
    if row.endpoint_campaign_id is not None:
        return json.dumps(row.payload, separators=(",", ":"), sort_keys=True).encode()
    created: datetime = row.event_created_at
    document = {
        "id": row.event_id,
        "type": row.type,
        "created_at": created.isoformat().replace("+00:00", "Z"),
        "data": row.payload,
    }
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


def pinned(url: str, address: str) -> tuple[str, str, dict[str, Any]]:
    """``url`` with its host replaced by ``address``; the original ``Host`` header
    value; the request extensions that keep TLS checking the original name."""
    parts = urlsplit(url)
    literal = f"[{address}]" if ":" in address else address
    netloc = literal if parts.port is None else f"{literal}:{parts.port}"
    extensions: dict[str, Any] = {}
    if parts.scheme == "https" and parts.hostname:
        extensions["sni_hostname"] = parts.hostname
    return urlunsplit(parts._replace(netloc=netloc)), parts.netloc.rsplit("@", 1)[-1], extensions


class WebhookSender:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utcnow,
        client: httpx.AsyncClient | None = None,
        batch: int = 100,
        lease: float = 120.0,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.batch = batch
        self.lease = lease
        self._client = client
        self._owns_client = client is None

    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self.settings.webhook_timeout,
                follow_redirects=False,
                headers={"User-Agent": "Clarion-Webhooks/1"},
            )
        return self._client

    def delay(self, attempts: int) -> float:
        """Seconds before retry number ``attempts`` (1 = the first retry)."""
        base = float(self.settings.webhook_retry_base)
        factor = float(3 ** max(attempts - 1, 0))
        return min(base * factor, MAX_DELAY)

    async def pump(self) -> int:
        """One round; returns how many deliveries were attempted."""
        now = self.clock()
        lease_until = now + timedelta(seconds=self.lease)
        async with self.db.begin() as conn:
            due = await store.claim_due(conn, now=now, lease_until=lease_until, limit=self.batch)
        if not due:
            return 0
        outcomes = await asyncio.gather(*(self._send(row) for row in due))
        done = self.clock()
        async with self.db.begin() as conn:
            for row, (code, error) in zip(due, outcomes, strict=True):
                attempts = int(row.attempts) + 1
                if error is None:
                    status, next_at = store.DELIVERED, done
                elif attempts >= self.settings.webhook_max_attempts or not row.active:
                    status, next_at = store.FAILED, done
                else:
                    status = store.PENDING
                    next_at = done + timedelta(seconds=self.delay(attempts))
                await store.record_attempt(
                    conn,
                    delivery_id=row.id,
                    status=status,
                    status_code=code,
                    error=error,
                    next_attempt_at=next_at,
                    now=done,
                    leased_until=lease_until,
                )
                if status == store.FAILED:
                    log.warning(
                        "webhook delivery %s failed for good: %s",
                        row.id,
                        error,
                        extra={"action": "webhook_failed"},
                    )
        return len(due)

    async def _send(self, row: Row[Any]) -> tuple[int | None, str | None]:
        """(HTTP status, error or None when delivered); never raises."""
        try:
            return await self._post(row)
        except Exception as exc:  # one bad delivery must not stall the round
            return None, f"{type(exc).__name__}: {exc}"[:500]

    async def _post(self, row: Row[Any]) -> tuple[int | None, str | None]:
        if not row.active:
            return None, "endpoint disabled"
        try:
            addresses = await service.check_target(
                row.url, allow_private=self.settings.webhook_allow_private
            )
        except service.UnsafeTarget as exc:
            return None, exc.message
        body = body_of(row)
        timestamp = int(self.clock().timestamp())
        headers = {
            "Content-Type": "application/json",
            "Clarion-Event-Id": str(row.event_id),
            "Clarion-Event-Type": row.type,
            "Clarion-Delivery-Id": str(row.id),
            service.SIGNATURE_HEADER: service.sign(row.secret, timestamp, body),
        }
        # Connect to the address that was checked, not to what the name resolves to a
        # moment later (DNS rebinding); the name still goes in Host and TLS SNI.
        url, host, extensions = pinned(row.url, addresses[0])
        headers["Host"] = host
        try:
            response = await self.client().post(
                url, content=body, headers=headers, extensions=extensions
            )
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"[:500]
        if 200 <= response.status_code < 300:
            return response.status_code, None
        return response.status_code, f"HTTP {response.status_code}"

    async def run(self, stop: asyncio.Event) -> None:
        failures = 0
        while not stop.is_set():
            pause = self.settings.webhook_poll_interval
            try:
                sent = await self.pump()
                failures = 0
            except Exception as exc:  # the database is down: back off, say it once
                if failures == 0:
                    log.exception("webhook round failed", extra={"action": "webhook_round_failed"})
                else:
                    log.warning("webhook round failed again: %s", type(exc).__name__)
                failures += 1
                sent = 0
                pause = min(pause * 2**failures, MAX_DELAY / 360)
            if sent:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=pause)

    async def close(self) -> None:
        if self._client is not None and self._owns_client:
            await self._client.aclose()
            self._client = None
