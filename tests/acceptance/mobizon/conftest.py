"""Fixtures of the Mobizon dialect's acceptance tests (SQLite, and PostgreSQL when
``CLARION_TEST_DATABASE_URL`` is set, through the shared ``db`` fixture)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import update
from tests.acceptance.mobizon.php import MobizonClient
from tests.conftest import Tenant

from clarion.store.db import Database
from clarion.store.schema import accounts


@pytest.fixture
def api(client: httpx.AsyncClient, tenant: Tenant) -> MobizonClient:
    return MobizonClient(client, tenant.key)


async def set_account(db: Database, account_id: int, **values: object) -> None:
    """Account settings the API cannot change (moderation, time zone)."""
    async with db.begin() as conn:
        await conn.execute(update(accounts).where(accounts.c.id == account_id).values(**values))
