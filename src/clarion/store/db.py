"""Engine, transactions and schema upgrades.

Users give ordinary URLs (``sqlite:///./clarion.db``, ``postgresql://user@host/db``);
the async driver (aiosqlite / psycopg 3) is chosen here.

SQLite runs in WAL mode. Python's sqlite3 transaction handling is switched off and
every write transaction starts with ``BEGIN IMMEDIATE``, so writers queue on the
database lock up front (with ``busy_timeout``) instead of failing half-way with
"database is locked" when upgrading a read lock. Read-only blocks use
``Database.read()`` which starts a deferred ``BEGIN``.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, pool, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_READ_ONLY = "clarion_read_only"


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _when_unlocked(statement: Callable[[], object], *, seconds: float = 30.0) -> None:
    """Run ``statement``, again while SQLite answers "database is locked". A new
    connection's ``journal_mode`` pragma can meet a lock that SQLite reports at once,
    without calling the busy handler (another connection opening or checkpointing the
    WAL at that moment): seen with six processes connecting together."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            statement()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.02)


class DatabaseURLError(ValueError):
    """The database URL names an unsupported backend."""


def _backend(url: str) -> str:
    name = make_url(url).get_backend_name()
    if name in ("sqlite", "postgresql"):
        return name
    raise DatabaseURLError(f"unsupported database {name!r}: use sqlite:/// or postgresql://")


def async_url(url: str) -> str:
    """The URL with Clarion's async driver."""
    u = make_url(url)
    driver = "aiosqlite" if _backend(url) == "sqlite" else "psycopg"
    return u.set(drivername=f"{u.get_backend_name()}+{driver}").render_as_string(
        hide_password=False
    )


def sync_url(url: str) -> str:
    """The URL with a synchronous driver (Alembic, benchmarks)."""
    u = make_url(url)
    driver = "pysqlite" if _backend(url) == "sqlite" else "psycopg"
    return u.set(drivername=f"{u.get_backend_name()}+{driver}").render_as_string(
        hide_password=False
    )


def _ensure_sqlite_dir(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def upgrade(url: str, revision: str = "head") -> None:
    """Create or upgrade the schema (Alembic)."""
    if _backend(url) == "sqlite":
        _ensure_sqlite_dir(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["url"] = sync_url(url)
    command.upgrade(config, revision)


class SchemaOutdated(RuntimeError):
    """The PostgreSQL schema is not at the latest migration."""


def _revisions(url: str) -> tuple[str | None, str | None]:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    head = ScriptDirectory.from_config(config).get_current_head()
    engine = create_engine(sync_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
    return current, head


def ensure_schema(url: str) -> None:
    """Embedded SQLite is created / upgraded on the spot; PostgreSQL must already be
    at the latest migration (``clarion db upgrade``), so that many processes never
    race to migrate a shared database."""
    if _backend(url) == "sqlite":
        upgrade(url)
        return
    current, head = _revisions(url)
    if current != head:
        raise SchemaOutdated(
            f"database schema is at {current or 'nothing'}, code expects {head}: "
            "run `clarion db upgrade` first"
        )


class Database:
    """An async engine plus the transaction helpers services use."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.is_sqlite = _backend(url) == "sqlite"
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            _ensure_sqlite_dir(url)
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs["pool_size"] = pool_size
            kwargs["pool_pre_ping"] = True
        self.engine: AsyncEngine = create_async_engine(async_url(url), **kwargs)
        self._write_lock: asyncio.Lock | None = asyncio.Lock() if self.is_sqlite else None
        if self.is_sqlite:
            self._configure_sqlite()

    def _configure_sqlite(self) -> None:
        sync_engine = self.engine.sync_engine

        @event.listens_for(sync_engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None
            # SQLite's built-in lower() folds ASCII only; use Python's (Unicode) lower
            # so that text search is case-insensitive for Cyrillic etc., as on PostgreSQL.
            dbapi_connection.create_function("lower", 1, _lower, deterministic=True)
            cursor = dbapi_connection.cursor()
            # The busy timeout first, so that the pragmas below wait for a lock too.
            cursor.execute("PRAGMA busy_timeout=30000")
            _when_unlocked(lambda: cursor.execute("PRAGMA journal_mode=WAL"))
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(sync_engine, "begin")
        def _on_begin(conn: Any) -> None:
            if conn.get_execution_options().get(_READ_ONLY):
                conn.exec_driver_sql("BEGIN")
            else:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction: committed on success, rolled back on any error.

        On SQLite, writers of this process queue on an asyncio lock first, so they
        wait in the event loop (letting readers and other work run) instead of in
        SQLite's sleeping busy handler; other processes still meet busy_timeout."""
        if self._write_lock is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._write_lock, self.engine.begin() as conn:
            yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only transaction (deferred on SQLite)."""
        async with self.engine.connect() as conn:
            conn = await conn.execution_options(**{_READ_ONLY: True})
            async with conn.begin():
                yield conn

    async def ping(self) -> None:
        async with self.read() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
