"""How ``clarion serve`` runs uvicorn: connection limits and the slowloris guard.

uvicorn closes a keep-alive connection that stays idle ``timeout_keep_alive`` seconds
after a response, but puts no deadline on a request head that is still arriving: a
client sending one header byte every few seconds holds its connection for ever, and
enough of them hold every slot. :class:`HeadDeadline` (uvicorn's h11 protocol plus one
timer) closes a connection whose request head is not complete within
``header_timeout`` seconds of the connection opening or of the previous response.
Beyond ``max_connections`` open connections or running requests, uvicorn answers 503.
A request head larger than ``MAX_HEAD_BYTES`` is a 400 (h11's own limit). Bodies are
limited by :mod:`clarion.api.limits`. See docs/operations.md.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from clarion.config import Settings

log = logging.getLogger(__name__)

MAX_HEAD_BYTES = 16 * 1024
BACKLOG = 2048


class HeadDeadline(H11Protocol):
    """uvicorn's h11 protocol with a deadline for every request head."""

    header_timeout = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline: asyncio.TimerHandle | None = None
        self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._waiting_after = self.cycle  # a new cycle means a complete request head
        self._deadline = self.loop.call_later(self.header_timeout, self._expired)

    def _disarm(self) -> None:
        deadline = getattr(self, "_deadline", None)
        if deadline is not None:
            deadline.cancel()
            self._deadline = None

    def handle_events(self) -> None:
        super().handle_events()
        if self._deadline is not None and self.cycle is not self._waiting_after:
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _expired(self) -> None:
        self._deadline = None
        if not self.transport.is_closing() and self.cycle is self._waiting_after:
            log.info(
                "closed a connection whose request head took over %.0f s",
                self.header_timeout,
                extra={"action": "request_head_timeout"},
            )
            self.transport.close()


def protocol(header_timeout: float) -> type[HeadDeadline]:
    return type("HeadDeadline", (HeadDeadline,), {"header_timeout": header_timeout})


def config(app: Any, settings: Settings, **overrides: Any) -> uvicorn.Config:
    """uvicorn's configuration for ``clarion serve``."""
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "http": protocol(settings.header_timeout),
        "limit_concurrency": settings.max_connections,
        "backlog": BACKLOG,
        "timeout_keep_alive": settings.keep_alive_timeout,
        "h11_max_incomplete_event_size": MAX_HEAD_BYTES,
        "log_level": "warning",
    }
    options.update(overrides)
    return uvicorn.Config(app, **options)
