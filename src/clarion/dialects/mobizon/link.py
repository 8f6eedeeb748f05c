"""Mobizon's Link module (``Link/Create``, ``Get``, ``List``, ``GetStats``, ``Update``,
``Delete``, ``GetLinks``) and ``Campaign/GetLinks``, over :mod:`clarion.services.links`.

A link on the wire (``Link/Get``, ``Link/List`` items)::

    {"id": "12", "code": "aB3dE9", "fullLink": "https://...", "shortLink": "...",
     "status": "1", "moderatorStatus": "1", "clickCnt": "0", "redirectCnt": "0",
     "comment": null, "moderatorComment": null, "expirationDate": "2026-12-31",
     "createTs": "2026-11-26 15:00:00", "updateTs": "2026-11-26 15:00:00"}

Stored values are strings, times ``YYYY-MM-DD HH:MM:SS`` and dates ``YYYY-MM-DD`` in
the account's time zone; an empty comment is ``null``. ``shortLink`` is
``{CLARION_PUBLIC_BASE_URL}/{code}``.

Choices where Mobizon's documentation is silent:

* ``data[expirationDate]`` (``YYYY-MM-DD``): the link opens until the end of that day
  in the account's time zone; a day already over is code 1. In ``Link/Update`` an
  absent key keeps the date and an empty value removes it (never expires).
  ``Link/Update`` also accepts ``data[fullLink]`` (Mobizon's SDKs send it).
* Clarion has no link moderation: ``moderatorStatus`` is always ``"1"``
  (approved), so ``criteria[moderatorStatus]=0`` finds nothing.
* ``Link/List``: ``criteria[createTsFrom]`` / ``[createTsTo]`` take a date
  (00:00:00 / 23:59:59) or a date and time; ``criteria[query]`` searches the code,
  comment and full link, and finds a link by one of its recipient tracking codes;
  ``criteria[code]`` / ``[fullLink]`` / ``[comment]`` (sent by some SDKs) search
  like ``query``. ``pagination[pageSize]`` defaults to 25 (at most 100). Sorts:
  ``createTs``, ``expirationDate``, ``clickCnt``, ``redirectCnt``, ``code``,
  ``fullLink``, ``id``; by default newest first. ``totalItemCount`` is a number.
* ``Link/GetStats``: ``type`` is ``monthly`` / ``daily`` / ``hourly`` / ``minute``
  (default ``daily``); ``param`` labels are ``2026-03``, ``2026-03-27``,
  ``2026-03-27 13:00`` and ``2026-03-27 13:05`` in the account's time zone. The grid
  holds every period of the range, zeros included; ``clicksN`` / ``redirectsN`` and
  ``totalClicksN`` / ``totalRedirectsN`` are numbers, ``N`` the position of the id
  in ``ids``. More than 5 ids, or a repeated one, is code 12.
* ``Link/Delete`` answers code 0 when every id was deleted, 98 when some were, 99
  when none was; ids in ``processed`` / ``notProcessed`` are strings.
* ``Campaign/GetLinks`` (and ``Link/GetLinks``): the account's links whose short
  links appear in the campaign's text; counters are the links' own (all campaigns).
  Only an SMS campaign is found (a voice or RCS one is code 2, as a missing id).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from clarion.dialects.mobizon import campaign, criteria, form, values
from clarion.dialects.mobizon.wire import (
    NOTHING_DONE,
    PARAMETER_LIMIT,
    PARTIAL,
    Context,
    MobizonError,
    Reply,
    register,
)
from clarion.services import links as service
from clarion.services.errors import InvalidInput

# Service field -> Mobizon field, for code-1 answers.
FIELDS = {
    "full_link": "fullLink",
    "comment": "comment",
    "status": "status",
    "expires_at": "expirationDate",
    "body": "data",
}
SORTS = {
    "createTs": "created_at",
    "expirationDate": "expires_at",
    "clickCnt": "click_count",
    "redirectCnt": "redirect_count",
    "code": "code",
    "fullLink": "full_link",
    "id": "id",
}
STATS_TYPES = {
    "monthly": service.Period.MONTH,
    "daily": service.Period.DAY,
    "hourly": service.Period.HOUR,
    "minute": service.Period.MINUTE,
}

_LAST_SECOND = timedelta(microseconds=999_999)  # a wire time to the second ends after it


def _invalid(exc: InvalidInput) -> values.FieldErrors:
    name = FIELDS.get(exc.field or "", exc.field or "data")
    return values.FieldErrors({name: exc.message})


def render(row: Any, ctx: Context) -> dict[str, Any]:
    """A campaign link as Mobizon's ``Link/Get`` returns it."""
    expires = row.expires_at
    return {
        "id": str(row.id),
        "code": row.code,
        "fullLink": row.full_link,
        "shortLink": service.short_link(ctx.settings.public_base_url, row.code),
        "status": str(row.status),
        "moderatorStatus": "1",
        "clickCnt": str(row.click_cnt),
        "redirectCnt": str(row.redirect_cnt),
        "comment": row.comment or None,
        "moderatorComment": None,
        "expirationDate": (
            None if expires is None else service.expiration_day(expires, ctx.tz).isoformat()
        ),
        "createTs": values.timestamp(row.created_at, ctx.tz),
        "updateTs": values.timestamp(row.updated_at, ctx.tz),
    }


def _day(fields: values.Fields, name: str) -> date | None:
    text = fields.string(name)
    if not text or not text.strip():
        return None
    try:
        return datetime.strptime(text.strip(), values.DATE).date()
    except ValueError:
        fields.fail(name, f"{name} must be a date as YYYY-MM-DD")
        return None


def _ids(value: Any, name: str) -> list[int]:
    ids: list[int] = []
    for item in form.items(value):
        number = values.integer(item)
        if number is None or number < 1:
            raise MobizonError(PARAMETER_LIMIT, f"{name} must hold positive integer ids")
        ids.append(number)
    return ids


def _moment(criteria_: Mapping[str, Any], name: str, tz: tzinfo, *, end: bool) -> datetime | None:
    """A date (start or end of the day) or a date and time, in the account's zone; an
    end includes its whole last second."""
    raw = criteria_.get(name)
    if raw in (None, ""):
        return None
    text = str(raw).strip()
    try:
        moment = values.parse_timestamp(text, tz)
    except ValueError:
        try:
            day = datetime.strptime(text, values.DATE)
        except ValueError:
            raise MobizonError(
                PARAMETER_LIMIT, f"criteria[{name}] must be YYYY-MM-DD or YYYY-MM-DD HH:MM:SS"
            ) from None
        at = time(23, 59, 59) if end else time(0, 0, 0)
        moment = datetime.combine(day.date(), at).replace(tzinfo=tz).astimezone(UTC)
    return moment + _LAST_SECOND if end else moment


@register("link", "create")
async def create(ctx: Context) -> Any:
    data = values.Fields(ctx.params.get("data"))
    full_link = data.string("fullLink", max_length=4 * service.MAX_FULL_LINK)
    if not full_link:
        data.fail("fullLink", "fullLink is required")
    status = data.integer("status", choices=(0, 1))
    comment = data.string("comment", max_length=service.MAX_COMMENT)
    day = _day(data, "expirationDate")
    data.check()
    assert full_link is not None
    try:
        row = await service.create(
            ctx.db,
            account_id=ctx.account_id,
            full_link=full_link,
            comment=comment or "",
            status=service.ACTIVE if status is None else status,
            expires_at=None if day is None else service.end_of_day(day, ctx.tz),
        )
    except InvalidInput as exc:
        raise _invalid(exc) from None
    return {
        "id": str(row.id),
        "code": row.code,
        "shortLink": service.short_link(ctx.settings.public_base_url, row.code),
    }


@register("link", "get")
async def get(ctx: Context) -> Any:
    params = ctx.params
    link_id = values.integer(params.get("id"))
    if link_id is not None:
        row = await service.get(ctx.db, account_id=ctx.account_id, link_id=link_id)
    else:
        code = next((str(params[n]).strip() for n in ("code", "shortLink") if params.get(n)), "")
        if not code:
            raise MobizonError(PARAMETER_LIMIT, "give the link's id, code or shortLink")
        row = await service.get_by_code(ctx.db, account_id=ctx.account_id, code=code)
    return render(row, ctx)


@register("link", "list")
async def list_(ctx: Context) -> Any:
    search = criteria.mapping(ctx.params.get("criteria"))
    fields = values.Fields(search)
    status = fields.integer("status", choices=(0, 1))
    moderator = fields.integer("moderatorStatus", choices=(0, 1))
    fields.check()
    start = _moment(search, "createTsFrom", ctx.tz, end=False)
    end = _moment(search, "createTsTo", ctx.tz, end=True)
    query = next(
        (
            str(search[n]).strip()
            for n in ("query", "code", "fullLink", "comment")
            if isinstance(search.get(n), str | int) and str(search[n]).strip()
        ),
        None,
    )
    page = criteria.page(ctx.params)
    sort, descending = criteria.sort(ctx.params, SORTS, "created_at")
    if moderator == 0:
        return {"items": [], "totalItemCount": 0}
    rows, total = await service.search(
        ctx.db,
        account_id=ctx.account_id,
        status=status,
        query=query,
        created_from=start,
        created_to=end,
        sort=sort,
        descending=descending,
        limit=page.size,
        offset=page.offset,
    )
    return {"items": [render(r, ctx) for r in rows], "totalItemCount": total}


@register("link", "update")
async def update(ctx: Context) -> Any:
    link_id = values.integer(ctx.params.get("id"))
    if link_id is None or link_id < 1:
        raise values.FieldErrors({"id": "id must be a link id"})
    source = criteria.mapping(ctx.params.get("data"))
    data = values.Fields(source)
    changes = service.LinkChanges()
    if "fullLink" in source:
        full_link = data.string("fullLink", max_length=4 * service.MAX_FULL_LINK)
        if full_link is not None:
            changes.full_link = full_link
    if "comment" in source:
        comment = data.string("comment", max_length=service.MAX_COMMENT)
        if comment is not None:
            changes.comment = comment
    if data.present("status"):
        status = data.integer("status", choices=(0, 1))
        if status is not None:
            changes.status = status
    if "expirationDate" in source:
        day = _day(data, "expirationDate")
        changes.expires_at = None if day is None else service.end_of_day(day, ctx.tz)
    data.check()
    try:
        row = await service.update(
            ctx.db, account_id=ctx.account_id, link_id=link_id, changes=changes
        )
    except InvalidInput as exc:
        raise _invalid(exc) from None
    return service.short_link(ctx.settings.public_base_url, row.code)


@register("link", "delete")
async def delete(ctx: Context) -> Any:
    ids = _ids(ctx.params.get("ids"), "ids")
    if not ids:
        raise MobizonError(PARAMETER_LIMIT, "give the ids of the links to delete")
    deleted, kept = await service.delete(ctx.db, account_id=ctx.account_id, ids=ids)
    data = {"processed": [str(i) for i in deleted], "notProcessed": [str(i) for i in kept]}
    if not kept:
        return data
    if deleted:
        return Reply(PARTIAL, data, f"{len(kept)} of {len(ids)} links were not found")
    return Reply(NOTHING_DONE, data, "none of the links was found")


@register("link", "getstats")
async def get_stats(ctx: Context) -> Any:
    ids = _ids(ctx.params.get("ids"), "ids")
    if not ids:
        raise MobizonError(PARAMETER_LIMIT, "give the ids of up to 5 links")
    if len(ids) > service.MAX_STATS_LINKS or len(set(ids)) != len(ids):
        raise MobizonError(PARAMETER_LIMIT, "give at most 5 different link ids")
    kind = ctx.params.get("type")
    kind = "daily" if kind in (None, "") else str(kind).strip().lower()
    if kind not in STATS_TYPES:
        raise MobizonError(PARAMETER_LIMIT, "type must be monthly, daily, hourly or minute")
    search = values.Fields(criteria.mapping(ctx.params.get("criteria")))
    start = search.timestamp("dateFrom", ctx.tz)
    end = search.timestamp("dateTo", ctx.tz)
    search.check()
    if end is not None:
        end += _LAST_SECOND
    result = await service.stats(
        ctx.db,
        account_id=ctx.account_id,
        link_ids=ids,
        period=STATS_TYPES[kind],
        start=start,
        end=end,
    )
    items: list[dict[str, Any]] = []
    for row in result.rows:
        item: dict[str, Any] = {"param": row.label}
        for n in range(len(ids)):
            item[f"clicks{n}"] = row.clicks[n]
            item[f"redirects{n}"] = row.redirects[n]
        items.append(item)
    totals: dict[str, int] = {}
    for n, (clicks, redirects) in enumerate(
        zip(result.total_clicks, result.total_redirects, strict=True)
    ):
        totals[f"totalClicks{n}"] = clicks
        totals[f"totalRedirects{n}"] = redirects
    return {"items": items, "totals": totals}


async def _campaign_links(ctx: Context) -> Any:
    campaign_id = values.integer(ctx.params.get("campaignId", ctx.params.get("id")))
    if campaign_id is None or campaign_id < 1:
        raise values.FieldErrors({"campaignId": "campaignId must be a campaign id"})
    await campaign.check_sms(ctx, campaign_id)  # another channel's campaign: not found
    rows = await service.campaign_links(
        ctx.db,
        account_id=ctx.account_id,
        campaign_id=campaign_id,
        base_url=ctx.settings.public_base_url,
    )
    return [
        {
            "id": str(r.id),
            "code": r.code,
            "fullLink": r.full_link,
            "shortLink": service.short_link(ctx.settings.public_base_url, r.code),
            "clickCnt": str(r.click_cnt),
            "redirectCnt": str(r.redirect_cnt),
            "comment": r.comment or None,
        }
        for r in rows
    ]


register("campaign", "getlinks")(_campaign_links)
register("link", "getlinks")(_campaign_links)
