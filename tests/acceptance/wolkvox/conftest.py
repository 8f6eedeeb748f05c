"""The ``api`` fixture: an app of its own (its limits can be changed) and a client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from tests.acceptance.wolkvox.client import BASE, Api
from tests.conftest import Tenant

from clarion.api.app import create_app
from clarion.config import Settings
from clarion.store.db import Database


@pytest.fixture
async def api(settings: Settings, db: Database, tenant: Tenant) -> AsyncIterator[Api]:
    app = create_app(settings, db=db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        yield Api(app, client, tenant.key)
