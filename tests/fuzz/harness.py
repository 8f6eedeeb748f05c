"""An app, its database and an account, driven from synchronous hypothesis tests.

Hypothesis runs each example in the test's own thread; the app's database engine is
bound to one event loop, so the harness owns a loop and runs every request on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import httpx

from clarion.api.app import create_app
from clarion.config import Settings
from clarion.services import accounts
from clarion.store.db import Database

T = TypeVar("T")
BASE_URL = "http://clarion.test"


@dataclass
class Harness:
    loop: asyncio.AbstractEventLoop
    client: httpx.AsyncClient
    db: Database
    account_id: int
    key: str

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(work)

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self.run(self.client.request(method, url, **kwargs))


@contextmanager
def harness(settings: Settings) -> Iterator[Harness]:
    loop = asyncio.new_event_loop()
    db = Database(settings.database_url)
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(settings, db=db)), base_url=BASE_URL
    )
    try:
        new = loop.run_until_complete(
            accounts.create(db, name="fuzz", balance=Decimal("100.00"), currency="USD")
        )
        yield Harness(loop, client, db, new.account_id, new.api_key)
    finally:
        loop.run_until_complete(client.aclose())
        loop.run_until_complete(db.dispose())
        loop.close()
