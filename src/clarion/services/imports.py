"""Recipient imports as background tasks: files (CSV / XLS / XLSX) and contact groups.

Life of a task:

1. ``start_file_import`` / ``start_group_import`` create the task and, in the same
   transaction, lock the campaign's recipient list (``campaigns.import_task_id``):
   while it runs, other recipient additions are refused (Mobizon code 10). With
   ``replace`` the previous recipients are deleted in that transaction too.
2. ``run`` leases the task and processes the source in chunks. Each chunk is
   screened (in a process pool when the caller gives one), then written in ONE
   transaction: the accepted messages, the rejected rows (the downloadable report)
   and the task's checkpoint. A crash loses at most the chunk in flight, and a
   resumed task (``run`` again once the lease has expired) continues after the
   checkpoint: no row is imported twice or skipped.
3. At the end the task is DONE with counts per result code and the campaign is
   unlocked. A file that turns out unreadable half-way (wrong encoding, garbage)
   fails the task and removes what it had imported (all its messages have ids
   above the ``watermark`` recorded at the start, since the campaign was locked).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
import uuid
from collections import Counter, deque
from collections.abc import AsyncGenerator, Callable, Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import asdict
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from clarion.clock import utcnow
from clarion.domain import recipients, templates
from clarion.domain.lifecycle import EDITABLE_CAMPAIGN_STATUSES
from clarion.imports import readers
from clarion.imports.pipeline import ChunkResult, ScreenSpec, SourceRow, screen_rows
from clarion.services import campaigns as campaign_service
from clarion.services import pricing
from clarion.services.errors import Conflict, InvalidInput, NotFound
from clarion.store import accounts as account_store
from clarion.store import campaigns as campaign_store
from clarion.store import contacts as contact_store
from clarion.store import messages as message_store
from clarion.store import stoplist
from clarion.store import tasks as store
from clarion.store.db import Database
from clarion.store.types import from_micros, to_micros

log = logging.getLogger(__name__)

CHUNK = 5_000
LEASE = timedelta(seconds=120)
Progress = Callable[[int, int | None], None]


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class LeaseLost(RuntimeError):
    """Another worker took the task over; this one stops without writing."""


async def _begin_import(
    db: Database,
    *,
    account_id: int,
    campaign_id: int,
    kind: str,
    params: dict[str, Any],
    source_path: str | None,
    total: int,
    replace: bool,
) -> int:
    now = utcnow()
    async with db.begin() as conn:
        campaign = await campaign_store.get(conn, campaign_id, account_id=account_id)
        if campaign is None:
            raise NotFound(f"campaign {campaign_id} not found")
        if campaign.status not in EDITABLE_CAMPAIGN_STATUSES:
            raise Conflict(
                f"campaign {campaign_id} is {campaign.status}; recipients can only be added "
                "to a DRAFT"
            )
        if campaign.import_task_id is not None:
            raise Conflict(
                f"campaign {campaign_id} is locked by import task {campaign.import_task_id}"
            )
        if replace:
            await message_store.delete_all(conn, campaign_id=campaign_id)
        params = {**params, "watermark": await message_store.last_id(conn, campaign_id=campaign_id)}
        task_id = await store.create(
            conn,
            account_id=account_id,
            kind=kind,
            campaign_id=campaign_id,
            params=params,
            source_path=source_path,
            total=total,
            now=now,
        )
        if not await store.lock_campaign(
            conn, campaign_id=campaign_id, task_id=task_id, allowed=EDITABLE_CAMPAIGN_STATUSES
        ):
            raise Conflict(f"campaign {campaign_id} changed; no import started")
    return task_id


async def start_file_import(
    db: Database,
    *,
    account_id: int,
    campaign_id: int,
    path: Path,
    options: readers.CsvOptions,
    replace: bool = False,
    owned_file: bool = False,
    placeholders_flag: int | None = None,
) -> int:
    """Queue an import of ``path``; returns the task id. The file must stay in place
    until the task ends; an ``owned_file`` (an upload) is deleted when it ends."""
    if options.encoding is not None and options.encoding.upper() not in readers.ENCODINGS:
        try:
            "".encode(options.encoding)
        except LookupError as exc:
            raise InvalidInput(f"unknown encoding {options.encoding!r}", field="encoding") from exc
    total = await asyncio.to_thread(readers.count_rows, path, options)
    return await _begin_import(
        db,
        account_id=account_id,
        campaign_id=campaign_id,
        kind="file",
        params={
            "options": asdict(options),
            "owned_file": owned_file,
            "placeholders_flag": _flag(placeholders_flag),
        },
        source_path=str(path),
        total=total or 0,
        replace=replace,
    )


async def start_group_import(
    db: Database,
    *,
    account_id: int,
    campaign_id: int,
    group_ids: Sequence[int],
    replace: bool = False,
    placeholders_flag: int | None = None,
) -> int:
    async with db.read() as conn:
        found = await contact_store.existing_groups(
            conn, account_id=account_id, group_ids=group_ids
        )
    missing = [g for g in group_ids if g not in found]
    if missing:
        raise NotFound(f"contact group {missing[0]} not found")
    return await _begin_import(
        db,
        account_id=account_id,
        campaign_id=campaign_id,
        kind="group",
        params={"group_ids": list(group_ids), "placeholders_flag": _flag(placeholders_flag)},
        source_path=None,
        total=0,
        replace=replace,
    )


def _flag(value: int | None) -> int | None:
    """A per-import placeholders flag (Mobizon passes it per request), checked."""
    if value is not None and value not in tuple(templates.PlaceholdersFlag):
        raise InvalidInput("placeholders_flag must be 1, 2 or 3", field="placeholders_flag")
    return value


async def get(db: Database, *, account_id: int, task_id: int) -> Any:
    async with db.read() as conn:
        row = await store.get(conn, task_id, account_id=account_id)
    if row is None:
        raise NotFound(f"task {task_id} not found")
    return row


async def rejections(db: Database, *, account_id: int, task_id: int) -> list[tuple[int, str, int]]:
    await get(db, account_id=account_id, task_id=task_id)
    out: list[tuple[int, str, int]] = []
    after = 0
    async with db.read() as conn:
        while True:
            page = await store.rejections(conn, task_id=task_id, after_row=after)
            out.extend(page)
            if len(page) < 10_000:
                return out
            after = page[-1][0]


# --- running ------------------------------------------------------------------------


def _file_rows(
    path: Path, options: readers.CsvOptions, template_text: str | None, after: int
) -> Iterator[SourceRow]:
    if template_text is not None:
        layout, body = readers.template_rows(path, options, templates.placeholders(template_text))
        for number, cells in body:
            if number > after:
                yield number, layout.phone(cells), layout.variables(cells)
        return
    for number, cells in readers.rows(path, options):
        if number > after:
            yield number, (cells[0] if cells else ""), None


def _take(iterator: Iterator[SourceRow], size: int) -> list[SourceRow]:
    return list(itertools.islice(iterator, size))


_MAX_SCREENING = 8  # chunks one task has screened at once, bounding its memory


async def _screened(
    loop: asyncio.AbstractEventLoop,
    executor: Executor | None,
    spec: ScreenSpec,
    source: Iterator[SourceRow],
    size: int,
) -> AsyncGenerator[tuple[list[SourceRow], ChunkResult], None]:
    """The source's chunks with their screening results, in order, as a pipeline:
    while the caller writes chunk N, up to ``min(cpu_count, 8) + 1`` later chunks are
    being screened (in the executor's processes) and the one after them is being read
    (in a thread), so every core has work and memory stays flat (a few chunks).

    The outcome is the sequential loop's: chunks come out in source order, and an
    error reading chunk N is raised only after chunks N-1 and before have been
    yielded (and so written), as it would be when read one after another."""
    ahead = min(os.cpu_count() or 1, _MAX_SCREENING) + 1
    screening: deque[tuple[list[SourceRow], asyncio.Future[ChunkResult]]] = deque()
    reading: asyncio.Future[list[SourceRow]] | None = None
    failure: Exception | None = None
    try:
        reading = asyncio.ensure_future(asyncio.to_thread(_take, source, size))
        while True:
            while reading is not None and len(screening) < ahead:
                try:
                    chunk = await reading
                except Exception as exc:  # raised below, after the chunks before it
                    failure, reading = exc, None
                    break
                if not chunk:
                    reading = None
                    break
                screening.append((chunk, _screen(loop, executor, spec, chunk)))
                reading = asyncio.ensure_future(asyncio.to_thread(_take, source, size))
            if not screening:
                break
            chunk, future = screening.popleft()
            yield chunk, await future
        if failure is not None:
            raise failure
    finally:
        for _, future in screening:
            future.cancel()
        if reading is not None:
            # The thread cannot be interrupted: let it finish with the file.
            await asyncio.gather(reading, return_exceptions=True)


async def run(
    db: Database,
    task_id: int,
    *,
    owner: str | None = None,
    executor: Executor | None = None,
    progress: Progress | None = None,
    chunk_size: int = CHUNK,
) -> str:
    """Run (or resume) a task to its end; returns its final status. Returns at once
    if another live worker holds it."""
    owner = owner or worker_id()
    now = utcnow()
    async with db.begin() as conn:
        if not await store.lease(conn, task_id=task_id, owner=owner, now=now, until=now + LEASE):
            row = await store.get(conn, task_id)
            return str(row.status) if row is not None else "MISSING"
        task = await store.get(conn, task_id)
        campaign = await campaign_store.get(conn, task.campaign_id)
        account = await account_store.get(conn, task.account_id)
    if campaign is None or account is None:
        return await _fail(db, task, owner, "the campaign was deleted", rollback=False)
    async with db.read() as conn:
        prices = await pricing.table_for(
            conn, account_id=account.id, channel=campaign.channel, currency=account.currency
        )
    spec = ScreenSpec(
        campaign_type=campaign.type,
        text=campaign.text,
        placeholders_flag=(task.params or {}).get("placeholders_flag")
        or campaign.placeholders_flag,
        price_micros_per_segment=to_micros(campaign.price_per_segment),
        allowed_countries=(
            frozenset(c.upper() for c in account.allowed_countries)
            if account.allowed_countries is not None
            else None
        ),
        blocked_operators=frozenset(o.lower() for o in account.blocked_operators or []),
        prices=prices or None,
        unit_segments=(
            None if campaign.channel == "sms" else campaign_service.unit_segments(campaign)
        ),
    )
    counts: Counter[str] = Counter(task.counts or {})
    done = int(task.done)
    loop = asyncio.get_running_loop()
    try:
        if task.kind == "file":
            options = readers.CsvOptions(**task.params["options"])
            template_text = campaign.text if campaign.type == "template" else None
            source = _file_rows(Path(task.source_path), options, template_text, task.checkpoint)
            screened = _screened(loop, executor, spec, source, chunk_size)
            async with contextlib.aclosing(screened):
                async for chunk, result in screened:
                    done += len(chunk)
                    await _write(db, task, owner, result, chunk[-1][0], done, counts, account.id)
                    if progress is not None:
                        progress(done, task.total or None)
        else:
            after = int(task.checkpoint)
            while True:
                async with db.read() as conn:
                    numbers = await contact_store.group_numbers(
                        conn,
                        account_id=account.id,
                        group_ids=task.params["group_ids"],
                        after_card_id=after,
                        limit=chunk_size,
                    )
                    variables = (
                        await contact_store.card_variables(
                            conn, account_id=account.id, card_ids=[c for c, _ in numbers]
                        )
                        if campaign.type == "template"
                        else {}
                    )
                if not numbers:
                    break
                rows: list[SourceRow] = [(c, p, variables.get(c)) for c, p in numbers]
                result = await _screen(loop, executor, spec, rows)
                after = numbers[-1][0]
                done += len(rows)
                await _write(db, task, owner, result, after, done, counts, account.id)
                if progress is not None:
                    progress(done, None)
    except readers.ImportFileError as exc:
        return await _fail(db, task, owner, str(exc), rollback=True)
    except LeaseLost:
        log.warning(
            "import task %s taken over by another worker",
            task_id,
            extra={"action": "task_lease_lost"},
        )
        return "RUNNING"
    now = utcnow()
    async with db.begin() as conn:
        rejected = sum(v for k, v in counts.items() if k != "0")
        await campaign_store.add_rejected(conn, campaign_id=campaign.id, count=rejected)
        await store.finish(
            conn,
            task_id=task_id,
            owner=owner,
            status=store.DONE,
            result={"added": counts.get("0", 0), "rejected": rejected, "codes": dict(counts)},
            error=None,
            now=now,
        )
        await store.unlock_campaign(conn, campaign_id=campaign.id, task_id=task_id)
    log.info("import task %s done: %s", task_id, dict(counts), extra={"action": "task_done"})
    _discard_upload(task)
    return store.DONE


def _discard_upload(task: Any) -> None:
    if task.source_path and (task.params or {}).get("owned_file"):
        Path(task.source_path).unlink(missing_ok=True)


def _screen(
    loop: asyncio.AbstractEventLoop,
    executor: Executor | None,
    spec: ScreenSpec,
    rows: list[SourceRow],
) -> asyncio.Future[ChunkResult]:
    """Start screening ``rows`` (in a thread without an executor); await the result."""
    if executor is None:
        return asyncio.ensure_future(asyncio.to_thread(screen_rows, spec, rows))
    return loop.run_in_executor(executor, screen_rows, spec, rows)


async def _write(
    db: Database,
    task: Any,
    owner: str,
    result: ChunkResult,
    checkpoint: int,
    done: int,
    counts: Counter[str],
    account_id: int,
) -> None:
    now = utcnow()
    async with db.begin() as conn:
        phones = [a.phone for a in result.accepted]
        existing = await message_store.existing_phones(
            conn, campaign_id=task.campaign_id, phones=phones
        )
        blocked = await stoplist.blocked(conn, account_id=account_id, phones=phones)
        rows: list[dict[str, Any]] = []
        rejected = list(result.rejected)
        prices: dict[int, Decimal] = {}  # from_micros once per distinct price
        for a in result.accepted:
            if a.phone in blocked:
                rejected.append((a.row, a.phone, int(recipients.ResultCode.STOP_LIST)))
            elif a.phone in existing:
                rejected.append((a.row, a.phone, int(recipients.ResultCode.DUPLICATE)))
            else:
                price = prices.get(a.price_micros)
                if price is None:
                    price = prices[a.price_micros] = from_micros(a.price_micros)
                rows.append(
                    {
                        "phone": a.phone,
                        "country": a.country,
                        "operator": a.operator,
                        "variables": a.variables,
                        "text": a.text,
                        "segments": a.segments,
                        "price": price,
                    }
                )
        await message_store.insert_new(
            conn, campaign_id=task.campaign_id, rows=rows, now=now, returning=False
        )
        await store.reject_rows(conn, task_id=task.id, rows=rejected)
        counts["0"] += len(rows)
        for _, _, code in rejected:
            counts[str(code)] += 1
        if not await store.advance(
            conn,
            task_id=task.id,
            owner=owner,
            checkpoint=checkpoint,
            done=done,
            counts=dict(counts),
            now=now,
            until=now + LEASE,
        ):
            raise LeaseLost(task.id)


async def _fail(db: Database, task: Any, owner: str, message: str, *, rollback: bool) -> str:
    now = utcnow()
    async with db.begin() as conn:
        if rollback and task.campaign_id is not None:
            await message_store.delete_all(
                conn, campaign_id=task.campaign_id, after_id=int(task.params.get("watermark", 0))
            )
        await store.finish(
            conn,
            task_id=task.id,
            owner=owner,
            status=store.FAILED,
            result=None,
            error=message,
            now=now,
        )
        if task.campaign_id is not None:
            await store.unlock_campaign(conn, campaign_id=task.campaign_id, task_id=task.id)
    log.warning("import task %s failed: %s", task.id, message, extra={"action": "task_failed"})
    _discard_upload(task)
    return store.FAILED
