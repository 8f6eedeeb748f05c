"""Alembic environment: URL comes from ``config.attributes["url"]`` (see store.db.upgrade)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from clarion.store.schema import metadata

config = context.config
url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
connection = config.attributes.get("connection")


def run() -> None:
    if connection is not None:
        context.configure(connection=connection, target_metadata=metadata)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(str(url), poolclass=pool.NullPool)
    with engine.connect() as conn:
        context.configure(
            connection=conn,
            target_metadata=metadata,
            render_as_batch=conn.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run()
