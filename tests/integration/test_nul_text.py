"""Text with a NUL character is invalid input at every entrance, on both stores.

PostgreSQL cannot store U+0000 in text; before this rule a NUL in a group name reached
the driver (a 500 on /v1). Each entrance now answers with its own validation error and
writes nothing (clarion/domain/text.py).
"""

from __future__ import annotations

import json

import httpx
from tests.conftest import Tenant
from tests.integration.test_web import sign_in

from clarion.domain.text import nul_path
from clarion.services import campaigns as campaign_service
from clarion.store.db import Database


def test_nul_path_names_the_first_offender() -> None:
    assert nul_path("plain") is None
    assert nul_path("a\x00") == ""
    assert nul_path({"data": [{"ok": "x"}, {"name": "b\x00"}]}) == "data.1.name"
    assert nul_path({"k\x00": 1}) == "k\x00"
    assert nul_path([1, 2.5, None, b"\x00"]) is None  # bytes are not text


async def test_v1_body_query_and_path(client: httpx.AsyncClient, tenant: Tenant) -> None:
    h = tenant.headers
    r = await client.post("/v1/contact-groups", json={"name": "\x00"}, headers=h)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["location"] == "body.name"
    assert "NUL" in r.json()["detail"]
    r = await client.post(
        "/v1/campaigns", json={"name": "ok", "text": "hi", "content": {"x": ["\x00"]}}, headers=h
    )
    assert r.status_code == 422, r.text
    r = await client.get("/v1/campaigns", params={"text": "7\x00"}, headers=h)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["location"] == "query.text"
    listed = await client.get("/v1/contact-groups", headers=h)
    assert listed.status_code == 200
    assert listed.json()["items"] == []


async def test_mobizon_answers_validation_code(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    r = await client.post(
        f"/service/campaign/create?apiKey={tenant.key}",
        content=json.dumps({"data": {"type": 2, "text": "hi\x00", "from": "Alpha"}}),
        headers={"Content-Type": "application/json"},
    )
    body = r.json()
    assert (r.status_code, body["code"]) == (200, 1), body
    assert list(body["data"]) == ["data[text]"]
    r = await client.get(f"/service/campaign/list?apiKey={tenant.key}&criteria[from]=%00")
    assert r.json()["code"] == 1
    _rows, total = await campaign_service.search(db, account_id=tenant.id)
    assert total == 0


async def test_bsg_answers_422(client: httpx.AsyncClient, tenant: Tenant, db: Database) -> None:
    body = {
        "phones": [{"number": "380501234567"}],
        "sender": "acme\x00",
        "options": {"text": "Hello"},
    }
    r = await client.post("/api/campaigns/rcs/send", json=body, headers={"X-API-KEY": tenant.key})
    assert r.status_code == 422, r.text
    assert r.json()["message"] == "The given data was invalid."
    assert "sender" in r.json()["errors"]
    _rows, total = await campaign_service.search(db, account_id=tenant.id)
    assert total == 0


async def test_dashboard_form(client: httpx.AsyncClient, tenant: Tenant, db: Database) -> None:
    csrf = await sign_in(client, tenant.key)
    body = {"csrf": csrf, "name": "n\x00", "text": "hi", "type": "mass", "channel": "sms"}
    r = await client.post("/ui/campaigns", data=body)
    assert r.status_code == 422
    assert "name" in r.text and "NUL" in r.text
    _rows, total = await campaign_service.search(db, account_id=tenant.id)
    assert total == 0
