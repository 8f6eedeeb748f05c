"""A voice campaign's callback_url gets every CDR and answer_callback_url every answer:
signed, retried, logged; private targets refused unless allowed."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from tests.conftest import Tenant
from tests.integration.test_webhooks import (  # noqa: F401 - fixtures
    Receiver,
    hook_settings,
    hooks_client,
    pump_all,
    receiver,
)
from tests.voice_driver import drive, voice_rig

from clarion.config import Settings
from clarion.dispatch.webhooks import WebhookSender
from clarion.domain.voice.config import VoiceConfig
from clarion.domain.voice.recall import RecallPolicy
from clarion.services import campaigns as campaign_service
from clarion.services import voice
from clarion.services import webhooks as hooks
from clarion.services.campaigns import RecipientInput
from clarion.services.errors import InvalidInput
from clarion.store.db import Database


async def test_private_callback_urls_are_refused(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    for field in ("callback_url", "answer_callback_url"):
        config = VoiceConfig(**{field: "http://127.0.0.1:9/cdr"})
        with pytest.raises(InvalidInput) as caught:
            await voice.create(
                db,
                account_id=tenant.id,
                spec=voice.VoiceSpec(name=f"c-{field}", config=config),
                settings=settings,
            )
        assert caught.value.field == field
    _rows, total = await campaign_service.search(db, account_id=tenant.id)
    assert total == 0


async def test_cdrs_are_posted_signed_and_retried(
    db: Database,
    hook_settings: Settings,  # noqa: F811
    tenant: Tenant,
    receiver: Receiver,  # noqa: F811
    hooks_client: httpx.AsyncClient,  # noqa: F811
) -> None:
    answers_url = receiver.url + "?kind=answer"
    config = VoiceConfig(
        callback_url=receiver.url,
        answer_callback_url=answers_url,
        recall=RecallPolicy(recall_times=0),
    )
    row = await voice.create(
        db,
        account_id=tenant.id,
        spec=voice.VoiceSpec(name="cdr", config=config, caller_id="+4930123456"),
        settings=hook_settings,
    )
    phones = [f"+4917{i:08d}" for i in range(12)]
    entries = [RecipientInput(p, {}) for p in phones]
    await voice.add_numbers(db, account_id=tenant.id, campaign_id=row.id, entries=entries)
    await campaign_service.start(db, account_id=tenant.id, campaign_id=row.id)
    rig = voice_rig(hook_settings, db)
    assert await drive(rig, row.id) == "DONE"
    receiver.answers = [500, 503]  # the first two deliveries fail, then they are retried
    sender = WebhookSender(db, hook_settings)
    try:
        await pump_all(sender)
    finally:
        await sender.close()
    endpoints = (await hooks_client.get("/v1/webhooks", headers=tenant.headers)).json()
    scoped = {e["events"][0]: e for e in endpoints if e["campaign_id"] == row.id}
    assert set(scoped) == {"call.cdr", "call.answered"}
    # Every delivery verifies with exactly one endpoint's secret; bodies are bare CDRs.
    by_event: dict[str, list[dict[str, object]]] = {"call.cdr": [], "call.answered": []}
    for headers, body in receiver.received:
        signature = headers[hooks.SIGNATURE_HEADER.lower()]
        matched = [
            event
            for event, endpoint in scoped.items()
            if hooks.verify(endpoint["secret"], signature, body, now=int(time.time()))
        ]
        assert len(matched) == 1
        document = json.loads(body)
        assert set(document) >= {"call_id", "phone", "outcome", "start_time", "billsec", "cost"}
        by_event[matched[0]].append(document)
    records = rig.carrier.records
    answered = [r for r in records if r.answered_at is not None]
    assert answered
    assert {(d["message_id"], d["attempt"]) for d in by_event["call.cdr"]} == {
        (r.message_id, r.attempt) for r in records
    }
    assert {(d["message_id"], d["attempt"]) for d in by_event["call.answered"]} == {
        (r.message_id, r.attempt) for r in answered
    }
    assert all(d["answer_time"] is not None for d in by_event["call.answered"])
    # Two deliveries failed and were sent again: every one is delivered in the end.
    sent = sum(len(v) for v in by_event.values())
    assert sent == len(records) + len(answered) + 2
    attempts = 0
    for event, endpoint in scoped.items():
        log = (
            await hooks_client.get(
                f"/v1/webhooks/{endpoint['id']}/deliveries?limit=100", headers=tenant.headers
            )
        ).json()
        assert log["total"] == (len(records) if event == "call.cdr" else len(answered))
        assert {d["status"] for d in log["items"]} == {"delivered"}
        attempts += sum(d["attempts"] for d in log["items"])
    assert attempts == sent
