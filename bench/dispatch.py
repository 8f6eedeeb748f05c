"""Dispatch throughput on SQLite, against a bare sqlite3 baseline measured in the same run.

    .venv/bin/python bench/dispatch.py [--messages N] [--batch B] [--db-dir DIR]
                                       [--baseline-runs R] [--profile FILE]

Setup (not timed): a fresh SQLite file with the schema, one account whose balance
covers every message, one mass campaign on the zero-latency ``fake`` channel with
N distinct recipients (added through the recipients service, 10,000 per call), then
started through the campaigns service.

Baseline (timed, before Clarion, on byte-for-byte copies of that file): a bare
``sqlite3`` loop with the app's pragmas; per batch ``BEGIN IMMEDIATE``, ``SELECT`` the
next B NEW ids of the campaign (the app's index), one ``UPDATE messages SET
status='SENDING' WHERE id=?`` per row through ``executemany``, ``COMMIT``; until no
NEW row is left. The median of ``--baseline-runs`` runs is reported.

Clarion (timed): ``Dispatcher.tick()`` in a loop, campaign rate limit off, until the
campaign is DONE. Every message goes through its whole life: claim (debit, ledger,
counters), text and price from the row, submit, ACCEPTED with the carrier id, the
DELIVERED report, counters. When a pass does no work the loop runs a housekeeping
pass at once (instead of waiting up to ``housekeeping_interval``), so the SENT -> DONE
tail does not pad the time.

Then the outcome is checked: every message DELIVERED once, the counters table equal
to a GROUP BY over the rows, the balance, campaign spend, charges and ledger down by
exactly N x price. A wrong outcome exits 1; a missed target is only reported.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from sqlalchemy import text

from clarion.channels.fake import FakeChannel
from clarion.config import Settings
from clarion.dispatch.engine import Dispatcher
from clarion.domain.lifecycle import CampaignStatus, MessageStatus
from clarion.services import accounts as account_service
from clarion.services import campaigns as campaign_service
from clarion.store import campaigns as campaign_store
from clarion.store.db import Database, upgrade

TARGET_RATE = 10_000.0  # messages/s
TARGET_RATIO = 0.1  # Clarion messages/s per baseline rows/s
RECIPIENT_CHUNK = 10_000  # the add-recipients limit per call
PRICE_PER_SEGMENT = Decimal("0.05")
CURRENCY = "USD"
MAX_TICKS_WITHOUT_PROGRESS = 1_000


@dataclass(frozen=True, slots=True)
class Setup:
    account_id: int
    campaign_id: int
    price: Decimal  # of every message (one segment)
    balance: Decimal  # before dispatch
    seconds: float


@dataclass(frozen=True, slots=True)
class Run:
    ticks: int
    seconds: float


class BenchError(Exception):
    """The dispatch outcome is wrong (not a timing miss)."""


def phones(count: int) -> list[str]:
    """Distinct valid Kazakh mobile numbers (Kcell)."""
    return [f"+7701{n:07d}" for n in range(count)]


def make_settings(url: str, batch: int) -> Settings:
    return Settings(
        database_url=url,
        default_channel="fake",
        max_campaign_rate=0,
        batch_size=batch,
        price_per_segment=PRICE_PER_SEGMENT,
        housekeeping_interval=0.5,
        claim_timeout=3600.0,
    )


# --- setup -------------------------------------------------------------------------


async def setup(db: Database, settings: Settings, count: int) -> Setup:
    started = time.perf_counter()
    price = PRICE_PER_SEGMENT  # the text below is one GSM-7 segment
    balance = price * count + Decimal("1000")
    account = await account_service.create(db, name="bench", balance=balance, currency=CURRENCY)
    campaign = await campaign_service.create(
        db,
        account_id=account.account_id,
        spec=campaign_service.CampaignSpec(
            name="dispatch bench",
            text="Spring sale: 20% off everything until Sunday. Reply STOP to opt out.",
            sender="Clarion",
            type="mass",
            channel_name="fake",
        ),
        default_channel=settings.default_channel,
        price_per_segment=settings.price_per_segment,
    )
    numbers = phones(count)
    added = 0
    for start in range(0, count, RECIPIENT_CHUNK):
        chunk = numbers[start : start + RECIPIENT_CHUNK]
        results = await campaign_service.add_recipients(
            db,
            account_id=account.account_id,
            campaign_id=campaign.id,
            entries=[campaign_service.RecipientInput(p) for p in chunk],
            limit=settings.max_recipients_per_request,
        )
        bad = [r for r in results if r.message_id is None]
        if bad:
            raise BenchError(f"recipient {bad[0].phone} refused with code {int(bad[0].code)}")
        added += len(results)
        print(f"\r  recipients added: {added:,}/{count:,}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    by_status = await rows_by_status(db, campaign.id)
    if by_status != {MessageStatus.NEW.value: (count, count, micros(price) * count)}:
        raise BenchError(f"setup: expected {count} one-segment NEW messages, got {by_status}")
    started_campaign = await campaign_service.start(
        db, account_id=account.account_id, campaign_id=campaign.id
    )
    if started_campaign.status != CampaignStatus.RUNNING:
        raise BenchError(f"setup: campaign is {started_campaign.status}, expected RUNNING")
    return Setup(
        account_id=account.account_id,
        campaign_id=campaign.id,
        price=price,
        balance=balance,
        seconds=time.perf_counter() - started,
    )


# --- the raw baseline --------------------------------------------------------------


def remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def copy_database(source: Path, target: Path) -> None:
    """A consistent copy (WAL included) through SQLite's backup API."""
    remove_database(target)
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def baseline(path: Path, campaign_id: int, batch: int) -> tuple[int, float]:
    """Claim-and-update over the NEW rows with bare sqlite3; returns (rows, seconds)."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    try:
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=NORMAL",
            "PRAGMA foreign_keys=ON",
            "PRAGMA busy_timeout=30000",
        ):
            conn.execute(pragma)
        select_new = (
            "SELECT id FROM messages WHERE campaign_id = ? AND status = 'NEW' ORDER BY id LIMIT ?"
        )
        update_one = "UPDATE messages SET status = 'SENDING' WHERE id = ?"
        rows = 0
        started = time.perf_counter()
        while True:
            conn.execute("BEGIN IMMEDIATE")
            ids = conn.execute(select_new, (campaign_id, batch)).fetchall()
            if not ids:
                conn.execute("COMMIT")
                break
            conn.executemany(update_one, ids)
            conn.execute("COMMIT")
            rows += len(ids)
        seconds = time.perf_counter() - started
    finally:
        conn.close()
    return rows, seconds


# --- Clarion -------------------------------------------------------------------------


async def campaign_status(db: Database, campaign_id: int) -> str:
    async with db.read() as conn:
        row = await campaign_store.get(conn, campaign_id)
    if row is None:
        raise BenchError(f"campaign {campaign_id} disappeared")
    return str(row.status)


async def dispatch(dispatcher: Dispatcher, campaign_id: int) -> Run:
    """tick() until the campaign is DONE; returns passes and wall time."""
    db = dispatcher.db
    ticks = 0
    idle = 0
    started = time.perf_counter()
    while True:
        busy, _wait = await dispatcher.tick()
        ticks += 1
        if busy:
            idle = 0
            continue
        # Nothing left to claim or apply: SENT -> DONE needs a housekeeping pass.
        await dispatcher.housekeeping()
        if await campaign_status(db, campaign_id) == CampaignStatus.DONE:
            break
        idle += 1
        if idle > MAX_TICKS_WITHOUT_PROGRESS:
            status = await campaign_status(db, campaign_id)
            raise BenchError(f"dispatcher idle but campaign {campaign_id} is {status}")
    return Run(ticks=ticks, seconds=time.perf_counter() - started)


# --- verification --------------------------------------------------------------------
# Raw SQL over integer micro-units (how Money is stored), independent of the store
# helpers under test.


def micros(amount: Decimal) -> int:
    return int(amount * 1_000_000)


async def rows_by_status(db: Database, campaign_id: int) -> dict[str, tuple[int, int, int]]:
    """(messages, segments, price in micros) per status, straight from the rows."""
    async with db.read() as conn:
        result = await conn.execute(
            text(
                "SELECT status, count(*), sum(segments), sum(price) FROM messages "
                "WHERE campaign_id = :c GROUP BY status"
            ),
            {"c": campaign_id},
        )
        return {str(r[0]): (int(r[1]), int(r[2]), int(r[3])) for r in result}


async def scalar(db: Database, sql: str, **params: object) -> int:
    async with db.read() as conn:
        result = await conn.execute(text(sql), params)
        return int(result.scalar_one())


async def verify(db: Database, s: Setup, count: int) -> list[str]:
    """Everything that is wrong with the outcome (empty when it is right)."""
    problems: list[str] = []
    total = micros(s.price) * count
    c = s.campaign_id
    status = await campaign_status(db, c)
    if status != CampaignStatus.DONE:
        problems.append(f"campaign is {status}, not DONE")
    by_status = await rows_by_status(db, c)
    expected = {MessageStatus.DELIVERED.value: (count, count, total)}
    if by_status != expected:
        problems.append(f"rows by status (n, segments, micros) {by_status}, expected {expected}")
    async with db.read() as conn:
        result = await conn.execute(
            text(
                "SELECT status, messages, segments, cost FROM campaign_counters "
                "WHERE campaign_id = :c"
            ),
            {"c": c},
        )
        counters = {str(r[0]): (int(r[1]), int(r[2]), int(r[3])) for r in result}
    for st in MessageStatus:
        got = counters.get(st.value)
        want = by_status.get(st.value, (0, 0, 0))
        if got != want:
            problems.append(f"counter {st.value} is {got}, GROUP BY says {want}")
    balance = await scalar(db, "SELECT balance FROM accounts WHERE id = :a", a=s.account_id)
    if micros(s.balance) - balance != total:
        problems.append(f"balance fell by {micros(s.balance) - balance} micros, expected {total}")
    spent = await scalar(db, "SELECT spent FROM campaigns WHERE id = :c", c=c)
    if spent != total:
        problems.append(f"campaign spent {spent} micros, expected {total}")
    charged = await scalar(db, "SELECT sum(charged) FROM messages WHERE campaign_id = :c", c=c)
    if charged != total:
        problems.append(f"messages charged {charged} micros in total, expected {total}")
    ledger = await scalar(
        db, "SELECT coalesce(sum(amount), 0) FROM ledger WHERE campaign_id = :c", c=c
    )
    if ledger != -total:
        problems.append(f"ledger sum {ledger} micros, expected {-total}")
    odd = await scalar(
        db,
        "SELECT count(*) FROM messages WHERE campaign_id = :c "
        "AND (attempts != 1 OR channel_ref IS NULL OR error_code IS NOT NULL)",
        c=c,
    )
    if odd:
        problems.append(f"{odd} messages with attempts != 1, no carrier id or an error")
    return problems


# --- main ----------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=200_000, help="messages to dispatch")
    parser.add_argument("--batch", type=int, default=500, help="dispatcher and baseline batch")
    parser.add_argument("--db-dir", type=Path, default=None, help="default: a temporary dir")
    parser.add_argument(
        "--baseline-runs", type=int, default=3, help="baseline runs (median reported)"
    )
    parser.add_argument(
        "--profile", type=Path, default=None, help="cProfile the dispatch into this file"
    )
    args = parser.parse_args(argv)
    if args.messages <= 0 or args.batch <= 0 or args.baseline_runs <= 0:
        parser.error("--messages, --batch and --baseline-runs must be positive")
    return args


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


async def bench(args: argparse.Namespace, directory: Path) -> int:
    count: int = args.messages
    batch: int = args.batch
    path = directory / "clarion-bench.db"
    remove_database(path)
    url = f"sqlite:///{path}"
    settings = make_settings(url, batch)

    print(f"setup: {count:,} messages in {path}", file=sys.stderr)
    load = os.getloadavg()[0]  # timings are only comparable on a quiet machine
    upgrade(url)
    db = Database(url)
    try:
        s = await setup(db, settings, count)
        print(f"setup: {s.seconds:.1f} s (not timed)", file=sys.stderr)

        # Baseline on copies of the same rows, before Clarion touches them.
        await db.engine.dispose()  # close pooled connections; the file is quiescent
        copy = directory / "baseline.db"
        runs: list[float] = []
        for i in range(args.baseline_runs):
            copy_database(path, copy)
            rows, seconds = baseline(copy, s.campaign_id, batch)
            if rows != count:
                raise BenchError(f"baseline updated {rows} rows, expected {count}")
            runs.append(rows / seconds)
            print(f"baseline run {i + 1}: {rows / seconds:,.0f} rows/s", file=sys.stderr)
        remove_database(copy)
        baseline_rate = statistics.median(runs)

        dispatcher = Dispatcher(db=db, settings=settings)
        dispatcher.channels["fake"] = FakeChannel(dispatcher.report_sink, record=False)
        profiler = cProfile.Profile() if args.profile else None
        print("dispatching ...", file=sys.stderr)
        if profiler is not None:
            profiler.enable()
        run = await dispatch(dispatcher, s.campaign_id)
        if profiler is not None:
            profiler.disable()
        await dispatcher.close()

        problems = await verify(db, s, count)
    finally:
        await db.dispose()

    rate = count / run.seconds
    ratio = rate / baseline_rate
    print()
    print(f"{'':<28}{'value':>14}  {'target':>12}")
    print(f"{'messages':<28}{count:>14,}")
    print(f"{'batch size':<28}{batch:>14,}")
    print(f"{'Clarion elapsed (s)':<28}{run.seconds:>14.2f}")
    print(f"{'Clarion dispatcher passes':<28}{run.ticks:>14,}")
    print(f"{'load average (1 min, start)':<28}{load:>14.2f}")
    rate_ok = verdict(rate >= TARGET_RATE)
    ratio_ok = verdict(ratio >= TARGET_RATIO)
    print(f"{'Clarion messages/s':<28}{rate:>14,.0f}  {'>= 10,000':>12}  {rate_ok}")
    print(f"{'baseline rows/s (median)':<28}{baseline_rate:>14,.0f}")
    print(f"{'ratio Clarion / baseline':<28}{ratio:>14.3f}  {'>= 0.1':>12}  {ratio_ok}")
    print()
    if profiler is not None:
        profiler.dump_stats(args.profile)
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(30)
        stats.sort_stats("tottime").print_stats(30)
        print(out.getvalue(), file=sys.stderr)
        print(
            f"profile written to {args.profile}. SQLite runs in aiosqlite's worker thread, "
            "which cProfile does not see: time waiting for it shows as select.epoll.poll.",
            file=sys.stderr,
        )
    if problems:
        print("outcome: FAIL")
        for p in problems:
            print(f"  - {p}")
        return 1
    print(
        f"outcome: OK (all {count:,} DELIVERED, counters = GROUP BY, "
        f"balance -{s.price * count} = {count:,} x {s.price})"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.db_dir is not None:
            args.db_dir.mkdir(parents=True, exist_ok=True)
            return asyncio.run(bench(args, args.db_dir))
        with tempfile.TemporaryDirectory(prefix="clarion-bench-") as tmp:
            return asyncio.run(bench(args, Path(tmp)))
    except BenchError as exc:
        print(f"outcome: FAIL - {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
