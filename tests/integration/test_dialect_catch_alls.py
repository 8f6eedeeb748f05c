"""A path that half-matches a dialect's parameter route with another method (the
parameter holds a newline, ``%0A``) is still answered in that dialect's envelope, not
in /v1's problem+json (dialects/__init__.py ``anypath``)."""

from __future__ import annotations

import httpx
import pytest
from tests.conftest import Tenant


@pytest.mark.parametrize("ident", ["%0A", "a%0Ab", "%0D%0A"])
async def test_autocall_405_for_a_newline_id(
    client: httpx.AsyncClient, tenant: Tenant, ident: str
) -> None:
    r = await client.patch(f"/v3/campaign/{ident}", headers=tenant.headers)
    assert r.status_code == 405
    assert r.json() == {"error": "method not allowed"}


async def test_autocall_unknown_newline_path_is_its_404(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    r = await client.get("/v3/nothing/%0A/here", headers=tenant.headers)
    assert r.status_code == 404
    assert r.json() == {"error": "not found"}


async def test_isales_newline_path_is_its_envelope(client: httpx.AsyncClient) -> None:
    r = await client.get("/rest/isales/v2/openapi/campaigns/1/calldata/a%0Ab")
    assert r.status_code == 404
    assert set(r.json()) >= {"resultCode", "resultDesc"}, r.text


async def test_mobizon_newline_path_is_its_envelope(client: httpx.AsyncClient) -> None:
    r = await client.get("/service/campaign/%0A/x")
    body = r.json()
    assert set(body) == {"code", "data", "message"}
    assert body["code"] != 0
