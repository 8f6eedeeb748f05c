"""End to end over real HTTP: ``clarion serve``'s app under uvicorn on 127.0.0.1,
the dispatcher in-process, the simulated carrier (sim_sms) as the channel."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from tests.conftest import Tenant
from tests.helpers import serving

from clarion.api.app import create_app
from clarion.config import Settings
from clarion.domain.lifecycle import FINAL_MESSAGE_STATUSES, MessageStatus
from clarion.store import campaigns as campaign_store
from clarion.store import messages as message_store
from clarion.store.db import Database
from clarion.store.schema import messages

pytestmark = pytest.mark.slow


@pytest.fixture
async def server(settings: Settings, db: Database) -> AsyncIterator[str]:
    sim = settings.model_copy(
        update={
            "default_channel": "sim_sms",
            "sim_dlr_min_delay": 0.01,
            "sim_dlr_max_delay": 0.2,
            "sim_undelivered_rate": 0.05,
            "housekeeping_interval": 0.05,
            "batch_size": 200,
        }
    )
    app = create_app(sim, run_dispatcher=True, db=db)
    async with serving(app) as url:
        yield url


def recipients() -> tuple[list[dict[str, Any]], list[int]]:
    """1,000 entries: valid, duplicates, malformed, empty and missing placeholders,
    with the Mobizon code each must get."""
    entries: list[dict[str, Any]] = []
    codes: list[int] = []
    for n in range(1000):
        if n % 50 == 7:  # duplicate of the previous valid phone
            entries.append(
                {
                    "phone": f"+7 (701) {n - 1:07d}",
                    "variables": {"name": "dup"},
                }
            )
            codes.append(4)
        elif n % 50 == 13:
            entries.append({"phone": f"77O1{n:07d}", "variables": {"name": "x"}})  # letter O
            codes.append(3)
        elif n % 50 == 21:
            entries.append({"phone": "", "variables": {"name": "x"}})
            codes.append(1)
        elif n % 50 == 33:
            entries.append({"phone": f"+7701{n:07d}", "variables": {}})  # no {name}
            codes.append(20)
        else:
            entries.append({"phone": f"+7701{n:07d}", "variables": {"name": f"N{n}"}})
            codes.append(0)
    return entries, codes


async def test_campaign_of_1000_over_http(server: str, tenant: Tenant, db: Database) -> None:
    entries, expected_codes = recipients()
    async with httpx.AsyncClient(base_url=server, headers=tenant.headers, timeout=30) as http:
        before = Decimal((await http.get("/v1/account")).json()["balance"])
        r = await http.post(
            "/v1/campaigns",
            json={
                "name": "acceptance",
                "channel": "sms",
                "type": "template",
                "sender": "Clarion",
                "text": "Hello {name}, your order has shipped.",
            },
        )
        assert r.status_code == 201, r.text
        cid = r.json()["id"]
        assert r.json()["status"] == "DRAFT"

        r = await http.post(f"/v1/campaigns/{cid}/recipients", json={"recipients": entries})
        assert r.status_code == 200, r.text
        body = r.json()
        assert [x["code"] for x in body["recipients"]] == expected_codes
        added = expected_codes.count(0)
        assert body["added"] == added
        assert all((x["message_id"] is None) == (x["code"] != 0) for x in body["recipients"])

        r = await http.post(f"/v1/campaigns/{cid}/start")
        assert r.status_code == 200 and r.json()["status"] == "RUNNING"

        status = "RUNNING"
        for _ in range(600):
            status = (await http.get(f"/v1/campaigns/{cid}")).json()["status"]
            if status == "DONE":
                break
            await asyncio.sleep(0.1)
        assert status == "DONE"

        stats = (await http.get(f"/v1/campaigns/{cid}/stats")).json()
        after = Decimal((await http.get("/v1/account")).json()["balance"])
        undelivered = (
            await http.get(f"/v1/campaigns/{cid}/messages", params={"status": "UNDELIVERED"})
        ).json()

    async with db.read() as conn:
        rows = (
            await conn.execute(
                select(messages.c.status, messages.c.price, messages.c.charged).where(
                    messages.c.campaign_id == cid
                )
            )
        ).all()
        counters = await campaign_store.counters(conn, cid)
        grouped = await message_store.group_by_status(conn, cid)

    assert len(rows) == added
    assert all(MessageStatus(r.status) in FINAL_MESSAGE_STATUSES for r in rows)
    assert {r.status for r in rows} <= {"DELIVERED", "UNDELIVERED"}
    assert sum(1 for r in rows if r.status == "UNDELIVERED") == undelivered["total"] > 0
    for status in MessageStatus:
        c = counters[status.value]
        assert (c.messages, c.segments, c.cost) == grouped.get(status.value, (0, 0, Decimal(0)))
        assert stats["messages"][status.value] == c.messages
    price_sum = sum((r.price for r in rows), Decimal(0))
    assert all(r.charged == r.price for r in rows)
    assert before - after == price_sum
    assert Decimal(stats["cost"]) == price_sum
    assert stats["total_messages"] == added
