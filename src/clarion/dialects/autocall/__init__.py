"""The autocall dialect: the Vietnamese autocall API v3 (``/v3/...``) over Clarion's
voice campaigns.

A client written against the vendor's v3 API (Bearer token, ``/v3/campaign``,
``/v3/lead``, ``/v3/cdr``, ``{"error": ...}`` answers) works against Clarion by
changing the host and using a Clarion API key as the token. ``router`` is included by
``create_app``. Modules: ``wire.py`` (auth, bodies, errors, ids), ``campaigns.py``
(create, get, list, update, delete, status), ``leads.py`` (numbers to call, OTP
calls), ``cdrs.py`` (call records). See docs/dialects/autocall.md.

Any other path under ``/v3/`` answers 404 ``{"error": "not found"}``, and a known
path with another method 405 ``{"error": "method not allowed"}``: never the
application's problem+json.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from clarion.dialects.autocall import campaigns, cdrs, leads

router = APIRouter(include_in_schema=False)
router.include_router(campaigns.router)
router.include_router(leads.router)
router.include_router(cdrs.router)

_KNOWN = re.compile(r"^/v3/(campaigns?|lead|cdr|autocall/otp|campaign/[^/]+(/leads|/cdrs)?)/?$")
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


@router.api_route("/v3/{rest:anypath}", methods=METHODS)
async def unknown(request: Request, rest: str) -> JSONResponse:
    if _KNOWN.match(request.url.path):
        return JSONResponse({"error": "method not allowed"}, status_code=405)
    return JSONResponse({"error": "not found"}, status_code=404)


__all__ = ["router"]
