"""Request body limits, enforced before a route reads the body.

``/v1`` bodies (JSON, CSV) are limited to ``max_body_bytes`` and multipart uploads to
``max_import_bytes`` plus 1 MiB for the other form fields (the upload is then copied
with its own exact limit, see uploads.py); wolkvox's ``/api/v2`` bodies to its
``MAX_BODY`` (record uploads are large) and BSG's other ``/api`` bodies to BSG's. A
``Content-Length`` over the limit is answered 413 at once, without reading the body,
in the prefix's own error shape; a chunked body is counted as it arrives and cut off
at the limit with the same 413 (a problem on ``/v1`` and BSG's ``/api``). The Mobizon
dialect reads its bodies with its own limit (code 12 in its envelope).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clarion.api import problems
from clarion.dialects.bsg import wire as bsg_wire
from clarion.dialects.wolkvox import wire as wolkvox_wire

UPLOAD_OVERHEAD = 1024 * 1024


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit:,} bytes")


@dataclass(frozen=True, slots=True)
class Rule:
    prefix: str
    limit: int
    upload_limit: int  # multipart/form-data
    reject: Callable[[int], JSONResponse]


def _problem(limit: int) -> JSONResponse:
    return problems.problem(
        413, "too-large", "Payload too large", f"the request body is larger than {limit:,} bytes"
    )


def _bsg(_limit: int) -> JSONResponse:
    return bsg_wire.BsgError(413, "The request body is too large.", []).response()


def rules(*, max_body_bytes: int, max_import_bytes: int) -> list[Rule]:
    return [
        Rule("/v1/", max_body_bytes, max_import_bytes + UPLOAD_OVERHEAD, _problem),
        # wolkvox's /api/v2/ carries up to 10,000 records per upload (its own envelope).
        Rule("/api/v2/", wolkvox_wire.MAX_BODY, wolkvox_wire.MAX_BODY, wolkvox_wire.too_large),
        Rule("/api/", bsg_wire.MAX_BODY, bsg_wire.MAX_BODY, _bsg),
    ]


class BodyLimit:
    """ASGI middleware applying the first :class:`Rule` whose prefix the path has."""

    def __init__(self, app: ASGIApp, *, rules: list[Rule]) -> None:
        self.app = app
        self.rules = rules

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rule = self._rule(scope)
        if rule is None:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        limit = rule.upload_limit if media == "multipart/form-data" else rule.limit
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > limit:
            await rule.reject(limit)(scope, receive, send)
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:  # raised where no exception handler answered it
            if started:
                raise
            await rule.reject(limit)(scope, receive, send)

    def _rule(self, scope: Scope) -> Rule | None:
        if scope["type"] != "http":
            return None
        path: str = scope["path"]
        return next((r for r in self.rules if path.startswith(r.prefix)), None)
