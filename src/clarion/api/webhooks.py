"""``/v1/webhooks``: the caller's event webhook endpoints, their delivery log and
replay; ``PATCH /v1/account`` sets the ``balance.low`` threshold; ``GET /v1/inbound``
lists the inbound (MO) messages the events announce. See docs/webhooks.md."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, Field

from clarion.api import problems
from clarion.api.deps import DB, Account, Config
from clarion.api.models import Strict, reject_nul
from clarion.services import accounts, inbound
from clarion.services import webhooks as service
from clarion.services.errors import InvalidInput

router = APIRouter(
    prefix="/v1",
    tags=["webhooks"],
    responses=problems.RESPONSES,
    dependencies=[Depends(reject_nul)],
)

EventType = Literal[
    "message.status_changed",
    "campaign.status_changed",
    "mo.received",
    "task.finished",
    "balance.low",
]
Id = Annotated[int, Path(ge=1, le=2**63 - 1)]


class EndpointIn(Strict):
    url: Annotated[str, Field(min_length=1, max_length=2000)]
    events: Annotated[list[EventType], Field(min_length=1, max_length=len(service.EVENT_TYPES))]
    description: Annotated[str, Field(max_length=255)] = ""
    active: bool = True


class EndpointPatch(Strict):
    url: Annotated[str, Field(min_length=1, max_length=2000)] | None = None
    events: (
        Annotated[list[EventType], Field(min_length=1, max_length=len(service.EVENT_TYPES))] | None
    ) = None
    description: Annotated[str, Field(max_length=255)] | None = None
    active: bool | None = None


class EndpointOut(BaseModel):
    id: int
    url: str
    events: list[str]
    description: str
    active: bool
    secret: str = Field(description="HMAC-SHA256 key of the Clarion-Signature header")
    created_at: datetime
    campaign_id: int | None = Field(
        None,
        description="Set for a voice campaign's callback_url / answer_callback_url: that "
        "campaign's call events only, posted as the bare CDR; managed with the campaign.",
    )

    @classmethod
    def of(cls, row: Any) -> EndpointOut:
        return cls.model_validate(dict(row._mapping))


class DeliveryOut(BaseModel):
    id: int
    event_id: int
    event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    payload: dict[str, Any]

    @classmethod
    def of(cls, row: Any) -> DeliveryOut:
        values = dict(row._mapping)
        if values["status"] != "pending":
            values["next_attempt_at"] = None
        return cls.model_validate(values)


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    total: int
    limit: int
    offset: int


class AccountPatch(Strict):
    low_balance: Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=6)] | None = Field(
        description="balance.low is emitted when a debit takes the balance below this; "
        "null turns it off"
    )


@router.post("/webhooks", status_code=201, response_model=EndpointOut)
async def create(body: EndpointIn, account: Account, db: DB, settings: Config) -> Any:
    """Register an endpoint; its URL must resolve to public addresses only."""
    row = await service.create(
        db,
        account_id=account.id,
        spec=service.EndpointSpec(
            url=body.url, events=body.events, description=body.description, active=body.active
        ),
        allow_private=settings.webhook_allow_private,
    )
    return EndpointOut.of(row)


@router.get("/webhooks", response_model=list[EndpointOut])
async def list_endpoints(account: Account, db: DB) -> Any:
    return [EndpointOut.of(r) for r in await service.list_all(db, account_id=account.id)]


@router.get("/webhooks/{endpoint_id}", response_model=EndpointOut)
async def get(endpoint_id: Id, account: Account, db: DB) -> Any:
    return EndpointOut.of(await service.get(db, account_id=account.id, endpoint_id=endpoint_id))


@router.patch("/webhooks/{endpoint_id}", response_model=EndpointOut)
async def patch(
    endpoint_id: Id, body: EndpointPatch, account: Account, db: DB, settings: Config
) -> Any:
    changes = body.model_dump(exclude_unset=True)
    nulls = [k for k, v in changes.items() if v is None]
    if nulls:
        raise InvalidInput(f"{nulls[0]} cannot be null", field=nulls[0])
    row = await service.change(
        db,
        account_id=account.id,
        endpoint_id=endpoint_id,
        changes=changes,
        allow_private=settings.webhook_allow_private,
    )
    return EndpointOut.of(row)


@router.delete("/webhooks/{endpoint_id}", status_code=204)
async def delete(endpoint_id: Id, account: Account, db: DB) -> Response:
    await service.delete(db, account_id=account.id, endpoint_id=endpoint_id)
    return Response(status_code=204)


@router.get("/webhooks/{endpoint_id}/deliveries", response_model=DeliveryPage)
async def deliveries(
    endpoint_id: Id,
    account: Account,
    db: DB,
    status: Annotated[list[str] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Any:
    """The delivery log, newest first: status, attempts, last HTTP status or error."""
    statuses = [s.strip() for v in status or [] for s in v.split(",") if s.strip()]
    rows, total = await service.deliveries(
        db,
        account_id=account.id,
        endpoint_id=endpoint_id,
        statuses=statuses,
        limit=limit,
        offset=offset,
    )
    return DeliveryPage(
        items=[DeliveryOut.of(r) for r in rows], total=total, limit=limit, offset=offset
    )


@router.post("/webhooks/deliveries/{delivery_id}/replay", status_code=202)
async def replay(delivery_id: Id, account: Account, db: DB) -> dict[str, str]:
    """Send a delivery again now (delivered, failed or pending alike)."""
    await service.replay(db, account_id=account.id, delivery_id=delivery_id)
    return {"status": "pending"}


@router.patch("/account", response_model=dict[str, Any])
async def patch_account(body: AccountPatch, account: Account, db: DB) -> Any:
    row = await accounts.configure(
        db, account_id=account.id, low_balance=body.low_balance, set_low_balance=True
    )
    return {
        "id": row.id,
        "balance": str(row.balance),
        "currency": row.currency,
        "low_balance": None if row.low_balance is None else str(row.low_balance),
    }


class InboundOut(BaseModel):
    id: int
    phone: str
    to: str
    text: str
    connection: str
    action: str = Field(description='"stop" when the text opted the number out')
    received_at: datetime


class InboundPage(BaseModel):
    items: list[InboundOut]
    total: int
    limit: int
    offset: int


@router.get("/inbound", response_model=InboundPage, tags=["inbound"])
async def inbound_messages(
    account: Account,
    db: DB,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Any:
    """Inbound SMS from numbers this account wrote to, newest first."""
    rows, total = await inbound.page(db, account_id=account.id, limit=limit, offset=offset)
    return InboundPage(
        items=[InboundOut.model_validate(dict(r._mapping)) for r in rows],
        total=total,
        limit=limit,
        offset=offset,
    )
