"""Small test helpers shared by integration and acceptance tests."""

from __future__ import annotations

from typing import Any

import httpx

from clarion.dispatch.engine import Dispatcher


async def make_campaign(
    client: httpx.AsyncClient, headers: dict[str, str], **fields: Any
) -> dict[str, Any]:
    body = {"name": "spring sale", "text": "Hello from Clarion", "sender": "Clarion"} | fields
    r = await client.post("/v1/campaigns", json=body, headers=headers)
    assert r.status_code == 201, r.text
    result: dict[str, Any] = r.json()
    return result


async def add_phones(
    client: httpx.AsyncClient, headers: dict[str, str], campaign_id: int, phones: list[str]
) -> dict[str, Any]:
    r = await client.post(
        f"/v1/campaigns/{campaign_id}/recipients",
        json={"recipients": [{"phone": p} for p in phones]},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


def phones(count: int, *, start: int = 0) -> list[str]:
    """Distinct valid Kazakh mobile numbers (Kcell)."""
    return [f"+7701{n:07d}" for n in range(start, start + count)]


async def drain(dispatcher: Dispatcher, *, max_ticks: int = 1000) -> None:
    """Run dispatcher passes until one does no work."""
    for _ in range(max_ticks):
        busy, _wait = await dispatcher.tick()
        if not busy:
            return
    raise AssertionError("dispatcher still busy after max_ticks")
