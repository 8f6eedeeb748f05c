"""Templates, the signed-in operator, and how dashboard errors are shown.

``WebRoute`` turns what a dashboard handler raises into a page a person can act on:
no session -> the sign-in page (or 401 JSON for the scripts' endpoints); a bad CSRF
token -> 403; a service error -> its message with the matching status (404 for
another account's campaign, 409 for a conflict, 422 for bad input).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlalchemy import Row
from starlette.exceptions import HTTPException as StarletteHTTPException

from clarion.config import Settings
from clarion.domain.text import NUL_MESSAGE, nul_path
from clarion.services.errors import (
    Conflict,
    InsufficientFunds,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    ServiceError,
)
from clarion.store import accounts as account_store
from clarion.store.db import Database
from clarion.web import session, views

log = logging.getLogger(__name__)

SIGN_IN = "/"


@dataclass(frozen=True, slots=True)
class WebState:
    secret: bytes
    templates: Environment
    max_age: int  # seconds a session lasts
    # campaign id -> (its counters, computed at, timeline): see pages._timeline
    timelines: dict[int, tuple[Any, float, dict[str, Any]]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Operator:
    """The signed-in operator: the account, the key the session was opened with, and
    the CSRF token every form of this session carries."""

    account: Row[Any]
    key_id: int
    key_label: str
    csrf: str


class SignInRequired(Exception):
    pass


class CsrfRejected(Exception):
    pass


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("clarion.web", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["money"] = views.money
    env.filters["when"] = views.when
    env.filters["number"] = views.number
    env.globals["STATUS_HELP"] = views.STATUS_HELP
    return env


def state(request: Request) -> WebState:
    web: WebState = request.app.state.web
    return web


def database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    operator: Operator | None = None,
) -> HTMLResponse:
    page = state(request).templates.get_template(template)
    html = page.render(
        {
            "request_path": request.url.path,
            "op": operator,
            "error": None,
            "notice": None,
            **(context or {}),
        }
    )
    return HTMLResponse(
        html,
        status_code=status_code,
        headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY"},
    )


async def current_operator(request: Request) -> Operator:
    """The operator of this request's session; SignInRequired if there is none or its
    key has been revoked since."""
    web = state(request)
    cookie = request.cookies.get(session.SESSION_COOKIE)
    found = session.decode(web.secret, cookie, now=int(time.time()), max_age=web.max_age)
    if found is None or cookie is None:
        raise SignInRequired
    async with database(request).read() as conn:
        row = await account_store.key_by_id(conn, found.key_id)
    if row is None:
        raise SignInRequired
    return Operator(
        account=row,
        key_id=int(row.key_id),
        key_label=str(row.key_label),
        csrf=session.csrf_token(web.secret, cookie),
    )


def require_csrf(request: Request, token: str | None) -> None:
    """The POST's token (form field or X-CSRF-Token header) must match the session."""
    token = token or request.headers.get(session.CSRF_HEADER)
    cookie = request.cookies.get(session.SESSION_COOKIE)
    if not session.csrf_valid(state(request).secret, cookie, token):
        raise CsrfRejected


def _wants_json(request: Request) -> bool:
    return request.url.path.endswith(".json") or "application/json" in request.headers.get(
        "accept", ""
    )


def _status(exc: ServiceError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, PayloadTooLarge):
        return 413
    if isinstance(exc, InvalidInput):
        return 422
    if isinstance(exc, Conflict):
        return 409
    if isinstance(exc, InsufficientFunds):
        return 402
    return 400


def error_page(request: Request, status: int, title: str, message: str) -> Response:
    if _wants_json(request):
        return JSONResponse({"error": message}, status_code=status)
    return render(
        request,
        "error.html",
        {"title": title, "message": message, "status": status},
        status_code=status,
    )


_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


async def _nul_field(request: Request) -> str | None:
    """The name of a query, path or form field holding NUL (text never does), or None."""
    fields: list[tuple[str, object]] = [
        *request.query_params.multi_items(),
        *request.path_params.items(),
    ]
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if request.method == "POST" and media in _FORMS:
        # FastAPI reads the same cached form afterwards; a malformed body raises
        # Starlette's HTTPException(400) here, answered by the caller.
        fields += (await request.form()).multi_items()
    for name, value in fields:
        if nul_path(name) is not None or nul_path(value) is not None:
            return name.replace("\x00", "") or "field"
    return None


class WebRoute(APIRoute):
    """An APIRoute whose failures become dashboard pages, not problem+json."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                where = await _nul_field(request)
            except StarletteHTTPException as exc:
                return error_page(request, exc.status_code, "Invalid request", str(exc.detail))
            if where is not None:
                return error_page(request, 422, "Invalid request", f"{where}: {NUL_MESSAGE}")
            try:
                return await original(request)
            except SignInRequired:
                if _wants_json(request):
                    return JSONResponse(
                        {"error": "sign in again: the session has ended"}, status_code=401
                    )
                if request.method != "GET":  # a form sent after the session ended
                    return RedirectResponse(SIGN_IN, status_code=303)
                target = request.url.path
                if request.url.query:
                    target += "?" + request.url.query
                return RedirectResponse(f"{SIGN_IN}?next={quote(target)}", status_code=303)
            except CsrfRejected:
                return error_page(
                    request,
                    403,
                    "Form expired",
                    "The form's security token is missing or does not match your session. "
                    "Reload the page and try again.",
                )
            except NotFound as exc:
                return error_page(request, 404, "Not found", exc.message)
            except ServiceError as exc:
                return error_page(request, _status(exc), "Not possible", exc.message)
            except RequestValidationError as exc:
                errors = exc.errors()
                first = errors[0] if errors else {}
                where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body",))
                message = f"{where}: {first.get('msg', 'invalid value')}".strip(": ")
                return error_page(request, 422, "Invalid request", message)

        return handler
