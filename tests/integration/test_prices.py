"""Price tables end to end: CSV load, precedence, pricing at add time (API and file
import), the campaign's pre-cost and what the dispatcher debits."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from tests.conftest import Tenant
from tests.helpers import drain, make_campaign
from typer.testing import CliRunner, Result

from clarion.cli import app
from clarion.dispatch.engine import Dispatcher
from clarion.imports.readers import CsvOptions
from clarion.services import accounts, campaigns, imports, pricing
from clarion.store.db import Database
from clarion.store.schema import ledger, messages

CSV_HEADER = "channel,country,operator,unit,price\n"
KCELL = "+77010000001"  # KZ, "Kcell/Activ"
BEELINE = "+77050000001"  # KZ, "Beeline"
T2 = "+77070000001"  # KZ, "T2"
RU = "+79161234567"  # RU, no carrier name
DE = "+4915112345678"  # DE, "T-Mobile"
FLAT = Decimal("0.05")  # Settings.price_per_segment

DEFAULTS = CSV_HEADER + (
    "sms,,,segment,0.09\n"  # any country
    "sms,KZ,,segment,0.04\n"
    "sms,KZ,beeline,segment,0.03\n"
    "rcs,KZ,,message,0.50\n"
)
OWN = CSV_HEADER + (
    "sms,KZ,,segment,0.02\n"  # overrides the default KZ rule (same specificity)
    "sms,KZ,Kcell/Activ,message,0.011\n"
    "sms,DE,,segment,0.07\n"
)


async def put_prices(client: httpx.AsyncClient, tenant: Tenant, text: str) -> httpx.Response:
    return await client.put(
        "/v1/prices", content=text, headers={**tenant.headers, "Content-Type": "text/csv"}
    )


async def prices_by_phone(db: Database, campaign_id: int) -> dict[str, tuple[int, Decimal]]:
    async with db.read() as conn:
        result = await conn.execute(
            select(messages.c.phone, messages.c.segments, messages.c.price).where(
                messages.c.campaign_id == campaign_id
            )
        )
        return {r.phone: (r.segments, r.price) for r in result}


async def add(client: httpx.AsyncClient, tenant: Tenant, cid: int, *recipients: Any) -> None:
    body = [
        r if isinstance(r, dict) else {"phone": r, "variables": {"name": "A"}} for r in recipients
    ]
    r = await client.post(
        f"/v1/campaigns/{cid}/recipients", headers=tenant.headers, json={"recipients": body}
    )
    assert r.status_code == 200, r.text
    assert [x["code"] for x in r.json()["recipients"]] == [0] * len(body)


async def test_put_get_delete_and_errors_change_nothing(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    r = await put_prices(client, tenant, OWN)
    assert r.status_code == 200, r.text
    assert r.json() == {"loaded": 3}
    before = (await client.get("/v1/prices", headers=tenant.headers)).json()
    assert before["defaults"] == []
    assert {(i["country"], i["operator"], i["unit"], i["price"]) for i in before["items"]} == {
        ("KZ", "", "segment", "0.020000"),
        ("KZ", "Kcell/Activ", "message", "0.011000"),
        ("DE", "", "segment", "0.070000"),
    }
    assert {i["currency"] for i in before["items"]} == {"USD"}

    bad = CSV_HEADER + "sms,KZ,,segment,0.01\nsms,ZZ,,segment,0.01\nsms,RU,,byte,0.01\n"
    r = await put_prices(client, tenant, bad)
    assert r.status_code == 422
    problem = r.json()
    assert [e["row"] for e in problem["errors"]] == [3, 4]
    assert "ZZ" in problem["errors"][0]["detail"] and "unit" in problem["errors"][1]["detail"]
    assert "row 3" in problem["detail"]
    assert (await client.get("/v1/prices", headers=tenant.headers)).json() == before

    r = await client.put(
        "/v1/prices", content=OWN, headers={**tenant.headers, "Content-Type": "application/json"}
    )
    assert r.status_code == 415

    r = await client.delete("/v1/prices", headers=tenant.headers)
    assert r.status_code == 204
    assert (await client.get("/v1/prices", headers=tenant.headers)).json()["items"] == []


async def test_tables_are_per_account(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    other = await accounts.create(db, name="other", balance=Decimal(1), currency="USD")
    await pricing.load(db, account_id=other.account_id, text=OWN)
    assert (await client.get("/v1/prices", headers=tenant.headers)).json()["items"] == []
    assert len(await pricing.rules(db, account_id=other.account_id)) == 3


async def test_recipients_priced_per_country_operator_with_precedence(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, dispatcher: Dispatcher
) -> None:
    await pricing.load(db, default=True, text=DEFAULTS)
    assert (await put_prices(client, tenant, OWN)).status_code == 200
    campaign = await make_campaign(client, tenant.headers, type="template", text="Hi {name}")
    cid = campaign["id"]
    long_name = "x" * 200  # 2 GSM-7 segments
    await add(
        client,
        tenant,
        cid,
        KCELL,
        BEELINE,
        T2,
        RU,
        DE,
        {"phone": "+77010000002", "variables": {"name": long_name}},
        {"phone": "+77050000002", "variables": {"name": long_name}},
    )
    priced = await prices_by_phone(db, cid)
    assert priced == {
        KCELL: (1, Decimal("0.011")),  # account: KZ + operator, per message
        BEELINE: (1, Decimal("0.03")),  # default KZ + operator beats the account's KZ
        T2: (1, Decimal("0.02")),  # account KZ over default KZ
        RU: (1, Decimal("0.09")),  # default "any"
        DE: (1, Decimal("0.07")),  # account DE
        "+77010000002": (2, Decimal("0.011")),  # per message: length does not matter
        "+77050000002": (2, Decimal("0.06")),  # per segment x 2
    }
    total = sum((p for _, p in priced.values()), Decimal(0))
    stats = (await client.get(f"/v1/campaigns/{cid}/stats", headers=tenant.headers)).json()
    assert Decimal(stats["estimated_cost"]) == total

    r = await client.post(f"/v1/campaigns/{cid}/start", headers=tenant.headers)
    assert r.status_code == 200, r.text
    await drain(dispatcher)
    account = await accounts.get(db, tenant.id)
    assert account.balance == Decimal("100.00") - total
    async with db.read() as conn:
        charged = (
            await conn.execute(
                select(ledger.c.amount).where(
                    ledger.c.campaign_id == cid, ledger.c.reason == "charge"
                )
            )
        ).scalars()
        assert sum(charged, Decimal(0)) == -total
    done = (await client.get(f"/v1/campaigns/{cid}", headers=tenant.headers)).json()
    assert Decimal(done["spent"]) == total


async def test_no_rules_means_the_flat_price_per_segment(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    # An rcs-only default table and a table in another currency leave sms at the flat
    # price.
    await pricing.load(db, default=True, text=CSV_HEADER + "rcs,,,message,1\n")
    await pricing.load(db, default=True, text=CSV_HEADER + "sms,,,message,1\n", currency="EUR")
    campaign = await make_campaign(client, tenant.headers, type="template", text="Hi {name}")
    await add(
        client, tenant, campaign["id"], KCELL, {"phone": BEELINE, "variables": {"name": "y" * 200}}
    )
    assert await prices_by_phone(db, campaign["id"]) == {
        KCELL: (1, FLAT),
        BEELINE: (2, 2 * FLAT),
    }


async def test_rcs_campaign_uses_rcs_rules(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    await pricing.load(db, default=True, text=DEFAULTS)
    campaign = await campaigns.create(
        db,
        account_id=tenant.id,
        spec=campaigns.CampaignSpec(name="rcs", text="", channel="rcs", content={"text": "Hello"}),
        default_channel="fake",
        price_per_segment=FLAT,
    )
    await add(client, tenant, campaign.id, KCELL, RU)
    assert await prices_by_phone(db, campaign.id) == {
        KCELL: (1, Decimal("0.50")),
        RU: (1, FLAT),  # no rcs rule for RU
    }


@pytest.mark.parametrize("chunk_size", [2, 5000])
async def test_file_import_prices_per_recipient(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, tmp_path: Path, chunk_size: int
) -> None:
    await pricing.load(db, default=True, text=DEFAULTS)
    await pricing.load(db, account_id=tenant.id, text=OWN)
    campaign = await make_campaign(client, tenant.headers)
    path = tmp_path / "list.csv"
    path.write_text("\n".join([KCELL, BEELINE, T2, RU, DE, "+77010000002"]) + "\n")
    task_id = await imports.start_file_import(
        db, account_id=tenant.id, campaign_id=campaign["id"], path=path, options=CsvOptions()
    )
    assert await imports.run(db, task_id, chunk_size=chunk_size) == "DONE"
    priced = await prices_by_phone(db, campaign["id"])
    assert priced == {
        KCELL: (1, Decimal("0.011")),
        BEELINE: (1, Decimal("0.03")),
        T2: (1, Decimal("0.02")),
        RU: (1, Decimal("0.09")),
        DE: (1, Decimal("0.07")),
        "+77010000002": (1, Decimal("0.011")),
    }
    stats = (
        await client.get(f"/v1/campaigns/{campaign['id']}/stats", headers=tenant.headers)
    ).json()
    assert Decimal(stats["estimated_cost"]) == sum((p for _, p in priced.values()), Decimal(0))


def test_cli_loads_and_lists_tables(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(app, [*args, "--database", url])

    created = run("accounts", "create", "acme", "--json")
    assert created.exit_code == 0, created.output
    account_id = str(json.loads(created.stdout)["account_id"])
    good = tmp_path / "prices.csv"
    good.write_text(DEFAULTS)
    result = run("prices", "load", str(good), "--default")
    assert result.exit_code == 0, result.output
    assert "loaded 4" in result.stdout
    result = run("prices", "list")
    assert result.exit_code == 0 and "beeline" in result.stdout

    bad = tmp_path / "bad.csv"
    bad.write_text(CSV_HEADER + "sms,KZ,,segment,1\nsms,KZ,,segment,x\n")
    result = run("prices", "load", str(bad), "--account", account_id)
    assert result.exit_code == 1
    assert "row 3" in result.output
    result = run("prices", "list", "--account", account_id)
    assert result.exit_code == 0 and "0 rules" in result.stdout
    result = run("prices", "load", str(good), "--account", account_id)
    assert result.exit_code == 0 and "loaded 4" in result.stdout
    result = run("prices", "load", str(good))
    assert result.exit_code != 0  # neither --account nor --default
