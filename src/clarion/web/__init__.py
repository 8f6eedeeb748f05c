"""The operator dashboard: server-rendered pages under ``/ui`` (sign-in at ``/``).

``install(app, settings)`` adds the pages, their JSON endpoints (live counters,
import progress, SMS preview) and the static assets; nothing is loaded from
outside Clarion. See docs/dashboard.md.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from clarion import server_secret
from clarion.config import Settings
from clarion.web import pages
from clarion.web.render import WebState, environment

STATIC_DIR = Path(__file__).parent / "static"


def install(app: FastAPI, settings: Settings) -> None:
    app.state.web = WebState(
        secret=server_secret.load_secret(settings.web_secret, settings.data_dir),
        templates=environment(),
        max_age=int(settings.web_session_hours * 3600),
    )
    app.mount("/ui/static", StaticFiles(directory=STATIC_DIR), name="ui-static")
    app.include_router(pages.root)
    app.include_router(pages.router)
