"""The operator dashboard over HTTP: sign-in and sessions, CSRF, every page with real
data, actions changing state through the services, and tenant isolation."""

from __future__ import annotations

import html
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import Tenant
from tests.helpers import add_phones, drain, make_campaign, phones

from clarion import server_secret
from clarion.channels.base import Outcome
from clarion.channels.fake import FakeChannel
from clarion.dispatch.engine import Dispatcher
from clarion.services import accounts, imports
from clarion.services import campaigns as campaign_service
from clarion.store import campaigns as campaign_store
from clarion.store.db import Database
from clarion.web import session

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(page: str) -> str:
    found = CSRF.search(page)
    assert found, "no CSRF field on the page"
    return found.group(1)


def text_of(page: str) -> str:
    """The page's visible text, whitespace collapsed (for phrase assertions)."""
    no_tags = re.sub(r"<[^>]+>", " ", page)
    return re.sub(r"\s+", " ", html.unescape(no_tags))


async def sign_in(client: httpx.AsyncClient, key: str) -> str:
    """Sign in through the form; returns the session's CSRF token."""
    form = await client.get("/")
    assert form.status_code == 200
    r = await client.post(
        "/ui/sign-in", data={"api_key": key, "csrf": csrf_of(form.text), "next": ""}
    )
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/ui/campaigns"
    page = await client.get("/ui/campaigns")
    assert page.status_code == 200
    return csrf_of(page.text)


async def campaign_status(db: Database, tenant: Tenant, campaign_id: int) -> str:
    row = await campaign_service.get(db, account_id=tenant.id, campaign_id=campaign_id)
    return str(row.status)


@pytest.fixture
async def other(db: Database) -> Tenant:
    new = await accounts.create(db, name="globex", balance=Decimal("50.00"), currency="EUR")
    return Tenant(new.account_id, new.api_key)


# --- sign-in, sessions, CSRF ----------------------------------------------------------


async def test_pages_redirect_to_sign_in_without_a_session(client: httpx.AsyncClient) -> None:
    r = await client.get("/ui/campaigns?status=RUNNING")
    assert r.status_code == 303
    assert r.headers["location"] == "/?next=/ui/campaigns%3Fstatus%3DRUNNING"
    for path in ("/ui/campaigns/1", "/ui/messages", "/ui/account", "/ui/campaigns/new"):
        r = await client.get(path)
        assert r.status_code == 303, path
        assert r.headers["location"].startswith("/?next=")
    live = await client.get("/ui/campaigns/1/live.json")
    assert live.status_code == 401
    assert "sign in" in live.json()["error"]
    action = await client.post("/ui/campaigns/1/actions/start", data={"csrf": "x"})
    assert action.status_code == 303
    assert action.headers["location"] == "/"
    preview = await client.post("/ui/preview.json", json={"text": "x"})
    assert preview.status_code == 401
    bad_id = await client.get("/ui/campaigns/abc")
    assert bad_id.status_code == 303  # no session: the id is not even looked at
    landing = await client.get("/")
    assert landing.status_code == 200
    assert "Clarion" in landing.text
    assert 'name="api_key"' in landing.text


async def test_sign_in_sets_a_strict_session_cookie_and_sign_out_clears_it(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    form = await client.get("/?next=/ui/account")
    r = await client.post(
        "/ui/sign-in",
        data={"api_key": tenant.key, "csrf": csrf_of(form.text), "next": "/ui/account"},
    )
    assert r.status_code == 303
    assert r.headers["location"] == "/ui/account"
    cookie = next(
        c for c in r.headers.get_list("set-cookie") if c.startswith(session.SESSION_COOKIE)
    )
    assert "httponly" in cookie.lower()
    assert "samesite=lax" in cookie.lower()
    assert tenant.key not in cookie  # the key never travels back to the browser
    assert (await client.get("/")).headers["location"] == "/ui/campaigns"
    account = await client.get("/ui/account")
    assert account.status_code == 200
    out = await client.post("/ui/sign-out", data={"csrf": csrf_of(account.text)})
    assert out.status_code == 303
    assert (await client.get("/ui/account")).status_code == 303


async def test_sign_in_refuses_a_bad_key_and_an_outside_next(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    form = await client.get("/")
    r = await client.post(
        "/ui/sign-in", data={"api_key": "x" * 40, "csrf": csrf_of(form.text), "next": ""}
    )
    assert r.status_code == 401
    assert "not valid" in r.text
    assert session.SESSION_COOKIE not in client.cookies
    form = await client.get("/")
    r = await client.post(
        "/ui/sign-in",
        data={"api_key": tenant.key, "csrf": csrf_of(form.text), "next": "https://evil.test/"},
    )
    assert r.status_code == 303
    assert r.headers["location"] == "/ui/campaigns"


async def test_sign_in_form_needs_its_token(client: httpx.AsyncClient, tenant: Tenant) -> None:
    await client.get("/")
    r = await client.post("/ui/sign-in", data={"api_key": tenant.key, "csrf": "forged"})
    assert r.status_code == 403
    assert session.SESSION_COOKIE not in client.cookies


async def test_post_without_or_with_a_foreign_csrf_token_is_403(
    client: httpx.AsyncClient, tenant: Tenant, other: Tenant, db: Database, settings: Any
) -> None:
    await sign_in(client, tenant.key)
    body = {"name": "no token", "text": "hi", "type": "mass", "channel": "sms"}
    r = await client.post("/ui/campaigns", data=body)
    assert r.status_code == 403
    assert "security token" in r.text
    # A token from another session (another operator's page) does not fit this one.
    transport = client._transport
    async with httpx.AsyncClient(transport=transport, base_url="http://clarion.test") as second:
        foreign = await sign_in(second, other.key)
    r = await client.post("/ui/campaigns", data={**body, "csrf": foreign})
    assert r.status_code == 403
    _rows, total = await campaign_service.search(db, account_id=tenant.id)
    assert total == 0


async def test_a_revoked_key_or_a_forged_cookie_ends_the_session(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    await sign_in(client, tenant.key)
    assert (await client.get("/ui/campaigns")).status_code == 200
    cookie = client.cookies[session.SESSION_COOKIE]
    body, signature = cookie.split(".")
    client.cookies.set(session.SESSION_COOKIE, body + "." + "0" * len(signature))
    assert (await client.get("/ui/campaigns")).status_code == 303
    client.cookies.set(session.SESSION_COOKIE, cookie)
    assert (await client.get("/ui/campaigns")).status_code == 200
    await accounts.rotate_key(db, account_id=tenant.id, label="default")
    r = await client.get("/ui/campaigns")
    assert r.status_code == 303
    assert r.headers["location"].startswith("/?next=")


def test_session_cookie_round_trip_expiry_and_tampering() -> None:
    secret = b"s" * 32
    cookie = session.encode(secret, session.Session(7, 1_000))
    assert session.decode(secret, cookie, now=1_100, max_age=3600) == session.Session(7, 1_000)
    assert session.decode(secret, cookie, now=1_000 + 3601, max_age=3600) is None
    assert session.decode(b"t" * 32, cookie, now=1_100, max_age=3600) is None
    assert session.decode(secret, cookie + "x", now=1_100, max_age=3600) is None
    assert session.decode(secret, "garbage", now=1_100, max_age=3600) is None
    token = session.csrf_token(secret, cookie)
    assert session.csrf_valid(secret, cookie, token)
    assert not session.csrf_valid(secret, cookie, token[:-1] + "0")
    assert not session.csrf_valid(secret, None, token)


def test_secret_is_created_once_private_and_reused(tmp_path: Path) -> None:
    first = server_secret.load_secret("", str(tmp_path / "data"))
    again = server_secret.load_secret("", str(tmp_path / "data"))
    assert first == again
    assert len(first) == 64
    path = tmp_path / "data" / server_secret.SECRET_FILE
    assert path.stat().st_mode & 0o777 == 0o600
    assert (
        server_secret.load_secret("configured-secret", str(tmp_path / "data"))
        == b"configured-secret"
    )


async def test_static_assets_are_served_locally_and_short_links_still_redirect(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    css = await client.get("/ui/static/clarion.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    js = await client.get("/ui/static/clarion.js")
    assert js.status_code == 200
    page = (await client.get("/")).text
    assert "http://" not in page.replace("http://clarion.test", "")
    assert "https://" not in page
    r = await client.post(
        "/v1/links", headers=tenant.headers, json={"full_link": "https://example.com/sale"}
    )
    assert r.status_code == 201, r.text
    code = r.json()["code"]
    follow = await client.get(f"/{code}")
    assert follow.status_code == 302
    assert follow.headers["location"] == "https://example.com/sale"


# --- campaigns list and create --------------------------------------------------------


async def test_campaign_list_shows_counts_filters_searches_and_pages(
    client: httpx.AsyncClient, tenant: Tenant, dispatcher: Dispatcher, db: Database
) -> None:
    await sign_in(client, tenant.key)
    empty = await client.get("/ui/campaigns")
    assert "No campaigns yet" in empty.text
    sent = await make_campaign(client, tenant.headers, name="Summer sale")
    await add_phones(client, tenant.headers, sent["id"], phones(4))
    await campaign_service.start(db, account_id=tenant.id, campaign_id=sent["id"])
    await drain(dispatcher)
    for n in range(21):
        await make_campaign(client, tenant.headers, name=f"draft {n:02d}")
    page = await client.get("/ui/campaigns")
    assert page.status_code == 200
    assert "Page 1 of 2" in text_of(page.text)
    second = await client.get("/ui/campaigns?page=2")
    row = re.search(rf'<tr data-campaign-id="{sent["id"]}">(.*?)</tr>', second.text, re.S)
    assert row is not None
    cells = text_of(row.group(1))
    assert "Summer sale" in cells
    assert "DONE" in cells
    assert "4 / 4" in cells  # sent / total
    assert "100%" in cells
    assert "0.20 USD" in cells  # 4 x 1 segment x 0.05
    only_done = await client.get("/ui/campaigns?status=done")
    assert "Summer sale" in only_done.text
    assert "draft 00" not in only_done.text
    search = await client.get("/ui/campaigns?q=draft+07")
    assert "draft 07" in search.text
    assert "Summer sale" not in search.text
    none = await client.get("/ui/campaigns?q=nothing-like-this")
    assert "No campaigns match" in none.text


async def test_create_rcs_campaign_with_sms_fallback(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    csrf = await sign_in(client, tenant.key)
    form = await client.get("/ui/campaigns/new")
    assert '<option value="rcs">' in form.text and 'id="fallback_text"' in form.text
    too_long = await client.post(
        "/ui/campaigns",
        data={"csrf": csrf, "name": "Rich", "text": "x" * 161, "type": "mass", "channel": "rcs"},
    )
    assert too_long.status_code == 422
    assert "longer than 160" in too_long.text
    ok = await client.post(
        "/ui/campaigns",
        data={
            "csrf": csrf,
            "name": "Rich",
            "text": "Your parcel is on its way",
            "type": "mass",
            "channel": "rcs",
            "sender": "acme_agent",
            "fallback_text": "Parcel on its way",
            "fallback_sender": "ACME",
        },
    )
    assert ok.status_code == 303, ok.text
    campaign_id = int(ok.headers["location"].split("/")[3])
    row = await campaign_service.get(db, account_id=tenant.id, campaign_id=campaign_id)
    assert (row.channel, row.settings["rcs"]) == ("rcs", {"text": "Your parcel is on its way"})
    async with db.read() as conn:
        kid = await campaign_store.child(conn, campaign_id)
    assert kid is not None and (kid.text, kid.sender) == ("Parcel on its way", "ACME")


async def test_create_campaign_form_creates_and_keeps_input_on_error(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    csrf = await sign_in(client, tenant.key)
    form = await client.get("/ui/campaigns/new")
    assert form.status_code == 200
    assert 'id="preview"' in form.text
    assert '<option value="voice">Voice calls</option>' in form.text
    bad = await client.post(
        "/ui/campaigns",
        data={"csrf": csrf, "name": "Welcome", "text": "   ", "type": "mass", "channel": "sms"},
    )
    assert bad.status_code == 422
    assert "text must not be empty" in bad.text
    assert 'value="Welcome"' in bad.text
    unknown = await client.post(
        "/ui/campaigns",
        data={"csrf": csrf, "name": "Calls", "text": "hi", "type": "mass", "channel": "fax"},
    )
    assert unknown.status_code == 422
    assert "not available" in unknown.text
    ok = await client.post(
        "/ui/campaigns",
        data={
            "csrf": csrf,
            "name": "Welcome",
            "text": "Hi {name}!",
            "type": "template",
            "channel": "sms",
            "sender": "Clarion",
            "rate_limit": "20",
            "rate_period": "60",
            "validity_minutes": "90",
        },
    )
    assert ok.status_code == 303, ok.text
    match = re.fullmatch(r"/ui/campaigns/(\d+)/recipients\?notice=created", ok.headers["location"])
    assert match
    row = await campaign_service.get(db, account_id=tenant.id, campaign_id=int(match.group(1)))
    assert (row.name, row.type, row.sender, row.status) == (
        "Welcome",
        "template",
        "Clarion",
        "DRAFT",
    )
    assert (row.rate_limit, row.rate_period, row.validity_minutes) == (20, 60, 90)
    page = await client.get(ok.headers["location"])
    assert "Campaign created" in page.text
    assert 'name="file"' in page.text


async def test_preview_measures_encoding_segments_and_price(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    csrf = await sign_in(client, tenant.key)
    headers = {"X-CSRF-Token": csrf}
    r = await client.post("/ui/preview.json", json={"text": "a" * 161}, headers=headers)
    assert r.status_code == 200
    body = r.json()
    assert (body["encoding"], body["segments"], body["units"]) == ("GSM7", 2, 161)
    assert body["capacity"] == 306
    assert body["price"] == "0.10"
    r = await client.post("/ui/preview.json", json={"text": "Привет " * 10}, headers=headers)
    assert (r.json()["encoding"], r.json()["segments"]) == ("UCS2", 1)
    r = await client.post(
        "/ui/preview.json", json={"text": "Hi {name}, {code}", "type": "template"}, headers=headers
    )
    assert r.json()["placeholders"] == ["code", "name"]
    from clarion.services import pricing

    await pricing.load(
        db,
        text="channel,country,operator,unit,price\nsms,KZ,,segment,0.02\n",
        account_id=tenant.id,
    )
    r = await client.post(
        "/ui/preview.json", json={"text": "a" * 161, "country": "kz"}, headers=headers
    )
    assert r.json()["price"] == "0.04"
    assert "price table" in r.json()["basis"]
    refused = await client.post("/ui/preview.json", json={"text": "x"})
    assert refused.status_code == 403


# --- campaign detail and actions --------------------------------------------------------


def offer(page: str, action: str) -> str:
    found = re.search(rf'<form[^>]*data-action="{action}"[^>]*>(.*?)</form>', page, re.S)
    assert found, action
    return found.group(0)


async def test_detail_offers_only_allowed_actions_and_actions_change_state(
    client: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    dispatcher: Dispatcher,
    fake: FakeChannel,
) -> None:
    csrf = await sign_in(client, tenant.key)
    campaign = await make_campaign(client, tenant.headers, name="Autumn")
    cid = campaign["id"]
    empty = await client.get(f"/ui/campaigns/{cid}")
    assert "Add recipients first" in offer(empty.text, "start")
    numbers = phones(5)
    await add_phones(client, tenant.headers, cid, numbers)
    page = await client.get(f"/ui/campaigns/{cid}")
    assert page.status_code == 200
    assert "disabled" not in offer(page.text, "start")
    assert "disabled" in offer(page.text, "pause")
    assert "possible only when the campaign is RUNNING" in offer(page.text, "pause")
    assert "hidden" in offer(page.text, "renew").split(">")[0]
    assert "Delivery over time" in page.text

    refused = await client.post(f"/ui/campaigns/{cid}/actions/pause", data={"csrf": csrf})
    assert refused.status_code == 409
    assert "cannot pause campaign" in refused.text
    assert await campaign_status(db, tenant, cid) == "DRAFT"

    r = await client.post(f"/ui/campaigns/{cid}/actions/start", data={"csrf": csrf})
    assert r.status_code == 303
    assert r.headers["location"] == f"/ui/campaigns/{cid}?notice=start"
    assert await campaign_status(db, tenant, cid) == "RUNNING"
    live = (await client.get(f"/ui/campaigns/{cid}/live.json")).json()
    allowed = {o["action"] for o in live["offers"] if o["allowed"]}
    assert allowed == {"pause", "stop"}
    assert live["live"] is True

    assert (
        await client.post(f"/ui/campaigns/{cid}/actions/pause", data={"csrf": csrf})
    ).status_code == 303
    assert await campaign_status(db, tenant, cid) == "PAUSED"
    live = (await client.get(f"/ui/campaigns/{cid}/live.json")).json()
    assert {o["action"] for o in live["offers"] if o["allowed"]} == {"resume", "stop"}
    assert (
        await client.post(f"/ui/campaigns/{cid}/actions/resume", data={"csrf": csrf})
    ).status_code == 303

    fake.outcomes = {numbers[0]: Outcome.PERMANENT, numbers[1]: Outcome.PERMANENT}
    await drain(dispatcher)
    assert await campaign_status(db, tenant, cid) == "DONE"
    done = (await client.get(f"/ui/campaigns/{cid}/live.json")).json()
    assert done["summary"] == {
        "total": 5,
        "pending": 0,
        "in_flight": 0,
        "sent": 5,
        "delivered": 3,
        "failed": 2,
        "deleted": 0,
        "percent": 100,
    }
    assert done["messages"]["REJECTED"] == 2
    assert done["cost"] == "0.15 USD"
    assert sum(b["delivered"] for b in done["timeline"]["buckets"]) == 3
    assert sum(b["failed"] for b in done["timeline"]["buckets"]) == 2
    assert {o["action"] for o in done["offers"] if o["allowed"]} == {"retry"}
    page = await client.get(f"/ui/campaigns/{cid}")
    assert "disabled" not in offer(page.text, "retry")
    assert "disabled" in offer(page.text, "start")

    fake.outcomes = {}
    r = await client.post(f"/ui/campaigns/{cid}/actions/retry", data={"csrf": csrf})
    assert r.status_code == 303
    assert await campaign_status(db, tenant, cid) == "RUNNING"
    await drain(dispatcher)
    final = (await client.get(f"/ui/campaigns/{cid}/live.json")).json()
    assert final["summary"]["delivered"] == 5
    assert final["status"] == "DONE"
    again = await client.post(f"/ui/campaigns/{cid}/actions/retry", data={"csrf": csrf})
    assert again.status_code == 409
    assert "no UNDELIVERED, EXPIRED or REJECTED" in again.text
    unknown = await client.post(f"/ui/campaigns/{cid}/actions/explode", data={"csrf": csrf})
    assert unknown.status_code == 404


async def test_stop_and_delete_from_the_dashboard(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    csrf = await sign_in(client, tenant.key)
    running = await make_campaign(client, tenant.headers, name="to stop")
    await add_phones(client, tenant.headers, running["id"], phones(3))
    await campaign_service.start(db, account_id=tenant.id, campaign_id=running["id"])
    r = await client.post(f"/ui/campaigns/{running['id']}/actions/stop", data={"csrf": csrf})
    assert r.status_code == 303
    assert await campaign_status(db, tenant, running["id"]) == "STOPPED"
    live = (await client.get(f"/ui/campaigns/{running['id']}/live.json")).json()
    assert live["summary"]["deleted"] == 3
    draft = await make_campaign(client, tenant.headers, name="to delete")
    r = await client.post(f"/ui/campaigns/{draft['id']}/actions/delete", data={"csrf": csrf})
    assert r.status_code == 303
    assert r.headers["location"] == "/ui/campaigns?notice=deleted"
    assert (await client.get(f"/ui/campaigns/{draft['id']}")).status_code == 404


async def test_another_accounts_campaign_is_404_everywhere(
    client: httpx.AsyncClient, tenant: Tenant, other: Tenant, db: Database, tmp_path: Path
) -> None:
    theirs = await make_campaign(client, other.headers, name="Globex secret")
    await add_phones(client, other.headers, theirs["id"], phones(2))
    csv_path = tmp_path / "list.csv"
    csv_path.write_text("+77010000001\n")
    from clarion.imports.readers import CsvOptions

    task_id = await imports.start_file_import(
        db,
        account_id=other.id,
        campaign_id=theirs["id"],
        path=csv_path,
        options=CsvOptions(),
    )
    csrf = await sign_in(client, tenant.key)
    cid = theirs["id"]
    for path in (
        f"/ui/campaigns/{cid}",
        f"/ui/campaigns/{cid}/recipients",
        f"/ui/messages?campaign={cid}",
        f"/ui/campaigns/{cid}/live.json",
        f"/ui/tasks/{task_id}.json",
        f"/ui/tasks/{task_id}/rejections.csv",
    ):
        r = await client.get(path)
        assert r.status_code == 404, path
        assert "Globex secret" not in r.text
    for action in ("start", "stop", "delete"):
        r = await client.post(f"/ui/campaigns/{cid}/actions/{action}", data={"csrf": csrf})
        assert r.status_code == 404, action
    r = await client.post(
        f"/ui/campaigns/{cid}/recipients/add", data={"csrf": csrf, "phones": "+77010000009"}
    )
    assert r.status_code == 404
    listing = await client.get("/ui/campaigns")
    assert "Globex secret" not in listing.text
    bad_id = await client.get("/ui/campaigns/abc")
    assert bad_id.status_code == 422
    assert "text/html" in bad_id.headers["content-type"]
    messages = await client.get("/ui/messages")
    assert "Globex" not in messages.text
    assert phones(1)[0] not in messages.text
    assert await campaign_status(db, other, cid) == "DRAFT"


# --- recipients and imports -------------------------------------------------------------


async def test_upload_runs_as_a_task_with_progress_and_a_rejected_rows_report(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    csrf = await sign_in(client, tenant.key)
    campaign = await make_campaign(client, tenant.headers, name="Imported")
    cid = campaign["id"]
    good = phones(6)
    content = "\n".join([*good, "not a phone", good[0], "12"]) + "\n"
    r = await client.post(
        f"/ui/campaigns/{cid}/recipients/import",
        data={"csrf": csrf, "delimiter": ",", "encoding": ""},
        files={"file": ("list.csv", content.encode(), "text/csv")},
    )
    assert r.status_code == 303, r.text
    match = re.fullmatch(rf"/ui/campaigns/{cid}/recipients\?task=(\d+)", r.headers["location"])
    assert match
    task_id = int(match.group(1))
    queued = (await client.get(f"/ui/tasks/{task_id}.json")).json()
    assert queued["status"] == "QUEUED"
    assert queued["finished"] is False
    assert queued["total"] == 9
    page = await client.get(r.headers["location"])
    assert 'id="import-progress"' in page.text
    assert "An import is running" in page.text
    detail = await client.get(f"/ui/campaigns/{cid}")
    assert "Recipients are still being imported" in offer(detail.text, "start")

    assert await imports.run(db, task_id) == "DONE"
    done = (await client.get(f"/ui/tasks/{task_id}.json")).json()
    assert done["percent"] == 100
    assert done["finished"] is True
    assert (done["added"], done["rejected"]) == (6, 3)
    assert {c["code"] for c in done["codes"]} == {3, 4}
    report = await client.get(done["report_url"])
    assert report.status_code == 200
    assert report.headers["content-type"].startswith("text/csv")
    lines = report.text.strip().splitlines()
    assert lines[0] == "row,value,code,reason"
    assert len(lines) == 4
    assert any(",not a phone,3," in line for line in lines)
    page = await client.get(f"/ui/campaigns/{cid}/recipients?task={task_id}")
    assert "Download rejected rows" in page.text
    assert ">6</strong> recipient(s)" in page.text
    stats = await campaign_service.stats(db, account_id=tenant.id, campaign_id=cid)
    assert stats.messages["NEW"] == 6


async def test_upload_errors_are_shown_on_the_page(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    csrf = await sign_in(client, tenant.key)
    campaign = await make_campaign(client, tenant.headers)
    cid = campaign["id"]
    empty = await client.post(
        f"/ui/campaigns/{cid}/recipients/import",
        data={"csrf": csrf},
        files={"file": ("empty.csv", b"", "text/csv")},
    )
    assert empty.status_code == 422
    assert "empty" in empty.text
    too_big = await client.post(
        f"/ui/campaigns/{cid}/recipients/import",
        data={"csrf": csrf},
        files={"file": ("big.csv", b"+77010000001\n" * 6000, "text/csv")},
    )
    assert too_big.status_code == 413
    assert "limit" in too_big.text
    no_token = await client.post(
        f"/ui/campaigns/{cid}/recipients/import",
        files={"file": ("list.csv", b"+77010000001\n", "text/csv")},
    )
    assert no_token.status_code == 403
    _rows, total = await imports_of(db, tenant)
    assert total == 0


async def imports_of(db: Database, tenant: Tenant) -> tuple[list[Any], int]:
    from sqlalchemy import select

    from clarion.store.schema import tasks

    async with db.read() as conn:
        rows = list(
            (await conn.execute(select(tasks).where(tasks.c.account_id == tenant.id))).all()
        )
    return rows, len(rows)


async def test_add_and_clear_numbers_on_the_recipients_page(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    csrf = await sign_in(client, tenant.key)
    campaign = await make_campaign(client, tenant.headers)
    cid = campaign["id"]
    numbers = phones(3)
    r = await client.post(
        f"/ui/campaigns/{cid}/recipients/add",
        data={"csrf": csrf, "phones": "\n".join([*numbers, "hello"])},
    )
    assert r.status_code == 200
    assert "3 added; these were not:" in text_of(r.text)
    assert "hello" in r.text
    stats = await campaign_service.stats(db, account_id=tenant.id, campaign_id=cid)
    assert stats.messages["NEW"] == 3
    r = await client.post(f"/ui/campaigns/{cid}/recipients/clear", data={"csrf": csrf})
    assert r.status_code == 303
    stats = await campaign_service.stats(db, account_id=tenant.id, campaign_id=cid)
    assert stats.total_messages == 0


# --- messages ----------------------------------------------------------------------------


async def test_messages_search_by_phone_and_status(
    client: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    dispatcher: Dispatcher,
    fake: FakeChannel,
) -> None:
    await sign_in(client, tenant.key)
    empty = await client.get("/ui/messages")
    assert "No messages yet" in empty.text
    campaign = await make_campaign(client, tenant.headers, name="Search me")
    numbers = phones(4)
    await add_phones(client, tenant.headers, campaign["id"], numbers)
    fake.outcomes = {numbers[3]: Outcome.PERMANENT}
    await campaign_service.start(db, account_id=tenant.id, campaign_id=campaign["id"])
    await drain(dispatcher)
    everything = await client.get("/ui/messages")
    assert all(n in everything.text for n in numbers)
    assert "Search me" in everything.text
    by_phone = await client.get("/ui/messages", params={"phone": "+7 701 000-0002"})
    assert numbers[2] in by_phone.text
    assert numbers[1] not in by_phone.text
    rejected = await client.get("/ui/messages", params={"status": "rejected"})
    assert numbers[3] in rejected.text
    assert numbers[0] not in rejected.text
    in_campaign = await client.get(
        "/ui/messages", params={"campaign": campaign["id"], "status": "DELIVERED"}
    )
    assert sum(n in in_campaign.text for n in numbers) == 3
    nothing = await client.get("/ui/messages", params={"phone": "99999"})
    assert "No messages match" in nothing.text
    bad = await client.get("/ui/messages", params={"phone": "abc"})
    assert bad.status_code == 422
    assert "digits" in bad.text


# --- account -----------------------------------------------------------------------------


async def test_account_page_keys_stop_list_and_ledger(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    csrf = await sign_in(client, tenant.key)
    await accounts.topup(db, account_id=tenant.id, amount=Decimal("25.50"))
    page = await client.get("/ui/account")
    assert page.status_code == 200
    assert "125.50 USD" in page.text
    assert "25.50 USD" in text_of(page.text)
    assert "this session" in page.text

    created = await client.post("/ui/account/keys", data={"csrf": csrf, "label": "crm"})
    assert created.status_code == 200
    new_key = re.search(r'id="new-key" readonly value="([a-z0-9]{40})"', created.text)
    assert new_key
    key = new_key.group(1)
    assert (await client.get("/v1/account", headers={"Authorization": f"Bearer {key}"})).json()[
        "id"
    ] == tenant.id
    duplicate = await client.post("/ui/account/keys", data={"csrf": csrf, "label": "crm"})
    assert duplicate.status_code == 422
    assert "already labelled" in duplicate.text
    listed = await keys_listed(db, tenant)
    crm = next(k for k in listed if k.label == "crm")
    mine = next(k for k in listed if k.label == "default")
    r = await client.post(f"/ui/account/keys/{crm.id}/revoke", data={"csrf": csrf})
    assert r.status_code == 200
    assert "revoked" in r.text
    assert (
        await client.get("/v1/account", headers={"Authorization": f"Bearer {key}"})
    ).status_code == 401
    own = await client.post(f"/ui/account/keys/{mine.id}/revoke", data={"csrf": csrf})
    assert own.status_code == 409
    assert (await client.get("/ui/account")).status_code == 200  # still signed in

    added = await client.post(
        "/ui/account/stop-list",
        data={
            "csrf": csrf,
            "phones": "+7 701 555 0001\nnonsense\n+77015550002",
            "comment": "asked",
        },
    )
    assert added.status_code == 200
    assert "2 number(s) added" in added.text
    assert "nonsense" in added.text
    assert "+77015550001" in added.text
    search = await client.get("/ui/account", params={"stop_phone": "+7701555000"})
    assert "+77015550002" in search.text
    removed = await client.post(
        "/ui/account/stop-list/remove", data={"csrf": csrf, "phone": "+77015550001"}
    )
    assert removed.status_code == 200
    assert "removed from the stop-list" in removed.text
    gone = await client.post(
        "/ui/account/stop-list/remove", data={"csrf": csrf, "phone": "+77015550001"}
    )
    assert gone.status_code == 404


async def keys_listed(db: Database, tenant: Tenant) -> list[Any]:
    from clarion.web import keys

    return list(await keys.listing(db, account_id=tenant.id))


# --- pure parts: offered actions, chart buckets, money -----------------------------------


def allowed(status: str, reason: str | None = None, **messages: int) -> set[str]:
    from clarion.web import actions

    found = actions.offers(status=status, pause_reason=reason, messages=messages, importing=False)
    return {o.action for o in found if o.allowed}


def test_offers_follow_the_transition_table() -> None:
    from clarion.web import actions

    assert allowed("DRAFT", NEW=3) == {"start"}
    assert allowed("DRAFT") == set()  # nothing to send yet
    assert allowed("RUNNING", NEW=3) == {"pause", "stop"}
    assert allowed("PAUSED", "user", NEW=3) == {"resume", "stop"}
    assert allowed("PAUSED", "funds", NEW=3) == {"resume", "renew", "stop"}
    assert allowed("SCHEDULED", NEW=3) == {"stop"}
    assert allowed("DONE", DELIVERED=3) == set()
    assert allowed("DONE", DELIVERED=2, UNDELIVERED=1) == {"retry"}
    assert allowed("STOPPED", EXPIRED=1) == {"retry"}
    assert allowed("DECLINED", NEW=1) == set()
    importing = actions.offers(
        status="DRAFT", pause_reason=None, messages={"NEW": 1}, importing=True
    )
    start = next(o for o in importing if o.action == "start")
    assert (start.allowed, start.reason) == (False, "Recipients are still being imported")
    renew = next(
        o
        for o in actions.offers(status="RUNNING", pause_reason=None, messages={}, importing=False)
        if o.action == "renew"
    )
    assert renew.visible is False


def test_chart_buckets_and_money_format() -> None:
    from datetime import UTC, datetime, timedelta

    from clarion.web import views

    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert views.bucket_size(start, start) == 1
    assert views.bucket_size(start, start + timedelta(seconds=59)) == 1
    assert views.bucket_size(start, start + timedelta(minutes=10)) == 10
    assert views.bucket_size(start, start + timedelta(days=2)) == 3600
    series = views.timeline(
        [(100, "DELIVERED", 3), (100, "UNDELIVERED", 1), (103, "READ", 2)], bucket_seconds=10
    )
    assert series == [
        {"t": 1000, "delivered": 3, "failed": 1},
        {"t": 1010, "delivered": 0, "failed": 0},
        {"t": 1020, "delivered": 0, "failed": 0},
        {"t": 1030, "delivered": 2, "failed": 0},
    ]
    assert views.money(Decimal("1234.5"), "USD") == "1,234.50 USD"
    assert views.money(Decimal("0.052500")) == "0.0525"
    assert views.money(Decimal("-0.05"), "EUR") == "-0.05 EUR"
