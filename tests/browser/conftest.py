"""Browser fixtures: a real Clarion server (uvicorn in a thread, dispatcher on, the
simulated carrier, a temporary SQLite database) and Debian's chromium driven by
Playwright. Playwright's own browser downloads are never used.

Screenshots go to ``docs/screenshots/`` when ``CLARION_SCREENSHOTS=1`` (to refresh the
ones in the docs), otherwise to the test's temporary directory.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
import uvicorn
from tests.helpers import free_port

from clarion.api.app import create_app
from clarion.config import Settings
from clarion.services import accounts
from clarion.store.db import Database

CHROMIUM = os.environ.get("CLARION_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DOCS_SCREENSHOTS = Path(__file__).parents[2] / "docs" / "screenshots"

try:
    from playwright.sync_api import Browser, Page, sync_playwright
except ImportError:  # pragma: no cover - the dev extra installs it
    sync_playwright = None  # type: ignore[assignment]


def _skip_reason() -> str | None:
    if sync_playwright is None:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return (
            f"chromium not found at {CHROMIUM} and it could not be installed "
            "(`make test` runs `apt-get install -y chromium` when it is missing)"
        )
    return None


@dataclass
class Server:
    url: str
    key: str
    account_id: int
    settings: Settings


def _settings(tmp: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp / 'clarion.db'}",
        data_dir=str(tmp / "data"),
        default_channel="sim_sms",
        import_workers=0,
        max_campaign_rate=0,
        batch_size=50,
        poll_interval=0.02,
        housekeeping_interval=0.1,
        sim_dlr_min_delay=0.05,
        sim_dlr_max_delay=0.3,
        sim_undelivered_rate=0.3,
        sim_seed=7,
    )


async def _account(settings: Settings) -> accounts.NewAccount:
    db = Database(settings.database_url)
    try:
        return await accounts.create(
            db, name="Acme Retail", balance=Decimal("100.00"), currency="USD"
        )
    finally:
        await db.dispose()


def serve(
    tmp_path_factory: pytest.TempPathFactory, *, name: str, run_dispatcher: bool
) -> Iterator[Server]:
    """A Clarion server on a free loopback port with one account, for a module's
    browser tests (skipped when chromium is missing)."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    from clarion.store.db import upgrade

    tmp = tmp_path_factory.mktemp(name)
    settings = _settings(tmp)
    upgrade(settings.database_url)
    new = asyncio.run(_account(settings))
    port = free_port()
    app = create_app(settings, run_dispatcher=run_dispatcher)
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, name=f"clarion-{name}", daemon=True)
    thread.start()
    for _ in range(500):
        if uv.started:
            break
        threading.Event().wait(0.01)
    assert uv.started, "the Clarion server did not start"
    try:
        yield Server(f"http://127.0.0.1:{port}", new.api_key, new.account_id, settings)
    finally:
        uv.should_exit = True
        thread.join(timeout=15)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from serve(tmp_path_factory, name="browser", run_dispatcher=True)


@pytest.fixture(scope="module")
def browser(server: Server) -> Iterator[Browser]:
    assert sync_playwright is not None
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.set_default_timeout(20_000)
    opened = context.new_page()
    opened.on("dialog", lambda dialog: dialog.accept())
    try:
        yield opened
    finally:
        context.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where screenshots go (see the module docstring)."""
    if os.environ.get("CLARION_SCREENSHOTS") == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return DOCS_SCREENSHOTS
    target = tmp_path / "screenshots"
    target.mkdir()
    return target
