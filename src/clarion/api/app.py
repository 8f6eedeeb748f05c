"""``create_app(settings)``: the ASGI application (no import-time globals).

With ``run_dispatcher=True`` (``clarion serve``) the dispatcher runs as a task in the
same event loop, started and stopped with the app's lifespan. The operator dashboard
(``clarion.web``) is served by the same app: sign-in at ``/``, pages under ``/ui``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from clarion import __version__, web
from clarion.api import addressbook, limits, links, prices, problems, v1, webhooks
from clarion.api import metrics as api_metrics
from clarion.api import voice as voice_api
from clarion.config import Settings
from clarion.dialects import autocall, bsg, isales, mobizon, wolkvox
from clarion.dispatch.engine import Dispatcher, build_dispatcher
from clarion.store.db import Database


def create_app(
    settings: Settings, *, run_dispatcher: bool = False, db: Database | None = None
) -> FastAPI:
    owned_db = db is None
    database = db or Database(settings.database_url)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task: asyncio.Task[None] | None = None
        if run_dispatcher:
            dispatcher: Dispatcher = build_dispatcher(settings, database)
            app.state.dispatcher = dispatcher
            task = asyncio.create_task(dispatcher.run(stop), name="dispatcher")
        try:
            yield
        finally:
            stop.set()
            if task is not None:
                await task
            if owned_db:
                await database.dispose()

    app = FastAPI(
        title="Clarion",
        version=__version__,
        description="Native REST API of Clarion. Authenticate with `Authorization: Bearer KEY`.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db = database
    problems.install(app)
    app.add_middleware(
        limits.BodyLimit,
        rules=limits.rules(
            max_body_bytes=settings.max_body_bytes, max_import_bytes=settings.max_import_bytes
        ),
    )
    if settings.metrics_enabled:
        api_metrics.install(app)  # GET /metrics and request timing
    app.include_router(v1.router)
    app.include_router(voice_api.router)
    app.include_router(addressbook.router)
    app.include_router(prices.router)
    app.include_router(webhooks.router)
    app.include_router(mobizon.router)
    app.include_router(bsg.router)
    app.include_router(autocall.router)
    app.include_router(wolkvox.router)
    app.include_router(isales.router)
    app.include_router(links.router)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        await database.ping()
        return {"status": "ok"}

    web.install(app, settings)  # the dashboard: sign-in at /, pages under /ui
    app.include_router(links.redirect_router())  # last: GET|HEAD /{code} of short links
    return app
