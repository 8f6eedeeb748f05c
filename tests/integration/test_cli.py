"""The ``clarion`` command, run in-process with Typer's CliRunner on a fresh SQLite file."""

from __future__ import annotations

import asyncio
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from clarion.cli import app
from clarion.services import accounts as account_service
from clarion.services import campaigns as campaign_service
from clarion.store.db import Database

KEY = re.compile(r"^[a-z0-9]{40}$")


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli' / 'clarion.db'}"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def run(runner: CliRunner, url: str, *args: str) -> Result:
    return runner.invoke(app, [*args, "--database", url])


def ok(result: Result) -> str:
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def create_account(
    runner: CliRunner, url: str, name: str = "acme", balance: str = "12.50"
) -> dict[str, Any]:
    out = ok(run(runner, url, "accounts", "create", name, "--balance", balance, "--json"))
    data: dict[str, Any] = json.loads(out)
    return data


def make_campaign(url: str, account_id: int, name: str = "spring sale") -> int:
    """A campaign with two recipients, created through the services."""

    async def work() -> int:
        db = Database(url)
        try:
            row = await campaign_service.create(
                db,
                account_id=account_id,
                spec=campaign_service.CampaignSpec(name=name, text="Hello from Clarion"),
                default_channel="fake",
                price_per_segment=Decimal("0.05"),
            )
            await campaign_service.add_recipients(
                db,
                account_id=account_id,
                campaign_id=row.id,
                entries=[
                    campaign_service.RecipientInput("+77010000000"),
                    campaign_service.RecipientInput("+77010000001"),
                ],
                limit=100,
            )
            return int(row.id)
        finally:
            await db.dispose()

    return asyncio.run(work())


def test_db_upgrade_creates_the_schema(runner: CliRunner, url: str, tmp_path: Path) -> None:
    out = ok(run(runner, url, "db", "upgrade"))
    assert "up to date" in out
    assert (tmp_path / "cli" / "clarion.db").exists()
    # Idempotent.
    ok(run(runner, url, "db", "upgrade"))


def test_accounts_create_json(runner: CliRunner, url: str) -> None:
    ok(run(runner, url, "db", "upgrade"))
    result = run(runner, url, "accounts", "create", "acme", "--balance", "12.50", "--json")
    out = ok(result)
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1
    data = json.loads(lines[0])
    assert set(data) == {"account_id", "api_key"}
    assert isinstance(data["account_id"], int)
    assert KEY.match(data["api_key"])

    async def check() -> None:
        db = Database(url)
        try:
            account = await account_service.authenticate(db, data["api_key"])
            assert account is not None
            assert account.id == data["account_id"]
            assert account.name == "acme"
            assert account.balance == Decimal("12.50")
        finally:
            await db.dispose()

    asyncio.run(check())


def test_accounts_create_works_without_explicit_upgrade(runner: CliRunner, url: str) -> None:
    data = create_account(runner, url)
    assert KEY.match(data["api_key"])


def test_accounts_create_human_output(runner: CliRunner, url: str) -> None:
    out = ok(run(runner, url, "accounts", "create", "acme"))
    assert "account_id" in out
    match = re.search(r"api_key:\s+([a-z0-9]{40})\b", out)
    assert match, out


def test_two_accounts_get_distinct_keys(runner: CliRunner, url: str) -> None:
    a = create_account(runner, url, "a")
    b = create_account(runner, url, "b")
    assert a["account_id"] != b["account_id"]
    assert a["api_key"] != b["api_key"]


def test_topup_and_list(runner: CliRunner, url: str) -> None:
    data = create_account(runner, url)
    account_id = str(data["account_id"])
    out = ok(run(runner, url, "accounts", "topup", account_id, "5"))
    assert "17.5" in out
    listing = ok(run(runner, url, "accounts", "list"))
    assert "acme" in listing
    assert "17.5" in listing
    assert "USD" in listing


@pytest.mark.parametrize("amount", ["five", "NaN", "Infinity", "1e", ""])
def test_topup_bad_amount_fails(runner: CliRunner, url: str, amount: str) -> None:
    data = create_account(runner, url)
    result = run(runner, url, "accounts", "topup", str(data["account_id"]), amount)
    assert result.exit_code != 0
    listing = ok(run(runner, url, "accounts", "list"))
    assert "12.5" in listing


@pytest.mark.parametrize("amount", ["-5", "0", "0.0000001"])
def test_topup_rejected_amount_exits_1(runner: CliRunner, url: str, amount: str) -> None:
    data = create_account(runner, url)
    args = ["accounts", "topup", "--database", url, "--", str(data["account_id"]), amount]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert "amount" in result.output


def test_create_bad_balance_fails(runner: CliRunner, url: str) -> None:
    result = run(runner, url, "accounts", "create", "acme", "--balance", "lots", "--json")
    assert result.exit_code != 0
    result = run(runner, url, "accounts", "create", "acme", "--balance", "-1", "--json")
    assert result.exit_code == 1


def test_topup_unknown_account_exits_1(runner: CliRunner, url: str) -> None:
    create_account(runner, url)
    result = run(runner, url, "accounts", "topup", "999", "5")
    assert result.exit_code == 1
    assert "999" in result.output
    assert "not found" in result.output


def test_campaigns_list_show_stats(runner: CliRunner, url: str) -> None:
    data = create_account(runner, url)
    account_id = data["account_id"]
    campaign_id = make_campaign(url, account_id, name="spring sale")

    listing = ok(run(runner, url, "campaigns", "list", "--account", str(account_id)))
    assert "spring sale" in listing
    assert "DRAFT" in listing
    assert "1 total" in listing

    drafts = ok(
        run(runner, url, "campaigns", "list", "--account", str(account_id), "--status", "draft")
    )
    assert "spring sale" in drafts
    running = ok(
        run(runner, url, "campaigns", "list", "--account", str(account_id), "--status", "RUNNING")
    )
    assert "spring sale" not in running
    assert "0 total" in running

    show = ok(run(runner, url, "campaigns", "show", str(campaign_id)))
    assert "spring sale" in show
    assert "Hello from Clarion" in show
    assert "DRAFT" in show

    stats = ok(run(runner, url, "campaigns", "stats", str(campaign_id)))
    assert "NEW" in stats
    assert "DELIVERED" in stats
    assert re.search(r"NEW\D+2\D+2", stats), stats
    assert re.search(r"total\D+2\D+2", stats), stats
    assert "cost: 0" in stats


def test_campaigns_list_is_scoped_to_the_account(runner: CliRunner, url: str) -> None:
    a = create_account(runner, url, "a")
    b = create_account(runner, url, "b")
    make_campaign(url, a["account_id"], name="only for a")
    listing = ok(run(runner, url, "campaigns", "list", "--account", str(b["account_id"])))
    assert "only for a" not in listing
    assert "0 total" in listing


@pytest.mark.parametrize("command", ["show", "stats"])
def test_unknown_campaign_exits_1(runner: CliRunner, url: str, command: str) -> None:
    ok(run(runner, url, "db", "upgrade"))
    result = run(runner, url, "campaigns", command, "12345")
    assert result.exit_code == 1
    assert "12345" in result.output


def test_unsupported_database_url_fails(runner: CliRunner) -> None:
    result = runner.invoke(app, ["accounts", "list", "--database", "mysql://u@h/db"])
    assert result.exit_code != 0


def test_no_arguments_shows_help(runner: CliRunner) -> None:
    result = runner.invoke(app, [])
    assert "accounts" in result.output
    assert "campaigns" in result.output


def test_recipients_import_with_report(runner: CliRunner, url: str, tmp_path: Path) -> None:
    data = create_account(runner, url)
    campaign_id = make_campaign(url, int(data["account_id"]))
    source = tmp_path / "list.csv"
    source.write_text(
        "number\n+77010000005\n+77010000006\nnot-a-phone\n+77010000005\n", encoding="cp1251"
    )
    report = tmp_path / "rejected.csv"
    out = ok(
        run(
            runner,
            url,
            "recipients",
            "import",
            str(source),
            "--campaign",
            str(campaign_id),
            "--skip-header",
            "--encoding",
            "WINDOWS-1251",
            "--workers",
            "0",
            "--report",
            str(report),
        )
    )
    assert "added 2, rejected 2" in out
    lines = report.read_text().splitlines()
    assert lines[0] == "row,value,code,reason"
    assert [line.split(",")[:3] for line in lines[1:]] == [
        ["4", "not-a-phone", "3"],
        ["5", "+77010000005", "4"],
    ]
    stats = ok(run(runner, url, "campaigns", "stats", str(campaign_id)))
    new_row = next(line for line in stats.splitlines() if " NEW " in line)
    assert new_row.split("│")[2].strip() == "4"  # 2 from make_campaign + 2 imported


def test_recipients_import_of_garbage_fails_cleanly(
    runner: CliRunner, url: str, tmp_path: Path
) -> None:
    data = create_account(runner, url)
    campaign_id = make_campaign(url, int(data["account_id"]))
    source = tmp_path / "garbage.csv"
    source.write_bytes(b"\x00\x01\x02binary\x00garbage")
    result = run(
        runner,
        url,
        "recipients",
        "import",
        str(source),
        "--campaign",
        str(campaign_id),
        "--workers",
        "0",
    )
    assert result.exit_code == 1
    assert "import failed" in result.output


def test_stoplist_commands(runner: CliRunner, url: str) -> None:
    data = create_account(runner, url)
    account = str(data["account_id"])
    out = ok(run(runner, url, "stoplist", "add", "+7 701 000 0001", "bad", "--system"))
    assert "+77010000001: added" in out
    out = ok(run(runner, url, "stoplist", "add", "+77010000002", "--account", account))
    assert "+77010000002: added" in out
    assert "+77010000001" in ok(run(runner, url, "stoplist", "list", "--system"))
    listed = ok(run(runner, url, "stoplist", "list", "--account", account))
    assert "+77010000002" in listed and "+77010000001" not in listed
    assert "removed 1" in ok(
        run(runner, url, "stoplist", "remove", "+77010000002", "--account", account)
    )
    result = run(runner, url, "stoplist", "list")
    assert result.exit_code != 0


def test_voice_licences_vdn_and_isales_credentials(runner: CliRunner, url: str) -> None:
    first = create_account(runner, url, "first")
    second = create_account(runner, url, "second")
    out = ok(
        run(
            runner,
            url,
            "accounts",
            "configure",
            str(first["account_id"]),
            "--licences",
            "3",
            "--vdn-id",
            "77",
        )
    )
    assert "licences 3" in out and "VDN 77" in out
    # a VDN held by another account (set, or its id by default) is refused
    taken = run(runner, url, "accounts", "configure", str(second["account_id"]), "--vdn-id", "77")
    assert taken.exit_code == 1
    clash = run(
        runner,
        url,
        "accounts",
        "configure",
        str(second["account_id"]),
        "--vdn-id",
        str(first["account_id"]),
    )
    assert clash.exit_code == 0  # the first account left its default VDN for 77
    bad = run(runner, url, "accounts", "configure", str(first["account_id"]), "--vdn-id", "0")
    assert bad.exit_code == 1
    out = ok(run(runner, url, "accounts", "isales-credentials", first["api_key"]))
    ak, sk = (line.split()[1] for line in out.strip().splitlines())
    assert ak.startswith("1-") and re.fullmatch(r"[0-9a-f]{64}", sk)
    again = ok(run(runner, url, "accounts", "isales-credentials", first["api_key"]))
    assert again == out  # derived, stable
    unknown = run(runner, url, "accounts", "isales-credentials", "x" * 40)
    assert unknown.exit_code == 1
