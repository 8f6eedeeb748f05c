"""Short links: /v1/links CRUD and isolation, the public redirect and what it counts,
statistics, and personal links of campaigns that track recipients."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select, update
from tests.conftest import Tenant
from tests.helpers import drain, phones

from clarion.channels.fake import FakeChannel
from clarion.config import Settings
from clarion.dispatch.engine import Dispatcher
from clarion.domain import encoding
from clarion.services import accounts, campaigns
from clarion.services import links as service
from clarion.services.errors import InvalidInput
from clarion.store import links as store
from clarion.store.db import Database
from clarion.store.schema import accounts as accounts_table
from clarion.store.schema import link_visits, messages

PROBLEM = "application/problem+json"
BROWSER = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Mobile Safari/537.36"
)
ROBOTS = [
    "TelegramBot (like TwitterBot)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "WhatsApp/2.23.20.0",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5",
    "curl/8.5.0",
    "",
]


async def other_tenant(db: Database) -> Tenant:
    new = await accounts.create(db, name="globex", balance=Decimal("10"), currency="USD")
    return Tenant(new.account_id, new.api_key)


def problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = r.json()
    assert body["detail"]
    return body


async def create_link(client: httpx.AsyncClient, tenant: Tenant, **body: Any) -> dict[str, Any]:
    payload = {"full_link": "https://example.com/spring?utm_source=sms"} | body
    r = await client.post("/v1/links", json=payload, headers=tenant.headers)
    assert r.status_code == 201, r.text
    result: dict[str, Any] = r.json()
    return result


async def read_link(client: httpx.AsyncClient, tenant: Tenant, link_id: int) -> dict[str, Any]:
    r = await client.get(f"/v1/links/{link_id}", headers=tenant.headers)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


async def follow(
    client: httpx.AsyncClient, code: str, *, method: str = "GET", user_agent: str = BROWSER
) -> httpx.Response:
    return await client.request(method, f"/{code}", headers={"User-Agent": user_agent})


# -- CRUD ----------------------------------------------------------------------------


async def test_create_get_list_update_delete(
    client: httpx.AsyncClient, tenant: Tenant, settings: Settings
) -> None:
    link = await create_link(client, tenant, comment="Black Friday")
    assert re.fullmatch(r"[A-Za-z0-9]{6}", link["code"])
    assert any(c.isdigit() for c in link["code"])
    assert link["short_link"] == f"{settings.public_base_url}/{link['code']}"
    assert link["full_link"] == "https://example.com/spring?utm_source=sms"
    assert (link["status"], link["comment"], link["expires_at"]) == (1, "Black Friday", None)
    assert (link["click_count"], link["redirect_count"]) == (0, 0)
    assert await read_link(client, tenant, link["id"]) == link

    second = await create_link(client, tenant, full_link="www.mobizon.com", status=0)
    assert second["full_link"] == "http://www.mobizon.com"
    assert second["code"] != link["code"]

    r = await client.get("/v1/links", headers=tenant.headers)
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["total"] == 2
    assert [i["id"] for i in page["items"]] == [second["id"], link["id"]]
    r = await client.get("/v1/links", params={"status": 1}, headers=tenant.headers)
    assert [i["id"] for i in r.json()["items"]] == [link["id"]]
    r = await client.get("/v1/links", params={"query": "friday"}, headers=tenant.headers)
    assert [i["id"] for i in r.json()["items"]] == [link["id"]]
    r = await client.get("/v1/links", params={"query": "mobizon"}, headers=tenant.headers)
    assert [i["id"] for i in r.json()["items"]] == [second["id"]]
    r = await client.get(
        "/v1/links", params={"sort": "id", "limit": 1, "offset": 1}, headers=tenant.headers
    )
    assert (r.json()["total"], [i["id"] for i in r.json()["items"]]) == (2, [second["id"]])
    problem(await client.get("/v1/links", params={"sort": "bogus"}, headers=tenant.headers), 422)

    expires = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    r = await client.patch(
        f"/v1/links/{link['id']}",
        json={"comment": "Cyber Monday", "expires_at": expires.isoformat(), "status": 0},
        headers=tenant.headers,
    )
    assert r.status_code == 200, r.text
    changed = r.json()
    assert (changed["comment"], changed["status"]) == ("Cyber Monday", 0)
    assert datetime.fromisoformat(changed["expires_at"]) == expires
    assert changed["code"] == link["code"]
    r = await client.patch(
        f"/v1/links/{link['id']}",
        json={"expires_at": None, "full_link": "https://example.org/b"},
        headers=tenant.headers,
    )
    assert (r.json()["expires_at"], r.json()["full_link"]) == (None, "https://example.org/b")
    body = problem(
        await client.patch(
            f"/v1/links/{link['id']}", json={"comment": None}, headers=tenant.headers
        ),
        422,
    )
    assert body["field"] == "comment"
    problem(await client.patch(f"/v1/links/{link['id']}", json={}, headers=tenant.headers), 422)

    r = await client.delete(f"/v1/links/{link['id']}", headers=tenant.headers)
    assert r.status_code == 204
    problem(await client.get(f"/v1/links/{link['id']}", headers=tenant.headers), 404)
    problem(await client.delete(f"/v1/links/{link['id']}", headers=tenant.headers), 404)
    assert (await follow(client, link["code"])).status_code == 404


@pytest.mark.parametrize(
    ("full_link", "message"),
    [
        ("ftp://example.com/file", "http:// or https://"),
        ("javascript:alert(1)", "http:// or https://"),
        ("https://exa mple.com", "spaces"),
        ("https://user:secret@example.com", "user name or password"),
        ("https://localhost..com", "host"),
        ("nohost", "host"),
        ("https://example.com/" + "a" * 2000, "2000"),
    ],
)
async def test_create_rejects_bad_full_links(
    client: httpx.AsyncClient, tenant: Tenant, full_link: str, message: str
) -> None:
    r = await client.post("/v1/links", json={"full_link": full_link}, headers=tenant.headers)
    body = problem(r, 422)
    assert body["field"] == "full_link"
    assert message in body["detail"].replace(",", "")


async def test_create_rejects_past_expiry_and_long_comment(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    r = await client.post(
        "/v1/links",
        json={"full_link": "https://a.example", "expires_at": past},
        headers=tenant.headers,
    )
    assert problem(r, 422)["field"] == "expires_at"
    r = await client.post(
        "/v1/links",
        json={"full_link": "https://a.example", "comment": "x" * 256},
        headers=tenant.headers,
    )
    problem(r, 422)


async def test_full_link_is_stored_as_ascii(db: Database, tenant: Tenant) -> None:
    row = await service.create(db, account_id=tenant.id, full_link="https://пример.рф/путь?q=ё")
    assert row.full_link == "https://xn--e1afmkfd.xn--p1ai/%D0%BF%D1%83%D1%82%D1%8C?q=%D1%91"


async def test_code_collisions_are_drawn_again(
    db: Database, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await service.create(db, account_id=tenant.id, full_link="https://a.example")
    drawn = iter([first.code, first.code, "Zz9Zz9"])
    monkeypatch.setattr(service, "new_code", lambda length: next(drawn))
    second = await service.create(db, account_id=tenant.id, full_link="https://b.example")
    assert second.code == "Zz9Zz9"


async def test_accounts_see_only_their_links(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    mine = await create_link(client, tenant)
    other = await other_tenant(db)
    theirs = await create_link(client, other, full_link="https://globex.example")
    for method, path, body in [
        ("GET", f"/v1/links/{mine['id']}", None),
        ("PATCH", f"/v1/links/{mine['id']}", {"comment": "mine now"}),
        ("DELETE", f"/v1/links/{mine['id']}", None),
        ("GET", f"/v1/links/{mine['id']}/stats", None),
        ("GET", f"/v1/links/{mine['id']}/recipients", None),
    ]:
        r = await client.request(method, path, json=body, headers=other.headers)
        problem(r, 404)
    r = await client.get("/v1/links", headers=other.headers)
    assert [i["id"] for i in r.json()["items"]] == [theirs["id"]]
    r = await client.get("/v1/links", params={"query": mine["code"]}, headers=other.headers)
    assert r.json()["total"] == 0
    assert (await read_link(client, tenant, mine["id"]))["comment"] == ""
    problem(await client.get("/v1/links"), 401)


# -- the redirect --------------------------------------------------------------------


async def test_redirect_counts_a_click(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    link = await create_link(client, tenant)
    r = await follow(client, link["code"])
    assert r.status_code == 302
    assert r.headers["location"] == "https://example.com/spring?utm_source=sms"
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["referrer-policy"] == "no-referrer"
    r = await client.get(f"/{link['code']}?utm_medium=x", headers={"User-Agent": BROWSER})
    assert r.status_code == 302
    after = await read_link(client, tenant, link["id"])
    assert (after["click_count"], after["redirect_count"]) == (2, 0)
    async with db.read() as conn:
        rows = (await conn.execute(select(link_visits.c.kind, link_visits.c.user_agent))).all()
    assert [tuple(r) for r in rows] == [("click", BROWSER), ("click", BROWSER)]


async def test_head_and_robots_count_as_redirects(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    link = await create_link(client, tenant)
    r = await follow(client, link["code"], method="HEAD")
    assert r.status_code == 302
    for agent in ROBOTS:
        r = await follow(client, link["code"], user_agent=agent)
        assert r.status_code == 302, agent
    after = await read_link(client, tenant, link["id"])
    assert (after["click_count"], after["redirect_count"]) == (0, 1 + len(ROBOTS))


async def test_inactive_and_expired_links_do_not_open(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    inactive = await create_link(client, tenant, status=0)
    r = await follow(client, inactive["code"])
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")
    assert "Link not found" in r.text
    expired = await create_link(client, tenant)
    async with db.begin() as conn:
        past = datetime.now(UTC) - timedelta(seconds=1)
        await store.update_link(
            conn,
            account_id=tenant.id,
            link_id=expired["id"],
            values={"expires_at": past, "updated_at": past},
        )
    assert (await follow(client, expired["code"])).status_code == 404
    assert (await follow(client, expired["code"], method="HEAD")).status_code == 404
    for link in (inactive, expired):
        after = await read_link(client, tenant, link["id"])
        assert (after["click_count"], after["redirect_count"]) == (0, 0)
    assert (await follow(client, "Zz9Zz9Q")).status_code == 404


async def test_redirect_route_shadows_nothing(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/docs")).status_code == 200
    assert (await client.get("/openapi.json")).status_code == 200
    assert "Clarion" in (await client.get("/")).text
    for path in ("/abcdefg", "/status", "/abc12", "/abcdefghi1", "/ab-cd-12", "/favicon.ico"):
        r = await client.get(path, headers={"User-Agent": BROWSER})
        problem(r, 404)  # the ordinary 404, not the short-link page
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert not any(re.fullmatch(r"/\{code[^}]*\}", p) for p in paths)


# -- statistics ----------------------------------------------------------------------


async def visit_at(db: Database, link_ids: list[int], kind: str, at: datetime) -> None:
    async with db.begin() as conn:
        await store.record_visit(conn, link_ids=link_ids, kind=kind, user_agent="t", now=at)


async def test_stats_per_day_in_the_account_time_zone(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    async with db.begin() as conn:
        await conn.execute(
            update(accounts_table)
            .where(accounts_table.c.id == tenant.id)
            .values(timezone="Asia/Kathmandu")  # UTC+05:45
        )
    link = await create_link(client, tenant)
    tz = ZoneInfo("Asia/Kathmandu")
    day1 = datetime(2026, 3, 10, tzinfo=tz)
    await visit_at(db, [link["id"]], "click", day1 + timedelta(hours=9))
    await visit_at(db, [link["id"]], "click", day1 + timedelta(hours=23, minutes=50))
    await visit_at(db, [link["id"]], "redirect", day1 + timedelta(hours=23, minutes=59))
    # 00:05 local on the 11th is still the 10th in UTC: it counts on the 11th.
    await visit_at(db, [link["id"]], "click", day1 + timedelta(days=1, minutes=5))
    await visit_at(db, [link["id"]], "click", day1 + timedelta(days=5))  # out of range

    r = await client.get(
        f"/v1/links/{link['id']}/stats",
        params={
            "period": "day",
            "start": day1.isoformat(),
            "end": (day1 + timedelta(days=3) - timedelta(seconds=1)).isoformat(),
        },
        headers=tenant.headers,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert [(i["period"], i["clicks"], i["redirects"]) for i in body["items"]] == [
        ("2026-03-10", 2, 1),
        ("2026-03-11", 1, 0),
        ("2026-03-12", 0, 0),
    ]
    assert (body["clicks"], body["redirects"]) == (3, 1)
    assert datetime.fromisoformat(body["items"][1]["start"]) == datetime(2026, 3, 11, tzinfo=tz)

    r = await client.get(
        f"/v1/links/{link['id']}/stats",
        params={"period": "month", "start": "2026-01-15T00:00:00+05:45"},
        headers=tenant.headers,
    )
    assert r.status_code == 200, r.text
    months = {i["period"]: i["clicks"] for i in r.json()["items"]}
    assert months["2026-01"] == 0
    assert months["2026-03"] == 4
    assert len(months) == 37  # three years from the start, month by month
    problem(
        await client.get(
            f"/v1/links/{link['id']}/stats", params={"period": "week"}, headers=tenant.headers
        ),
        422,
    )


async def test_stats_range_follows_mobizon_limits() -> None:
    now = datetime(2026, 6, 1, tzinfo=UTC)
    day = service.Period.DAY
    assert service.stats_range(day, None, None, now) == (now - timedelta(days=90), now)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert service.stats_range(day, start, None, now) == (start, start + timedelta(days=90))
    assert service.stats_range(day, start, now, now) == (start, start + timedelta(days=90))
    assert service.stats_range(day, None, now, now) == (now - timedelta(days=90), now)
    with pytest.raises(InvalidInput):
        service.stats_range(day, now, start, now)


def test_period_starts_across_a_dst_change() -> None:
    tz = ZoneInfo("Europe/Berlin")  # 2026-03-29 02:00 -> 03:00
    start = datetime(2026, 3, 28, 12, tzinfo=tz)
    end = datetime(2026, 3, 30, 12, tzinfo=tz)
    days = service.period_starts(service.Period.DAY, start, end, tz)
    assert [d.isoformat() for d in days] == [
        "2026-03-28T00:00:00+01:00",
        "2026-03-29T00:00:00+01:00",
        "2026-03-30T00:00:00+02:00",
    ]
    hours = service.period_starts(
        service.Period.HOUR,
        datetime(2026, 3, 29, 1, 30, tzinfo=tz),
        datetime(2026, 3, 29, 3, 30, tzinfo=tz),
        tz,
    )
    assert [h.strftime("%H:%M%z") for h in hours] == ["01:00+0100", "03:00+0200"]


def test_visit_kind() -> None:
    assert service.visit_kind("GET", BROWSER) == "click"
    assert service.visit_kind("HEAD", BROWSER) == "redirect"
    for agent in ROBOTS:
        assert service.visit_kind("GET", agent) == "redirect", agent


# -- personal links ------------------------------------------------------------------


async def tracked_campaign(
    db: Database,
    tenant: Tenant,
    text: str,
    numbers: list[str],
    *,
    track: Any = 1,
    kind: str = "mass",
    variables: list[dict[str, str]] | None = None,
) -> int:
    row = await campaigns.create(
        db,
        account_id=tenant.id,
        spec=campaigns.CampaignSpec(
            name="tracked",
            text=text,
            type=kind,
            sender="Clarion",
            settings={"trackShortLinkRecipients": track},
        ),
        default_channel="fake",
        price_per_segment=Decimal("0.05"),
    )
    entries = [
        campaigns.RecipientInput(p, (variables or [{}] * len(numbers))[n])
        for n, p in enumerate(numbers)
    ]
    results = await campaigns.add_recipients(
        db, account_id=tenant.id, campaign_id=row.id, entries=entries, limit=1000
    )
    assert all(r.message_id is not None for r in results)
    return int(row.id)


async def message_rows(db: Database, campaign_id: int) -> list[Any]:
    async with db.read() as conn:
        result = await conn.execute(
            select(messages.c.id, messages.c.phone, messages.c.text, messages.c.segments)
            .where(messages.c.campaign_id == campaign_id)
            .order_by(messages.c.id)
        )
        return list(result.all())


async def test_personalise_campaign_rewrites_each_message_once(
    db: Database, tenant: Tenant, settings: Settings
) -> None:
    base = settings.public_base_url
    sale = await service.create(db, account_id=tenant.id, full_link="https://shop.example/sale")
    terms = await service.create(db, account_id=tenant.id, full_link="https://shop.example/terms")
    text = f"Sale! {base}/{sale.code} Terms: {base}/{terms.code} Again: {base}/{sale.code}"
    campaign_id = await tracked_campaign(db, tenant, text, phones(5))
    before = await message_rows(db, campaign_id)

    assert (
        await service.personalise_campaign(db, campaign_id=campaign_id, base_url=base, batch_size=2)
        == 5
    )
    after = await message_rows(db, campaign_id)
    seen: set[str] = set()
    for old, new in zip(before, after, strict=True):
        assert old.text is None  # a mass campaign: the campaign's text until rewritten
        codes = service.links_in_text(new.text, base)
        assert len(codes) == 2
        assert sale.code not in codes and terms.code not in codes
        assert all(len(c) == len(sale.code) for c in codes)
        assert new.text.count(f"{base}/{codes[0]}") == 2  # the same personal link twice
        assert len(new.text) == len(text)
        assert encoding.segments(new.text) == new.segments == old.segments
        seen.update(codes)
    assert len(seen) == 10  # unique per message and link

    async with db.read() as conn:
        for parent in (sale, terms):
            rows, total = await store.personal_links(conn, parent_id=parent.id, limit=50, offset=0)
            assert total == 5
            assert {r.message_id for r in rows} == {m.id for m in after}
            assert {r.full_link for r in rows} == {parent.full_link}
            assert {r.campaign_id for r in rows} == {campaign_id}
    # Idempotent: nothing left to do, nothing created twice.
    assert await service.personalise_campaign(db, campaign_id=campaign_id, base_url=base) == 0
    assert await message_rows(db, campaign_id) == after
    async with db.read() as conn:
        assert (await store.personal_links(conn, parent_id=sale.id, limit=1, offset=0))[1] == 5
    # Recipients added later are personalised on the next run.
    await campaigns.add_recipients(
        db,
        account_id=tenant.id,
        campaign_id=campaign_id,
        entries=[campaigns.RecipientInput(p) for p in phones(2, start=100)],
        limit=10,
    )
    assert await service.personalise_campaign(db, campaign_id=campaign_id, base_url=base) == 2


async def test_personalise_template_campaign_and_untracked_campaigns(
    db: Database, tenant: Tenant, settings: Settings
) -> None:
    base = settings.public_base_url
    link = await service.create(db, account_id=tenant.id, full_link="https://shop.example")
    text = f"Hi {{name}}, your offer: {base}/{link.code}"
    names = [{"name": "Ann"}, {"name": "Бахыт"}]
    campaign_id = await tracked_campaign(
        db, tenant, text, phones(2), track="1", kind="template", variables=names
    )
    assert await service.personalise_campaign(db, campaign_id=campaign_id, base_url=base) == 2
    rows = await message_rows(db, campaign_id)
    for row, name in zip(rows, ("Ann", "Бахыт"), strict=True):
        assert row.text.startswith(f"Hi {name}, your offer: {base}/")
        assert link.code not in row.text
        assert encoding.segments(row.text) == row.segments

    for track in (0, "0", False, None):
        untracked = await tracked_campaign(db, tenant, text, phones(1, start=50), track=track)
        assert await service.personalise_campaign(db, campaign_id=untracked, base_url=base) == 0
        assert [r.text for r in await message_rows(db, untracked)] == [None]
    foreign = await service.create(
        db, account_id=(await other_tenant(db)).id, full_link="https://x.example"
    )
    not_mine = await tracked_campaign(db, tenant, f"Look {base}/{foreign.code}", phones(1))
    assert await service.personalise_campaign(db, campaign_id=not_mine, base_url=base) == 0


async def test_personal_link_clicks_count_on_both_links(
    client: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    settings: Settings,
    dispatcher: Dispatcher,
    fake: FakeChannel,
) -> None:
    base = settings.public_base_url
    parent = await create_link(client, tenant, full_link="https://shop.example/sale")
    numbers = phones(3)
    campaign_id = await tracked_campaign(db, tenant, f"Sale: {parent['short_link']}", numbers)
    r = await client.get(f"/v1/campaigns/{campaign_id}/links", headers=tenant.headers)
    assert [i["id"] for i in r.json()] == [parent["id"]]
    assert await service.personalise_campaign(db, campaign_id=campaign_id, base_url=base) == 3

    r = await client.post(f"/v1/campaigns/{campaign_id}/start", headers=tenant.headers)
    assert r.status_code == 200, r.text
    await drain(dispatcher)
    sent = {s.phone: s.text for s in fake.submitted}
    assert set(sent) == set(numbers)
    codes = {phone: service.links_in_text(t, base)[0] for phone, t in sent.items()}
    assert len(set(codes.values())) == 3

    first, second = codes[numbers[0]], codes[numbers[1]]
    r = await follow(client, first)
    assert (r.status_code, r.headers["location"]) == (302, "https://shop.example/sale")
    assert (await follow(client, first)).status_code == 302
    assert (await follow(client, second, user_agent=ROBOTS[0])).status_code == 302
    after = await read_link(client, tenant, parent["id"])
    assert (after["click_count"], after["redirect_count"]) == (2, 1)

    r = await client.get(f"/v1/links/{parent['id']}/recipients", headers=tenant.headers)
    assert r.status_code == 200, r.text
    per_phone = {i["phone"]: (i["click_count"], i["redirect_count"]) for i in r.json()["items"]}
    assert per_phone == {numbers[0]: (2, 0), numbers[1]: (0, 1), numbers[2]: (0, 0)}
    r = await client.get(f"/v1/links/{parent['id']}/stats", headers=tenant.headers)
    assert (r.json()["clicks"], r.json()["redirects"]) == (2, 1)
    # Personal links are not listed; their code finds the campaign link.
    r = await client.get("/v1/links", params={"query": first}, headers=tenant.headers)
    assert [i["id"] for i in r.json()["items"]] == [parent["id"]]
    r = await client.get("/v1/links", headers=tenant.headers)
    assert r.json()["total"] == 1

    # A personal link follows its campaign link: new full link, then switched off.
    await client.patch(
        f"/v1/links/{parent['id']}",
        json={"full_link": "https://shop.example/v2"},
        headers=tenant.headers,
    )
    assert (await follow(client, first)).headers["location"] == "https://shop.example/v2"
    await client.patch(f"/v1/links/{parent['id']}", json={"status": 0}, headers=tenant.headers)
    assert (await follow(client, first)).status_code == 404
    # Deleting the campaign link deletes its personal links.
    assert (
        await client.delete(f"/v1/links/{parent['id']}", headers=tenant.headers)
    ).status_code == 204
    async with db.read() as conn:
        assert (await store.personal_links(conn, parent_id=parent["id"], limit=1, offset=0))[1] == 0
        assert (await conn.execute(select(link_visits))).all() == []


async def test_start_personalises_a_tracking_campaign_before_sending(
    db: Database, tenant: Tenant, settings: Settings, client: httpx.AsyncClient
) -> None:
    from tests.helpers import drain

    from clarion.channels.fake import FakeChannel
    from clarion.dispatch.engine import Dispatcher

    base = settings.public_base_url
    sale = await service.create(db, account_id=tenant.id, full_link="https://shop.example/sale")
    campaign_id = await tracked_campaign(db, tenant, f"Sale: {base}/{sale.code}", phones(3))
    r = await client.post(f"/v1/campaigns/{campaign_id}/start", headers=tenant.headers)
    assert r.status_code == 200, r.text
    d = Dispatcher(db=db, settings=settings)
    fake = FakeChannel(d.report_sink)
    d.channels["fake"] = fake
    await drain(d)
    sent = [s.text for s in fake.submitted]
    assert len(sent) == 3 and len(set(sent)) == 3
    assert all(f"{base}/{sale.code}" not in t for t in sent)
