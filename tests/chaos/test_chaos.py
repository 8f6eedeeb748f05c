"""Crash safety under faults (issue 9): worker processes killed with SIGKILL at random
and restarted, the SQLite server killed and restarted, the database going away.

Sizes are bounded for CI; ``CLARION_CHAOS_MESSAGES`` (e.g. 50000) and
``CLARION_CHAOS_SECONDS`` give the bigger manual run. Each test prints its counts
(``-s`` shows them): messages, carrier submissions, duplicates, lost.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from tests.chaos.harness import PRICE, Fleet, all_final, env_for, prepare, run_chaos, verify
from tests.conftest import PG_ENV, PgTestDatabase
from tests.helpers import free_port

from clarion.store.db import Database, sync_url, upgrade

MESSAGES = int(os.environ.get("CLARION_CHAOS_MESSAGES", "4000"))
CHAOS_SECONDS = float(os.environ.get("CLARION_CHAOS_SECONDS", "12"))
OUTAGE_SECONDS = float(os.environ.get("CLARION_OUTAGE_SECONDS", "20"))
CAMPAIGNS = 4
RATE = 100  # msg/s per campaign: the run lasts long enough to be killed several times


def report(request: pytest.FixtureRequest, line: str) -> None:
    """Print the counts even under ``pytest -q`` (CI shows them)."""
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(f"\n{line}", flush=True)


def _opening(total: int) -> Decimal:
    return PRICE * total + Decimal("1.00")


@pytest.mark.skipif(not os.environ.get(PG_ENV), reason=f"PostgreSQL chaos needs {PG_ENV}")
async def test_three_workers_killed_at_random_on_postgresql(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    pg: PgTestDatabase = request.getfixturevalue("pg_database")
    pg.reset()
    url = pg.url
    db = Database(url)
    ledger_path = tmp_path / "carrier.db"
    try:
        per = MESSAGES // CAMPAIGNS
        account_id, ids = await prepare(db, campaigns_count=CAMPAIGNS, per_campaign=per, rate=RATE)
        fleet = Fleet(["worker"], env_for(url, ledger_path), 3, tmp_path)
        await run_chaos(
            db, fleet, ids, kill_every=(1.0, 3.0), chaos_seconds=CHAOS_SECONDS, deadline=240
        )
        verdict = await verify(db, account_id, ids, ledger_path, _opening(per * CAMPAIGNS))
    finally:
        await db.dispose()
    report(request, f"chaos (PostgreSQL, 3 workers, {fleet.kills} kills): {verdict.line()}")
    assert fleet.kills >= 3
    assert verdict.messages == per * CAMPAIGNS
    assert (verdict.duplicates, verdict.lost) == (0, 0)
    assert verdict.submissions == verdict.messages
    assert verdict.statuses == {"DELIVERED": verdict.messages}


async def test_sqlite_server_killed_and_restarted(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    path = tmp_path / "clarion.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    db = Database(url)
    ledger_path = tmp_path / "carrier.db"
    total = MESSAGES // 2
    try:
        per = total // CAMPAIGNS
        account_id, ids = await prepare(db, campaigns_count=CAMPAIGNS, per_campaign=per, rate=RATE)
        port = free_port()
        fleet = Fleet(
            ["serve", "--host", "127.0.0.1", "--port", str(port)],
            env_for(url, ledger_path),
            1,
            tmp_path,
        )
        await run_chaos(
            db, fleet, ids, kill_every=(1.0, 3.0), chaos_seconds=CHAOS_SECONDS, deadline=240
        )
        verdict = await verify(db, account_id, ids, ledger_path, _opening(per * CAMPAIGNS))
    finally:
        await db.dispose()
    report(request, f"chaos (SQLite, serve, {fleet.kills} kills): {verdict.line()}")
    assert fleet.kills >= 3
    assert (verdict.duplicates, verdict.lost) == (0, 0)
    assert verdict.submissions == verdict.messages == per * CAMPAIGNS
    assert verdict.statuses == {"DELIVERED": verdict.messages}


# --- the database goes away ------------------------------------------------------------

PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))), None)


def _as_postgres(args: list[str]) -> list[str]:
    """initdb / pg_ctl refuse to run as root: run them as the postgres user then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return args


@dataclass
class Cluster:
    url: str
    ctl: list[str]

    def start(self) -> None:
        subprocess.run(_as_postgres([*self.ctl, "start"]), check=True, capture_output=True)

    def stop(self) -> None:
        subprocess.run(
            _as_postgres([*self.ctl, "-m", "fast", "stop"]), check=True, capture_output=True
        )


@pytest.fixture
def private_cluster() -> Iterator[Cluster]:
    """A PostgreSQL cluster of our own in a temp directory (never the shared server),
    on a free port, started with Debian's initdb / pg_ctl."""
    if PG_BIN is None or not (PG_BIN / "initdb").exists():
        pytest.skip("Debian's PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    base = Path(f"/tmp/clarion-pg-{uuid.uuid4().hex[:8]}")
    base.mkdir()
    data = base / "data"
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    port = free_port()
    subprocess.run(
        _as_postgres([str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"]),
        check=True,
        capture_output=True,
    )
    opts = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    ctl = [str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(base / "log"), "-w"]
    cluster = Cluster(f"postgresql://postgres@127.0.0.1:{port}/postgres", ctl)
    cluster.start()
    try:
        admin = create_engine(sync_url(cluster.url), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text('CREATE DATABASE "chaos"'))
        admin.dispose()
        cluster.url = (
            make_url(cluster.url).set(database="chaos").render_as_string(hide_password=False)
        )
        yield cluster
    finally:
        subprocess.run(_as_postgres([*ctl, "-m", "immediate", "stop"]), capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


async def test_database_outage_mid_campaign(
    request: pytest.FixtureRequest, private_cluster: Cluster, tmp_path: Path
) -> None:
    url = private_cluster.url
    upgrade(url)
    db = Database(url)
    ledger_path = tmp_path / "carrier.db"
    total = 2000
    try:
        per = total // 2
        account_id, ids = await prepare(db, campaigns_count=2, per_campaign=per, rate=RATE)
        fleet = Fleet(["worker"], env_for(url, ledger_path), 2, tmp_path)
        fleet.start()
        await asyncio.sleep(3)  # sending
        private_cluster.stop()
        await db.dispose()
        await asyncio.sleep(OUTAGE_SECONDS)
        private_cluster.start()
        try:
            for _ in range(480):
                if await _done(db, ids):
                    break
                await asyncio.sleep(0.5)
            else:
                raise AssertionError("not DONE after the outage\n" + fleet.logs()[-4000:])
        finally:
            fleet.stop()
        verdict = await verify(db, account_id, ids, ledger_path, _opening(per * 2))
    finally:
        await db.dispose()
    logs = fleet.logs()
    report(request, f"outage ({OUTAGE_SECONDS:.0f} s, 2 workers): {verdict.line()}")
    assert "retrying in" in logs and "recovered after" in logs, logs[-3000:]
    assert (verdict.duplicates, verdict.lost) == (0, 0)
    assert verdict.statuses == {"DELIVERED": per * 2}


async def _done(db: Database, ids: list[int]) -> bool:
    try:
        return await all_final(db, ids)
    except Exception as exc:  # the database is still coming back
        print(f"waiting for the database: {type(exc).__name__}: {str(exc)[:300]}")
        return False
