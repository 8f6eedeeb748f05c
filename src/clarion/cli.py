"""The ``clarion`` command (Typer + rich). Logging is configured here and only here.

Every command takes ``--database URL`` (default ``CLARION_DATABASE_URL``, else
``sqlite:///./clarion.db``). On SQLite the schema is created / upgraded
automatically; on PostgreSQL run ``clarion db upgrade`` once per release.
"""

from __future__ import annotations

import asyncio
import csv
import importlib
import json
import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from clarion.config import Settings
from clarion.domain.recipients import describe_code
from clarion.services.errors import ServiceError

if TYPE_CHECKING:
    from clarion.store.db import Database

# Import-light on purpose: processes of the import pool are spawned and re-import the
# program's entry point (this module) before they run anything, so SQLAlchemy, the
# services and the web stack are imported inside the commands that use them.


class _Lazy:
    """A module imported on first attribute access."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        return getattr(importlib.import_module(self._name), attribute)


account_service: Any = _Lazy("clarion.services.accounts")
campaign_service: Any = _Lazy("clarion.services.campaigns")
db_module: Any = _Lazy("clarion.store.db")

app = typer.Typer(help="Clarion: self-hosted outbound campaign manager.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
accounts_app = typer.Typer(help="Accounts (tenants) and their balance.", no_args_is_help=True)
campaigns_app = typer.Typer(help="Inspect campaigns.", no_args_is_help=True)
recipients_app = typer.Typer(help="Recipient lists.", no_args_is_help=True)
stoplist_app = typer.Typer(
    help="Stop-lists: an account's, or the system list that applies to every account.",
    no_args_is_help=True,
)
prices_app = typer.Typer(
    help="Price tables: an account's, or the default table that applies to every account.",
    no_args_is_help=True,
)
app.add_typer(db_app, name="db")
app.add_typer(prices_app, name="prices")
app.add_typer(stoplist_app, name="stoplist")
app.add_typer(recipients_app, name="recipients")
app.add_typer(accounts_app, name="accounts")
app.add_typer(campaigns_app, name="campaigns")

console = Console()
err = Console(stderr=True)
T = TypeVar("T")

DatabaseOpt = Annotated[
    str | None,
    typer.Option(
        "--database",
        help="Database URL (default: $CLARION_DATABASE_URL or sqlite:///./clarion.db).",
    ),
]
DEMO_KEY_FILE = Path(".clarion/demo-key")


def _settings(database: str | None, **overrides: Any) -> Settings:
    settings = Settings()
    if database:
        overrides["database_url"] = database
    return settings.model_copy(update=overrides) if overrides else settings


def _logging(verbose: bool = False, log_format: str = "text") -> None:
    """Configure the root logger: rich text, or one JSON object per line
    (``CLARION_LOG_FORMAT=json``, see clarion.logs) on stderr."""
    handler: logging.Handler
    if log_format == "json":
        from clarion.logs import JsonFormatter

        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
    else:
        handler = RichHandler(console=err, show_path=False, rich_tracebacks=True)
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[handler],
        force=True,
    )


def _prepare(settings: Settings) -> None:
    try:
        db_module.ensure_schema(settings.database_url)
    except (db_module.SchemaOutdated, db_module.DatabaseURLError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc


def _rate(text: str | None) -> int:
    return _whole(text, "rate limit")


def _whole(text: str | None, name: str) -> int:
    try:
        return int(str(text))
    except ValueError:
        err.print(f"[red]error:[/red] {name} {text!r} is not a whole number")
        raise typer.Exit(2) from None


def _prepare_when_reachable(settings: Settings, *, max_wait: float = 10.0) -> None:
    """``_prepare``, waiting (with backoff, logging each retry) while the database is
    unreachable: a worker started during an outage starts when it is back."""
    from sqlalchemy.exc import OperationalError

    delay = 0.5
    while True:
        try:
            _prepare(settings)
            return
        except OperationalError as exc:
            message = str(exc).splitlines()[0][:200]
            logging.getLogger("clarion.cli").warning(
                "database unreachable at start (%s); retrying in %.1f s", message, delay
            )
            time.sleep(delay)
            delay = min(delay * 2, max_wait)


def _run(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    async def main() -> T:
        db = db_module.Database(settings.database_url)
        try:
            return await work(db)
        finally:
            await db.dispose()

    try:
        return asyncio.run(main())
    except ServiceError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from exc


def _amount(value: str, name: str) -> Decimal:
    try:
        amount = Decimal(value)
    except InvalidOperation as exc:
        raise typer.BadParameter(f"{name} must be a decimal amount like 100.00") from exc
    if not amount.is_finite():
        raise typer.BadParameter(f"{name} must be a finite amount")
    return amount


@db_app.command("upgrade")
def db_upgrade(database: DatabaseOpt = None) -> None:
    """Create or upgrade the schema to the latest migration."""
    settings = _settings(database)
    db_module.upgrade(settings.database_url)
    console.print("schema is up to date")


@accounts_app.command("create")
def accounts_create(
    name: str,
    balance: Annotated[str, typer.Option(help="Opening balance.")] = "100.00",
    currency: Annotated[str, typer.Option(help="ISO 4217 currency.")] = "USD",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    database: DatabaseOpt = None,
) -> None:
    """Create an account and print its id and API key (shown only once)."""
    settings = _settings(database)
    _prepare(settings)
    amount = _amount(balance, "balance")
    new = _run(
        settings,
        lambda db: account_service.create(db, name=name, balance=amount, currency=currency),
    )
    if as_json:
        typer.echo(json.dumps({"account_id": new.account_id, "api_key": new.api_key}))
    else:
        console.print(f"account_id: {new.account_id}")
        console.print(f"api_key:    {new.api_key}  (store it now; it is not shown again)")


@accounts_app.command("topup")
def accounts_topup(account_id: int, amount: str, database: DatabaseOpt = None) -> None:
    """Add AMOUNT to an account's balance."""
    settings = _settings(database)
    _prepare(settings)
    value = _amount(amount, "amount")
    balance = _run(
        settings, lambda db: account_service.topup(db, account_id=account_id, amount=value)
    )
    console.print(f"account {account_id} balance: {balance}")


@accounts_app.command("configure")
def accounts_configure(
    account_id: int,
    refund_policy: Annotated[
        str | None,
        typer.Option(
            help="none (charge on submit, keep it) or undelivered (refund UNDELIVERED / "
            "REJECTED reports)."
        ),
    ] = None,
    operator: Annotated[
        bool | None,
        typer.Option(
            "--operator/--no-operator", help="May moderate every account's campaigns via /v1."
        ),
    ] = None,
    low_balance: Annotated[
        str | None,
        typer.Option(help="Emit balance.low below this balance ('off' to stop)."),
    ] = None,
    rate_limit: Annotated[
        str | None,
        typer.Option(help="Messages/s over all the account's campaigns and workers ('off')."),
    ] = None,
    moderation: Annotated[
        bool | None,
        typer.Option(
            "--moderation/--no-moderation", help="Hold every campaign of the account for review."
        ),
    ] = None,
    licences: Annotated[
        int | None,
        typer.Option(help="Agent licences (wolkvox: licences x 1000 API requests a day)."),
    ] = None,
    vdn_id: Annotated[
        str | None,
        typer.Option(help="The account's iSales VDN id, 1-9999 ('off': the account id)."),
    ] = None,
    database: DatabaseOpt = None,
) -> None:
    """Set an account's refund policy, operator role, moderation, low-balance alert,
    voice licences or iSales VDN."""
    settings = _settings(database)
    _prepare(settings)
    threshold = (
        None if low_balance is None or low_balance == "off" else _amount(low_balance, "low-balance")
    )
    row = _run(
        settings,
        lambda db: account_service.configure(
            db,
            account_id=account_id,
            refund_policy=refund_policy,
            is_operator=operator,
            moderation_required=moderation,
            low_balance=threshold,
            set_low_balance=low_balance is not None,
            rate_limit=None if rate_limit in (None, "off") else _rate(rate_limit),
            set_rate_limit=rate_limit is not None,
            licences=licences,
            vdn_id=None if vdn_id in (None, "off") else _whole(vdn_id, "vdn-id"),
            set_vdn_id=vdn_id is not None,
        ),
    )
    console.print(
        f"account {row.id}: refund policy {row.refund_policy}, operator "
        f"{'yes' if row.is_operator else 'no'}, moderation "
        f"{'required' if row.moderation_required else 'by content rules'}, licences "
        f"{row.licences}, VDN {row.vdn_id if row.vdn_id is not None else row.id}"
    )


@accounts_app.command("isales-credentials")
def accounts_isales_credentials(
    api_key: Annotated[str, typer.Argument(help="An API key of the account.")],
    database: DatabaseOpt = None,
) -> None:
    """Print the iSales AK/SK pair of an API key (Huawei's auth-v2 signature; derived
    from the key with the server secret, so nothing more is stored)."""
    from clarion.dialects.isales.wire import credentials

    settings = _settings(database)
    _prepare(settings)
    ak, sk = _run(settings, lambda db: credentials(db, settings, api_key))
    console.print(f"AK {ak}")
    console.print(f"SK {sk}")


@accounts_app.command("list")
def accounts_list(database: DatabaseOpt = None) -> None:
    """List accounts with their balance."""
    settings = _settings(database)
    _prepare(settings)
    rows = _run(settings, account_service.list_all)
    table = Table("id", "name", "balance", "currency", "created")
    for r in rows:
        table.add_row(str(r.id), r.name, str(r.balance), r.currency, r.created_at.isoformat())
    console.print(table)


@campaigns_app.command("list")
def campaigns_list(
    account: Annotated[int, typer.Option(help="Account id.")],
    status: Annotated[str | None, typer.Option(help="Filter by status.")] = None,
    limit: int = 50,
    database: DatabaseOpt = None,
) -> None:
    """List an account's campaigns, newest first."""
    settings = _settings(database)
    _prepare(settings)
    rows, total = _run(
        settings,
        lambda db: campaign_service.search(
            db, account_id=account, statuses=[status.upper()] if status else [], limit=limit
        ),
    )
    table = Table("id", "name", "channel", "status", "spent", "created", title=f"{total} total")
    for r in rows:
        table.add_row(
            str(r.id),
            r.name,
            r.channel,
            r.status,
            str(r.spent),
            r.created_at.isoformat(timespec="seconds"),
        )
    console.print(table)


def _account_of(settings: Settings, campaign_id: int) -> int:
    async def find(db: Database) -> int:
        from clarion.store import campaigns as store

        async with db.read() as conn:
            row = await store.get(conn, campaign_id)
        if row is None:
            raise ServiceError(f"campaign {campaign_id} not found")
        return int(row.account_id)

    return _run(settings, find)


@campaigns_app.command("show")
def campaigns_show(campaign_id: int, database: DatabaseOpt = None) -> None:
    """Show one campaign."""
    settings = _settings(database)
    _prepare(settings)
    account_id = _account_of(settings, campaign_id)
    row = _run(
        settings,
        lambda db: campaign_service.get(db, account_id=account_id, campaign_id=campaign_id),
    )
    table = Table("field", "value", show_header=False)
    for key, value in row._mapping.items():
        table.add_row(key, "" if value is None else str(value))
    console.print(table)


@campaigns_app.command("stats")
def campaigns_stats(campaign_id: int, database: DatabaseOpt = None) -> None:
    """Messages and segments per status, and cost."""
    settings = _settings(database)
    _prepare(settings)
    account_id = _account_of(settings, campaign_id)
    stats = _run(
        settings,
        lambda db: campaign_service.stats(db, account_id=account_id, campaign_id=campaign_id),
    )
    table = Table("status", "messages", "segments", title=f"campaign {campaign_id}")
    for status, count in stats.messages.items():
        table.add_row(status, str(count), str(stats.segments[status]))
    table.add_row("total", str(stats.total_messages), str(stats.total_segments))
    console.print(table)
    console.print(f"cost: {stats.cost}")


@campaigns_app.command("renew")
def campaigns_renew(campaign_id: int, database: DatabaseOpt = None) -> None:
    """Resume a campaign paused for lack of funds, once the balance covers it."""
    settings = _settings(database)
    _prepare(settings)
    account_id = _account_of(settings, campaign_id)
    row = _run(
        settings,
        lambda db: campaign_service.resume(
            db, account_id=account_id, campaign_id=campaign_id, funds_only=True
        ),
    )
    console.print(f"campaign {campaign_id}: {row.status}")


@campaigns_app.command("moderation")
def campaigns_moderation(database: DatabaseOpt = None) -> None:
    """List campaigns of every account held for moderation (BSG `spam`)."""
    settings = _settings(database)
    _prepare(settings)
    rows = _run(settings, campaign_service.moderation_queue)
    table = Table("id", "account", "channel", "name", "text", "created")
    for r in rows:
        table.add_row(
            str(r.id), str(r.account_id), r.channel, r.name, r.text[:60], r.created_at.isoformat()
        )
    console.print(table)


@campaigns_app.command("approve")
def campaigns_approve(campaign_id: int, database: DatabaseOpt = None) -> None:
    """Approve a campaign held for moderation: it starts (or waits for its start time)."""
    settings = _settings(database)
    _prepare(settings)
    row = _run(
        settings,
        lambda db: campaign_service.moderate(db, campaign_id=campaign_id, approve=True),
    )
    console.print(f"campaign {campaign_id}: {row.status}")


@campaigns_app.command("decline")
def campaigns_decline(campaign_id: int, database: DatabaseOpt = None) -> None:
    """Decline a campaign held for moderation: it never sends."""
    settings = _settings(database)
    _prepare(settings)
    row = _run(
        settings,
        lambda db: campaign_service.moderate(db, campaign_id=campaign_id, approve=False),
    )
    console.print(f"campaign {campaign_id}: {row.status}")


@recipients_app.command("import")
def recipients_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    campaign: Annotated[int, typer.Option(help="Campaign id (a DRAFT).")],
    encoding: Annotated[
        str | None,
        typer.Option(
            help="KOI8-R, CP866, WINDOWS-1252, WINDOWS-1251, UTF-8, "
            "ASCII, ISO-8859-1, UCS-2 (default: BOM or UTF-8)."
        ),
    ] = None,
    delimiter: Annotated[str, typer.Option(help="CSV column separator.")] = ",",
    enclosure: Annotated[str, typer.Option(help="CSV quote character.")] = "'",
    skip_header: Annotated[bool, typer.Option(help="Skip the first row.")] = False,
    replace: Annotated[bool, typer.Option(help="Delete the current recipients first.")] = False,
    workers: Annotated[
        int | None, typer.Option(help="Screening processes (default CLARION_IMPORT_WORKERS).")
    ] = None,
    report: Annotated[
        Path | None, typer.Option(help="Write the rejected rows (CSV) to this file.")
    ] = None,
    database: DatabaseOpt = None,
) -> None:
    """Import a CSV / XLS / XLSX file of recipients into a campaign, with progress."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from clarion.imports import readers
    from clarion.services import imports

    settings = _settings(database)
    _prepare(settings)
    account_id = _account_of(settings, campaign)
    options = readers.CsvOptions(
        delimiter=delimiter, enclosure=enclosure, skip_header=skip_header, encoding=encoding
    )
    pool_size = settings.import_workers if workers is None else workers

    async def work(db: Database) -> tuple[str, Any, list[tuple[int, str, int]]]:
        task_id = await imports.start_file_import(
            db,
            account_id=account_id,
            campaign_id=campaign,
            path=file.resolve(),
            options=options,
            replace=replace,
        )
        executor = (
            ProcessPoolExecutor(pool_size, mp_context=multiprocessing.get_context("spawn"))
            if pool_size > 0
            else None
        )
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
        ) as bar:
            line = bar.add_task(f"importing {file.name}", total=None)

            def progress(done: int, total: int | None) -> None:
                bar.update(line, completed=done, total=total)

            try:
                status = await imports.run(db, task_id, executor=executor, progress=progress)
            finally:
                if executor is not None:
                    executor.shutdown(cancel_futures=True)
        task = await imports.get(db, account_id=account_id, task_id=task_id)
        rejected = await imports.rejections(db, account_id=account_id, task_id=task_id)
        return status, task, rejected

    status, task, rejected = _run(settings, work)
    if status != "DONE":
        err.print(f"[red]import failed:[/red] {task.error}")
        raise typer.Exit(1)
    result = task.result or {}
    console.print(
        f"task {task.id}: added {result.get('added', 0)}, rejected {result.get('rejected', 0)}"
    )
    codes = {k: v for k, v in (result.get("codes") or {}).items() if k != "0"}
    if codes:
        table = Table("code", "rows", "meaning", title="rejected rows")
        for code, count in sorted(codes.items(), key=lambda kv: int(kv[0])):
            table.add_row(code, str(count), describe_code(int(code)))
        console.print(table)
    if report is not None:
        with report.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["row", "value", "code", "reason"])
            writer.writerows((n, v, c, describe_code(c)) for n, v, c in rejected)
        console.print(f"rejected rows written to {report}")


AccountOpt = Annotated[int | None, typer.Option("--account", help="An account's list.")]
SystemOpt = Annotated[bool, typer.Option("--system", help="The system stop-list.")]


def _owner(account: int | None, system: bool) -> dict[str, Any]:
    if (account is None) == (not system):
        raise typer.BadParameter("give exactly one of --account ID or --system")
    return {"system": True} if system else {"account_id": account}


@stoplist_app.command("add")
def stoplist_add(
    phones: Annotated[list[str], typer.Argument(help="Numbers in international format.")],
    account: AccountOpt = None,
    system: SystemOpt = False,
    comment: str = "",
    database: DatabaseOpt = None,
) -> None:
    """Add numbers to a stop-list (never sent to, rejected with code 5 when added)."""
    from clarion.services import stoplists

    owner = _owner(account, system)
    settings = _settings(database)
    _prepare(settings)
    entries = _run(settings, lambda db: stoplists.add(db, phones=phones, comment=comment, **owner))
    for entry in entries:
        if entry.normalized is None:
            err.print(f"{entry.phone}: not added ({entry.error})")
        else:
            state = "added" if entry.added else "already listed"
            console.print(f"{entry.normalized}: {state}")


@stoplist_app.command("remove")
def stoplist_remove(
    phones: list[str],
    account: AccountOpt = None,
    system: SystemOpt = False,
    database: DatabaseOpt = None,
) -> None:
    """Take numbers off a stop-list."""
    from clarion.services import stoplists

    owner = _owner(account, system)
    settings = _settings(database)
    _prepare(settings)
    removed = _run(settings, lambda db: stoplists.remove_many(db, phones=phones, **owner))
    console.print(f"removed {removed}")


@stoplist_app.command("list")
def stoplist_list(
    account: AccountOpt = None,
    system: SystemOpt = False,
    limit: int = 100,
    database: DatabaseOpt = None,
) -> None:
    """Show a stop-list."""
    from clarion.services import stoplists

    owner = _owner(account, system)
    settings = _settings(database)
    _prepare(settings)
    rows, total = _run(settings, lambda db: stoplists.entries(db, limit=limit, **owner))
    table = Table("phone", "comment", "added", title=f"{total} numbers")
    for r in rows:
        table.add_row(r.phone, r.comment, r.created_at.isoformat(timespec="seconds"))
    console.print(table)


PriceAccountOpt = Annotated[int | None, typer.Option("--account", help="An account's table.")]
DefaultOpt = Annotated[bool, typer.Option("--default", help="The default table.")]


def _price_owner(account: int | None, default: bool) -> dict[str, Any]:
    if (account is None) == (not default):
        raise typer.BadParameter("give exactly one of --account ID or --default")
    return {"default": True} if default else {"account_id": account}


@prices_app.command("load")
def prices_load(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    account: PriceAccountOpt = None,
    default: DefaultOpt = False,
    currency: Annotated[
        str, typer.Option(help="Currency of the default table (an account's is its own).")
    ] = "USD",
    database: DatabaseOpt = None,
) -> None:
    """Replace a price table with a CSV (channel,country,operator,unit,price)."""
    from clarion.services import pricing

    owner = _price_owner(account, default)
    settings = _settings(database)
    _prepare(settings)
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        err.print(f"[red]error:[/red] {file} is not UTF-8 text")
        raise typer.Exit(1) from exc
    if default:
        owner["currency"] = currency

    async def work(db: Database) -> int | list[tuple[int, str]]:
        try:
            return await pricing.load(db, text=text, **owner)
        except pricing.PriceTableError as exc:
            return exc.errors

    outcome = _run(settings, work)
    if isinstance(outcome, list):
        for row, reason in outcome:
            err.print(f"row {row}: {reason}")
        err.print(f"[red]error:[/red] {len(outcome)} bad row(s); the table is unchanged")
        raise typer.Exit(1)
    console.print(f"loaded {outcome} price rules")


@prices_app.command("list")
def prices_list(
    account: PriceAccountOpt = None,
    default: DefaultOpt = False,
    database: DatabaseOpt = None,
) -> None:
    """Show a price table (the default table unless --account is given)."""
    from clarion.services import pricing

    owner = _price_owner(account, default or account is None)
    settings = _settings(database)
    _prepare(settings)
    rows = _run(settings, lambda db: pricing.rules(db, **owner))
    table = Table("channel", "country", "operator", "unit", "price", title=f"{len(rows)} rules")
    for r in rows:
        table.add_row(
            r.channel, r.country or "*", r.operator or "*", r.unit, f"{r.price} {r.currency}"
        )
    console.print(table)


async def _demo_key(db: Database, stored: str) -> tuple[int, str]:
    """The demo account (created on first start) and its key; ``stored`` is the key
    kept in .clarion/demo-key by an earlier start ("" if none)."""
    existing = await account_service.find_by_name(db, "demo")
    if existing is None:
        new = await account_service.create(
            db, name="demo", balance=Decimal("100.00"), currency="USD", label="demo"
        )
        account_id, key = new.account_id, new.api_key
    else:
        account_id = int(existing.id)
        found = await account_service.authenticate(db, stored) if stored else None
        if found is not None and int(found.id) == account_id:
            return account_id, stored
        key = await account_service.rotate_key(db, account_id=account_id, label="demo")
    return account_id, key


def _demo(settings: Settings) -> tuple[int, str]:
    stored = DEMO_KEY_FILE.read_text().strip() if DEMO_KEY_FILE.exists() else ""
    account_id, key = _run(settings, lambda db: _demo_key(db, stored))
    if key != stored:
        DEMO_KEY_FILE.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(DEMO_KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(key + "\n")
    return account_id, key


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Listen address.")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port.")] = None,
    database: DatabaseOpt = None,
    no_dispatcher: Annotated[
        bool, typer.Option("--no-dispatcher", help="API only; run `clarion worker` apart.")
    ] = False,
    demo: Annotated[bool, typer.Option(help="Create / show the demo account.")] = False,
    verbose: bool = False,
) -> None:
    """Run the API, dashboard and (unless --no-dispatcher) the dispatcher."""
    import uvicorn

    from clarion.api import server
    from clarion.api.app import create_app

    overrides: dict[str, Any] = {}
    if host:
        overrides["host"] = host
    if port:
        overrides["port"] = port
    settings = _settings(database, **overrides)
    _logging(verbose, settings.log_format)
    _prepare(settings)
    url = f"http://{settings.host}:{settings.port}"
    console.print(f"[bold]Clarion[/bold] listening on {url}  (API docs: {url}/docs)")
    console.print(f"database: {settings.database_url}")
    if demo:
        account_id, key = _demo(settings)
        console.print(f"demo account {account_id}, API key: [bold]{key}[/bold]")
        console.print(f"try: curl -H 'Authorization: Bearer {key}' {url}/v1/account")
    application = create_app(settings, run_dispatcher=not no_dispatcher)
    # connection limits and the slowloris guard: clarion.api.server, docs/operations.md
    uvicorn_logs = {"log_config": None} if settings.log_format == "json" else {}
    uvicorn.Server(server.config(application, settings, **uvicorn_logs)).run()


@app.command()
def worker(database: DatabaseOpt = None, verbose: bool = False) -> None:
    """Run the dispatcher alone (scale out with several workers on PostgreSQL)."""
    from clarion.dispatch.engine import build_dispatcher

    settings = _settings(database)
    _logging(verbose, settings.log_format)
    _prepare_when_reachable(settings)

    async def main() -> None:
        db = db_module.Database(settings.database_url)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await build_dispatcher(settings, db).run(stop)
        finally:
            await db.dispose()

    console.print(f"worker on {settings.database_url}; Ctrl-C to stop")
    asyncio.run(main())


@app.command()
def status(
    database: DatabaseOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Campaigns and messages by status, queue depth, background tasks and leases."""
    from clarion.clock import utcnow
    from clarion.store import metrics as store_metrics

    settings = _settings(database)
    _prepare(settings)

    async def work(db: Database) -> Any:
        async with db.read() as conn:
            return await store_metrics.snapshot(
                conn, now=utcnow(), lease_seconds=settings.lease_seconds
            )

    snap = _run(settings, work)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "campaigns": snap.campaigns,
                    "messages": snap.messages,
                    "queue_depth": snap.queue_depth,
                    "tasks": snap.tasks,
                    "leased_tasks": snap.leased_tasks,
                    "campaign_leases": snap.campaign_leases,
                    "workers": [
                        {
                            "id": w.id,
                            "host": w.host,
                            "pid": w.pid,
                            "heartbeat_at": w.heartbeat_at.isoformat(),
                            "alive": w.alive,
                            "leases": w.leases,
                        }
                        for w in snap.workers
                    ],
                }
            )
        )
        return
    console.print(f"database: {settings.database_url}")
    console.print(f"queue depth: {snap.queue_depth} NEW messages of RUNNING campaigns")
    for title, counts in (("campaigns", snap.campaigns), ("messages", snap.messages)):
        table = Table("status", title, title=f"{title} by status")
        for name, count in sorted(counts.items()):
            table.add_row(name, str(count))
        console.print(table)
    tasks = ", ".join(f"{k} {v}" for k, v in sorted(snap.tasks.items())) or "none"
    console.print(f"background tasks: {tasks}; leased now: {snap.leased_tasks}")
    table = Table(
        "worker",
        "host",
        "pid",
        "last heartbeat",
        "state",
        "campaign leases",
        title=f"{snap.live_workers} live workers, {snap.campaign_leases} campaign leases",
    )
    for w in snap.workers:
        table.add_row(
            w.id,
            w.host,
            str(w.pid),
            w.heartbeat_at.isoformat(timespec="seconds"),
            "alive" if w.alive else "silent",
            str(w.leases),
        )
    console.print(table)


def main() -> None:
    app()
