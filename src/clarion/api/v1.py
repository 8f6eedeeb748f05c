"""The native REST API, ``/v1``. Every route is scoped to the caller's account."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict
from datetime import datetime
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Path, Query, Response, UploadFile
from fastapi.responses import PlainTextResponse

from clarion.api import models, problems, uploads
from clarion.api import voice as voice_api
from clarion.api.deps import DB, Account, Config, Operator
from clarion.domain.recipients import describe_code, overall
from clarion.imports import readers
from clarion.services import campaigns as service
from clarion.services import imports
from clarion.services.errors import InvalidInput

router = APIRouter(
    prefix="/v1",
    tags=["v1"],
    responses=problems.RESPONSES,
    dependencies=[Depends(models.reject_nul)],
)

CampaignId = Annotated[int, Path(ge=1, le=2**63 - 1, description="Campaign id")]


@router.get("/account", response_model=models.AccountOut)
async def account(account: Account) -> Any:
    return dict(account._mapping)


@router.post("/campaigns", status_code=201, response_model=models.Campaign)
async def create_campaign(
    body: models.CampaignCreate, account: Account, db: DB, settings: Config
) -> Any:
    if body.channel == "voice":
        return await voice_api.create(body, account.id, db, settings)
    if body.voice is not None:
        raise InvalidInput("voice settings are for voice campaigns", field="voice")
    if body.channel not in service.SENDING_CHANNELS:
        raise InvalidInput(
            f"channel {body.channel!r} is not available yet on this server", field="channel"
        )
    if body.channel == "sms" and body.text is None:
        raise InvalidInput("an sms campaign needs text", field="text")
    fields = body.model_dump(exclude={"fallback", "text", "voice"})
    spec = service.CampaignSpec(
        **fields,
        text=body.text or "",
        fallback=service.Fallback(**body.fallback.model_dump()) if body.fallback else None,
    )
    row = await service.create(
        db,
        account_id=account.id,
        spec=spec,
        default_channel=settings.default_channel,
        price_per_segment=settings.price_per_segment,
        rcs_channel=settings.rcs_channel,
    )
    return models.Campaign.of(row)


def _sort(sort: str) -> tuple[str, bool]:
    descending = sort.startswith("-")
    field = sort.lstrip("-")
    if field not in ("id", "created_at", "name", "status"):
        raise InvalidInput(
            "sort must be one of id, created_at, name, status (prefix - for descending)",
            field="sort",
        )
    return field, descending


@router.get("/campaigns", response_model=models.CampaignPage)
async def list_campaigns(
    account: Account,
    db: DB,
    status: Annotated[list[str] | None, Query(description="Repeat or comma-separate")] = None,
    text: Annotated[str | None, Query(max_length=200)] = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    sort: str = "-id",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Any:
    statuses = [s.strip().upper() for v in status or [] for s in v.split(",") if s.strip()]
    for moment, name in ((created_from, "created_from"), (created_to, "created_to")):
        if moment is not None and moment.tzinfo is None:
            raise InvalidInput(f"{name} needs a timezone (e.g. 2026-01-01T00:00:00Z)", field=name)
    field, descending = _sort(sort)
    rows, total = await service.search(
        db,
        account_id=account.id,
        statuses=statuses,
        text=text,
        created_from=created_from,
        created_to=created_to,
        sort=field,
        descending=descending,
        limit=limit,
        offset=offset,
    )
    return models.CampaignPage(
        items=[models.Campaign.of(r) for r in rows], total=total, limit=limit, offset=offset
    )


@router.get("/campaigns/{campaign_id}", response_model=models.Campaign)
async def get_campaign(campaign_id: CampaignId, account: Account, db: DB) -> Any:
    return models.Campaign.of(await service.get(db, account_id=account.id, campaign_id=campaign_id))


@router.patch("/campaigns/{campaign_id}", response_model=models.Campaign)
async def patch_campaign(
    campaign_id: CampaignId, body: models.CampaignPatch, account: Account, db: DB
) -> Any:
    changes = body.model_dump(exclude_unset=True)
    if not changes:
        raise InvalidInput("nothing to change", field="body")
    not_null = ("name", "text", "type", "sender", "placeholders_flag")
    nulls = [k for k, v in changes.items() if v is None and k in not_null]
    if nulls:
        raise InvalidInput(f"{nulls[0]} cannot be null", field=nulls[0])
    row = await service.patch(db, account_id=account.id, campaign_id=campaign_id, changes=changes)
    return models.Campaign.of(row)


@router.delete("/campaigns/{campaign_id}", status_code=204)
async def delete_campaign(campaign_id: CampaignId, account: Account, db: DB) -> Response:
    await service.delete(db, account_id=account.id, campaign_id=campaign_id)
    return Response(status_code=204)


@router.post("/campaigns/{campaign_id}/recipients", response_model=models.RecipientsOut)
async def add_recipients(
    campaign_id: CampaignId,
    body: models.RecipientsIn,
    account: Account,
    db: DB,
    settings: Config,
) -> Any:
    """Add recipients synchronously from ONE source: `recipients` (numbers with
    variables), `contacts` (address-book contact ids) or `cards` (contact card ids).
    One Mobizon result code per entry; all or nothing."""
    sources = [n for n in ("recipients", "contacts", "cards") if getattr(body, n) is not None]
    if len(sources) != 1:
        raise InvalidInput(
            "give exactly one recipient source: recipients, contacts or cards "
            "(contact groups and files are imported with /recipients/groups and "
            "/recipients/import)",
            field="body",
        )
    if body.recipients is not None:
        entries = [service.RecipientInput(r.phone, r.variables) for r in body.recipients]
    elif body.contacts is not None:
        entries = await service.contacts_as_recipients(
            db,
            account_id=account.id,
            contact_ids=body.contacts[: settings.max_recipients_per_request + 1],
        )
    else:
        assert body.cards is not None
        entries = await service.cards_as_recipients(
            db,
            account_id=account.id,
            card_ids=body.cards[: settings.max_recipients_per_request + 1],
        )
    results = await service.add_recipients(
        db,
        account_id=account.id,
        campaign_id=campaign_id,
        entries=entries,
        limit=settings.max_recipients_per_request,
        replace=body.replace,
    )
    added = sum(1 for r in results if r.message_id is not None)
    return models.RecipientsOut(
        code=overall([int(r.code) for r in results]),
        added=added,
        rejected=len(results) - added,
        recipients=[
            models.RecipientOut(
                phone=r.phone,
                code=int(r.code),
                message_id=r.message_id,
                normalized=r.e164,
                contact_id=r.contact_id,
                card_id=r.card_id,
            )
            for r in results
        ],
    )


@router.post(
    "/campaigns/{campaign_id}/recipients/groups", status_code=202, response_model=models.Task
)
async def import_groups(
    campaign_id: CampaignId, body: models.GroupsIn, account: Account, db: DB
) -> Any:
    """Add the mobile numbers of every card in the groups, as a background task."""
    task_id = await imports.start_group_import(
        db,
        account_id=account.id,
        campaign_id=campaign_id,
        group_ids=body.groups,
        replace=body.replace,
    )
    return models.Task.of(await imports.get(db, account_id=account.id, task_id=task_id))


@router.post(
    "/campaigns/{campaign_id}/recipients/import", status_code=202, response_model=models.Task
)
async def import_file(
    campaign_id: CampaignId,
    account: Account,
    db: DB,
    settings: Config,
    file: Annotated[UploadFile, File(description="CSV, XLS or XLSX")],
    encoding: Annotated[str | None, Form()] = None,
    delimiter: Annotated[str, Form(max_length=1)] = ",",
    enclosure: Annotated[str, Form(max_length=1)] = "'",
    skip_header: Annotated[bool, Form()] = False,
    replace: Annotated[bool, Form()] = False,
) -> Any:
    """Import a recipients file as a background task (poll `GET /v1/tasks/{id}`)."""
    path = await uploads.save(
        file, directory=FilePath(settings.data_dir) / "uploads", limit=settings.max_import_bytes
    )
    try:
        task_id = await imports.start_file_import(
            db,
            account_id=account.id,
            campaign_id=campaign_id,
            path=path,
            options=readers.CsvOptions(
                delimiter=delimiter,
                enclosure=enclosure,
                skip_header=skip_header,
                encoding=encoding or None,
            ),
            replace=replace,
            owned_file=True,
        )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return models.Task.of(await imports.get(db, account_id=account.id, task_id=task_id))


@router.get("/tasks/{task_id}", response_model=models.Task)
async def get_task(
    task_id: Annotated[int, Path(ge=1, le=2**63 - 1)], account: Account, db: DB
) -> Any:
    return models.Task.of(await imports.get(db, account_id=account.id, task_id=task_id))


@router.get("/tasks/{task_id}/rejections", response_class=PlainTextResponse)
async def task_rejections(
    task_id: Annotated[int, Path(ge=1, le=2**63 - 1)], account: Account, db: DB
) -> Any:
    """The rejected rows as CSV: row,value,code,reason."""
    rows = await imports.rejections(db, account_id=account.id, task_id=task_id)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["row", "value", "code", "reason"])
    for number, value, code in rows:
        writer.writerow([number, value, code, describe_code(code)])
    return PlainTextResponse(
        buffer.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="task-{task_id}-rejections.csv"'},
    )


@router.delete("/campaigns/{campaign_id}/recipients")
async def clear_recipients(campaign_id: CampaignId, account: Account, db: DB) -> Any:
    removed = await service.clear_recipients(db, account_id=account.id, campaign_id=campaign_id)
    return {"removed": removed}


@router.post(
    "/campaigns/{campaign_id}/start", response_model=models.Campaign, responses=problems.FUNDS
)
async def start(campaign_id: CampaignId, account: Account, db: DB, settings: Config) -> Any:
    """DRAFT -> RUNNING (or SCHEDULED with a future start_at, MODERATION when the
    account requires it). 409 from any other status."""
    return models.Campaign.of(
        await service.start(
            db,
            account_id=account.id,
            campaign_id=campaign_id,
            base_url=settings.public_base_url,
            moderation_patterns=settings.moderation_patterns,
        )
    )


@router.post("/campaigns/{campaign_id}/pause", response_model=models.Campaign)
async def pause(campaign_id: CampaignId, account: Account, db: DB) -> Any:
    """RUNNING -> PAUSED (reason user). 409 from any other status."""
    return models.Campaign.of(
        await service.pause(db, account_id=account.id, campaign_id=campaign_id)
    )


@router.post(
    "/campaigns/{campaign_id}/resume", response_model=models.Campaign, responses=problems.FUNDS
)
async def resume(campaign_id: CampaignId, account: Account, db: DB) -> Any:
    """PAUSED -> RUNNING. 402 when paused for funds and the balance still does not
    cover the next message."""
    return models.Campaign.of(
        await service.resume(db, account_id=account.id, campaign_id=campaign_id)
    )


@router.post(
    "/campaigns/{campaign_id}/renew", response_model=models.Campaign, responses=problems.FUNDS
)
async def renew(campaign_id: CampaignId, account: Account, db: DB) -> Any:
    """Resume a campaign paused for lack of funds (BSG's renew): 409 unless it is
    PAUSED with reason funds, 402 while the balance does not cover its next message."""
    return models.Campaign.of(
        await service.resume(db, account_id=account.id, campaign_id=campaign_id, funds_only=True)
    )


@router.post("/campaigns/{campaign_id}/stop", response_model=models.Campaign)
async def stop(campaign_id: CampaignId, account: Account, db: DB) -> Any:
    """-> STOPPED; messages not yet sent become DELETED (never charged)."""
    return models.Campaign.of(
        await service.stop(db, account_id=account.id, campaign_id=campaign_id)
    )


@router.post("/campaigns/{campaign_id}/retry", response_model=models.RetryOut)
async def retry(campaign_id: CampaignId, account: Account, db: DB) -> Any:
    row, count = await service.retry(db, account_id=account.id, campaign_id=campaign_id)
    return models.RetryOut(campaign=models.Campaign.of(row), requeued=count)


@router.get("/campaigns/{campaign_id}/stats", response_model=models.Stats)
async def stats(campaign_id: CampaignId, account: Account, db: DB) -> Any:
    result = await service.stats(db, account_id=account.id, campaign_id=campaign_id)
    fallback = await service.fallback_stats(db, account_id=account.id, campaign_id=campaign_id)
    return models.Stats(
        **asdict(result),
        fallback=models.FallbackStats(**asdict(fallback)) if fallback is not None else None,
    )


@router.get("/campaigns/{campaign_id}/messages", response_model=models.MessagePage)
async def messages(
    campaign_id: CampaignId,
    account: Account,
    db: DB,
    status: Annotated[list[str] | None, Query(description="Repeat or comma-separate")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Any:
    statuses = [s.strip().upper() for v in status or [] for s in v.split(",") if s.strip()]
    rows, total = await service.messages(
        db,
        account_id=account.id,
        campaign_id=campaign_id,
        statuses=statuses,
        limit=limit,
        offset=offset,
    )
    return models.MessagePage(
        items=[models.Message.model_validate(dict(r._mapping)) for r in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/campaigns/{campaign_id}/events", response_model=list[models.AuditEvent])
async def events(campaign_id: CampaignId, account: Account, db: DB) -> Any:
    rows = await service.audit(db, account_id=account.id, campaign_id=campaign_id)
    return [models.AuditEvent.model_validate(dict(r._mapping)) for r in rows]


@router.get(
    "/moderation/campaigns",
    response_model=list[models.Campaign],
    tags=["moderation"],
    responses=problems.OPERATOR,
)
async def moderation_queue(operator: Operator, db: DB) -> Any:
    """Operator accounts only: campaigns of every account held for moderation."""
    return [models.Campaign.of(r) for r in await service.moderation_queue(db)]


@router.post(
    "/moderation/campaigns/{campaign_id}/approve",
    response_model=models.Campaign,
    tags=["moderation"],
    responses=problems.OPERATOR,
)
async def approve(campaign_id: CampaignId, operator: Operator, db: DB) -> Any:
    """Operator accounts only: MODERATION -> QUEUED (starts at its time). 409 otherwise."""
    return models.Campaign.of(await service.moderate(db, campaign_id=campaign_id, approve=True))


@router.post(
    "/moderation/campaigns/{campaign_id}/decline",
    response_model=models.Campaign,
    tags=["moderation"],
    responses=problems.OPERATOR,
)
async def decline(campaign_id: CampaignId, operator: Operator, db: DB) -> Any:
    """Operator accounts only: MODERATION -> DECLINED (never sends). 409 otherwise."""
    return models.Campaign.of(await service.moderate(db, campaign_id=campaign_id, approve=False))
