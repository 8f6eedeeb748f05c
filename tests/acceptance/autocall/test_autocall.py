"""The autocall v3 API as its clients call it: raw JSON over HTTP with
``Authorization: Bearer <token>``, the seed's campaign object, ``{"error": ...}``."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from tests.acceptance.autocall.seed import SEED_CURL, SEED_UUID, bearer
from tests.conftest import Tenant

from clarion.api.app import create_app
from clarion.config import Settings
from clarion.services import accounts
from clarion.store.db import Database
from clarion.store.schema import accounts as accounts_table

SEED = json.loads(SEED_CURL)
# The seed's "Sample data" body (fewer fields).
SAMPLE_KEYS = [
    "campaign_uuid",
    "campaign_name",
    "type",
    "description",
    "active",
    "concurrent_call",
    "carrier_uuid",
    "template_uuid",
    "recall_times",
    "limit_recall_duration",
    "schedule_recall",
    "schedule_recall_duration",
    "status",
    "created_at",
    "updated_at",
    "template_name",
    "carrier_name",
    "mode_call",
    "network",
    "run_id",
    "type_autocall",
    "call_timeout",
    "schedules",
    "priority_recall",
    "recall_status",
    "callback_url",
]
SAMPLE = {k: SEED[k] for k in SAMPLE_KEYS}
STORED = [  # fields whose value the campaign keeps and GET gives back
    "campaign_name",
    "type",
    "description",
    "concurrent_call",
    "carrier_uuid",
    "template_uuid",
    "recall_times",
    "limit_recall_duration",
    "schedule_recall",
    "schedule_recall_duration",
    "answer_callback_url",
    "mode_call",
    "network",
    "type_autocall",
    "call_timeout",
    "schedules",
    "priority_recall",
    "recall_status",
    "callback_url",
]
RFC3339_MICRO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}[+-]\d\d:\d\d$")
VN = [f"033266{n:04d}" for n in range(10)]  # Viettel mobiles, the vendor's national form
PUBLIC_HOOK = "https://93.184.215.14/autocall/cdr"


@pytest.fixture
async def api(settings: Settings, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """A plain HTTP client: no auth header unless a test adds one."""
    app = create_app(settings, db=db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://autocall.test") as c:
        yield c


async def create(api: httpx.AsyncClient, tenant: Tenant, **fields: Any) -> str:
    body = {"campaign_name": "AutocallAudio", "type": "autocall"} | fields
    r = await api.post("/v3/campaign", json=body, headers=bearer(tenant))
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"campaign_uuid"}
    key: str = r.json()["campaign_uuid"]
    return key


async def get(api: httpx.AsyncClient, tenant: Tenant, key: str) -> dict[str, Any]:
    r = await api.get(f"/v3/campaign/{key}", headers=bearer(tenant))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def put(
    api: httpx.AsyncClient, tenant: Tenant, key: str, body: dict[str, Any]
) -> httpx.Response:
    return await api.put(f"/v3/campaign/{key}", json=body, headers=bearer(tenant))


async def add_leads(api: httpx.AsyncClient, tenant: Tenant, key: str, phones: list[str]) -> None:
    for phone in phones:
        r = await api.post(
            "/v3/lead",
            json={"list_uuid": key, "lead_name": "Demo01", "phone_number": phone},
            headers=bearer(tenant),
        )
        assert r.status_code == 200, r.text


@pytest.fixture
async def other(db: Database) -> Tenant:
    new = await accounts.create(db, name="other", balance=Decimal("100.00"), currency="USD")
    return Tenant(new.account_id, new.api_key)


# --- create, get, update: the seed ----------------------------------------------------------


async def test_create_with_the_seed_body_then_get_every_field(
    api: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    async with db.begin() as conn:
        await conn.execute(
            update(accounts_table)
            .where(accounts_table.c.id == tenant.id)
            .values(timezone="Asia/Ho_Chi_Minh")
        )
    r = await api.post("/v3/campaign", content=SEED_CURL.encode(), headers=bearer(tenant))
    assert r.status_code == 200, r.text
    key = r.json()["campaign_uuid"]
    assert uuid.UUID(key).version == 4 and key != SEED_UUID  # the server makes the UUID

    got = await get(api, tenant, key)
    assert list(got) == list(SEED)  # every field of the sample, in its order
    for name in STORED:
        assert got[name] == SEED[name], name
    assert got["campaign_uuid"] == key
    assert got["status"] == "stop" and got["active"] is True and got["run_id"] == ""
    assert got["users"] == got["groups"] == got["statuses"] == []
    assert got["enable_encrypt"] is False and got["orig_campaign_uuid"] == ""
    for name in ("created_at", "updated_at"):
        assert RFC3339_MICRO.match(got[name]), got[name]
        assert got[name].endswith("+07:00")  # the account's offset, like the sample
    assert got["created_at"] != SEED["created_at"]  # server time, not the client's


async def test_create_with_the_sample_data_body(api: httpx.AsyncClient, tenant: Tenant) -> None:
    r = await api.post("/v3/campaign", json=SAMPLE, headers=bearer(tenant))
    assert r.status_code == 200, r.text
    got = await get(api, tenant, r.json()["campaign_uuid"])
    assert got["concurrent_call"] == 5 and got["call_timeout"] == 60
    assert got["created_at"].endswith("+00:00")  # a UTC account


async def test_put_the_seed_body_updates_every_stored_field(
    api: httpx.AsyncClient, tenant: Tenant
) -> None:
    key = await create(
        api,
        tenant,
        campaign_name="draft",
        concurrent_call=1,
        call_timeout=20,
        mode_call="serial",
        recall_times=0,
        recall_status=["busy"],
        schedule_recall="hour",
        network={"viettel": 2},
        schedules=[],
    )
    body = json.loads(SEED_CURL.replace(SEED_UUID, key))
    r = await api.put(f"/v3/campaign/{key}", content=json.dumps(body), headers=bearer(tenant))
    assert r.status_code == 200, r.text
    assert r.json() == {"campaign_uuid": key}
    got = await get(api, tenant, key)
    for name in STORED:
        assert got[name] == SEED[name], name
    assert got["status"] == "stop"


async def test_put_the_sample_data_body(api: httpx.AsyncClient, tenant: Tenant) -> None:
    key = await create(api, tenant, campaign_name="x")
    body = SAMPLE | {"campaign_uuid": key}
    r = await put(api, tenant, key, body)
    assert r.status_code == 200, r.text
    assert (await get(api, tenant, key))["campaign_name"] == "AutocallAudio"


async def test_put_keeps_what_it_does_not_name(api: httpx.AsyncClient, tenant: Tenant) -> None:
    key = await create(api, tenant, **{k: v for k, v in SEED.items() if k != "campaign_uuid"})
    before = await get(api, tenant, key)
    r = await put(api, tenant, key, {"concurrent_call": 7, "description": None})
    assert r.status_code == 200, r.text
    after = await get(api, tenant, key)
    assert after["concurrent_call"] == 7
    assert {k: v for k, v in after.items() if k not in ("concurrent_call", "updated_at")} == {
        k: v for k, v in before.items() if k not in ("concurrent_call", "updated_at")
    }


async def test_create_defaults(api: httpx.AsyncClient, tenant: Tenant) -> None:
    got = await get(api, tenant, await create(api, tenant))
    assert got["type_autocall"] == "autocall_audio" and got["mode_call"] == "direct"
    assert got["recall_times"] == 0 and got["schedule_recall"] == "minute"
    assert got["network"] == {"viettel": 0, "mobi": 0, "vina": 0, "tel": 0, "offnet": 0}
    assert got["recall_status"] == [
        "busy",
        "failed",
        "no-answered",
        "not-available",
        "voicemail",
        "congestion",
    ]
    assert got["carrier_uuid"] == got["template_uuid"] == got["callback_url"] == ""


async def test_mode_call_parralel_as_the_vendor_spells_it(
    api: httpx.AsyncClient, tenant: Tenant
) -> None:
    key = await create(api, tenant, mode_call="parralel")
    assert (await get(api, tenant, key))["mode_call"] == "parallel"


async def test_callback_urls_are_stored(api: httpx.AsyncClient, tenant: Tenant) -> None:
    key = await create(
        api, tenant, callback_url=PUBLIC_HOOK, answer_callback_url=PUBLIC_HOOK + "/answer"
    )
    got = await get(api, tenant, key)
    assert got["callback_url"] == PUBLIC_HOOK
    assert got["answer_callback_url"] == PUBLIC_HOOK + "/answer"
    r = await put(api, tenant, key, {"callback_url": ""})
    assert r.status_code == 200
    assert (await get(api, tenant, key))["callback_url"] == ""


# --- names ----------------------------------------------------------------------------------


async def test_campaign_name_is_unique_per_account(
    api: httpx.AsyncClient, tenant: Tenant, other: Tenant
) -> None:
    first = await create(api, tenant, campaign_name="AutocallAudio")
    r = await api.post("/v3/campaign", content=SEED_CURL.encode(), headers=bearer(tenant))
    assert r.status_code == 400
    assert r.json() == {"error": "campaign_name is already taken"}

    second = await create(api, tenant, campaign_name="Second")
    r = await put(api, tenant, second, {"campaign_name": "AutocallAudio"})
    assert r.status_code == 400
    assert r.json() == {"error": "campaign_name is already taken"}
    assert (await get(api, tenant, second))["campaign_name"] == "Second"

    r = await put(api, tenant, first, {"campaign_name": "AutocallAudio", "concurrent_call": 9})
    assert r.status_code == 200  # its own name
    await create(api, other, campaign_name="AutocallAudio")  # another account's names


# --- validation -----------------------------------------------------------------------------

INVALID: list[tuple[dict[str, Any], str]] = [
    ({"recall_status": ["busy", "hung-up"]}, "recall_status: unknown call outcome 'hung-up'"),
    ({"recall_status": ["answered"]}, "recall_status: 'answered' cannot be recalled"),
    ({"recall_status": "busy"}, "recall_status: must be a list"),
    (
        {"schedules": [{"monday_start_time": 75600000000000, "monday_end_time": 28800000000000}]},
        "monday_end_time: 28800000000000 is before monday_start_time",
    ),
    (
        {"schedules": [{"monday_start_time": 0, "monday_end_time": 86400000000001}]},
        "monday_end_time: must be from 0 to",
    ),
    ({"schedules": [{"monday_start_time": 0}]}, "monday_end_time: is missing"),
    ({"schedules": {"monday_start_time": 0}}, "schedules: must be a list"),
    ({"network": {"viettel": -1}}, "network.viettel: must be at least 0, got -1"),
    ({"network": {"gmobile": 1}}, "network.gmobile: is not a network"),
    ({"network": [1]}, "network: must be an object"),
    ({"type": "robocall"}, "type: must be one of autodialer, autocall, inbound, manual"),
    ({"type_autocall": "tts"}, "type_autocall: must be one of"),
    ({"mode_call": "random"}, "mode_call: must be one of"),
    ({"concurrent_call": 0}, "concurrent_call: must be at least 1, got 0"),
    ({"concurrent_call": "5"}, "concurrent_call: must be a whole number"),
    ({"concurrent_call": True}, "concurrent_call: must be a whole number"),
    ({"call_timeout": 301}, "call_timeout: must be at most 300, got 301"),
    ({"recall_times": -1}, "recall_times: must be at least 0, got -1"),
    ({"schedule_recall": "day"}, "schedule_recall: must be 'minute' or 'hour'"),
    ({"priority_recall": "urgent"}, "priority_recall: must be 'normal' or 'recall'"),
    ({"status": "running"}, "status: must be one of stop, start, pause"),
    ({"campaign_name": ""}, "campaign_name: must not be empty"),
    ({"campaign_name": 5}, "campaign_name: must be a string"),
    ({"campaign_name": "x" * 256}, "campaign_name: is longer than 255 characters"),
    ({"campaign_name": "a\x00b"}, "campaign_name: must not contain NUL"),
    ({"description": "x" * 2001}, "description: is longer than 2000 characters"),
    ({"carrier_uuid": 7}, "carrier_uuid: must be a string"),
    ({"template_uuid": "x" * 4001}, "template_uuid: is longer than 4000 characters"),
    ({"callback_url": "ftp://example.com/x"}, "callback_url: url must start with http"),
    ({"callback_url": "http://127.0.0.1/cdr"}, "callback_url: url host '127.0.0.1' resolves"),
    ({"answer_callback_url": "http://10.0.0.1/a"}, "answer_callback_url: url host"),
    ({"users": "all"}, "users: must be a list"),
    ({"active": "yes"}, "active: must be true or false"),
    ({"enable_encrypt": 1}, "enable_encrypt: must be true or false"),
    ({"created_at": 1}, "created_at: must be a string"),
]


async def test_update_validation_errors(api: httpx.AsyncClient, tenant: Tenant) -> None:
    key = await create(api, tenant, **{k: v for k, v in SEED.items() if k != "campaign_uuid"})
    before = await get(api, tenant, key)
    for change, error in INVALID:
        r = await put(api, tenant, key, change)
        assert r.status_code == 400, (change, r.text)
        assert set(r.json()) == {"error"}
        assert r.json()["error"].startswith(error), (change, r.json())
    assert await get(api, tenant, key) == before  # nothing changed


async def test_create_validation_errors(api: httpx.AsyncClient, tenant: Tenant) -> None:
    for change, error in INVALID:
        body = {"campaign_name": "v", "type": "autocall"} | change
        r = await api.post("/v3/campaign", json=body, headers=bearer(tenant))
        assert r.status_code == 400, (change, r.text)
        assert r.json()["error"].startswith(error), (change, r.json())
    r = await api.get("/v3/campaign", headers=bearer(tenant))
    assert r.json() == {"data": [], "total": 0}  # nothing was created


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"type": "autocall"}, "campaign_name: is required"),
        ({"campaign_name": "n"}, "type: is required"),
        ({"campaign_name": "n", "type": None}, "type: is required"),
    ],
)
async def test_create_requires_name_and_type(
    api: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any], error: str
) -> None:
    r = await api.post("/v3/campaign", json=body, headers=bearer(tenant))
    assert (r.status_code, r.json()) == (400, {"error": error})


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"", "request body is empty; send a JSON object"),
        (b"{", "request body is not valid JSON"),
        (b"[1, 2]", "request body must be a JSON object"),
        (b"\xff\xfe", "request body is not valid JSON"),
        (b"[" * 100_000, "request body is not valid JSON"),
    ],
)
async def test_bodies_that_are_not_objects(
    api: httpx.AsyncClient, tenant: Tenant, content: bytes, error: str
) -> None:
    r = await api.post("/v3/campaign", content=content, headers=bearer(tenant))
    assert (r.status_code, r.json()) == (400, {"error": error})


async def test_body_over_the_limit(api: httpx.AsyncClient, tenant: Tenant) -> None:
    body = {"campaign_name": "big", "type": "autocall", "description": "x" * (5 * 1024 * 1024)}
    r = await api.post("/v3/campaign", json=body, headers=bearer(tenant))
    assert r.status_code == 413
    assert r.json()["error"].startswith("request body is larger than")


async def test_update_refuses_another_campaign_uuid_in_the_body(
    api: httpx.AsyncClient, tenant: Tenant
) -> None:
    key = await create(api, tenant)
    r = await api.put(f"/v3/campaign/{key}", content=SEED_CURL.encode(), headers=bearer(tenant))
    assert r.status_code == 400
    assert r.json() == {"error": "campaign_uuid: does not match the campaign in the URL"}
    # the same UUID in upper case is the same campaign
    r = await put(api, tenant, key.upper(), {"campaign_uuid": key.upper(), "call_timeout": 45})
    assert r.status_code == 200 and r.json() == {"campaign_uuid": key}


# --- auth -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer not-a-clarion-key"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"X-API-KEY": "whatever"},
    ],
)
async def test_without_a_valid_bearer_token(
    api: httpx.AsyncClient, tenant: Tenant, headers: dict[str, str]
) -> None:
    for method, path in [
        ("POST", "/v3/campaign"),
        ("GET", "/v3/campaign"),
        ("GET", f"/v3/campaign/{SEED_UUID}"),
        ("PUT", f"/v3/campaign/{SEED_UUID}"),
        ("DELETE", f"/v3/campaign/{SEED_UUID}"),
        ("POST", "/v3/lead"),
        ("GET", f"/v3/cdr?campaign_uuid={SEED_UUID}"),
    ]:
        r = await api.request(method, path, content=SEED_CURL.encode(), headers=headers)
        assert r.status_code == 401, (method, path, r.text)
        assert set(r.json()) == {"error"} and isinstance(r.json()["error"], str)


async def test_bearer_scheme_is_case_insensitive(api: httpx.AsyncClient, tenant: Tenant) -> None:
    r = await api.get("/v3/campaign", headers={"Authorization": f"bearer {tenant.key}"})
    assert r.status_code == 200


# --- list, delete, isolation ----------------------------------------------------------------


async def test_list_pages(api: httpx.AsyncClient, tenant: Tenant) -> None:
    keys = [await create(api, tenant, campaign_name=f"c{i}") for i in range(3)]
    r = await api.get("/v3/campaign?limit=2&offset=0", headers=bearer(tenant))
    assert r.status_code == 200
    assert r.json()["total"] == 3
    assert [c["campaign_uuid"] for c in r.json()["data"]] == keys[:2]
    assert r.json()["data"][0] == await get(api, tenant, keys[0])
    r = await api.get("/v3/campaigns?limit=2&offset=2", headers=bearer(tenant))
    assert [c["campaign_uuid"] for c in r.json()["data"]] == keys[2:]
    r = await api.get("/v3/campaign", headers=bearer(tenant))
    assert len(r.json()["data"]) == 3  # default page: 10


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("limit=0", "limit: must be at least 1, got 0"),
        ("limit=1001", "limit: must be at most 1000, got 1001"),
        ("limit=ten", "limit: must be a whole number, got 'ten'"),
        ("offset=-1", "offset: must be at least 0, got -1"),
        ("offset=1e3", "offset: must be a whole number, got '1e3'"),
    ],
)
async def test_list_parameters(
    api: httpx.AsyncClient, tenant: Tenant, query: str, error: str
) -> None:
    r = await api.get(f"/v3/campaign?{query}", headers=bearer(tenant))
    assert (r.status_code, r.json()) == (400, {"error": error})


async def test_delete(api: httpx.AsyncClient, tenant: Tenant) -> None:
    key = await create(api, tenant)
    r = await api.delete(f"/v3/campaign/{key}", headers=bearer(tenant))
    assert (r.status_code, r.json()) == (200, {"campaign_uuid": key})
    r = await api.get(f"/v3/campaign/{key}", headers=bearer(tenant))
    assert (r.status_code, r.json()) == (404, {"error": "campaign not found"})
    r = await api.delete(f"/v3/campaign/{key}", headers=bearer(tenant))
    assert r.status_code == 404
    await create(api, tenant)  # the name is free again


async def test_a_calling_campaign_is_stopped_before_it_is_deleted(
    api: httpx.AsyncClient, tenant: Tenant
) -> None:
    key = await create(api, tenant)
    await add_leads(api, tenant, key, VN[:2])
    assert (await put(api, tenant, key, {"status": "start"})).status_code == 200
    r = await api.delete(f"/v3/campaign/{key}", headers=bearer(tenant))
    assert r.status_code == 409
    assert r.json() == {"error": "the campaign is start; set status stop before deleting it"}
    assert (await put(api, tenant, key, {"status": "stop"})).status_code == 200
    r = await api.delete(f"/v3/campaign/{key}", headers=bearer(tenant))
    assert r.status_code == 200


async def test_another_accounts_campaign_is_invisible(
    api: httpx.AsyncClient, tenant: Tenant, other: Tenant
) -> None:
    key = await create(api, tenant)
    await add_leads(api, tenant, key, VN[:1])
    missing = str(uuid.uuid4())
    for target in (key, missing):
        answers = [
            await api.get(f"/v3/campaign/{target}", headers=bearer(other)),
            await put(api, other, target, {"status": "start"}),
            await api.delete(f"/v3/campaign/{target}", headers=bearer(other)),
            await api.get(f"/v3/cdr?campaign_uuid={target}", headers=bearer(other)),
            await api.get(f"/v3/campaign/{target}/cdrs", headers=bearer(other)),
        ]
        for r in answers:
            assert (r.status_code, r.json()) == (404, {"error": "campaign not found"})
        r = await api.post(
            "/v3/lead", json={"list_uuid": target, "phone_number": VN[5]}, headers=bearer(other)
        )
        assert (r.status_code, r.json()) == (404, {"error": "list not found"})
        r = await api.post(
            f"/v3/campaign/{target}/leads",
            json={"leads": [{"phone_number": VN[5]}]},
            headers=bearer(other),
        )
        assert (r.status_code, r.json()) == (404, {"error": "list not found"})
        r = await api.post(
            "/v3/autocall/otp",
            json={"campaign_uuid": target, "phone_number": VN[5], "code_otp": "1234"},
            headers=bearer(other),
        )
        assert (r.status_code, r.json()) == (404, {"error": "campaign not found"})
    r = await api.get("/v3/campaign", headers=bearer(other))
    assert r.json() == {"data": [], "total": 0}
    got = await get(api, tenant, key)
    assert got["status"] == "stop"  # untouched


async def test_malformed_campaign_uuid(api: httpx.AsyncClient, tenant: Tenant) -> None:
    r = await api.get("/v3/campaign/123", headers=bearer(tenant))
    assert (r.status_code, r.json()) == (400, {"error": "campaign_uuid: '123' is not a valid UUID"})


async def test_unknown_paths_and_methods(api: httpx.AsyncClient, tenant: Tenant) -> None:
    r = await api.get("/v3/campaign/x/y/z", headers=bearer(tenant))
    assert (r.status_code, r.json()) == (404, {"error": "not found"})
    r = await api.patch(f"/v3/campaign/{SEED_UUID}", headers=bearer(tenant))
    assert (r.status_code, r.json()) == (405, {"error": "method not allowed"})


# --- status ---------------------------------------------------------------------------------


async def test_status_start_pause_start_stop(api: httpx.AsyncClient, tenant: Tenant) -> None:
    key = await create(api, tenant)
    await add_leads(api, tenant, key, VN[:3])
    r = await put(api, tenant, key, {"status": "start"})
    assert r.status_code == 200, r.text
    got = await get(api, tenant, key)
    assert got["status"] == "start" and got["active"] is True
    run = got["run_id"]
    assert uuid.UUID(run)

    assert (await put(api, tenant, key, {"status": "start"})).status_code == 200  # as it is
    assert (await put(api, tenant, key, {"status": "pause"})).status_code == 200
    got = await get(api, tenant, key)
    assert (got["status"], got["run_id"]) == ("pause", run)
    assert (await put(api, tenant, key, {"status": "pause"})).status_code == 200  # as it is

    assert (await put(api, tenant, key, {"status": "start"})).status_code == 200  # resume
    assert (await get(api, tenant, key))["status"] == "start"

    body = (await get(api, tenant, key)) | {"status": "stop"}  # the GET object, sent back
    r = await put(api, tenant, key, body)
    assert r.status_code == 200, r.text
    got = await get(api, tenant, key)
    assert (got["status"], got["active"], got["run_id"]) == ("stop", True, "")


async def test_start_needs_leads(api: httpx.AsyncClient, tenant: Tenant) -> None:
    key = await create(api, tenant)
    r = await put(api, tenant, key, {"status": "start", "concurrent_call": 9})
    assert r.status_code == 409
    assert r.json() == {
        "error": "status: the campaign has no leads to call; add leads, then start it"
    }
    got = await get(api, tenant, key)
    assert (got["status"], got["concurrent_call"]) == ("stop", 10)  # nothing written
    r = await api.post(
        "/v3/campaign",
        json={"campaign_name": "s", "type": "autocall", "status": "start"},
        headers=bearer(tenant),
    )
    assert r.status_code == 409
    assert r.json()["error"].startswith("status: a new campaign has no leads to call")


async def test_pause_needs_a_calling_campaign(api: httpx.AsyncClient, tenant: Tenant) -> None:
    key = await create(api, tenant)
    r = await put(api, tenant, key, {"status": "pause"})
    assert (r.status_code, r.json()) == (
        409,
        {"error": "status: only a calling campaign can pause (it is stop)"},
    )


async def test_active_false_places_no_calls(api: httpx.AsyncClient, tenant: Tenant) -> None:
    key = await create(api, tenant)
    await add_leads(api, tenant, key, VN[:2])
    r = await put(api, tenant, key, {"status": "start", "active": False})
    assert r.status_code == 200
    got = await get(api, tenant, key)
    assert (got["status"], got["active"]) == ("stop", False)  # not started
    assert (await put(api, tenant, key, {"status": "start"})).status_code == 200
    assert (await get(api, tenant, key))["status"] == "stop"  # still inactive
    r = await put(api, tenant, key, {"active": True, "status": "start"})
    assert r.status_code == 200
    assert (await get(api, tenant, key))["status"] == "start"
    r = await put(api, tenant, key, {"active": False})
    assert r.status_code == 200
    got = await get(api, tenant, key)
    assert (got["status"], got["active"]) == ("pause", False)  # a calling one pauses
    assert (await put(api, tenant, key, {"active": True})).status_code == 200
    assert (await get(api, tenant, key))["status"] == "pause"  # active alone resumes nothing
    assert (await put(api, tenant, key, {"status": "start"})).status_code == 200
    got = await get(api, tenant, key)
    assert (got["status"], got["active"]) == ("start", True)


async def test_dialect_only_fields_are_kept(api: httpx.AsyncClient, tenant: Tenant) -> None:
    kept = {
        "template_name": "Nhắc nợ",
        "carrier_name": "Viettel trunk",
        "domain_name": "acme.example",
        "users": ["5b0c...", {"user_uuid": "u1"}],
        "groups": ["g1"],
        "statuses": ["new"],
        "enable_encrypt": True,
        "orig_campaign_uuid": SEED_UUID,
    }
    key = await create(api, tenant, **kept)
    got = await get(api, tenant, key)
    assert {k: got[k] for k in kept} == kept
    r = await put(api, tenant, key, {"groups": [], "run_id": "ignored", "updated_at": "x"})
    assert r.status_code == 200
    got = await get(api, tenant, key)
    assert {k: got[k] for k in kept} == kept | {"groups": []}
    assert got["run_id"] == ""
    r = await put(api, tenant, key, {"users": ["x" * 20_000]})
    assert r.status_code == 400
    assert r.json()["error"].startswith(
        "template_name, carrier_name, domain_name, users, groups, statuses, enable_encrypt, "
        "orig_campaign_uuid: together is larger than 16384 bytes"
    )


async def test_a_stopped_campaign_takes_no_leads(api: httpx.AsyncClient, tenant: Tenant) -> None:
    key = await create(api, tenant)
    await add_leads(api, tenant, key, VN[:1])
    assert (await put(api, tenant, key, {"status": "start"})).status_code == 200
    assert (await put(api, tenant, key, {"status": "stop"})).status_code == 200
    r = await api.post(
        "/v3/lead", json={"list_uuid": key, "phone_number": VN[3]}, headers=bearer(tenant)
    )
    assert r.status_code == 409
    assert isinstance(r.json()["error"], str)


# --- leads ----------------------------------------------------------------------------------


async def test_lead_create_as_the_vendor_documents_it(
    api: httpx.AsyncClient, tenant: Tenant
) -> None:
    key = await create(api, tenant)
    r = await api.post(
        "/v3/lead",
        content=json.dumps(
            {
                "list_uuid": key,
                "lead_name": "Demo01",
                "lead_code": "DP01",
                "phone_number": "0349719999",
                "additional": {"data1": 1, "miengiam": "Giảm 50% gốc"},
            }
        ).encode(),
        headers=bearer(tenant),
    )
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"created", "lead_uuid"} and r.json()["created"] is True
    assert uuid.UUID(r.json()["lead_uuid"])
    r = await api.post(
        "/v3/lead",
        json={"list_uuid": key, "phone_number": "+84349719999"},  # the same number
        headers=bearer(tenant),
    )
    assert (r.status_code, r.json()) == (
        400,
        {"error": [{"phone_number": "phone_number is already in the list"}]},
    )


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        (
            {"list_uuid": "c4869e79", "phone_number": "0349719999"},
            [{"list_uuid": "String length must be greater than or equal to 36"}],
        ),
        (
            {"list_uuid": SEED_UUID, "phone_number": ""},
            [
                {"phone_number": "String length must be greater than or equal to 1"},
                {"phone_number": "Does not match pattern '^(84|0[3|5|7|8|9])+([0-9]{8})$'"},
            ],
        ),
        (
            {"list_uuid": SEED_UUID, "phone_number": "0149719999"},
            [{"phone_number": "Does not match pattern '^(84|0[3|5|7|8|9])+([0-9]{8})$'"}],
        ),
        (
            {"list_uuid": SEED_UUID, "phone_number": 349719999},
            [{"phone_number": "Invalid type. Expected: string, given: integer"}],
        ),
        ({"phone_number": "0349719999"}, [{"list_uuid": "list_uuid is required"}]),
        (
            {"list_uuid": SEED_UUID, "phone_number": "0349719999", "lead_name": ["x"]},
            [{"lead_name": "Invalid type. Expected: string, given: array"}],
        ),
        (
            {"list_uuid": SEED_UUID, "phone_number": "0349719999", "additional": {"a": {}}},
            [{"additional.a": "Invalid type. Expected: string, given: object"}],
        ),
        (
            {"list_uuid": "x" * 36, "phone_number": "0349719999"},
            [{"list_uuid": "Does not match format 'uuid'"}],
        ),
    ],
)
async def test_lead_validation_errors(
    api: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any], errors: list[dict[str, str]]
) -> None:
    r = await api.post("/v3/lead", json=body, headers=bearer(tenant))
    assert (r.status_code, r.json()) == (400, {"error": errors})


async def test_an_invalid_number_is_refused(api: httpx.AsyncClient, tenant: Tenant) -> None:
    key = await create(api, tenant)
    r = await api.post(
        "/v3/lead", json={"list_uuid": key, "phone_number": "0800000000"}, headers=bearer(tenant)
    )
    assert (r.status_code, r.json()) == (
        400,
        {"error": [{"phone_number": "phone_number is not a valid phone number"}]},
    )


async def test_many_leads_at_once(api: httpx.AsyncClient, tenant: Tenant) -> None:
    key = await create(api, tenant)
    leads: list[dict[str, Any]] = [
        {"phone_number": VN[0], "lead_name": "An"},
        {"phone_number": "+84" + VN[1][1:]},
        {"phone_number": "+84" + VN[0][1:]},  # VN[0] again
        {"phone_number": "+77010000001", "additional": {"ten": "Đỗ Thị Ngà"}},  # international
    ]
    r = await api.post(f"/v3/campaign/{key}/leads", json={"leads": leads}, headers=bearer(tenant))
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert r.json()["created"] == 3
    assert [d["created"] for d in data] == [True, True, False, True]
    assert [d["phone_number"] for d in data] == [lead["phone_number"] for lead in leads]
    assert data[2] == {
        "phone_number": leads[2]["phone_number"],
        "created": False,
        "lead_uuid": "",
        "error": [{"phone_number": "phone_number is already in the list"}],
    }
    assert len({d["lead_uuid"] for d in data if d["created"]}) == 3


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"leads": []}, [{"leads": "Array must have at least 1 items"}]),
        ({"leads": {}}, [{"leads": "Invalid type. Expected: array, given: object"}]),
        ({}, [{"leads": "Invalid type. Expected: array, given: null"}]),
        (
            {"leads": [{"phone_number": "0349719999"}] * 5001},
            [{"leads": "Array must have at most 5000 items"}],
        ),
        (
            {"leads": [{"phone_number": "0349719999"}, 5, {"phone_number": "1"}]},
            [
                {"leads.1": "Invalid type. Expected: object, given: integer"},
                {"leads.2.phone_number": "Does not match pattern '^(84|0[3|5|7|8|9])+([0-9]{8})$'"},
            ],
        ),
    ],
)
async def test_many_leads_validation(
    api: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any], errors: list[dict[str, str]]
) -> None:
    key = await create(api, tenant)
    r = await api.post(f"/v3/campaign/{key}/leads", json=body, headers=bearer(tenant))
    assert (r.status_code, r.json()) == (400, {"error": errors})


async def test_otp_call(api: httpx.AsyncClient, tenant: Tenant) -> None:
    key = await create(api, tenant, type_autocall="autocall_voice_otp")
    r = await api.post(
        "/v3/autocall/otp",
        json={
            "campaign_uuid": key,
            "phone_number": "0332665711",
            "template": "otp_script_01",
            "code_otp": "LUAN001",
            "ref_id": "ABC123",
        },
        headers=bearer(tenant),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"call_id", "lead_uuid", "message", "ref_id"}
    assert (body["message"], body["ref_id"]) == ("success", "ABC123")
    assert uuid.UUID(body["call_id"]) and uuid.UUID(body["lead_uuid"])
    r = await api.post(
        "/v3/autocall/otp",
        json={"campaign_uuid": key, "phone_number": "0332665712"},
        headers=bearer(tenant),
    )
    assert (r.status_code, r.json()) == (400, {"error": [{"code_otp": "code_otp is required"}]})


# --- CDRs -----------------------------------------------------------------------------------


async def test_cdrs_of_a_campaign_not_yet_called(api: httpx.AsyncClient, tenant: Tenant) -> None:
    key = await create(api, tenant)
    for path in (f"/v3/cdr?limit=2&offset=0&campaign_uuid={key}", f"/v3/campaign/{key}/cdrs"):
        r = await api.get(path, headers=bearer(tenant))
        assert (r.status_code, r.json()) == (200, {"data": [], "total": 0})
    r = await api.get("/v3/cdr?limit=2&offset=0", headers=bearer(tenant))
    assert (r.status_code, r.json()) == (400, {"error": "campaign_uuid is missing"})
    r = await api.get(f"/v3/cdr?campaign_uuid={key}&limit=5000", headers=bearer(tenant))
    assert (r.status_code, r.json()) == (400, {"error": "limit: must be at most 1000, got 5000"})
