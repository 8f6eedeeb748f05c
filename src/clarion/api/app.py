"""``create_app(settings)``: the ASGI application (no import-time globals).

With ``run_dispatcher=True`` (``clarion serve``) the dispatcher runs as a task in the
same event loop, started and stopped with the app's lifespan.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from clarion import __version__
from clarion.api import addressbook, links, prices, problems, v1
from clarion.config import Settings
from clarion.dialects import mobizon
from clarion.dispatch.engine import Dispatcher, build_dispatcher
from clarion.store.db import Database

LANDING = """<!doctype html><html><head><meta charset="utf-8"><title>Clarion</title></head>
<body style="font-family:sans-serif;max-width:40em;margin:3em auto">
<h1>Clarion</h1><p>Self-hosted outbound campaign manager (SMS, RCS, voice).</p>
<ul><li><a href="/docs">API reference (OpenAPI)</a></li>
<li><a href="/healthz">Health</a></li></ul></body></html>"""


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
    app.include_router(v1.router)
    app.include_router(addressbook.router)
    app.include_router(prices.router)
    app.include_router(mobizon.router)
    app.include_router(links.router)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def landing() -> str:
        return LANDING

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        await database.ping()
        return {"status": "ok"}

    app.include_router(links.redirect_router())  # last: GET|HEAD /{code} of short links
    return app
