"""The ``routed`` channel through the real dispatcher: per account and number prefix to
named SMPP connections (two independent test SMSCs), failover to the second when the
first is down, a default route, and no route at all."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from tests.conftest import Tenant
from tests.helpers import add_phones, drain, make_campaign, phones
from tests.smsc import Smsc
from tests.smsc.server import submitted_phones

from clarion.config import Settings
from clarion.dispatch.engine import Dispatcher
from clarion.services import accounts
from clarion.store.db import Database
from clarion.store.schema import messages

FAST: dict[str, Any] = {
    "window": 20,
    "connect_timeout": 0.5,
    "submit_timeout": 1.0,
    "reconnect_min": 0.05,
    "reconnect_max": 0.2,
    "response_timeout": 5.0,
}


@pytest.fixture
async def smscs() -> AsyncIterator[tuple[Smsc, Smsc]]:
    a, b = Smsc({"clarion": "secret"}), Smsc({"clarion": "secret"})
    await a.start()
    await b.start()
    yield a, b
    await a.stop()
    await b.stop()


def sent(smsc: Smsc) -> list[str]:
    """Numbers the SMSC accepted, as E.164 (it sees them without the +)."""
    return sorted("+" + p.lstrip("+") for p in submitted_phones(smsc))


def configure(
    settings: Settings, tmp_path: Path, smscs: tuple[Smsc, Smsc], routes: list[dict[str, Any]]
) -> Settings:
    connections = [
        {
            "name": name,
            "host": "127.0.0.1",
            "port": server.port,
            "system_id": "clarion",
            "password_env": "CLARION_TEST_ROUTE_PASSWORD",
            **FAST,
        }
        for name, server in zip(("operator-a", "operator-b"), smscs, strict=True)
    ]
    (tmp_path / "smpp.json").write_text(json.dumps({"connections": connections}))
    (tmp_path / "routes.json").write_text(json.dumps({"routes": routes}))
    return settings.model_copy(
        update={
            "default_channel": "routed",
            "smpp_config": str(tmp_path / "smpp.json"),
            "routes_config": str(tmp_path / "routes.json"),
        }
    )


async def send(
    client: httpx.AsyncClient, headers: dict[str, str], numbers: list[str], d: Dispatcher
) -> int:
    campaign = await make_campaign(client, headers)
    await add_phones(client, headers, campaign["id"], numbers)
    r = await client.post(f"/v1/campaigns/{campaign['id']}/start", headers=headers)
    assert r.status_code == 200
    for _ in range(50):
        await drain(d)
        async with d.db.read() as conn:
            statuses = set(
                (
                    await conn.execute(
                        select(messages.c.status).where(messages.c.campaign_id == campaign["id"])
                    )
                ).scalars()
            )
        if statuses <= {"DELIVERED", "REJECTED", "UNDELIVERED"}:
            break
        await asyncio.sleep(0.05)
    return int(campaign["id"])


async def statuses_of(db: Database, campaign_id: int) -> dict[str, tuple[str, str | None]]:
    async with db.read() as conn:
        rows = await conn.execute(
            select(messages.c.phone, messages.c.status, messages.c.error_code).where(
                messages.c.campaign_id == campaign_id
            )
        )
        return {r.phone: (r.status, r.error_code) for r in rows}


async def test_routes_by_account_and_prefix_with_failover(
    settings: Settings,
    db: Database,
    tenant: Tenant,
    smscs: tuple[Smsc, Smsc],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CLARION_TEST_ROUTE_PASSWORD", "secret")
    a, b = smscs
    cfg = configure(
        settings,
        tmp_path,
        smscs,
        [
            {
                "name": "acme-kcell",
                "accounts": [tenant.id],
                "prefixes": ["+7701"],
                "targets": ["smpp:operator-a", "smpp:operator-b"],
            },
            {"name": "kz", "countries": ["KZ"], "targets": ["smpp:operator-b"]},
        ],
    )
    from clarion.api.app import create_app

    app = create_app(cfg, db=db)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://clarion.test"
    ) as client:
        d = Dispatcher(db=db, settings=cfg)
        try:
            # The account's Kcell numbers go to operator A, its other KZ numbers to B.
            kcell = phones(3)
            beeline = ["+77051230001", "+77051230002"]
            cid = await send(client, tenant.headers, kcell + beeline, d)
            assert sent(a) == kcell
            assert sent(b) == beeline
            assert {s for s, _e in (await statuses_of(db, cid)).values()} == {"DELIVERED"}

            # Another account's Kcell numbers: not its route, so the KZ route (B).
            other = await accounts.create(db, name="other", balance=Decimal("10"), currency="USD")
            headers = {"Authorization": f"Bearer {other.api_key}"}
            await send(client, headers, phones(2, start=100), d)
            assert sent(b) == sorted(beeline + phones(2, start=100))

            # Operator A goes down: the account's Kcell numbers fail over to B, once each.
            await a.stop()
            before_a = len(sent(a))
            cid = await send(client, tenant.headers, phones(3, start=200), d)
            assert len(sent(a)) == before_a
            sent_b = sent(b)
            assert all(sent_b.count(p) == 1 for p in phones(3, start=200))
            assert {s for s, _e in (await statuses_of(db, cid)).values()} == {"DELIVERED"}

            # No route for a number outside every route: refused, never sent.
            cid = await send(client, tenant.headers, ["+79161234567"], d)
            assert await statuses_of(db, cid) == {"+79161234567": ("REJECTED", "no-route")}
        finally:
            await d.close()


async def test_a_route_to_a_missing_connection_refuses_only_its_messages(
    settings: Settings, tmp_path: Path
) -> None:
    from clarion.channels.base import Outcome, Submission
    from clarion.channels.router import RoutedChannel, RoutesConfig

    (tmp_path / "smpp.json").write_text(
        json.dumps(
            {"connections": [{"name": "real", "host": "127.0.0.1", "port": 1, "system_id": "x"}]}
        )
    )
    cfg = settings.model_copy(update={"smpp_config": str(tmp_path / "smpp.json")})
    reports: list[Any] = []
    router = RoutedChannel(
        RoutesConfig.model_validate(
            {
                "routes": [
                    {"prefixes": ["+7701"], "targets": ["smpp:typo"]},
                    {"targets": ["fake"]},
                ]
            }
        ),
        cfg,
        reports.extend,
    )
    batch = [
        Submission(1, "1-1", "+77010000001", "S", "hi", 1, account_id=1),
        Submission(2, "2-1", "+77050000001", "S", "hi", 1, account_id=1),
    ]
    try:
        results = await router.submit(batch)
    finally:
        await router.close()
    assert results[0].outcome is Outcome.PERMANENT and "typo" in (results[0].error or "")
    assert results[1].outcome is Outcome.ACCEPTED
