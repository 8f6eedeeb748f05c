"""/v1 for voice campaigns: created with ``POST /v1/campaigns`` (``channel: voice``,
``voice`` settings), numbers added with ``POST /v1/campaigns/{id}/recipients`` (also
while the campaign runs), started, paused and stopped like any campaign; plus their
settings, call attempts (CDRs) and call statistics here."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from clarion.api import models, problems
from clarion.api.deps import DB, Account, Config
from clarion.config import Settings
from clarion.services import voice
from clarion.store.db import Database

router = APIRouter(
    prefix="/v1",
    tags=["voice"],
    responses=problems.RESPONSES,
    dependencies=[Depends(models.reject_nul)],
)
CampaignId = Annotated[int, Path(ge=1, le=2**63 - 1)]


async def create(
    body: models.CampaignCreate, account_id: int, db: Database, settings: Settings
) -> models.Campaign:
    """``POST /v1/campaigns`` with ``channel: voice``."""
    data = dict(body.voice or {})
    if body.text is not None:
        data["template"] = body.text
    config = voice.parse_config(data)
    row = await voice.create(
        db,
        account_id=account_id,
        spec=voice.VoiceSpec(name=body.name, config=config, caller_id=body.sender),
        settings=settings,
    )
    return models.Campaign.of(row)


@router.patch("/campaigns/{campaign_id}/voice", response_model=models.Campaign)
async def patch_voice(
    campaign_id: CampaignId, body: models.VoicePatch, account: Account, db: DB, settings: Config
) -> Any:
    """Change voice settings in any status; calls placed later use them."""
    row = await voice.get(db, account_id=account.id, campaign_id=campaign_id)
    current = voice.config_of(row).to_dict()
    config = voice.parse_config({**current, **body.voice})
    updated = await voice.update(
        db, account_id=account.id, campaign_id=campaign_id, settings=settings, config=config
    )
    return models.Campaign.of(updated)


@router.get("/campaigns/{campaign_id}/calls", response_model=models.CallPage)
async def calls(
    campaign_id: CampaignId,
    account: Account,
    db: DB,
    after_id: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    since: datetime | None = None,
    until: datetime | None = None,
    phone: Annotated[str | None, Query(max_length=20)] = None,
) -> Any:
    """Call attempts with their CDRs, oldest first; page with ``after_id``."""
    row = await voice.get(db, account_id=account.id, campaign_id=campaign_id)
    rows = await voice.attempts(
        db,
        account_id=account.id,
        campaign_id=campaign_id,
        after_id=after_id,
        limit=limit,
        since=since,
        until=until,
        phone=phone,
    )
    items = [models.CallOut(id=r.id, **voice.cdr_document(r, campaign=row)) for r in rows]
    return models.CallPage(items=items, next_after_id=rows[-1].id if len(rows) == limit else None)


@router.get("/campaigns/{campaign_id}/voice-stats", response_model=models.VoiceStatsOut)
async def voice_stats(campaign_id: CampaignId, account: Account, db: DB) -> Any:
    stats = await voice.stats(db, account_id=account.id, campaign_id=campaign_id)
    return models.VoiceStatsOut(
        recipients=stats.recipients,
        waiting=stats.waiting,
        in_progress=stats.in_progress,
        answered=stats.answered,
        unreached=stats.unreached,
        attempts=stats.attempts,
        outcomes=stats.outcomes,
        cost=stats.cost,
    )
