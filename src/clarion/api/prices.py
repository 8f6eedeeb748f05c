"""``/v1/prices``: the caller's own price table (see docs/billing.md).

``GET`` lists the account's rules and the default table's (which apply where the
account has no rule of equal or higher specificity); ``PUT`` replaces the account's
table with a ``text/csv`` body; ``DELETE`` empties it. The default table is loaded
with the CLI only.
"""

from __future__ import annotations

import csv
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from clarion.api import problems
from clarion.api.deps import DB, Account
from clarion.api.models import reject_nul
from clarion.services import pricing as service
from clarion.services.errors import InvalidInput

router = APIRouter(
    prefix="/v1",
    tags=["prices"],
    responses=problems.RESPONSES,
    dependencies=[Depends(reject_nul)],
)

MAX_BODY_BYTES = 8 * 1024 * 1024
TEXT_TYPES = ("text/csv", "text/plain")


class PriceOut(BaseModel):
    channel: str
    country: str = Field(description='ISO 3166 alpha-2; "" = any country')
    operator: str = Field(description='Carrier name or MCC-MNC; "" = any operator')
    unit: str = Field(description="segment | message | minute")
    price: Decimal
    currency: str

    @classmethod
    def of(cls, row: Any) -> PriceOut:
        return cls(
            channel=row.channel,
            country=row.country,
            operator=row.operator,
            unit=row.unit,
            price=row.price,
            currency=row.currency,
        )


class PriceTableOut(BaseModel):
    items: list[PriceOut] = Field(description="The account's own rules")
    defaults: list[PriceOut] = Field(description="The default table, under the account's")


class LoadedOut(BaseModel):
    loaded: int


async def _table(db: DB, account_id: int) -> PriceTableOut:
    own = await service.rules(db, account_id=account_id)
    defaults = await service.rules(db, default=True)
    return PriceTableOut(
        items=[PriceOut.of(r) for r in own], defaults=[PriceOut.of(r) for r in defaults]
    )


@router.get("/prices", response_model=PriceTableOut)
async def get_prices(account: Account, db: DB) -> Any:
    """The account's price table and the default table."""
    return await _table(db, account.id)


@router.put(
    "/prices",
    response_model=LoadedOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {t: {"schema": {"type": "string"}} for t in TEXT_TYPES},
        }
    },
    responses=problems.TEXT_BODY,
)
async def put_prices(request: Request, account: Account, db: DB) -> Any:
    """Replace the account's table with a CSV (header
    ``channel,country,operator,unit,price``). All or nothing: with any bad row the
    table is unchanged and the problem's ``errors`` name every bad row."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type not in TEXT_TYPES:
        raise HTTPException(415, "send the price table as text/csv")
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise HTTPException(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("the body is not UTF-8 text", field="body") from None
    try:
        loaded = await service.load(db, account_id=account.id, text=text)
    except service.PriceTableError as exc:
        response: JSONResponse = problems.problem(
            422,
            "invalid-input",
            "Invalid input",
            exc.message,
            field=exc.field,
            errors=[{"row": row, "detail": reason} for row, reason in exc.errors],
        )
        return response
    except csv.Error as exc:  # e.g. a bare carriage return, an oversized field
        raise InvalidInput(f"the body is not readable as CSV: {exc}", field="body") from None
    return LoadedOut(loaded=loaded)


@router.delete("/prices", status_code=204)
async def delete_prices(account: Account, db: DB) -> Response:
    """Empty the account's table (the default table applies again)."""
    await service.clear(db, account_id=account.id)
    return Response(status_code=204)
