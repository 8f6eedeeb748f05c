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
    titles = {401: "Unauthorized", 403: "Forbidden", 404: "Not found", 405: "Method not allowed"}
    response = problem(
        exc.status_code,
        titles.get(exc.status_code, "Error").lower().replace(" ", "-"),
        titles.get(exc.status_code, "Error"),
        str(exc.detail),
    )
    if exc.headers:
        response.headers.update(exc.headers)
    return response


def install(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
