"""``GET /metrics`` (Prometheus text format, no authentication) and the middleware
that times every HTTP request. Installed by ``create_app`` unless
``CLARION_METRICS_ENABLED=false``. Names and labels: docs/operations.md."""

from __future__ import annotations

import time

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clarion import metrics
from clarion.clock import utcnow
from clarion.config import Settings
from clarion.dialects.mobizon import wire as mobizon_wire
from clarion.store import metrics as store
from clarion.store.db import Database

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
MOBIZON_ROUTE = "/service/{module}/{method}"

router = APIRouter(include_in_schema=False)


@router.get("/metrics")
async def scrape(request: Request) -> Response:
    db: Database = request.app.state.db
    settings: Settings = request.app.state.settings
    async with db.read() as conn:
        snapshot = await store.snapshot(conn, now=utcnow(), lease_seconds=settings.lease_seconds)
    metrics.refresh(snapshot)
    return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


def route_label(scope: Scope) -> str:
    """The matched route's template (bounded cardinality): a Mobizon call is named by
    its registered module/method, an unmatched path is ``unmatched``."""
    path = getattr(scope.get("route"), "path", None)
    if not isinstance(path, str):
        return "unmatched"
    if path == MOBIZON_ROUTE:
        params = scope.get("path_params") or {}
        key = (str(params.get("module", "")).lower(), str(params.get("method", "")).lower())
        if key in mobizon_wire.HANDLERS:
            return f"/service/{key[0]}/{key[1]}"
    return path


class RequestTimer:
    """Observes ``clarion_http_request_duration_seconds`` for every HTTP request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # unless a response starts

        async def watched(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watched)
        finally:
            method = scope["method"] if scope["method"] in METHODS else "OTHER"
            metrics.HTTP_LATENCY.labels(
                method=method, route=route_label(scope), status=str(status)
            ).observe(time.perf_counter() - start)


def install(app: FastAPI) -> None:
    app.add_middleware(RequestTimer)
    app.include_router(router)
