"""Small test helpers shared by integration and acceptance tests."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """Run ``app`` under uvicorn on 127.0.0.1 (a free port) in this event loop."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    for _ in range(1000):
        if server.started:
            break
        await asyncio.sleep(0.01)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
