"""Short links (Mobizon's Link module): create, read, list, edit, delete, statistics,
the public redirect (:func:`visit`) and personal links for campaigns.

Choices where the brief and Mobizon's documentation are silent (see docs/links.md):

* A full link must be an http(s) URL of at most 2,000 characters. As with Mobizon,
  ``www.example.com`` (no scheme) is accepted and stored as ``http://www.example.com``.
  A non-ASCII host is stored IDNA-encoded and non-ASCII path/query characters
  percent-encoded, so the stored link is a valid ``Location`` header as it is.
* Codes are 6 characters from ``[A-Za-z0-9]`` (7, then 8, only if a code space
  ever got crowded), always with at least one digit, so a code can never equal a word
  route such as ``/healthz``. Letters and digits only: no ``-`` / ``_`` for an SMS
  linkifier to cut off, and GSM-7 basic characters, so a code never changes a
  message's encoding.
* A visit is a *click* when a person follows the link: a GET whose user agent is not a
  known robot. HEAD requests, an empty user agent and the user agents in
  :data:`ROBOT_MARKERS` (crawlers, link previewers of messengers and social
  networks, command-line and library HTTP clients) are *redirects*: they are
  redirected and counted, but not as clicks.
* An inactive link (status 0) or one past ``expires_at`` opens nothing and counts
  nothing. A personal link is as open as its campaign link: it follows the campaign
  link's status, expiry and full link, and each of its visits counts on both rows.
* Statistics: per ``minute`` / ``hour`` / ``day`` / ``month`` of the account's time
  zone, over at most 3 hours / 7 days / 90 days / 3 years (Mobizon's limits). Without
  a range, the last maximum interval; with only ``start``, the maximum interval
  from it; with only ``end``, the maximum interval up to it; a longer range is cut to
  the maximum interval from ``start``.
* Personal links (campaign setting ``trackShortLinkRecipients``): see
  :func:`personalise_campaign`.
"""

from __future__ import annotations

import enum
import logging
import re
import secrets
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from clarion.clock import utcnow
from clarion.services.errors import InvalidInput, NotFound
from clarion.store import accounts as account_store
from clarion.store import campaigns as campaign_store
from clarion.store import links as store
from clarion.store.db import Database

log = logging.getLogger(__name__)

MAX_FULL_LINK = 2000
MAX_COMMENT = 255
MAX_PAGE = 500
MAX_STATS_LINKS = 5
CODE_ALPHABET = string.ascii_letters + string.digits
CODE_LENGTHS = (6, 7, 8)
CODE_REGEX = r"(?=[A-Za-z]*[0-9])[A-Za-z0-9]{6,8}"  # 6-8 letters and digits, one a digit
CODE_PATTERN = re.compile(CODE_REGEX)
ATTEMPTS_PER_LENGTH = 8
PERSONAL_ROUNDS = 20
ACTIVE, INACTIVE = 1, 0
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:(?![0-9])")  # a scheme, not host:port
_HOST = re.compile(r"[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?|[0-9a-f:.]*:[0-9a-f:.]*")
CLICK, REDIRECT = "click", "redirect"
USER_AGENT_MAX = 255
SORTABLE = tuple(store.SORTABLE)  # list sort fields
# Campaign settings keys that ask for personal links: Mobizon's field name, and the key
# the Mobizon dialect's Campaign/Create stores.
TRACK_SETTINGS = ("trackShortLinkRecipients", "track_short_link_recipients")

# Lower-case substrings of user agents that are robots or link previewers, not people.
ROBOT_MARKERS = (
    "bot",  # Googlebot, bingbot, Slackbot, TelegramBot, Twitterbot, LinkedInBot, Discordbot…
    "crawl",
    "spider",
    "slurp",
    "preview",  # SkypeUriPreview, Google Web Preview, …
    "facebookexternalhit",
    "facebookcatalog",
    "meta-externalagent",
    "whatsapp",
    "viber",
    "vkshare",
    "embedly",
    "pinterest",
    "snapchat",
    "bitlybot",
    "headlesschrome",
    "curl/",
    "wget/",
    "python-requests",
    "python-urllib",
    "python-httpx",
    "aiohttp",
    "go-http-client",
    "okhttp",
    "java/",
    "apache-httpclient",
    "libwww-perl",
    "node-fetch",
    "axios/",
)


class Period(enum.StrEnum):
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"
    MONTH = "month"


# Longest range of each period (Mobizon's limits) and the bucket size of the query.
MAX_RANGE = {
    Period.MINUTE: timedelta(hours=3),
    Period.HOUR: timedelta(days=7),
    Period.DAY: timedelta(days=90),
    Period.MONTH: timedelta(days=3 * 365 + 1),
}
# Every UTC offset in use is a multiple of 15 minutes, so a 15-minute UTC bucket lies
# within one local hour, day and month: counting per 15 minutes is exact.
_BUCKET_SECONDS = {Period.MINUTE: 60, Period.HOUR: 900, Period.DAY: 900, Period.MONTH: 900}
_LABEL = {
    Period.MINUTE: "%Y-%m-%d %H:%M",
    Period.HOUR: "%Y-%m-%d %H:00",
    Period.DAY: "%Y-%m-%d",
    Period.MONTH: "%Y-%m",
}


class _Unset(enum.Enum):
    UNSET = enum.auto()


UNSET = _Unset.UNSET


@dataclass(slots=True)
class LinkChanges:
    """An edit; a field left UNSET keeps its value (``expires_at=None`` clears it)."""

    full_link: str | _Unset = UNSET
    comment: str | _Unset = UNSET
    status: int | _Unset = UNSET
    expires_at: datetime | _Unset | None = UNSET


@dataclass(frozen=True, slots=True)
class StatsRow:
    """One period: its label in the account's time zone, its local start, and the
    clicks / redirects of each requested link (same order as ``LinkStats.link_ids``)."""

    label: str
    start: datetime
    clicks: list[int]
    redirects: list[int]


@dataclass(frozen=True, slots=True)
class LinkStats:
    period: Period
    start: datetime
    end: datetime
    link_ids: list[int]
    rows: list[StatsRow] = field(default_factory=list)

    @property
    def total_clicks(self) -> list[int]:
        return [sum(r.clicks[i] for r in self.rows) for i in range(len(self.link_ids))]

    @property
    def total_redirects(self) -> list[int]:
        return [sum(r.redirects[i] for r in self.rows) for i in range(len(self.link_ids))]


# -- pure rules ----------------------------------------------------------------------


def short_link(base_url: str, code: str) -> str:
    """The public short link of ``code`` on a server reached at ``base_url``."""
    return f"{base_url.rstrip('/')}/{code}"


def code_of(short: str) -> str:
    """The code of a short link (its last path segment); any host is accepted, since
    one server may be reached under several names."""
    path = urlsplit(short.strip()).path if "://" in short else short.strip()
    return path.rstrip("/").rsplit("/", 1)[-1]


def is_code(value: str) -> bool:
    return CODE_PATTERN.fullmatch(value) is not None


def new_code(length: int) -> str:
    """A random code of ``length`` characters with at least one digit."""
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))
        if any(c.isdigit() for c in code):
            return code


def is_robot(user_agent: str) -> bool:
    ua = user_agent.strip().lower()
    return not ua or any(marker in ua for marker in ROBOT_MARKERS)


def visit_kind(method: str, user_agent: str) -> str:
    """``click`` for a person's GET, ``redirect`` for HEAD and robots."""
    if method.upper() == "HEAD" or is_robot(user_agent):
        return REDIRECT
    return CLICK


def _bad_link(message: str) -> InvalidInput:
    return InvalidInput(message, field="full_link")


def normalise_full_link(value: str) -> str:
    """Validate an http(s) URL and return its stored (ASCII) form."""
    raw = value.strip() if isinstance(value, str) else ""
    if not raw:
        raise _bad_link("full link is empty")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in raw):
        raise _bad_link("full link must not contain spaces or control characters")
    if not _SCHEME.match(raw):
        raw = "http://" + raw  # www.example.com, as Mobizon accepts
    try:
        parts = urlsplit(raw)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        raise _bad_link(f"full link {value[:80]!r} is not a valid URL") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise _bad_link("full link must be an http:// or https:// URL")
    if parts.username is not None or parts.password is not None:
        raise _bad_link("full link must not contain a user name or password")
    try:
        ascii_host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        raise _bad_link(f"full link host {host!r} is not a valid name") from None
    named = "." in ascii_host or ":" in ascii_host or ascii_host == "localhost"
    if not named or not _HOST.fullmatch(ascii_host) or ".." in ascii_host:
        raise _bad_link("full link has no valid host name")
    if ":" in ascii_host:
        ascii_host = f"[{ascii_host}]"  # IPv6
    netloc = ascii_host if port is None else f"{ascii_host}:{port}"
    safe = "/%:@!$&'()*+,;=-._~?#[]"
    link = urlunsplit(
        (
            parts.scheme.lower(),
            netloc,
            quote(parts.path, safe=safe),
            quote(parts.query, safe=safe),
            quote(parts.fragment, safe=safe),
        )
    )
    if len(link) > MAX_FULL_LINK:
        raise InvalidInput(
            f"full link is longer than {MAX_FULL_LINK} characters", field="full_link"
        )
    return link


def _comment(comment: str) -> str:
    if len(comment) > MAX_COMMENT:
        raise InvalidInput(f"comment is longer than {MAX_COMMENT} characters", field="comment")
    return comment


def _status(status: int) -> int:
    if status not in (ACTIVE, INACTIVE):
        raise InvalidInput("status must be 0 (inactive) or 1 (active)", field="status")
    return status


def _expires(expires_at: datetime | None, now: datetime) -> datetime | None:
    if expires_at is None:
        return None
    if expires_at.tzinfo is None:
        raise InvalidInput("expires_at needs a time zone", field="expires_at")
    if expires_at <= now:
        raise InvalidInput("expires_at must be in the future", field="expires_at")
    return expires_at


def is_open(row: Any, now: datetime) -> bool:
    """Whether a link row from ``store.links.for_visit`` opens now."""
    if row.status != ACTIVE or (row.parent_id is not None and row.parent_status != ACTIVE):
        return False
    return not any(e is not None and e <= now for e in (row.expires_at, row.parent_expires_at))


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def end_of_day(day: date, tz: tzinfo) -> datetime:
    """The first instant after ``day`` in ``tz`` (Mobizon: a link "is valid until the
    end of the specified day in the user's time zone"), in UTC."""
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=tz).astimezone(UTC)


def expiration_day(expires_at: datetime, tz: tzinfo) -> date:
    """The last local day on which a link expiring at ``expires_at`` still opens."""
    return (expires_at.astimezone(tz) - timedelta(microseconds=1)).date()


def stats_range(
    period: Period, start: datetime | None, end: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    """The range statistics cover, by Mobizon's rules (see the module docstring)."""
    longest = MAX_RANGE[period]
    if start is None and end is None:
        return now - longest, now
    if start is None:
        assert end is not None
        return end - longest, end
    if end is None or end - start > longest:
        return start, start + longest
    if end < start:
        raise InvalidInput("the end of the range is before its start", field="end")
    return start, end


def period_starts(period: Period, start: datetime, end: datetime, tz: ZoneInfo) -> list[datetime]:
    """Local starts of the periods from the one holding ``start`` to the one holding
    ``end``, one per label."""
    local, last = start.astimezone(tz), end.astimezone(tz)
    starts: list[datetime] = []
    if period in (Period.DAY, Period.MONTH):
        day = local.date().replace(day=1) if period is Period.MONTH else local.date()
        while day <= last.date():
            starts.append(datetime.combine(day, time(), tzinfo=tz))
            if period is Period.MONTH:
                day = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
            else:
                day += timedelta(days=1)
        return starts
    step = timedelta(minutes=1) if period is Period.MINUTE else timedelta(hours=1)
    moment = start.astimezone(UTC)
    labels: set[str] = set()
    while moment <= end + step:
        stamp = moment.astimezone(tz)
        head = stamp.replace(second=0, microsecond=0)
        if period is Period.HOUR:
            head = head.replace(minute=0)
        label = head.strftime(_LABEL[period])
        if head <= last and label not in labels:
            labels.add(label)
            starts.append(head)
        moment += step
    return starts


def links_in_text(text: str, base_url: str) -> list[str]:
    """Codes of the short links ``{base_url}/{code}`` in ``text``, first seen first."""
    pattern = re.compile(re.escape(base_url.rstrip("/")) + r"/([A-Za-z0-9]{6,8})(?![A-Za-z0-9])")
    return list(dict.fromkeys(m.group(1) for m in pattern.finditer(text)))


def tracks_recipients(settings: Mapping[str, Any] | None) -> bool:
    """Whether a campaign's settings ask for personal links (a truthy value under one
    of :data:`TRACK_SETTINGS`)."""
    for key in TRACK_SETTINGS:
        value = (settings or {}).get(key)
        if isinstance(value, str):
            value = value.strip().lower() not in ("", "0", "false", "no", "off")
        if value:
            return True
    return False


# -- use cases -----------------------------------------------------------------------


async def _unique_insert(conn: AsyncConnection, row: dict[str, Any]) -> Row[Any]:
    for length in CODE_LENGTHS:
        for _ in range(ATTEMPTS_PER_LENGTH):
            inserted = await store.insert_links(conn, [{**row, "code": new_code(length)}])
            if inserted:
                return inserted[0]
    raise RuntimeError("could not find a free short link code")  # ~never: 62^6 codes


async def create(
    db: Database,
    *,
    account_id: int,
    full_link: str,
    comment: str = "",
    status: int = ACTIVE,
    expires_at: datetime | None = None,
) -> Row[Any]:
    """Create a campaign link with a fresh unique code."""
    now = utcnow()
    row = {
        "account_id": account_id,
        "full_link": normalise_full_link(full_link),
        "comment": _comment(comment),
        "status": _status(status),
        "expires_at": _expires(expires_at, now),
        "click_cnt": 0,
        "redirect_cnt": 0,
        "created_at": now,
        "updated_at": now,
    }
    async with db.begin() as conn:
        inserted = await _unique_insert(conn, row)
        link = await store.get(conn, account_id=account_id, link_id=inserted.id)
    assert link is not None
    log.info("link created", extra={"action": "link.create", "link_id": link.id})
    return link


async def get(db: Database, *, account_id: int, link_id: int) -> Row[Any]:
    async with db.read() as conn:
        link = await store.get(conn, account_id=account_id, link_id=link_id)
    if link is None:
        raise NotFound(f"link {link_id} not found")
    return link


async def get_by_code(db: Database, *, account_id: int, code: str) -> Row[Any]:
    """A campaign link by its code or by its short link."""
    code = code_of(code)
    async with db.read() as conn:
        link = await store.by_code(conn, account_id=account_id, code=code)
    if link is None:
        raise NotFound(f"link {code!r} not found")
    return link


async def search(
    db: Database,
    *,
    account_id: int,
    status: int | None = None,
    query: str | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    sort: str = "id",
    descending: bool = True,
    limit: int = 50,
    offset: int = 0,
) -> tuple[Sequence[Row[Any]], int]:
    """A page of the account's campaign links; returns (rows, total matching)."""
    if status is not None:
        _status(status)
    if sort not in store.SORTABLE:
        raise InvalidInput(f"sort must be one of {', '.join(store.SORTABLE)}", field="sort")
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}", field="limit")
    if offset < 0:
        raise InvalidInput("offset must not be negative", field="offset")
    for moment, name in ((created_from, "created_from"), (created_to, "created_to")):
        if moment is not None and moment.tzinfo is None:
            raise InvalidInput(f"{name} needs a time zone", field=name)
    async with db.read() as conn:
        return await store.search(
            conn,
            account_id=account_id,
            status=status,
            query=query.strip() if query else None,
            created_from=created_from,
            created_to=created_to,
            sort=sort,
            descending=descending,
            limit=limit,
            offset=offset,
        )


async def update(db: Database, *, account_id: int, link_id: int, changes: LinkChanges) -> Row[Any]:
    """Edit a campaign link (full link, comment, status, expiry)."""
    now = utcnow()
    values: dict[str, Any] = {}
    if not isinstance(changes.full_link, _Unset):
        values["full_link"] = normalise_full_link(changes.full_link)
    if not isinstance(changes.comment, _Unset):
        values["comment"] = _comment(changes.comment)
    if not isinstance(changes.status, _Unset):
        values["status"] = _status(changes.status)
    if not isinstance(changes.expires_at, _Unset):
        values["expires_at"] = _expires(changes.expires_at, now)
    if not values:
        raise InvalidInput("nothing to change", field="body")
    values["updated_at"] = now
    async with db.begin() as conn:
        if not await store.update_link(conn, account_id=account_id, link_id=link_id, values=values):
            raise NotFound(f"link {link_id} not found")
        link = await store.get(conn, account_id=account_id, link_id=link_id)
    assert link is not None
    return link


async def delete(
    db: Database, *, account_id: int, ids: Sequence[int]
) -> tuple[list[int], list[int]]:
    """Delete campaign links with their personal links and visits; returns (deleted,
    not deleted) ids, each in the order given."""
    wanted = list(dict.fromkeys(int(i) for i in ids))
    async with db.begin() as conn:
        deleted = set(await store.delete_links(conn, account_id=account_id, ids=wanted))
    if deleted:
        log.info("links deleted", extra={"action": "link.delete", "count": len(deleted)})
    return [i for i in wanted if i in deleted], [i for i in wanted if i not in deleted]


async def personal_links(
    db: Database, *, account_id: int, link_id: int, limit: int = 100, offset: int = 0
) -> tuple[Sequence[Row[Any]], int]:
    """The personal links of a campaign link (one per recipient message), with phones."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}", field="limit")
    async with db.read() as conn:
        if await store.get(conn, account_id=account_id, link_id=link_id) is None:
            raise NotFound(f"link {link_id} not found")
        return await store.personal_links(
            conn, parent_id=link_id, limit=limit, offset=max(0, offset)
        )


async def stats(
    db: Database,
    *,
    account_id: int,
    link_ids: Sequence[int],
    period: Period | str = Period.DAY,
    start: datetime | None = None,
    end: datetime | None = None,
) -> LinkStats:
    """Clicks and redirects of up to 5 links per period of the account's time zone."""
    try:
        period = Period(period)
    except ValueError:
        raise InvalidInput(
            f"period must be one of {', '.join(p.value for p in Period)}", field="period"
        ) from None
    ids = list(dict.fromkeys(int(i) for i in link_ids))
    if not ids:
        raise InvalidInput("give at least one link id", field="ids")
    if len(ids) > MAX_STATS_LINKS:
        raise InvalidInput(f"at most {MAX_STATS_LINKS} links per request", field="ids")
    for moment, name in ((start, "start"), (end, "end")):
        if moment is not None and moment.tzinfo is None:
            raise InvalidInput(f"{name} needs a time zone", field=name)
    first, last = stats_range(period, start, end, utcnow())
    async with db.read() as conn:
        found = {r.id for r in await store.by_ids(conn, account_id=account_id, ids=ids)}
        missing = [i for i in ids if i not in found]
        if missing:
            raise NotFound(f"link {missing[0]} not found")
        account = await account_store.get(conn, account_id)
        counts = await store.visit_buckets(
            conn, link_ids=ids, start=first, end=last, bucket_seconds=_BUCKET_SECONDS[period]
        )
    tz = zone(account.timezone if account is not None else None)
    fmt = _LABEL[period]
    rows = {
        s.strftime(fmt): StatsRow(s.strftime(fmt), s, [0] * len(ids), [0] * len(ids))
        for s in period_starts(period, first, last, tz)
    }
    position = {link_id: n for n, link_id in enumerate(ids)}
    size = _BUCKET_SECONDS[period]
    for link_id, bucket, kind, count in counts:
        label = datetime.fromtimestamp(bucket * size, UTC).astimezone(tz).strftime(fmt)
        row = rows.get(label)
        if row is None:  # pragma: no cover - the range and the labels come from one rule
            continue
        column = row.clicks if kind == CLICK else row.redirects
        column[position[link_id]] += count
    return LinkStats(period, first, last, ids, list(rows.values()))


async def visit(
    db: Database, code: str, *, method: str = "GET", user_agent: str = ""
) -> str | None:
    """Follow a short link: the full link to redirect to, or None when the code is
    unknown, inactive or expired. Counts a click or a redirect (see the module
    docstring) on the link and, for a personal link, on its campaign link, each
    with its visit row, in one transaction."""
    if not is_code(code):
        return None
    now = utcnow()
    async with db.read() as conn:
        row = await store.for_visit(conn, code)
    if row is None or not is_open(row, now):
        return None
    kind = visit_kind(method, user_agent)
    counted = [row.id] if row.parent_id is None else [row.id, row.parent_id]
    async with db.begin() as conn:
        await store.record_visit(
            conn, link_ids=counted, kind=kind, user_agent=user_agent[:USER_AGENT_MAX], now=now
        )
    return str(row.full_link)


async def campaign_links(
    db: Database, *, account_id: int, campaign_id: int, base_url: str
) -> Sequence[Row[Any]]:
    """The account's campaign links whose short links appear in a campaign's text."""
    async with db.read() as conn:
        campaign = await campaign_store.get(conn, campaign_id, account_id=account_id)
        if campaign is None:
            raise NotFound(f"campaign {campaign_id} not found")
        codes = links_in_text(campaign.text or "", base_url)
        found = await store.by_codes(conn, account_id=account_id, codes=codes)
    order = {code: n for n, code in enumerate(codes)}
    return sorted(found, key=lambda r: order[r.code])


async def personalise_campaign(
    db: Database, *, campaign_id: int, base_url: str, batch_size: int = 500
) -> int:
    """Give every NEW message of a campaign its own copy of each short link in its
    text, when the campaign's settings have ``trackShortLinkRecipients``.

    For each message and each of the account's campaign links ``{base_url}/{code}``
    found in the campaign text, a personal link row is created (``parent_id`` = the
    campaign link, same full link, ``campaign_id``, ``message_id``) and the
    message's ``text`` is rewritten with the personal short links (a message with
    NULL text gets the campaign text, rewritten). Personal codes have the length of
    their campaign link's code and the same alphabet, so a message keeps its length,
    encoding, segments and price.

    Works in batches of ``batch_size`` messages, one transaction each (links and
    rewritten texts commit together); idempotent and resumable, since a rewritten
    message no longer contains a campaign short link and is not picked again. Call it
    before the campaign's messages can be claimed (before it becomes RUNNING): a
    message the dispatcher took first goes out with the shared link, whose clicks
    count on the campaign link only. Returns the number of messages rewritten."""
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    base = base_url.rstrip("/")
    async with db.read() as conn:
        campaign = await campaign_store.get(conn, campaign_id)
        if campaign is None:
            raise NotFound(f"campaign {campaign_id} not found")
        if not tracks_recipients(campaign.settings):
            return 0
        codes = links_in_text(campaign.text or "", base)
        parents = await store.by_codes(conn, account_id=campaign.account_id, codes=codes)
    if not parents:
        return 0
    by_code = {p.code: p for p in parents}
    pattern = re.compile(
        re.escape(base) + "/(" + "|".join(map(re.escape, by_code)) + r")(?![A-Za-z0-9])"
    )
    needles = [short_link(base, code) for code in by_code]
    rewritten = 0
    after = 0
    while True:
        async with db.begin() as conn:
            batch = await store.messages_to_personalise(
                conn, campaign_id=campaign_id, after_id=after, needles=needles, limit=batch_size
            )
            if not batch:
                break
            after = batch[-1][0]
            now = utcnow()
            wanted: list[tuple[int, str, str]] = []  # (message id, text, parent code)
            for message_id, text in batch:
                body = campaign.text if text is None else text
                for code in dict.fromkeys(m.group(1) for m in pattern.finditer(body)):
                    wanted.append((message_id, body, code))
            codes_for = await _personal_codes(conn, wanted, by_code, campaign, now)
            texts: list[tuple[int, str]] = []
            for message_id, text in batch:
                body = campaign.text if text is None else text
                mine = codes_for.get(message_id)
                if mine:
                    texts.append((message_id, _rewrite(pattern, body, base, mine)))
            await store.set_message_texts(conn, texts)
        rewritten += len(texts)
    if rewritten:
        log.info(
            "campaign links personalised",
            extra={"action": "link.personalise", "campaign_id": campaign_id, "count": rewritten},
        )
    return rewritten


def _rewrite(pattern: re.Pattern[str], text: str, base: str, codes: Mapping[str, str]) -> str:
    """``text`` with each campaign short link replaced by the personal one."""
    return pattern.sub(lambda m: f"{base}/{codes[m.group(1)]}", text)


async def _personal_codes(
    conn: AsyncConnection,
    wanted: Sequence[tuple[int, str, str]],
    parents: Mapping[str, Row[Any]],
    campaign: Row[Any],
    now: datetime,
) -> dict[int, dict[str, str]]:
    """Insert one personal link per (message, parent code); returns message id ->
    {parent code: personal code}. Colliding codes are drawn again."""
    result: dict[int, dict[str, str]] = {}
    pending = [(message_id, code) for message_id, _text, code in wanted]
    for _ in range(PERSONAL_ROUNDS):
        if not pending:
            return result
        rows: list[dict[str, Any]] = []
        drawn: set[str] = set()
        for message_id, parent_code in pending:
            parent = parents[parent_code]
            code = new_code(len(parent_code))
            while code in drawn:
                code = new_code(len(parent_code))
            drawn.add(code)
            rows.append(
                {
                    "account_id": campaign.account_id,
                    "code": code,
                    "full_link": parent.full_link,
                    "comment": "",
                    "status": ACTIVE,
                    "expires_at": None,
                    "click_cnt": 0,
                    "redirect_cnt": 0,
                    "campaign_id": campaign.id,
                    "message_id": message_id,
                    "parent_id": parent.id,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        inserted = {r.code for r in await store.insert_links(conn, rows)}
        retry: list[tuple[int, str]] = []
        for row, (message_id, parent_code) in zip(rows, pending, strict=True):
            if row["code"] in inserted:
                result.setdefault(message_id, {})[parent_code] = row["code"]
            else:
                retry.append((message_id, parent_code))
        pending = retry
    raise RuntimeError("could not find free personal link codes")  # ~never: 62^6 codes
