"""Recipient-file import throughput on SQLite, against a raw baseline in the same run.

    .venv/bin/python bench/import.py [--rows N] [--xlsx-rows M] [--workers W]
                                     [--chunk C] [--db-dir DIR] [--seed S]
                                     [--profile FILE]

Files (generated, not timed): a CSV of ``--rows`` rows (1,000,000) and an XLSX of
``--xlsx-rows`` rows (200,000; written by xlsxwriter in ``constant_memory`` mode),
two columns each (phone, first name), no header. Per row, from a seeded RNG:

* 2 % invalid values: letters (``n/a``, ``unknown``, ``call me``), too short, too
  long, an unassigned country code (all result code 3) and a lone ``-`` (code 1).
* 1 % duplicates: a number already written earlier in the file (any earlier row,
  drawn from a 10,000-number reservoir), possibly in another notation (code 4).
* the rest distinct valid mobile numbers: KZ 30 %, RU 25 %, GB 10 %, DE 10 %,
  BR 10 %, US 8 %, IN 7 %, spread over real operator ranges (:data:`RANGES`; e.g.
  ``+7 701`` plus 7 digits). Tails come from an affine permutation per range, so no
  number repeats by chance. Notations: ``+77011234567`` (60 %), ``77011234567``
  (25 %), ``+7 (701) 123-45-67`` (10 %), ``0077011234567`` (5 %). In the XLSX the
  bare-digit notation is a numeric cell, the others are text cells.

Every range was checked with phonenumbers when it was chosen; at generation time
a sample of every 97th number is validated again, and the baseline below parses
every row, so a generator fault shows up as a wrong outcome, not as a speed-up.

Baseline (timed, same run, same file, before the import), in a child process, so on
one core. CSV: ``csv.reader`` over the file; XLSX: ``python_calamine`` loads the first sheet
and iterates its rows, numbers rendered as integers. For every row: the first cell,
stripped, a ``+`` put in front (or ``00`` replaced by it), ``phonenumbers.parse``,
``phonenumbers.is_valid_number``, ``format_number(E164)`` for the valid ones. The
valid rows go, 5,000 per transaction (``BEGIN`` / ``executemany`` / ``COMMIT``), to
a fresh SQLite file (WAL, ``synchronous=NORMAL``) through ``INSERT OR IGNORE`` into
a table shaped like ``messages`` with its unique ``(campaign_id, phone)`` index and
its ``(campaign_id, status, id)`` index. No carrier or region look-up, no rejection
report, no checkpoint, no counters.

Clarion (timed from ``imports.start_file_import``, which counts the rows, until
``imports.run`` returns ``DONE``): one mass campaign on a fresh SQLite database, a
process pool of ``--workers`` spawned processes that is created and warmed up before
the clock starts (as a server's long-lived pool would be).

Memory: the peak resident set of the whole process tree during the import: the
sum of every process's ``VmHWM`` (peak RSS) from /proc, reset through
``/proc/PID/clear_refs`` just before the import. That sum is an upper bound of the
simultaneous peak, which is also sampled every 20 ms and printed, with each
process's share and CPU seconds. Generation and baseline run in child processes, so
what they leave behind is not counted. Note that spawned pool workers import the
launching script's module again (here this file, with SQLAlchemy and the services;
in production the ``clarion`` CLI): most of a worker's RSS is that, not screening.

Outcome (exit code 1 if wrong; missed targets are only reported): the task is DONE;
its counts per result code equal what the generator wrote; added + rejected = rows;
the campaign has exactly ``added`` messages, all distinct, with the expected count per
country; the NEW counter and the rejection report agree; the baseline accepted
exactly as many distinct numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import csv
import io
import multiprocessing
import os
import pstats
import random
import sqlite3
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import phonenumbers
import python_calamine
import xlsxwriter

from clarion.imports.pipeline import ScreenSpec, screen_rows

# The screening workers are spawned processes that re-import this file as __mp_main__;
# they need only the pipeline and the file libraries above. Keeping the rest out of them
# makes the measured memory that of Clarion's workers, not of this script (a server's
# workers re-import its entry point the same way, and `clarion.cli` keeps its imports
# light).
if __name__ != "__mp_main__":
    from sqlalchemy import text

    from clarion.imports.readers import CsvOptions
    from clarion.services import accounts as account_service
    from clarion.services import campaigns as campaign_service
    from clarion.services import imports
    from clarion.store import tasks as task_store
    from clarion.store.db import Database, upgrade

TARGET_SECONDS_PER_MILLION = 60.0
TARGET_RATE = 1_000_000 / TARGET_SECONDS_PER_MILLION  # rows/s
TARGET_RATIO = 0.6
TARGET_RSS_MB = 300.0
LISTMONK_RATE = 10_000  # rows/s, as claimed; for reference only
BASELINE_CHUNK = 5_000
RESERVOIR = 10_000
PRICE_PER_SEGMENT = Decimal("0.05")
TEXT = "Spring sale: 20% off everything until Sunday. Reply STOP to opt out."
NAMES = ("Aigerim", "Daniyar", "Olga", "Ivan", "Amelia", "Jonas", "Lucas", "Emma", "Priya", "Noah")


T = TypeVar("T")


class BenchError(Exception):
    """The outcome is wrong (never a timing miss)."""


# --- generation ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Country:
    region: str
    share: float
    calling_code: str
    free: int  # random digits after each prefix
    prefixes: tuple[str, ...]  # national prefixes (operator ranges)


def _many(*parts: str) -> tuple[str, ...]:
    return tuple(p for part in parts for p in part.split())


RANGES: tuple[Country, ...] = (
    Country("KZ", 0.30, "7", 7, _many("700 701 702 705 707 708 747 771 775 776 777 778")),
    Country(
        "RU",
        0.25,
        "7",
        7,
        _many(
            "900 901 902 903 905 906 909 910 911 912 913 915 916 917 918 919 920 921",
            "925 926 927 929 950 951 952 953 960 961 962 963 965 967 968 977 978 980",
            "981 985 987 988 989 991 993 995 996 997 999",
        ),
    ),
    Country(
        "GB",
        0.10,
        "44",
        6,
        _many(
            "7400 7401 7402 7403 7404 7405 7407 7408 7409 7411 7412 7413 7414 7415 7416",
            "7417 7418 7419 7500 7501 7502 7503 7504 7505 7506 7507 7508 7701 7702 7703",
            "7704 7705 7706 7707 7708 7709 7710 7711 7712 7713 7714 7715 7716 7717 7718",
            "7719 7800 7801 7802 7803 7804 7805 7806 7807 7808 7809 7900 7901 7902 7903",
            "7904 7905 7906 7907 7908 7909",
        ),
    ),
    Country("DE", 0.06, "49", 8, _many("151 152 157 159 160 162 163")),
    Country("DE", 0.04, "49", 7, _many("170 171 172 173 174 175 176 177 178 179")),
    Country(
        "BR",
        0.10,
        "55",
        8,
        tuple(
            f"{area}9"
            for area in _many(
                "11 12 13 14 15 16 17 18 19 21 22 24 27 28 31 32 33 34 35 37 38 41 42 43",
                "44 45 46 47 48 49 51 53 54 55 61 62 63 64 65 66 67 68 69 71 73 74 75 77",
                "79 81 82 83 84 85 86 87 88 89 91 92 93 94 95 96 97 98 99",
            )
        ),
    ),
    Country(
        "US",
        0.08,
        "1",
        4,
        tuple(
            area + exchange
            for area in _many("201 202 206 212 213 214 305 310 312 404 415 503 512 602 617")
            + _many("646 702 713 718 801 917")
            for exchange in _many("234 345 456 567 678 789 890 923 975 982")
        ),
    ),
    Country(
        "IN",
        0.07,
        "91",
        5,
        _many(
            "70000 70010 72000 73000 74000 75000 76000 77000 78000 79000 80000 81000",
            "82000 83000 84000 85000 86000 87000 88000 89000 90000 91000 92000 93000",
            "94000 95000 96000 97000 98000 99000 98100 98200 98300 98400 98450 98860",
            "99100 99450 99620 63000 62000 61000",
        ),
    ),
)

# (value, expected result code); code 3 = BAD_FORMAT, 1 = EMPTY
INVALID: tuple[tuple[str, int], ...] = (
    ("n/a", 3),
    ("unknown", 3),
    ("call me", 3),
    ("+7 701 123", 3),  # too short
    ("+7 701 123 45 67 890 12", 3),  # too long
    ("+999 123 4567", 3),  # no such country code
    ("-", 1),  # nothing but formatting
)
INVALID_SHARE = 0.02
DUPLICATE_SHARE = 0.01


@dataclass(slots=True)
class Expected:
    """What the generator wrote, to check the import against."""

    rows: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    countries: Counter[str] = field(default_factory=Counter)

    @property
    def added(self) -> int:
        return self.codes["0"]

    @property
    def invalid(self) -> int:
        return sum(n for code, n in self.codes.items() if code not in ("0", "4"))


class _Range:
    """One operator range: distinct tails by an affine permutation of 0..10**free-1."""

    def __init__(self, country: Country, prefix: str, rng: random.Random) -> None:
        self.country = country
        self.head = country.calling_code + prefix
        self.size = 10**country.free
        self.step = rng.randrange(1, self.size)
        while self.step % 2 == 0 or self.step % 5 == 0:  # coprime with 10**free
            self.step = rng.randrange(1, self.size)
        self.offset = rng.randrange(self.size)
        self.used = 0

    def next_digits(self) -> str:
        if self.used >= self.size:
            raise BenchError(f"range +{self.head} exhausted; lower --rows")
        tail = (self.offset + self.step * self.used) % self.size
        self.used += 1
        return f"{self.head}{tail:0{self.country.free}d}"


class Generator:
    """The row stream: ``(value, is_number)``; ``is_number`` marks bare digits that
    an XLSX stores as a numeric cell."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.countries: list[list[_Range]] = [
            [_Range(c, p, self.rng) for p in c.prefixes] for c in RANGES
        ]
        self.weights = [c.share for c in RANGES]
        self.reservoir: list[tuple[str, str]] = []  # (digits, calling code)
        self.seen_valid = 0
        self.expected = Expected()
        self.checked = 0

    def rows(self, count: int) -> Iterator[tuple[str, bool, str]]:
        rng = self.rng
        for _ in range(count):
            name = NAMES[rng.randrange(len(NAMES))]
            draw = rng.random()
            self.expected.rows += 1
            if draw < INVALID_SHARE:
                value, code = INVALID[rng.randrange(len(INVALID))]
                self.expected.codes[str(code)] += 1
                yield value, False, name
                continue
            if draw < INVALID_SHARE + DUPLICATE_SHARE and self.reservoir:
                digits, cc = self.reservoir[rng.randrange(len(self.reservoir))]
                self.expected.codes["4"] += 1
                value, is_number = self._notation(digits, cc)
                yield value, is_number, name
                continue
            ranges = rng.choices(self.countries, self.weights)[0]
            r = ranges[rng.randrange(len(ranges))]
            digits = r.next_digits()
            if self.expected.rows % 97 == 0:
                self._check(digits, r.country.region)
            self.expected.codes["0"] += 1
            self.expected.countries[r.country.region] += 1
            self._remember(digits, r.country.calling_code)
            value, is_number = self._notation(digits, r.country.calling_code)
            yield value, is_number, name

    def _remember(self, digits: str, cc: str) -> None:
        self.seen_valid += 1
        if len(self.reservoir) < RESERVOIR:
            self.reservoir.append((digits, cc))
            return
        slot = self.rng.randrange(self.seen_valid)  # reservoir sampling: any earlier row
        if slot < RESERVOIR:
            self.reservoir[slot] = (digits, cc)

    def _notation(self, digits: str, cc: str) -> tuple[str, bool]:
        draw = self.rng.random()
        if draw < 0.60:
            return "+" + digits, False
        if draw < 0.85:
            return digits, True
        if draw < 0.95:
            rest = digits[len(cc) :]
            return f"+{cc} ({rest[:3]}) {rest[3:6]}-{rest[6:8]}-{rest[8:]}", False
        return "00" + digits, False

    def _check(self, digits: str, region: str) -> None:
        number = phonenumbers.parse("+" + digits, None)
        if not phonenumbers.is_valid_number(number):
            raise BenchError(f"generator: +{digits} is not a valid number")
        if phonenumbers.region_code_for_number(number) != region:
            raise BenchError(f"generator: +{digits} is not in {region}")
        self.checked += 1


def write_csv(path: Path, count: int, seed: int) -> Expected:
    generator = Generator(seed)
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.writelines(f"{value},{name}\n" for value, _, name in generator.rows(count))
    return generator.expected


def write_xlsx(path: Path, count: int, seed: int) -> Expected:
    generator = Generator(seed)
    workbook = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = workbook.add_worksheet("recipients")
    for index, (value, is_number, name) in enumerate(generator.rows(count)):
        if is_number:
            sheet.write_number(index, 0, int(value))
        else:
            sheet.write_string(index, 0, value)
        sheet.write_string(index, 1, name)
    workbook.close()
    return generator.expected


# --- the raw baseline ----------------------------------------------------------------

_BASELINE_SCHEMA = (
    "CREATE TABLE messages (id INTEGER PRIMARY KEY, campaign_id INTEGER NOT NULL, "
    "phone TEXT NOT NULL, status TEXT NOT NULL, segments INTEGER NOT NULL, "
    "price INTEGER NOT NULL, created_at TEXT NOT NULL, UNIQUE (campaign_id, phone))",
    "CREATE INDEX ix_messages_status ON messages (campaign_id, status, id)",
)
_BASELINE_INSERT = (
    "INSERT OR IGNORE INTO messages (campaign_id, phone, status, segments, price, created_at) "
    "VALUES (1, ?, 'NEW', 1, 50000, '2026-01-01 00:00:00')"
)


@dataclass(frozen=True, slots=True)
class Baseline:
    rows: int
    valid: int
    inserted: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


def csv_values(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.reader(fh):
            yield row[0]


def xlsx_values(path: Path) -> Iterator[str]:
    with python_calamine.CalamineWorkbook.from_path(str(path)) as workbook:
        sheet = workbook.get_sheet_by_index(0)
    for row in sheet.iter_rows():
        value = row[0]
        yield str(int(value)) if isinstance(value, float) else str(value)


def remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def baseline(values: Callable[[Path], Iterable[str]], source: Path, db_path: Path) -> Baseline:
    remove_database(db_path)
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        for statement in ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL"):
            conn.execute(statement)
        for statement in _BASELINE_SCHEMA:
            conn.execute(statement)
        parse, is_valid, fmt = (
            phonenumbers.parse,
            phonenumbers.is_valid_number,
            phonenumbers.format_number,
        )
        e164, error = phonenumbers.PhoneNumberFormat.E164, phonenumbers.NumberParseException
        rows = valid = 0
        batch: list[tuple[str]] = []
        before = conn.total_changes
        started = time.perf_counter()
        for raw in values(source):
            rows += 1
            value = raw.strip()
            value = value if value.startswith("+") else "+" + value.removeprefix("00")
            try:
                number = parse(value, None)
            except error:
                continue
            if not is_valid(number):
                continue
            valid += 1
            batch.append((fmt(number, e164),))
            if len(batch) >= BASELINE_CHUNK:
                conn.execute("BEGIN")
                conn.executemany(_BASELINE_INSERT, batch)
                conn.execute("COMMIT")
                batch = []
        if batch:
            conn.execute("BEGIN")
            conn.executemany(_BASELINE_INSERT, batch)
            conn.execute("COMMIT")
        seconds = time.perf_counter() - started
        inserted = conn.total_changes - before
    finally:
        conn.close()
    return Baseline(rows=rows, valid=valid, inserted=inserted, seconds=seconds)


def in_child(function: Callable[..., T], *args: Any) -> T:
    """Run ``function`` in a fresh process, so what it leaves in memory does not count
    in this process's peak during the import."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        return pool.submit(function, *args).result()


# --- memory --------------------------------------------------------------------------


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    stack = [pid]
    while stack:
        current = stack.pop()
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                children = Path(f"/proc/{current}/task/{tid}/children").read_text().split()
            except OSError:
                continue
            for child in children:
                found.append(int(child))
                stack.append(int(child))
    return found


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Usage:
    peak_kb: int  # VmHWM since the reset
    cpu: float  # seconds since start()


class TreeMemory:
    """Peak RSS of this process and its descendants: per-process ``VmHWM`` (reset at
    ``start``) and a sampled simultaneous total; also each one's CPU time."""

    def __init__(self) -> None:
        self.reset_ok = True
        self.sampled_peak_kb = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._cpu: dict[int, float] = {}

    def start(self) -> None:
        for pid in [os.getpid(), *_descendants(os.getpid())]:
            self._cpu[pid] = _cpu_seconds(pid)
            try:
                Path(f"/proc/{pid}/clear_refs").write_text("5")
            except OSError:
                self.reset_ok = False
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            pids = [os.getpid(), *_descendants(os.getpid())]
            total = sum(_status_kb(pid, "VmRSS") for pid in pids)
            self.sampled_peak_kb = max(self.sampled_peak_kb, total)

    def stop(self) -> dict[int, Usage]:
        """Stop sampling; returns peak RSS and CPU time per live process of the tree."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return {
            pid: Usage(_status_kb(pid, "VmHWM"), _cpu_seconds(pid) - self._cpu.get(pid, 0.0))
            for pid in [os.getpid(), *_descendants(os.getpid())]
        }


# --- Clarion -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Imported:
    seconds: float
    peak_mb: float  # sum of per-process peaks
    sampled_peak_mb: float
    main_mb: float  # this process's peak
    others_mb: list[float]  # the other processes' peaks (workers, resource tracker)
    main_cpu: float  # CPU seconds of this process (all threads) during the import
    others_cpu: float
    hwm_reset: bool
    problems: list[str]


def _warm_rows() -> list[tuple[int, object, None]]:
    rows: list[tuple[int, object, None]] = []
    for i, country in enumerate(RANGES):
        for j, prefix in enumerate(country.prefixes):
            digits = country.calling_code + prefix + "1" * country.free
            rows.append((i * 1000 + j, "+" + digits, None))
    return rows


def warm_up(executor: ProcessPoolExecutor, workers: int) -> None:
    """Start every worker and load phonenumbers' metadata there, as in a server whose
    pool has been running for a while."""
    spec = ScreenSpec(
        campaign_type="mass", text=TEXT, placeholders_flag=3, price_micros_per_segment=50_000
    )
    rows = _warm_rows()
    for future in [executor.submit(screen_rows, spec, rows) for _ in range(workers * 4)]:
        future.result()


async def scalar(db: Database, sql: str, **params: object) -> int:
    async with db.read() as conn:
        return int((await conn.execute(text(sql), params)).scalar_one())


async def run_import(
    db: Database,
    *,
    account_id: int,
    path: Path,
    expected: Expected,
    baseline_run: Baseline,
    workers: int,
    chunk: int,
    label: str,
    profiler: cProfile.Profile | None,
) -> Imported:
    campaign = await campaign_service.create(
        db,
        account_id=account_id,
        spec=campaign_service.CampaignSpec(
            name=f"import bench {label}", text=TEXT, sender="Clarion", type="mass"
        ),
        default_channel="fake",
        price_per_segment=PRICE_PER_SEGMENT,
    )
    executor = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        await asyncio.to_thread(warm_up, executor, workers)
        memory = TreeMemory()
        memory.start()
        if profiler is not None:
            profiler.enable()
        started = time.perf_counter()
        task_id = await imports.start_file_import(
            db, account_id=account_id, campaign_id=campaign.id, path=path, options=CsvOptions()
        )
        status = await imports.run(db, task_id, executor=executor, chunk_size=chunk)
        seconds = time.perf_counter() - started
        if profiler is not None:
            profiler.disable()
        peaks = memory.stop()
    finally:
        executor.shutdown()
    problems = [] if status == task_store.DONE else [f"task ended {status}, not DONE"]
    problems += await verify(db, task_id, campaign.id, expected, baseline_run)
    return Imported(
        seconds=seconds,
        peak_mb=sum(u.peak_kb for u in peaks.values()) / 1024,
        sampled_peak_mb=memory.sampled_peak_kb / 1024,
        main_mb=peaks[os.getpid()].peak_kb / 1024,
        others_mb=[u.peak_kb / 1024 for pid, u in peaks.items() if pid != os.getpid()],
        main_cpu=peaks[os.getpid()].cpu,
        others_cpu=sum(u.cpu for pid, u in peaks.items() if pid != os.getpid()),
        hwm_reset=memory.reset_ok,
        problems=problems,
    )


async def verify(
    db: Database, task_id: int, campaign_id: int, expected: Expected, base: Baseline
) -> list[str]:
    """Everything wrong with the outcome (empty when it is right)."""
    problems: list[str] = []
    async with db.read() as conn:
        task = await task_store.get(conn, task_id)
    result = task.result or {}
    codes = {str(k): int(v) for k, v in (result.get("codes") or {}).items()}
    want = {k: v for k, v in expected.codes.items() if v}
    if codes != want:
        problems.append(f"result codes {codes}, generator wrote {want}")
    added = int(result.get("added", -1))
    rejected = int(result.get("rejected", -1))
    if added + rejected != expected.rows:
        problems.append(f"added {added} + rejected {rejected} != {expected.rows} rows")
    c = campaign_id
    rows = await scalar(db, "SELECT count(*) FROM messages WHERE campaign_id = :c", c=c)
    if rows != added:
        problems.append(f"{rows} message rows, task says {added} added")
    distinct = await scalar(
        db, "SELECT count(DISTINCT phone) FROM messages WHERE campaign_id = :c", c=c
    )
    if distinct != rows:
        problems.append(f"{rows - distinct} duplicate phones in the campaign")
    counter = await scalar(
        db,
        "SELECT coalesce(sum(messages), 0) FROM campaign_counters "
        "WHERE campaign_id = :c AND status = 'NEW'",
        c=c,
    )
    if counter != rows:
        problems.append(f"NEW counter {counter}, {rows} rows")
    report = await scalar(db, "SELECT count(*) FROM task_rejections WHERE task_id = :t", t=task_id)
    if report != rejected:
        problems.append(f"{report} rejection rows, task says {rejected} rejected")
    async with db.read() as conn:
        by_country = await conn.execute(
            text("SELECT country, count(*) FROM messages WHERE campaign_id = :c GROUP BY country"),
            {"c": c},
        )
        countries = {str(r[0]): int(r[1]) for r in by_country}
    if countries != dict(expected.countries):
        problems.append(f"messages per country {countries}, expected {dict(expected.countries)}")
    if base.inserted != added:
        problems.append(f"baseline inserted {base.inserted} distinct numbers, Clarion {added}")
    if base.rows - base.valid != expected.invalid:
        problems.append(
            f"baseline found {base.rows - base.valid} invalid rows, generator wrote "
            f"{expected.invalid}"
        )
    return problems


# --- main ----------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1_000_000, help="CSV rows (0: skip)")
    parser.add_argument("--xlsx-rows", type=int, default=200_000, help="XLSX rows (0: skip)")
    parser.add_argument("--workers", type=int, default=2, help="screening processes")
    parser.add_argument("--chunk", type=int, default=imports.CHUNK, help="rows per chunk")
    parser.add_argument("--db-dir", type=Path, default=None, help="default: a temporary dir")
    parser.add_argument("--seed", type=int, default=20261126, help="generator seed")
    parser.add_argument(
        "--profile", type=Path, default=None, help="cProfile the CSV import into this file"
    )
    args = parser.parse_args(argv)
    if args.rows < 0 or args.xlsx_rows < 0 or args.workers <= 0 or args.chunk <= 0:
        parser.error("--rows/--xlsx-rows must be >= 0, --workers and --chunk positive")
    return args


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


@dataclass(frozen=True, slots=True)
class Outcome:
    label: str
    rows: int
    baseline: Baseline
    imported: Imported


async def bench(args: argparse.Namespace, directory: Path) -> int:
    database = directory / "clarion-import-bench.db"
    remove_database(database)
    url = f"sqlite:///{database}"
    load = os.getloadavg()[0]
    upgrade(url)
    db = Database(url)
    outcomes: list[Outcome] = []
    profiler = cProfile.Profile() if args.profile else None
    try:
        account = await account_service.create(
            db, name="bench", balance=Decimal("0"), currency="USD"
        )
        plan: list[tuple[str, int, Callable[[Path, int, int], Expected], Callable[..., Any]]] = []
        if args.rows:
            plan.append(("CSV", args.rows, write_csv, csv_values))
        if args.xlsx_rows:
            plan.append(("XLSX", args.xlsx_rows, write_xlsx, xlsx_values))
        for label, count, write, values in plan:
            path = directory / f"recipients-{count}.{label.lower()}"
            print(f"{label}: writing {count:,} rows to {path} ...", file=sys.stderr)
            started = time.perf_counter()
            seed = args.seed + len(outcomes)
            expected = in_child(write, path, count, seed)
            print(
                f"{label}: written in {time.perf_counter() - started:.1f} s; baseline ...",
                file=sys.stderr,
            )
            base = in_child(baseline, values, path, directory / "baseline.db")
            remove_database(directory / "baseline.db")
            print(f"{label}: baseline {base.rate:,.0f} rows/s; importing ...", file=sys.stderr)
            imported = await run_import(
                db,
                account_id=account.account_id,
                path=path,
                expected=expected,
                baseline_run=base,
                workers=args.workers,
                chunk=args.chunk,
                label=label,
                profiler=profiler if label == "CSV" else None,
            )
            print(f"{label}: imported in {imported.seconds:.1f} s", file=sys.stderr)
            outcomes.append(Outcome(label, count, base, imported))
            remove_database(path)
    finally:
        await db.dispose()
    report(outcomes, load, args)
    if profiler is not None:
        profiler.dump_stats(args.profile)
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(30)
        stats.sort_stats("tottime").print_stats(30)
        print(out.getvalue(), file=sys.stderr)
    problems = [f"{o.label}: {p}" for o in outcomes for p in o.imported.problems]
    if problems:
        print("outcome: FAIL")
        for p in problems:
            print(f"  - {p}")
        return 1
    print(
        "outcome: OK (codes per row as generated, added + rejected = rows, messages "
        "distinct and = added, per-country counts, baseline agrees)"
    )
    return 0


def report(outcomes: list[Outcome], load: float, args: argparse.Namespace) -> None:
    print()
    print(f"workers {args.workers}, chunk {args.chunk:,}, load average (1 min, start) {load:.2f}")
    print(f"{'':<30}{'value':>14}  {'target':>12}")
    for o in outcomes:
        i, b = o.imported, o.baseline
        rate = o.rows / i.seconds
        ratio = rate / b.rate
        memory_note = "" if i.hwm_reset else "  (VmHWM not resettable: whole-run peak)"
        print(f"-- {o.label} ({o.rows:,} rows)")
        print(f"{'  Clarion elapsed (s)':<30}{i.seconds:>14.2f}")
        print(
            f"{'  Clarion rows/s':<30}{rate:>14,.0f}  {f'>= {TARGET_RATE:,.0f}':>12}"
            f"  {verdict(rate >= TARGET_RATE)}"
        )
        print(f"{'  baseline rows/s':<30}{b.rate:>14,.0f}")
        print(
            f"{'  ratio Clarion / baseline':<30}{ratio:>14.3f}  {f'>= {TARGET_RATIO}':>12}"
            f"  {verdict(ratio >= TARGET_RATIO)}"
        )
        print(
            f"{'  peak RSS, tree (MB)':<30}{i.peak_mb:>14.1f}  {f'< {TARGET_RSS_MB:.0f}':>12}"
            f"  {verdict(i.peak_mb < TARGET_RSS_MB)}{memory_note}"
        )
        print(f"{'  sampled simultaneous (MB)':<30}{i.sampled_peak_mb:>14.1f}")
        others = " + ".join(f"{mb:.0f}" for mb in sorted(i.others_mb, reverse=True))
        print(f"{'  this process (MB)':<30}{i.main_mb:>14.1f}")
        print(f"{'  other processes (MB)':<30}{others:>14}")
        print(f"{'  CPU s, this process':<30}{i.main_cpu:>14.1f}")
        print(f"{'  CPU s, other processes':<30}{i.others_cpu:>14.1f}")
    print(f"(listmonk claims about {LISTMONK_RATE:,} rows/s)")
    print()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.db_dir is not None:
            args.db_dir.mkdir(parents=True, exist_ok=True)
            return asyncio.run(bench(args, args.db_dir))
        with tempfile.TemporaryDirectory(prefix="clarion-import-bench-") as tmp:
            return asyncio.run(bench(args, Path(tmp)))
    except BenchError as exc:
        print(f"outcome: FAIL - {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
