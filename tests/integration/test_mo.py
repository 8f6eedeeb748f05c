"""Inbound SMS over a real SMPP bind (the independent test SMSC): an opt-out lands in
the stop-list of the account that wrote to the number, later sends to it are blocked,
and every MO is stored and listed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from tests.conftest import Tenant
from tests.helpers import add_phones, drain, make_campaign, phones
from tests.smsc import Smsc

from clarion.config import Settings
from clarion.dispatch.engine import Dispatcher
from clarion.services import inbound, stoplists
from clarion.store.db import Database


@pytest.fixture
async def smsc() -> AsyncIterator[Smsc]:
    server = Smsc({"clarion": "secret"})
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def settings(
    settings: Settings, smsc: Smsc, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    monkeypatch.setenv("CLARION_TEST_MO_PASSWORD", "secret")
    config = tmp_path / "smpp.json"
    config.write_text(
        json.dumps(
            {
                "connections": [
                    {
                        "name": "mo-test",
                        "host": "127.0.0.1",
                        "port": smsc.port,
                        "system_id": "clarion",
                        "password_env": "CLARION_TEST_MO_PASSWORD",
                        "reconnect_min": 0.05,
                        "reconnect_max": 0.2,
                    }
                ]
            }
        )
    )
    return settings.model_copy(
        update={
            "default_channel": "smpp",
            "smpp_config": str(config),
            "mo_stop_keywords": ["BASTA"],
        }
    )


@pytest.fixture
def dispatcher(settings: Settings, db: Database) -> Dispatcher:
    return Dispatcher(db=db, settings=settings)


async def until_inbox(dispatcher: Dispatcher, db: Database, account_id: int, count: int) -> None:
    for _ in range(500):
        await dispatcher.tick()
        _rows, total = await inbound.page(db, account_id=account_id)
        if total >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("MO messages not received")


async def test_mo_stop_blocks_later_sends(
    client: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    dispatcher: Dispatcher,
    smsc: Smsc,
) -> None:
    numbers = phones(3)
    first = await make_campaign(client, tenant.headers)
    await add_phones(client, tenant.headers, first["id"], numbers)
    await client.post(f"/v1/campaigns/{first['id']}/start", headers=tenant.headers)
    await drain(dispatcher)  # sent over the bind, which is now up
    smsc.send_mo(numbers[0], " Stop! ")
    smsc.send_mo(numbers[1], "hello, who is this?")
    smsc.send_mo(numbers[2], "basta")  # the operator's own keyword
    await until_inbox(dispatcher, db, tenant.id, 3)

    r = await client.get("/v1/inbound", headers=tenant.headers)
    items = {i["phone"]: i for i in r.json()["items"]}
    assert {p: items[p]["action"] for p in numbers} == {
        numbers[0]: "stop",
        numbers[1]: "",
        numbers[2]: "stop",
    }
    assert items[numbers[1]]["text"] == "hello, who is this?"
    listed, _ = await stoplists.entries(db, account_id=tenant.id)
    assert sorted(e.phone for e in listed) == sorted([numbers[0], numbers[2]])

    second = await make_campaign(client, tenant.headers, name="again")
    result = await add_phones(client, tenant.headers, second["id"], numbers)
    codes = {r["normalized"] or r["phone"]: r["code"] for r in result["recipients"]}
    assert codes == {numbers[0]: 5, numbers[1]: 0, numbers[2]: 5}  # 5 = stop-list


def test_opt_out_keywords() -> None:
    keywords = inbound.DEFAULT_STOP_KEYWORDS
    for text in ("STOP", "stop", " Stop! ", "СТОП", "стоп.", "Unsubscribe"):
        assert inbound.is_opt_out(text, keywords), text
    for text in ("stop sending me offers please", "", "!!!", "stopp"):
        assert not inbound.is_opt_out(text, keywords), text
