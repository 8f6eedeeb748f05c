"""An independent Mobizon client from PyPI, pointed at Clarion over real HTTP.

``mobizon-client`` (0.1.2) pins ``httpx<0.24`` while Clarion pins a current httpx, so the
two cannot share one environment: the test installs the client from PyPI into its own
virtual environment (kept under ``.venv/clients/`` and reused) and runs it as a separate
process against Clarion served by uvicorn on 127.0.0.1 with the simulated carrier.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from tests.conftest import Tenant
from tests.helpers import serving

from clarion.api.app import create_app
from clarion.config import Settings
from clarion.store.db import Database

pytestmark = pytest.mark.slow

CLIENT = "mobizon-client==0.1.2"
VENV = Path(__file__).resolve().parents[3] / ".venv" / "clients" / "mobizon-client"

SCRIPT = r"""
import json, sys, time
from mobizon_client import MobizonClient

url, key = sys.argv[1], sys.argv[2]
client = MobizonClient(url=url, api_key=key)
before = client.get_balance()
sent = client.send_message(recipient="77071234567", text="Test message", sender_signature=None)
statuses = []
for _ in range(100):
    statuses = client.get_message_status([sent.message_id])
    if statuses[0].status in ("DELIVRD", "UNDELIV", "REJECTD", "EXPIRED"):
        break
    time.sleep(0.1)
after = client.get_balance()
client.close()
print(json.dumps({
    "before": str(before.balance), "after": str(after.balance), "currency": after.currency,
    "campaign_id": sent.campaign_id, "message_id": sent.message_id, "status": sent.status,
    "final": statuses[0].status, "segments": statuses[0].segment_count,
    "message_ids": [s.message_id for s in statuses],
}))
"""


@pytest.fixture(scope="session")
def client_python() -> Path:
    python = VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    probe = subprocess.run([str(python), "-c", "import mobizon_client"], check=False)
    if probe.returncode != 0:
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", CLIENT],
            check=True,
            timeout=600,
        )
    return python


@pytest.fixture
async def server(settings: Settings, db: Database) -> AsyncIterator[str]:
    sim = settings.model_copy(
        update={
            "default_channel": "sim_sms",
            "sim_dlr_min_delay": 0.05,
            "sim_dlr_max_delay": 0.2,
            "sim_undelivered_rate": 0.0,
            "housekeeping_interval": 0.05,
        }
    )
    async with serving(create_app(sim, run_dispatcher=True, db=db)) as url:
        yield url


async def test_mobizon_client_from_pypi_sends_and_reads_status(
    client_python: Path, server: str, tenant: Tenant
) -> None:
    process = await asyncio.create_subprocess_exec(
        str(client_python),
        "-c",
        SCRIPT,
        server,
        tenant.key,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, err.decode()
    result = json.loads(out)
    assert result["currency"] == "USD"
    assert Decimal(result["before"]) == Decimal("100.00")
    assert Decimal(result["after"]) == Decimal("99.95")  # one segment at 0.05
    assert result["message_ids"] == [result["message_id"]]
    assert result["final"] == "DELIVRD"
    assert int(result["segments"]) == 1  # a string on the wire, as Mobizon sends it
    assert int(result["campaign_id"]) > 0
