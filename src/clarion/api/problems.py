"""Errors as RFC 9457 ``application/problem+json``.

Every error the native API returns has ``type``, ``title``, ``status`` and a
``detail`` sentence a person can act on; validation errors add ``errors`` (one per
bad field, with its location). Bad input is never a 500.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from clarion.services.errors import (
    Conflict,
    InsufficientFunds,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    ServiceError,
    TransitionConflict,
)

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://clarion.invalid/problems/"


class Problem(BaseModel):
    """The body of every error response (RFC 9457), as documented in the OpenAPI."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    field: str | None = None
    errors: list[dict[str, Any]] | None = None


def _documented(description: str) -> dict[str, Any]:
    return {"description": description, "content": {MEDIA_TYPE: {"schema": PROBLEM_SCHEMA}}}


PROBLEM_SCHEMA = Problem.model_json_schema()
# Error responses of the OpenAPI document: RESPONSES on every authenticated ``/v1``
# route (FastAPI's default 422 schema is replaced: ours is a problem too), the others
# on the routes that give them.
RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _documented("The body could not be parsed (not JSON, not UTF-8, a broken form)"),
    401: _documented("Missing or invalid API key"),
    404: _documented("No such resource in the caller's account"),
    409: _documented("The resource's state does not allow the operation"),
    413: _documented("A body or a list over its limit"),
    422: _documented("Invalid input: `errors` lists the bad fields"),
}
FUNDS: dict[int | str, dict[str, Any]] = {
    402: _documented("The balance does not cover the operation")
}
OPERATOR: dict[int | str, dict[str, Any]] = {403: _documented("Not an operator account")}
TEXT_BODY: dict[int | str, dict[str, Any]] = {
    415: _documented("The body is not text/plain or text/csv")
}


def problem(status: int, slug: str, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": TYPE_BASE + slug, "title": title, "status": status, "detail": detail}
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE)


def _service_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    if isinstance(exc, NotFound):
        return problem(404, "not-found", "Not found", exc.message)
    if isinstance(exc, PayloadTooLarge):
        return problem(413, "too-large", "Payload too large", exc.message, field=exc.field)
    if isinstance(exc, InvalidInput):
        return problem(422, "invalid-input", "Invalid input", exc.message, field=exc.field)
    if isinstance(exc, TransitionConflict):
        return problem(
            409,
            "illegal-transition",
            "Illegal status transition",
            exc.message,
            action=exc.action,
            current_status=exc.current,
        )
    if isinstance(exc, Conflict):
        return problem(409, "conflict", "Conflict", exc.message)
    if isinstance(exc, InsufficientFunds):
        return problem(402, "insufficient-funds", "Insufficient funds", exc.message)
    return problem(400, "bad-request", "Bad request", exc.message)


def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "location": ".".join(str(p) for p in err.get("loc", ())),
            "message": err.get("msg", "invalid"),
        }
        for err in exc.errors()
    ]
    first = errors[0] if errors else {"location": "body", "message": "invalid"}
    detail = f"{first['location']}: {first['message']}"
    if len(errors) > 1:
        detail += f" (and {len(errors) - 1} more)"
    return problem(422, "validation", "Request validation failed", detail, errors=errors)


def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    titles = {
        400: "Bad request",
        401: "Unauthorized",
        403: "Forbidden",
        404: "Not found",
        405: "Method not allowed",
        413: "Payload too large",
        415: "Unsupported media type",
    }
    title = titles.get(exc.status_code, "Error")
    response = problem(
        exc.status_code,
        {400: "bad-request", 413: "too-large"}.get(exc.status_code)
        or title.lower().replace(" ", "-"),
        title,
        str(exc.detail),
    )
    if exc.headers:
        response.headers.update(exc.headers)
    return response


def install(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
