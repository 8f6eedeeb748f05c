"""Huawei CC-iSales as an iSales client calls it: raw HTTP shaped like the vendor's
pages (``PUT .../pause`` with no body, ``Content-Type: application/json;
charset=UTF-8``, an AK/SK-signed ``Authorization``), exact envelopes and codes.

The signature is computed here from the vendor's algorithm, independently of the
server's code, so a server that canonicalises differently fails these tests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from tests.conftest import Tenant

from clarion.api.app import create_app
from clarion.config import Settings
from clarion.dialects.isales import credentials
from clarion.services import accounts, voice
from clarion.services.errors import NotFound
from clarion.store.db import Database
from clarion.store.schema import accounts as accounts_table

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

    async def add(self, campaign: int, numbers: list[str]) -> dict[str, Any]:
        body = {
            "callDataList": [{"sessionId": f"s{i}", "called": [n]} for i, n in enumerate(numbers)]
        }
        return await self.ok("POST", f"{BASE_V2}/{self.vdn}/calldata/{campaign}", body)

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


@pytest.fixture
async def http(settings: Settings, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, db=db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=f"https://{HOST}") as c:
        yield c


@pytest.fixture
async def isales(
    http: httpx.AsyncClient, db: Database, settings: Settings, tenant: Tenant
) -> Isales:
    ak, sk = await credentials(db, settings, tenant.key)
    return Isales(http, ak, sk, tenant.id)


@pytest.fixture
async def other(http: httpx.AsyncClient, db: Database, settings: Settings) -> Isales:
    """A second tenant with an explicit VDN."""
    new = await accounts.create(db, name="globex", balance=Decimal("50"), currency="USD")
    async with db.begin() as conn:
        await conn.execute(
            update(accounts_table).where(accounts_table.c.id == new.account_id).values(vdn_id=77)
        )
    ak, sk = await credentials(db, settings, new.api_key)
    return Isales(http, ak, sk, 77)


async def row_of(db: Database, tenant: Tenant, vdn: int, number: int) -> Any:
    return await voice.find(db, account_id=tenant.id, external_id=f"isales:{vdn}:{number}")


# --- the seed: pause ----------------------------------------------------------------------


async def test_pause_of_a_running_campaign_answers_the_seed_body_and_again_0200011(
    isales: Isales, db: Database, tenant: Tenant
) -> None:
    number = await isales.create(campaign_body())
    await isales.add(number, NUMBERS[:3])
    assert await isales.ok("PUT", isales.path(number, "start")) == OK

    r = await isales.call("PUT", isales.path(number, "pause"))
    assert r.status_code == 200
    assert r.json() == OK
    assert (await row_of(db, tenant, isales.vdn, number)).status == "PAUSED"

    again = expect(await isales.call("PUT", isales.path(number, "pause")), "0200011")
    assert "cannot be suspended" in again["resultDesc"]
    assert set(again) == set(OK)


async def test_pause_of_a_campaign_never_started_is_0200011(isales: Isales) -> None:
    number = await isales.create(campaign_body())
    expect(await isales.call("PUT", isales.path(number, "pause")), "0200011")


async def test_unknown_campaign_is_0200007(isales: Isales) -> None:
    for verb in ("pause", "resume", "start", "stop"):
        data = expect(await isales.call("PUT", isales.path(999, verb)), "0200007")
        assert data == {
            "resultCode": "0200007",
            "resultDesc": "The outbound campaign does not exist.",
            "returnCode": "0200007",
            "returnDesc": "The outbound campaign does not exist.",
        }
    expect(await isales.call("GET", isales.path(999)), "0200007")
    expect(await isales.call("DELETE", isales.path(999)), "0200007")
    expect(
        await isales.call(
            "POST", f"{BASE_V2}/{isales.vdn}/calldata/999", {"callDataList": [{"called": ["1"]}]}
        ),
        "0200007",
    )


async def test_another_tenants_campaign_is_answered_as_unknown(
    isales: Isales, other: Isales
) -> None:
    mine = await isales.create(campaign_body())
    unknown = (await isales.call("PUT", isales.path(999, "pause"))).json()
    # the other tenant, its own VDN and my campaign's number: nothing there
    assert (await other.call("PUT", other.path(mine, "pause"))).json() == unknown
    # the other tenant naming my VDN and my campaign: the same answer
    foreign = f"{BASE}/{isales.vdn}/{mine}"
    for method, path in (
        ("PUT", foreign + "/pause"),
        ("PUT", foreign + "/resume"),
        ("GET", foreign),
        ("DELETE", foreign),
    ):
        r = await other.call(method, path)
        assert r.status_code == 200 and r.json() == unknown, (method, path, r.text)
    r = await other.call(
        "POST",
        f"{BASE_V2}/{isales.vdn}/calldata/{mine}",
        {"callDataList": [{"called": [NUMBERS[0]]}]},
    )
    assert r.json() == unknown
    # my campaign is untouched and still mine
    detail = await isales.ok("GET", isales.path(mine))
    assert detail["returnObject"]["status"] == 1
    # queries and creates on a foreign VDN name vdnId, whatever that VDN is
    for vdn in (isales.vdn, 4242):
        data = expect(await other.call("GET", f"{BASE}/{vdn}"), "0200001")
        assert "vdnId" in data["resultDesc"]
        expect(await other.call("POST", f"{BASE}/{vdn}", campaign_body()), "0200001")
    listing = await isales.ok("GET", f"{BASE}/{isales.vdn}")
    assert [c["id"] for c in listing["data"]] == [mine]
    assert (await other.ok("GET", f"{BASE}/{other.vdn}"))["data"] == []


async def test_campaign_ids_count_per_vdn(isales: Isales, other: Isales) -> None:
    assert await isales.create(campaign_body(name="a")) == 1
    assert await isales.create(campaign_body(name="b")) == 2
    assert await other.create(campaign_body(name="a")) == 1


# --- path parameters --------------------------------------------------------------------


async def test_path_parameters_conversion_and_range(isales: Isales) -> None:
    expect(await isales.call("PUT", f"{BASE}/abc/1/pause"), "02000008")
    expect(await isales.call("PUT", f"{BASE}/{isales.vdn}/x1/pause"), "02000008")
    expect(await isales.call("PUT", f"{BASE}/{isales.vdn}/1.5/pause"), "02000008")
    expect(await isales.call("PUT", f"{BASE}/0/1/pause"), "02000007")
    expect(await isales.call("PUT", f"{BASE}/10000/1/pause"), "02000007")
    expect(await isales.call("PUT", f"{BASE}/{isales.vdn}/0/pause"), "02000007")
    expect(await isales.call("PUT", f"{BASE}/{isales.vdn}/{2**70}/pause"), "0200007")
    expect(await isales.call("PUT", f"{BASE}/{isales.vdn}/%00/pause"), "02000008")


async def test_a_path_that_is_no_interface_answers_the_envelope_404(isales: Isales) -> None:
    expect(await isales.call("GET", f"{BASE}/{isales.vdn}/1/pause"), "0200001", status=404)
    expect(await isales.call("PUT", "/rest/isales/v9/other"), "0200001", status=404)


# --- authentication -----------------------------------------------------------------------


async def test_authentication_failures_are_401_with_the_envelope(
    isales: Isales, tenant: Tenant
) -> None:
    number = await isales.create(campaign_body())
    path = isales.path(number, "pause")
    cases = {
        "missing": await isales.http.put(path, headers={"Content-Type": CONTENT_TYPE}),
        "bearer api key": await isales.call("PUT", path, auth=f"Bearer {tenant.key}"),
        "stale": await isales.call("PUT", path, when=datetime.now(UTC) - timedelta(minutes=20)),
        "future": await isales.call("PUT", path, when=datetime.now(UTC) + timedelta(minutes=20)),
        "wrong sk": await Isales(isales.http, isales.ak, "0" * 64, isales.vdn).call("PUT", path),
        "forged ak": await Isales(isales.http, "1-" + "0" * 24, isales.sk, isales.vdn).call(
            "PUT", path
        ),
        "garbage": await isales.call("PUT", path, auth="auth-v2/x/y"),
        "unknown version": await isales.call(
            "PUT",
            path,
            auth=authorization(isales.ak, isales.sk, "PUT", path, {"host": HOST}).replace(
                "auth-v2", "auth-v1", 1
            ),
        ),
        "host unsigned": await isales.call(
            "PUT",
            path,
            auth=authorization(isales.ak, isales.sk, "PUT", path, {"content-type": CONTENT_TYPE}),
        ),
        "other path signed": await isales.call(
            "PUT",
            path,
            auth=authorization(
                isales.ak, isales.sk, "PUT", isales.path(number, "resume"), {"host": HOST}
            ),
        ),
    }
    for name, r in cases.items():
        data = expect(r, "0200001", status=401)
        assert data["resultDesc"].startswith("Parameter error. Authentication failed"), name
    # none of them paused it
    assert (await isales.ok("GET", isales.path(number)))["returnObject"]["status"] == 1


async def test_a_signed_body_must_be_the_body_sent(isales: Isales) -> None:
    body = json.dumps(campaign_body()).encode()
    signed = {"host": HOST, "content-type": CONTENT_TYPE, "content-length": str(len(body))}
    header = authorization(isales.ak, isales.sk, "POST", f"{BASE}/{isales.vdn}", signed, body=body)
    tampered = body.replace(b"10085", b"10086")
    r = await isales.http.post(
        f"{BASE}/{isales.vdn}",
        content=tampered,
        headers={"Content-Type": CONTENT_TYPE, "Authorization": header},
    )
    expect(r, "0200001", status=401)


async def test_base64_signatures_and_signed_queries_are_accepted(isales: Isales) -> None:
    await isales.create(campaign_body())
    data = await isales.ok(
        "GET",
        f"{BASE}/{isales.vdn}",
        query=[("status", "0"), ("deviceType", "0"), ("curPage", "1"), ("rowsPerPage", "10")],
        encoding="base64",
    )
    assert data["totalSize"] == 1


async def test_revoked_keys_lose_their_credentials(
    isales: Isales, db: Database, settings: Settings, tenant: Tenant
) -> None:
    await accounts.rotate_key(db, account_id=tenant.id)
    expect(await isales.call("GET", f"{BASE}/{isales.vdn}"), "0200001", status=401)
    with pytest.raises(NotFound):
        await credentials(db, settings, tenant.key)


async def test_credentials_are_stable_and_distinct_per_key(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    first = await credentials(db, settings, tenant.key)
    assert first == await credentials(db, settings, f"  {tenant.key} ")
    other = await accounts.create(db, name="initech", balance=Decimal("1"), currency="USD")
    second = await credentials(db, settings, other.api_key)
    assert first[0] != second[0] and first[1] != second[1]
    assert tenant.key not in first[0] + first[1]
    assert len(first[1]) == 64 and "/" not in first[0]
