"""Event webhooks end to end: a real HTTP receiver on 127.0.0.1, the dispatcher's
webhook sender, signatures, retries, the delivery log, replay, SSRF refusals."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from sqlalchemy import func, select
from tests.conftest import Tenant
from tests.helpers import add_phones, drain, make_campaign, phones, serving

from clarion.api.app import create_app
from clarion.config import Settings
from clarion.dispatch.engine import Dispatcher
from clarion.dispatch.webhooks import WebhookSender
from clarion.services import accounts
from clarion.services import webhooks as service
from clarion.store.db import Database
from clarion.store.schema import events

ALL = ["message.status_changed", "campaign.status_changed", "task.finished", "balance.low"]


@dataclass
class Receiver:
    url: str
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)  # statuses to answer first, in order

    def documents(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _headers, body in self.received]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    app = FastAPI()
    box = Receiver(url="")

    @app.post("/hook")
    async def hook(request: Request) -> Response:
        box.received.append((dict(request.headers), await request.body()))
        status = box.answers.pop(0) if box.answers else 204
        return Response(status_code=status)

    async with serving(app) as base:
        box.url = f"{base}/hook"
        yield box


@pytest.fixture
def hook_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"webhook_allow_private": True, "webhook_retry_base": 0.0, "webhook_timeout": 5.0}
    )


@pytest.fixture
async def hooks_client(hook_settings: Settings, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(hook_settings, db=db)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://clarion.test"
    ) as c:
        yield c


async def register(
    client: httpx.AsyncClient, tenant: Tenant, url: str, types: list[str] = ALL
) -> dict[str, Any]:
    r = await client.post(
        "/v1/webhooks", json={"url": url, "events": types}, headers=tenant.headers
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def pump_all(sender: WebhookSender, rounds: int = 50) -> None:
    for _ in range(rounds):
        if not await sender.pump():
            return


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
        "ftp://93.184.216.34/hook",
        "http://user:secret@93.184.216.34/hook",
        "http://no-such-host.invalid/hook",
        "http://100.64.0.1/hook",  # shared address space (CGNAT; cloud metadata lives here)
        "http://[2002:7f00:1::]/hook",  # 6to4 wrapping 127.0.0.1
        "http://[fec0::1]/hook",  # site-local
        "http://[::1",  # not a URL
    ],
)
async def test_unsafe_targets_are_refused(
    client: httpx.AsyncClient, tenant: Tenant, url: str
) -> None:
    r = await client.post(
        "/v1/webhooks", json={"url": url, "events": ["balance.low"]}, headers=tenant.headers
    )
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "url"


async def test_public_literal_address_is_accepted(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    endpoint = await register(client, tenant, "https://93.184.216.34/hook", ["balance.low"])
    assert endpoint["secret"].startswith("whsec_")
    r = await client.get("/v1/webhooks", headers=tenant.headers)
    assert [e["id"] for e in r.json()] == [endpoint["id"]]


async def test_campaign_events_are_delivered_signed(
    hooks_client: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    dispatcher: Dispatcher,
    hook_settings: Settings,
    receiver: Receiver,
) -> None:
    endpoint = await register(hooks_client, tenant, receiver.url)
    dispatcher.settings = hook_settings
    campaign = await make_campaign(hooks_client, tenant.headers)
    await add_phones(hooks_client, tenant.headers, campaign["id"], phones(3))
    r = await hooks_client.post(f"/v1/campaigns/{campaign['id']}/start", headers=tenant.headers)
    assert r.status_code == 200
    await drain(dispatcher)
    await pump_all(dispatcher.webhooks())

    # Deliveries go out concurrently, unordered (docs/webhooks.md): order by event id.
    documents = sorted(receiver.documents(), key=lambda d: int(d["id"]))
    by_type: dict[str, list[dict[str, Any]]] = {}
    for d in documents:
        by_type.setdefault(d["type"], []).append(d)
    transitions = [(e["data"]["from"], e["data"]["to"]) for e in by_type["campaign.status_changed"]]
    assert transitions == [("DRAFT", "RUNNING"), ("RUNNING", "SENT"), ("SENT", "DONE")]
    final = {
        e["data"]["phone"]: e["data"]["status"]
        for e in by_type["message.status_changed"]
        if e["data"]["status"] == "DELIVERED"
    }
    assert final == {p: "DELIVERED" for p in phones(3)}
    assert all(
        e["data"]["campaign_id"] == campaign["id"] for e in by_type["message.status_changed"]
    )
    # Every request is signed with the endpoint's secret over the exact body.
    now = int(time.time())
    for headers, body in receiver.received:
        assert service.verify(endpoint["secret"], headers["clarion-signature"], body, now=now)
        assert not service.verify("whsec_wrong", headers["clarion-signature"], body, now=now)
        assert not service.verify(
            endpoint["secret"], headers["clarion-signature"], body + b" ", now=now
        )
        assert headers["clarion-event-type"] == json.loads(body)["type"]
    # The log says delivered, once each.
    r = await hooks_client.get(
        f"/v1/webhooks/{endpoint['id']}/deliveries?limit=500", headers=tenant.headers
    )
    log = r.json()
    assert log["total"] == len(documents)
    assert {d["status"] for d in log["items"]} == {"delivered"}
    assert {d["attempts"] for d in log["items"]} == {1}


async def test_failures_are_retried_then_given_up_and_replayable(
    hooks_client: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    hook_settings: Settings,
    receiver: Receiver,
) -> None:
    endpoint = await register(hooks_client, tenant, receiver.url, ["balance.low"])
    await accounts.configure(
        db, account_id=tenant.id, low_balance=Decimal("99.99"), set_low_balance=True
    )
    from clarion.clock import utcnow
    from clarion.store import events as event_store

    async with db.begin() as conn:
        await event_store.emit(
            conn, account_id=tenant.id, event_type="balance.low", payload={"n": 1}, now=utcnow()
        )
        await event_store.emit(
            conn, account_id=tenant.id, event_type="balance.low", payload={"n": 2}, now=utcnow()
        )
    receiver.answers = [500, 503, 500]
    sender = WebhookSender(db, hook_settings.model_copy(update={"webhook_max_attempts": 3}))
    try:
        await pump_all(sender)
    finally:
        await sender.close()
    log = (
        await hooks_client.get(f"/v1/webhooks/{endpoint['id']}/deliveries", headers=tenant.headers)
    ).json()["items"]
    # Both are sent in each round: three failures spread over them, then success.
    assert {d["status"] for d in log} == {"delivered"}
    assert sorted(d["attempts"] for d in log) == [2, 3]
    # Gives up after webhook_max_attempts; a replay sends it again.
    async with db.begin() as conn:
        await event_store.emit(
            conn, account_id=tenant.id, event_type="balance.low", payload={"n": 3}, now=utcnow()
        )
    receiver.answers = [500, 500]
    sender = WebhookSender(db, hook_settings.model_copy(update={"webhook_max_attempts": 2}))
    try:
        await pump_all(sender)
        log = (
            await hooks_client.get(
                f"/v1/webhooks/{endpoint['id']}/deliveries?status=failed", headers=tenant.headers
            )
        ).json()
        assert log["total"] == 1
        failed = log["items"][0]
        assert (failed["attempts"], failed["last_status_code"]) == (2, 500)
        r = await hooks_client.post(
            f"/v1/webhooks/deliveries/{failed['id']}/replay", headers=tenant.headers
        )
        assert r.status_code == 202
        await pump_all(sender)
    finally:
        await sender.close()
    r = await hooks_client.get(
        f"/v1/webhooks/{endpoint['id']}/deliveries?status=failed", headers=tenant.headers
    )
    assert r.json()["total"] == 0
    assert [d["data"]["n"] for d in receiver.documents()].count(3) == 3


async def test_target_turning_private_is_not_called(
    hooks_client: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    hook_settings: Settings,
    receiver: Receiver,
) -> None:
    """Created while private targets were allowed; the sender checks again."""
    endpoint = await register(hooks_client, tenant, receiver.url, ["balance.low"])
    from clarion.clock import utcnow
    from clarion.store import events as event_store

    async with db.begin() as conn:
        await event_store.emit(
            conn, account_id=tenant.id, event_type="balance.low", payload={}, now=utcnow()
        )
    strict = hook_settings.model_copy(update={"webhook_allow_private": False})
    sender = WebhookSender(db, strict)
    try:
        assert await sender.pump() == 1
    finally:
        await sender.close()
    assert receiver.received == []
    log = (
        await hooks_client.get(f"/v1/webhooks/{endpoint['id']}/deliveries", headers=tenant.headers)
    ).json()["items"]
    assert log[0]["status"] == "pending" and "non-public" in log[0]["last_error"]


async def test_no_subscriber_writes_no_event(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, dispatcher: Dispatcher
) -> None:
    campaign = await make_campaign(client, tenant.headers)
    await add_phones(client, tenant.headers, campaign["id"], phones(2))
    await client.post(f"/v1/campaigns/{campaign['id']}/start", headers=tenant.headers)
    await drain(dispatcher)
    async with db.read() as conn:
        assert (await conn.execute(select(func.count()).select_from(events))).scalar() == 0


async def test_balance_low_once_when_crossing(
    hooks_client: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    dispatcher: Dispatcher,
    hook_settings: Settings,
    receiver: Receiver,
) -> None:
    await register(hooks_client, tenant, receiver.url, ["balance.low"])
    r = await hooks_client.patch(
        "/v1/account", json={"low_balance": "99.90"}, headers=tenant.headers
    )
    assert r.json()["low_balance"] == "99.900000" or r.json()["low_balance"].startswith("99.9")
    dispatcher.settings = hook_settings.model_copy(update={"batch_size": 1})
    campaign = await make_campaign(hooks_client, tenant.headers)
    await add_phones(hooks_client, tenant.headers, campaign["id"], phones(5))
    await hooks_client.post(f"/v1/campaigns/{campaign['id']}/start", headers=tenant.headers)
    await drain(dispatcher)
    await pump_all(dispatcher.webhooks())
    lows = [d for d in receiver.documents() if d["type"] == "balance.low"]
    assert len(lows) == 1  # 100.00 -> 99.95 -> 99.90 -> 99.85 (crossed here) -> 99.80 -> 99.75
    assert Decimal(lows[0]["data"]["balance"]) == Decimal("99.85")


async def test_other_accounts_cannot_see_or_replay(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    endpoint = await register(client, tenant, "https://93.184.216.34/hook", ["balance.low"])
    other = await accounts.create(db, name="other", balance=Decimal("1"), currency="USD")
    headers = {"Authorization": f"Bearer {other.api_key}"}
    for method, path in (
        ("GET", f"/v1/webhooks/{endpoint['id']}"),
        ("PATCH", f"/v1/webhooks/{endpoint['id']}"),
        ("DELETE", f"/v1/webhooks/{endpoint['id']}"),
        ("GET", f"/v1/webhooks/{endpoint['id']}/deliveries"),
        ("POST", "/v1/webhooks/deliveries/1/replay"),
    ):
        kwargs: dict[str, Any] = {"json": {"active": False}} if method == "PATCH" else {}
        r = await client.request(method, path, headers=headers, **kwargs)
        assert r.status_code == 404, (method, path, r.text)
    assert (await client.get("/v1/webhooks", headers=headers)).json() == []


def test_signature_recipe() -> None:
    body = b'{"id":1}'
    header = service.sign("whsec_k", 1_700_000_000, body)
    assert service.verify("whsec_k", header, body, now=1_700_000_100)
    assert not service.verify("whsec_k", header, body, now=1_700_001_000)  # too old
    assert not service.verify("whsec_k", "t=x,v1=00", body, now=1_700_000_000)
