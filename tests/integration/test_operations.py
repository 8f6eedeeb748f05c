"""Operations: /metrics, request body limits, `clarion status`, the request-head
deadline of `clarion serve`, JSON logs."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any

import httpx
from tests.conftest import Tenant
from tests.helpers import add_phones, free_port, make_campaign, phones
from typer.testing import CliRunner

from clarion.api import server
from clarion.api.app import create_app
from clarion.cli import app as cli_app
from clarion.config import Settings
from clarion.logs import JsonFormatter
from clarion.store.db import Database


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus' text format, or None."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = re.fullmatch(r"([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)", line)
        if match is None or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
        if found == labels:
            return float(match.group(3))
    return None


async def test_metrics_report_messages_campaigns_queue_and_latency(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    campaign = await make_campaign(client, tenant.headers)
    await add_phones(client, tenant.headers, campaign["id"], phones(3))
    await make_campaign(client, tenant.headers)
    r = await client.post(f"/v1/campaigns/{campaign['id']}/start", headers=tenant.headers)
    assert r.status_code == 200, r.text
    before = (await client.get("/metrics")).text
    route = "/v1/campaigns/{campaign_id}"
    seen = (
        sample(
            before,
            "clarion_http_request_duration_seconds_count",
            method="GET",
            route=route,
            status="200",
        )
        or 0.0
    )
    assert (await client.get(f"/v1/campaigns/{campaign['id']}", headers=tenant.headers)).is_success

    r = await client.get("/metrics")  # no key needed
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert sample(text, "clarion_messages", status="NEW") == 3
    assert sample(text, "clarion_campaigns", status="RUNNING") == 1
    assert sample(text, "clarion_campaigns", status="DRAFT") == 1
    assert sample(text, "clarion_queue_depth") == 3
    count = sample(
        text, "clarion_http_request_duration_seconds_count", method="GET", route=route, status="200"
    )
    assert count == seen + 1
    for name in ("clarion_dispatch_claim_seconds_count", "clarion_worker_campaign_leases"):
        assert sample(text, name) is not None, name


async def test_mobizon_calls_are_timed_per_registered_method(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await client.get(f"/service/User/GetOwnBalance?apiKey={tenant.key}")
    await client.get(f"/service/user/NoSuchMethod?apiKey={tenant.key}")
    text = (await client.get("/metrics")).text
    timed = {"route": "/service/user/getownbalance", "method": "GET", "status": "200"}
    assert sample(text, "clarion_http_request_duration_seconds_count", **timed)
    unknown = timed | {"route": "/service/{module}/{method}"}
    assert sample(text, "clarion_http_request_duration_seconds_count", **unknown)


async def test_metrics_can_be_switched_off(settings: Settings, db: Database) -> None:
    app = create_app(settings.model_copy(update={"metrics_enabled": False}), db=db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://clarion.test") as c:
        assert (await c.get("/metrics")).status_code == 404


async def test_v1_body_over_the_limit_is_a_413_problem(
    settings: Settings, db: Database, tenant: Tenant
) -> None:
    app = create_app(settings.model_copy(update={"max_body_bytes": 1000}), db=db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://clarion.test") as c:
        body = {"name": "x" * 2000, "text": "hi"}
        r = await c.post("/v1/campaigns", json=body, headers=tenant.headers)
        assert r.status_code == 413
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["detail"] == "the request body is larger than 1,000 bytes"

        async def chunks() -> Any:  # no Content-Length: counted as it arrives
            for _ in range(4):
                yield b" " * 400

        headers = tenant.headers | {"content-type": "application/json"}
        r = await c.post("/v1/campaigns", content=chunks(), headers=headers)
        assert r.status_code == 413
        assert r.json()["type"].endswith("/too-large")
        r = await c.get("/v1/campaigns", headers=tenant.headers)
        assert r.json()["total"] == 0  # nothing was created

        r = await c.post("/v1/campaigns", json={"name": "ok", "text": "hi"}, headers=tenant.headers)
        assert r.status_code == 201


async def test_bsg_body_over_its_limit_is_bsg_413(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    from clarion.dialects.bsg.wire import MAX_BODY

    r = await client.post(
        "/api/campaigns/rcs/send",
        content=b"{" + b" " * MAX_BODY + b"}",
        headers={"x-api-key": tenant.key, "content-type": "application/json"},
    )
    assert r.status_code == 413
    assert r.json() == {"message": "The request body is too large.", "errors": []}


def test_status_command_shows_queue_and_statuses(settings: Settings) -> None:
    async def seed() -> None:
        db = Database(settings.database_url)
        app = create_app(settings, db=db)
        transport = httpx.ASGITransport(app=app)
        from decimal import Decimal

        from clarion.services import accounts

        new = await accounts.create(db, name="a", balance=Decimal("10"), currency="USD")
        headers = {"Authorization": f"Bearer {new.api_key}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            campaign = await make_campaign(c, headers)
            await add_phones(c, headers, campaign["id"], phones(2))
            assert (
                await c.post(f"/v1/campaigns/{campaign['id']}/start", headers=headers)
            ).is_success
        await db.dispose()

    asyncio.run(seed())
    result = CliRunner().invoke(cli_app, ["status", "--json", "--database", settings.database_url])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["queue_depth"] == 2
    assert shown["campaigns"] == {"RUNNING": 1}
    assert shown["messages"]["NEW"] == 2
    assert shown["leased_tasks"] == 0
    assert (shown["workers"], shown["campaign_leases"]) == ([], 0)
    result = CliRunner().invoke(cli_app, ["status", "--database", settings.database_url])
    assert result.exit_code == 0, result.output
    assert "queue depth: 2" in result.output
    assert "0 live workers, 0 campaign leases" in result.output


async def test_serve_closes_a_connection_whose_request_head_never_completes(
    settings: Settings, db: Database
) -> None:
    import uvicorn

    port = free_port()
    config = server.config(
        create_app(settings, db=db),
        settings.model_copy(update={"header_timeout": 0.3, "port": port}),
    )
    uv = uvicorn.Server(config)
    task = asyncio.create_task(uv.serve())
    for _ in range(1000):
        if uv.started:
            break
        await asyncio.sleep(0.01)
    try:
        # a complete request is answered, and the connection stays usable
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        await writer.drain()
        assert (await reader.readline()).startswith(b"HTTP/1.1 200")
        writer.close()
        # a head that trickles in is cut off: the server closes the connection
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
        await writer.drain()
        closed = await asyncio.wait_for(reader.read(), timeout=10)
        assert closed == b""  # EOF without a response
        writer.close()
    finally:
        uv.should_exit = True
        await task


def test_json_log_lines_carry_extra_fields() -> None:
    record = logging.LogRecord("clarion.x", logging.WARNING, __file__, 1, "sent %d", (3,), None)
    record.action = "dispatch_batch"
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "sent 3"
    assert line["level"] == "warning"
    assert line["logger"] == "clarion.x"
    assert line["action"] == "dispatch_batch"
    assert line["time"].endswith("+00:00")


async def test_workers_and_campaign_leases_are_reported(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, settings: Settings
) -> None:
    from datetime import timedelta

    from clarion.clock import utcnow
    from clarion.store.schema import campaign_leases, workers

    campaign = await make_campaign(client, tenant.headers)
    now = utcnow()
    async with db.begin() as conn:
        await conn.execute(
            workers.insert(),
            [
                {"id": "w-live", "host": "h", "pid": 1, "started_at": now, "heartbeat_at": now},
                {
                    "id": "w-dead",
                    "host": "h",
                    "pid": 2,
                    "started_at": now - timedelta(hours=1),
                    "heartbeat_at": now - timedelta(hours=1),
                },
            ],
        )
        await conn.execute(
            campaign_leases.insert().values(
                campaign_id=campaign["id"], owner="w-live", until=now + timedelta(minutes=1)
            )
        )
    text = (await client.get("/metrics")).text
    assert sample(text, "clarion_workers") == 1
    assert sample(text, "clarion_campaign_leases") == 1
    args = ["status", "--json", "--database", settings.database_url]
    result = await asyncio.to_thread(CliRunner().invoke, cli_app, args)  # it runs its own loop
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert [(w["id"], w["alive"], w["leases"]) for w in shown["workers"]] == [
        ("w-dead", False, 0),
        ("w-live", True, 1),
    ]
    assert shown["campaign_leases"] == 1
