"""An iSales client for the tests: requests signed with the vendor's auth-v2 algorithm,
computed here independently of the server's code (a server that canonicalises
differently fails the tests), the vendor's example bodies, envelope checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from tests.conftest import Tenant

from clarion.services import voice
from clarion.store.db import Database

HOST = "isales.test:28443"
CONTENT_TYPE = "application/json; charset=UTF-8"
BASE = "/rest/isales/v1/openapi/campaigns"
BASE_V2 = "/rest/isales/v2/openapi/campaigns"
OK = {"resultCode": "0200000", "resultDesc": "", "returnCode": "0200000", "returnDesc": ""}
NUMBERS = [f"7701{n:07d}" for n in range(40)]  # Kazakh mobiles, international digits


def _quote(value: str | bytes) -> str:
    return urllib.parse.quote(value, safe="-._~")


def authorization(
    ak: str,
    sk: str,
    method: str,
    path: str,
    headers: dict[str, str],
    *,
    query: list[tuple[str, str]] | None = None,
    body: bytes = b"",
    when: datetime | None = None,
    encoding: str = "hex",
) -> str:
    """The vendor's auth-v2 header, from its documented algorithm."""
    moment = when or datetime.now(UTC)
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    names = sorted(headers)
    prefix = f"auth-v2/{ak}/{stamp}/{';'.join(names)}"
    canonical = "\n".join(
        [
            method,
            path,
            "&".join(f"{k}={v}" for k, v in sorted((_quote(k), _quote(v)) for k, v in query or [])),
            ";".join(names),
            "\n".join(f"{n}:{_quote(headers[n].strip())}" for n in names),
            _quote(body) if body else "",
        ]
    )
    if encoding == "hex":
        key = hmac.new(sk.encode(), prefix.encode(), hashlib.sha256).hexdigest()
        signature = hmac.new(key.encode(), canonical.encode(), hashlib.sha256).hexdigest()
    else:
        raw = hmac.new(sk.encode(), prefix.encode(), hashlib.sha256).digest()
        digest = hmac.new(raw, canonical.encode(), hashlib.sha256).digest()
        signature = base64.b64encode(digest).decode()
    return f"{prefix}/{signature}"


@dataclass
class ManualClock:
    """The dialect's clock in tests (``app.state.isales_clock``): it stands still until
    a test moves it, so rules of time (call data at most once a second, begin and end
    times) are tested without sleeping."""

    current: datetime = field(default_factory=lambda: datetime.now(UTC))

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


@dataclass
class Isales:
    """An iSales client: every request signed with one tenant's AK/SK."""

    http: httpx.AsyncClient
    ak: str
    sk: str
    vdn: int

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        query: list[tuple[str, str]] | None = None,
        when: datetime | None = None,
        encoding: str = "hex",
        auth: str | None = None,
    ) -> httpx.Response:
        content = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        signed = {"host": HOST, "content-type": CONTENT_TYPE}
        if content:
            signed["content-length"] = str(len(content))
        header = auth or authorization(
            self.ak,
            self.sk,
            method,
            path,
            signed,
            query=query or [],
            body=content,
            when=when,
            encoding=encoding,
        )
        return await self.http.request(
            method,
            path,
            params=tuple(query or ()),
            content=content or None,
            headers={"Content-Type": CONTENT_TYPE, "Authorization": header},
        )

    async def ok(self, method: str, path: str, body: Any = None, **kw: Any) -> dict[str, Any]:
        r = await self.call(method, path, body, **kw)
        assert r.status_code == 200, r.text
        data: dict[str, Any] = r.json()
        assert data["resultCode"] == "0200000", data
        return data

    async def create(self, body: dict[str, Any], *, v2: bool = False) -> int:
        data = await self.ok("POST", f"{BASE_V2 if v2 else BASE}/{self.vdn}", body)
        number: int = data["returnObject"]["id"]
        return number

    async def add_raw(self, campaign: int, numbers: list[str]) -> httpx.Response:
        """POST V2 call data, one record per number; the response whatever it is."""
        body = {
            "callDataList": [{"sessionId": f"s{i}", "called": [n]} for i, n in enumerate(numbers)]
        }
        return await self.call("POST", f"{BASE_V2}/{self.vdn}/calldata/{campaign}", body)

    async def add(self, campaign: int, numbers: list[str]) -> dict[str, Any]:
        r = await self.add_raw(campaign, numbers)
        assert r.status_code == 200, r.text
        data: dict[str, Any] = r.json()
        assert data["resultCode"] == "0200000", data
        return data

    def path(self, campaign: int | str, verb: str = "") -> str:
        return f"{BASE}/{self.vdn}/{campaign}" + (f"/{verb}" if verb else "")


def expect(response: httpx.Response, code: str, *, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    data: dict[str, Any] = response.json()
    assert data["resultCode"] == code, data
    assert data["returnCode"] == code, data
    assert data["resultDesc"] == data["returnDesc"] != "", data
    return data


def today(hour: int = 0) -> str:
    now = datetime.now(UTC)
    return now.replace(hour=hour, minute=0, second=0, microsecond=0).strftime("%Y-%m-%d %H:%M:%S")


def later(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%d 23:59:59")


def campaign_body(**changes: Any) -> dict[str, Any]:
    """The vendor's V1 example (``十一流量包推荐``), dated from today."""
    body: dict[str, Any] = {
        "name": "十一流量包推荐",
        "description": "十一流量包推荐",
        "strBeginTime": today(),
        "strEndTime": later(27),
        "deviceType": 2,
        "callerNo": "10085",
        "maxAlertingTime": 20,
        "scheduleParam": {
            "workdayBeginTime1": "08:00",
            "workdayEndTime1": "11:30",
            "workdayBeginTime2": "13:00",
            "workdayEndTime2": "17:30",
            "workdayBeginTime3": "",
            "workdayEndTime3": "",
            "holidayBeginTime1": "10:00",
            "holidayEndTime1": "11:00",
            "holidayBeginTime2": "13:00",
            "holidayEndTime2": "17:30",
            "holidayBeginTime3": "",
            "holidayEndTime3": "",
        },
        "skillParam": {
            "skillId": 5,
            "skillName": "Voice Skill Queue",
            "outBoundType": 2,
            "predictParam": {"predictMethod": 5, "offhookPredictParam": {"offHookRate": 100}},
        },
        "initStatus": 0,
        "callBackUrl": "https://8.8.8.8/isales/result",
    }
    body.update(changes)
    return body


def ivr_body(**changes: Any) -> dict[str, Any]:
    body = campaign_body(deviceType=3, ivrParam={"flowAccessCode": "10086", "maxCallNum": 40})
    del body["skillParam"]
    body.update(changes)
    return body


async def row_of(db: Database, tenant: Tenant, vdn: int, number: int) -> Any:
    return await voice.find(db, account_id=tenant.id, external_id=f"isales:{vdn}:{number}")
