"""Short links: the ``/v1/links`` routes (account-scoped) and the public redirect
``GET|HEAD /{code}`` on Clarion's own host. See ``docs/links.md``.

The redirect route only matches a path of 6-8 letters and digits holding a digit (a
Starlette path convertor), and :func:`redirect_router` is included last, so it never
shadows ``/``, ``/docs``, ``/healthz``, ``/openapi.json``, ``/v1/...`` or a
dialect's ``/service/...``; any other path keeps its ordinary 404.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import AwareDatetime, BaseModel, Field
from starlette.convertors import Convertor, register_url_convertor

from clarion.api import problems
from clarion.api.deps import DB, Account, Config
from clarion.api.models import Strict, reject_nul
from clarion.services import links as service
from clarion.services.errors import InvalidInput, NotFound

router = APIRouter(
    prefix="/v1",
    tags=["links"],
    responses=problems.RESPONSES,
    dependencies=[Depends(reject_nul)],
)

LinkId = Annotated[int, Path(ge=1, le=2**63 - 1, description="Link id")]
NO_STORE = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex"}
NOT_FOUND_PAGE = """<!doctype html><html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>Link not found</title></head>
<body style="font-family:sans-serif;max-width:30em;margin:3em auto;padding:0 1em">
<h1>Link not found</h1><p>This short link does not exist, has been switched off or has
expired.</p></body></html>"""


FullLink = Annotated[str, Field(min_length=1, max_length=4 * service.MAX_FULL_LINK)]
Comment = Annotated[str, Field(max_length=service.MAX_COMMENT)]


class LinkCreate(Strict):
    full_link: FullLink = Field(description="http(s) URL to redirect to (at most 2,000 chars)")
    comment: Comment = ""
    status: Literal[0, 1] = Field(1, description="1 active, 0 inactive")
    expires_at: AwareDatetime | None = Field(None, description="Stops opening at this instant")


class LinkPatch(Strict):
    full_link: FullLink | None = None
    comment: Comment | None = None
    status: Literal[0, 1] | None = None
    expires_at: AwareDatetime | None = Field(None, description="null: never expires")


class LinkOut(BaseModel):
    id: int
    code: str
    short_link: str
    full_link: str
    comment: str
    status: int
    expires_at: datetime | None
    click_count: int
    redirect_count: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Any, base_url: str) -> LinkOut:
        return cls(
            id=row.id,
            code=row.code,
            short_link=service.short_link(base_url, row.code),
            full_link=row.full_link,
            comment=row.comment,
            status=row.status,
            expires_at=row.expires_at,
            click_count=row.click_cnt,
            redirect_count=row.redirect_cnt,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class LinkPage(BaseModel):
    items: list[LinkOut]
    total: int
    limit: int
    offset: int


class PersonalLinkOut(BaseModel):
    id: int
    code: str
    short_link: str
    campaign_id: int | None
    message_id: int | None
    phone: str | None
    click_count: int
    redirect_count: int
    created_at: datetime


class PersonalLinkPage(BaseModel):
    items: list[PersonalLinkOut]
    total: int
    limit: int
    offset: int


class StatsItem(BaseModel):
    period: str = Field(description="Label in the account's time zone, e.g. 2026-03-27")
    start: datetime = Field(description="Start of the period (account's time zone)")
    clicks: int
    redirects: int


class LinkStatsOut(BaseModel):
    link_id: int
    period: str
    start: datetime
    end: datetime
    clicks: int
    redirects: int
    items: list[StatsItem]


def _sort(sort: str) -> tuple[str, bool]:
    descending = sort.startswith("-")
    field = sort.lstrip("-")
    if field not in service.SORTABLE:
        raise InvalidInput(
            f"sort must be one of {', '.join(service.SORTABLE)} (prefix - for descending)",
            field="sort",
        )
    return field, descending


@router.post("/links", status_code=201, response_model=LinkOut)
async def create_link(body: LinkCreate, account: Account, db: DB, settings: Config) -> Any:
    """Shorten a URL: a new code, its short link `{public_base_url}/{code}`."""
    row = await service.create(
        db,
        account_id=account.id,
        full_link=body.full_link,
        comment=body.comment,
        status=body.status,
        expires_at=body.expires_at,
    )
    return LinkOut.of(row, settings.public_base_url)


@router.get("/links", response_model=LinkPage)
async def list_links(
    account: Account,
    db: DB,
    settings: Config,
    status: Annotated[int | None, Query(ge=0, le=1, description="1 active, 0 inactive")] = None,
    query: Annotated[
        str | None,
        Query(max_length=200, description="In code, comment or full link; or a personal code"),
    ] = None,
    created_from: AwareDatetime | None = None,
    created_to: AwareDatetime | None = None,
    sort: str = "-id",
    limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Any:
    """The account's links (personal links of campaigns are not listed here)."""
    field, descending = _sort(sort)
    rows, total = await service.search(
        db,
        account_id=account.id,
        status=status,
        query=query,
        created_from=created_from,
        created_to=created_to,
        sort=field,
        descending=descending,
        limit=limit,
        offset=offset,
    )
    base = settings.public_base_url
    return LinkPage(
        items=[LinkOut.of(r, base) for r in rows], total=total, limit=limit, offset=offset
    )


@router.get("/links/{link_id}", response_model=LinkOut)
async def get_link(link_id: LinkId, account: Account, db: DB, settings: Config) -> Any:
    row = await service.get(db, account_id=account.id, link_id=link_id)
    return LinkOut.of(row, settings.public_base_url)


@router.patch("/links/{link_id}", response_model=LinkOut)
async def patch_link(
    link_id: LinkId, body: LinkPatch, account: Account, db: DB, settings: Config
) -> Any:
    """Change `full_link`, `comment`, `status` or `expires_at` (null: never expires).
    A new full link applies to the link's personal links too."""
    given = body.model_dump(exclude_unset=True)
    nulls = [k for k in ("full_link", "comment", "status") if k in given and given[k] is None]
    if nulls:
        raise InvalidInput(f"{nulls[0]} cannot be null", field=nulls[0])
    changes = service.LinkChanges(**given)
    row = await service.update(db, account_id=account.id, link_id=link_id, changes=changes)
    return LinkOut.of(row, settings.public_base_url)


@router.delete("/links/{link_id}", status_code=204)
async def delete_link(link_id: LinkId, account: Account, db: DB) -> Response:
    """Delete a link, its personal links and their statistics; it stops opening."""
    deleted, _ = await service.delete(db, account_id=account.id, ids=[link_id])
    if not deleted:
        raise NotFound(f"link {link_id} not found")
    return Response(status_code=204)


@router.get("/links/{link_id}/stats", response_model=LinkStatsOut)
async def link_stats(
    link_id: LinkId,
    account: Account,
    db: DB,
    period: Literal["minute", "hour", "day", "month"] = "day",
    start: AwareDatetime | None = None,
    end: AwareDatetime | None = None,
) -> Any:
    """Clicks and redirects per period of the account's time zone, within
    [start, end] (at most 3 hours / 7 days / 90 days / 3 years per period)."""
    result = await service.stats(
        db, account_id=account.id, link_ids=[link_id], period=period, start=start, end=end
    )
    return LinkStatsOut(
        link_id=link_id,
        period=result.period.value,
        start=result.start,
        end=result.end,
        clicks=result.total_clicks[0],
        redirects=result.total_redirects[0],
        items=[
            StatsItem(period=r.label, start=r.start, clicks=r.clicks[0], redirects=r.redirects[0])
            for r in result.rows
        ],
    )


@router.get("/links/{link_id}/recipients", response_model=PersonalLinkPage)
async def link_recipients(
    link_id: LinkId,
    account: Account,
    db: DB,
    settings: Config,
    limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Any:
    """The personal links made from this link for campaigns that track recipients:
    one per message, with its phone and its own counters."""
    rows, total = await service.personal_links(
        db, account_id=account.id, link_id=link_id, limit=limit, offset=offset
    )
    base = settings.public_base_url
    return PersonalLinkPage(
        items=[
            PersonalLinkOut(
                id=r.id,
                code=r.code,
                short_link=service.short_link(base, r.code),
                campaign_id=r.campaign_id,
                message_id=r.message_id,
                phone=r.phone,
                click_count=r.click_cnt,
                redirect_count=r.redirect_cnt,
                created_at=r.created_at,
            )
            for r in rows
        ],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/campaigns/{campaign_id}/links", response_model=list[LinkOut])
async def campaign_links(
    campaign_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    account: Account,
    db: DB,
    settings: Config,
) -> Any:
    """The account's short links that appear in the campaign's text."""
    rows = await service.campaign_links(
        db, account_id=account.id, campaign_id=campaign_id, base_url=settings.public_base_url
    )
    return [LinkOut.of(r, settings.public_base_url) for r in rows]


# -- the public redirect -------------------------------------------------------------


class ShortCode(Convertor[str]):
    """A path segment that can be a short link code: 6-8 letters and digits with at
    least one digit, so no word-like route (``/healthz``, ``/status``) ever matches,
    whatever order routes are included in."""

    regex = service.CODE_REGEX

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


def redirect_router() -> APIRouter:
    """``GET|HEAD /{code}``: 302 to the full link, or a 404 page. Include it last."""
    register_url_convertor("shortcode", ShortCode())
    public = APIRouter(include_in_schema=False)

    @public.api_route("/{code:shortcode}", methods=["GET", "HEAD"])
    async def follow(code: str, request: Request, db: DB) -> Response:
        target = await service.visit(
            db, code, method=request.method, user_agent=request.headers.get("user-agent", "")
        )
        if target is None:
            return HTMLResponse(NOT_FOUND_PAGE, status_code=404, headers=NO_STORE)
        headers = {"Location": target, "Referrer-Policy": "no-referrer", **NO_STORE}
        return Response(status_code=302, headers=headers)

    return public
