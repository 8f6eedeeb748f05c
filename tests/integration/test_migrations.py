"""The Alembic migrations create exactly the tables in store/schema.py."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from clarion.store.db import ensure_schema, sync_url, upgrade
from clarion.store.schema import metadata


def test_migrations_match_schema(database_url: str) -> None:
    engine = create_engine(sync_url(database_url))
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(context, metadata)
    engine.dispose()
    assert diffs == []


def test_upgrade_is_idempotent(database_url: str) -> None:
    upgrade(database_url)
    ensure_schema(database_url)
    engine = create_engine(sync_url(database_url))
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert {t.name for t in metadata.sorted_tables} <= tables
