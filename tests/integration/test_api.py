"""The native /v1 API: auth, campaigns CRUD, recipients, lifecycle, stats, messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import httpx
import pytest
from tests.helpers import add_phones, drain, make_campaign, phones

from clarion.api.app import create_app
from clarion.channels.base import Outcome
from clarion.channels.fake import FakeChannel
from clarion.config import Settings
from clarion.dispatch.engine import Dispatcher
from clarion.domain.lifecycle import MessageStatus
from clarion.services import accounts
from clarion.store.db import Database

PROBLEM = "application/problem+json"
H = dict[str, str]


def future(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**(delta or {"days": 1}))).isoformat()


def past(**delta: float) -> str:
    return (datetime.now(UTC) - timedelta(**(delta or {"hours": 1}))).isoformat()


def assert_problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = r.json()
    for key in ("type", "title", "status", "detail"):
        assert key in body, body
    assert body["status"] == status
    assert isinstance(body["detail"], str)
    assert body["detail"]
    return body


def error_locations(body: dict[str, Any]) -> list[str]:
    assert isinstance(body.get("errors"), list)
    assert body["errors"]
    return [e["location"] for e in body["errors"]]


async def get_campaign(client: httpx.AsyncClient, headers: H, campaign_id: int) -> dict[str, Any]:
    r = await client.get(f"/v1/campaigns/{campaign_id}", headers=headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def get_stats(client: httpx.AsyncClient, headers: H, campaign_id: int) -> dict[str, Any]:
    r = await client.get(f"/v1/campaigns/{campaign_id}/stats", headers=headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def get_events(
    client: httpx.AsyncClient, headers: H, campaign_id: int
) -> list[dict[str, Any]]:
    r = await client.get(f"/v1/campaigns/{campaign_id}/events", headers=headers)
    assert r.status_code == 200, r.text
    body: list[dict[str, Any]] = r.json()
    return body


async def get_messages(
    client: httpx.AsyncClient, headers: H, campaign_id: int, **params: Any
) -> dict[str, Any]:
    r = await client.get(f"/v1/campaigns/{campaign_id}/messages", params=params, headers=headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def post_recipients(
    client: httpx.AsyncClient, headers: H, campaign_id: int, recipients: list[dict[str, Any]]
) -> httpx.Response:
    return await client.post(
        f"/v1/campaigns/{campaign_id}/recipients", json={"recipients": recipients}, headers=headers
    )


async def action(
    client: httpx.AsyncClient, headers: H, campaign_id: int, name: str
) -> httpx.Response:
    return await client.post(f"/v1/campaigns/{campaign_id}/{name}", headers=headers)


async def started_campaign(
    client: httpx.AsyncClient, headers: H, count: int = 2, **fields: Any
) -> dict[str, Any]:
    c = await make_campaign(client, headers, **fields)
    await add_phones(client, headers, c["id"], phones(count))
    r = await action(client, headers, c["id"], "start")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


@pytest.fixture
async def rival(db: Database) -> H:
    """A second account's headers."""
    new = await accounts.create(db, name="rival", balance=Decimal("50.00"), currency="USD")
    return {"Authorization": f"Bearer {new.api_key}"}


# --- auth ----------------------------------------------------------------------------


async def test_missing_auth_header_is_401_problem(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/campaigns")
    body = assert_problem(r, 401)
    assert body["title"] == "Unauthorized"
    assert "Bearer" in r.headers["www-authenticate"]


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer " + "x" * 40,  # right shape, unknown key
        "Bearer nope",
        "Basic dXNlcjpwYXNz",
        "Bearer",
    ],
)
async def test_bad_credentials_are_401(
    client: httpx.AsyncClient, tenant: Any, authorization: str
) -> None:
    r = await client.get("/v1/campaigns", headers={"Authorization": authorization})
    assert_problem(r, 401)
    r = await client.post(
        "/v1/campaigns",
        json={"name": "x", "text": "y"},
        headers={"Authorization": authorization},
    )
    assert_problem(r, 401)


async def test_account_endpoint_shows_own_account(client: httpx.AsyncClient, tenant: Any) -> None:
    r = await client.get("/v1/account", headers=tenant.headers)
    assert r.status_code == 200
    body = r.json()
    assert body["id"] == tenant.id
    assert body["name"] == "acme"
    assert Decimal(body["balance"]) == Decimal("100.00")
    assert body["currency"] == "USD"


async def test_other_account_cannot_see_or_touch_a_campaign(
    client: httpx.AsyncClient, tenant: Any, rival: H
) -> None:
    h = tenant.headers
    c = await make_campaign(client, h, name="mine")
    cid = c["id"]
    await add_phones(client, h, cid, phones(1))

    assert_problem(await client.get(f"/v1/campaigns/{cid}", headers=rival), 404)
    assert_problem(await action(client, rival, cid, "start"), 404)
    assert_problem(await action(client, rival, cid, "stop"), 404)
    assert_problem(await client.get(f"/v1/campaigns/{cid}/stats", headers=rival), 404)
    assert_problem(await client.get(f"/v1/campaigns/{cid}/messages", headers=rival), 404)
    assert_problem(await client.get(f"/v1/campaigns/{cid}/events", headers=rival), 404)
    assert_problem(
        await post_recipients(client, rival, cid, [{"phone": phones(1, start=5)[0]}]), 404
    )
    assert_problem(await client.delete(f"/v1/campaigns/{cid}/recipients", headers=rival), 404)
    assert_problem(
        await client.patch(f"/v1/campaigns/{cid}", json={"name": "theirs"}, headers=rival), 404
    )
    assert_problem(await client.delete(f"/v1/campaigns/{cid}", headers=rival), 404)
    r = await client.get("/v1/campaigns", headers=rival)
    assert r.json()["total"] == 0
    assert r.json()["items"] == []

    # Nothing changed for the owner.
    mine = await get_campaign(client, h, cid)
    assert mine["name"] == "mine"
    assert mine["status"] == "DRAFT"
    stats = await get_stats(client, h, cid)
    assert stats["total_messages"] == 1
    assert await get_events(client, h, cid) == []


# --- create --------------------------------------------------------------------------


async def test_create_campaign(client: httpx.AsyncClient, tenant: Any, settings: Settings) -> None:
    r = await client.post(
        "/v1/campaigns",
        json={"name": "  spring  ", "text": "Hello", "sender": "Clarion"},
        headers=tenant.headers,
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert isinstance(body["id"], int)
    assert body["status"] == "DRAFT"
    assert body["name"] == "spring"
    assert body["channel"] == "sms"
    assert body["type"] == "mass"
    assert body["placeholders_flag"] == 3
    assert isinstance(body["price_per_segment"], str)
    assert Decimal(body["price_per_segment"]) == settings.price_per_segment
    assert isinstance(body["spent"], str)
    assert Decimal(body["spent"]) == 0
    assert body["started_at"] is None
    assert body["created_at"].endswith("Z") or body["created_at"].endswith("+00:00")
    assert await get_campaign(client, tenant.headers, body["id"]) == body


async def test_create_with_all_fields(client: httpx.AsyncClient, tenant: Any) -> None:
    start_at = future(days=2)
    body = await make_campaign(
        client,
        tenant.headers,
        type="template",
        text="Hi {name}",
        rate_limit=600,
        rate_period=60,
        start_at=start_at,
        validity_minutes=60,
        placeholders_flag=2,
        mclass=1,
    )
    assert body["type"] == "template"
    assert (body["rate_limit"], body["rate_period"]) == (600, 60)
    assert datetime.fromisoformat(body["start_at"]) == datetime.fromisoformat(start_at)
    assert body["validity_minutes"] == 60
    assert body["placeholders_flag"] == 2
    assert body["mclass"] == 1


async def test_create_unknown_field_is_422(client: httpx.AsyncClient, tenant: Any) -> None:
    r = await client.post(
        "/v1/campaigns",
        json={"name": "x", "text": "y", "colour": "red"},
        headers=tenant.headers,
    )
    body = assert_problem(r, 422)
    assert any("colour" in loc for loc in error_locations(body))
    assert all("message" in e for e in body["errors"])


@pytest.mark.parametrize(
    ("fields", "location"),
    [
        ({"text": ""}, "text"),
        ({"name": ""}, "name"),
        ({"type": "broadcast"}, "type"),
        ({"channel": "fax"}, "channel"),
        ({"rate_limit": 0}, "rate_limit"),
        ({"rate_limit": "many"}, "rate_limit"),
        ({"placeholders_flag": 4}, "placeholders_flag"),
        ({"text": "x" * 2001}, "text"),
        ({"start_at": "2030-01-01T00:00:00"}, "start_at"),  # naive
        ({"start_at": "tomorrow"}, "start_at"),
    ],
)
async def test_create_validation_errors(
    client: httpx.AsyncClient, tenant: Any, fields: dict[str, Any], location: str
) -> None:
    r = await client.post(
        "/v1/campaigns", json={"name": "n", "text": "t"} | fields, headers=tenant.headers
    )
    body = assert_problem(r, 422)
    assert any(location in loc for loc in error_locations(body)), body
    assert (await client.get("/v1/campaigns", headers=tenant.headers)).json()["total"] == 0


async def test_create_missing_required_fields_is_422(
    client: httpx.AsyncClient, tenant: Any
) -> None:
    r = await client.post("/v1/campaigns", json={}, headers=tenant.headers)
    body = assert_problem(r, 422)
    locations = error_locations(body)
    assert any("name" in loc for loc in locations)
    # text is required of sms campaigns only (rcs ones carry content instead)
    r = await client.post("/v1/campaigns", json={"name": "n"}, headers=tenant.headers)
    assert assert_problem(r, 422)["field"] == "text"
    r = await client.post(
        "/v1/campaigns", json={"name": "n", "channel": "rcs"}, headers=tenant.headers
    )
    assert assert_problem(r, 422)["field"] == "content"


async def test_create_blank_text_is_422(client: httpx.AsyncClient, tenant: Any) -> None:
    r = await client.post(
        "/v1/campaigns", json={"name": "n", "text": "   "}, headers=tenant.headers
    )
    assert assert_problem(r, 422)["field"] == "text"


async def test_create_start_at_in_the_past_is_422(client: httpx.AsyncClient, tenant: Any) -> None:
    r = await client.post(
        "/v1/campaigns",
        json={"name": "n", "text": "t", "start_at": past(hours=1)},
        headers=tenant.headers,
    )
    body = assert_problem(r, 422)
    assert body["field"] == "start_at"
    assert "past" in body["detail"]


async def test_create_voice_campaign_and_bad_voice_settings(
    client: httpx.AsyncClient, tenant: Any
) -> None:
    h = tenant.headers
    bad = {"name": "n", "text": "t", "channel": "voice", "voice": {"concurrent_call": 0}}
    body = assert_problem(await client.post("/v1/campaigns", json=bad, headers=h), 422)
    assert body["field"] == "concurrent_call"
    bad["voice"] = {"recall": {"recall_status": ["answered"]}}
    body = assert_problem(await client.post("/v1/campaigns", json=bad, headers=h), 422)
    assert body["field"] == "recall_status"
    sms = {"name": "n", "text": "t", "voice": {"concurrent_call": 3}}
    body = assert_problem(await client.post("/v1/campaigns", json=sms, headers=h), 422)
    assert body["field"] == "voice"
    assert (await client.get("/v1/campaigns", headers=h)).json()["total"] == 0
    good = {"name": "n", "text": "t", "channel": "voice", "voice": {"concurrent_call": 3}}
    r = await client.post("/v1/campaigns", json=good, headers=h)
    assert r.status_code == 201, r.text
    created = r.json()
    assert (created["channel"], created["text"], created["status"]) == ("voice", "t", "DRAFT")
    assert created["voice"]["concurrent_call"] == 3
    assert created["voice"]["template"] == "t"
    r = await client.patch(
        f"/v1/campaigns/{created['id']}/voice", json={"voice": {"call_timeout": 45}}, headers=h
    )
    assert r.status_code == 200, r.text
    assert (r.json()["voice"]["call_timeout"], r.json()["voice"]["concurrent_call"]) == (45, 3)


async def test_create_malformed_json_is_422(client: httpx.AsyncClient, tenant: Any) -> None:
    r = await client.post(
        "/v1/campaigns",
        content=b"{not json",
        headers=tenant.headers | {"Content-Type": "application/json"},
    )
    assert_problem(r, 422)


# --- get / list ------------------------------------------------------------------------


async def test_get_unknown_campaign_is_404(client: httpx.AsyncClient, tenant: Any) -> None:
    body = assert_problem(await client.get("/v1/campaigns/999999", headers=tenant.headers), 404)
    assert "999999" in body["detail"]


async def _listing(client: httpx.AsyncClient, headers: H, **params: Any) -> dict[str, Any]:
    r = await client.get("/v1/campaigns", params=params, headers=headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _ids(page: dict[str, Any]) -> list[int]:
    return [c["id"] for c in page["items"]]


async def test_list_filters_by_status(client: httpx.AsyncClient, tenant: Any) -> None:
    h = tenant.headers
    draft = await make_campaign(client, h, name="draft")
    running = await started_campaign(client, h)
    scheduled = await make_campaign(client, h, name="later", start_at=future(days=1))
    await add_phones(client, h, scheduled["id"], phones(1))
    r = await action(client, h, scheduled["id"], "start")
    assert r.json()["status"] == "SCHEDULED"

    assert _ids(await _listing(client, h, status="DRAFT")) == [draft["id"]]
    assert _ids(await _listing(client, h, status="running")) == [running["id"]]
    repeated = await _listing(client, h, status=["RUNNING", "SCHEDULED"])
    comma = await _listing(client, h, status="RUNNING,SCHEDULED")
    assert sorted(_ids(repeated)) == sorted([running["id"], scheduled["id"]])
    assert _ids(comma) == _ids(repeated)
    assert comma["total"] == 2
    assert (await _listing(client, h, status="DONE"))["total"] == 0
    assert (await _listing(client, h))["total"] == 3


async def test_list_text_search_matches_name_or_text_case_insensitively(
    client: httpx.AsyncClient, tenant: Any
) -> None:
    h = tenant.headers
    a = await make_campaign(client, h, name="Spring Sale", text="Hello")
    b = await make_campaign(client, h, name="autumn", text="Big SALE today")
    await make_campaign(client, h, name="winter", text="hi there")
    page = await _listing(client, h, text="sale")
    assert sorted(_ids(page)) == sorted([a["id"], b["id"]])
    assert page["total"] == 2
    assert _ids(await _listing(client, h, text="SPRING")) == [a["id"]]
    assert (await _listing(client, h, text="nothing like it"))["total"] == 0


async def test_list_text_search_is_case_insensitive_for_cyrillic(
    client: httpx.AsyncClient, tenant: Any
) -> None:
    h = tenant.headers
    c = await make_campaign(client, h, name="ВЕСЕННЯЯ распродажа", text="Скидки ДО 50")
    assert _ids(await _listing(client, h, text="весенняя")) == [c["id"]]
    assert _ids(await _listing(client, h, text="скидки до")) == [c["id"]]


async def test_list_text_search_treats_wildcards_literally(
    client: httpx.AsyncClient, tenant: Any
) -> None:
    h = tenant.headers
    pct = await make_campaign(client, h, name="50% off", text="deal")
    await make_campaign(client, h, name="spring", text="hello")
    await make_campaign(client, h, name="a_b", text="x")
    await make_campaign(client, h, name="axb", text="y")
    assert _ids(await _listing(client, h, text="%")) == [pct["id"]]
    page = await _listing(client, h, text="a_b")
    assert [c["name"] for c in page["items"]] == ["a_b"]


async def test_list_created_from_and_to(client: httpx.AsyncClient, tenant: Any) -> None:
    h = tenant.headers
    made = [await make_campaign(client, h, name=f"c{i}") for i in range(4)]
    moments = {c["id"]: datetime.fromisoformat(c["created_at"]) for c in made}
    pivot = moments[made[2]["id"]]

    page = await _listing(client, h, created_from=pivot.isoformat())
    assert sorted(_ids(page)) == sorted(i for i, t in moments.items() if t >= pivot)
    assert made[2]["id"] in _ids(page)

    page = await _listing(client, h, created_to=pivot.isoformat())
    assert sorted(_ids(page)) == sorted(i for i, t in moments.items() if t < pivot)
    assert made[2]["id"] not in _ids(page)

    first = moments[made[0]["id"]]
    page = await _listing(client, h, created_from=first.isoformat(), created_to=pivot.isoformat())
    assert sorted(_ids(page)) == sorted(i for i, t in moments.items() if first <= t < pivot)

    # Another offset names the same instant.
    almaty = pivot.astimezone(timezone(timedelta(hours=5))).isoformat()
    page = await _listing(client, h, created_from=almaty)
    assert sorted(_ids(page)) == sorted(i for i, t in moments.items() if t >= pivot)

    assert (await _listing(client, h, created_from=future(days=1)))["total"] == 0
    assert (await _listing(client, h, created_to=past(days=1)))["total"] == 0


async def test_list_created_from_naive_is_422(client: httpx.AsyncClient, tenant: Any) -> None:
    r = await client.get(
        "/v1/campaigns", params={"created_from": "2025-01-01T00:00:00"}, headers=tenant.headers
    )
    assert assert_problem(r, 422)["field"] == "created_from"


async def test_list_sort(client: httpx.AsyncClient, tenant: Any) -> None:
    h = tenant.headers
    for name in ["bravo", "alpha", "delta", "charlie"]:
        await make_campaign(client, h, name=name)
    by_name = await _listing(client, h, sort="name")
    assert [c["name"] for c in by_name["items"]] == ["alpha", "bravo", "charlie", "delta"]
    by_name_desc = await _listing(client, h, sort="-name")
    assert [c["name"] for c in by_name_desc["items"]] == ["delta", "charlie", "bravo", "alpha"]
    newest_first = _ids(await _listing(client, h, sort="-id"))
    assert newest_first == sorted(newest_first, reverse=True)
    assert _ids(await _listing(client, h)) == newest_first  # the default
    oldest_first = _ids(await _listing(client, h, sort="id"))
    assert oldest_first == sorted(newest_first)


@pytest.mark.parametrize("sort", ["colour", "-text", "", "account_id"])
async def test_list_bad_sort_is_422(client: httpx.AsyncClient, tenant: Any, sort: str) -> None:
    r = await client.get("/v1/campaigns", params={"sort": sort}, headers=tenant.headers)
    assert assert_problem(r, 422)["field"] == "sort"


async def test_list_pagination(client: httpx.AsyncClient, tenant: Any) -> None:
    h = tenant.headers
    made = [(await make_campaign(client, h, name=f"c{i}"))["id"] for i in range(5)]
    seen: list[int] = []
    for offset in (0, 2, 4):
        page = await _listing(client, h, limit=2, offset=offset, sort="id")
        assert page["total"] == 5
        assert page["limit"] == 2
        assert page["offset"] == offset
        seen.extend(_ids(page))
    assert seen == made
    last = await _listing(client, h, limit=2, offset=4)
    assert len(last["items"]) == 1
    beyond = await _listing(client, h, limit=2, offset=10)
    assert beyond["items"] == []
    assert beyond["total"] == 5


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 501}, {"offset": -1}, {"limit": "many"}]
)
async def test_list_bad_paging_is_422(
    client: httpx.AsyncClient, tenant: Any, params: dict[str, Any]
) -> None:
    r = await client.get("/v1/campaigns", params=params, headers=tenant.headers)
    assert_problem(r, 422)


# --- patch ---------------------------------------------------------------------------


async def test_patch_draft_name(client: httpx.AsyncClient, tenant: Any) -> None:
    h = tenant.headers
    c = await make_campaign(client, h)
    r = await client.patch(
        f"/v1/campaigns/{c['id']}", json={"name": "renamed", "sender": "Shop"}, headers=h
    )
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "renamed"
    stored = await get_campaign(client, h, c["id"])
    assert stored["name"] == "renamed"
    assert stored["sender"] == "Shop"
    assert stored["text"] == c["text"]


async def test_patch_strips_name_like_create(client: httpx.AsyncClient, tenant: Any) -> None:
    h = tenant.headers
    c = await make_campaign(client, h)
    r = await client.patch(f"/v1/campaigns/{c['id']}", json={"name": "  renamed  "}, headers=h)
    assert r.status_code == 200, r.text
    assert (await get_campaign(client, h, c["id"]))["name"] == "renamed"


async def test_patch_text_with_recipients_is_409(client: httpx.AsyncClient, tenant: Any) -> None:
    h = tenant.headers
    c = await make_campaign(client, h, text="original")
    await add_phones(client, h, c["id"], phones(2))
    for change in ({"text": "changed"}, {"type": "template"}, {"placeholders_flag": 1}):
        r = await client.patch(f"/v1/campaigns/{c['id']}", json=change, headers=h)
        assert_problem(r, 409)
    stored = await get_campaign(client, h, c["id"])
    assert stored["text"] == "original"
    assert stored["type"] == "mass"
    assert stored["placeholders_flag"] == 3
    # The name may still change.
    r = await client.patch(f"/v1/campaigns/{c['id']}", json={"name": "renamed"}, headers=h)
    assert r.status_code == 200
    # After the recipients are removed the text may change.
    await client.delete(f"/v1/campaigns/{c['id']}/recipients", headers=h)
    r = await client.patch(f"/v1/campaigns/{c['id']}", json={"text": "changed"}, headers=h)
    assert r.status_code == 200
    assert r.json()["text"] == "changed"


async def test_patch_after_start_is_409_and_unchanged(
    client: httpx.AsyncClient, tenant: Any
) -> None:
    h = tenant.headers
    c = await started_campaign(client, h, name="before")
    r = await client.patch(f"/v1/campaigns/{c['id']}", json={"name": "after"}, headers=h)
    body = assert_problem(r, 409)
    assert "RUNNING" in body["detail"]
    stored = await get_campaign(client, h, c["id"])
    assert stored["name"] == "before"
    assert stored["status"] == "RUNNING"


async def test_patch_empty_body_is_422(client: httpx.AsyncClient, tenant: Any) -> None:
    h = tenant.headers
    c = await make_campaign(client, h)
    assert_problem(await client.patch(f"/v1/campaigns/{c['id']}", json={}, headers=h), 422)


@pytest.mark.parametrize(
    "change",
    [
        {"name": None},
        {"text": None},
        {"type": None},
        {"sender": None},
        {"placeholders_flag": None},
        {"name": "   "},
        {"status": "RUNNING"},
        {"channel": "voice"},
        {"start_at": "2030-01-01T00:00:00"},
    ],
)
async def test_patch_invalid_change_is_422_not_500(
    client: httpx.AsyncClient, tenant: Any, change: dict[str, Any]
) -> None:
    h = tenant.headers
    c = await make_campaign(client, h)
    r = await client.patch(f"/v1/campaigns/{c['id']}", json=change, headers=h)
    assert_problem(r, 422)
    assert await get_campaign(client, h, c["id"]) == c


async def test_patch_start_at_in_the_past_is_422(client: httpx.AsyncClient, tenant: Any) -> None:
    h = tenant.headers
    c = await make_campaign(client, h)
    r = await client.patch(f"/v1/campaigns/{c['id']}", json={"start_at": past()}, headers=h)
    assert assert_problem(r, 422)["field"] == "start_at"


# --- delete --------------------------------------------------------------------------


async def test_delete_draft(client: httpx.AsyncClient, tenant: Any) -> None:
    h = tenant.headers
    c = await make_campaign(client, h)
    await add_phones(client, h, c["id"], phones(3))
    r = await client.delete(f"/v1/campaigns/{c['id']}", headers=h)
    assert r.status_code == 204
    assert r.content == b""
    assert_problem(await client.get(f"/v1/campaigns/{c['id']}", headers=h), 404)
    assert_problem(await client.get(f"/v1/campaigns/{c['id']}/messages", headers=h), 404)
    assert_problem(await client.delete(f"/v1/campaigns/{c['id']}", headers=h), 404)
    assert (await _listing(client, h))["total"] == 0


async def test_delete_scheduled_never_started(client: httpx.AsyncClient, tenant: Any) -> None:
    h = tenant.headers
    c = await make_campaign(client, h, start_at=future(days=1))
    await add_phones(client, h, c["id"], phones(1))
    assert (await action(client, h, c["id"], "start")).json()["status"] == "SCHEDULED"
    assert (await client.delete(f"/v1/campaigns/{c['id']}", headers=h)).status_code == 204


async def test_delete_started_is_409(client: httpx.AsyncClient, tenant: Any) -> None:
    h = tenant.headers
    c = await started_campaign(client, h)
    assert_problem(await client.delete(f"/v1/campaigns/{c['id']}", headers=h), 409)
    stored = await get_campaign(client, h, c["id"])
    assert stored["status"] == "RUNNING"
    assert (await get_stats(client, h, c["id"]))["total_messages"] == 2
    # Stopped is still "started": it cannot be deleted either.
    assert (await action(client, h, c["id"], "stop")).status_code == 200
    assert_problem(await client.delete(f"/v1/campaigns/{c['id']}", headers=h), 409)
    assert (await get_campaign(client, h, c["id"]))["status"] == "STOPPED"


# --- recipients ------------------------------------------------------------------------


async def test_recipient_result_codes(client: httpx.AsyncClient, tenant: Any) -> None:
    h = tenant.headers
    c = await make_campaign(client, h)
    r = await post_recipients(
        client,
        h,
        c["id"],
        [
            {"phone": "+7 (701) 000-00-00"},
            {"phone": "77010000000"},  # the same number, another format
            {"phone": "call me"},
            {"phone": ""},
            {"phone": None},
            {"phone": 77010000001},
        ],
    )
    assert r.status_code == 200, r.text
    body = r.json()
    codes = [x["code"] for x in body["recipients"]]
    assert codes == [0, 4, 3, 1, 1, 0]
    assert body["added"] == 2
    assert body["rejected"] == 4
    first = body["recipients"][0]
    assert first["phone"] == "+7 (701) 000-00-00"
    assert first["normalized"] == "+77010000000"
    assert isinstance(first["message_id"], int)
    assert body["recipients"][5]["normalized"] == "+77010000001"
    for rejected in body["recipients"][1:5]:
        assert rejected["message_id"] is None

    # Across requests: already in the campaign.
    again = await post_recipients(client, h, c["id"], [{"phone": "+77010000000"}])
    assert again.status_code == 200
    assert again.json()["recipients"][0]["code"] == 4
    assert again.json()["recipients"][0]["message_id"] is None
    assert again.json()["added"] == 0

    listed = await get_messages(client, h, c["id"])
    assert listed["total"] == 2
    assert sorted(m["phone"] for m in listed["items"]) == ["+77010000000", "+77010000001"]
    assert {m["id"] for m in listed["items"]} == {
        first["message_id"],
        body["recipients"][5]["message_id"],
    }
    assert all(m["status"] == "NEW" and m["country"] == "KZ" for m in listed["items"])
    assert (await get_stats(client, h, c["id"]))["messages"]["NEW"] == 2
    assert (await get_campaign(client, h, c["id"]))["recipients_rejected"] == 5


async def test_template_recipient_missing_placeholder_rejected_by_default(
    client: httpx.AsyncClient, tenant: Any
) -> None:
    h = tenant.headers
    c = await make_campaign(client, h, type="template", text="Hi {name}!")
    a, b = phones(2)
    r = await post_recipients(
        client, h, c["id"], [{"phone": a}, {"phone": b, "variables": {"name": "Ann"}}]
    )
    assert r.status_code == 200, r.text
    assert [x["code"] for x in r.json()["recipients"]] == [20, 0]
    listed = await get_messages(client, h, c["id"])
    assert [(m["phone"], m["text"]) for m in listed["items"]] == [(b, "Hi Ann!")]
    assert listed["items"][0]["variables"] == {"name": "Ann"}


@pytest.mark.parametrize(("flag", "expected"), [(2, "Hi !"), (1, "Hi {name}!")])
async def test_template_placeholders_flag_remove_and_keep(
    client: httpx.AsyncClient, tenant: Any, flag: int, expected: str
) -> None:
    h = tenant.headers
    c = await make_campaign(client, h, type="template", text="Hi {name}!", placeholders_flag=flag)
    r = await post_recipients(client, h, c["id"], [{"phone": phones(1)[0]}])
    assert r.status_code == 200
    result = r.json()["recipients"][0]
    assert result["code"] == 0
    listed = await get_messages(client, h, c["id"])
    assert [m["text"] for m in listed["items"]] == [expected]
    assert listed["items"][0]["id"] == result["message_id"]


async def test_mass_campaign_ignores_variables(client: httpx.AsyncClient, tenant: Any) -> None:
    h = tenant.headers
    c = await make_campaign(client, h, type="mass", text="Hi {name}!")
    r = await post_recipients(client, h, c["id"], [{"phone": phones(1)[0]}])
    assert r.json()["recipients"][0]["code"] == 0


async def test_too_many_recipients_is_422(settings: Settings, db: Database, tenant: Any) -> None:
    small = settings.model_copy(update={"max_recipients_per_request": 3})
    app = create_app(small, db=db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://clarion.test") as client:
        h = tenant.headers
        c = await make_campaign(client, h)
        r = await post_recipients(client, h, c["id"], [{"phone": p} for p in phones(4)])
        body = assert_problem(r, 422)
        assert body["field"] == "recipients"
        assert "3" in body["detail"]
        assert (await get_stats(client, h, c["id"]))["total_messages"] == 0
        ok = await post_recipients(client, h, c["id"], [{"phone": p} for p in phones(3)])
        assert ok.status_code == 200
        assert ok.json()["added"] == 3


async def test_default_recipient_limit_is_10000(client: httpx.AsyncClient, tenant: Any) -> None:
    h = tenant.headers
    c = await make_campaign(client, h)
    r = await post_recipients(client, h, c["id"], [{"phone": p} for p in phones(10_001)])
    assert assert_problem(r, 422)["field"] == "recipients"
    assert (await get_stats(client, h, c["id"]))["total_messages"] == 0


@pytest.mark.parametrize(
    "payload",
    [
        {"recipients": []},
        {},
        {"recipients": [{"phone": "+77010000000", "extra": 1}]},
        {"recipients": [{"phone": "+77010000000", "variables": {"a": 1}}]},
        {"recipients": "+77010000000"},
    ],
)
async def test_bad_recipients_payload_is_422(
    client: httpx.AsyncClient, tenant: Any, payload: dict[str, Any]
) -> None:
    h = tenant.headers
    c = await make_campaign(client, h)
    r = await client.post(f"/v1/campaigns/{c['id']}/recipients", json=payload, headers=h)
    assert_problem(r, 422)
    assert (await get_stats(client, h, c["id"]))["total_messages"] == 0


async def test_recipients_to_started_campaign_is_409(
    client: httpx.AsyncClient, tenant: Any
) -> None:
    h = tenant.headers
    c = await started_campaign(client, h, count=1)
    r = await post_recipients(client, h, c["id"], [{"phone": phones(1, start=50)[0]}])
    assert_problem(r, 409)
    assert (await get_stats(client, h, c["id"]))["total_messages"] == 1
    assert_problem(await client.delete(f"/v1/campaigns/{c['id']}/recipients", headers=h), 409)
    assert (await get_stats(client, h, c["id"]))["total_messages"] == 1


async def test_single_campaign_takes_one_recipient(client: httpx.AsyncClient, tenant: Any) -> None:
    h = tenant.headers
    c = await make_campaign(client, h, type="single")
    a, b, d = phones(3)
    assert (await add_phones(client, h, c["id"], [a]))["added"] == 1
    assert_problem(await post_recipients(client, h, c["id"], [{"phone": b}]), 409)
    # The same number again is just a duplicate.
    dup = await post_recipients(client, h, c["id"], [{"phone": a}])
    assert dup.status_code == 200
    assert dup.json()["recipients"][0]["code"] == 4
    assert (await get_stats(client, h, c["id"]))["total_messages"] == 1

    fresh = await make_campaign(client, h, type="single")
    two = await post_recipients(client, h, fresh["id"], [{"phone": b}, {"phone": d}])
    assert_problem(two, 409)
    assert (await get_stats(client, h, fresh["id"]))["total_messages"] == 0


async def test_clear_recipients_in_draft(client: httpx.AsyncClient, tenant: Any) -> None:
    h = tenant.headers
    c = await make_campaign(client, h)
    numbers = phones(3)
    await add_phones(client, h, c["id"], numbers)
    r = await client.delete(f"/v1/campaigns/{c['id']}/recipients", headers=h)
    assert r.status_code == 200
    assert r.json() == {"removed": 3}
    stats = await get_stats(client, h, c["id"])
    assert stats["total_messages"] == 0
    assert stats["total_segments"] == 0
    assert all(v == 0 for v in stats["messages"].values())
    assert (await get_messages(client, h, c["id"]))["total"] == 0
    # The same numbers can be added again.
    again = await add_phones(client, h, c["id"], numbers)
    assert again["added"] == 3
    assert (await get_stats(client, h, c["id"]))["messages"]["NEW"] == 3


# --- lifecycle -------------------------------------------------------------------------


async def test_start_without_recipients_is_409(client: httpx.AsyncClient, tenant: Any) -> None:
    h = tenant.headers
    c = await make_campaign(client, h)
    body = assert_problem(await action(client, h, c["id"], "start"), 409)
    assert "recipients" in body["detail"]
    assert (await get_campaign(client, h, c["id"]))["status"] == "DRAFT"
    assert await get_events(client, h, c["id"]) == []


async def test_start_runs_the_campaign(client: httpx.AsyncClient, tenant: Any) -> None:
    h = tenant.headers
    c = await make_campaign(client, h)
    await add_phones(client, h, c["id"], phones(2))
    r = await action(client, h, c["id"], "start")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "RUNNING"
    assert body["started_at"] is not None
    assert (await get_campaign(client, h, c["id"]))["status"] == "RUNNING"
    events = await get_events(client, h, c["id"])
    assert [(e["action"], e["from_status"], e["to_status"]) for e in events] == [
        ("start", "DRAFT", "RUNNING")
    ]


async def _in_state(client: httpx.AsyncClient, headers: H, state: str) -> dict[str, Any]:
    if state == "DRAFT":
        c = await make_campaign(client, headers)
        await add_phones(client, headers, c["id"], phones(2))
        return c
    if state == "RUNNING":
        return await started_campaign(client, headers)
    if state == "PAUSED":
        c = await started_campaign(client, headers)
        r = await action(client, headers, c["id"], "pause")
        assert r.status_code == 200
        body: dict[str, Any] = r.json()
        return body
    raise AssertionError(state)


@pytest.mark.parametrize(
    ("state", "name"),
    [
        ("DRAFT", "pause"),
        ("DRAFT", "resume"),
        ("DRAFT", "stop"),
        ("DRAFT", "retry"),
        ("RUNNING", "resume"),
        ("RUNNING", "retry"),
        ("RUNNING", "start"),
        ("PAUSED", "pause"),
        ("PAUSED", "start"),
    ],
)
async def test_illegal_transitions_are_409(
    client: httpx.AsyncClient, tenant: Any, state: str, name: str
) -> None:
    h = tenant.headers
    c = await _in_state(client, h, state)
    before = await get_campaign(client, h, c["id"])
    events = await get_events(client, h, c["id"])
    body = assert_problem(await action(client, h, c["id"], name), 409)
    assert body["current_status"] == state
    assert body["action"] == name
    assert state in body["detail"]
    assert await get_campaign(client, h, c["id"]) == before
    assert await get_events(client, h, c["id"]) == events


async def test_unknown_action_is_rejected(client: httpx.AsyncClient, tenant: Any) -> None:
    h = tenant.headers
    c = await _in_state(client, h, "DRAFT")
    r = await action(client, h, c["id"], "explode")
    assert r.status_code in (404, 405, 422)
    assert r.headers["content-type"].startswith(PROBLEM)
    assert (await get_campaign(client, h, c["id"]))["status"] == "DRAFT"


async def test_pause_resume_stop(client: httpx.AsyncClient, tenant: Any) -> None:
    h = tenant.headers
    c = await started_campaign(client, h, count=3)
    paused = (await action(client, h, c["id"], "pause")).json()
    assert paused["status"] == "PAUSED"
    assert paused["pause_reason"] == "user"
    resumed = await action(client, h, c["id"], "resume")
    assert resumed.status_code == 200
    assert resumed.json()["status"] == "RUNNING"
    assert resumed.json()["pause_reason"] is None
    stopped = await action(client, h, c["id"], "stop")
    assert stopped.status_code == 200
    assert stopped.json()["status"] == "STOPPED"
    assert stopped.json()["finished_at"] is not None
    stats = await get_stats(client, h, c["id"])
    assert stats["messages"]["NEW"] == 0
    assert stats["messages"]["DELETED"] == 3
    assert Decimal(stats["cost"]) == 0
    events = await get_events(client, h, c["id"])
    assert [(e["action"], e["from_status"], e["to_status"]) for e in events] == [
        ("start", "DRAFT", "RUNNING"),
        ("pause", "RUNNING", "PAUSED"),
        ("resume", "PAUSED", "RUNNING"),
        ("stop", "RUNNING", "STOPPED"),
    ]


async def test_future_start_at_schedules_then_stop(client: httpx.AsyncClient, tenant: Any) -> None:
    h = tenant.headers
    c = await make_campaign(client, h, start_at=future(days=1))
    await add_phones(client, h, c["id"], phones(2))
    r = await action(client, h, c["id"], "start")
    assert r.status_code == 200
    assert r.json()["status"] == "SCHEDULED"
    assert r.json()["started_at"] is None
    assert_problem(await action(client, h, c["id"], "start"), 409)
    stopped = await action(client, h, c["id"], "stop")
    assert stopped.status_code == 200
    assert stopped.json()["status"] == "STOPPED"
    assert (await get_campaign(client, h, c["id"]))["status"] == "STOPPED"
    assert (await get_stats(client, h, c["id"]))["messages"]["DELETED"] == 2
    events = await get_events(client, h, c["id"])
    assert [(e["from_status"], e["to_status"]) for e in events] == [
        ("DRAFT", "SCHEDULED"),
        ("SCHEDULED", "STOPPED"),
    ]


async def test_retry_after_done_requeues_rejected(
    client: httpx.AsyncClient, tenant: Any, dispatcher: Dispatcher, fake: FakeChannel
) -> None:
    h = tenant.headers
    numbers = phones(3)
    fake.outcomes = {numbers[2]: Outcome.PERMANENT}
    c = await make_campaign(client, h)
    await add_phones(client, h, c["id"], numbers)
    assert (await action(client, h, c["id"], "start")).status_code == 200
    await drain(dispatcher)
    done = await get_campaign(client, h, c["id"])
    assert done["status"] == "DONE"
    stats = await get_stats(client, h, c["id"])
    assert stats["messages"]["DELIVERED"] == 2
    assert stats["messages"]["REJECTED"] == 1

    fake.outcomes = {}
    r = await action(client, h, c["id"], "retry")
    assert r.status_code == 200, r.text
    assert r.json()["requeued"] == 1
    assert r.json()["campaign"]["status"] == "RUNNING"
    await drain(dispatcher)
    stats = await get_stats(client, h, c["id"])
    assert stats["messages"]["DELIVERED"] == 3
    assert (await get_campaign(client, h, c["id"]))["status"] == "DONE"

    # Nothing left to retry: a conflict, and the campaign stays DONE.
    events = await get_events(client, h, c["id"])
    assert_problem(await action(client, h, c["id"], "retry"), 409)
    assert (await get_campaign(client, h, c["id"]))["status"] == "DONE"
    assert await get_events(client, h, c["id"]) == events


# --- stats -----------------------------------------------------------------------------


async def test_stats_shape(client: httpx.AsyncClient, tenant: Any) -> None:
    h = tenant.headers
    c = await make_campaign(client, h)
    await add_phones(client, h, c["id"], phones(3))
    stats = await get_stats(client, h, c["id"])
    every = {s.value for s in MessageStatus}
    assert set(stats["messages"]) == every
    assert set(stats["segments"]) == every
    assert isinstance(stats["cost"], str)
    assert Decimal(stats["cost"]) == 0
    assert stats["total_messages"] == 3
    assert stats["total_segments"] == 3
    assert stats["messages"]["NEW"] == 3
    assert sum(stats["messages"].values()) == stats["total_messages"]


async def test_stats_cost_after_sending(
    client: httpx.AsyncClient, tenant: Any, dispatcher: Dispatcher, settings: Settings
) -> None:
    h = tenant.headers
    c = await started_campaign(client, h, count=4)
    await drain(dispatcher)
    stats = await get_stats(client, h, c["id"])
    assert stats["messages"]["DELIVERED"] == 4
    assert Decimal(stats["cost"]) == 4 * settings.price_per_segment
    assert Decimal((await get_campaign(client, h, c["id"]))["spent"]) == Decimal(stats["cost"])


async def test_template_segments_are_per_recipient(
    client: httpx.AsyncClient, tenant: Any, settings: Settings
) -> None:
    h = tenant.headers
    c = await make_campaign(client, h, type="template", text="Dear {name}, your order shipped.")
    short, long = phones(2)
    r = await post_recipients(
        client,
        h,
        c["id"],
        [
            {"phone": short, "variables": {"name": "Ann"}},
            {"phone": long, "variables": {"name": "x" * 150}},
        ],
    )
    assert [x["code"] for x in r.json()["recipients"]] == [0, 0]
    stats = await get_stats(client, h, c["id"])
    assert stats["messages"]["NEW"] == 2
    assert stats["segments"]["NEW"] == 3
    assert stats["total_segments"] == 3
    listed = {m["phone"]: m for m in (await get_messages(client, h, c["id"]))["items"]}
    assert listed[short]["segments"] == 1
    assert listed[long]["segments"] == 2
    assert Decimal(listed[long]["price"]) == 2 * settings.price_per_segment
    assert Decimal(listed[short]["price"]) == settings.price_per_segment


# --- messages --------------------------------------------------------------------------


async def test_messages_filter_by_status(
    client: httpx.AsyncClient, tenant: Any, dispatcher: Dispatcher, fake: FakeChannel
) -> None:
    h = tenant.headers
    numbers = phones(4)
    fake.outcomes = {numbers[0]: Outcome.PERMANENT}
    c = await started_campaign(client, h, count=4)
    draft = await make_campaign(client, h)
    await add_phones(client, h, draft["id"], phones(2, start=100))
    await drain(dispatcher)

    assert (await get_messages(client, h, c["id"]))["total"] == 4
    assert (await get_messages(client, h, c["id"], status="NEW"))["total"] == 0
    new = await get_messages(client, h, draft["id"], status="NEW")
    assert new["total"] == 2
    rejected = await get_messages(client, h, c["id"], status="REJECTED")
    assert [m["phone"] for m in rejected["items"]] == [numbers[0]]
    delivered = await get_messages(client, h, c["id"], status="delivered")
    assert delivered["total"] == 3
    assert all(m["status"] == "DELIVERED" for m in delivered["items"])
    both = await get_messages(client, h, c["id"], status="DELIVERED,REJECTED")
    assert both["total"] == 4
    repeated = await get_messages(client, h, c["id"], status=["DELIVERED", "REJECTED"])
    assert repeated["total"] == 4


async def test_messages_unknown_status_is_422(client: httpx.AsyncClient, tenant: Any) -> None:
    h = tenant.headers
    c = await make_campaign(client, h)
    r = await client.get(f"/v1/campaigns/{c['id']}/messages", params={"status": "LOST"}, headers=h)
    body = assert_problem(r, 422)
    assert body["field"] == "status"
    assert "LOST" in body["detail"]


async def test_messages_pagination(client: httpx.AsyncClient, tenant: Any) -> None:
    h = tenant.headers
    c = await make_campaign(client, h)
    added = await add_phones(client, h, c["id"], phones(5))
    ids = [x["message_id"] for x in added["recipients"]]
    seen: list[int] = []
    for offset in (0, 2, 4):
        page = await get_messages(client, h, c["id"], limit=2, offset=offset)
        assert page["total"] == 5
        assert (page["limit"], page["offset"]) == (2, offset)
        seen.extend(m["id"] for m in page["items"])
    assert seen == ids
    assert (await get_messages(client, h, c["id"], limit=2, offset=99))["items"] == []


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 1001}, {"offset": -1}, {"offset": 2**64}, {"offset": 10**20}],
)
async def test_messages_bad_paging_is_422_not_500(
    client: httpx.AsyncClient, tenant: Any, params: dict[str, Any]
) -> None:
    h = tenant.headers
    c = await make_campaign(client, h)
    await add_phones(client, h, c["id"], phones(1))
    r = await client.get(f"/v1/campaigns/{c['id']}/messages", params=params, headers=h)
    assert_problem(r, 422)


# --- misc ------------------------------------------------------------------------------


async def test_healthz(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


async def test_docs_and_openapi(client: httpx.AsyncClient) -> None:
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "text/html" in docs.headers["content-type"]
    spec = await client.get("/openapi.json")
    assert spec.status_code == 200
    assert "/v1/campaigns" in spec.json()["paths"]
    assert "/v1/campaigns/{campaign_id}/recipients" in spec.json()["paths"]


async def test_landing_page(client: httpx.AsyncClient) -> None:
    r = await client.get("/")
    assert r.status_code == 200
    assert "Clarion" in r.text


async def test_unknown_route_is_404_problem(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/v1/nothing-here"), 404)


@pytest.mark.parametrize("bad_id", ["0", "-1", str(2**64), str(2**63), "abc", "1.5"])
@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "", None),
        ("PATCH", "", {"name": "x"}),
        ("DELETE", "", None),
        ("GET", "/stats", None),
        ("GET", "/messages", None),
        ("GET", "/events", None),
        ("POST", "/start", None),
        ("POST", "/retry", None),
        ("POST", "/recipients", {"recipients": [{"phone": "+77010000000"}]}),
        ("DELETE", "/recipients", None),
    ],
)
async def test_bad_path_id_is_422(
    client: httpx.AsyncClient,
    tenant: Any,
    bad_id: str,
    method: str,
    suffix: str,
    body: dict[str, Any] | None,
) -> None:
    r = await client.request(
        method, f"/v1/campaigns/{bad_id}{suffix}", json=body, headers=tenant.headers
    )
    errors = assert_problem(r, 422)
    assert any("campaign_id" in loc for loc in error_locations(errors))


async def test_largest_valid_id_is_404(client: httpx.AsyncClient, tenant: Any) -> None:
    r = await client.get(f"/v1/campaigns/{2**63 - 1}", headers=tenant.headers)
    assert_problem(r, 404)
