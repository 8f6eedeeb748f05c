"""Chaos harness: real ``clarion worker`` / ``clarion serve`` processes, killed with
SIGKILL at random and restarted, over a campaign whose carrier (``sim_sms`` with a
durable ledger file) records every submission it receives, so duplicates and misses
can be counted exactly afterwards."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, func, select, type_coerce

from clarion.domain.lifecycle import FINAL_MESSAGE_STATUSES, MessageStatus
from clarion.services import accounts, campaigns
from clarion.store import campaigns as campaign_store
from clarion.store import messages as message_store
from clarion.store.db import Database
from clarion.store.schema import ledger, messages
from clarion.store.types import from_micros

PRICE = Decimal("0.05")
ENTRY = "from clarion.cli import main; main()"


def env_for(database_url: str, ledger_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLARION_")}
    env.update(
        {
            "CLARION_DATABASE_URL": database_url,
            "CLARION_DEFAULT_CHANNEL": "sim_sms",
            "CLARION_SIM_LEDGER": str(ledger_path),
            "CLARION_SIM_DLR_MIN_DELAY": "0",
            "CLARION_SIM_DLR_MAX_DELAY": "0",
            "CLARION_SIM_UNDELIVERED_RATE": "0",
            "CLARION_SIM_REJECTED_RATE": "0",
            "CLARION_LEASE_SECONDS": "2",
            "CLARION_CLAIM_TIMEOUT": "5",
            "CLARION_HOUSEKEEPING_INTERVAL": "0.5",
            "CLARION_POLL_INTERVAL": "0.05",
            "CLARION_BATCH_SIZE": "50",
            "CLARION_IMPORT_WORKERS": "0",
            "CLARION_PRICE_PER_SEGMENT": str(PRICE),
            "CLARION_DATA_DIR": str(ledger_path.parent / "data"),
        }
    )
    env.update(extra)
    return env


@dataclass
class Fleet:
    """Processes started with ``args`` (after the CLI entry point), restartable."""

    args: list[str]
    env: dict[str, str]
    size: int
    log_dir: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    kills: int = 0
    started: int = 0

    def _spawn(self) -> subprocess.Popen[bytes]:
        self.started += 1
        log = (self.log_dir / f"proc-{self.started}.log").open("wb")
        return subprocess.Popen(
            [sys.executable, "-c", ENTRY, *self.args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def start(self) -> None:
        self.procs = [self._spawn() for _ in range(self.size)]

    def kill_one(self, rng: random.Random) -> None:
        index = rng.randrange(len(self.procs))
        victim = self.procs[index]
        if victim.poll() is None:
            victim.send_signal(signal.SIGKILL)
            self.kills += 1
        victim.wait()
        self.procs[index] = self._spawn()

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob("*.log")))


async def prepare(
    db: Database, *, campaigns_count: int, per_campaign: int, rate: int
) -> tuple[int, list[int]]:
    """An account with enough money and ``campaigns_count`` started campaigns."""
    total = campaigns_count * per_campaign
    new = await accounts.create(
        db, name="chaos", balance=PRICE * total + Decimal("1.00"), currency="USD"
    )
    ids: list[int] = []
    for n in range(campaigns_count):
        row = await campaigns.create(
            db,
            account_id=new.account_id,
            spec=campaigns.CampaignSpec(
                name=f"chaos {n}", text="Chaos test", rate_limit=rate, rate_period=1
            ),
            default_channel="sim_sms",
            price_per_segment=PRICE,
        )
        start = n * per_campaign
        for chunk in range(start, start + per_campaign, 5000):
            size = min(5000, start + per_campaign - chunk)
            await campaigns.add_recipients(
                db,
                account_id=new.account_id,
                campaign_id=row.id,
                entries=[
                    campaigns.RecipientInput(f"+7701{i:07d}") for i in range(chunk, chunk + size)
                ],
                limit=5000,
            )
        ids.append(int(row.id))
    for cid in ids:
        await campaigns.start(db, account_id=new.account_id, campaign_id=cid)
    return new.account_id, ids


async def all_final(db: Database, campaign_ids: list[int]) -> bool:
    async with db.read() as conn:
        for cid in campaign_ids:
            if await campaign_store.status(conn, cid) != "DONE":
                return False
    return True


async def run_chaos(
    db: Database,
    fleet: Fleet,
    campaign_ids: list[int],
    *,
    kill_every: tuple[float, float],
    chaos_seconds: float,
    deadline: float,
    seed: int = 7,
) -> None:
    """Kill a random process every ``kill_every`` seconds for ``chaos_seconds`` (or
    until every campaign is DONE), then let the fleet finish before ``deadline``."""
    rng = random.Random(seed)
    fleet.start()
    began = time.monotonic()
    try:
        while time.monotonic() - began < chaos_seconds:
            await asyncio.sleep(rng.uniform(*kill_every))
            if await all_final(db, campaign_ids):
                break
            fleet.kill_one(rng)
        while not await all_final(db, campaign_ids):
            assert time.monotonic() - began < deadline, (
                "campaigns not DONE in time\n" + (fleet.logs()[-4000:])
            )
            await asyncio.sleep(0.5)
    finally:
        fleet.stop()


@dataclass
class Verdict:
    messages: int
    submissions: int
    duplicates: int
    lost: int
    statuses: dict[str, int]

    def line(self) -> str:
        return (
            f"messages {self.messages}, submissions {self.submissions}, duplicates "
            f"{self.duplicates}, lost {self.lost}, statuses {self.statuses}"
        )


def carrier_record(ledger_path: Path) -> Counter[int]:
    with sqlite3.connect(ledger_path) as conn:
        rows = conn.execute("SELECT message_id FROM submissions").fetchall()
    return Counter(int(r[0]) for r in rows)


async def verify(
    db: Database, account_id: int, campaign_ids: list[int], ledger_path: Path, opening: Decimal
) -> Verdict:
    """Every invariant of the architecture after the chaos."""
    sent = carrier_record(ledger_path)
    async with db.read() as conn:
        rows = (
            await conn.execute(
                select(messages.c.id, messages.c.status, messages.c.campaign_id).where(
                    messages.c.campaign_id.in_(campaign_ids)
                )
            )
        ).all()
        for cid in campaign_ids:
            counters = await campaign_store.counters(conn, cid)
            grouped = await message_store.group_by_status(conn, cid)
            for status in MessageStatus:
                c = counters[status.value]
                expected: Any = grouped.get(status.value, (0, 0, Decimal(0)))
                assert (c.messages, c.segments, c.cost) == expected, (cid, status)
        charged = (
            await conn.execute(
                select(
                    func.coalesce(func.sum(type_coerce(messages.c.charged, BigInteger)), 0)
                ).where(messages.c.campaign_id.in_(campaign_ids))
            )
        ).scalar_one()
        ledger_total = (
            await conn.execute(
                select(func.coalesce(func.sum(type_coerce(ledger.c.amount, BigInteger)), 0)).where(
                    ledger.c.account_id == account_id
                )
            )
        ).scalar_one()
    balance = (await accounts.get(db, account_id)).balance
    statuses = Counter(r.status for r in rows)
    ids = {r.id for r in rows}
    duplicates = sum(n - 1 for mid, n in sent.items() if n > 1)
    never_sent = [r.id for r in rows if sent.get(r.id, 0) == 0]
    not_final = [r.id for r in rows if MessageStatus(r.status) not in FINAL_MESSAGE_STATUSES]
    assert set(sent) <= ids, "the carrier got messages that do not exist"
    # Money: each message charged exactly its price once; balance == ledger.
    assert from_micros(int(charged)) == PRICE * len(rows)
    assert balance == from_micros(int(ledger_total))
    assert balance == opening - PRICE * len(rows)
    return Verdict(
        messages=len(rows),
        submissions=sum(sent.values()),
        duplicates=duplicates,
        lost=len(set(never_sent) | set(not_final)),
        statuses=dict(statuses),
    )
