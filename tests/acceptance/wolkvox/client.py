"""A wolkvox client for the acceptance tests: requests shaped like the vendor's PHP curl
examples, and helpers to set up campaigns."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
from fastapi import FastAPI
from tests.conftest import Tenant

from clarion.config import Settings
from clarion.dialects.wolkvox.wire import Limits
from clarion.domain.voice.config import VoiceConfig
from clarion.services import accounts, voice
from clarion.services import campaigns as campaign_service
from clarion.store.db import Database

BASE = "http://wv0001.wolkvox.test"


@dataclass
class Api:
    app: FastAPI
    client: httpx.AsyncClient
    key: str

    async def call(
        self,
        method: str,
        api: str,
        *,
        php: str = "campaign.php",
        key: str | None = None,
        body: Any = None,
        **params: object,
    ) -> httpx.Response:
        """One request as the vendor's curl examples send it: the query string in the
        URL, the token in ``wolkvox-token``, a JSON body for POSTs."""
        query = "&".join([f"api={api}", *(f"{k}={v}" for k, v in params.items())])
        headers = {"wolkvox-token": self.key if key is None else key}
        content = None
        if body is not None:
            content = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        return await self.client.request(
            method, f"/api/v2/{php}?{query}", headers=headers, content=content
        )

    @property
    def limits(self) -> Limits:
        found: Limits | None = getattr(self.app.state, "wolkvox_limits", None)
        if found is None:
            found = self.app.state.wolkvox_limits = Limits()
        return found


async def new_campaign(
    db: Database, settings: Settings, account_id: int, *, dialer: str = "predictive", name: str = ""
) -> int:
    config = VoiceConfig(dialer=dialer, agents=5 if dialer != "auto" else 0, description="Cobro")
    row = await voice.create(
        db,
        account_id=account_id,
        spec=voice.VoiceSpec(name=name or f"{dialer} campaign", config=config),
        settings=settings,
    )
    return int(row.id)


def phones(count: int, start: int = 0) -> list[str]:
    """Colombian mobiles as wolkvox records carry them: international digits, no +."""
    return [f"57300{n:07d}" for n in range(start, start + count)]


def record(tel: str, n: int = 0, **extra: str) -> dict[str, str]:
    """A record with every field of wolkvox's add_record example."""
    fields = {
        "customer_name": f"Cliente {n}",
        "customer_last_name": "Perez",
        "id_type": "CC",
        "customer_id": f"100{n}",
        "age": "",
        "gender": "",
        "country": "CO",
        "state": "",
        "city": "Medellin",
        "zone": "",
        "address": "",
        **{f"opt{i}": "" for i in range(1, 13)},
        "tel1": tel,
        **{f"tel{i}": "" for i in range(2, 11)},
        "tel_extra": "",
        "email": "",
        "recall_date": "",
        "recall_telephone": "",
    }
    return fields | extra


async def status_of(db: Database, account_id: int, campaign_id: int) -> tuple[str, str | None]:
    row = await campaign_service.get(db, account_id=account_id, campaign_id=campaign_id)
    return str(row.status), row.pause_reason


async def other_tenant(db: Database) -> Tenant:
    new = await accounts.create(db, name="globex", balance=Decimal("100"), currency="USD")
    return Tenant(new.account_id, new.api_key)


def envelope(code: int, error: str | None, msg: str) -> dict[str, Any]:
    return {"code": code, "error": error, "msg": msg}
