"""Huawei CC-iSales as an iSales client calls it: raw HTTP shaped like the vendor's
pages (``PUT .../pause`` with no body, ``Content-Type: application/json;
charset=UTF-8``, an AK/SK-signed ``Authorization``), exact envelopes and codes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from tests.acceptance.isales.client import (
    BASE,
    BASE_V2,
    CONTENT_TYPE,
    HOST,
    NUMBERS,
    OK,
    Isales,
    ManualClock,
    authorization,
    campaign_body,
    expect,
    ivr_body,
    later,
    row_of,
    today,
)
from tests.conftest import Tenant

from clarion.api.app import create_app
from clarion.config import Settings
from clarion.dialects.isales import credentials, wire
from clarion.services import accounts, voice
from clarion.services.errors import NotFound
from clarion.store.db import Database

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


# --- create, details, query -----------------------------------------------------------------


async def test_create_v1_then_details_echo_the_campaign(
    isales: Isales, db: Database, tenant: Tenant
) -> None:
    body = campaign_body()
    r = await isales.call("POST", f"{BASE}/{isales.vdn}", body)
    assert r.status_code == 200
    assert r.json() == {**OK, "returnObject": {"id": 1}}

    detail = await isales.ok("GET", isales.path(1))
    assert detail == {
        **OK,
        "returnObject": {
            "id": 1,
            "name": "十一流量包推荐",
            "description": "十一流量包推荐",
            "status": 1,
            "strBeginTime": body["strBeginTime"],
            "strEndTime": body["strEndTime"],
            "deviceType": 2,
            "callerNo": "10085",
            "maxAlertingTime": 20,
            "scheduleParam": {
                "workdayBeginTime1": "08:00",
                "workdayEndTime1": "11:30",
                "workdayBeginTime2": "13:00",
                "workdayEndTime2": "17:30",
                "workdayBeginTime3": None,
                "workdayEndTime3": None,
                "holidayBeginTime1": "10:00",
                "holidayEndTime1": "11:00",
                "holidayBeginTime2": "13:00",
                "holidayEndTime2": "17:30",
                "holidayBeginTime3": None,
                "holidayEndTime3": None,
            },
            "ivrParam": None,
            "skillParam": body["skillParam"],
            "callBackUrl": "https://8.8.8.8/isales/result",
        },
    }
    # the voice campaign behind it
    row = await row_of(db, tenant, isales.vdn, 1)
    config = voice.config_of(row)
    assert (row.channel, row.sender, row.status) == ("voice", "10085", "DRAFT")
    assert (config.dialer, config.agents, config.concurrent_call) == ("predictive", 10, 30)
    assert config.call_timeout == 20
    assert config.callback_url == "https://8.8.8.8/isales/result"
    h = 3600 * 10**9
    assert (
        config.hours.days
        == (
            (
                (8 * h, 11 * h + 30 * 60 * 10**9),
                (13 * h, 17 * h + 30 * 60 * 10**9),
            ),
        )
        * 7
    )


async def test_device_types_map_onto_the_dialer(
    isales: Isales, db: Database, tenant: Tenant
) -> None:
    cases = {
        1: ivr_body(name="smart", deviceType=1),
        2: campaign_body(name="predicted"),
        3: ivr_body(name="auto", ivrParam={"flowAccessCode": "10086"}),
        5: campaign_body(name="preview", deviceType=5),
        6: campaign_body(name="preempted", deviceType=6),
    }
    for device, body in cases.items():
        number = await isales.create(body)
        config = voice.config_of(await row_of(db, tenant, isales.vdn, number))
        detail = (await isales.ok("GET", isales.path(number)))["returnObject"]
        assert detail["deviceType"] == device
        if device in (1, 3):
            assert (config.dialer, config.agents, config.template) == ("auto", 0, "10086")
            assert config.concurrent_call == (40 if device == 1 else 10)
            assert detail["ivrParam"] == body["ivrParam"] and detail["skillParam"] is None
        else:
            assert config.dialer == ("predictive" if device == 2 else "preview")
            assert config.agents == 10  # the account's licences


async def test_create_v2_with_the_vendor_example(
    isales: Isales, db: Database, tenant: Tenant
) -> None:
    body = campaign_body(
        name="test0827shwocase1",
        callerNo=[
            {"accessCode": "88889527", "priority": 3},
            {"accessCode": "88880066", "priority": 4},
        ],
        priority=4,
        scheduleParam={
            "workdayBeginTime1": "00:00",
            "workdayEndTime1": "23:59",
            "workdayBeginTime2": "",
            "workdayEndTime2": "",
            "workdayBeginTime3": "",
            "workdayEndTime3": "",
            "holidayBeginTime1": "10:00",
            "holidayEndTime1": "11:00",
            "holidayBeginTime2": "13:00",
            "holidayEndTime2": "17:30",
            "holidayBeginTime3": "",
            "holidayEndTime3": "",
        },
        retryPolicy={
            "policyType": 1,
            "policyJson": "[{'dataType':'SI','type':1,'policy':[{'result':4,'retryNumber':3,"
            "'callInterval':600}]}]",
        },
        callPolicy={"callType": 1, "chooseType": 0, "turns": [{"turnType": "SI"}]},
    )
    number = await isales.create(body, v2=True)
    row = await row_of(db, tenant, isales.vdn, number)
    config = voice.config_of(row)
    assert row.sender == "88889527"
    assert (config.recall.recall_times, config.recall.schedule_recall_duration) == (3, 10)
    assert config.hours.days == (((0, 24 * 3600 * 10**9),),) * 7
    detail = (await isales.ok("GET", isales.path(number)))["returnObject"]
    assert detail["callerNo"] == "88889527"
    assert detail["scheduleParam"]["workdayEndTime1"] == "23:59"
    # V2 rings at most 60 s
    expect(
        await isales.call(
            "POST", f"{BASE_V2}/{isales.vdn}", {**body, "name": "x", "maxAlertingTime": 61}
        ),
        "02000007",
    )


async def test_query_lists_pages_and_filters(isales: Isales, other: Isales) -> None:
    first = await isales.create(campaign_body(name="alpha one"))
    second = await isales.create(ivr_body(name="beta"))
    third = await isales.create(campaign_body(name="alpha two", deviceType=5))
    await isales.add(first, NUMBERS[:2])
    await isales.ok("PUT", isales.path(first, "start"))
    await isales.ok("PUT", isales.path(first, "pause"))
    await other.create(campaign_body(name="alpha elsewhere"))

    listing = await isales.ok("GET", f"{BASE}/{isales.vdn}")
    body = campaign_body()
    assert listing == {
        **OK,
        "curPage": 1,
        "totalSize": 3,
        "rowsPerPage": 10,
        "curSkillQueueCount": 2,
        "curIvrCount": 1,
        "data": [
            {
                "id": first,
                "name": "alpha one",
                "status": 3,
                "strBeginTime": body["strBeginTime"],
                "strEndTime": body["strEndTime"],
                "deviceType": 2,
                "callerNo": "10085",
            },
            {
                "id": second,
                "name": "beta",
                "status": 1,
                "strBeginTime": body["strBeginTime"],
                "strEndTime": body["strEndTime"],
                "deviceType": 3,
                "callerNo": "10085",
            },
            {
                "id": third,
                "name": "alpha two",
                "status": 1,
                "strBeginTime": body["strBeginTime"],
                "strEndTime": body["strEndTime"],
                "deviceType": 5,
                "callerNo": "10085",
            },
        ],
    }

    async def ids(*query: tuple[str, str]) -> list[int]:
        data = await isales.ok("GET", f"{BASE}/{isales.vdn}", query=list(query))
        return [c["id"] for c in data["data"]]

    assert await ids(("name", "alpha")) == [first, third]
    assert await ids(("status", "3")) == [first]
    assert await ids(("status", "1"), ("deviceType", "5")) == [third]
    assert await ids(("deviceType", "3")) == [second]
    assert await ids(("rowsPerPage", "2"), ("curPage", "2")) == [third]
    assert await ids(("rowsPerPage", "2"), ("curPage", "-4")) == [first, second]
    assert await ids(("beginTime", today()), ("endTime", later(30))) == [first, second, third]
    assert await ids(("beginTime", later(1))) == []

    async def code(*query: tuple[str, str]) -> str:
        r = await isales.call("GET", f"{BASE}/{isales.vdn}", query=list(query))
        return str(expect(r, r.json()["resultCode"])["resultCode"])

    assert await code(("rowsPerPage", "101")) == "02000007"
    assert await code(("status", "7")) == "02000007"
    assert await code(("curPage", "two")) == "02000008"
    assert await code(("status", "2"), ("status", "3")) == "02000011"
    assert await code(("name", "x" * 31)) == "02000003"
    assert await code(("name", "a\tb")) == "02000002"
    assert await code(("beginTime", "2026-01-01")) == "02000004"
    assert await code(("endTime", "2026-01-01 10:00:00 UTC")) == "02000003"
    assert await code(("beginTime", "2026-13-01 10:00:00")) == "02000008"
    assert await code(("beginTime", later(2)), ("endTime", later(1))) == "02000009"


# --- create: every parameter code ----------------------------------------------------------


def _without(key: str) -> dict[str, Any]:
    body = campaign_body()
    del body[key]
    return body


def _schedule(**windows: str) -> dict[str, Any]:
    return campaign_body(scheduleParam=windows)


CREATE_ERRORS: list[tuple[str, Any, str]] = [
    ("no name", _without("name"), "02000001"),
    ("empty name", campaign_body(name=""), "02000001"),
    ("null deviceType", campaign_body(deviceType=None), "02000001"),
    ("no scheduleParam", _without("scheduleParam"), "02000001"),
    ("no window at all", _schedule(workdayBeginTime1="", workdayEndTime1=""), "02000001"),
    ("NUL in name", campaign_body(name="a\x00b"), "02000002"),
    ("NUL in a key", {**campaign_body(), "x\x00": 1}, "02000002"),
    ("control character", campaign_body(name="a\x1bb"), "02000002"),
    ("description <", campaign_body(description="a <b>"), "02000002"),
    ("callerNo letters", campaign_body(callerNo="10085a"), "02000002"),
    ("name too long", campaign_body(name="n" * 101), "02000003"),
    ("description too long", campaign_body(description="d" * 201), "02000003"),
    ("callerNo too long", campaign_body(callerNo="1" * 25), "02000003"),
    ("time too long", campaign_body(strEndTime=later(3) + ".000"), "02000003"),
    ("skillParam too long", campaign_body(skillParam={"skillId": 1, "x": "y" * 700}), "02000003"),
    ("time too short", campaign_body(strBeginTime="2026-01-01"), "02000004"),
    ("deviceType object", campaign_body(deviceType={"v": 2}), "02000006"),
    ("deviceType true", campaign_body(deviceType=True), "02000006"),
    ("deviceType float", campaign_body(deviceType=2.5), "02000006"),
    ("name list", campaign_body(name=["a"]), "02000006"),
    ("scheduleParam list", campaign_body(scheduleParam=[]), "02000006"),
    ("deviceType 4", campaign_body(deviceType=4), "02000007"),
    ("maxAlertingTime 4", campaign_body(maxAlertingTime=4), "02000007"),
    ("maxAlertingTime 121", campaign_body(maxAlertingTime=121), "02000007"),
    ("preview rings 9 s or more", campaign_body(deviceType=5, maxAlertingTime=8), "02000007"),
    ("initStatus 1", campaign_body(initStatus=1), "02000007"),
    ("hour 24", _schedule(workdayBeginTime1="24:00", workdayEndTime1="24:30"), "02000007"),
    ("skillId 0", campaign_body(skillParam={"skillId": 0}), "02000007"),
    ("deviceType text", campaign_body(deviceType="two"), "02000008"),
    ("bad date", campaign_body(strBeginTime="2026-02-30 10:00:00"), "02000008"),
    ("bad clock", _schedule(workdayBeginTime1="8h00", workdayEndTime1="9:00"), "02000008"),
    ("begin without end", _schedule(workdayBeginTime1="08:00"), "02000009"),
    ("end before begin", _schedule(workdayBeginTime1="18:00", workdayEndTime1="08:00"), "02000009"),
    ("end before start", campaign_body(strEndTime=today()), "02000009"),
    ("IVR without ivrParam", campaign_body(deviceType=3), "02000009"),
    ("skill queue without skillParam", _without("skillParam"), "02000009"),
    ("hour only", _schedule(workdayBeginTime1="08", workdayEndTime1="12:00"), "02000010"),
    ("hour and colon", _schedule(workdayBeginTime1="8:", workdayEndTime1="12:00"), "02000010"),
    (
        "too many callers",
        campaign_body(callerNo=[{"accessCode": str(n)} for n in range(100, 111)]),
        "02000011",
    ),
]


async def test_create_parameter_errors(isales: Isales) -> None:
    for name, body, code in CREATE_ERRORS:
        v2 = isinstance(body.get("callerNo"), list)
        r = await isales.call("POST", f"{BASE_V2 if v2 else BASE}/{isales.vdn}", body)
        assert r.json()["resultCode"] == code, (name, r.text)
        expect(r, code)
    assert (await isales.ok("GET", f"{BASE}/{isales.vdn}"))["totalSize"] == 0


async def test_create_bodies_that_are_not_objects(isales: Isales) -> None:
    path = f"{BASE}/{isales.vdn}"
    expect(await isales.call("POST", path, raw=b""), "02000001")
    expect(await isales.call("POST", path, raw=b"{not json"), "02000008")
    expect(await isales.call("POST", path, raw=b"\xff\xfe{}"), "02000008")
    expect(await isales.call("POST", path, raw=b"[1, 2]"), "02000006")
    expect(await isales.call("POST", path, raw=b"x" * (1024 * 1024 + 1)), "02000003")


async def test_create_business_errors(isales: Isales) -> None:
    await isales.create(campaign_body(name="taken"))
    expect(
        await isales.call("POST", f"{BASE}/{isales.vdn}", campaign_body(name="taken")), "0200005"
    )
    yesterday = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d 23:00:00")
    data = expect(
        await isales.call("POST", f"{BASE}/{isales.vdn}", campaign_body(strBeginTime=yesterday)),
        "0200002",
    )
    assert "strBeginTime" in data["resultDesc"]
    expect(
        await isales.call(
            "POST",
            f"{BASE}/{isales.vdn}",
            campaign_body(name="lan", callBackUrl="http://10.0.0.1/x"),
        ),
        "0200001",
    )


async def test_twenty_current_campaigns_of_a_kind_at_most(isales: Isales) -> None:
    for n in range(20):
        await isales.create(campaign_body(name=f"skill {n}"))
    expect(await isales.call("POST", f"{BASE}/{isales.vdn}", campaign_body(name="21")), "0200003")
    for n in range(20):
        await isales.create(ivr_body(name=f"ivr {n}"))
    expect(await isales.call("POST", f"{BASE}/{isales.vdn}", ivr_body(name="21")), "0200004")
    # a completed campaign no longer counts
    await isales.ok("DELETE", isales.path(1))
    assert await isales.create(campaign_body(name="again")) == 41


# --- call data --------------------------------------------------------------------------------


async def test_call_data_v2_adds_numbers_with_their_session_data(
    isales: Isales, db: Database, tenant: Tenant
) -> None:
    number = await isales.create(campaign_body())
    body = {
        "callDataList": [
            {
                "sessionId": "cust-1",
                "called": [NUMBERS[0], NUMBERS[1]],
                "callData": '{"fullName":"Lin"}',
                "customField": "gold",
            },
            {"sessionId": "cust-2", "called": [NUMBERS[2]], "caller": "10086"},
        ]
    }
    data = await isales.ok("POST", f"{BASE_V2}/{isales.vdn}/calldata/{number}", body)
    assert data == {**OK, "returnObject": {"successCount": 3, "failCount": 0, "failList": []}}
    row = await row_of(db, tenant, isales.vdn, number)
    stats = await voice.stats(db, account_id=tenant.id, campaign_id=row.id)
    assert (stats.recipients, stats.waiting) == (3, 3)
    async with db.read() as conn:
        found = (
            await conn.execute(
                text("SELECT phone, variables FROM messages WHERE campaign_id = :c ORDER BY id"),
                {"c": row.id},
            )
        ).all()
    variables = [json.loads(v) if isinstance(v, str) else v for _, v in found]
    assert [p for p, _ in found] == [f"+{n}" for n in NUMBERS[:3]]
    assert variables[0] == {
        "sessionId": "cust-1",
        "callData": '{"fullName":"Lin"}',
        "customField": "gold",
    }
    assert variables[2] == {"sessionId": "cust-2", "caller": "10086"}


async def test_call_data_v1_and_partial_failures(isales: Isales, clock: ManualClock) -> None:
    number = await isales.create(campaign_body())
    path = f"{BASE}/{isales.vdn}/calldata/{number}"
    body = {
        "callDataList": [
            {"sessionId": "a", "called": NUMBERS[0]},
            {"sessionId": "b", "called": "123456"},  # no such number
            {"sessionId": "c", "called": NUMBERS[0]},  # already added by "a"
        ]
    }
    data = await isales.ok("POST", path, body)
    assert data["returnObject"]["successCount"] == 1
    assert data["returnObject"]["failCount"] == 2
    assert [(f["sessionId"], f["called"]) for f in data["returnObject"]["failList"]] == [
        ("b", "123456"),
        ("c", NUMBERS[0]),
    ]
    assert all(f["failReason"] for f in data["returnObject"]["failList"])
    clock.advance(1)
    none = expect(
        await isales.call("POST", path, {"callDataList": [{"called": "123456"}]}), "0200001"
    )
    assert none["returnObject"] == {
        "successCount": 0,
        "failCount": 1,
        "failList": [
            {
                "sessionId": None,
                "called": "123456",
                "failReason": none["returnObject"]["failList"][0]["failReason"],
            }
        ],
    }


def _records(count: int) -> dict[str, Any]:
    return {"callDataList": [{"called": [NUMBERS[n % len(NUMBERS)]]} for n in range(count)]}


CALL_DATA_ERRORS: list[tuple[str, Any, str]] = [
    ("no list", {}, "02000001"),
    ("empty list", {"callDataList": []}, "02000001"),
    ("no called", {"callDataList": [{"sessionId": "a"}]}, "02000001"),
    ("empty called", {"callDataList": [{"called": ""}]}, "02000001"),
    ("letters", {"callDataList": [{"called": ["7701abc"]}]}, "02000002"),
    ("NUL", {"callDataList": [{"called": [NUMBERS[0]], "callData": "a\x00"}]}, "02000002"),
    (
        "long session",
        {"callDataList": [{"called": [NUMBERS[0]], "sessionId": "s" * 33}]},
        "02000003",
    ),
    (
        "long callData",
        {"callDataList": [{"called": [NUMBERS[0]], "callData": "c" * 1025}]},
        "02000003",
    ),
    ("short number", {"callDataList": [{"called": ["12"]}]}, "02000005"),
    ("long number", {"callDataList": [{"called": ["1" * 25]}]}, "02000005"),
    ("list is an object", {"callDataList": {"called": "1"}}, "02000006"),
    ("record is a string", {"callDataList": ["7701"]}, "02000006"),
    ("called is an object", {"callDataList": [{"called": {"n": 1}}]}, "02000006"),
    ("twice in a session", {"callDataList": [{"called": [NUMBERS[0], NUMBERS[0]]}]}, "02000009"),
    ("21 records", _records(21), "02000011"),
    ("11 numbers", {"callDataList": [{"called": NUMBERS[:11]}]}, "02000011"),
]


async def test_call_data_parameter_errors(isales: Isales) -> None:
    number = await isales.create(campaign_body())
    path = f"{BASE_V2}/{isales.vdn}/calldata/{number}"
    for name, body, code in CALL_DATA_ERRORS:
        r = await isales.call("POST", path, body)
        assert r.json()["resultCode"] == code, (name, r.text)
        expect(r, code)
    detail = await isales.ok("GET", f"{BASE}/{isales.vdn}/{number}")
    assert detail["returnObject"]["status"] == 1


async def test_call_data_limits_and_statuses(isales: Isales, clock: ManualClock) -> None:
    number = await isales.create(campaign_body())
    path = f"{BASE_V2}/{isales.vdn}/calldata/{number}"
    assert (await isales.ok("POST", path, _records(20)))["returnObject"]["successCount"] == 20
    await isales.ok("PUT", isales.path(number, "start"))
    # running and suspended campaigns take numbers
    clock.advance(1)
    assert (await isales.add(number, [NUMBERS[30]]))["returnObject"]["successCount"] == 1
    await isales.ok("PUT", isales.path(number, "pause"))
    clock.advance(1)
    assert (await isales.add(number, [NUMBERS[31]]))["returnObject"]["successCount"] == 1
    await isales.ok("PUT", isales.path(number, "stop"))
    expect(await isales.call("POST", path, _records(1)), "0200016")
    expect(await isales.call("POST", path, raw=b"{,}"), "02000008")


async def test_call_data_at_most_once_a_second_per_campaign(
    isales: Isales, clock: ManualClock, db: Database, tenant: Tenant
) -> None:
    """The vendor's rule: a second at least between two call-data requests of the same
    campaign, else 0200022 and nothing added. V1 and V2 share the turn; a request whose
    body is refused does not take it; other campaigns have their own."""
    first = await isales.create(campaign_body(name="first"))
    second = await isales.create(campaign_body(name="second"))
    v1 = f"{BASE}/{isales.vdn}/calldata/{first}"
    row = await row_of(db, tenant, isales.vdn, first)

    async def recipients() -> int:
        return (await voice.stats(db, account_id=tenant.id, campaign_id=row.id)).recipients

    assert (await isales.add(first, NUMBERS[:2]))["returnObject"]["successCount"] == 2
    again = expect(await isales.add_raw(first, NUMBERS[2:3]), "0200022")
    assert set(again) == set(OK)  # no returnObject: nothing was looked at
    clock.advance(0.999)
    expect(await isales.call("POST", v1, {"callDataList": [{"called": NUMBERS[3]}]}), "0200022")
    assert await recipients() == 2
    # another campaign at the same moment is not held back
    assert (await isales.add(second, NUMBERS[:1]))["returnObject"]["successCount"] == 1

    clock.advance(0.001)  # a second after the last one let through
    assert (await isales.ok("POST", v1, {"callDataList": [{"called": NUMBERS[3]}]}))[
        "returnObject"
    ]["successCount"] == 1
    clock.advance(0.5)
    expect(await isales.add_raw(first, NUMBERS[4:5]), "0200022")  # V2 after V1
    clock.advance(0.5)
    expect(await isales.add_raw(first, ["12"]), "02000005")  # refused: takes no turn
    assert (await isales.add(first, NUMBERS[4:5]))["returnObject"]["successCount"] == 1
    assert await recipients() == 4


async def test_call_data_spacing_holds_across_api_processes(
    isales: Isales,
    clock: ManualClock,
    settings: Settings,
    db: Database,
    tenant: Tenant,
) -> None:
    """Two API processes (two apps on one database, each with its own clock reading the
    same time): the turn is the database's, not a process's."""
    number = await isales.create(campaign_body())
    other_clock = ManualClock(clock.current)
    app = create_app(settings, db=db)
    app.state.isales_clock = other_clock.now
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=f"https://{HOST}") as http:
        there = Isales(http, isales.ak, isales.sk, isales.vdn)

        assert (await isales.add(number, NUMBERS[:1]))["returnObject"]["successCount"] == 1
        other_clock.advance(0.5)
        expect(await there.add_raw(number, NUMBERS[1:2]), "0200022")
        other_clock.advance(0.5)
        assert (await there.add(number, NUMBERS[1:2]))["returnObject"]["successCount"] == 1
        clock.advance(1.5)  # half a second after the other process's request
        expect(await isales.add_raw(number, NUMBERS[2:3]), "0200022")
        clock.advance(0.5)
        assert (await isales.add(number, NUMBERS[2:3]))["returnObject"]["successCount"] == 1
    row = await row_of(db, tenant, isales.vdn, number)
    stats = await voice.stats(db, account_id=tenant.id, campaign_id=row.id)
    assert stats.recipients == 3


# --- start, resume, stop, delete ----------------------------------------------------------------


async def test_status_changes_and_their_codes(isales: Isales, db: Database, tenant: Tenant) -> None:
    number = await isales.create(campaign_body())
    empty = expect(await isales.call("PUT", isales.path(number, "start")), "0200011")
    assert "recipients" in empty["resultDesc"]
    expect(await isales.call("PUT", isales.path(number, "resume")), "0200011")
    expect(await isales.call("PUT", isales.path(number, "stop")), "0200011")
    await isales.add(number, NUMBERS[:2])
    assert await isales.ok("PUT", isales.path(number, "start")) == OK
    expect(await isales.call("PUT", isales.path(number, "start")), "0200011")
    expect(await isales.call("PUT", isales.path(number, "resume")), "0200011")
    assert await isales.ok("PUT", isales.path(number, "pause")) == OK
    assert (await isales.ok("GET", isales.path(number)))["returnObject"]["status"] == 3
    assert await isales.ok("PUT", isales.path(number, "resume")) == OK
    assert (await isales.ok("GET", isales.path(number)))["returnObject"]["status"] == 2
    assert await isales.ok("PUT", isales.path(number, "stop")) == OK
    assert (await isales.ok("GET", isales.path(number)))["returnObject"]["status"] == 4
    for verb in ("start", "stop"):
        expect(await isales.call("PUT", isales.path(number, verb)), "0200016")
    for verb in ("pause", "resume"):
        expect(await isales.call("PUT", isales.path(number, verb)), "0200011")
    assert (await row_of(db, tenant, isales.vdn, number)).status == "STOPPED"


async def test_a_campaign_whose_end_time_came_is_completed(
    isales: Isales, clock: ManualClock, db: Database, tenant: Tenant
) -> None:
    """Never started, its strEndTime passes: the vendor's 4, no longer current; start,
    stop and call data are 0200016, pause and resume 0200011; it may be deleted."""
    end = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    body = campaign_body(strEndTime=end.strftime("%Y-%m-%d %H:%M:%S"))
    number = await isales.create(body)
    await isales.add(number, NUMBERS[:1])
    listing = await isales.ok("GET", f"{BASE}/{isales.vdn}")
    assert (listing["curSkillQueueCount"], listing["data"][0]["status"]) == (1, 1)

    clock.current = end - timedelta(seconds=1)
    assert (await isales.ok("GET", isales.path(number)))["returnObject"]["status"] == 1
    clock.current = end  # the end time: the campaign has ended
    assert (await isales.ok("GET", isales.path(number)))["returnObject"]["status"] == 4
    listing = await isales.ok("GET", f"{BASE}/{isales.vdn}", query=[("status", "4")])
    assert [c["id"] for c in listing["data"]] == [number]
    assert (listing["curSkillQueueCount"], listing["curIvrCount"]) == (0, 0)
    for verb in ("start", "stop"):
        expect(await isales.call("PUT", isales.path(number, verb)), "0200016")
    for verb in ("pause", "resume"):
        expect(await isales.call("PUT", isales.path(number, verb)), "0200011")
    clock.advance(5)
    expect(await isales.add_raw(number, [NUMBERS[1]]), "0200016")
    row = await row_of(db, tenant, isales.vdn, number)
    assert row.status == "DRAFT"
    stats = await voice.stats(db, account_id=tenant.id, campaign_id=row.id)
    assert stats.recipients == 1
    assert await isales.ok("DELETE", isales.path(number)) == OK


async def test_delete(isales: Isales) -> None:
    draft = await isales.create(campaign_body(name="draft"))
    assert await isales.ok("DELETE", isales.path(draft)) == OK
    expect(await isales.call("GET", isales.path(draft)), "0200007")

    running = await isales.create(campaign_body(name="running"))
    await isales.add(running, NUMBERS[:1])
    await isales.ok("PUT", isales.path(running, "start"))
    expect(await isales.call("DELETE", isales.path(running)), "0200011")
    expect(await isales.call("DELETE", isales.path(running), {"archiveHistory": 2}), "02000007")
    await isales.ok("PUT", isales.path(running, "pause"))
    assert await isales.ok("DELETE", isales.path(running), {"archiveHistory": 1}) == OK
    expect(await isales.call("GET", isales.path(running)), "0200007")


async def test_a_database_failure_is_0200006(isales: Isales, db: Database) -> None:
    number = await isales.create(campaign_body())
    await isales.add(number, NUMBERS[:1])
    await isales.ok("PUT", isales.path(number, "start"))
    async with db.begin() as conn:
        await conn.execute(text("ALTER TABLE audit_events RENAME TO audit_events_away"))
    try:
        r = await isales.call("PUT", isales.path(number, "pause"))
    finally:
        async with db.begin() as conn:
            await conn.execute(text("ALTER TABLE audit_events_away RENAME TO audit_events"))
    assert r.json() == {
        "resultCode": "0200006",
        "resultDesc": "Database operation error.",
        "returnCode": "0200006",
        "returnDesc": "Database operation error.",
    }
    # nothing changed; the campaign can still be paused
    assert (await isales.ok("GET", isales.path(number)))["returnObject"]["status"] == 2
    assert await isales.ok("PUT", isales.path(number, "pause")) == OK


async def test_the_worked_example_of_the_docs() -> None:
    """docs/dialects/isales.md signs the seed's request; both implementations agree."""
    ak = "12-5f0c2a9d41be7783c6a1d0e2"
    sk = "9c1d5e7a3b2f4c6d8e0a1b3c5d7e9f1a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e"
    path = "/rest/isales/v1/openapi/campaigns/12/3/pause"
    headers = {"content-type": "application/json; charset=UTF-8", "host": "clarion.example.com"}
    when = datetime(2026, 3, 2, 9, 15, 30, 250000, tzinfo=UTC)
    expected = (
        "auth-v2/12-5f0c2a9d41be7783c6a1d0e2/2026-03-02T09:15:30.250Z/content-type;host/"
        "2159f5d55160a0d97728f0cf4f1b1c8b291d8832f5d07e38ffdb7940e7650f3c"
    )
    assert authorization(ak, sk, "PUT", path, headers, when=when) == expected
    prefix = expected.rsplit("/", 1)[0]
    canonical = wire.canonical_request("PUT", path, [], ["content-type", "host"], headers, b"")
    assert canonical == (
        "PUT\n/rest/isales/v1/openapi/campaigns/12/3/pause\n\ncontent-type;host\n"
        "content-type:application%2Fjson%3B%20charset%3DUTF-8\nhost:clarion.example.com\n"
    )
    assert wire.sign(sk, prefix, canonical) == expected.rsplit("/", 1)[1]
