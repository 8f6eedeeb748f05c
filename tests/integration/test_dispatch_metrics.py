"""The dispatcher feeds the Prometheus hooks: submissions by channel and outcome,
claim latency, campaign leases (served at /metrics)."""

from __future__ import annotations

import re

import httpx
from tests.conftest import Tenant
from tests.helpers import add_phones, drain, make_campaign, phones

from clarion.dispatch.engine import Dispatcher


def sample(text: str, name: str, labels: str = "") -> float:
    pattern = re.escape(name) + (re.escape("{" + labels + "}") if labels else "") + r" ([0-9.e+]+)"
    found = re.search(pattern, text)
    return float(found.group(1)) if found else 0.0


async def test_dispatch_metrics(
    client: httpx.AsyncClient, tenant: Tenant, dispatcher: Dispatcher
) -> None:
    before = (await client.get("/metrics")).text
    accepted = 'channel="fake",outcome="accepted"'
    claims_before = sample(before, "clarion_dispatch_claim_seconds_count")
    sent_before = sample(before, "clarion_dispatch_submissions_total", accepted)
    campaign = await make_campaign(client, tenant.headers)
    await add_phones(client, tenant.headers, campaign["id"], phones(7))
    await client.post(f"/v1/campaigns/{campaign['id']}/start", headers=tenant.headers)
    await drain(dispatcher)
    after = (await client.get("/metrics")).text
    assert sample(after, "clarion_dispatch_submissions_total", accepted) - sent_before == 7
    assert sample(after, "clarion_dispatch_claim_seconds_count") > claims_before
    assert "clarion_worker_campaign_leases" in after
