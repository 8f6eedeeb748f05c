"""Fixtures of the iSales acceptance tests: the app with a manual dialect clock, an
HTTP client on it, a signed iSales client per tenant."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update
from tests.acceptance.isales.client import HOST, Isales, ManualClock
from tests.conftest import Tenant

from clarion.api.app import create_app
from clarion.config import Settings
from clarion.dialects.isales import credentials
from clarion.services import accounts
from clarion.store.db import Database
from clarion.store.schema import accounts as accounts_table


@pytest.fixture
def app(settings: Settings, db: Database) -> FastAPI:
    return create_app(settings, db=db)


@pytest.fixture
def clock(app: FastAPI) -> ManualClock:
    """The app's iSales clock, standing at the test's start until moved."""
    made = ManualClock()
    app.state.isales_clock = made.now
    return made


@pytest.fixture
async def http(app: FastAPI, clock: ManualClock) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=f"https://{HOST}") as c:
        yield c


@pytest.fixture
async def isales(
    http: httpx.AsyncClient, db: Database, settings: Settings, tenant: Tenant
) -> Isales:
    ak, sk = await credentials(db, settings, tenant.key)
    return Isales(http, ak, sk, tenant.id)


@pytest.fixture
async def other(http: httpx.AsyncClient, db: Database, settings: Settings) -> Isales:
    """A second tenant with an explicit VDN."""
    new = await accounts.create(db, name="globex", balance=Decimal("50"), currency="USD")
    async with db.begin() as conn:
        await conn.execute(
            update(accounts_table).where(accounts_table.c.id == new.account_id).values(vdn_id=77)
        )
    ak, sk = await credentials(db, settings, new.api_key)
    return Isales(http, ak, sk, 77)
